"""Train the emotion model on VGMIDI's human valence/arousal ratings, split by piece.

Reports sign accuracy of valence and arousal and quadrant accuracy on held-out pieces, next to a
majority-class baseline and a hand-feature baseline (ridge regression on mode, tempo, density,
register and velocity) computed on the same split in the same run: on the held-out labelled phrases,
and again on every 4-bar window of the held-out pieces rated by their listeners' mean per-bar
annotation (more windows, but windows of one piece are alike, so the model's lead over the hand
features comes with a 95% interval from resampling whole pieces).
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

from models.data import PITCHES, RatedPieces, VGMidi, load_vgmidi, load_vgmidi_pieces
from models.emotion import EmotionConfig, EmotionModel
from models.emotion_features import HandBaseline, sign_hits
from models.recipe import EMOTION_EPOCHS

__all__ = ["train_emotion", "cross_validate", "emotion_run_config", "windows", "WINDOW"]

log = logging.getLogger(__name__)

WINDOW = 64  # 4 bars of 16 steps
WIDTH = 48  # channels of the temporal convolutions
LR = 1e-3


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
    rates = sign_hits(pred, labels).mean(axis=0)
    return {"valence_sign_acc": round(float(rates[0]), 4), "arousal_sign_acc": round(float(rates[1]), 4),
            "quadrant_acc": round(float(rates[2]), 4)}


def _rated_windows(pieces: RatedPieces, names: list[str], hop: int = 32) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Every 4-bar window (hop ``hop`` steps) of the pieces named: velocity rolls, mean rating [n, 2],
    tempo [n] and piece index [n]."""
    chosen = set(names)
    rolls, ratings, tempos, piece = [], [], [], []
    for k, (roll, rating, name) in enumerate(zip(pieces.rolls, pieces.ratings, pieces.pieces)):
        if name not in chosen:
            continue
        for s in range(0, len(roll) - WINDOW + 1, hop):
            rolls.append(roll[s:s + WINDOW])
            ratings.append(rating[s:s + WINDOW].mean(axis=0))
            tempos.append(pieces.tempos[k])
            piece.append(k)
    return rolls, np.array(ratings), np.array(tempos), np.array(piece)


def _window_report(model: EmotionModel, hand: HandBaseline, majority: np.ndarray, pieces: RatedPieces,
                   names: list[str], seed: int) -> dict[str, Any]:
    """Model and baselines on the rated windows of the pieces ``names``, with the model's lead over the
    hand features as a 95% interval over 2000 resamplings of whole pieces."""
    rolls, ratings, tempos, piece = _rated_windows(pieces, names)
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy((np.stack(rolls) > 0).astype(np.float32))).numpy()
    by_hand = hand.predict(rolls, tempos)
    lead = sign_hits(pred, ratings).astype(float) - sign_hits(by_hand, ratings)
    return {"windows": len(rolls), "pieces": len(np.unique(piece)), "model": _scores(pred, ratings),
            "majority_baseline": _scores(np.repeat(majority[None], len(ratings), 0), ratings),
            "hand_feature_baseline": _scores(by_hand, ratings),
            "model_minus_hand_ci95": _lead_ci95(lead, piece, seed)}


def _fit(data: VGMidi, train: list[int], valid: list[int], seed: int, epochs: int, width: int, lr: float,
         desc: str = "emotion") -> tuple[EmotionModel, list[dict[str, Any]]]:
    """Train on the phrases ``train``, keeping the epoch that reads the phrases ``valid`` best; returns the
    model and the per-epoch history."""
    from tqdm import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xs = [windows(data.rolls[i]) for i in train]
    ys = [np.repeat(data.labels[i][None], len(x), 0) for i, x in zip(train, xs)]
    x_train, y_train = torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
    model = EmotionModel(EmotionConfig(width=width))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = nn.MSELoss()
    best, best_state, history = -1.0, None, []
    for epoch in tqdm(range(epochs), desc=desc, unit="epoch"):
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
        scores = _scores(_predict(model, [data.rolls[i] for i in valid]), data.labels[valid])
        history.append({"epoch": epoch, "loss": loss.item(), **scores})
        score = scores["quadrant_acc"] + 0.5 * (scores["valence_sign_acc"] + scores["arousal_sign_acc"])
        if score > best:
            best = score
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    assert best_state is not None
    model.load_state_dict(best_state)
    return model, history


def _lead_ci95(lead: np.ndarray, piece: np.ndarray, seed: int) -> dict[str, list[float]]:
    """95% interval of the mean of ``lead`` [n, 3] (model hits minus hand-feature hits) over 2000
    resamplings of whole pieces (``piece`` [n]: each row's piece, by index or name)."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(piece == k) for k in np.unique(piece)]
    draws = np.stack([lead[np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])].mean(0)
                      for _ in range(2000)])
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    keys = ("valence_sign_acc", "arousal_sign_acc", "quadrant_acc")
    return {k: [round(float(a), 4), round(float(b), 4)] for k, a, b in zip(keys, low, high)}


def cross_validate(out: Path, folds: int = 5, seed: int = 0, epochs: int = EMOTION_EPOCHS, width: int = WIDTH,
                   lr: float = LR) -> dict[str, Any]:
    """``folds``-fold cross-validation by piece over every labelled phrase: each fold's pieces are held
    out in turn (15% of the rest pick the epoch, the others train), and the model, the majority-class and
    the hand-feature baselines are scored on all the phrases so held out. Writes ``out/emotion_cv.json``.

    The fixed test split holds 41 phrases, where one phrase is 0.024 of accuracy; here every phrase is
    read once by a model that never saw its piece.
    """
    data = load_vgmidi()
    labels, names = data.labels, sorted(set(data.pieces))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[j]: k % folds for k, j in enumerate(order)}
    fold = np.array([fold_of[p] for p in data.pieces])
    pred = {name: np.zeros((len(labels), 2)) for name in ("model", "majority_baseline", "hand_feature_baseline")}
    t0 = time.monotonic()
    for k in range(folds):
        held, rest = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        rest_pieces = sorted({data.pieces[i] for i in rest})
        pick = np.random.default_rng(seed + k).permutation(len(rest_pieces))[:round(0.15 * len(rest_pieces))]
        chooser = {rest_pieces[j] for j in pick}
        valid = [int(i) for i in rest if data.pieces[i] in chooser]
        train = [int(i) for i in rest if data.pieces[i] not in chooser]
        model, _ = _fit(data, train, valid, seed, epochs, width, lr, desc=f"emotion fold {k + 1}/{folds}")
        pred["model"][held] = _predict(model, [data.rolls[i] for i in held])
        pred["majority_baseline"][held] = np.sign(labels[train].mean(0))
        hand = HandBaseline.fit([data.rolls[i] for i in train], data.tempos[train], labels[train])
        pred["hand_feature_baseline"][held] = hand.predict([data.rolls[i] for i in held], data.tempos[held])
    lead = sign_hits(pred["model"], labels).astype(float) - sign_hits(pred["hand_feature_baseline"], labels)
    report = {"folds": folds, "phrases": len(labels), "pieces": len(names),
              **{name: _scores(p, labels) for name, p in pred.items()},
              "model_minus_hand_ci95": _lead_ci95(lead, np.array(data.pieces), seed),
              "config": {"seed": seed, "epochs": epochs, "width": width, "lr": lr},
              "seconds": round(time.monotonic() - t0, 1)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "emotion_cv.json").write_text(json.dumps(report, indent=1))
    log.info("%d-fold cross-validation on %d phrases: model %s, hand features %s, majority %s", folds, len(labels),
             report["model"], report["hand_feature_baseline"], report["majority_baseline"])
    return report


def emotion_run_config(seed: int = 0, epochs: int = EMOTION_EPOCHS, width: int = WIDTH, lr: float = LR) -> dict[str, Any]:
    """The training settings ``train_emotion`` records in its report (``coevo ship`` compares a run's with
    what ``coevo train`` would use)."""
    return {"seed": seed, "epochs": epochs, "width": width, "lr": lr, "window_steps": WINDOW, "pitches": PITCHES,
            "augmentation": "transposition -6..+6"}


def train_emotion(out: Path, seed: int = 0, epochs: int = EMOTION_EPOCHS, width: int = WIDTH,
                  lr: float = LR) -> dict[str, Any]:
    """Train, evaluate on held-out pieces, save ``out/emotion.pt`` and ``out/emotion_report.json``."""
    data = load_vgmidi()
    rolls, labels, split = data.rolls, data.labels, data.split
    idx = {name: data.indices(name) for name in ("train", "valid", "test")}
    t0 = time.monotonic()
    model, history = _fit(data, idx["train"], idx["valid"], seed, epochs, width, lr)
    test_labels = labels[idx["test"]]
    majority = np.sign(labels[idx["train"]].mean(0))  # the most common sign of each, on the training pieces
    hand = HandBaseline.fit([rolls[i] for i in idx["train"]], data.tempos[idx["train"]], labels[idx["train"]])
    report = {
        "data": "VGMIDI labelled phrases (vgmidi_labelled.csv), split by piece",
        "pieces": {k: len(getattr(split, k)) for k in ("train", "valid", "test")},
        "phrases": {k: len(v) for k, v in idx.items()},
        "model_test": _scores(_predict(model, [rolls[i] for i in idx["test"]]), test_labels),
        "majority_baseline_test": _scores(np.repeat(majority[None], len(test_labels), 0), test_labels),
        "hand_feature_baseline_test": _scores(hand.predict([rolls[i] for i in idx["test"]], data.tempos[idx["test"]]),
                                              test_labels),
        "test_windows": _window_report(model, hand, majority, load_vgmidi_pieces(), split.test, seed),
        "config": emotion_run_config(seed, epochs, width, lr),
        "training_seconds": round(time.monotonic() - t0, 1),
        "history_tail": history[-5:],
    }
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "config": model.cfg.__dict__}, out / "emotion.pt")
    (out / "emotion_report.json").write_text(json.dumps(report, indent=1))
    log.info("emotion model: %s (majority baseline %s, hand-feature baseline %s)", report["model_test"],
             report["majority_baseline_test"], report["hand_feature_baseline_test"])
    log.info("on %d rated windows of the held-out pieces: %s (hand-feature baseline %s)", report["test_windows"]["windows"],
             report["test_windows"]["model"], report["test_windows"]["hand_feature_baseline"])
    return report
