"""Train the phrase encoder to invert a run's generator, and measure it on real music.

- The generator is the run's ``generator.pt`` with its code signs folded in, exactly the weights
  ``coevo ship`` exports, and is frozen; the shipped encoder records the exported generator's
  sha256, and loaders refuse to pair it with another generator.
- Latent term: phrases the generator makes from z ~ N(0, 1), bar_z ~ N(0, 1), codes ~ U(-1, 1)
  and emotion ~ U(-1, 1), binarized at 0.5 as the daemon decodes them; the encoder must recover
  z, bar_z and codes (mean squared error).
- Reconstruction term: real 4-bar POP909 + Groove segments (train split by song) are encoded,
  re-generated with the emotion the emotion model reads in them, and compared with the input
  (binary cross-entropy on note activity), so the encoder lands real phrases where the generator
  can say them.
- Report, on held-out test songs: note-activity F1 and cross-entropy of the reconstruction, next to
  two baselines (the prior mean z = bar_z = codes = 0, and random latents), and the latent error on
  held-out generated phrases next to predicting zeros.
- Adam, lr 1e-3, betas (0.9, 0.999); batch 32.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.checkpoint import random_state, restore_random_state
from models.data import PITCHES, STEPS, load_groove, load_pop909
from models.emotion import EmotionModel
from models.encoder import EncoderConfig, PhraseEncoder
from models.generator import PhraseGenerator
from models.metrics import BARS, drum_segments, segments
from models.recipe import ENCODER_STEPS
from models.ship import load_run_models
from models.train_music import _generate, plot_losses

__all__ = ["EncoderTrainConfig", "train_encoder", "reconstruction_scores", "generator_fingerprint"]

log = logging.getLogger(__name__)


@dataclass
class EncoderTrainConfig:
    seed: int = 0
    steps: int = ENCODER_STEPS
    batch: int = 32
    lr: float = 1e-3
    width: int = 128
    recon_weight: float = 1.0
    songs: int | None = None  # limit, for quick runs
    grooves: int | None = None
    eval_segments: int = 256


def _real_rolls(pitched: np.ndarray, drums: np.ndarray) -> np.ndarray:
    """[n, 4, 3, 16, P] pitched velocity + [n, 4, 16, P] drums -> [n, 4, 4, 16, P] activity in {0, 1}."""
    return (np.concatenate([pitched, drums[:, :, None]], axis=2) > 0).astype(np.float32)


def _emotion_of(model: EmotionModel, rolls: np.ndarray) -> np.ndarray:
    """The emotion model's (valence, arousal) of the pitched tracks merged, [n, 2]."""
    merged = torch.from_numpy(rolls[:, :, :3].max(axis=2).reshape(len(rolls), BARS * STEPS, PITCHES))
    with torch.no_grad():
        return torch.cat([model(merged[i:i + 256]) for i in range(0, len(merged), 256)]).numpy()


def _f1(pred: np.ndarray, real: np.ndarray) -> float:
    tp = float((pred & real).sum())
    return 2 * tp / max(1.0, float(pred.sum() + real.sum()))


def reconstruction_scores(gen: PhraseGenerator, enc: PhraseEncoder, real: np.ndarray, emotion: np.ndarray,
                          seed: int) -> dict[str, dict[str, float]]:
    """Note-activity F1 and cross-entropy of G(E(x)) against x, and of the two baselines, on ``real``."""
    n = len(real)
    cfg = gen.cfg
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(real)
    emo = torch.from_numpy(emotion)
    with torch.no_grad():
        z, bar_z, codes = enc(x)
        candidates = {
            "encoder": (z, bar_z, codes),
            "prior_mean": (torch.zeros_like(z), torch.zeros_like(bar_z), torch.zeros_like(codes)),
            "random": (torch.randn(z.shape, generator=g), torch.randn(bar_z.shape, generator=g),
                       torch.rand(codes.shape, generator=g) * 2 - 1),
        }
        out = {}
        for name, (zz, bz, cc) in candidates.items():
            roll, _ = _generate(gen, zz, bz, emo, cc)
            bce = nn.functional.binary_cross_entropy(roll.clamp(1e-6, 1 - 1e-6), x).item()
            pred = roll.numpy() > 0.5
            per_track = {t: round(_f1(pred[:, :, i], real[:, :, i] > 0), 4) for i, t in enumerate(cfg.tracks)}
            out[name] = {"f1": round(_f1(pred, real > 0), 4), "bce": round(bce, 4), "f1_per_track": per_track,
                         "segments": n}
    return out


def generator_fingerprint(gen: PhraseGenerator) -> str:
    """sha256 of a generator's config and weights: an encoder checkpoint resumes only against the same one."""
    digest = hashlib.sha256(json.dumps(asdict(gen.cfg), sort_keys=True).encode())
    for name, tensor in sorted(gen.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def train_encoder(out: Path, cfg: EncoderTrainConfig, resume: bool = True) -> dict[str, Any]:
    """Invert the generator of the run folder ``out`` (``generator.pt``, ``emotion.pt``) for ``cfg.steps``
    steps, checkpointing every minute; returns the report (also written to ``out``)."""
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    torch.set_num_threads(2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "encoder_config.json").write_text(json.dumps(asdict(cfg), indent=1))
    gen, emo_model = load_run_models(out)
    gcfg = gen.cfg
    songs, split = load_pop909(limit=cfg.songs)
    groove = load_groove(limit=cfg.grooves)
    drum_names = groove["split"] or list(groove["bars"])
    drums = drum_segments(groove["bars"], drum_names)
    train = segments(songs, split.train)
    test = segments(songs, split.test)
    log.info("%d train and %d test segments, %d drum segments", len(train), len(test), len(drums))
    train_emo = _emotion_of(emo_model, _real_rolls(train, drums[rng.integers(0, len(drums), len(train))]))

    ecfg = EncoderConfig(gcfg.latent_size, gcfg.bar_latent_size, tuple(gcfg.code_names), gcfg.steps_per_bar,
                         gcfg.pitch_low, gcfg.pitch_high, tuple(gcfg.tracks), tuple(gcfg.drum_tracks), cfg.width)
    enc = PhraseEncoder(ecfg)
    opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr)
    step, elapsed, history = 0, 0.0, []
    ckpt = out / "encoder.ckpt"
    inverts = generator_fingerprint(gen)
    state = torch.load(ckpt, weights_only=False) if resume and ckpt.is_file() else None
    if state is not None and state.get("inverts") != inverts:
        log.warning("%s was trained against another generator than the run's: the encoder starts over", ckpt)
    elif state is not None:
        enc.load_state_dict(state["enc"])
        opt.load_state_dict(state["opt"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        restore_random_state(state, rng, cfg.steps - step)
        log.info("resumed at step %d (%.1f min)", step, elapsed / 60)

    def fake_batch() -> tuple[torch.Tensor, ...]:
        z = torch.randn(cfg.batch, gcfg.latent_size)
        bz = torch.randn(cfg.batch, BARS, gcfg.bar_latent_size)
        codes = torch.rand(cfg.batch, len(gcfg.code_names)) * 2 - 1
        emo = torch.rand(cfg.batch, 2) * 2 - 1
        with torch.no_grad():
            roll, _ = _generate(gen, z, bz, emo, codes)
        return (roll > 0.5).float(), z, bz, codes

    def real_batch() -> tuple[torch.Tensor, torch.Tensor]:
        i = rng.integers(0, len(train), cfg.batch)
        j = rng.integers(0, len(drums), cfg.batch)
        return torch.from_numpy(_real_rolls(train[i], drums[j])), torch.from_numpy(train_emo[i])

    def save() -> None:
        torch.save({"enc": enc.state_dict(), "opt": opt.state_dict(), "step": step, "inverts": inverts,
                    "elapsed": time.monotonic() - t_start, "history": history, "config": asdict(ecfg),
                    "random": random_state(rng)}, ckpt)

    bar = tqdm(desc="encoder", unit="step", initial=step, total=cfg.steps)
    t_start = time.monotonic() - elapsed
    last_save = time.monotonic()
    while step < cfg.steps:
        x, z, bz, codes = fake_batch()
        pz, pbz, pcodes = enc(x)
        latent = ((pz - z) ** 2).mean() + ((pbz - bz) ** 2).mean() + ((pcodes - codes) ** 2).mean()
        x_r, emo_r = real_batch()
        rz, rbz, rcodes = enc(x_r)
        roll, _ = _generate(gen, rz, rbz, emo_r, rcodes)
        recon = nn.functional.binary_cross_entropy(roll.clamp(1e-6, 1 - 1e-6), x_r)
        loss = latent + cfg.recon_weight * recon
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        if step % 20 == 0:
            row = {"step": step, "minutes": round((time.monotonic() - t_start) / 60, 2),
                   "latent": round(float(latent.item()), 4), "reconstruction": round(float(recon.item()), 4)}
            history.append(row)
            bar.set_postfix(latent=row["latent"], recon=row["reconstruction"])
        if time.monotonic() - last_save > 60:
            last_save = time.monotonic()
            save()
    bar.close()
    save()
    elapsed = time.monotonic() - t_start
    enc.eval()

    n = min(cfg.eval_segments, len(test))
    eval_rng = np.random.default_rng(cfg.seed + 1)
    held = _real_rolls(test[:n], drums[eval_rng.integers(0, len(drums), n)])
    recon_scores = reconstruction_scores(gen, enc, held, _emotion_of(emo_model, held), cfg.seed)
    torch.manual_seed(cfg.seed + 2)
    x, z, bz, codes = fake_batch()
    with torch.no_grad():
        pz, pbz, pcodes = enc(x)
    latent_scores = {"z_mse": round(float(((pz - z) ** 2).mean()), 4),
                     "bar_z_mse": round(float(((pbz - bz) ** 2).mean()), 4),
                     "codes_mse": round(float(((pcodes - codes) ** 2).mean()), 4),
                     "zeros_z_mse": round(float((z ** 2).mean()), 4),
                     "zeros_codes_mse": round(float((codes ** 2).mean()), 4)}
    report = {
        "data": "POP909 (train split by song) + Groove MIDI (train split), 4-bar segments; latents of the generator",
        "steps": step, "training_seconds": round(elapsed, 1),
        "test_reconstruction": recon_scores, "generated_latent_error": latent_scores,
        "config": asdict(cfg), "history_tail": history[-3:],
    }
    (out / "encoder_report.json").write_text(json.dumps(report, indent=1))
    (out / "encoder_history.json").write_text(json.dumps(history))
    plot_losses(history, out / "encoder_losses.png")
    torch.save({"state": enc.state_dict(), "config": asdict(ecfg)}, out / "encoder.pt")
    return report
