import numpy as np
import pytest

from bridge.phrase import Note, decode_roll
from bridge.refine import RefineSettings, mood_mode, parse_key, refine, scale_pitch_classes

DRUMS = ("drums",)


def settings(**kw: object) -> RefineSettings:
    base = dict(key_lock=True, tonic=9, mode="minor", min_note_beats=0.5, velocity_from_model=True, velocity_floor=40,
                humanize=0.0, density_cap=0)
    base.update(kw)
    return RefineSettings(**base)  # type: ignore[arg-type]


def random_notes(seed: int, n: int = 200) -> list[Note]:
    """Notes with distinct (track, pitch, start): exact duplicates are merged by refinement, by design."""
    rng = np.random.default_rng(seed)
    notes: dict[tuple[str, int, float], Note] = {}
    for _ in range(n):
        note = Note(int(rng.integers(30, 100)), float(rng.integers(0, 32)) / 4, float(rng.integers(1, 8)) / 4,
                    int(rng.integers(1, 128)), str(rng.choice(["melody", "bass", "drums"])),
                    confidence=float(rng.random()))
        notes.setdefault((note.track, note.pitch, note.start), note)
    return list(notes.values())


@pytest.mark.parametrize("seed", range(5))
def test_key_lock_puts_every_pitched_note_in_the_scale(seed: int) -> None:
    notes = random_notes(seed)
    out = refine(notes, 8.0, DRUMS, settings(), np.random.default_rng(0))
    allowed = scale_pitch_classes(9, "minor")
    assert all(n.pitch % 12 in allowed for n in out if n.track != "drums")
    drums_in = sorted((n.pitch, n.start) for n in notes if n.track == "drums")
    assert sorted((n.pitch, n.start) for n in out if n.track == "drums") == drums_in


def test_key_lock_off_keeps_pitches() -> None:
    notes = random_notes(1)
    out = refine(notes, 8.0, DRUMS, settings(key_lock=False, min_note_beats=0), np.random.default_rng(0))
    assert sorted(n.pitch for n in out) == sorted(n.pitch for n in notes)


def test_minimum_length_never_overlaps_the_same_pitch_and_stays_inside_the_phrase() -> None:
    notes = [Note(60, 0.0, 0.25, 90, "melody"), Note(60, 0.25, 0.25, 90, "melody"), Note(64, 7.9, 0.1, 90, "melody")]
    out = refine(notes, 8.0, DRUMS, settings(tonic=0, mode="major"), np.random.default_rng(0))
    first, second, last = out
    assert first.end <= second.start  # lengthening stops at the next note of the same pitch
    assert second.duration == 0.5
    assert last.end <= 8.0


def test_density_cap_keeps_the_most_confident_notes_per_bar() -> None:
    notes = [Note(60 + i, i * 0.25, 0.25, 80, "melody", confidence=i / 20) for i in range(16)]
    out = refine(notes, 4.0, DRUMS, settings(key_lock=False, density_cap=4, min_note_beats=0), np.random.default_rng(0))
    assert sorted(n.pitch for n in out) == [72, 73, 74, 75]


def test_velocity_is_fixed_or_humanized_within_midi_range() -> None:
    notes = random_notes(3)
    fixed = refine(notes, 8.0, DRUMS, settings(velocity_from_model=False), np.random.default_rng(0))
    assert {n.velocity for n in fixed} == {96}
    human = refine(notes, 8.0, DRUMS, settings(velocity_from_model=False, humanize=0.2), np.random.default_rng(0))
    velocities = [n.velocity for n in human]
    assert len(set(velocities)) > 10 and min(velocities) >= 1 and max(velocities) <= 127


def test_model_velocity_is_scaled_above_the_floor() -> None:
    notes = [Note(60 + i, i * 0.5, 0.5, v, "melody") for i, v in enumerate((1, 64, 127))]
    out = refine(notes, 4.0, DRUMS, settings(key_lock=False, min_note_beats=0, velocity_floor=40), np.random.default_rng(0))
    assert [n.velocity for n in out] == [40, 84, 127]  # 40 + (v - 1) * 87 / 126
    assert [n.velocity for n in refine(notes, 4.0, DRUMS, settings(key_lock=False, velocity_floor=1),
                                       np.random.default_rng(0))] == [1, 64, 127]


def test_parse_key_names_what_is_allowed() -> None:
    assert parse_key("Bb", "Minor") == (10, "minor")
    with pytest.raises(ValueError, match="tonic must be one of"):
        parse_key("H", "major")
    with pytest.raises(ValueError, match="mode must be one of"):
        parse_key("C", "klingon")


def test_decode_roll_joins_held_steps_and_splits_drum_hits() -> None:
    roll = np.zeros((2, 2, 16, 12), dtype=np.float32)
    vel = np.full_like(roll, 0.5)
    roll[0, 0, 14:16, 3] = 0.9  # melody note held across the bar line...
    roll[1, 0, 0:2, 3] = 0.9
    roll[0, 1, 0:3, 0] = 0.9  # three drum hits in a row
    notes = decode_roll(roll, vel, ("melody", "drums"), ("drums",), 40, 0.5)
    melody = [n for n in notes if n.track == "melody"]
    drums = [n for n in notes if n.track == "drums"]
    assert [(n.pitch, n.start, n.duration) for n in melody] == [(43, 3.5, 1.0)]
    assert [(n.start, n.duration) for n in drums] == [(0.0, 0.25), (0.25, 0.25), (0.5, 0.25)]
    assert all(n.velocity == 64 for n in notes)


def test_mood_shaping_darkens_a_major_key_only_at_negative_valence() -> None:
    assert mood_mode("major", -0.7) == "harmonic_minor"
    assert mood_mode("mixolydian", -0.5) == "dorian"
    assert mood_mode("major", -0.1) == "major"  # inside the dead zone
    assert mood_mode("major", 0.9) == "major"
    assert mood_mode("minor", 0.9) == "minor" and mood_mode("minor", -0.9) == "minor"  # a chosen minor key stays
    assert mood_mode("blues", -0.9) == "blues"


@pytest.mark.parametrize("seed", range(3))
def test_mood_shaping_plays_negative_valence_in_the_minor_counterpart(seed: int) -> None:
    notes = random_notes(seed)
    sad = settings(tonic=0, mode="major", min_note_beats=0, mood_shaping=True, valence=-0.7, arousal=0.5)
    out = refine(notes, 8.0, DRUMS, sad, np.random.default_rng(0))
    assert sad.played_mode == "harmonic_minor" and not sad.half_time
    assert {n.pitch % 12 for n in out if n.track != "drums"} <= scale_pitch_classes(0, "harmonic_minor")
    assert any(n.pitch % 12 == 3 for n in out if n.track != "drums")  # E flat: C major is not what plays
    assert sorted((n.pitch, n.start) for n in out if n.track == "drums") == sorted(
        (n.pitch, n.start) for n in notes if n.track == "drums")
    off = refine(notes, 8.0, DRUMS, settings(tonic=0, mode="major", min_note_beats=0, valence=-0.7, arousal=0.5),
                 np.random.default_rng(0))
    assert {n.pitch % 12 for n in off if n.track != "drums"} <= scale_pitch_classes(0, "major")


def test_mood_shaping_plays_low_arousal_in_half_time_an_octave_up() -> None:
    notes = random_notes(3) + [Note(120, 0.5, 0.5, 90, "melody")]  # no octave above it: it stays
    calm = settings(key_lock=False, min_note_beats=0, mood_shaping=True, valence=0.5, arousal=-0.6, mood_lift=12)
    assert calm.half_time and calm.lift == 12 and calm.played_mode == "minor"
    out = refine(notes, 8.0, DRUMS, calm, np.random.default_rng(0))
    first_half = [n for n in notes if n.start < 4.0]
    played = lambda n: n.pitch if n.track in DRUMS or n.pitch + 12 > 127 else n.pitch + 12  # noqa: E731
    expected = sorted((n.track, played(n), 2 * n.start) for n in first_half)
    assert sorted((n.track, n.pitch, n.start) for n in out) == expected
    assert ("melody", 120, 1.0) in {(n.track, n.pitch, n.start) for n in out}
    longest = {(n.track, played(n), 2 * n.start): min(2 * n.duration, 8.0 - 2 * n.start) for n in first_half}
    assert all(n.duration <= longest[(n.track, n.pitch, n.start)] + 1e-9 for n in out)
    assert all(n.end <= 8.0 + 1e-9 for n in out)
    neutral = refine(notes, 8.0, DRUMS, settings(key_lock=False, min_note_beats=0, mood_shaping=True, arousal=-0.2),
                     np.random.default_rng(0))
    assert sorted((n.track, n.pitch, n.start) for n in neutral) == sorted((n.track, n.pitch, n.start) for n in notes)
