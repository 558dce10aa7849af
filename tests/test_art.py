"""The art model: data, tiny training runs on real paintings and on an artist's folder, sample grids,
resume, export to ONNX with the contract, curating picks into the next run's folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bridge.cli import main
from bridge.errors import ModelError
from bridge.generation import ArtModel, Generator
from models.art_data import GRID, colour_emotion, load_images
from models.data import data_root
from models.ship import ship_art
from models.train_art import FEATURES, ArtTrainConfig, image_features, train_art

PAINTINGS = data_root() / "paintings" / "images"


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artist's folder: 24 real paintings, one of them grayscale, plus a file that is not an image."""
    folder = tmp_path_factory.mktemp("portfolio")
    for path in sorted(PAINTINGS.iterdir())[::250][:24]:
        shutil.copy(path, folder / path.name)
    first = sorted(folder.iterdir())[0]
    Image.open(first).convert("L").save(folder / "gray.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def own_run(portfolio: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run") / "mine"
    report = train_art(run, ArtTrainConfig(seed=1, steps=4, batch=8, width=8, grid_every=2, images=str(portfolio)),
                       resume=False)
    assert report["steps"] == 4
    return run


def test_colour_emotion_reads_brightness_and_saturation() -> None:
    dark_grey = np.full((1, 3, 8, 8), 0.2, dtype=np.float32)
    bright_red = np.zeros((1, 3, 8, 8), dtype=np.float32)
    bright_red[:, 0] = 1.0
    pale = np.full((1, 3, 8, 8), 0.9, dtype=np.float32)
    emotion, _, _ = colour_emotion(np.concatenate([dark_grey, bright_red, pale]))
    assert emotion[1, 0] > emotion[0, 0]  # bright and saturated: more pleasant than dark grey
    assert emotion[1, 1] > emotion[2, 1]  # saturated: more arousing than pale
    assert np.all(np.abs(emotion) <= 1)


def test_own_folder_loads_every_image_as_rgb(portfolio: Path) -> None:
    images = load_images(portfolio, size=32)
    assert images.pixels.shape == (25, 3, 32, 32) and "gray.png" in images.names
    assert images.movements == ("own work",) and images.held_out.sum() == 2
    assert 0 <= images.pixels.min() and images.pixels.max() <= 1


def test_training_saves_grids_checkpoints_and_resumes(own_run: Path, portfolio: Path) -> None:
    grids = sorted((own_run / "samples").glob("step_*.png"))
    assert [g.name for g in grids] == ["step_000002.png", "step_000004.png"]
    with Image.open(grids[-1]) as sheet:
        assert sheet.size == (GRID[0] * 64, GRID[1] * 64)
    report = json.loads((own_run / "art_report.json").read_text())
    assert len(set(report["code_names"])) == 3 and set(report["code_names"]) <= set(FEATURES)
    assert (own_run / "art_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resumed = train_art(own_run, ArtTrainConfig(seed=1, steps=6, batch=8, width=8, grid_every=2,
                                                 images=str(portfolio)))
    assert resumed["steps"] == 6 and (own_run / "samples" / "step_000006.png").is_file()


def test_shipped_beside_the_music_models_with_the_contract(own_run: Path, tmp_path: Path) -> None:
    dest = tmp_path / "shipped"
    dest.mkdir()
    (dest / "manifest.json").write_text(json.dumps({"models": {"generator": {"file": "generator.onnx"}}}))
    manifest = ship_art(own_run, dest)
    assert set(manifest["models"]) == {"generator", "art"}  # the music entries are left as they were
    entry = manifest["models"]["art"]
    art = ArtModel(dest / entry["file"], ["CPUExecutionProvider"])
    c = art.contract
    assert c.image_size == 64 and c.movements == () and c.movement_inputs == 1 and len(c.code_names) == 3
    rng = np.random.default_rng(0)
    images = art.render(rng.standard_normal((5, c.latent_size)), rng.uniform(-1, 1, (5, 2)),
                        rng.uniform(-1, 1, (5, 3)))
    assert images.shape == (5, 3, 64, 64) and 0 <= images.min() and images.max() <= 1
    assert (dest / "eval" / "art_samples.png").is_file()
    with pytest.raises(ModelError, match="is an art model; a generator was expected"):
        Generator(dest / "art.onnx", ["CPUExecutionProvider"])


def test_paintings_run_conditions_on_movement(tmp_path: Path) -> None:
    run = tmp_path / "paint"
    train_art(run, ArtTrainConfig(seed=2, steps=2, batch=8, width=8, grid_every=100, limit=60), resume=False)
    manifest = ship_art(run, tmp_path)
    art = ArtModel(tmp_path / "art.onnx", ["CPUExecutionProvider"])
    assert len(art.contract.movements) > 1 and manifest["models"]["art"]["movements"] == list(art.contract.movements)
    one_hot = np.eye(art.contract.movement_inputs, dtype=np.float32)[:2]
    images = art.render(np.zeros((2, 64)), np.zeros((2, 2)), np.zeros((2, 3)), one_hot)
    assert images.shape == (2, 3, 64, 64)


def test_an_interrupted_art_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path: Path) -> None:
    tiny = dict(seed=2, batch=8, width=8, grid_every=100, limit=60)
    train_art(tmp_path / "whole", ArtTrainConfig(steps=4, **tiny), resume=False)
    train_art(tmp_path / "parts", ArtTrainConfig(steps=2, **tiny), resume=False)
    train_art(tmp_path / "parts", ArtTrainConfig(steps=4, **tiny), resume=True)
    whole, parts = (torch.load(tmp_path / run / "art.ckpt", weights_only=False)["gen"] for run in ("whole", "parts"))
    assert all(torch.equal(whole[k], parts[k]) for k in whole)


def test_curate_copies_picked_tiles_into_the_training_folder(own_run: Path, portfolio: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = set(portfolio.iterdir())
    assert main(["art", "curate", str(own_run), "--pick", "0,47"]) == 0
    new = sorted(set(portfolio.iterdir()) - before)
    assert [p.suffix for p in new] == [".png", ".png"] and "coevo train art --images" in capsys.readouterr().out
    with Image.open(new[0]) as tile:
        assert tile.size == (64, 64)
    assert main(["art", "curate", str(own_run), "--pick", "0"]) == 0  # the same pick again: a new name
    assert len(set(portfolio.iterdir()) - before) == 3
    assert len(load_images(portfolio, size=32).names) == 28  # the next run trains on them


@pytest.mark.parametrize("args, message", [
    (["--pick", "48"], "outside 0..47"),
    (["--pick", "x"], "grid indices like 3,17,40"),
    ([], "nothing to curate"),
    (["--file", "missing.png"], "is not an image file"),
])
def test_curate_refuses_bad_picks_and_changes_nothing(own_run: Path, portfolio: Path,
                                                       capsys: pytest.CaptureFixture[str], args: list[str],
                                                       message: str) -> None:
    before = set(portfolio.iterdir())
    assert main(["art", "curate", str(own_run), *args]) == 2
    assert message in capsys.readouterr().err and set(portfolio.iterdir()) == before


def test_curate_never_writes_into_the_shared_paintings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "paint"
    train_art(run, ArtTrainConfig(seed=2, steps=2, batch=8, width=8, grid_every=2, limit=40), resume=False)
    assert main(["art", "curate", str(run), "--pick", "1"]) == 2
    assert "pass --into FOLDER" in capsys.readouterr().err
    into = tmp_path / "picked"
    into.mkdir()
    assert main(["art", "curate", str(run), "--pick", "1", "--into", str(into)]) == 0
    assert len(list(into.iterdir())) == 1


def test_image_features_measure_what_they_are_named_for() -> None:
    dark, bright = np.full((1, 3, 8, 8), 0.1), np.full((1, 3, 8, 8), 0.9)
    warm = np.zeros((1, 3, 8, 8))
    warm[:, 0] = 0.8
    stripes = np.zeros((1, 3, 8, 8))
    stripes[..., ::2] = 1.0
    f = image_features(np.concatenate([dark, bright, warm, stripes]))
    assert f["brightness"][1] > f["brightness"][0] and f["warmth"][2] > f["warmth"][1]
    assert f["saturation"][2] > f["saturation"][1] and f["detail"][3] > f["detail"][1]
    assert f["contrast"][3] > f["contrast"][0]


def test_the_full_variant_trains_within_its_minutes_and_exports_with_parity(portfolio: Path, tmp_path: Path) -> None:
    run = tmp_path / "full"
    report = train_art(run, ArtTrainConfig(seed=3, steps=10_000, batch=8, width=8, grid_every=1000, minutes=0.05,
                                           images=str(portfolio), variant="full"), resume=False)
    assert 0 < report["steps"] < 10_000 and report["training_seconds"] < 30 and report["variant"] == "full"
    history = json.loads((run / "art_history.json").read_text())
    assert all(0.0 < row["similarity"] <= 1.0 for row in history)  # the MS-SSIM term is on
    ship_art(run, tmp_path / "shipped")  # export_art checks torch/ONNX parity (attention, ECA, dilated block)
    art = ArtModel(tmp_path / "shipped" / "art.onnx", ["CPUExecutionProvider"])
    assert art.contract.extra["variant"] == "full"
    assert art.render(np.zeros((2, 64)), np.zeros((2, 2)), np.zeros((2, 3))).shape == (2, 3, 64, 64)


def test_an_unknown_variant_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="variant must be dcgan, full, or some of attention, dilated"):
        train_art(tmp_path / "run", ArtTrainConfig(steps=1, variant="bigger"), resume=False)
    assert not (tmp_path / "run").exists()
    assert main(["train", "art", "--variant", "attention+colour", "--out", str(tmp_path / "run")]) == 2


def test_fid_and_kid_are_zero_for_one_distribution_and_grow_with_the_gap() -> None:
    from models.art_eval import fid, kid

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((400, 16)), rng.standard_normal((400, 16))
    near, far = b + 0.2, b + 1.0
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)
    assert fid(a, b) < fid(a, near) < fid(a, far)
    same, spread = kid(a, b)
    assert abs(same) < 3 * spread + 1e-3  # unbiased: about zero for one distribution
    assert kid(a, near)[0] < kid(a, far)[0] and kid(a, far)[0] > 10 * spread


@pytest.mark.slow
def test_eval_art_compares_runs_on_held_out_paintings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for variant in ("dcgan", "dilated"):
        train_art(tmp_path / variant, ArtTrainConfig(seed=4, steps=2, batch=8, width=8, grid_every=100, limit=150,
                                                     variant=variant), resume=False)
    out = tmp_path / "eval"
    assert main(["eval", "art", str(tmp_path / "dcgan"), str(tmp_path / "dilated"), "-n", "12", "--songs", "150",
                 "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {r["name"]: r for r in report["rows"]}
    assert set(rows) == {"held-out, half vs half", "dcgan", "dilated"} and report["held_out_images"] >= 10
    assert rows["dcgan"]["verdict"] == "baseline" and rows["dilated"]["verdict"] in ("helps", "no clear gain")
    assert rows["dcgan"]["fid"] > rows["held-out, half vs half"]["fid"]  # 2 steps of training: far from paintings
    assert rows["dcgan"]["ms_ssim"] > rows["held-out, half vs half"]["ms_ssim"]  # and far less varied
    with Image.open(out / "samples_dilated.png") as grid:
        assert grid.size == (8 * 64, 6 * 64)
    assert "| dilated | dilated | 2 |" in capsys.readouterr().out


def test_eval_art_refuses_a_folder_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "art", str(tmp_path)]) == 2
    assert "neither an art ONNX file nor an art run folder" in capsys.readouterr().err
