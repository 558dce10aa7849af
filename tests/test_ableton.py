"""Clips into Ableton Live through AbletonOSC, against a double that follows its wire contract exactly
(UDP 11000 in, replies to the sender's IP on 11001, 100 ms batches, /live/error strings)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pretty_midi
import pytest

from bridge.cli import main
from tests.abletonosc_double import AbletonOSCDouble, FakeClip
from tests.test_daemon_osc import target


@pytest.fixture
def live() -> Iterator[AbletonOSCDouble]:
    with AbletonOSCDouble(tempo=97.5) as double:
        yield double


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clips")
    assert main(["generate", "-n", "1", "--bars", "8", "--bpm", "90", "--seed", "3", "--density", "1",
                 "-o", str(out)]) == 0
    return out / "coevo_3_001.mid"


def _beats(path: Path, part: str) -> list[tuple[int, float, float, int]]:
    """The part's notes as pretty_midi reads the file, in beats."""
    pm = pretty_midi.PrettyMIDI(str(path))
    per_beat = 60.0 / pm.get_tempo_changes()[1][0]
    inst = next(i for i in pm.instruments if i.name == part)
    return sorted((n.pitch, round(n.start / per_beat, 4), round((n.end - n.start) / per_beat, 4), n.velocity)
                  for n in inst.notes)


def _held(clip: FakeClip) -> list[tuple[int, float, float, int]]:
    return sorted((p, round(s, 4), round(d, 4), v) for p, s, d, v, _ in clip.notes)


def test_push_writes_the_clips_notes_in_beats(live: AbletonOSCDouble, clip: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "push", str(clip), "--track", "1", "--slot", "2", "--name", "verse",
                 "--parts", "drums", "--fire"]) == 0
    out = capsys.readouterr().out
    live.wait_idle()  # fire is the last message and needs no answer
    held = live.clips[(1, 2)]
    want = _beats(clip, "drums")
    assert len(want) > 64  # so the notes needed more than one message
    assert _held(held) == want
    assert held.length == 32.0 and held.name == "verse" and held.fired == 1
    chunks = [args for path, args in live.received if path == "/live/clip/add/notes"]
    assert len(chunks) > 1 and all(a[:2] == (1, 2) and len(a[2:]) % 5 == 0 and len(a[2:]) // 5 <= 64 for a in chunks)
    assert "slot 2" in out and "97.5 BPM" in out  # Live's tempo, read with /live/song/get/tempo


def test_push_takes_the_first_empty_slot_and_never_overwrites(live: AbletonOSCDouble, clip: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "push", str(clip), "--track", "0", "--parts", "melody"]) == 0
    assert main(["live", "push", str(clip), "--track", "0", "--parts", "bass"]) == 0
    assert _held(live.clips[(0, 0)]) == _beats(clip, "melody")
    assert _held(live.clips[(0, 1)]) == _beats(clip, "bass")
    capsys.readouterr()
    assert main(["live", "push", str(clip), "--track", "0", "--slot", "0", "--parts", "bass"]) == 2
    assert "already holds a clip" in capsys.readouterr().err
    assert _held(live.clips[(0, 0)]) == _beats(clip, "melody")  # unchanged
    assert main(["live", "push", str(clip), "--track", "0", "--slot", "0", "--parts", "bass", "--replace"]) == 0
    assert _held(live.clips[(0, 0)]) == _beats(clip, "bass")


def test_live_errors_are_failures_with_a_clear_message(live: AbletonOSCDouble, clip: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "push", str(clip), "--track", "9", "--slot", "0"]) == 2
    err = capsys.readouterr().err
    assert "Live refused the request" in err and "Index out of range" in err
    assert live.clips == {}


def test_no_live_means_a_timeout_that_says_what_to_check(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "push", str(clip), "--track", "0", "--timeout", "0.3"]) == 2
    assert "AbletonOSC control surface" in capsys.readouterr().err


def test_unknown_part_is_refused(live: AbletonOSCDouble, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "push", str(clip), "--track", "0", "--parts", "kazoo"]) == 2
    assert "has no part kazoo" in capsys.readouterr().err and live.clips == {}


def test_daemon_pushes_the_last_phrase_on_request(make_daemon, peer, live: AbletonOSCDouble) -> None:
    from bridge.ableton import one_instrument

    daemon, events = make_daemon()
    events.wait_for("/coevo/phrase/begin", timeout=5)
    peer.send(target(daemon), "/coevo/clip/push", 2, 3)
    pid, track, slot, n = events.wait_for("/coevo/clip/pushed", timeout=5)
    assert (track, slot) == (2, 3)
    phrase = daemon.recent[str(pid)]
    want = sorted((x.pitch, round(x.start, 4), round(x.duration, 4), x.velocity) for x in one_instrument(phrase.notes))
    assert _held(live.clips[(2, 3)]) == want and n == len(want)
    peer.send(target(daemon), "/coevo/clip/push", 2, 3)  # the slot is taken now: an error, the clip unchanged
    code, detail = events.wait_for("/coevo/error", timeout=5, where=lambda a: a[0] == "ableton")
    assert "already holds a clip" in str(detail)
    assert _held(live.clips[(2, 3)]) == want


def test_daemon_pushes_every_phrase_and_follows_lives_tempo(make_daemon, live: AbletonOSCDouble) -> None:
    daemon, events = make_daemon(ableton_push="every", ableton_track=1, ableton_tempo=True)
    first = events.wait_for("/coevo/clip/pushed", timeout=8)
    second = events.wait_for("/coevo/clip/pushed", timeout=8)
    assert (first[1], first[2]) == (1, 0) and (second[1], second[2]) == (1, 1)
    assert live.clips[(1, 0)].name == f"coevo {first[0]}"
    assert daemon.transport.bpm == pytest.approx(97.5)


def test_daemon_pushes_each_liked_phrase(make_daemon, peer, live: AbletonOSCDouble) -> None:
    daemon, events = make_daemon(ableton_push="liked", ableton_track=3, apply="now")
    pid = events.wait_for("/coevo/phrase/begin", timeout=5)[0]
    time.sleep(0.5)
    assert live.clips == {}  # nothing is pushed before a like
    peer.send(target(daemon), "/coevo/feedback/like", pid)
    pushed = events.wait_for("/coevo/clip/pushed", timeout=5)
    assert pushed[0] == pid and (pushed[1], pushed[2]) == (3, 0)
    assert live.clips[(3, 0)].name == f"coevo {pid}"
