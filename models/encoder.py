"""Phrase encoder: a multi-track phrase of any number of bars -> the generator inputs that make it (torch).

It inverts one particular generator: given the note activity of ``bars`` bars it predicts the phrase
latent ``z`` the bars share, each bar's ``bar_z`` and the interpretable ``codes``. Emotion is not
predicted: it is the emotion model's job, and the caller passes what it wants.
"""

from __future__ import annotations

import torch
from torch import nn

from models.generator import GeneratorConfig

__all__ = ["EncoderConfig", "PhraseEncoder"]


class EncoderConfig(GeneratorConfig):
    """The grid, tracks, latent sizes and codes of the generator to invert; ``width`` is the encoder's own."""


class PhraseEncoder(nn.Module):
    """Per-bar temporal convolutions over (track, pitch) channels, pooled; bars averaged for z and codes."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.bar = nn.Sequential(
            nn.Conv1d(len(cfg.tracks) * cfg.pitches, w, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(w, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(w, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        )
        self.to_z = nn.Sequential(nn.Linear(w, w), nn.LeakyReLU(0.2), nn.Linear(w, cfg.latent_size))
        self.to_codes = nn.Sequential(nn.Linear(w, w), nn.LeakyReLU(0.2), nn.Linear(w, len(cfg.code_names)))
        self.to_bar_z = nn.Sequential(nn.Linear(2 * w, w), nn.LeakyReLU(0.2), nn.Linear(w, cfg.bar_latent_size))

    def forward(self, roll: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """roll [B, bars, tracks, steps, pitches] -> z [B, latent], bar_z [B, bars, bar_latent], codes [B, n_codes]."""
        b, bars = roll.shape[0], roll.shape[1]
        x = roll.flatten(0, 1).permute(0, 1, 3, 2).flatten(1, 2)  # [B*bars, tracks*pitches, steps]
        per_bar = self.bar(x).mean(dim=2).view(b, bars, -1)  # [B, bars, w]
        phrase = per_bar.mean(dim=1)  # [B, w]
        context = torch.cat([per_bar, phrase.unsqueeze(1).expand_as(per_bar)], dim=2)
        return self.to_z(phrase), self.to_bar_z(context), torch.tanh(self.to_codes(phrase))
