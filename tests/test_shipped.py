"""The models shipped as package data: hashes, sizes, contract, and the daemon's defaults."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bridge.generation import (ArtModel, EmotionReader, Encoder, Generator, load_session, model_precision,
                               resolve_model_path)
from models import recipe
from models.contract import EmotionContract, EncoderContract, GeneratorContract
from models.evaluate import QUADRANTS, model_samples, pairwise_f1
from models.ship import MAX_BYTES, run_command
from models.shipped import read_manifest, sha256_file, shipped_dir


def test_every_shipped_model_matches_its_manifest_and_loads() -> None:
    manifest = read_manifest()
    assert set(manifest["models"]) == {"generator", "emotion", "encoder", "art"}
    generator = Generator(shipped_dir() / manifest["models"]["generator"]["file"], ["CPUExecutionProvider"])
    for kind, entry in manifest["models"].items():
        path = shipped_dir() / entry["file"]
        assert sha256_file(path) == entry["sha256"], f"{path} changed since the manifest was written"
        assert path.stat().st_size == entry["bytes"] <= MAX_BYTES
        for key in ("data", "config", "seed", "training_seconds", "evaluation"):
            assert entry[key] not in (None, "", {}), f"manifest {kind}.{key} is empty"
        providers = ["CPUExecutionProvider"]
        if kind == "encoder":  # it must invert exactly the shipped generator
            model = Encoder(path, providers, generator)
            assert entry["inverts"] == manifest["models"]["generator"]["file"]
        elif kind == "art":
            model = ArtModel(path, providers)  # type: ignore[assignment]
            assert list(model.contract.code_names) == entry["code_names"]
            continue
        else:
            model = (Generator if kind == "generator" else EmotionReader)(path, providers)  # type: ignore[assignment]
        assert isinstance(model.contract, EmotionContract if kind == "emotion" else GeneratorContract)
        assert model.contract.extra["seed"] == str(entry["seed"])


def test_every_shipped_model_has_an_fp16_variant_that_matches_it() -> None:
    """Run here on CPU (the daemon picks them on CUDA/TensorRT): same contract, fp32 inputs and outputs,
    outputs within the stated tolerance of the fp32 file's, and an encoder still fits the fp16 generator."""
    from export.onnx_export import FP16_ATOL, _probe_from_session

    manifest = read_manifest()["models"]
    providers = ["CPUExecutionProvider"]
    for kind, entry in manifest.items():
        half = entry["fp16"]
        path = shipped_dir() / half["file"]
        assert path == resolve_model_path("", kind, "fp16") and path.name == f"{kind}.fp16.onnx"
        assert sha256_file(path) == half["sha256"] and path.stat().st_size == half["bytes"] <= MAX_BYTES
        assert half["bytes"] < 0.6 * entry["bytes"]  # weights stored in half precision
        full_session, full_contract = load_session(shipped_dir() / entry["file"], providers)
        half_session, half_contract = load_session(path, providers)
        extra = half_contract.generator.extra if isinstance(half_contract, EncoderContract) else half_contract.extra
        assert extra["precision"] == "fp16" and extra["fp32_sha256"] == entry["sha256"]
        assert half_contract.to_metadata().keys() - {"precision", "fp32_sha256"} == full_contract.to_metadata().keys()
        probe = _probe_from_session(full_session)
        for want, got in zip(full_session.run(None, probe), half_session.run(None, probe)):
            assert got.dtype == np.float32 and want.shape == got.shape
            assert 0 < np.abs(got - want).max() <= FP16_ATOL  # not the same numbers, but close
    encoder = shipped_dir() / manifest["encoder"]["fp16"]["file"]
    Encoder(encoder, providers, Generator(shipped_dir() / manifest["generator"]["fp16"]["file"], providers))


def test_the_shipped_manifest_names_the_command_that_made_its_models() -> None:
    """The manifest's command is the one the README gives, and it makes exactly the configs recorded beside
    each shipped model (seed, epochs, steps and every other training setting)."""
    manifest = read_manifest(shipped_dir())
    models = manifest["models"]
    assert manifest["command"] == recipe.SHIPPED_COMMAND
    assert run_command(Path(recipe.RUN), Path(recipe.SHIPPED), models["emotion"]["config"], models["generator"]["config"],
                       models["encoder"]["config"]) == (recipe.SHIPPED_COMMAND, [])
    assert recipe.SHIPPED_COMMAND in (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def test_precision_auto_takes_fp16_on_a_gpu_provider_only() -> None:
    assert model_precision("auto", ["CPUExecutionProvider"]) == "fp32"
    assert model_precision("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == "fp16"
    assert model_precision("auto", ["TensorrtExecutionProvider", "CUDAExecutionProvider"]) == "fp16"
    assert model_precision("fp16", ["CPUExecutionProvider"]) == "fp16"
    assert model_precision("fp32", ["CUDAExecutionProvider"]) == "fp32"


def test_the_daemon_defaults_to_the_shipped_models() -> None:
    for kind in ("generator", "emotion", "encoder"):
        path = resolve_model_path("", kind)
        assert path is not None and path.parent == shipped_dir()


def test_raising_each_shipped_axis_raises_the_feature_it_is_named_for() -> None:
    """Measured on the exported ONNX file, with samples the training never drew."""
    from models.metrics import BARS, features

    gen = Generator(shipped_dir() / read_manifest()["models"]["generator"]["file"], ["CPUExecutionProvider"])
    c = gen.contract
    rng = np.random.default_rng(12345)
    n = 256
    z = np.repeat(rng.standard_normal((n, c.latent_size)).astype(np.float32), BARS, axis=0)
    bar_z = rng.standard_normal((n * BARS, c.bar_latent_size)).astype(np.float32)
    emotion = np.repeat(rng.uniform(-1, 1, (n, 2)).astype(np.float32), BARS, axis=0)
    for k, name in enumerate(c.code_names):
        measured = []
        for value in (-1.0, 1.0):
            codes = np.zeros((n * BARS, len(c.code_names)), np.float32)
            codes[:, k] = value
            roll, _ = gen.run(z, bar_z, emotion, codes)
            measured.append(features(roll.reshape(n, BARS, *roll.shape[1:]))[name].mean())
        assert measured[1] > measured[0], f"axis {name!r}: {measured[0]:.3f} at -1, {measured[1]:.3f} at +1"


def test_shipped_art_model_follows_emotion_and_its_named_axes() -> None:
    """Rendered by the exported ONNX file from latents the training never drew."""
    import torch

    from models.art import ArtConfig, colour_emotion_torch
    from models.train_art import image_features

    entry = read_manifest()["models"]["art"]
    art = ArtModel(shipped_dir() / entry["file"], ["CPUExecutionProvider"])
    c = art.contract
    rng = np.random.default_rng(54321)
    n = 128
    z = rng.standard_normal((n, c.latent_size)).astype(np.float32)
    codes = np.zeros((n, len(c.code_names)), np.float32)
    stats = ArtConfig(emotion_mean=tuple(entry["emotion_mean"]), emotion_std=tuple(entry["emotion_std"]))
    read = {}
    for valence in (-1.0, 1.0):
        images = art.render(z, np.tile([[valence, 0.0]], (n, 1)), codes)
        read[valence] = colour_emotion_torch(torch.from_numpy(images), stats).numpy()[:, 0].mean()
    assert read[1.0] > read[-1.0] + 0.2, read  # asking for more valence gives images that read as more pleasant
    emotion = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    for k, name in enumerate(c.code_names):
        measured = []
        for value in (-1.0, 1.0):
            codes = np.zeros((n, len(c.code_names)), np.float32)
            codes[:, k] = value
            measured.append(image_features(art.render(z, emotion, codes))[name].mean())
        assert measured[1] > measured[0], f"axis {name!r}: {measured[0]:.4f} at -1, {measured[1]:.4f} at +1"


def test_the_shipped_generator_makes_varied_phrases_for_every_emotion() -> None:
    """Phrases made for one quadrant differ from each other as much in every quadrant (mean note F1 of every
    pair: 0.21-0.23; the test songs' 0.14). An emotion steer fitted to this generator reached tense and sad
    by playing nearly one phrase for them (0.70 and 0.84), which a producer asking for variations would hear."""
    gen = Generator(shipped_dir() / read_manifest()["models"]["generator"]["file"], ["CPUExecutionProvider"])
    alike = [pairwise_f1(model_samples(gen, np.tile([emotion], (64, 1)), seed)) for seed, emotion in enumerate(QUADRANTS)]
    assert max(alike) < 0.35 and max(alike) - min(alike) < 0.1, alike
