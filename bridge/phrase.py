"""Notes and phrases, and decoding a generator's piano roll into notes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Note", "Phrase", "decode_roll", "note_runs", "BEATS_PER_BAR"]

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


def note_runs(active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pitch index, start step, length in steps) of every run of active steps in ``[time, pitches]``,
    ordered by pitch, then time."""
    # pad with silence at both ends; rising edges start notes, falling edges end them
    edges = np.diff(np.pad((active > 0).T.astype(np.int8), ((0, 0), (1, 1))), axis=1)  # [pitches, time + 1]
    pitch, start = np.nonzero(edges == 1)
    _, end = np.nonzero(edges == -1)  # same order: per pitch, in time
    return pitch, start, end - start


def decode_roll(roll: np.ndarray, velocity: np.ndarray, tracks: tuple[str, ...], drum_tracks: tuple[str, ...],
                pitch_low: int, threshold: float) -> list[Note]:
    """Turn note activity ``[bars, tracks, steps, pitches]`` into notes.

    A melodic note starts where activity rises above ``threshold`` and lasts while it stays
    above; a drum hit is one step per active cell. Velocity is read at the onset (0..1 -> 1..127).
    """
    bars, n_tracks, steps, _ = roll.shape
    step_beats = BEATS_PER_BAR / steps
    # join the bars of each track on one time axis: [tracks, time, pitches]
    act = roll.transpose(1, 0, 2, 3).reshape(n_tracks, bars * steps, -1)
    vel = velocity.transpose(1, 0, 2, 3).reshape(n_tracks, bars * steps, -1)
    active = act > threshold
    notes: list[Note] = []
    for t, name in enumerate(tracks):
        on = active[t]
        if name in drum_tracks:
            s_idx, p_idx = np.nonzero(on)
            lengths = np.ones(s_idx.size, dtype=np.int64)
        else:
            p_idx, s_idx, lengths = note_runs(on)
        v = np.clip(np.rint(vel[t, s_idx, p_idx] * 126) + 1, 1, 127).astype(int).tolist()
        c = act[t, s_idx, p_idx].tolist()
        for s_, p_, n_, v_, c_ in zip(s_idx.tolist(), p_idx.tolist(), lengths.tolist(), v, c):
            notes.append(Note(pitch_low + p_, s_ * step_beats, n_ * step_beats, v_, name, confidence=c_))
    notes.sort(key=lambda n: (n.start, n.track, n.pitch))
    return notes
