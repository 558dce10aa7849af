"""Offline clips for producers: many variations in one batched model run, written as MIDI files.

Data flow, as in the daemon: options -> latents (z, bar_z, codes, emotion per clip) -> one batched
generator run -> decode -> refine (key lock, note length, velocity, density) -> MIDI files. With a
liked clip, the encoder maps it back to latents and the clips are variations around them.
Everything random comes from one seed, so the same seed and options give byte-identical files.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Mapping

import mido
import numpy as np

from bridge.errors import CoevoError
from bridge.generation import EmotionReader, Encoder, Generator
from bridge.phrase import BEATS_PER_BAR, Note, decode_rolls
from bridge.refine import SCALES, TONICS, RefineSettings, parse_key, refine_table
from bridge.session import write_midi

__all__ = ["ClipOptions", "LikedClip", "ClipMaker", "parse_key_text", "read_clip", "key_signature", "write_clips"]

log = logging.getLogger(__name__)

LIKE_SPREAD = 0.3  # default spread of variations around a liked clip's latents
CHUNK_BARS = 1024  # bars per generator call and per decoding pass: a batch that stays in the CPU caches
_MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAMES = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")


@dataclass(frozen=True)
class LikedClip:
    """A clip read back from a MIDI file: its notes in beats and its length in bars."""

    path: Path
    notes: list[Note]
    bars: int

    def head(self, most_bars: int = 8) -> tuple[list[Note], int]:
        """The notes that start in the clip's first ``most_bars`` bars (a longer clip is read from those)
        and how many bars that is."""
        bars = min(self.bars, most_bars)
        return [x for x in self.notes if x.start < bars * BEATS_PER_BAR], bars


@dataclass(frozen=True)
class ClipOptions:
    bars: int = 4
    count: int = 16
    emotion: tuple[float, float] | None = None  # None: neutral, or the liked clip's as the emotion model reads it
    axes: Mapping[str, float] = field(default_factory=dict)
    tonic: int = 0
    mode: str = "major"
    bpm: float = 120.0
    seed: int = 0
    spread: float | None = None  # None: 1.0 (the prior), or LIKE_SPREAD around a liked clip
    tracks: tuple[str, ...] = ()  # () = every track of the model
    density: float = 0.5
    like: LikedClip | None = None


def parse_key_text(text: str) -> tuple[int, str]:
    """'A minor', 'F# dorian', 'Bb', 'Am' -> (tonic pitch class, mode). Raises ValueError saying what is allowed."""
    parts = text.replace("_", " ").split(None, 1)
    if not parts:
        raise ValueError("key must look like 'A minor', 'F# dorian', 'Bb' or 'Am'; got an empty string")
    tonic, mode = parts[0], parts[1] if len(parts) > 1 else "major"
    if len(parts) == 1 and len(tonic) > 1 and tonic.endswith("m") and tonic[:-1].upper() in TONICS:
        tonic, mode = tonic[:-1], "minor"
    return parse_key(tonic, mode)


def key_signature(tonic: int, mode: str) -> str:
    """The MIDI key signature of a scale: its tonic, minor when the scale has a minor third."""
    if mode == "chromatic":
        return "C"
    return (_MINOR_NAMES if 3 in SCALES[mode] else _MAJOR_NAMES)[tonic]


def read_clip(path: Path, tracks: tuple[str, ...] = (), drum_tracks: tuple[str, ...] = (),
              bass_below: int = 55) -> LikedClip:
    """Read a MIDI file as a clip, in beats; its length is whole bars covering its notes and track ends.

    With the model's ``tracks``: notes of a track named like a model track go to that track, notes
    on channel 10 to the drums, the rest by register (below ``bass_below``: bass, else the first
    track). Without: every note keeps its MIDI track's name ("track N" when it has none).

    Raises:
        CoevoError: the file is missing, not a MIDI file, or holds no notes.
    """
    try:
        mid = mido.MidiFile(str(path))
    except FileNotFoundError as err:
        raise CoevoError(f"{path} does not exist") from err
    except EOFError as err:
        raise CoevoError(f"{path} is not a readable MIDI file (it ends in the middle of a track)") from err
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise CoevoError(f"{path} is not a readable MIDI file ({err})") from err
    ppq = mid.ticks_per_beat
    drum = drum_tracks[0] if drum_tracks else None
    notes: list[Note] = []
    end_tick = 0
    for number, track in enumerate(mid.tracks, start=1):
        name = next((m.name.strip() for m in track if m.type == "track_name"), "") or f"track {number}"
        tick, sounding = 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[(msg.channel, msg.note)] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on") and (msg.channel, msg.note) in sounding:
                start, velocity = sounding.pop((msg.channel, msg.note))
                if not tracks:
                    target = name
                elif name.lower() in tracks:
                    target = name.lower()
                elif msg.channel == 9 and drum is not None:
                    target = drum
                else:
                    target = "bass" if msg.note < bass_below and "bass" in tracks else tracks[0]
                notes.append(Note(msg.note, start / ppq, max(1, tick - start) / ppq, velocity, target))
        end_tick = max(end_tick, tick)
    if not notes:
        raise CoevoError(f"{path} holds no notes")
    last = max(max(n.end for n in notes), end_tick / ppq)
    bars = max(1, math.ceil(last / BEATS_PER_BAR - 1e-6))
    return LikedClip(path, sorted(notes, key=lambda n: (n.start, n.track, n.pitch)), bars)


class ClipMaker:
    """Batched clip generation with one generator (and an encoder for ``like``, an emotion model to read it)."""

    def __init__(self, generator: Generator, refine_base: RefineSettings, encoder: Encoder | None = None,
                 emotion: EmotionReader | None = None) -> None:
        self.generator = generator
        self.refine_base = refine_base
        self.encoder = encoder
        self.emotion = emotion

    def emotion_of(self, opts: ClipOptions) -> tuple[float, float]:
        """The emotion the clips are made and refined for: the one asked; else, with ``like``, the liked
        clip's (its first 8 bars) as the emotion model reads it; else neutral."""
        if opts.emotion is not None:
            return opts.emotion
        if opts.like is None or self.emotion is None:
            return (0.0, 0.0)
        notes, bars = opts.like.head()
        pitched = [(x.pitch, x.start, x.duration) for x in notes if x.track not in self.generator.contract.drum_tracks]
        return self.emotion.read(pitched, bars * BEATS_PER_BAR) if pitched else (0.0, 0.0)

    def settings(self, opts: ClipOptions) -> RefineSettings:
        """The refinement of these clips: the base settings in the clips' key, for their emotion."""
        valence, arousal = self.emotion_of(opts)
        return replace(self.refine_base, tonic=opts.tonic, mode=opts.mode, valence=valence, arousal=arousal)

    def latents(self, opts: ClipOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """z [n, L], bar_z [n, bars, B], codes [n, C] and emotion [n, 2] of every clip."""
        c = self.generator.contract
        unknown = sorted(set(opts.axes) - set(c.code_names))
        if unknown:
            raise CoevoError(f"unknown axis {', '.join(unknown)}: this model's axes are {', '.join(c.code_names)}")
        rng = np.random.default_rng(opts.seed)
        n, bars = opts.count, opts.bars
        emotion = self.emotion_of(opts)
        if opts.like is None:
            spread = 1.0 if opts.spread is None else opts.spread
            z = rng.standard_normal((n, c.latent_size)) * spread
            steps = rng.standard_normal((n, bars, c.bar_latent_size)) * 0.5
            bar_z = rng.standard_normal((n, 1, c.bar_latent_size)) + np.cumsum(steps, axis=1) - steps[:, :1]
            codes = np.zeros((n, len(c.code_names)))
        else:
            if self.encoder is None:
                raise CoevoError("--like needs an encoder model: none ships with this generator; pass --encoder")
            spread = LIKE_SPREAD if opts.spread is None else opts.spread
            like_notes, like_bars = opts.like.head()
            like_z, like_bar_z, like_codes = self.encoder.encode(like_notes, like_bars)
            tiled = like_bar_z[np.arange(bars) % len(like_bar_z)]  # the liked bars, repeated to the length asked
            z = like_z + spread * rng.standard_normal((n, c.latent_size))
            bar_z = tiled + spread * rng.standard_normal((n, bars, c.bar_latent_size))
            codes = np.repeat(like_codes[None], n, axis=0)
        for i, name in enumerate(c.code_names):
            if name in opts.axes:
                codes[:, i] = opts.axes[name]
        emo = np.repeat(np.array([emotion]), n, axis=0)
        return (z.astype(np.float32), bar_z.astype(np.float32), np.clip(codes, -1, 1).astype(np.float32),
                emo.astype(np.float32))

    def _inputs(self, opts: ClipOptions) -> tuple[np.ndarray, ...]:
        """The generator's inputs, one row per bar of every clip."""
        z, bar_z, codes, emo = self.latents(opts)
        rows = lambda a: np.repeat(a, opts.bars, axis=0)  # noqa: E731
        return rows(z), bar_z.reshape(opts.count * opts.bars, -1), rows(emo), rows(codes)

    def _chunks(self, opts: ClipOptions) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Note activity and velocity [clips, bars, tracks, steps, pitches], a chunk of clips at a time."""
        inputs = self._inputs(opts)
        per = max(1, CHUNK_BARS // opts.bars) * opts.bars
        for a in range(0, opts.count * opts.bars, per):
            roll, velocity = self.generator.run(*(x[a:a + per] for x in inputs))
            yield roll.reshape(-1, opts.bars, *roll.shape[1:]), velocity.reshape(-1, opts.bars, *velocity.shape[1:])

    def run_model(self, opts: ClipOptions) -> tuple[np.ndarray, np.ndarray]:
        """Note activity and velocity [clips, bars, tracks, steps, pitches] of every clip."""
        rolls, velocities = zip(*self._chunks(opts))
        return np.concatenate(rolls), np.concatenate(velocities)

    def to_notes(self, roll: np.ndarray, velocity: np.ndarray, opts: ClipOptions,
                 rng: np.random.Generator | None = None) -> list[list[Note]]:
        """Decode and refine each clip (key lock, note length, velocity, density cap, as the daemon does);
        humanize draws from ``rng``, by default the one ``opts.seed`` gives."""
        c = self.generator.contract
        keep = opts.tracks or c.tracks
        threshold = 0.75 - 0.5 * opts.density  # as the daemon's density control
        settings = self.settings(opts)
        table = decode_rolls(roll, velocity, c.tracks, c.drum_tracks, c.pitch_low, threshold)
        if len(keep) < len(c.tracks):
            table = table.take(np.isin(table.track, [c.tracks.index(t) for t in keep]))
        refined = refine_table(table, c.tracks, c.drum_tracks, float(opts.bars * BEATS_PER_BAR), settings,
                               rng if rng is not None else np.random.default_rng([opts.seed, 1]))
        return refined.to_notes(c.tracks, len(roll))

    def make(self, opts: ClipOptions) -> list[list[Note]]:
        """``opts.count`` refined clips of ``opts.bars`` bars, as notes in beats: model, decoding and
        refinement a chunk at a time (the same clips as all at once, with less memory)."""
        opts = replace(opts, emotion=self.emotion_of(opts))  # a liked clip's emotion is read once, not per chunk
        rng = np.random.default_rng([opts.seed, 1])
        return [clip for roll, velocity in self._chunks(opts) for clip in self.to_notes(roll, velocity, opts, rng)]


def write_clips(clips: list[list[Note]], opts: ClipOptions, out: Path, tracks: tuple[str, ...],
                drum_tracks: tuple[str, ...], channels: Mapping[str, int], force: bool = False,
                mode: str | None = None) -> list[Path]:
    """Write each clip as ``coevo_<seed>_<index>.mid`` (type 1, 480 PPQ, tempo, 4/4, key signature of
    ``opts.tonic`` and ``mode``, by default ``opts.mode``: pass the scale refinement played).

    Raises:
        CoevoError: a file of that name exists and ``force`` is not set (nothing is written then).
    """
    paths = [out / f"coevo_{opts.seed}_{i + 1:03d}.mid" for i in range(len(clips))]
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise CoevoError(f"{len(existing)} clip file(s) exist already, e.g. {existing[0]}; choose another -o "
                         "folder or --seed, or pass --force to overwrite them")
    keep = [t for t in tracks if not opts.tracks or t in opts.tracks]
    key = key_signature(opts.tonic, mode or opts.mode)
    for path, notes in zip(paths, clips):
        write_midi(path, notes, opts.bpm, dict(channels), keep, drum_tracks, key=key,
                   length_beats=float(opts.bars * BEATS_PER_BAR))
    return paths
