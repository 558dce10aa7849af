"""Refinement of every generated phrase before output: mood, key lock, note length, velocity, density.

Each step is switchable in the configuration; ``refine_table`` applies them to the notes of many
phrases at once (array work, no per-note Python); ``refine`` does it for one phrase's notes.

Mood shaping plays the emotion state the way listeners hear it, where the generator alone does not
(its phrases read as happy whatever it is asked): negative valence turns the key lock's major-type
scale to its minor counterpart, and low arousal plays the phrase in half time (augmentation: its
first half, every start and length doubled) and, by default, an octave up (both the emotion model and
the hand-feature baseline, fitted on VGMIDI's human ratings, read a higher register as calmer).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from bridge.phrase import BEATS_PER_BAR, Note, NoteTable, drum_mask, track_rank

if TYPE_CHECKING:
    from bridge.config import Config

__all__ = ["SCALES", "TONICS", "MOOD_DEAD_ZONE", "HALF_TIME_AROUSAL", "RefineSettings", "mood_mode", "parse_key",
           "refine", "refine_table", "scale_pitch_classes"]

TONICS = {"C": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "F": 5, "F#": 6, "GB": 6, "G": 7,
          "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11}
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10), "lydian": (0, 2, 4, 6, 7, 9, 11), "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11), "pentatonic": (0, 2, 4, 7, 9), "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10), "chromatic": tuple(range(12)),
}

MOOD_DEAD_ZONE = 0.2  # valence above -0.2 leaves the scale as set
HALF_TIME_AROUSAL = -0.25  # arousal at or below this plays in half time, ``mood_lift`` semitones up
# the emotion model reads phrases locked to harmonic minor as negative two to three times as often as
# natural minor (2026-12-01), so a major key darkens to its harmonic minor
_DARKER = {"major": "harmonic_minor", "lydian": "harmonic_minor", "mixolydian": "dorian",
           "pentatonic": "minor_pentatonic"}


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


def mood_mode(mode: str, valence: float) -> str:
    """The scale mood shaping plays ``mode`` in at ``valence``: the minor counterpart of a major-type
    scale at valence -MOOD_DEAD_ZONE or below, else ``mode`` itself (a scale with a minor third is
    kept at any valence: the generator's phrases already read as positive, and a minor key chosen for
    a song stays)."""
    return _DARKER.get(mode, mode) if valence <= -MOOD_DEAD_ZONE else mode


@dataclass(frozen=True)
class RefineSettings:
    key_lock: bool
    tonic: int
    mode: str
    min_note_beats: float
    velocity_from_model: bool
    velocity_floor: int
    humanize: float
    density_cap: int
    mood_shaping: bool = False
    valence: float = 0.0  # the emotion the phrase is made for, which mood shaping plays
    arousal: float = 0.0
    mood_lift: int = 0  # semitones mood shaping moves the pitched tracks up at low arousal

    @classmethod
    def from_config(cls, cfg: Config, tonic: int, mode: str,
                    emotion: tuple[float, float] = (0.0, 0.0)) -> RefineSettings:
        """The refinement settings of ``cfg`` for a phrase in ``tonic`` ``mode`` made for ``emotion``."""
        return cls(cfg.key_lock, tonic, mode, cfg.min_note_beats, cfg.velocity_from_model, cfg.velocity_floor,
                   cfg.humanize, cfg.density_cap, cfg.mood_shaping, emotion[0], emotion[1], cfg.mood_lift)

    @property
    def played_mode(self) -> str:
        """The scale the key lock uses: ``mode``, or its mood counterpart under mood shaping."""
        return mood_mode(self.mode, self.valence) if self.mood_shaping else self.mode

    @property
    def half_time(self) -> bool:
        """Whether mood shaping plays the phrase in half time (and ``lift`` semitones up): low arousal."""
        return self.mood_shaping and self.arousal <= HALF_TIME_AROUSAL

    @property
    def lift(self) -> int:
        """Semitones mood shaping moves the pitched tracks up: ``mood_lift`` in half time, else 0."""
        return self.mood_lift if self.half_time else 0


def _snap(pitch: int, allowed: frozenset[int]) -> int:
    for delta in (0, -1, 1, -2, 2):  # nearest scale tone, downwards first on ties
        if (pitch + delta) % 12 in allowed and 0 <= pitch + delta <= 127:
            return pitch + delta
    return pitch


@functools.lru_cache(maxsize=64)
def _snap_table(tonic: int, mode: str) -> np.ndarray:
    """Every MIDI pitch snapped into the scale (built once per key, read-only)."""
    allowed = scale_pitch_classes(tonic, mode)
    table = np.array([_snap(p, allowed) for p in range(128)], dtype=np.int64)
    table.flags.writeable = False
    return table


def refine_table(table: NoteTable, tracks: tuple[str, ...], drum_tracks: tuple[str, ...], length_beats: float,
                 settings: RefineSettings, rng: np.random.Generator) -> NoteTable:
    """Refine every phrase of ``table`` (each ``length_beats`` long) at once; the result is ordered by phrase,
    start, track name, pitch. Never changes drum pitches; every note ends inside its phrase.

    Order: half time (mood shaping at low arousal: starts and lengths doubled, the second half
    left out), density cap (keep the most confident notes per bar and track), lift (mood shaping at
    low arousal: pitched notes ``mood_lift`` semitones up, where that stays a MIDI pitch), key lock (snap to the
    nearest scale tone of ``settings.played_mode``), minimum length (lengthen short notes, but never
    past the next note of the same pitch), velocity (the model's 1..127 scaled into
    ``velocity_floor``..127, or a fixed 96), humanize (gaussian velocity jitter, drawn from ``rng``
    phrase after phrase).
    """
    if settings.half_time:
        table = replace(table, start=table.start * 2, duration=table.duration * 2)
        table = table.take(table.start < length_beats)
    rows = np.arange(len(table.pitch))
    order = rows
    if settings.density_cap > 0:
        bar = np.floor_divide(table.start, BEATS_PER_BAR).astype(np.int64)
        group = (table.phrase * len(tracks) + table.track) * (bar.max(initial=0) + 1) + bar
        order = np.lexsort((rows, -table.confidence, group))  # each group's most confident first
        sorted_group = group[order]
        starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
        place = rows - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        order = order[place < settings.density_cap]
    t = table.take(order)
    pitched = ~drum_mask(tracks, drum_tracks)[t.track]
    pitch = t.pitch.copy()
    duration = t.duration.copy()
    if settings.lift:
        lifted = pitched & (pitch + settings.lift <= 127)
        pitch[lifted] += settings.lift
    if settings.key_lock:
        pitch[pitched] = _snap_table(settings.tonic, settings.played_mode)[pitch[pitched]]
    if settings.min_note_beats > 0:
        short = pitched & (duration < settings.min_note_beats)
        duration[short] = np.minimum(settings.min_note_beats, length_beats - t.start[short])
    if settings.velocity_from_model:  # a generator's velocity head can saturate at 1 (inaudible); this keeps it audible
        floor = settings.velocity_floor
        velocity = np.rint(floor + (t.velocity - 1) * (127 - floor) / 126).astype(np.int64)
    else:
        velocity = np.full(len(pitch), 96, dtype=np.int64)
    # after snapping or lengthening, two notes may share a pitch and overlap: keep the earlier, cut it at the later
    rank = track_rank(tracks)
    merged = np.lexsort((np.arange(len(pitch)), t.start, pitch, rank[t.track], t.phrase))
    same_voice = lambda a, b: (t.phrase[a] == t.phrase[b]) & (t.track[a] == t.track[b]) & (pitch[a] == pitch[b])  # noqa: E731
    keep = np.ones(len(merged), dtype=bool)
    keep[1:] = ~(same_voice(merged[1:], merged[:-1]) & (t.start[merged[1:]] == t.start[merged[:-1]]))
    merged = merged[keep]
    nxt, cur = merged[1:], merged[:-1]
    cut = same_voice(cur, nxt) & (t.start[cur] + duration[cur] > t.start[nxt])
    duration[cur[cut]] = t.start[nxt[cut]] - t.start[cur[cut]]
    velocity = velocity[merged]
    if settings.humanize > 0:
        jitter = rng.normal(0.0, settings.humanize * 40, len(merged))
        velocity = np.clip(np.rint(velocity + jitter), 1, 127).astype(np.int64)
    inside = np.flatnonzero(t.start[merged] < length_beats)  # places in ``merged`` of the notes that start in time
    kept = merged[inside]
    final = np.lexsort((pitch[kept], rank[t.track[kept]], t.start[kept], t.phrase[kept]))
    kept, velocity = kept[final], velocity[inside[final]]
    return NoteTable(t.phrase[kept], t.track[kept], pitch[kept], t.start[kept],
                     np.minimum(duration[kept], length_beats - t.start[kept]), velocity, t.mute[kept], t.confidence[kept])


def refine(notes: list[Note], length_beats: float, drum_tracks: tuple[str, ...], settings: RefineSettings,
           rng: np.random.Generator) -> list[Note]:
    """One phrase's notes, refined as ``refine_table`` does; ordered by start, track name, pitch."""
    tracks = tuple(sorted({n.track for n in notes}))
    table = refine_table(NoteTable.from_notes(notes, tracks), tracks, drum_tracks, length_beats, settings, rng)
    return table.to_notes(tracks, 1)[0]
