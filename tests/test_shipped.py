"""The models shipped as package data: hashes, sizes, contract, and the daemon's defaults."""

from __future__ import annotations

import pytest

from bridge.generation import EmotionReader, Generator, resolve_model_path
from models.contract import EmotionContract, GeneratorContract
from models.ship import MAX_BYTES
from models.shipped import read_manifest, sha256_file, shipped_dir


def test_every_shipped_model_matches_its_manifest_and_loads() -> None:
    manifest = read_manifest()
    assert set(manifest["models"]) == {"generator", "emotion"}
    for kind, entry in manifest["models"].items():
        path = shipped_dir() / entry["file"]
        assert sha256_file(path) == entry["sha256"], f"{path} changed since the manifest was written"
        assert path.stat().st_size == entry["bytes"] <= MAX_BYTES
        for key in ("data", "config", "seed", "training_seconds", "evaluation"):
            assert entry[key] not in (None, "", {}), f"manifest {kind}.{key} is empty"
        loader = Generator if kind == "generator" else EmotionReader
        model = loader(path, ["CPUExecutionProvider"])
        assert isinstance(model.contract, GeneratorContract if kind == "generator" else EmotionContract)
        assert model.contract.extra["seed"] == str(entry["seed"])


def test_the_daemon_defaults_to_the_shipped_models() -> None:
    for kind in ("generator", "emotion"):
        path = resolve_model_path("", kind)
        assert path is not None and path.parent == shipped_dir()


@pytest.mark.parametrize("kind", ["generator"])
def test_shipped_generator_names_its_axes_by_what_they_control(kind: str) -> None:
    entry = read_manifest()["models"][kind]
    gen = Generator(shipped_dir() / entry["file"], ["CPUExecutionProvider"])
    assert set(gen.contract.code_names) == {"density", "register", "rhythm", "polyphony"}
    slopes = entry["evaluation"]["code_effects"]
    for i, name in enumerate(entry["code_names"]):
        assert name == gen.contract.code_names[i]
        assert slopes[str(i)][name] != 0.0
