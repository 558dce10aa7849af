"""Train the art model: a conditional DCGAN (hinge loss) with InfoGAN codes, on paintings or an artist's folder.

- Data: ``models.art_data`` (the paintings, or ``--images FOLDER``), horizontal flips as augmentation;
  the held-out 10% is never trained on.
- Conditioning: emotion labels from colour (valence, arousal in [-1, 1]) through projection terms of
  the discriminator, plus the colour-emotion error of what the generator makes; movement one-hot
  (all zeros for the artist's own folder, which has one movement).
- InfoGAN: 3 continuous codes in [-1, 1], read back by a Q head on the discriminator's features (its
  own optimizer; the generator step never updates the discriminator itself) (weight 1); after
  training each code is named by the image feature it moves most (brightness, saturation, warmth,
  contrast, detail) and signed so that raising the axis raises it.
- Adam, lr 2e-4, betas (0.5, 0.999), batch 64; to watch it learn, an 8 x 6 grid of samples from
  fixed latents every ``grid_every`` steps (``samples/step_NNNNNN.png``); checkpoints every minute;
  running the same command again resumes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.art import ArtConfig, ArtDiscriminator, ArtGenerator, colour_emotion_torch, ssim, variant_parts
from models.art_data import GRID, load_images
from models.checkpoint import random_state, restore_random_state
from models.recipe import ART_STEPS, ART_VARIANT
from models.train_music import plot_losses

__all__ = ["ArtTrainConfig", "train_art", "image_features", "save_grid", "GRID"]

log = logging.getLogger(__name__)

FEATURES = ("brightness", "saturation", "warmth", "contrast", "detail")


@dataclass
class ArtTrainConfig:
    seed: int = 0
    steps: int = ART_STEPS
    batch: int = 64
    lr: float = 2e-4
    image_size: int = 64
    width: int = 32
    n_codes: int = 3
    info_weight: float = 1.0
    emotion_weight: float = 1.0
    grid_every: int = 250
    images: str = ""  # an artist's folder; "" = the paintings
    limit: int | None = None  # at most this many images, for quick runs
    variant: str = ART_VARIANT  # dcgan, full, or improvements joined by "+" (models.art.variant_parts)
    diversity_weight: float = 1.0  # MS-SSIM between the batch's own images, for variants with the term
    minutes: float = 0.0  # > 0: stop after this much training time (CPU time / threads), or at ``steps``


def image_features(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image features of [n, 3, h, w] RGB in [0, 1]: what the named visual axes can mean."""
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    top, low = images.max(axis=1), images.min(axis=1)
    return {
        "brightness": luma.mean(axis=(1, 2)),
        "saturation": ((top - low) / np.maximum(top, 1e-6)).mean(axis=(1, 2)),
        "warmth": (images[:, 0] - images[:, 2]).mean(axis=(1, 2)),
        "contrast": luma.std(axis=(1, 2)),
        "detail": np.abs(np.diff(luma, axis=2)).mean(axis=(1, 2)) + np.abs(np.diff(luma, axis=1)).mean(axis=(1, 2)),
    }


def save_grid(images: np.ndarray, path: Path, columns: int = GRID[0]) -> Path:
    """Tile [n, 3, h, w] images into one PNG, ``columns`` wide, row by row (index = row * columns + column)."""
    from PIL import Image

    n, _, h, w = images.shape
    rows = -(-n // columns)
    sheet = np.ones((rows * h, columns * w, 3), dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = img.transpose(1, 2, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(sheet, 0, 1) * 255).round().astype(np.uint8)).save(path)
    return path


def _fixed_inputs(cfg: ArtConfig, seed: int) -> tuple[torch.Tensor, ...]:
    """The latents of the sample grid: one per tile, the same for the whole run (and for curating)."""
    g = torch.Generator().manual_seed(seed + 1000)
    n = GRID[0] * GRID[1]
    z = torch.randn(n, cfg.latent_size, generator=g)
    emotion = torch.rand(n, 2, generator=g) * 2 - 1
    codes = torch.rand(n, len(cfg.code_names), generator=g) * 2 - 1
    return z, emotion, codes, torch.zeros(n, cfg.movement_inputs)


def _name_codes(gen: ArtGenerator, seed: int, n: int = 128) -> tuple[list[str], list[float], dict[str, dict[str, float]]]:
    """Name each code by the image feature its value moves most (standardized slope), one name each."""
    cfg = gen.cfg
    g = torch.Generator().manual_seed(seed + 2000)
    z, emotion = torch.randn(n, cfg.latent_size, generator=g), torch.rand(n, 2, generator=g) * 2 - 1
    movement = torch.zeros(n, cfg.movement_inputs)
    slopes: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        base = image_features(gen(z, emotion, torch.zeros(n, len(cfg.code_names)), movement).numpy())
        spread = {k: float(v.std()) or 1.0 for k, v in base.items()}
        for i in range(len(cfg.code_names)):
            ends = []
            for value in (-1.0, 1.0):
                codes = torch.zeros(n, len(cfg.code_names))
                codes[:, i] = value
                ends.append(image_features(gen(z, emotion, codes, movement).numpy()))
            slopes[str(i)] = {k: float((ends[1][k] - ends[0][k]).mean() / 2 / spread[k]) for k in FEATURES}
    names, signs, free = [], [], list(FEATURES)
    for i in range(len(cfg.code_names)):
        best = max(free, key=lambda k: abs(slopes[str(i)][k]))
        free.remove(best)
        names.append(best)
        signs.append(1.0 if slopes[str(i)][best] >= 0 else -1.0)
    return names, signs, slopes


def train_art(out: Path, cfg: ArtTrainConfig, resume: bool = True) -> dict[str, Any]:
    """Train for ``cfg.steps`` steps; returns the report (also written to ``out``)."""
    from tqdm import tqdm

    attention, dilated, multiscale, diversity = variant_parts(cfg.variant)  # a bad name stops here, before any file
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    torch.set_num_threads(2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "art_config.json").write_text(json.dumps(asdict(cfg), indent=1))
    data = load_images(Path(cfg.images) if cfg.images else None, size=cfg.image_size, limit=cfg.limit)
    train = np.flatnonzero(~data.held_out)
    movements = data.movements if len(data.movements) > 1 else ()
    acfg = ArtConfig(image_size=cfg.image_size, width=cfg.width, movements=movements,
                     code_names=tuple(f"code{i}" for i in range(cfg.n_codes)), attention=attention, dilated=dilated,
                     multiscale=multiscale, emotion_mean=data.emotion_mean, emotion_std=data.emotion_std)
    gen, disc = ArtGenerator(acfg), ArtDiscriminator(acfg)
    q_params = list(disc.q.parameters())
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([p for p in disc.parameters() if all(p is not q for q in q_params)], lr=cfg.lr,
                             betas=(0.5, 0.999))
    opt_q = torch.optim.Adam(q_params, lr=cfg.lr, betas=(0.5, 0.999))
    step, elapsed, cpu, history = 0, 0.0, 0.0, []
    ckpt = out / "art.ckpt"
    if resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        for module, key in ((gen, "gen"), (disc, "disc"), (opt_g, "opt_g"), (opt_d, "opt_d"), (opt_q, "opt_q")):
            module.load_state_dict(state[key])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        cpu = state.get("cpu_seconds", elapsed * torch.get_num_threads())
        restore_random_state(state, rng, cfg.steps - step)
        log.info("resumed at step %d (%.1f min)", step, elapsed / 60)
    pixels = torch.from_numpy(data.pixels)
    emotions = torch.from_numpy(data.emotion)
    eye = torch.eye(acfg.movement_inputs) if movements else torch.zeros(1, 1)
    fixed = _fixed_inputs(acfg, cfg.seed)

    def save() -> None:
        torch.save({"gen": gen.state_dict(), "disc": disc.state_dict(), "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(), "opt_q": opt_q.state_dict(), "step": step, "elapsed": time.monotonic() - t_start,
                    "cpu_seconds": time.process_time() - cpu_start,
                    "history": history, "config": asdict(acfg), "random": random_state(rng)}, ckpt)

    def grid() -> None:
        gen.eval()
        with torch.no_grad():
            save_grid(gen(*fixed).numpy(), out / "samples" / f"step_{step:06d}.png")
        gen.train()

    bar = tqdm(desc=f"art ({cfg.variant})", unit="step", initial=step, total=cfg.steps)
    t_start = time.monotonic() - elapsed
    cpu_start = time.process_time() - cpu
    last_save = time.monotonic()
    def time_left() -> bool:
        """Training time is counted as the process's CPU time over its threads: the same as the wall clock
        on an idle machine, and not shortened when other work shares the cores (fair ablations)."""
        return cfg.minutes <= 0 or (time.process_time() - cpu_start) / torch.get_num_threads() < cfg.minutes * 60

    while step < cfg.steps and time_left():
        idx = torch.from_numpy(rng.choice(train, cfg.batch))
        real = pixels[idx]
        flip = torch.from_numpy(rng.random(cfg.batch) < 0.5)
        real = torch.where(flip[:, None, None, None], real.flip(3), real)
        emo = emotions[idx]
        move = eye[torch.from_numpy(data.movement[idx.numpy()]) if movements else torch.zeros(cfg.batch, dtype=torch.long)]
        z = torch.randn(cfg.batch, acfg.latent_size)
        codes = torch.rand(cfg.batch, cfg.n_codes) * 2 - 1
        fake = gen(z, emo, codes, move)
        s_real, _ = disc(real, emo, move)
        s_fake, _ = disc(fake.detach(), emo, move)
        loss_d = torch.relu(1 - s_real).mean() + torch.relu(1 + s_fake).mean()
        for e_real, e_fake in zip(disc.extra_scores(real), disc.extra_scores(fake.detach())):
            loss_d = loss_d + torch.relu(1 - e_real).mean() + torch.relu(1 + e_fake).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        s_fake, q = disc(fake, emo, move)
        info = ((q - codes) ** 2).mean()
        emotion_err = ((colour_emotion_torch(fake, acfg) - emo) ** 2).mean()
        loss_g = -s_fake.mean() + cfg.info_weight * info + cfg.emotion_weight * emotion_err
        for e_fake in disc.extra_scores(fake):
            loss_g = loss_g - e_fake.mean()
        similarity = ssim(fake, fake.roll(1, dims=0)).mean() if diversity else torch.zeros(())
        loss_g = loss_g + cfg.diversity_weight * similarity
        opt_g.zero_grad()
        opt_q.zero_grad()
        loss_g.backward()  # the Q head learns from the information term; the critic's grads are dropped below
        opt_g.step()
        opt_q.step()
        step += 1
        bar.update(1)
        if step % 20 == 0:
            row = {"step": step, "minutes": round((time.monotonic() - t_start) / 60, 2),
                   "discriminator": round(float(loss_d.item()), 4), "generator": round(float(-s_fake.mean().item()), 4),
                   "info": round(float(info.item()), 4), "emotion": round(float(emotion_err.item()), 4),
                   "similarity": round(float(similarity.item()), 4)}
            history.append(row)
            bar.set_postfix(d=row["discriminator"], info=row["info"], emo=row["emotion"])
        if step % cfg.grid_every == 0:
            grid()
        if time.monotonic() - last_save > 60:
            last_save = time.monotonic()
            save()
    bar.close()
    save()
    grid()
    elapsed = time.monotonic() - t_start
    gen.eval()
    names, signs, slopes = _name_codes(gen, cfg.seed)
    report = {
        "data": (f"own images from {cfg.images}" if cfg.images else "paintings of ../shared/data (42 artists)")
        + f", {len(train)} training images at {cfg.image_size}x{cfg.image_size}, {int(data.held_out.sum())} held out",
        "variant": cfg.variant, "steps": step, "training_seconds": round(elapsed, 1),
        "training_cpu_seconds": round(time.process_time() - cpu_start, 1), "code_names": names, "code_signs": signs,
        "code_slopes": slopes, "movements": list(movements), "config": asdict(cfg), "history_tail": history[-3:],
    }
    (out / "art_report.json").write_text(json.dumps(report, indent=1))
    (out / "art_history.json").write_text(json.dumps(history))
    plot_losses(history, out / "art_losses.png")
    acfg.code_names = tuple(names)
    torch.save({"gen": gen.state_dict(), "signs": signs, "config": asdict(acfg)}, out / "art.pt")
    return report
