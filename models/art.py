"""Image generator and discriminator of the art side (torch): a conditional DCGAN with InfoGAN codes,
plus the improvements the research behind this project reports, each switchable for the ablation:
``attention`` (self-attention at a quarter of the image side plus efficient channel attention after
every up-sampling step), ``dilated`` (a multi-scale dilated-convolution block at a quarter side),
``multiscale`` (a second discriminator on the image at half size). The MS-SSIM term is a training
loss (models.train_art).

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

__all__ = ["ArtConfig", "ArtGenerator", "ArtDiscriminator", "colour_emotion_torch", "ssim", "ABLATION", "variant_parts"]

PARTS = ("attention", "dilated", "multiscale", "ms-ssim")  # the improvements, each switchable
ABLATION = ("dcgan", *PARTS, "full")  # what `coevo train art --ablation` trains


def variant_parts(variant: str) -> tuple[bool, bool, bool, bool]:
    """(attention, dilated, multiscale, ms-ssim) of a variant: "dcgan", "full", or parts joined by "+"
    (e.g. "attention+ms-ssim")."""
    if variant == "dcgan":
        return (False, False, False, False)
    names = PARTS if variant == "full" else tuple(variant.split("+"))
    unknown = [n for n in names if n not in PARTS]
    if unknown or not names:
        raise ValueError(f"variant must be dcgan, full, or some of {', '.join(PARTS)} joined by '+'; got {variant!r}")
    return tuple(p in names for p in PARTS)  # type: ignore[return-value]


@dataclass
class ArtConfig:
    latent_size: int = 64
    code_names: tuple[str, ...] = ("code0", "code1", "code2")
    movements: tuple[str, ...] = ()
    image_size: int = 64
    width: int = 32
    attention: bool = False
    dilated: bool = False
    multiscale: bool = False
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


class ChannelAttention(nn.Module):
    """Efficient channel attention (ECA-Net): channel weights from a 1-D convolution over pooled channels."""

    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv(x.mean(dim=(2, 3)).unsqueeze(1)).squeeze(1)
        return x * torch.sigmoid(w)[:, :, None, None]


class SelfAttention(nn.Module):
    """SAGAN self-attention: every position looks at every other; starts as the identity (gamma = 0)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.q = nn.Conv2d(channels, channels // 8, 1)
        self.k = nn.Conv2d(channels, channels // 8, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.q(x).flatten(2).transpose(1, 2)
        k = self.k(x).flatten(2)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)
        out = torch.bmm(self.v(x).flatten(2), attn.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


class DilatedBlock(nn.Module):
    """Multi-scale context: 3x3 convolutions dilated 1, 2 and 4 side by side, fused by a 1x1, added back."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        branch = max(8, channels // 2)
        self.branches = nn.ModuleList(nn.Conv2d(channels, branch, 3, padding=d, dilation=d) for d in (1, 2, 4))
        self.fuse = nn.Sequential(nn.BatchNorm2d(3 * branch), nn.ReLU(), nn.Conv2d(3 * branch, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fuse(torch.cat([b(x) for b in self.branches], dim=1))


class ArtGenerator(nn.Module):
    def __init__(self, cfg: ArtConfig) -> None:
        super().__init__()
        self.cfg = cfg
        top = cfg.width * 2 ** (cfg.levels - 1)
        n_in = cfg.latent_size + 2 + len(cfg.code_names) + cfg.movement_inputs
        self.fc = nn.Sequential(nn.Linear(n_in, top * 16), nn.BatchNorm1d(top * 16), nn.ReLU())
        layers: list[nn.Module] = []
        channels, side = top, 4
        for _ in range(cfg.levels - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels // 2),
                       nn.ReLU()]
            channels //= 2
            side *= 2
            if cfg.attention:
                layers.append(ChannelAttention())
            if side == cfg.image_size // 4:  # the extras work where the picture's layout forms
                if cfg.dilated:
                    layers.append(DilatedBlock(channels))
                if cfg.attention:
                    layers.append(SelfAttention(channels))
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
        self.coarse: nn.Module | None = None
        if cfg.multiscale:  # a plain critic of the image at half size: the coarse layout
            coarse: list[nn.Module] = [nn.AvgPool2d(2)]
            channels, out = 3, cfg.width
            for _ in range(cfg.levels - 1):
                coarse += [nn.Conv2d(channels, out, 4, 2, 1), nn.LeakyReLU(0.2)]
                channels, out = out, out * 2
            coarse += [nn.Flatten(), nn.Linear(channels * 16, 1)]
            self.coarse = nn.Sequential(*coarse)

    def forward(self, image: torch.Tensor, emotion: torch.Tensor,
                movement: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(score [B], codes read back [B, n_codes])."""
        h = self.down(image).flatten(1)
        score = self.score(h).squeeze(1) + (self.emotion_proj(emotion) * h).sum(1)
        if self.cfg.movements:
            score = score + (self.movement_proj(movement) * h).sum(1)
        return score, torch.tanh(self.q(h))

    def extra_scores(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The scores of the other scales' critics (none unless ``multiscale``)."""
        return [] if self.coarse is None else [self.coarse(image).squeeze(1)]


def _gaussian(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """Multi-scale SSIM of image pairs [B, 3, H, W] in [0, 1], averaged over ``scales`` octaves: [B]."""
    window = _gaussian()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    values = []
    for _ in range(scales):
        mu_a = nn.functional.conv2d(a, window, groups=3)
        mu_b = nn.functional.conv2d(b, window, groups=3)
        var_a = nn.functional.conv2d(a * a, window, groups=3) - mu_a ** 2
        var_b = nn.functional.conv2d(b * b, window, groups=3) - mu_b ** 2
        cov = nn.functional.conv2d(a * b, window, groups=3) - mu_a * mu_b
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
        values.append(s.mean(dim=(1, 2, 3)))
        a, b = nn.functional.avg_pool2d(a, 2), nn.functional.avg_pool2d(b, 2)
    return torch.stack(values).mean(dim=0)


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
