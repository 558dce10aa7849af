"""Command-line entry points of the exporter (torch needed)."""

from __future__ import annotations

from pathlib import Path

import torch

from export.onnx_export import export_emotion, export_generator
from models.emotion import EmotionConfig, EmotionModel
from models.generator import GeneratorConfig, PhraseGenerator

__all__ = ["export_untrained"]


def export_untrained(kind: str, path: Path, seed: int) -> Path:
    """A randomly initialised model of ``kind`` that fits the contract (for checking the pipes)."""
    torch.manual_seed(seed)
    meta = {"training_data": "none (untrained)", "seed": str(seed)}
    if kind == "generator":
        return export_generator(PhraseGenerator(GeneratorConfig()), path, meta)
    if kind == "emotion":
        return export_emotion(EmotionModel(EmotionConfig()), path, meta)
    raise ValueError(f"kind must be 'generator' or 'emotion'; got {kind!r}")
