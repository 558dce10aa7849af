"""The training pipeline on small real samples of ../shared/data: data, emotion, generator, encoder, ship."""

from __future__ import annotations

import json
import logging
import shlex
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from bridge.cli import build_parser
from bridge.generation import EmotionReader, Encoder, Generator
from bridge.phrase import Note
from export.onnx_export import export_generator, generator_from_onnx
from models.data import (CHORD_QUALITIES, MODES, PITCH_LOW, STEPS, data_root, load_groove, load_pop909,
                         load_pop909_annotations, load_vgmidi, load_vgmidi_pieces, parse_label, roll_from_notes)
from models.generator import NO_GATE, NO_VOICE, RESOLVED_LOGIT, GeneratorConfig, PhraseGenerator
from models.ship import _entry, fold_code_signs, run_command, ship_run
from models.shipped import shipped_dir
from models.emotion_features import HAND_FEATURES, HandBaseline, hand_features
from models.train_emotion import cross_validate, emotion_run_config, train_emotion
from models.train_encoder import EncoderTrainConfig, train_encoder
from models.metrics import chordal_share, features, segment_starts, segments
from models.train_music import (MONO_POLYPHONY, PITCH_CLASS_COVER, STEER_ROUNDS, STEER_SAMENESS, STEER_WIDTH, MusicConfig,
                                calibrate_activity, calibrate_bar_gate, calibrate_second_voice, calibrate_velocity,
                                distinct_share, fit_emotion_steer, monophonic_tracks, _generate, _merged, _phrase_activity,
                                pitch_class_limits, train_music)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def need_data() -> None:
    if not (data_root() / "pop909").is_dir():
        pytest.fail(f"the training data is missing: {data_root()} (see ../shared/data/README.md)")


def test_roll_places_notes_on_the_step_grid() -> None:
    grid = np.linspace(0.0, 2.0, 17)  # 16 steps of 0.125 s
    roll = roll_from_notes([(60, 0.26, 0.5, 100), (64, 1.0, 1.13, 50), (10, 0.0, 1.0, 90)], grid)
    assert np.flatnonzero(roll[:, 60 - PITCH_LOW]).tolist() == [2, 3]  # 0.26 s snaps to step 2
    assert np.flatnonzero(roll[:, 64 - PITCH_LOW]).tolist() == [8]
    assert roll[2, 60 - PITCH_LOW] == 100 and roll.sum() == 100 * 2 + 50  # out-of-range pitch dropped


def test_pop909_bars_split_by_song_and_cached() -> None:
    songs, split = load_pop909(limit=12)
    assert set(split.train) | set(split.valid) | set(split.test) == set(songs)
    assert not set(split.train) & set(split.test) and not set(split.valid) & set(split.test)
    bars = songs["001"]
    assert bars.shape[1:] == (3, STEPS, 84) and len(bars) > 40
    assert (bars[:, 0] > 0).any() and (bars[:, 2] > 0).any()  # melody and bass both present
    t = time.monotonic()
    again, _ = load_pop909(limit=12)
    assert time.monotonic() - t < 5 and np.array_equal(again["001"], bars)  # from the cache


def test_pop909_bars_carry_their_key_and_the_chord_of_each_beat() -> None:
    songs, split = load_pop909(limit=12)
    notes = load_pop909_annotations(limit=12)
    assert set(notes) == set(songs)
    for song, bars in songs.items():
        assert notes[song].key.shape == (len(bars), 2) and notes[song].chords.shape == (len(bars), 4, 2)
    # song 001 (key_audio.txt: Gb major from 2.67 s; chord_midi.txt: no chord until the second bar's downbeat,
    # then B, C# major, Bb, Eb minor, two beats each)
    first = notes["001"]
    gb_major, b_major, cs_major = (6, MODES.index("maj")), [11, 0], [1, 0]
    assert tuple(first.key[0]) == (-1, -1) and tuple(first.key[1]) == gb_major
    assert (first.chords[0] == -1).all()
    assert first.chords[1].tolist() == [b_major, b_major, cs_major, cs_major]
    assert first.chords[2].tolist() == [[10, 1], [10, 1], [3, 1], [3, 1]]
    # a segment's annotations are found at the bar it starts on
    name, bar = segment_starts(songs, split.train)[5]
    assert np.array_equal(segments(songs, split.train)[5], songs[name][bar:bar + 4])


@pytest.mark.parametrize("label, expected", [("Bb:min7/b3", (10, CHORD_QUALITIES.index("min7"))), ("C#:maj", (1, 0)),
                                             ("Cb:maj", (11, 0)), ("N", (-1, -1))])
def test_pop909_labels_parse_to_root_and_quality(label: str, expected: tuple[int, int]) -> None:
    assert parse_label(label, CHORD_QUALITIES) == expected


@pytest.mark.parametrize("label", ["H:maj", "C:power", "C##:maj", "", "Eb:min9"])
def test_a_pop909_label_outside_the_vocabulary_is_refused_saying_what_was_expected(label: str) -> None:
    with pytest.raises(ValueError, match="expected a label like 'Gb:maj'"):
        parse_label(label, CHORD_QUALITIES)


def test_rated_vgmidi_pieces_carry_their_listeners_ratings_step_by_step(tmp_path: Path, monkeypatch) -> None:
    # read afresh into an empty cache, under pytest's warnings-as-errors: 23 pieces make pretty_midi warn, and
    # a cache built so once held 177 pieces
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    pieces, phrases = load_vgmidi_pieces(), load_vgmidi()
    assert len(pieces.rolls) == 200 and set(pieces.pieces) == set(phrases.pieces)  # so the by-piece split applies
    for roll, rating in zip(pieces.rolls, pieces.ratings):
        assert rating.shape == (len(roll), 2) and np.abs(rating).max() <= 1.0
        assert len(np.unique(rating[:, 0])) > 1  # listeners' ratings move through a piece
    # a piece rated sad in its labelled phrase is rated below zero on average by its listeners too
    sad = [p for p, (v, a) in zip(phrases.pieces, phrases.labels) if v < 0 and a < 0]
    means = {name: rating.mean(0) for name, rating in zip(pieces.pieces, pieces.ratings)}
    assert np.mean([means[p][0] < 0 for p in sad]) > 0.5


def test_groove_drums_use_the_nine_classes() -> None:
    groove = load_groove(limit=10)
    pitches = {int(p) + PITCH_LOW for bars in groove["bars"].values() for p in np.nonzero(bars)[2]}
    assert pitches <= {36, 38, 42, 46, 45, 48, 50, 49, 51} and {36, 38} <= pitches


def test_folding_code_signs_flips_only_those_axes() -> None:
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    z, bz, emo = torch.randn(3, 32), torch.randn(3, 16), torch.zeros(3, 2)
    codes = torch.rand(3, 4) * 2 - 1
    signs = [1.0, -1.0, 1.0, -1.0]
    with torch.no_grad():
        want = gen(z, bz, emo, codes * torch.tensor(signs))[0]
        got = fold_code_signs(gen, signs)(z, bz, emo, codes)[0]
    torch.testing.assert_close(got, want)


def test_hand_features_read_mode_density_register_and_velocity() -> None:
    major = np.zeros((64, 84), np.uint8)
    for step, pitch in enumerate([60, 64, 67, 72] * 16):  # C major arpeggio, one note per step
        major[step, pitch - PITCH_LOW] = 100
    minor = np.zeros_like(major)
    for step, pitch in enumerate([57, 60, 64, 69] * 16):  # A minor
        minor[step, pitch - PITCH_LOW] = 40
    f_major, f_minor = hand_features(major, 90.0), hand_features(minor, 140.0)
    named = dict(zip(HAND_FEATURES, f_major))
    assert named["mode"] > 0 > dict(zip(HAND_FEATURES, f_minor))["mode"]
    assert named["tempo"] == 90.0 and named["density"] == 1.0 and named["velocity"] == 100.0
    assert named["register"] == np.mean([60, 64, 67, 72])


def test_hand_baseline_learns_valence_from_mode_and_arousal_from_tempo() -> None:
    rng = np.random.default_rng(5)

    def arpeggio(tonic: int, minor: bool) -> np.ndarray:
        roll = np.zeros((64, 84), np.uint8)
        for step in range(64):
            roll[step, tonic + (0, 3 if minor else 4, 7)[step % 3] - PITCH_LOW] = 80
        return roll

    def phrases(n: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        minor, fast = rng.random(n) < 0.5, rng.random(n) < 0.5
        rolls = [arpeggio(int(rng.integers(48, 72)), m) for m in minor]
        return rolls, np.where(fast, 160.0, 70.0), np.stack([np.where(minor, -1.0, 1.0), np.where(fast, 1.0, -1.0)], 1)

    rolls, tempos, labels = phrases(40)
    baseline = HandBaseline.fit(rolls, tempos, labels)
    rolls, tempos, labels = phrases(20)
    assert np.array_equal(np.sign(baseline.predict(rolls, tempos)), labels)


def test_distinct_share_tells_a_collapsed_batch() -> None:
    g = torch.Generator().manual_seed(0)
    varied = torch.rand(8, 4, 4, 16, 84, generator=g)
    assert distinct_share(varied) == 1.0
    assert distinct_share(varied[:1].repeat(8, 1, 1, 1, 1)) == 1 / 8  # one output for every latent
    assert distinct_share(torch.cat([varied[:1].repeat(4, 1, 1, 1, 1), varied[1:5]])) == 5 / 8


@pytest.mark.parametrize("channel", ["activity", "velocity"])
def test_logit_maps_fold_into_the_generator_and_leave_the_other_channel(channel: str) -> None:
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    args = (torch.randn(6, 32), torch.randn(6, 16), torch.rand(6, 2), torch.rand(6, 4))
    scale, shift = [0.5, 1.0, 2.0, 0.1], [0.3, 0.0, -1.0, 2.0]
    with torch.no_grad():
        logits = gen.logits(*args)
        before = gen(*args)
        if channel == "velocity":
            gen.map_velocity(scale, shift)
        else:
            scale = [1.0] * 4
            gen.shift_activity(shift)
        after = gen(*args)
    mapped, kept = (1, 0) if channel == "velocity" else (0, 1)
    assert torch.equal(after[kept], before[kept])  # where notes sound, or how loud, is untouched
    a, b = torch.tensor(scale).view(1, 4, 1, 1), torch.tensor(shift).view(1, 4, 1, 1)
    assert torch.allclose(after[mapped], torch.sigmoid(logits[:, mapped] * a + b), atol=1e-5)
    with pytest.raises(ValueError, match="one scale and one shift per track"):
        gen.map_velocity([1.0], [0.0])
    with pytest.raises(ValueError, match="one scale and one shift per track"):
        gen.shift_activity([0.0])


def test_calibrated_activity_sounds_as_often_as_the_real_tracks() -> None:
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    rng = np.random.default_rng(0)
    shares = (0.01, 0.05, 0.02, 0.03)
    real = np.stack([np.where(rng.random((64, 4, 16, 84)) < s, 90, 0) for s in shares[:3]], axis=2).astype(np.uint8)
    drums = np.where(rng.random((64, 4, 16, 84)) < shares[3], 90, 0).astype(np.uint8)
    labels = rng.uniform(-1, 1, (32, 2)).astype(np.float32)
    with torch.no_grad():
        before, _ = gen(torch.randn(512, 32), torch.randn(512, 16), torch.rand(512, 2), torch.rand(512, 4))
    assert (before > 0.5).float().mean() > 0.2  # an untrained generator sounds far too much
    mapping = calibrate_activity(gen, real, drums, labels, seed=0, n=512)
    assert list(mapping) == ["melody", "accompaniment", "bass", "drums"]
    with torch.no_grad():  # other latents than the calibration's
        roll, _ = gen(torch.randn(512, 32), torch.randn(512, 16), torch.rand(512, 2), torch.rand(512, 4))
    for t, (name, share) in enumerate(zip(mapping, shares)):
        assert abs(mapping[name]["sounding_real"] - share) < 0.005
        assert abs(float((roll[:, t] > 0.5).float().mean()) - mapping[name]["sounding_real"]) < 0.3 * share


def test_gated_tracks_rest_in_as_many_bars_as_the_real_ones() -> None:
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    gen.shift_activity([-4.0] * 4)  # sparse enough that some bars fall silent by themselves
    rng = np.random.default_rng(0)
    empty = (0.3, 0.1, 0.0, 0.5)  # shares of bars with no note, per track

    def track(share: float) -> np.ndarray:
        cells = np.where(rng.random((400, 4, 16, 84)) < 0.02, 90, 0).astype(np.uint8)
        cells[rng.random((400, 4)) < share] = 0
        return cells

    real = np.stack([track(e) for e in empty[:3]], axis=2)
    drums = track(empty[3])
    mapping = calibrate_bar_gate(gen, real, drums, seed=0, n=2048)
    assert list(mapping) == ["melody", "accompaniment", "bass", "drums"]
    assert mapping["bass"]["gate"] == NO_GATE  # never more silence than it already has
    with torch.no_grad():  # other latents than the calibration's, played as it measures: codes at their centre
        roll, _ = gen(torch.randn(2048, 32), torch.randn(2048, 16), torch.rand(2048, 2) * 2 - 1, torch.zeros(2048, 4))
    silent = ~(roll > 0.5).any(dim=3).any(dim=2)  # [bars, tracks]
    for t, name in enumerate(mapping):
        real_share = mapping[name]["empty_real"]
        assert abs(real_share - empty[t]) < 0.03
        if mapping[name]["gate"] != NO_GATE:
            assert abs(float(silent[:, t].float().mean()) - real_share) < 0.04
        else:
            assert float(silent[:, t].float().mean()) == pytest.approx(mapping[name]["empty_before"], abs=0.04)


def test_the_sung_melody_is_read_one_pitch_a_step_and_the_chordal_tracks_are_not() -> None:
    songs, split = load_pop909(limit=12)
    real = segments(songs, split.train)
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    inputs = (torch.randn(256, 32), torch.randn(256, 16), torch.rand(256, 2), torch.rand(256, 4))
    with torch.no_grad():
        before, velocity_before = gen(*inputs)
    chordal = monophonic_tracks(gen, real)
    assert list(chordal) == ["melody", "accompaniment", "bass"]
    assert chordal["melody"] < MONO_POLYPHONY < chordal["bass"] < chordal["accompaniment"]
    assert gen.cfg.mono_tracks == ("melody",)
    with torch.no_grad():
        after, velocity_after = gen(*inputs)
    assert ((before[:, 0] > 0.5).sum(dim=-1) > 1).any() and ((after[:, 0] > 0.5).sum(dim=-1) <= 1).all()
    strongest = before[:, 0].argmax(dim=-1, keepdim=True)  # the note kept is the step's strongest pitch
    assert torch.equal(after[:, 0].gather(-1, strongest), before[:, 0].gather(-1, strongest))
    assert torch.equal(after[:, 1:], before[:, 1:]) and torch.equal(velocity_after, velocity_before)


def test_the_melodys_second_voice_sounds_as_often_as_the_songs_melody_sounds_two_pitches() -> None:
    songs, split = load_pop909(limit=12)
    real = segments(songs, split.train)
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    assert calibrate_second_voice(gen, real, seed=0) == {} and gen.cfg.second_voice == ()  # no mono track: no rule
    monophonic_tracks(gen, real)
    fit = calibrate_second_voice(gen, real, seed=0)
    assert list(fit) == ["melody"] and 0 < fit["melody"]["chordal_real"] < MONO_POLYPHONY
    assert fit["melody"]["chordal_real"] == pytest.approx(chordal_share(real[:, :, 0]), abs=1e-5)
    assert gen.cfg.second_voice[1:] == (1e4, 1e4, 1e4)
    assert gen.cfg.second_voice[0] == pytest.approx(fit["melody"]["second_voice"], abs=1e-4)
    with torch.no_grad():  # fresh draws, as the daemon makes them
        roll, _ = gen(torch.randn(2048, 32), torch.randn(2048, 16), torch.rand(2048, 2) * 2 - 1, torch.zeros(2048, 4))
    melody = (roll[:, 0] > 0.5).numpy()
    assert (melody.sum(axis=-1) <= 2).all()
    assert chordal_share(melody) == pytest.approx(fit["melody"]["chordal_real"], rel=0.35)


def _sure_melody(gen: PhraseGenerator, second: float, quantile: float) -> None:
    """Make ``gen``'s melody far surer of itself (its activity logits spread a thousand times wider), its
    second strongest pitch reaching ``second`` in ``1 - quantile`` of the steps the calibration draws."""
    with torch.no_grad():
        weight, bias = gen.to_roll.weight.view(2, 4, gen.cfg.pitches, -1), gen.to_roll.bias.view(2, 4, gen.cfg.pitches)
        weight[0, 0] *= 1000
        bias[0, 0] = 0
        top = _phrase_activity(gen, 256, seed=0)[:, 0].topk(2, dim=-1).values  # as calibrate_second_voice draws
        bias[0, 0] = second - float(torch.quantile(top[..., 1][top[..., 0] > 0], quantile))


def test_a_second_voice_past_what_fp32_activity_resolves_is_fitted_to_what_the_daemon_reads(tmp_path: Path) -> None:
    """A melody so sure of itself that its second pitch's level comes out past ``RESOLVED_LOGIT`` (22.5 for a
    generator trained at seed 1): read from fp32 activity, every saturated second pitch sounded, in 1.9% of
    the melody's steps where torch sounded 0.5%. Past it, the level is ``RESOLVED_LOGIT`` or never."""
    songs, split = load_pop909(limit=12)
    real = segments(songs, split.train)
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    _sure_melody(gen, second=22.0, quantile=1 - chordal_share(real[:, :, 0]))
    monophonic_tracks(gen, real)
    fit = calibrate_second_voice(gen, real, seed=0, n=256)
    assert fit["melody"]["second_voice"] in (RESOLVED_LOGIT, NO_VOICE)
    inputs = (torch.randn(2048, 32), torch.randn(2048, 16), torch.rand(2048, 2) * 2 - 1, torch.zeros(2048, 4))

    def chordal(level: float) -> tuple[float, float]:  # the melody's share of two-pitch steps in torch, in the daemon
        gen.set_second_voice([level, NO_VOICE, NO_VOICE, NO_VOICE])
        path = export_generator(gen, tmp_path / "sure.onnx", {"training_data": "none", "seed": "0"})
        with torch.no_grad():  # fresh draws, as the daemon makes them
            ruled = (gen(*inputs)[0][:, 0] > 0.5).numpy()
        read = Generator(path, ["CPUExecutionProvider"]).run(*(t.numpy() for t in inputs))[0][:, 0] > 0.5
        return chordal_share(ruled), chordal_share(read)

    ruled, read = chordal(fit["melody"]["second_voice"])
    assert read == pytest.approx(ruled, abs=5e-4)  # the daemon plays what torch fitted
    ruled, read = chordal(22.0)  # the level fitted on logits alone
    assert read > ruled + 0.005


def test_a_bar_gate_stays_where_fp32_activity_tells_bars_apart() -> None:
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    gen.shift_activity([40.0] * 4)  # every cell saturated: no bar rests at any gate the daemon can read
    rng = np.random.default_rng(0)
    real = np.where(rng.random((64, 4, 3, 16, 84)) < 0.02, 90, 0).astype(np.uint8)
    real[:, :2] = 0  # half the bars empty
    drums = real[:, :, 0].copy()
    mapping = calibrate_bar_gate(gen, real, drums, seed=0, n=256)
    assert [m["gate"] for m in mapping.values()] == [RESOLVED_LOGIT] * 4 and gen.cfg.bar_gate == (RESOLVED_LOGIT,) * 4


def test_each_pitched_track_keeps_as_many_pitch_classes_a_bar_as_most_real_bars_sound() -> None:
    songs, split = load_pop909(limit=12)
    real = segments(songs, split.train)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    limits = pitch_class_limits(gen, real)
    assert list(limits) == ["melody", "accompaniment", "bass"]
    for t, name in enumerate(limits):
        k = limits[name]["pitch_classes"]
        used = [int((real[i, b, t].any(axis=0).reshape(-1, 12).any(axis=0)).sum()) for i in range(len(real)) for b in range(4)]
        used = np.array([u for u in used if u])
        assert (used <= k).mean() >= PITCH_CLASS_COVER > (used <= k - 1).mean()  # the fewest that cover the share
        assert limits[name]["real_bars_covered"] == pytest.approx((used <= k).mean(), abs=1e-4)
    assert limits["bass"]["pitch_classes"] < limits["accompaniment"]["pitch_classes"]
    assert gen.cfg.bar_pitch_classes == tuple(limits[n]["pitch_classes"] for n in limits) + (0,)


def test_calibrated_velocities_follow_the_real_ones() -> None:
    torch.manual_seed(0)
    gen = PhraseGenerator(GeneratorConfig(width=16)).eval()
    with torch.no_grad():
        gen.to_roll.weight[gen.to_roll.weight.shape[0] // 2:] *= 300  # a saturated velocity head
    rng = np.random.default_rng(0)
    real = np.where(rng.random((64, 4, 3, 16, 84)) < 0.1, rng.integers(60, 101, (64, 4, 3, 16, 84)), 0).astype(np.uint8)
    drums = np.where(rng.random((64, 4, 16, 84)) < 0.05, rng.integers(20, 121, (64, 4, 16, 84)), 0).astype(np.uint8)
    labels = rng.uniform(-1, 1, (32, 2)).astype(np.float32)
    sample = lambda: gen(torch.randn(512, 32), torch.randn(512, 16), torch.rand(512, 2), torch.rand(512, 4))  # noqa: E731
    with torch.no_grad():
        roll, before = sample()
    assert ((before[roll > 0.5] * 126 + 1) < 20).float().mean() > 0.2
    mapping = calibrate_velocity(gen, real, drums, labels, seed=0, n=512, steps=300)
    assert set(mapping) == {"melody", "accompaniment", "bass", "drums"}
    with torch.no_grad():
        roll, after = sample()
    for t, (lo, hi) in enumerate([(60, 100)] * 3 + [(20, 120)]):
        v = after[:, t][roll[:, t] > 0.5] * 126 + 1
        assert abs(float(v.median()) - (lo + hi) / 2) < 8 and float(torch.quantile(v, 0.05)) > lo - 10


def test_cross_validation_reads_every_phrase_once(tmp_path: Path) -> None:
    report = cross_validate(tmp_path, folds=3, seed=2, epochs=1, width=8)
    data = load_vgmidi()
    assert report["phrases"] == len(data.labels) and report["pieces"] == len(set(data.pieces)) and report["folds"] == 3
    assert json.loads((tmp_path / "emotion_cv.json").read_text()) == report
    for key, (low, high) in report["model_minus_hand_ci95"].items():
        lead = report["model"][key] - report["hand_feature_baseline"][key]
        assert low - 0.02 <= lead <= high + 0.02 and low < high
    # two thirds of the phrases are positive in valence, so every fold's majority baseline says positive
    assert report["majority_baseline"]["valence_sign_acc"] == round(float((data.labels[:, 0] > 0).mean()), 4)


def test_an_interrupted_run_resumes_to_the_model_an_uninterrupted_one_trains(tmp_path: Path,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    """A run stopped and started again (its checkpoint carries the random state) ends on the same weights."""
    emotion = train_emotion(tmp_path / "emotion", seed=1, epochs=1, width=8) and tmp_path / "emotion" / "emotion.pt"
    tiny = dict(seed=1, songs=10, grooves=10, width=16, critic_width=8, batch=8)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    for run in (whole, parts):
        (run / "emotion.pt").parent.mkdir(parents=True)
        (run / "emotion.pt").write_bytes(emotion.read_bytes())
    train_music(whole, emotion, MusicConfig(steps=8, **tiny), resume=False)
    train_music(parts, emotion, MusicConfig(steps=5, **tiny), resume=False)  # stopped at step 5 ...
    train_music(parts, emotion, MusicConfig(steps=8, **tiny), resume=True)  # ... and started again
    weights = [torch.load(run / "music.ckpt", weights_only=False)["gen"] for run in (whole, parts)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    encoders = []
    for run in (whole, parts):
        encoder = dict(seed=1, batch=4, width=16, songs=10, grooves=10, eval_segments=8)
        if run == parts:
            train_encoder(run, EncoderTrainConfig(steps=3, **encoder), resume=False)
        train_encoder(run, EncoderTrainConfig(steps=6, **encoder), resume=True)
        encoders.append(torch.load(run / "encoder.ckpt", weights_only=False)["enc"])
    assert all(torch.equal(encoders[0][k], encoders[1][k]) for k in encoders[0])
    # a checkpoint written before the random state was kept resumes all the same, and says what that costs
    old = torch.load(parts / "music.ckpt", weights_only=False)
    del old["random"]
    torch.save(old, parts / "music.ckpt")
    train_music(parts, emotion, MusicConfig(steps=9, **tiny), resume=True)
    assert "holds no random state" in caplog.text


def test_train_and_ship_a_tiny_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    report = train_emotion(run, seed=1, epochs=2, width=8)
    assert set(report["model_test"]) == {"valence_sign_acc", "arousal_sign_acc", "quadrant_acc"}
    assert report["hand_feature_baseline_test"].keys() == report["model_test"].keys()
    windows = report["test_windows"]
    assert windows["pieces"] == report["pieces"]["test"] and windows["windows"] > 10 * windows["pieces"]
    for key, (low, high) in windows["model_minus_hand_ci95"].items():
        lead = windows["model"][key] - windows["hand_feature_baseline"][key]
        assert low - 0.02 <= lead <= high + 0.02 and low < high
    music = train_music(run, run / "emotion.pt", MusicConfig(seed=1, steps=3, songs=10, grooves=10, width=16,
                                                              critic_width=8, batch=8), resume=False)
    assert music["steps"] >= 1 and sorted(music["code_names"]) == sorted(features(np.zeros((1, 4, 4, 16, 84))).keys())
    assert (run / "music.ckpt").is_file()
    assert (run / "music_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resumed = train_music(run, run / "emotion.pt", MusicConfig(seed=1, steps=20, songs=10, grooves=10, width=16,
                                                                critic_width=8, batch=8, emotion_steer=True,
                                                                steer_samples=64, steer_steps=3), resume=True)
    assert resumed["steps"] > music["steps"]  # it went on from the checkpoint
    steer = resumed["emotion_steer"]  # fitted after the calibrations, which were then fitted again
    assert len(steer["rounds"]) == STEER_ROUNDS and set(steer["calibrated_before"]) == {"activity_map", "bar_gate", "second_voice"}
    assert set(resumed["velocity_map"]) == set(resumed["activity_map"]) == set(resumed["bar_gate"]) == {
        "melody", "accompaniment", "bass", "drums"}
    (logged,) = json.loads((run / "music_history.json").read_text())  # one row every 20 steps
    assert logged["step"] == 20 and logged["distinct"] in [k / 8 for k in range(1, 9)]
    encoder = train_encoder(run, EncoderTrainConfig(seed=1, steps=3, batch=4, width=16, songs=10, grooves=10,
                                                    eval_segments=8), resume=False)
    scores = encoder["test_reconstruction"]
    assert set(scores) == {"encoder", "prior_mean", "random"} and all(0 <= v["f1"] <= 1 for v in scores.values())
    assert (run / "encoder_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resumed_encoder = train_encoder(run, EncoderTrainConfig(seed=1, steps=5, batch=4, width=16, songs=10, grooves=10,
                                                            eval_segments=8))
    assert resumed_encoder["steps"] == 5
    saved = torch.load(run / "generator.pt", weights_only=False)  # the run's generator changes (say, retrained) ...
    torch.save({**saved, "gen_config": {**saved["gen_config"], "mono_tracks": ["bass"]}}, tmp_path / "changed.pt")
    (run / "generator.pt").rename(tmp_path / "kept.pt")
    (tmp_path / "changed.pt").rename(run / "generator.pt")
    restarted = train_encoder(run, EncoderTrainConfig(seed=1, steps=2, batch=4, width=16, songs=10, grooves=10,
                                                      eval_segments=8))
    assert restarted["steps"] == 2  # ... so its encoder starts over instead of resuming at step 5
    (tmp_path / "kept.pt").replace(run / "generator.pt")
    resumed_encoder = train_encoder(run, EncoderTrainConfig(seed=1, steps=5, batch=4, width=16, songs=10, grooves=10,
                                                            eval_segments=8), resume=False)  # the one shipped below
    dest = tmp_path / "shipped"
    dest.mkdir()
    art = {"file": "art.onnx", "sha256": "0" * 64}  # shipped on its own (coevo ship RUN --art): kept as it was
    (dest / "manifest.json").write_text(json.dumps({"models": {"art": art}, "art_command": "coevo train art"}))
    manifest = ship_run(run, dest, eval_segments=16, eval_songs=10)
    assert manifest["models"]["art"] == art and manifest["art_command"] == "coevo train art"
    # trained with settings coevo train has no option for: no command claims to make it again, and it says why
    assert manifest["command"] is None and "music batch = 8 (coevo train makes 32)" in manifest["command_lacks"]
    assert json.loads((dest / "manifest.json").read_text()) == manifest
    gen = Generator(dest / "generator.onnx", ["CPUExecutionProvider"])
    assert list(gen.contract.code_names) == resumed["code_names"]  # the run shipped is the resumed one
    assert manifest["models"]["generator"]["emotion_steer"] == steer and gen.contract.extra["torch_steer_width"] == "128"
    assert gen.contract.extra["seed"] == "1"
    EmotionReader(dest / "emotion.onnx", ["CPUExecutionProvider"])
    enc = Encoder(dest / "encoder.onnx", ["CPUExecutionProvider"], gen)  # it inverts exactly the shipped generator
    z, bar_z, codes = enc.encode([Note(60, 0.0, 1.0, 100, "melody")], bars=3)
    assert z.shape == (gen.contract.latent_size,) and bar_z.shape == (3, gen.contract.bar_latent_size)
    assert codes.shape == (len(gen.contract.code_names),) and np.all(np.abs(codes) <= 1)
    assert manifest["models"]["encoder"]["evaluation"]["test_reconstruction"] == resumed_encoder["test_reconstruction"]
    assert manifest["models"]["generator"]["sha256"] and manifest["models"]["emotion"]["evaluation"]["test"]
    summary = manifest["models"]["generator"]["evaluation"]["eval_music"]
    assert summary["segments"] == 16 and len(summary["targets"]) == 4
    assert manifest["models"]["generator"]["velocity_map"] == resumed["velocity_map"]
    assert manifest["models"]["generator"]["activity_map"] == resumed["activity_map"]
    assert manifest["models"]["generator"]["bar_gate"] == resumed["bar_gate"]
    assert manifest["models"]["generator"]["mono_tracks"] == resumed["mono_tracks"] == list(gen.contract.mono_tracks)
    voice = manifest["models"]["generator"]["second_voice"]
    assert voice == resumed["second_voice"] == pytest.approx(gen.contract.second_voice) and len(voice) == 4
    limits = manifest["models"]["generator"]["bar_pitch_classes"]
    assert limits == resumed["bar_pitch_classes"] == list(gen.contract.bar_pitch_classes) and limits[-1] == 0
    gates = [resumed["bar_gate"][t]["gate"] for t in gen.contract.tracks]
    assert generator_from_onnx(dest / "generator.onnx").cfg.bar_gate == pytest.approx(gates, abs=1e-3)
    assert set(summary["velocity"]["model"]) == {"melody", "accompaniment", "bass", "drums"}
    assert (dest / "eval" / "report.md").is_file()
    for kind in ("generator", "emotion", "encoder"):  # each with its fp16 variant for GPUs, parity-checked
        entry = manifest["models"][kind]
        assert (dest / entry["fp16"]["file"]).is_file() and entry["fp16"]["max_abs_diff_vs_fp32"] <= 1e-2


def test_ship_writes_the_command_that_trains_the_run_again() -> None:
    """A run made by coevo train (here the emotion model at seed 0 beside a generator and encoder at seed 1,
    500 generator steps) gets the command that makes it again: coevo's own parser reads back every setting."""
    as_saved = lambda cfg: json.loads(json.dumps(cfg))  # noqa: E731  (tuples as the saved JSON's lists)
    emotion, music = emotion_run_config(seed=0), as_saved(asdict(MusicConfig(seed=1, steps=500, emotion_steer=True)))
    encoder = as_saved(asdict(EncoderTrainConfig(seed=1)))
    command, lacks = run_command(Path("runs/seed 1"), Path("/tmp/s1"), emotion, music, encoder)
    assert lacks == [] and command is not None
    parsed = [build_parser().parse_args(shlex.split(part)[1:]) for part in command.split(" && ")]
    train = {args.kind: args for args in parsed if args.command == "train"}
    assert set(train) == {"emotion", "music", "encoder"}  # seeds differ, so one coevo train each
    assert {args.out for args in train.values()} == {"runs/seed 1"}
    assert (train["emotion"].seed, train["emotion"].epochs) == (0, emotion["epochs"])
    assert (train["music"].seed, train["music"].steps, train["music"].songs, train["music"].emotion_steer) == (
        1, 500, None, True)
    assert (train["encoder"].seed, train["encoder"].encoder_steps) == (1, encoder["steps"])
    (ship,) = [args for args in parsed if args.command == "ship"]
    assert (ship.run, ship.dest) == ("runs/seed 1", "/tmp/s1")
    same_seed, _ = run_command(Path("runs/ship"), Path("models/shipped"), emotion, as_saved(asdict(MusicConfig())),
                               as_saved(asdict(EncoderTrainConfig())))
    assert same_seed == "coevo train all --out runs/ship --seed 0 && coevo ship runs/ship"
    changed = dict(music, emotion_weight=10.0)
    assert run_command(Path("r"), Path("d"), emotion, changed, None) == (
        None, ["music emotion_weight = 10.0 (coevo train makes 1.0)"])


class _RegisterDensityReader(torch.nn.Module):
    """An emotion reader with known ears, for the steer: valence is the register (mean sounding pitch), arousal
    the number of sounding cells, each 0 at the given centres."""

    def __init__(self, pitch: float, cells: float) -> None:
        super().__init__()
        self.pitch, self.cells = pitch, cells

    @staticmethod
    def hears(roll: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean sounding pitch and number of sounding cells of each merged roll [B, steps, pitches]."""
        cells = roll.sum(dim=(1, 2))
        return (roll * torch.arange(roll.shape[-1])).sum(dim=(1, 2)) / cells.clamp(min=1), cells

    def forward(self, roll: torch.Tensor) -> torch.Tensor:  # [B, steps, pitches] -> [B, 2]
        pitch, cells = self.hears(roll)
        return torch.stack([torch.tanh((pitch - self.pitch) / 4), torch.tanh((cells - self.cells) / self.cells)], dim=1)


def test_the_emotion_steer_moves_phrases_to_where_the_emotion_model_reads_the_emotion_asked_for(
        caplog: pytest.LogCaptureFixture) -> None:
    """The shipped generator (rebuilt from its file) ignores its emotion input; a reader that hears register as
    valence and note count as arousal, centred on the generator's own phrases, finds each quadrant about as
    often whatever is asked. Once steered, most phrases read in the quadrant asked for. The fit says how alike
    the phrases made for each quadrant are before and after, and warns where the steer made them nearly one."""
    gen = generator_from_onnx(shipped_dir() / "generator.onnx").requires_grad_(False)
    g = torch.Generator().manual_seed(5)
    z, bar_z = torch.randn(256, gen.cfg.latent_size, generator=g), torch.randn(256, 4, gen.cfg.bar_latent_size, generator=g)
    with torch.no_grad():
        roll = (_generate(gen, z, bar_z, torch.zeros(256, 2), torch.zeros(256, 4))[0] > 0.5).float()
        pitch, cells = _RegisterDensityReader.hears(_merged(roll))
    reader = _RegisterDensityReader(float(pitch.median()), float(cells.median()))
    with caplog.at_level(logging.WARNING, logger="models.train_music"):
        fit = fit_emotion_steer(gen, reader, MusicConfig(seed=0, steer_samples=2048, steer_steps=300))
    assert abs(fit["before"]["quadrant_accuracy"] - 0.25) < 0.08
    was, now = fit["pairwise_f1"]["before"], fit["pairwise_f1"]["after"]
    assert len(was) == len(now) == 4 and max(was) < 0.35  # the generator as trained varies its phrases
    collapsed = [b > a + STEER_SAMENESS for a, b in zip(was, now)]
    assert any(collapsed)  # this reader's steer too makes phrases alike to reach high register and many notes
    assert caplog.text.count("nearly alike") == sum(collapsed)
    assert fit["rounds"][-1]["quadrant_accuracy"] > 0.5 and all(r["moved_z"] > 0 for r in fit["rounds"])
    assert gen.steer is not None and gen.cfg.steer_width == STEER_WIDTH
    with torch.no_grad():  # the generator plays the steered latents from now on: low, sparse phrases for (-, -)
        low = _merged((_generate(gen, z, bar_z, torch.full((256, 2), -0.8), torch.zeros(256, 4))[0] > 0.5).float())
    assert float((reader(low) < 0).all(dim=1).float().mean()) > 0.5


def test_a_model_whose_fp16_variant_misses_parity_ships_in_fp32_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The fp16 variant is optional (GPUs only): one that drifts past its tolerance is not written, the entry says
    why, and a stale one from an earlier run is removed, so the daemon runs the fp32 file on a GPU too."""
    torch.manual_seed(0)
    path = export_generator(PhraseGenerator(GeneratorConfig(width=16)).eval(), tmp_path / "generator.onnx",
                            {"training_data": "none", "seed": "0"})
    stale = path.with_suffix(".fp16.onnx")
    stale.write_bytes(b"from an earlier run")
    monkeypatch.setattr("export.onnx_export.FP16_ATOL", 0.0)  # no fp16 graph matches fp32 to the last bit
    entry = _entry(path, {"data": "none", "training_seconds": 0}, "generator", 0, {})
    assert "fp16" not in entry and "differs from fp32" in entry["fp16_skipped"] and not stale.exists()
    assert "ships without an fp16 variant" in caplog.text
