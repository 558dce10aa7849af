"""Notes and phrases, and decoding a generator's piano roll into notes."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Note", "NoteTable", "Phrase", "decode_roll", "decode_rolls", "drum_mask", "encode_roll", "midi_velocity", "note_runs",
           "track_rank", "BEATS_PER_BAR"]

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


@dataclass(frozen=True)
class NoteTable:
    """Notes of any number of phrases as columns, one row per note: the fast path of decoding and refinement.

    ``track`` indexes the ``tracks`` tuple the table was made with; ``start`` and ``duration`` are in beats.
    """

    phrase: np.ndarray
    track: np.ndarray
    pitch: np.ndarray
    start: np.ndarray
    duration: np.ndarray
    velocity: np.ndarray
    mute: np.ndarray
    confidence: np.ndarray

    def take(self, index: np.ndarray) -> "NoteTable":
        """The rows ``index`` (a boolean mask or row numbers), in that order."""
        return NoteTable(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @classmethod
    def from_notes(cls, notes: list[Note], tracks: tuple[str, ...]) -> "NoteTable":
        """One phrase's notes; every note's track must be in ``tracks``."""
        index = {name: i for i, name in enumerate(tracks)}
        return cls(np.zeros(len(notes), dtype=np.int64), np.array([index[n.track] for n in notes], dtype=np.int64),
                   np.array([n.pitch for n in notes], dtype=np.int64), np.array([n.start for n in notes], dtype=float),
                   np.array([n.duration for n in notes], dtype=float),
                   np.array([n.velocity for n in notes], dtype=np.int64), np.array([n.mute for n in notes], dtype=bool),
                   np.array([n.confidence for n in notes], dtype=float))

    def to_notes(self, tracks: tuple[str, ...], phrases: int) -> list[list[Note]]:
        """Each phrase's notes, in row order (rows must be grouped by phrase, in phrase order)."""
        names = np.array(tracks, dtype=object)[self.track]
        notes = list(map(Note, self.pitch.tolist(), self.start.tolist(), self.duration.tolist(),
                         self.velocity.tolist(), names.tolist(), self.mute.tolist(), self.confidence.tolist()))
        bounds = np.concatenate([[0], np.cumsum(np.bincount(self.phrase, minlength=phrases))]).tolist()
        return [notes[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


@functools.lru_cache(maxsize=16)
def track_rank(tracks: tuple[str, ...]) -> np.ndarray:
    """Each track's place when the track names are sorted: phrases order notes by (start, track name, pitch).
    Built once per tuple of tracks (read-only)."""
    rank = np.argsort(np.argsort(np.array(tracks, dtype=object)))
    rank.flags.writeable = False
    return rank


@functools.lru_cache(maxsize=16)
def drum_mask(tracks: tuple[str, ...], drum_tracks: tuple[str, ...]) -> np.ndarray:
    """Whether each of ``tracks`` is a drum track (read-only)."""
    mask = np.array([name in drum_tracks for name in tracks], dtype=bool)
    mask.flags.writeable = False
    return mask


def note_runs(active: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every run of active steps in ``[..., time, pitches]``: the leading indices, then pitch index,
    start step and length in steps, ordered by leading indices, pitch, then time."""
    on = np.moveaxis(active > 0, -1, -2)  # [..., pitches, time]
    padded = np.zeros(on.shape[:-1] + (on.shape[-1] + 2,), dtype=bool)  # silent before and after
    padded[..., 1:-1] = on
    *where, at = np.nonzero(padded[..., 1:] != padded[..., :-1])  # each run's start, then the step after it
    return (*(w[0::2] for w in where), at[0::2], at[1::2] - at[0::2])


def midi_velocity(velocity: np.ndarray) -> np.ndarray:
    """The model's velocity output (0..1) as MIDI velocity (1..127)."""
    return np.clip(np.rint(velocity * 126) + 1, 1, 127).astype(np.int64)


def decode_rolls(roll: np.ndarray, velocity: np.ndarray, tracks: tuple[str, ...], drum_tracks: tuple[str, ...],
                 pitch_low: int, threshold: float) -> NoteTable:
    """Turn note activity ``[phrases, bars, tracks, steps, pitches]`` into a table of every phrase's notes,
    ordered by phrase, start, track name, pitch (one pass of array work for the whole batch).

    A melodic note starts where activity rises above ``threshold`` and lasts while it stays
    above; a drum hit is one step per active cell. Velocity is read at the onset (0..1 -> 1..127).
    """
    n, bars, n_tracks, steps, _ = roll.shape
    step_beats = BEATS_PER_BAR / steps
    # join the bars of each track on one time axis: [phrases, tracks, time, pitches]
    active = (roll > threshold).transpose(0, 2, 1, 3, 4).reshape(n, n_tracks, bars * steps, -1)
    is_drum = drum_mask(tracks, drum_tracks)
    pitched, drums = np.flatnonzero(~is_drum), np.flatnonzero(is_drum)
    c_m, t_m, p_m, s_m, n_m = note_runs(active[:, pitched])
    c_d, t_d, s_d, p_d = np.nonzero(active[:, drums])
    clip = np.concatenate([c_m, c_d])
    t_idx = np.concatenate([pitched[t_m], drums[t_d]])
    p_idx = np.concatenate([p_m, p_d])
    s_idx = np.concatenate([s_m, s_d])
    lengths = np.concatenate([n_m, np.ones_like(s_d)])
    order = np.lexsort((p_idx, track_rank(tracks)[t_idx], s_idx, clip))
    clip, t_idx, p_idx, s_idx, lengths = clip[order], t_idx[order], p_idx[order], s_idx[order], lengths[order]
    at = (clip, s_idx // steps, t_idx, s_idx % steps, p_idx)  # the onset cell in the model's layout
    return NoteTable(clip, t_idx, p_idx + pitch_low, s_idx * step_beats, lengths * step_beats,
                     midi_velocity(velocity[at]),
                     np.zeros(len(clip), dtype=bool), roll[at].astype(float))


def decode_roll(roll: np.ndarray, velocity: np.ndarray, tracks: tuple[str, ...], drum_tracks: tuple[str, ...],
                pitch_low: int, threshold: float) -> list[Note]:
    """The notes of one phrase, ``[bars, tracks, steps, pitches]``; see ``decode_rolls``."""
    return decode_rolls(roll[None], velocity[None], tracks, drum_tracks, pitch_low, threshold).to_notes(tracks, 1)[0]


def encode_roll(notes: list[Note], tracks: tuple[str, ...], bars: int, steps_per_bar: int, pitch_low: int,
                pitches: int) -> np.ndarray:
    """The notes laid on a generator's grid, the inverse of ``decode_roll``: velocity [bars, tracks,
    steps_per_bar, pitches], 0 where silent. Muted notes, notes of other tracks and pitches out of range
    are left out; a note lasts at least one step."""
    steps_per_beat = steps_per_bar / BEATS_PER_BAR
    total = bars * steps_per_bar
    roll = np.zeros((len(tracks), total, pitches), dtype=np.uint8)
    index = {t: i for i, t in enumerate(tracks)}
    for n in notes:
        track = index.get(n.track)
        if track is None or n.mute or not 0 <= n.pitch - pitch_low < pitches:
            continue
        a = int(round(n.start * steps_per_beat))
        b = max(a + 1, int(round(n.end * steps_per_beat)))
        roll[track, max(a, 0):min(b, total), n.pitch - pitch_low] = min(max(n.velocity, 1), 127)  # sounding: never 0
    return roll.reshape(len(tracks), bars, steps_per_bar, pitches).transpose(1, 0, 2, 3)
