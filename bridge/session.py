"""The session folder: every phrase as a standard MIDI file, an fsynced journal, the resolved config.

Layout: ``<data_dir>/sessions/<start time>/`` holding ``config.toml``, ``journal.jsonl`` and
``phrases/<phrase id>.mid``. Nothing else is ever written by the daemon.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import mido

from bridge.errors import CoevoError
from bridge.phrase import BEATS_PER_BAR, Note, Phrase

__all__ = ["PPQ", "Session", "write_midi", "read_journal", "SessionError"]

log = logging.getLogger(__name__)

PPQ = 480
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SessionError(CoevoError, ValueError):
    """A session folder or journal cannot be read; the message says what is wrong."""


def write_midi(path: Path, notes: Iterable[Note], bpm: float, channels: dict[str, int], tracks: Iterable[str],
               drum_tracks: Iterable[str] = (), offset_beats: float = 0.0, key: str | None = None,
               length_beats: float | None = None) -> Path:
    """Write a type-1 MIDI file at 480 PPQ: tempo and 4/4 meta (and a key signature such as 'Am' when
    ``key`` is given), one named track per instrument. With ``length_beats`` every track ends there,
    so a DAW imports a clip of the full length even when its last bar is quiet."""
    mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("track_name", name="coevo", time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=BEATS_PER_BAR, denominator=4, time=0))
    if key is not None:
        meta.append(mido.MetaMessage("key_signature", key=key, time=0))
    end = round(length_beats * PPQ) if length_beats is not None else None
    if end is not None:
        meta.append(mido.MetaMessage("end_of_track", time=end))
    mid.tracks.append(meta)
    notes = list(notes)
    drums = set(drum_tracks)
    for name in tracks:
        channel = (10 if name in drums else channels.get(name, 1)) - 1
        events: list[tuple[int, int, mido.Message]] = []
        for n in notes:
            if n.track != name or n.mute:
                continue
            on = round((n.start + offset_beats) * PPQ)
            off = max(on + 1, round((n.end + offset_beats) * PPQ))
            events.append((on, 1, mido.Message("note_on", channel=channel, note=n.pitch, velocity=n.velocity)))
            events.append((off, 0, mido.Message("note_off", channel=channel, note=n.pitch, velocity=0)))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same tick
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=name, time=0))
        now = 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - now))
            now = tick
        if end is not None:
            track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
        mid.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".mid.tmp")
    mid.save(str(tmp))
    tmp.replace(path)
    return path


class Session:
    """One run of the daemon; appends to its journal and writes its phrases.

    Writing (and fsync, which can take tens of milliseconds) happens on the session's own writer
    thread, so the control thread never waits for the disk; ``close()`` writes everything queued.
    """

    def __init__(self, data_dir: Path, config_toml: str, header: dict[str, Any]) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(data_dir).expanduser() / "sessions"
        path = base / stamp
        n = 1
        while path.exists():
            n += 1
            path = base / f"{stamp}-{n}"
        (path / "phrases").mkdir(parents=True)
        self.path = path
        (path / "config.toml").write_text(config_toml, encoding="utf-8")
        self._journal = open(path / "journal.jsonl", "a", encoding="utf-8")
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write, name="coevo-session", daemon=True)
        self._writer.start()
        self.append({"type": "session", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **header})
        log.info("session folder: %s", path)

    def _write(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # disk full, folder removed...: logged, and the music goes on
                log.exception("session %s: a write failed", self.path)
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def flush(self) -> None:
        """Wait until everything queued so far is on disk."""
        self._jobs.join()

    def _write_line(self, line: str) -> None:
        self._journal.write(line)
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def append(self, record: dict[str, Any]) -> None:
        """Queue one journal line; it is written, flushed and fsynced on the writer thread."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        self._jobs.put(lambda: self._write_line(line))

    def phrase_path(self, phrase_id: str) -> Path:
        if not _SAFE_ID.match(phrase_id):  # ids are ours, but never let one name a path
            raise ValueError(f"phrase id must match {_SAFE_ID.pattern}; got {phrase_id!r}")
        return self.path / "phrases" / f"{phrase_id}.mid"

    def record_phrase(self, phrase: Phrase, bpm: float, channels: dict[str, int], tracks: tuple[str, ...],
                      drum_tracks: tuple[str, ...], write_file: bool) -> None:
        """Queue the phrase's MIDI file (if ``write_file``) and its journal record."""
        if write_file:
            path = self.phrase_path(phrase.id)

            def write_file_job() -> None:
                write_midi(path, phrase.notes, bpm, channels, tracks, drum_tracks)

            self._jobs.put(write_file_job)
        self.append({"type": "phrase", "id": phrase.id, "beat": phrase.start_beat, "bars": phrase.bars,
                     "bpm": round(bpm, 3), "z": [round(x, 6) for x in phrase.z], "codes": phrase.codes,
                     "emotion": list(phrase.emotion), "seed": phrase.seed, "n_notes": len(phrase.notes),
                     **phrase.meta})

    def close(self) -> None:
        """Write everything queued, the end record, and close the journal."""
        if self._writer.is_alive():
            self.append({"type": "end", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            self._jobs.put(None)
            self._writer.join()
            self._journal.close()


def read_journal(session: Path) -> Iterator[dict[str, Any]]:
    """Records of a session's journal; a torn last line (power loss) is skipped with a warning."""
    path = Path(session) / "journal.jsonl"
    if not path.is_file():
        raise SessionError(f"{session} is not a Coevo session folder: {path.name} is missing")
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if i == len(lines):
                log.warning("%s line %d is incomplete and was skipped", path, i)
                return
            raise SessionError(f"{path} line {i} is not JSON: {err}") from err
        if not isinstance(record, dict) or "type" not in record:
            raise SessionError(f"{path} line {i} is not a journal record")
        yield record
