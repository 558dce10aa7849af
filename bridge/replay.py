"""``coevo replay``: generate a session's phrases again from its journal."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from bridge.config import Config
from bridge.daemon import PhraseMaker
from bridge.errors import ModelError
from bridge.generation import Generator, choose_providers
from bridge.phrase import Note
from bridge.session import SessionError, read_journal, write_midi

__all__ = ["ReplayResult", "replay_session"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayResult:
    phrases: int
    folder: Path
    combined: Path


def replay_session(session: Path, model: str | None = None) -> ReplayResult:
    """Re-render every phrase of ``session`` into ``session/replay/`` and ``session/replay.mid``.

    Raises:
        SessionError: not a session folder, or a journal without its session header.
        ModelError: the model is missing or does not fit.
    """
    records = list(read_journal(session))
    if not records or records[0].get("type") != "session":
        raise SessionError(f"{session}/journal.jsonl does not start with a session record")
    header = records[0]
    known = {f.name for f in fields(Config)}
    # a session recorded before mood shaping (or its lift at low arousal) existed played without it
    cfg = Config(**{"mood_shaping": False, "mood_lift": 0, **{k: v for k, v in header["config"].items() if k in known}})
    path = Path(model or header["model"])
    if not path.is_file():
        raise ModelError(f"the journal's model {path} is not there; pass --model FILE")
    generator = Generator(path, choose_providers("cpu"))
    if generator.sha256 != header.get("model_sha256"):
        log.warning("%s is not the model the session used (sha256 differs): the replay will differ", path)
    maker = PhraseMaker(generator, cfg)
    c = generator.contract
    folder = Path(session) / "replay"
    everything: list[Note] = []
    bpm = cfg.bpm
    count = 0
    for rec in records:
        if rec.get("type") != "phrase":
            continue
        phrase = maker.make(rec["id"], rec["beat"], np.asarray(rec["z"]), rec["codes"], tuple(rec["emotion"]),
                            rec["bars"], rec["seed"], rec["threshold"], rec["tonic"], rec["mode"])
        bpm = rec.get("bpm", bpm)
        write_midi(folder / f"{phrase.id}.mid", phrase.notes, bpm, cfg.channels, c.tracks, c.drum_tracks)
        everything += [n.with_(start=n.start + rec["beat"]) for n in phrase.notes]
        count += 1
    first = min((n.start for n in everything), default=0.0)
    offset = -min(first, 0.0)
    combined = write_midi(Path(session) / "replay.mid", everything, bpm, cfg.channels, c.tracks, c.drum_tracks,
                          offset_beats=offset)
    return ReplayResult(count, folder, combined)
