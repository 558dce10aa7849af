"""Hand-made emotion features of a piano roll and the ridge-regression baseline built on them (torch-free).

The emotion model is measured against this baseline, and ``coevo eval music`` uses it as a second,
independent reader of the emotion of generated phrases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.data import PITCH_LOW
from models.metrics import chroma

__all__ = ["MAJOR_PROFILE", "MINOR_PROFILE", "HAND_FEATURES", "hand_features", "sign_hits", "HandBaseline"]

# Krumhansl-Kessler key profiles, C major and C minor
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
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
    mode = corr(np.array(MAJOR_PROFILE)) - corr(np.array(MINOR_PROFILE)) if weight12.std() > 0 else 0.0
    weight = on.sum(axis=0)
    register = float((weight * np.arange(roll.shape[1])).sum() / max(weight.sum(), 1)) + PITCH_LOW
    velocity = float(roll[on].mean()) if on.any() else 0.0
    return np.array([mode, bpm, onsets.sum() / max(len(roll), 1), register, velocity])


def sign_hits(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row of (valence, arousal) readings against labels (or one requested emotion, broadcast): valence
    sign right, arousal sign right, both (the quadrant) [n, 3] bool."""
    signs = np.sign(pred[:, :2]) == np.sign(np.atleast_2d(labels)[:, :2])
    return np.concatenate([signs, signs.all(axis=1, keepdims=True)], axis=1)


@dataclass(frozen=True)
class HandBaseline:
    """Ridge regression (lambda 1) from standardized hand features to (valence, arousal)."""

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray

    @classmethod
    def fit(cls, rolls: list[np.ndarray], tempos: np.ndarray, labels: np.ndarray) -> "HandBaseline":
        x = np.stack([hand_features(r, t) for r, t in zip(rolls, tempos)])
        mean, std = x.mean(0), x.std(0) + 1e-9
        a = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
        return cls(mean, std, np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ labels))

    def predict(self, rolls: list[np.ndarray], tempos: np.ndarray) -> np.ndarray:
        """(valence, arousal) of each roll [steps, pitches] played at its tempo: [n, 2]."""
        x = np.stack([hand_features(r, t) for r, t in zip(rolls, tempos)])
        return np.hstack([(x - self.mean) / self.std, np.ones((len(x), 1))]) @ self.weights
