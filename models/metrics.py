"""Measures of multi-track piano rolls (torch-free): the axis features, MuseGAN's metrics, mgeval's.

Rolls are ``[n, bars, tracks, 16, pitches]`` activity (anything > 0 sounds), tracks as in
``models.data.TRACKS`` (melody, accompaniment, bass, drums). A pitched note is a run of active steps
of one pitch; a drum hit is one active cell. On this 16-step grid two MuseGAN metrics need a choice,
documented here: a *qualified* note lasts at least 2 steps (an eighth note; every note on the grid
already lasts a 32nd), and the *drum pattern* score is the share of drum hits on eighth-note steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import gaussian_kde

from bridge.phrase import note_runs
from models.data import PITCH_LOW, STEPS, TRACKS

__all__ = ["BARS", "PITCHED", "segment_starts", "segments", "drum_segments", "features", "code_effect", "chroma",
           "chordal_share", "musegan_metrics", "velocity_figures", "phrase_histograms", "overlapping_area", "HISTOGRAMS",
           "CODE_VALUES", "SOFT_VELOCITY"]

BARS = 4
PITCHED = (0, 1, 2)  # melody, accompaniment, bass
DRUMS = 3
LENGTH_BINS = (1, 2, 3, 4, 6, 8, 12, 16, 10_000)  # note length in steps: [1,2), [2,3), ... [16, inf)
IOI_BINS = (1, 2, 3, 4, 6, 8, 12, 16, 10_000)  # steps between successive onsets
HISTOGRAMS = ("pitch_class", "note_length", "ioi", "pitch_range")
CODE_VALUES = np.linspace(-1, 1, 5)  # where a code's effect is measured
SOFT_VELOCITY = 20  # a note under this velocity is all but inaudible on most instruments


def segment_starts(songs: dict[str, np.ndarray], names: list[str]) -> list[tuple[str, int]]:
    """(song, first bar) of each segment ``segments`` cuts from the named songs."""
    out = []
    for name in names:
        bars = songs[name]
        for s in range(0, len(bars) - BARS + 1, BARS):
            if (bars[s:s + BARS, :2] > 0).any(axis=(1, 2, 3)).all():  # no silent bar in melody + accompaniment
                out.append((name, s))
    return out


def segments(songs: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """Non-overlapping 4-bar segments [n, 4, 3, 16, pitches] of the named songs."""
    return np.stack([songs[name][s:s + BARS] for name, s in segment_starts(songs, names)])


def drum_segments(bars: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """Non-overlapping 4-bar drum segments [n, 4, 16, pitches] of the named Groove beats."""
    out = [b[s:s + BARS] for n in names for b in [bars[n]] for s in range(0, len(b) - BARS + 1, BARS)]
    return np.stack(out)


def features(roll: np.ndarray, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per-segment musical features of [n, bars, tracks, 16, P] activity: what the named axes can mean."""
    on = roll > threshold
    bars = roll.shape[1]
    pitched = on[:, :, :3]
    onsets = pitched.copy()
    onsets[:, :, :, 1:] &= ~pitched[:, :, :, :-1]
    pitches = np.arange(roll.shape[-1])
    weight = pitched.sum(axis=(1, 2, 3))
    mean_pitch = (weight * pitches).sum(1) / np.maximum(weight.sum(1), 1)
    return {
        "density": onsets.sum(axis=(1, 2, 3, 4)) / bars,  # pitched note onsets per bar
        "register": mean_pitch,  # mean active pitch (index)
        "rhythm": on[:, :, 3].sum(axis=(1, 2, 3)) / bars,  # drum hits per bar
        "polyphony": pitched[:, :, 1].sum(axis=3).mean(axis=(1, 2)),  # accompaniment notes sounding per step
    }


def code_effect(sample: Callable[[np.ndarray], np.ndarray], n: int, n_codes: int, k: int,
                reference: dict[str, np.ndarray]) -> tuple[dict[str, list[float]], dict[str, float]]:
    """What code ``k`` does to each feature: the feature's mean over ``CODE_VALUES`` of the code (the
    other codes at 0), and the least-squares slope of that mean in standard deviations of ``reference``.

    ``sample(codes)`` makes n rolls from [n, n_codes] codes, with the same latents and emotions each call.
    """
    means: dict[str, list[float]] = {}
    for value in CODE_VALUES:
        codes = np.zeros((n, n_codes), np.float32)
        codes[:, k] = value
        for f, measured in features(sample(codes)).items():
            means.setdefault(f, []).append(float(measured.mean()))
    slopes = {f: float(np.polyfit(CODE_VALUES, m, 1)[0]) / (float(reference[f].std()) + 1e-9) for f, m in means.items()}
    return means, slopes


def _tonal_centroid(weight: np.ndarray) -> np.ndarray:
    """Harte et al. (2006) 6-D tonal centroid of [n, 12] pitch-class weights (rows summing to 1)."""
    k = np.arange(12)
    basis = np.stack([np.sin(k * 7 * np.pi / 6), np.cos(k * 7 * np.pi / 6),
                      np.sin(k * 3 * np.pi / 2), np.cos(k * 3 * np.pi / 2),
                      0.5 * np.sin(k * 2 * np.pi / 3), 0.5 * np.cos(k * 2 * np.pi / 3)])
    return weight @ basis.T


def chroma(rolls: np.ndarray) -> np.ndarray:
    """[n, steps, P] activity -> [n, 12] pitch-class weight (active steps per pitch class)."""
    per_pitch = (rolls > 0).sum(axis=1)
    weight = np.zeros((len(rolls), 12))
    for p in range(per_pitch.shape[1]):
        weight[:, (PITCH_LOW + p) % 12] += per_pitch[:, p]
    return weight


def chordal_share(on: np.ndarray) -> float:
    """MuseGAN's polyphony of ``on`` [..., steps, pitches] (sounding cells): the share of the steps that
    sound anything which sound two pitches or more."""
    sounding = (on > 0).sum(axis=-1)
    return float((sounding >= 2).sum() / max((sounding >= 1).sum(), 1))


def musegan_metrics(roll: np.ndarray) -> dict[str, float]:
    """MuseGAN's metrics of a set of segments: empty bars, used pitch classes, qualified notes,
    polyphony, drum pattern and tonal distance between track pairs."""
    on = roll > 0
    n, bars = on.shape[:2]
    out: dict[str, float] = {}
    for t, name in enumerate(TRACKS):
        out[f"empty_bars.{name}"] = float((~on[:, :, t].any(axis=(2, 3))).mean())
    for t in PITCHED:
        name = TRACKS[t]
        flat = on[:, :, t].reshape(n * bars, STEPS, -1)
        full = flat.any(axis=1)
        used = chroma(flat) > 0
        nonempty = full.any(axis=1)
        out[f"pitch_classes_per_bar.{name}"] = float(used[nonempty].sum(axis=1).mean()) if nonempty.any() else 0.0
        lengths = np.concatenate([note_runs(on[i, :, t].reshape(bars * STEPS, -1))[2] for i in range(n)])
        out[f"qualified_notes.{name}"] = float((lengths >= 2).mean()) if lengths.size else 0.0
        out[f"polyphony.{name}"] = chordal_share(flat)
    hits = np.nonzero(on[:, :, DRUMS])  # (segment, bar, step, pitch)
    out["drum_pattern"] = float((hits[2] % 2 == 0).mean()) if hits[0].size else 0.0
    centroids = {}
    for t in PITCHED:
        weight = chroma(on[:, :, t].reshape(n * bars, STEPS, -1))
        total = weight.sum(axis=1, keepdims=True)
        centroids[t] = (_tonal_centroid(weight / np.maximum(total, 1)), total[:, 0] > 0)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        (ca, ma), (cb, mb) = centroids[a], centroids[b]
        both = ma & mb
        dist = np.linalg.norm(ca[both] - cb[both], axis=1)
        out[f"tonal_distance.{TRACKS[a]}-{TRACKS[b]}"] = float(dist.mean()) if dist.size else 0.0
    return out


def velocity_figures(roll: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Per track, the velocities (1..127) of the sounding cells of [n, bars, tracks, 16, P] velocity rolls:
    the share under ``SOFT_VELOCITY``, the 5th percentile and the median (None for a silent track)."""
    out: dict[str, dict[str, float | None]] = {}
    for t, name in enumerate(TRACKS):
        v = roll[:, :, t][roll[:, :, t] > 0].astype(np.float64)
        out[name] = ({"under_soft": round(float((v < SOFT_VELOCITY).mean()), 4), "p5": float(np.percentile(v, 5)),
                      "median": float(np.median(v))} if v.size else {"under_soft": None, "p5": None, "median": None})
    return out


def phrase_histograms(roll: np.ndarray) -> dict[str, np.ndarray]:
    """Per-segment mgeval features of the pitched tracks merged: pitch-class histogram (12), note-length
    histogram, inter-onset-interval histogram (normalized) and pitch range (semitones)."""
    on = roll[:, :, list(PITCHED)] > 0
    n, bars = on.shape[:2]
    merged = on.transpose(0, 1, 3, 2, 4).reshape(n, bars * STEPS, len(PITCHED), -1)
    pc = np.zeros((n, 12))
    lengths = np.zeros((n, len(LENGTH_BINS) - 1))
    iois = np.zeros((n, len(IOI_BINS) - 1))
    span = np.zeros((n, 1))
    for i in range(n):
        pitch_list, onset_list, length_list = [], [], []
        for t in range(len(PITCHED)):
            p, s, ln = note_runs(merged[i, :, t])
            pitch_list.append(p)
            onset_list.append(s)
            length_list.append(ln)
        pitch, onset, length = (np.concatenate(x) for x in (pitch_list, onset_list, length_list))
        if pitch.size == 0:
            continue
        np.add.at(pc[i], (PITCH_LOW + pitch) % 12, 1)
        pc[i] /= pc[i].sum()
        lengths[i] = np.histogram(length, LENGTH_BINS)[0] / length.size
        gaps = np.diff(np.unique(onset))
        if gaps.size:
            iois[i] = np.histogram(gaps, IOI_BINS)[0] / gaps.size
        span[i, 0] = pitch.max() - pitch.min()
    return {"pitch_class": pc, "note_length": lengths, "ioi": iois, "pitch_range": span}


def _distances(a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Euclidean distances between rows: within ``a`` (each pair once) or from each of ``a`` to each of ``b``."""
    if b is None:
        i, j = np.triu_indices(len(a), k=1)
        return np.linalg.norm(a[i] - a[j], axis=1)
    return np.linalg.norm(a[:, None] - b[None], axis=2).ravel()


def overlapping_area(reference: np.ndarray, candidate: np.ndarray, grid_points: int = 512) -> float:
    """mgeval's overlapping area: the intra-set distances of ``reference`` and the inter-set distances
    from ``reference`` to ``candidate`` are smoothed (Gaussian KDE) and the area both share is returned
    (1: the candidate sits in the reference as the reference sits in itself; 0: apart)."""
    intra, inter = _distances(reference, None), _distances(reference, candidate)
    lo, hi = min(intra.min(), inter.min()), max(intra.max(), inter.max())
    if hi - lo < 1e-9:
        return 1.0
    xs = np.linspace(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), grid_points)
    densities = []
    for d in (intra, inter):
        jitter = d + np.random.default_rng(0).normal(0, 1e-6 * (hi - lo), d.size)  # a KDE needs spread
        densities.append(gaussian_kde(jitter)(xs))
    return float(np.trapezoid(np.minimum(*densities), xs))

