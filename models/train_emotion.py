"""Train the emotion model on VGMIDI's human valence/arousal ratings, split by piece.

Reports sign accuracy of valence and arousal and quadrant accuracy on held-out pieces, next to a
majority-class baseline and a hand-feature baseline (ridge regression on mode, tempo, density,
register and velocity) computed on the same split in the same run.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.data import PITCH_LOW, PITCHES, VGMidi, load_vgmidi
from models.emotion import EmotionConfig, EmotionModel
from models.metrics import chroma

__all__ = ["train_emotion", "windows", "WINDOW", "hand_features", "HAND_FEATURES"]

log = logging.getLogger(__name__)

WINDOW = 64  # 4 bars of 16 steps


def windows(roll: np.ndarray, hop: int = 32) -> np.ndarray:
    """Binarized 4-bar windows of a roll [steps, pitches] -> [n, WINDOW, pitches] (zero-padded if short)."""
    on = (roll > 0).astype(np.float32)
    if len(on) < WINDOW:
        on = np.pad(on, ((0, WINDOW - len(on)), (0, 0)))
    starts = range(0, len(on) - WINDOW + 1, hop)
    return np.stack([on[s:s + WINDOW] for s in starts])


def _predict(model: EmotionModel, rolls: list[np.ndarray]) -> np.ndarray:
    """Mean prediction over the windows of each phrase."""
    model.eval()
    with torch.no_grad():
        return np.stack([model(torch.from_numpy(windows(r))).mean(0).numpy() for r in rolls])


def _scores(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    sv = np.sign(pred[:, 0]) == np.sign(labels[:, 0])
    sa = np.sign(pred[:, 1]) == np.sign(labels[:, 1])
    return {"valence_sign_acc": round(float(sv.mean()), 4), "arousal_sign_acc": round(float(sa.mean()), 4),
            "quadrant_acc": round(float((sv & sa).mean()), 4)}


# Krumhansl-Kessler key profiles, for the mode feature
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
HAND_FEATURES = ("mode", "tempo", "density", "register", "velocity")


def hand_features(roll: np.ndarray, bpm: float) -> np.ndarray:
    """The baseline's features of a phrase [steps, pitches] (velocity): mode (best major key
    correlation minus best minor), tempo (BPM), density (onsets per step), register (mean pitch),
    velocity (mean of sounding cells, 0..127)."""
    on = roll > 0
    onsets = on.copy()
    onsets[1:] &= ~on[:-1]
    weight12 = chroma(on[None])[0]
    corr = lambda profile: max(np.corrcoef(weight12, np.roll(profile, k))[0, 1] for k in range(12))  # noqa: E731
    mode = corr(_MAJOR) - corr(_MINOR) if weight12.std() > 0 else 0.0
    weight = on.sum(axis=0)
    register = float((weight * np.arange(roll.shape[1])).sum() / max(weight.sum(), 1)) + PITCH_LOW
    velocity = float(roll[on].mean()) if on.any() else 0.0
    return np.array([mode, bpm, onsets.sum() / max(len(roll), 1), register, velocity])


def _hand_feature_baseline(data: VGMidi, train: list[int], test: list[int]) -> np.ndarray:
    """Ridge regression from the hand features to (valence, arousal), fitted on the training pieces."""
    feats = np.stack([hand_features(data.rolls[i], data.tempos[i]) for i in train + test])
    x_train, x_test = feats[:len(train)], feats[len(train):]
    mean, std = x_train.mean(0), x_train.std(0) + 1e-9
    design = lambda x: np.hstack([(x - mean) / std, np.ones((len(x), 1))])  # noqa: E731
    a = design(x_train)
    weights = np.linalg.solve(a.T @ a + 1.0 * np.eye(a.shape[1]), a.T @ data.labels[train])
    return design(x_test) @ weights


def train_emotion(out: Path, seed: int = 0, epochs: int = 150, width: int = 48, lr: float = 1e-3) -> dict[str, Any]:
    """Train, evaluate on held-out pieces, save ``out/emotion.pt`` and ``out/emotion_report.json``."""
    from tqdm import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = load_vgmidi()
    rolls, labels, pieces, split = data.rolls, data.labels, data.pieces, data.split
    idx = {name: [i for i, p in enumerate(pieces) if p in set(getattr(split, name))] for name in ("train", "valid", "test")}
    xs = [windows(rolls[i]) for i in idx["train"]]
    ys = [np.repeat(labels[i][None], len(x), 0) for i, x in zip(idx["train"], xs)]
    x_train, y_train = torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
    model = EmotionModel(EmotionConfig(width=width))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = nn.MSELoss()
    best, best_state, history = -1.0, None, []
    t0 = time.monotonic()
    for epoch in tqdm(range(epochs), desc="emotion", unit="epoch"):
        model.train()
        perm = torch.from_numpy(rng.permutation(len(x_train)))
        for b in range(0, len(perm), 64):
            sel = perm[b:b + 64]
            x = x_train[sel]
            shift = int(rng.integers(-6, 7))  # transposition augmentation
            x = torch.roll(x, shifts=shift, dims=2)
            loss = loss_fn(model(x), y_train[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
        valid = _scores(_predict(model, [rolls[i] for i in idx["valid"]]), labels[idx["valid"]])
        history.append({"epoch": epoch, "loss": loss.item(), **valid})
        if valid["quadrant_acc"] + 0.5 * (valid["valence_sign_acc"] + valid["arousal_sign_acc"]) > best:
            best = valid["quadrant_acc"] + 0.5 * (valid["valence_sign_acc"] + valid["arousal_sign_acc"])
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    assert best_state is not None
    model.load_state_dict(best_state)
    test_labels = labels[idx["test"]]
    majority = np.sign(labels[idx["train"]].mean(0))  # the most common sign of each, on the training pieces
    report = {
        "data": "VGMIDI labelled phrases (vgmidi_labelled.csv), split by piece",
        "pieces": {k: len(getattr(split, k)) for k in ("train", "valid", "test")},
        "phrases": {k: len(v) for k, v in idx.items()},
        "model_test": _scores(_predict(model, [rolls[i] for i in idx["test"]]), test_labels),
        "majority_baseline_test": _scores(np.repeat(majority[None], len(test_labels), 0), test_labels),
        "hand_feature_baseline_test": _scores(_hand_feature_baseline(data, idx["train"], idx["test"]), test_labels),
        "config": {"seed": seed, "epochs": epochs, "width": width, "lr": lr, "window_steps": WINDOW,
                   "pitches": PITCHES, "augmentation": "transposition -6..+6"},
        "training_seconds": round(time.monotonic() - t0, 1),
        "history_tail": history[-5:],
    }
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "config": model.cfg.__dict__}, out / "emotion.pt")
    (out / "emotion_report.json").write_text(json.dumps(report, indent=1))
    log.info("emotion model: %s (majority baseline %s, hand-feature baseline %s)", report["model_test"],
             report["majority_baseline_test"], report["hand_feature_baseline_test"])
    return report
