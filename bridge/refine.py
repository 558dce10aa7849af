"""Refinement of every generated phrase before output: key lock, note length, velocity, density.

Each step is switchable in the configuration; ``refine`` applies them in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.phrase import BEATS_PER_BAR, Note

__all__ = ["SCALES", "TONICS", "RefineSettings", "parse_key", "refine", "scale_pitch_classes"]

TONICS = {"C": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "F": 5, "F#": 6, "GB": 6, "G": 7,
          "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11}
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10), "lydian": (0, 2, 4, 6, 7, 9, 11), "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11), "pentatonic": (0, 2, 4, 7, 9), "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10), "chromatic": tuple(range(12)),
}


def parse_key(tonic: str, mode: str) -> tuple[int, str]:
    """Validate a key: tonic like 'C', 'F#', 'Bb'; mode among SCALES. Raises ValueError saying what is allowed."""
    t = tonic.strip().upper()
    if t not in TONICS:
        raise ValueError(f"tonic must be one of C C# Db D D# Eb E F F# Gb G G# Ab A A# Bb B; got {tonic!r}")
    m = mode.strip().lower().replace(" ", "_")
    if m not in SCALES:
        raise ValueError(f"mode must be one of {', '.join(SCALES)}; got {mode!r}")
    return TONICS[t], m


def scale_pitch_classes(tonic: int, mode: str) -> frozenset[int]:
    return frozenset((tonic + step) % 12 for step in SCALES[mode])


@dataclass(frozen=True)
class RefineSettings:
    key_lock: bool
    tonic: int
    mode: str
    min_note_beats: float
    velocity_from_model: bool
    humanize: float
    density_cap: int


@dataclass(slots=True)
class _Draft:
    """A note being refined (mutable; ``Note`` is frozen)."""

    track: str
    pitch: int
    start: float
    duration: float
    velocity: int
    source: Note


def _snap(pitch: int, allowed: frozenset[int]) -> int:
    for delta in (0, -1, 1, -2, 2):  # nearest scale tone, downwards first on ties
        if (pitch + delta) % 12 in allowed and 0 <= pitch + delta <= 127:
            return pitch + delta
    return pitch


def refine(notes: list[Note], length_beats: float, drum_tracks: tuple[str, ...], settings: RefineSettings,
           rng: np.random.Generator) -> list[Note]:
    """Return refined notes; never changes drum pitches; every note ends inside the phrase.

    Order: density cap (keep the most confident notes per bar and track), key lock (snap to the
    nearest scale tone), minimum length (lengthen short notes, but never past the next note of the
    same pitch), velocity (the model's, or a fixed 96), humanize (gaussian velocity jitter).
    """
    out = list(notes)
    if settings.density_cap > 0:
        kept: list[Note] = []
        groups: dict[tuple[str, int], list[Note]] = {}
        for n in out:
            groups.setdefault((n.track, int(n.start // BEATS_PER_BAR)), []).append(n)
        for group in groups.values():
            kept += sorted(group, key=lambda n: -n.confidence)[: settings.density_cap]
        out = kept
    # notes are edited as drafts and built once at the end
    allowed = scale_pitch_classes(settings.tonic, settings.mode) if settings.key_lock else None
    drafts: list[_Draft] = []
    for n in out:
        pitch, duration = n.pitch, n.duration
        if n.track not in drum_tracks:
            if allowed is not None:
                pitch = _snap(pitch, allowed)
            if settings.min_note_beats > 0 and duration < settings.min_note_beats:
                duration = min(settings.min_note_beats, length_beats - n.start)
        drafts.append(_Draft(n.track, pitch, n.start, duration, n.velocity if settings.velocity_from_model else 96, n))
    # after snapping or lengthening, two notes may share a pitch and overlap: keep the earlier, cut it at the later
    drafts.sort(key=lambda d: (d.track, d.pitch, d.start))
    merged: list[_Draft] = []
    for d in drafts:
        if merged:
            last = merged[-1]
            if last.track == d.track and last.pitch == d.pitch and last.start + last.duration > d.start:
                if last.start == d.start:
                    continue
                last.duration = d.start - last.start
        merged.append(d)
    if settings.humanize > 0:
        jitter = rng.normal(0.0, settings.humanize * 40, len(merged))
        for d, j in zip(merged, jitter.tolist()):
            d.velocity = max(1, min(127, round(d.velocity + j)))
    result = [Note(d.pitch, d.start, min(d.duration, length_beats - d.start), d.velocity, d.track, d.source.mute,
                   d.source.confidence) for d in merged if d.start < length_beats]
    result.sort(key=lambda n: (n.start, n.track, n.pitch))
    return result
