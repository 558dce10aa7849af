"""Training data: POP909 and Groove cut into bars on a 16-step grid; VGMIDI phrases with emotion labels.

Piano roll layout: ``[bars, tracks, 16, pitches]`` uint8 velocity (0 = silent), pitches 24..107.
Tracks: melody (POP909 MELODY), accompaniment (BRIDGE + PIANO without its bass), bass (the lowest
PIANO note sounding at each onset, when below MIDI 55), drums (Groove, reduced to 9 classes, each
written at one General MIDI pitch). POP909 and Groove are independent: each training segment pairs
4 consecutive POP909 bars with 4 consecutive bars of a random Groove beat.

VGMIDI's raw annotations (about 30 listeners' valence/arousal traces per piece, one value per bar)
rate whole pieces bar by bar; ``load_vgmidi_pieces`` gives them for a second, larger evaluation.

Each POP909 bar also carries its annotations (``load_pop909_annotations``): the key at its downbeat
(``key_audio.txt``; POP909's MIDI is aligned to the audio, so its times are read on the same clock) and
the chord at each of its four beats (``chord_midi.txt``, read a 16th note after the beat), as root
pitch class and quality (``CHORD_QUALITIES``; an inversion's bass note is left out; ``N``, no chord,
is root -1).

Preprocessing is cached (``<user cache>/coevo/``), so a second run starts in seconds. The split is
by song and fixed by a seeded permutation of song numbers; it is saved with the cache.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import platformdirs

__all__ = ["PITCH_LOW", "PITCH_HIGH", "STEPS", "TRACKS", "DRUM_CLASSES", "MODES", "CHORD_QUALITIES", "data_root",
           "load_pop909", "load_pop909_annotations", "parse_label", "Annotations", "load_groove", "load_vgmidi",
           "load_vgmidi_pieces", "VGMidi", "RatedPieces", "Split", "roll_from_notes"]

log = logging.getLogger(__name__)

PITCH_LOW, PITCH_HIGH = 24, 107
PITCHES = PITCH_HIGH - PITCH_LOW + 1
STEPS = 16
TRACKS = ("melody", "accompaniment", "bass", "drums")
BASS_BELOW = 55
# General MIDI drum notes -> 9 classes (kick, snare, closed hat, open hat, low/mid/high tom, crash, ride),
# as in the Groove MIDI Dataset paper; each class is written at its first pitch
DRUM_CLASSES: dict[str, tuple[int, ...]] = {
    "kick": (36, 35), "snare": (38, 37, 40), "closed_hat": (42, 22, 44), "open_hat": (46, 26),
    "low_tom": (45, 41, 43), "mid_tom": (48, 47), "high_tom": (50, 48), "crash": (49, 52, 55, 57),
    "ride": (51, 53, 59),
}
_DRUM_MAP = {p: cls[0] for cls in DRUM_CLASSES.values() for p in cls}
MODES = ("maj", "min")  # POP909's key modes
CHORD_QUALITIES = ("maj", "min", "sus2", "min7", "maj7", "sus4", "7", "sus4(b7)", "maj6", "dim", "hdim7", "aug", "min6",
                   "dim7", "minmaj7")  # every chord quality POP909's chord_midi.txt uses
_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
CACHE_VERSION = "4"  # raise when a cached reading changes; 3: VGMIDI pieces cached by a reader that
# turned warnings into errors had lost 23 of 200 pieces, and such a cache outlives the fix; 4: POP909 keys and chords


def data_root() -> Path:
    """``$COEVO_DATA`` if set, else ``../shared/data`` beside the project checkout (see its README)."""
    if os.environ.get("COEVO_DATA"):
        return Path(os.environ["COEVO_DATA"]).expanduser()
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _cached(kind: str, key: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays from the cache file of ``kind`` and ``key``, built and saved on the first call."""
    path = _cache_dir() / f"{kind}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
    if path.is_file():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    arrays = build()
    np.savez_compressed(path, **arrays)
    return arrays


def _parallel(fn: Callable[[str], Any], items: list[str], desc: str, unit: str, workers: int) -> list[Any]:
    from tqdm import tqdm

    with ProcessPoolExecutor(workers) as pool:
        return list(tqdm(pool.map(fn, items), total=len(items), desc=desc, unit=unit))


def _cache_dir() -> Path:
    path = Path(platformdirs.user_cache_dir("coevo", appauthor=False)) / f"data-v{CACHE_VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Split:
    train: list[str]
    valid: list[str]
    test: list[str]


def _split(ids: list[str], seed: int, valid: float = 0.1, test: float = 0.1) -> Split:
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test, n_valid = int(len(ids) * test), int(len(ids) * valid)
    pick = [ids[i] for i in order]
    return Split(sorted(pick[n_test + n_valid:]), sorted(pick[n_test:n_test + n_valid]), sorted(pick[:n_test]))


def _nearest(grid: np.ndarray, t: float) -> int:
    i = int(np.clip(np.searchsorted(grid, t), 1, len(grid) - 1))
    return i if grid[i] - t < t - grid[i - 1] else i - 1


def roll_from_notes(notes: list[tuple[int, float, float, int]], grid: np.ndarray) -> np.ndarray:
    """Place (pitch, start_s, end_s, velocity) on a step grid of times ``grid`` (len steps + 1): [steps, pitches]."""
    steps = len(grid) - 1
    roll = np.zeros((steps, PITCHES), dtype=np.uint8)
    for pitch, start, end, vel in notes:
        if not PITCH_LOW <= pitch <= PITCH_HIGH:
            continue
        a = _nearest(grid, start)  # onset and end snap to the nearer grid line
        if a >= steps:
            continue
        b = int(np.clip(_nearest(grid, end), a + 1, steps))
        roll[a:b, pitch - PITCH_LOW] = np.maximum(roll[a:b, pitch - PITCH_LOW], vel)
    return roll


def _step_grid(beats: np.ndarray) -> np.ndarray:
    """Four steps per beat between consecutive beat times (one more point than steps)."""
    points = [np.linspace(beats[i], beats[i + 1], 5)[:-1] for i in range(len(beats) - 1)]
    return np.concatenate(points + [beats[-1:]])


def parse_label(label: str, vocabulary: tuple[str, ...]) -> tuple[int, int]:
    """A POP909 key or chord label (``Gb:maj``, ``C#:min7/b3``, ``N``) as (root pitch class, index of its
    quality in ``vocabulary``); ``N`` is (-1, -1)."""
    if label == "N":
        return -1, -1
    root, _, quality = label.partition(":")
    quality = quality.split("/")[0] or "maj"  # a bare root is a major chord
    if not root or root[0] not in _NATURALS or quality not in vocabulary or root[1:].strip("#b") or len(root) > 2:
        raise ValueError(f"expected a label like 'Gb:maj' with a quality among {vocabulary}, got {label!r}")
    shift = {"#": 1, "b": -1, "": 0}[root[1:]]
    return (_NATURALS[root[0]] + shift) % 12, vocabulary.index(quality)


def _bar_downbeats(beats: np.ndarray) -> list[int]:
    """Indices of the beats that start a whole 4/4 bar (4 beats to the next downbeat, all on the step grid)."""
    down = np.flatnonzero(beats[:, 2] == 1.0)
    if len(down) < 5:
        return []
    return [int(d) for d, e in zip(down[:-1], down[1:]) if e - d == 4 and d + 4 <= len(beats) - 1]


def _label_at(table: list[tuple[float, float, str]], t: float, vocabulary: tuple[str, ...]) -> tuple[int, int]:
    """The label of the (start, end, label) row sounding at time ``t``; (-1, -1) where none does."""
    for start, end, label in table:
        if start <= t < end:
            return parse_label(label, vocabulary)
    return -1, -1


def _read_labels(path: Path) -> list[tuple[float, float, str]]:
    rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(float(r[0]), float(r[1]), r[2]) for r in rows]


def _pop909_annotations(path: Path, beats: np.ndarray, downbeats: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Key [bars, 2] and chords [bars, 4, 2] (root, quality index) of a song's bars; -1 where unannotated."""
    keys, chords = _read_labels(path / "key_audio.txt"), _read_labels(path / "chord_midi.txt")
    times = beats[:, 0]
    key = np.array([_label_at(keys, times[d], MODES) for d in downbeats], dtype=np.int8).reshape(-1, 2)
    at = [[times[d + b] + (times[d + b + 1] - times[d + b]) / 4 for b in range(4)] for d in downbeats]
    chord = np.array([[_label_at(chords, t, CHORD_QUALITIES) for t in bar] for bar in at], dtype=np.int8)
    return key, chord.reshape(-1, 4, 2)


def _pop909_song(folder: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray] | None:
    """A song's bars [bars, 3, 16, pitches], keys [bars, 2] and chords [bars, 4, 2]."""
    import pretty_midi

    path = Path(folder)
    song = path.name
    beats = np.loadtxt(path / "beat_midi.txt")
    bar_starts = _bar_downbeats(beats)
    if not bar_starts:
        return None
    pm = pretty_midi.PrettyMIDI(str(path / f"{song}.mid"))
    tracks = {i.name.upper(): [(n.pitch, n.start, n.end, n.velocity) for n in i.notes] for i in pm.instruments}
    times = beats[:, 0]
    grid = _step_grid(times)
    melody = roll_from_notes(tracks.get("MELODY", []), grid)
    bridge = roll_from_notes(tracks.get("BRIDGE", []), grid)
    piano_notes = tracks.get("PIANO", [])
    piano = roll_from_notes(piano_notes, grid)
    bass = np.zeros_like(piano)
    # the lowest piano note sounding at each onset step is the bass, when it is low enough
    onsets = np.zeros_like(piano, dtype=bool)
    onsets[1:] = (piano[1:] > 0) & (piano[:-1] == 0)
    onsets[0] = piano[0] > 0
    for s in np.flatnonzero(onsets.any(axis=1)):
        sounding = np.flatnonzero(piano[s] > 0)
        low = sounding[0]
        if onsets[s, low] and low + PITCH_LOW < BASS_BELOW:
            end = s
            while end < len(piano) and piano[end, low] > 0:
                end += 1
            bass[s:end, low] = piano[s:end, low]
            piano[s:end, low] = 0
    accomp = np.maximum(bridge, piano)
    full = np.stack([melody, accomp, bass], axis=0)  # [3, steps, pitches]
    bars = np.stack([full[:, d * 4:d * 4 + STEPS] for d in bar_starts])  # [bars, 3, 16, pitches]
    return song, bars, *_pop909_annotations(path, beats, bar_starts)


@dataclass(frozen=True)
class Annotations:
    """A POP909 song's annotations, bar by bar as its rolls: ``key`` [bars, 2] (tonic pitch class, index in
    ``MODES``) and ``chords`` [bars, 4, 2] (root pitch class, index in ``CHORD_QUALITIES``, at each beat);
    -1 where unannotated."""

    key: np.ndarray
    chords: np.ndarray


_KEY, _CHORDS = ":key", ":chords"  # suffixes of the annotation arrays in the POP909 cache


def _pop909_arrays(limit: int | None, workers: int) -> dict[str, np.ndarray]:
    """The POP909 cache: each song's bars under its name, its annotations under name + _KEY / _CHORDS."""
    root = data_root() / "pop909" / "POP909"
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit())[:limit]

    def build() -> dict[str, np.ndarray]:
        results = [r for r in _parallel(_pop909_song, [str(f) for f in folders], "POP909", "song", workers) if r]
        if len(results) < len(folders):
            log.warning("POP909: %d of %d songs have no complete 4/4 bar and were left out",
                        len(folders) - len(results), len(folders))
        arrays = {}
        for song, bars, key, chords in results:
            arrays.update({song: bars, song + _KEY: key, song + _CHORDS: chords})
        return arrays

    return _cached("pop909", f"{[f.name for f in folders]}", build)


def load_pop909(seed: int = 909, limit: int | None = None, workers: int = 2) -> tuple[dict[str, np.ndarray], Split]:
    """Bars of every POP909 song (cached) and the by-song split."""
    songs = {k: v for k, v in _pop909_arrays(limit, workers).items() if ":" not in k}
    split = _split(sorted(songs), seed)
    (_cache_dir() / f"pop909-split-{seed}-{len(songs)}.json").write_text(json.dumps(split.__dict__, indent=1))
    return songs, split


def load_pop909_annotations(limit: int | None = None, workers: int = 2) -> dict[str, Annotations]:
    """Each POP909 song's key and chords, bar by bar as ``load_pop909``'s rolls (the same cache)."""
    arrays = _pop909_arrays(limit, workers)
    return {k: Annotations(arrays[k + _KEY], arrays[k + _CHORDS]) for k in arrays if ":" not in k}


def _groove_file(path: str) -> np.ndarray | None:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(path)
    beats = pm.get_beats()
    if len(beats) < 9:
        return None
    grid = _step_grid(beats)
    notes = [(_DRUM_MAP.get(n.pitch, -1), n.start, n.start + 0.01, n.velocity)
             for i in pm.instruments for n in i.notes]
    roll = roll_from_notes([n for n in notes if n[0] > 0], grid)
    n_bars = roll.shape[0] // STEPS
    return roll[: n_bars * STEPS].reshape(n_bars, STEPS, PITCHES)


def load_groove(limit: int | None = None, workers: int = 2) -> dict[str, dict[str, np.ndarray] | list[str]]:
    """4/4 beats of the Groove MIDI Dataset as drum bars (cached), and the dataset's own split of them:
    ``split`` (train), ``valid``, ``test``."""
    root = data_root() / "groove"
    with open(root / "info.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["time_signature"] == "4-4" and r["beat_type"] == "beat"][:limit]

    def build() -> dict[str, np.ndarray]:
        results = _parallel(_groove_file, [str(root / r["midi_filename"]) for r in rows], "Groove", "file", workers)
        return {r["id"].replace("/", "_"): bars for r, bars in zip(rows, results) if bars is not None and len(bars) >= 4}

    beats = _cached("groove", json.dumps([r["midi_filename"] for r in rows]), build)
    split = {r["id"].replace("/", "_"): r["split"] for r in rows}
    return {"bars": beats, "split": [k for k in beats if split.get(k) == "train"],
            "valid": [k for k in beats if split.get(k) == "validation"],
            "test": [k for k in beats if split.get(k) == "test"]}


def _vgmidi_phrase(path: str) -> tuple[np.ndarray, float] | None:
    import pretty_midi

    try:
        pm = pretty_midi.PrettyMIDI(path)
    except Exception:  # a few files of any corpus are broken; they are counted and left out
        return None
    beats = pm.get_beats()
    if len(beats) < 5:
        return None
    grid = _step_grid(beats)
    notes = [(n.pitch, n.start, n.end, n.velocity) for i in pm.instruments if not i.is_drum for n in i.notes]
    return roll_from_notes(notes, grid), float(60.0 / np.median(np.diff(beats)))


@dataclass
class VGMidi:
    """VGMIDI labelled phrases: rolls [steps, pitches] (one track), labels [n, 2] (valence, arousal),
    piece names, tempo (BPM) of each phrase, and the by-piece split."""

    rolls: list[np.ndarray]
    labels: np.ndarray
    pieces: list[str]
    tempos: np.ndarray
    split: Split

    def indices(self, part: str) -> list[int]:
        """Positions of the phrases whose piece is in the split's ``part`` ('train', 'valid' or 'test')."""
        chosen = set(getattr(self.split, part))
        return [i for i, p in enumerate(self.pieces) if p in chosen]


def load_vgmidi(seed: int = 204) -> VGMidi:
    """The labelled VGMIDI phrases, split by piece."""
    root = data_root() / "vgmidi"
    with open(root / "labelled" / "vgmidi_labelled.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rolls, labels, pieces, tempos = [], [], [], []
    for r in rows:
        phrase = _vgmidi_phrase(str(root / r["midi"]))
        if phrase is None:
            log.warning("skipped unreadable VGMIDI phrase %s", r["midi"])
            continue
        rolls.append(phrase[0])
        tempos.append(phrase[1])
        labels.append((float(r["valence"]), float(r["arousal"])))
        pieces.append(f"{r['game']}/{r['piece']}")
    split = _split(sorted(set(pieces)), seed, valid=0.15, test=0.2)
    return VGMidi(rolls, np.array(labels, dtype=np.float32), pieces, np.array(tempos), split)


@dataclass
class RatedPieces:
    """Whole VGMIDI pieces with their raw ratings: rolls [steps, pitches], ratings [steps, 2] (each step
    gets the listeners' mean valence and arousal of the bar it falls in), piece names (as ``VGMidi.pieces``)
    and tempos (BPM)."""

    rolls: list[np.ndarray]
    ratings: list[np.ndarray]
    pieces: list[str]
    tempos: np.ndarray


def _rated_piece(job: tuple[str, list[list[list[float]]], int]) -> tuple[np.ndarray, np.ndarray, float] | None:
    """A piece's roll, per-step mean ratings and tempo from (MIDI path, traces [listener][2][bar], bars)."""
    import pretty_midi

    path, traces, bars = job
    try:
        with warnings.catch_warnings():  # 23 pieces keep their tempo on a later track, which pretty_midi warns of
            # and skips (it reads tempo from the first track); ignored here, so that a caller who turns warnings
            # into errors (pytest does) reads the same 200 pieces as everyone else
            warnings.filterwarnings("ignore", "Tempo, Key or Time signature change events", RuntimeWarning)
            pm = pretty_midi.PrettyMIDI(path)
    except Exception:  # a broken file is counted and left out
        return None
    beats = pm.get_beats()
    usable = [t for t in traces if len(t[0]) >= bars and len(t[1]) >= bars]
    if len(beats) < 5 or not usable:
        return None
    grid = _step_grid(beats)
    notes = [(n.pitch, n.start, n.end, n.velocity) for i in pm.instruments if not i.is_drum for n in i.notes]
    mean = np.array([[t[0][:bars], t[1][:bars]] for t in usable]).mean(axis=0).T  # [bars, 2]
    # the annotation tool's bars split the piece's duration evenly (its bar counts do not always
    # follow the file's meter), so each step takes the bar of its time
    bar_of_step = np.clip((grid[:-1] / pm.get_end_time() * bars).astype(int), 0, bars - 1)
    return roll_from_notes(notes, grid), mean[bar_of_step].astype(np.float32), float(60.0 / np.median(np.diff(beats)))


def load_vgmidi_pieces(workers: int = 2) -> RatedPieces:
    """The 200 labelled VGMIDI pieces whole, with their listeners' per-bar ratings (cached); split them
    with ``load_vgmidi().split``."""
    root = data_root() / "vgmidi" / "labelled"
    with open(root / "vgmidi_labelled.csv", encoding="utf-8") as fh:  # phrase files are named <piece file>_<n>.mid
        piece_of = {Path(r["midi"]).name.rsplit("_", 1)[0] + ".mid": f"{r['game']}/{r['piece']}" for r in csv.DictReader(fh)}
    jobs, names = [], []
    for path in sorted((root / "annotations").glob("vgmidi_raw_*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        traces: dict[str, list[list[list[float]]]] = {}
        for key, a in raw["annotations"].items():  # keys are <piece id>_<listener>
            traces.setdefault(key.rsplit("_", 1)[0], []).append([a["valence"], a["arousal"]])
        for pid, piece in raw["pieces"].items():
            if piece["midi"] in piece_of and pid in traces:
                jobs.append((str(root / "midi" / piece["midi"]), traces[pid], int(piece["measures"])))
                names.append(piece_of[piece["midi"]])

    def build() -> dict[str, np.ndarray]:
        results = _parallel(_rated_piece, jobs, "VGMIDI pieces", "piece", workers)
        kept = [(name, r) for name, r in zip(names, results) if r is not None]
        if len(kept) < len(jobs):
            log.warning("VGMIDI: %d of %d rated pieces could not be read and were left out", len(jobs) - len(kept), len(jobs))
        lengths = np.array([len(r[0]) for _, r in kept])
        return {"names": np.array([name for name, _ in kept]), "lengths": lengths,
                "rolls": np.concatenate([r[0] for _, r in kept]), "ratings": np.concatenate([r[1] for _, r in kept]),
                "tempos": np.array([r[2] for _, r in kept])}

    arrays = _cached("vgmidi-pieces", json.dumps([j[0] for j in jobs]), build)
    cuts = np.cumsum(arrays["lengths"])[:-1]
    return RatedPieces(np.split(arrays["rolls"], cuts), np.split(arrays["ratings"], cuts),
                       [str(n) for n in arrays["names"]], arrays["tempos"])
