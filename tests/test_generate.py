"""`coevo generate`: clips as MIDI files from the shipped models, read back with mido and pretty_midi."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

from bridge.cli import main
from bridge.clips import ClipMaker, ClipOptions, parse_key_text, read_clip
from bridge.errors import ModelError
from bridge.generation import Encoder, Generator
from bridge.phrase import decode_roll
from bridge.refine import RefineSettings, refine, scale_pitch_classes
from models.shipped import shipped_model

A_MINOR = scale_pitch_classes(9, "minor")


def _generate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["generate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_clips_are_standard_midi_in_key_and_tempo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _generate(capsys, "--bars", "4", "-n", "6", "--mood", "calm", "--key", "A minor", "--bpm", "96",
                             "--seed", "7", "-o", str(tmp_path / "a"))
    assert code == 0
    files = sorted((tmp_path / "a").glob("*.mid"))
    assert len(files) == 6 and str((tmp_path / "a").resolve()) in out
    for path in files:
        mid = mido.MidiFile(str(path))
        assert mid.type == 1 and mid.ticks_per_beat == 480
        meta = {m.type: m for m in mid.tracks[0] if m.is_meta}
        assert meta["key_signature"].key == "Am"
        assert mido.tempo2bpm(meta["set_tempo"].tempo) == pytest.approx(96)
        assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (4, 4)
        assert [t.name for t in mid.tracks[1:]] == ["melody", "accompaniment", "bass", "drums"]  # even when empty
        pm = pretty_midi.PrettyMIDI(str(path))
        assert pm.instruments and all(i.is_drum == (i.name == "drums") for i in pm.instruments)  # channel 10
        assert mid.length == pytest.approx(4 * 4 * 60 / 96)  # 4 bars, even when the last bar is quiet
        pitched = [n for i in pm.instruments if not i.is_drum for n in i.notes]
        assert pitched and all(n.pitch % 12 in A_MINOR for n in pitched)


def test_a_sad_mood_plays_c_major_as_harmonic_minor_in_half_time_an_octave_up(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def onsets_and_keys(folder: Path) -> tuple[list[float], set[int], set[str]]:
        starts, classes, keys = [], set(), set()
        for path in sorted(folder.glob("*.mid")):
            keys |= {m.key for m in mido.MidiFile(str(path)).tracks[0] if m.type == "key_signature"}
            pm = pretty_midi.PrettyMIDI(str(path))
            starts += [n.start * 2 for i in pm.instruments for n in i.notes]  # in beats at 120 BPM
            classes |= {n.pitch % 12 for i in pm.instruments if not i.is_drum for n in i.notes}
        return starts, classes, keys

    code, out, _ = _generate(capsys, "-n", "4", "--mood", "sad", "--key", "C major", "-o", str(tmp_path / "sad"))
    assert code == 0 and "harmonic minor (not major) and in half time, 12 semitones up" in out
    starts, classes, keys = onsets_and_keys(tmp_path / "sad")
    assert keys == {"Cm"} and classes <= scale_pitch_classes(0, "harmonic_minor") and 3 in classes
    assert starts and all(abs(s * 2 - round(s * 2)) < 1e-6 for s in starts)  # half time: eighth notes at most
    code, out, _ = _generate(capsys, "-n", "4", "--mood", "sad", "--key", "C major", "--no-mood-shaping",
                             "-o", str(tmp_path / "kept"))
    assert code == 0 and "mood shaping" not in out
    starts, classes, keys = onsets_and_keys(tmp_path / "kept")
    assert keys == {"C"} and classes <= scale_pitch_classes(0, "major")
    assert any(abs(s * 2 - round(s * 2)) > 0.1 for s in starts)  # sixteenth-note onsets as the model made them


def test_same_seed_and_options_give_byte_identical_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-n", "4", "--valence", "-0.5", "--arousal", "0.8", "--axis", "density=0.8", "--seed", "3"]
    assert _generate(capsys, *args, "-o", str(tmp_path / "a"))[0] == 0
    assert _generate(capsys, *args, "-o", str(tmp_path / "b"))[0] == 0
    assert _generate(capsys, *args[:-1], "4", "-o", str(tmp_path / "c"))[0] == 0
    a, b, c = (sorted((tmp_path / x).iterdir()) for x in "abc")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_named_axis_and_tracks_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counts = {}
    for value in ("-1", "1"):
        out = tmp_path / value
        assert _generate(capsys, "-n", "24", "--axis", f"density={value}", "--tracks", "melody,accompaniment,bass",
                         "--seed", "1", "-o", str(out))[0] == 0
        files = sorted(out.iterdir())
        assert all([t.name for t in mido.MidiFile(str(p)).tracks[1:]] == ["melody", "accompaniment", "bass"] for p in files)
        pms = [pretty_midi.PrettyMIDI(str(p)) for p in files]
        counts[value] = np.mean([sum(len(i.notes) for i in pm.instruments) for pm in pms])
    assert counts["1"] > counts["-1"]  # the axis named density raises the pitched note count (eval's feature)


@pytest.mark.parametrize("args, message", [
    (["--axis", "sparkle=0.5"], "unknown axis sparkle"),
    (["--key", "H minor"], "--key: tonic must be one of"),
    (["--mood", "calm", "--valence", "0.2"], "either --mood or --valence"),
    (["--tracks", "melody,kazoo"], "unknown track kazoo"),
    (["--like", "missing.mid"], "--like: missing.mid does not exist"),
])
def test_bad_options_say_what_was_expected_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             args: list[str], message: str) -> None:
    code, _, err = _generate(capsys, *args, "-o", str(tmp_path / "out"))
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists()


def test_argument_ranges_are_checked_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--axis", "density=3"])
    assert "VALUE in [-1, 1]" in capsys.readouterr().err


def test_existing_clips_are_never_overwritten_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _generate(capsys, "-n", "2", "-o", str(tmp_path))[0] == 0
    first = tmp_path / "coevo_0_001.mid"
    first.write_bytes(b"mine")
    code, _, err = _generate(capsys, "-n", "2", "-o", str(tmp_path), "--mood", "sad")
    assert code == 2 and "--force" in err and first.read_bytes() == b"mine"
    assert _generate(capsys, "-n", "2", "-o", str(tmp_path), "--force")[0] == 0
    assert first.read_bytes().startswith(b"MThd")


def test_corrupt_liked_clip_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    code, _, err = _generate(capsys, "--like", str(bad), "-o", str(tmp_path / "out"))
    assert code == 2 and "not a readable MIDI file" in err
    bad.write_bytes(b"garbage")  # mido reads past the end of it
    code, _, err = _generate(capsys, "--like", str(bad), "-o", str(tmp_path / "out"))
    assert code == 2 and "not a readable MIDI file (it ends in the middle of a track)" in err
    assert not (tmp_path / "out").exists()


def test_key_text_forms() -> None:
    assert parse_key_text("A minor") == (9, "minor")
    assert parse_key_text("F# dorian") == (6, "dorian")
    assert parse_key_text("Bb") == (10, "major")
    assert parse_key_text("C#m") == (1, "minor")
    with pytest.raises(ValueError, match="mode must be one of"):
        parse_key_text("C bebop")


def _roll(encoder: Encoder, path: Path) -> np.ndarray:
    c = encoder.contract
    clip = read_clip(path, c.tracks, c.drum_tracks)
    return encoder.roll(clip.notes, clip.bars)[0] > 0


def _f1(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


def test_like_makes_variations_closer_to_the_clip_than_fresh_clips(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert _generate(capsys, "-n", "1", "--seed", "11", "-o", str(tmp_path / "liked"))[0] == 0
    liked = tmp_path / "liked" / "coevo_11_001.mid"
    assert _generate(capsys, "--like", str(liked), "-n", "12", "--seed", "5", "-o", str(tmp_path / "var"))[0] == 0
    assert _generate(capsys, "-n", "12", "--seed", "5", "-o", str(tmp_path / "fresh"))[0] == 0
    providers = ["CPUExecutionProvider"]
    encoder = Encoder(shipped_model("encoder"), providers, Generator(shipped_model("generator"), providers))
    target = _roll(encoder, liked)
    near = np.mean([_f1(_roll(encoder, p), target) for p in sorted((tmp_path / "var").iterdir())])
    far = np.mean([_f1(_roll(encoder, p), target) for p in sorted((tmp_path / "fresh").iterdir())])
    assert near > far + 0.05, (near, far)


def test_encoder_refuses_a_generator_it_was_not_trained_for(models) -> None:
    providers = ["CPUExecutionProvider"]
    with pytest.raises(ModelError, match="trained to invert the generator with sha256"):
        Encoder(shipped_model("encoder"), providers, Generator(models.generator, providers))


def test_batched_clips_equal_one_at_a_time() -> None:
    """Batching is an optimisation only: clip i of a batch is the clip made alone from the same latents."""
    gen = Generator(shipped_model("generator"), ["CPUExecutionProvider"])
    settings = RefineSettings(True, 0, "major", 0.25, True, 40, 0.0, 12)  # no humanize: no randomness after the model
    maker = ClipMaker(gen, settings)
    opts = ClipOptions(count=5, seed=2)
    batch = maker.make(opts)
    z, bar_z, codes, emo = maker.latents(opts)
    bars = opts.bars
    roll, vel = gen.run(np.repeat(z[3:4], bars, axis=0), bar_z[3], np.repeat(emo[3:4], bars, axis=0),
                        np.repeat(codes[3:4], bars, axis=0))
    c = gen.contract
    alone = refine(decode_roll(roll, vel, c.tracks, c.drum_tracks, c.pitch_low, 0.5), bars * 4.0, c.drum_tracks,
                   settings, np.random.default_rng(0))
    assert alone and batch[3] == alone
