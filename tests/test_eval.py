"""Music metrics on rolls whose answers are known, the baselines, and `coevo eval music` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bridge.cli import main
from bridge.generation import Generator
from bridge.phrase import note_runs
from models.data import PITCH_LOW, data_root
from models.evaluate import _paired, markov_baseline, pairwise_f1, random_baseline
from models.metrics import musegan_metrics, overlapping_area, phrase_histograms, velocity_figures

P = 84


def roll(n: int = 1) -> np.ndarray:
    return np.zeros((n, 4, 4, 16, P), np.uint8)


def test_an_empty_roll_has_only_empty_bars() -> None:
    m = musegan_metrics(roll(2))
    assert all(m[f"empty_bars.{t}"] == 1.0 for t in ("melody", "accompaniment", "bass", "drums"))


def test_a_held_triad_uses_three_pitch_classes_is_polyphonic_and_qualified() -> None:
    r = roll()
    for pitch in (60, 64, 67):
        r[0, :, 1, :, pitch - PITCH_LOW] = 100  # accompaniment: C major held through every bar
    m = musegan_metrics(r)
    assert m["pitch_classes_per_bar.accompaniment"] == 3.0
    assert m["polyphony.accompaniment"] == 1.0
    assert m["qualified_notes.accompaniment"] == 1.0
    assert m["empty_bars.accompaniment"] == 0.0 and m["empty_bars.melody"] == 1.0


def test_notes_are_runs_of_steps_and_short_ones_are_not_qualified() -> None:
    track = np.zeros((16, P), np.uint8)
    track[0:3, 10] = 1
    track[8, 10] = 1
    track[5, 20] = 1
    pitch, start, length = note_runs(track)
    assert sorted(zip(pitch.tolist(), start.tolist(), length.tolist())) == [(10, 0, 3), (10, 8, 1), (20, 5, 1)]
    r = roll()
    r[0, 0, 0] = track
    assert musegan_metrics(r)["qualified_notes.melody"] == pytest.approx(1 / 3)


def test_tonal_distance_is_zero_for_the_same_harmony_and_grows_for_a_clash() -> None:
    same, clash = roll(), roll()
    for r, other in ((same, (60, 64, 67)), (clash, (61, 66, 68))):
        for pitch in (60, 64, 67):
            r[0, :, 0, :, pitch - PITCH_LOW] = 100
        for pitch in other:
            r[0, :, 1, :, pitch - PITCH_LOW] = 100
    assert musegan_metrics(same)["tonal_distance.melody-accompaniment"] == pytest.approx(0.0, abs=1e-9)
    assert musegan_metrics(clash)["tonal_distance.melody-accompaniment"] > 0.5


def test_drum_pattern_counts_hits_on_eighth_notes() -> None:
    on_eighths, off = roll(), roll()
    on_eighths[0, :, 3, ::2, 36 - PITCH_LOW] = 100
    off[0, :, 3, 1::2, 36 - PITCH_LOW] = 100
    assert musegan_metrics(on_eighths)["drum_pattern"] == 1.0
    assert musegan_metrics(off)["drum_pattern"] == 0.0


def test_velocity_figures_count_the_soft_cells_of_each_track() -> None:
    r = roll()
    r[0, 0, 0, 0:8, 40] = 10  # melody: 8 cells at velocity 10, then 24 at 100
    r[0, 1:, 0, 0:8, 40] = 100
    r[0, :, 3, ::4, 2] = 90  # drums
    v = velocity_figures(r)
    assert v["melody"]["under_soft"] == pytest.approx(0.25) and v["melody"]["median"] == 100.0
    assert v["melody"]["p5"] == pytest.approx(10.0)
    assert v["drums"] == {"under_soft": 0.0, "p5": 90.0, "median": 90.0}
    assert v["bass"] == {"under_soft": None, "p5": None, "median": None}


def test_histograms_of_a_scale() -> None:
    r = roll()
    for step, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72]):
        r[0, 0, 0, 2 * step:2 * step + 2, pitch - PITCH_LOW] = 100  # eighth notes
    h = phrase_histograms(r)
    assert h["pitch_class"][0][[0, 2, 4, 5, 7, 9, 11]].sum() == pytest.approx(1.0)
    assert h["pitch_class"][0][0] == pytest.approx(2 / 8)  # C twice
    assert h["note_length"][0][1] == 1.0  # every note 2 steps long
    assert h["ioi"][0][1] == 1.0  # every onset 2 steps after the last
    assert h["pitch_range"][0][0] == 12


def test_overlapping_area_is_high_for_the_same_distribution_and_low_for_another() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (120, 3)), rng.normal(0, 1, (120, 3))
    far = rng.normal(8, 1, (120, 3))
    assert overlapping_area(a, b) > 0.85
    assert overlapping_area(a, far) < 0.05


def test_markov_baseline_only_plays_states_it_learned_and_follows_its_seed() -> None:
    rng = np.random.default_rng(1)
    train = roll(20)
    for i in range(20):
        for s in range(0, 64, 4):
            train[i, s // 16, 0, s % 16:s % 16 + 2, int(rng.integers(30, 40))] = 100
    out = markov_baseline(train, 8, seed=3)
    assert np.array_equal(out, markov_baseline(train, 8, seed=3))
    seen = {tuple(np.flatnonzero(step)) for step in (train[:, :, 0] > 0).reshape(-1, P)}
    produced = {tuple(np.flatnonzero(step)) for step in (out[:, :, 0] > 0).reshape(-1, P)}
    assert produced <= seen and len(produced) > 1


def test_random_baseline_keeps_each_tracks_range_and_density() -> None:
    rng = np.random.default_rng(2)
    ref = roll(50)
    for i in range(50):
        for b in range(4):
            for _ in range(4):
                ref[i, b, 2, int(rng.integers(0, 16)), int(rng.integers(10, 20))] = 100  # bass only, 4 per bar
    out = random_baseline(ref, 50, seed=0)
    pitches = np.nonzero(out[:, :, 2].any(axis=(0, 1, 2)))[0]
    assert pitches.min() >= 10 and pitches.max() <= 19
    assert not out[:, :, :2].any() and not out[:, :, 3].any()
    assert 2.5 < musegan_metrics(out)["pitch_classes_per_bar.bass"] <= musegan_metrics(ref)["pitch_classes_per_bar.bass"] + 1


def test_pairwise_f1_is_one_for_the_same_phrase_and_falls_with_what_phrases_do_not_share() -> None:
    same = np.repeat(roll(), 5, axis=0)
    same[:, :, 1, :, 30] = 100
    assert pairwise_f1(same) == pytest.approx(1.0)
    apart = roll(4)
    for i in range(4):  # each phrase its own pitch: nothing shared
        apart[i, :, 1, :, 10 + i] = 100
    assert pairwise_f1(apart) == pytest.approx(0.0)
    half = roll(2)
    half[:, :, 1, :, 30] = 100  # both sound this pitch; each sounds one more, its own
    half[0, :, 1, :, 40], half[1, :, 1, :, 50] = 100, 100
    assert pairwise_f1(half) == pytest.approx(0.5)


def test_the_test_set_holds_every_segment_and_uses_each_drum_segment_alike() -> None:
    pitched = np.arange(10)[:, None, None, None, None] * np.ones((10, 4, 3, 16, P), np.uint8)
    drums = (np.arange(4)[:, None, None, None] + 1) * np.ones((4, 4, 16, P), np.uint8)
    paired = _paired(pitched, drums, None, seed=3)
    assert sorted(paired[:, 0, 0, 0, 0]) == list(range(10))  # every pitched segment once
    uses = np.bincount(paired[:, 0, 3, 0, 0] - 1, minlength=4)
    assert uses.max() - uses.min() <= 1 and uses.sum() == 10  # the drums take turns
    assert len(_paired(pitched, drums, 6, seed=3)) == 6


@pytest.mark.slow
def test_coevo_eval_music_writes_the_report_tables_and_plots(tmp_path: Path, models, capsys: pytest.CaptureFixture[str]) -> None:
    if not (data_root() / "pop909").is_dir():
        pytest.fail(f"the evaluation data is missing: {data_root()}")
    out = tmp_path / "eval"
    rc = main(["eval", "music", "--model", str(models.generator), "--emotion-model", str(models.emotion),
               "--out", str(out), "-n", "32", "--songs", "30"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "## MuseGAN metrics" in printed and "| metric | test | model | model_uniform | random | markov | valid |" in printed
    report = json.loads((out / "report.json").read_text())
    assert set(report["musegan"]) == {"test", "model", "model_uniform", "random", "markov", "valid"}
    # the model is asked for the emotions of the songs it learnt from, which read mostly happy (+/+);
    # an even draw over the plane would put a quarter in each quadrant
    shares = report["asked"]["model_quadrant_shares"]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3) and shares[0] > 0.5
    assert f"happy / tense / sad / calm {' / '.join(f'{x:.2f}' for x in shares)}" in printed
    # the validation songs are real music, measured against the test songs as the model is
    count = report["within_tolerance_count"]
    assert count["model"] == sum(report["within_tolerance"].values())
    assert count["random"] < count["valid"] <= len(report["musegan"]["test"])
    assert f"valid {count['valid']} of {len(report['musegan']['test'])}" in printed
    assert report["musegan"]["test"]["empty_bars.accompaniment"] < 0.5  # real music is rarely silent
    assert set(report["overlap"]["model"]) == {"pitch_class", "note_length", "ioi", "pitch_range"}
    for name in ("test", "model"):  # velocities of real songs and of the model (the baselines play 100)
        assert set(report["velocity"][name]) == {"melody", "accompaniment", "bass", "drums"}
    assert report["velocity"]["test"]["accompaniment"]["median"] not in (None, 100.0)
    assert "## Velocity" in printed
    assert 0.0 <= report["emotion_control"]["quadrant_accuracy"] <= 1.0
    assert 0.0 <= report["emotion_control"]["hand_feature_reader"]["quadrant_accuracy"] <= 1.0
    assert "Read by the hand-feature baseline instead" in printed
    alike = report["emotion_control"]["pairwise_f1"]  # an untrained generator plays nearly one phrase
    assert len(alike) == 4 and min(alike) > 0.9 and 0.0 < report["emotion_control"]["pairwise_f1_test"] < 0.4
    assert "How alike the phrases made for one quadrant are" in printed
    code_names = Generator(models.generator, ["CPUExecutionProvider"]).contract.code_names
    assert list(report["axes"]) == list(code_names)
    assert len(report["targets"]) == 4
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.md").read_text().startswith("# coevo eval music")
