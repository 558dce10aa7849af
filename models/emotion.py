"""Emotion model: a piano roll of any length -> (valence, arousal) in [-1, 1] (torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["EmotionConfig", "EmotionModel"]


@dataclass
class EmotionConfig:
    steps_per_bar: int = 16
    pitch_low: int = 24
    pitch_high: int = 107
    width: int = 64
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pitches(self) -> int:
        return self.pitch_high - self.pitch_low + 1


class EmotionModel(nn.Module):
    """Temporal convolutions over pitch channels, then mean pooling over time."""

    def __init__(self, cfg: EmotionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.net = nn.Sequential(
            nn.Conv1d(cfg.pitches, w, 3, padding=1), nn.ReLU(),
            nn.Conv1d(w, w, 3, padding=2, dilation=2), nn.ReLU(),
        )
        self.head = nn.Linear(w, 2)

    def forward(self, roll: torch.Tensor) -> torch.Tensor:
        x = self.net(roll.transpose(1, 2))  # [B, w, steps]
        return torch.tanh(self.head(x.mean(dim=2)))
