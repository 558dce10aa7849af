"""Image generator and discriminator of the art side (torch): a conditional DCGAN with InfoGAN codes.

Generator: (z, emotion, codes, movement) -> RGB image in [0, 1], [batch, 3, size, size]. Transposed
convolutions from 4x4 double the side up to ``size`` (64 or 128). ``movement`` is a one-hot row over
the training movements, or all zeros for "any movement" (one unused column when the training images
have a single movement, as an artist's own folder does).
Discriminator: convolutions halve the side down to 4x4; a hinge score with projection terms for
emotion and movement, and a Q head that reads the codes back (the mutual-information term).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["ArtConfig", "ArtGenerator", "ArtDiscriminator", "colour_emotion_torch"]


@dataclass
class ArtConfig:
    latent_size: int = 64
    code_names: tuple[str, ...] = ("code0", "code1", "code2")
    movements: tuple[str, ...] = ()
    image_size: int = 64
    width: int = 32
    # standardisation of the colour emotion labels (see models.art_data.colour_emotion)
    emotion_mean: tuple[float, float] = (0.0, 0.0)
    emotion_std: tuple[float, float] = (1.0, 1.0)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def movement_inputs(self) -> int:
        """Width of the movement one-hot: one column per movement, or a single unused one when there are none."""
        return max(1, len(self.movements))

    @property
    def levels(self) -> int:
        levels, side = 0, 4
        while side < self.image_size:
            side *= 2
            levels += 1
        if side != self.image_size:
            raise ValueError(f"image_size must be 4 times a power of two (64, 128); got {self.image_size}")
        return levels


class ArtGenerator(nn.Module):
    def __init__(self, cfg: ArtConfig) -> None:
        super().__init__()
        self.cfg = cfg
        top = cfg.width * 2 ** (cfg.levels - 1)
        n_in = cfg.latent_size + 2 + len(cfg.code_names) + cfg.movement_inputs
        self.fc = nn.Sequential(nn.Linear(n_in, top * 16), nn.BatchNorm1d(top * 16), nn.ReLU())
        layers: list[nn.Module] = []
        channels = top
        for _ in range(cfg.levels - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels // 2),
                       nn.ReLU()]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1), nn.Sigmoid()]
        self.up = nn.Sequential(*layers)
        self.top = top

    def forward(self, z: torch.Tensor, emotion: torch.Tensor, codes: torch.Tensor,
                movement: torch.Tensor) -> torch.Tensor:
        x = self.fc(torch.cat([z, emotion, codes, movement], dim=1)).view(z.shape[0], self.top, 4, 4)
        return self.up(x)


class ArtDiscriminator(nn.Module):
    def __init__(self, cfg: ArtConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        channels, out = 3, cfg.width
        for _ in range(cfg.levels):
            layers += [nn.Conv2d(channels, out, 4, 2, 1), nn.LeakyReLU(0.2)]
            channels, out = out, out * 2
        self.down = nn.Sequential(*layers)
        features = channels * 16
        self.score = nn.Linear(features, 1)
        self.emotion_proj = nn.Linear(2, features, bias=False)
        self.movement_proj = nn.Linear(cfg.movement_inputs, features, bias=False)
        self.q = nn.Sequential(nn.Linear(features, 128), nn.LeakyReLU(0.2), nn.Linear(128, len(cfg.code_names)))

    def forward(self, image: torch.Tensor, emotion: torch.Tensor,
                movement: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(score [B], codes read back [B, n_codes])."""
        h = self.down(image).flatten(1)
        score = self.score(h).squeeze(1) + (self.emotion_proj(emotion) * h).sum(1)
        if self.cfg.movements:
            score = score + (self.movement_proj(movement) * h).sum(1)
        return score, torch.tanh(self.q(h))


def colour_emotion_torch(image: torch.Tensor, cfg: ArtConfig) -> torch.Tensor:
    """The colour emotion (models.art_data.colour_emotion) of generated images, differentiably, with the
    training collection's standardisation: [B, 2] in [-1, 1]."""
    top = image.max(dim=1).values
    low = image.min(dim=1).values
    value = top.mean(dim=(1, 2))
    saturation = ((top - low) / top.clamp_min(1e-6)).mean(dim=(1, 2))
    raw = torch.stack([0.69 * value + 0.22 * saturation, -0.31 * value + 0.60 * saturation], dim=1)
    mean = torch.tensor(cfg.emotion_mean, dtype=image.dtype)
    std = torch.tensor(cfg.emotion_std, dtype=image.dtype)
    return torch.tanh((raw - mean) / std)
