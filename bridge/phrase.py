"""Notes and phrases, and decoding a generator's piano roll into notes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Note", "Phrase", "decode_roll", "BEATS_PER_BAR"]

BEATS_PER_BAR = 4  # the daemon works in 4/4


@dataclass(frozen=True)
class Note:
    """One note, placed in beats from the phrase start."""

    pitch: int
    start: float
    duration: float
    velocity: int
    track: str
    mute: bool = False
    confidence: float = 1.0  # the model's activity at the onset, used by the density cap

    def with_(self, **changes: object) -> "Note":
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class Phrase:
    """A generated phrase: its notes and everything needed to generate it again."""

    id: str
    bars: int
    notes: list[Note]
    z: list[float]
    codes: dict[str, float]
    emotion: tuple[float, float]
    seed: int
    start_beat: float = 0.0
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def length_beats(self) -> float:
        return float(self.bars * BEATS_PER_BAR)


def decode_roll(roll: np.ndarray, velocity: np.ndarray, tracks: tuple[str, ...], drum_tracks: tuple[str, ...],
                pitch_low: int, threshold: float) -> list[Note]:
    """Turn note activity ``[bars, tracks, steps, pitches]`` into notes.

    A melodic note starts where activity rises above ``threshold`` and lasts while it stays
    above; a drum hit is one step per active cell. Velocity is read at the onset (0..1 -> 1..127).
    """
    bars, n_tracks, steps, _ = roll.shape
    step_beats = BEATS_PER_BAR / steps
    active = roll > threshold
    # join the bars of each track on one time axis: [tracks, bars*steps, pitches]
    active = active.transpose(1, 0, 2, 3).reshape(n_tracks, bars * steps, -1)
    act = roll.transpose(1, 0, 2, 3).reshape(n_tracks, bars * steps, -1)
    vel = velocity.transpose(1, 0, 2, 3).reshape(n_tracks, bars * steps, -1)
    notes: list[Note] = []
    total = bars * steps
    for t, name in enumerate(tracks):
        on = active[t]
        if name in drum_tracks:
            starts = np.argwhere(on)
            lengths = np.ones(len(starts), dtype=int)
        else:
            prev = np.zeros_like(on)
            prev[1:] = on[:-1]
            starts = np.argwhere(on & ~prev)
            lengths = np.empty(len(starts), dtype=int)
            for i, (s, p) in enumerate(starts):
                off = np.flatnonzero(~on[s:, p])
                lengths[i] = off[0] if off.size else total - s
        for (s, p), n in zip(starts, lengths):
            notes.append(Note(
                pitch=int(pitch_low + p), start=float(s * step_beats), duration=float(n * step_beats),
                velocity=int(np.clip(round(float(vel[t, s, p]) * 126) + 1, 1, 127)), track=name,
                confidence=float(act[t, s, p]),
            ))
    notes.sort(key=lambda n: (n.start, n.track, n.pitch))
    return notes
