import json
from pathlib import Path

import pretty_midi
import pytest

from bridge.phrase import Note
from bridge.session import PPQ, Session, SessionError, read_journal, write_midi


def test_midi_file_reads_back_with_pretty_midi(tmp_path: Path) -> None:
    notes = [Note(60, 0.0, 1.0, 100, "melody"), Note(64, 1.5, 0.5, 80, "melody"), Note(36, 0.0, 0.25, 110, "drums"),
             Note(40, 2.0, 2.0, 70, "bass"), Note(41, 3.0, 1.0, 70, "bass", mute=True)]
    path = write_midi(tmp_path / "p.mid", notes, 96.0, {"melody": 1, "bass": 3}, ("melody", "bass", "drums"), ("drums",))
    pm = pretty_midi.PrettyMIDI(str(path))
    assert pm.resolution == PPQ
    assert pm.get_tempo_changes()[1][0] == pytest.approx(96.0)
    assert [(ts.numerator, ts.denominator) for ts in pm.time_signature_changes] == [(4, 4)]
    by_name = {i.name: i for i in pm.instruments}
    assert set(by_name) == {"melody", "bass", "drums"} and by_name["drums"].is_drum
    spb = 60.0 / 96.0
    got = [(n.pitch, round(n.start / spb, 3), round((n.end - n.start) / spb, 3), n.velocity) for n in by_name["melody"].notes]
    assert got == [(60, 0.0, 1.0, 100), (64, 1.5, 0.5, 80)]
    assert [n.pitch for n in by_name["bass"].notes] == [40]  # muted notes are not written


def test_journal_lines_are_durable_and_torn_tail_is_skipped(tmp_path: Path) -> None:
    s = Session(tmp_path, "bpm = 120.0\n", {"model": "m.onnx"})
    s.append({"type": "feedback", "phrase": "p00001", "like": True})
    s.flush()
    journal = s.path / "journal.jsonl"
    lines = journal.read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["session", "feedback"]  # on disk before close
    s.close()
    with open(journal, "a") as fh:
        fh.write('{"type": "phr')
    assert [r["type"] for r in read_journal(s.path)] == ["session", "feedback", "end"]
    with pytest.raises(ValueError, match="phrase id must match"):
        s.phrase_path("../../etc/passwd")


def test_read_journal_refuses_a_folder_that_is_no_session(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="not a Coevo session folder"):
        list(read_journal(tmp_path))
