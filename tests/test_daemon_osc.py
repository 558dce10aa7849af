"""The daemon over real UDP sockets (MIDI off): the OSC contract, feedback, bad input, session files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from bridge.osc_io import Command
from bridge.osc_map import MAX_SUBSCRIBED, MOODS
from bridge.refine import scale_pitch_classes
from bridge.replay import replay_session
from bridge.session import read_journal
from tests.conftest import OscPeer


def target(daemon) -> tuple[str, int]:
    return ("127.0.0.1", daemon.osc.address[1])


def test_runs_without_midi_and_says_why(make_daemon) -> None:
    daemon, peer = make_daemon()
    assert not daemon.midi.enabled
    assert "not usable" in daemon.midi.reason
    args = peer.wait_for("/coevo/phrase/begin", timeout=5)
    assert args[1] == 8.0  # two bars of 4/4


def test_ping_is_answered_to_the_sender(make_daemon, peer) -> None:
    daemon, _ = make_daemon()
    peer.send(target(daemon), "/coevo/ping", "tok-1")
    assert peer.wait_for("/coevo/pong") == ("tok-1",)


def test_phrase_events_carry_every_note_in_chunks_of_64(make_daemon) -> None:
    daemon, events = make_daemon(density=1.0, density_cap=0, min_note_beats=0.0)
    begin = events.wait_for("/coevo/phrase/begin", timeout=5)
    pid, _, n_notes = begin
    chunks = []
    for path, args in events.receive(1.0):
        if path == "/coevo/phrase/notes" and args[0] == pid:
            chunks.append(args)
        if path == "/coevo/phrase/end" and args[0] == pid:
            break
    groups = [c[2:] for c in chunks]
    assert all(len(g) % 5 == 0 and len(g) // 5 <= 64 for g in groups)
    assert [c[1] for c in chunks] == list(range(len(chunks)))
    assert sum(len(g) // 5 for g in groups) == n_notes and n_notes > 64
    phrase = daemon.recent[pid]
    sent = [tuple(g[i:i + 5]) for g in groups for i in range(0, len(g), 5)]
    assert [(n.pitch, n.velocity) for n in phrase.notes] == [(s[0], s[3]) for s in sent]


def test_mood_changes_state_at_the_next_bar_line(make_daemon, peer) -> None:
    daemon, events = make_daemon()
    events.wait_for("/coevo/state", timeout=5)
    peer.send(target(daemon), "/coevo/mood", "sad")
    assert daemon.state.values.valence == 0.0  # waits for the bar line
    state = events.wait_for("/coevo/state", timeout=3, where=lambda a: a[2] != 0.0)
    assert (state[2], state[3]) == pytest.approx(MOODS["sad"])
    assert (state[4], state[5], state[8]) == ("C", "major", "harmonic_minor")  # what is set, and what plays


def test_a_sad_mood_is_played_in_harmonic_minor_in_half_time_an_octave_up(make_daemon, peer) -> None:
    daemon, events = make_daemon(apply="now", density=0.8)
    peer.send(target(daemon), "/coevo/mood", "sad")
    begin = events.wait_for("/coevo/phrase/begin", timeout=8,
                            where=lambda a: a[0] in daemon.recent and daemon.recent[a[0]].emotion == MOODS["sad"])
    phrase = daemon.recent[begin[0]]
    pitched = [n for n in phrase.notes if n.track != "drums"]
    assert phrase.meta["played_mode"] == "harmonic_minor" and phrase.meta["half_time"] and pitched
    assert phrase.meta["lift"] == 12
    assert {n.pitch % 12 for n in pitched} <= scale_pitch_classes(0, "harmonic_minor")
    assert all(abs(n.start * 2 - round(n.start * 2)) < 1e-9 for n in phrase.notes)  # on the eighth-note grid


def test_bad_input_gets_an_error_and_changes_nothing(make_daemon, peer) -> None:
    daemon, events = make_daemon(apply="now")
    events.wait_for("/coevo/phrase/begin", timeout=5)
    before = daemon.state.values
    t = target(daemon)
    peer.send_raw(t, b"\x00\xffnot osc at all")
    peer.send_raw(t, b"/coevo/emotion\x00\x00,ff\x00\x00\x00")  # truncated arguments
    peer.send(t, "/coevo/emotion", 2.0, 0.0)
    peer.send(t, "/coevo/nudge", "colour", 1.0)
    peer.send(t, "/coevo/snapshot/recall", "nothing")
    peer.send(t, "/coevo/key", "H", "major")
    peer.send(t, "/coevo/hack", "../../x")
    peer.send(t, "/coevo/undo")  # nothing changed yet
    peer.send(t, "/coevo/learn", "colour")
    peer.send(t, "/coevo/clip/push", 0, 0, "no-such-phrase")
    codes = [a[0] for p, a in peer.receive(1.0) if p == "/coevo/error"]
    # one error per bad message (map checks answer on the OSC thread, state checks on the control thread)
    assert sorted(codes) == sorted(["malformed", "malformed", "out_of_range", "unknown_axis", "unknown_snapshot",
                                    "out_of_range", "unknown_address", "nothing_to_undo", "unknown_axis",
                                    "unknown_phrase"])
    assert daemon.state.values == before
    made = daemon.counter
    deadline = time.monotonic() + 6
    while daemon.counter == made and time.monotonic() < deadline:  # phrases keep coming
        time.sleep(0.05)
    assert daemon.counter > made


def test_like_moves_z_toward_that_phrase(make_daemon, peer) -> None:
    daemon, events = make_daemon(apply="now", alpha=0.5)
    pid = events.wait_for("/coevo/phrase/begin", timeout=5)[0]
    phrase = daemon.recent[pid]
    z0 = np.asarray(daemon.state.values.z)
    peer.send(target(daemon), "/coevo/feedback/like", pid)
    deadline = time.monotonic() + 2
    while np.array_equal(daemon.state.values.z, z0) and time.monotonic() < deadline:
        time.sleep(0.01)
    np.testing.assert_allclose(daemon.state.values.z, z0 + 0.5 * (np.asarray(phrase.z) - z0), rtol=1e-9)
    peer.send(target(daemon), "/coevo/undo")
    deadline = time.monotonic() + 2
    while not np.array_equal(daemon.state.values.z, z0) and time.monotonic() < deadline:
        time.sleep(0.01)
    np.testing.assert_array_equal(daemon.state.values.z, z0)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_performers_notes_pull_z_toward_what_the_encoder_reads(make_daemon, peer, weight: float) -> None:
    """With the shipped generator and encoder: notes played on /coevo/note move z at the next bar line."""
    from models.shipped import shipped_model

    daemon, events = make_daemon(model=str(shipped_model("generator")), emotion_weight=0.0, answer_weight=weight)
    assert daemon.encoder is not None
    events.wait_for("/coevo/state", timeout=5)
    z0 = np.asarray(daemon.state.values.z)
    for pitch in (60, 64, 67, 72):
        peer.send(target(daemon), "/coevo/note", pitch, 100)
    time.sleep(0.3)
    for pitch in (60, 64, 67, 72):
        peer.send(target(daemon), "/coevo/note", pitch, 0)
    events.wait_for("/coevo/state", timeout=3)
    events.wait_for("/coevo/state", timeout=3)
    z1 = np.asarray(daemon.state.values.z)
    if weight == 0.0:
        np.testing.assert_array_equal(z1, z0)
    else:
        assert np.linalg.norm(z1 - z0) > 0.1  # z jumped to the encoder's reading of the chord


def test_a_performer_note_falls_on_the_beat_it_was_played_not_when_it_was_handled(make_daemon) -> None:
    """The control thread may be busy making a phrase when a note arrives: the note keeps its arrival
    time (OSC: when the datagram came; MIDI: the driver's time)."""
    daemon, _ = make_daemon(bpm=120.0, apply="now")
    played = time.monotonic() - 1.0  # a second ago, for half a second
    daemon.queue.put(Command("/coevo/note", (61, 100), None, played))
    daemon.queue.put(Command("/coevo/note", (61, 0), None, played + 0.5))
    deadline = time.monotonic() + 3
    while not any(p == 61 and end is not None for p, _, end in daemon.performer) and time.monotonic() < deadline:
        time.sleep(0.01)
    start, end = next((s, e) for p, s, e in daemon.performer if p == 61)
    assert start == pytest.approx(daemon.transport.beat_at(played), abs=1e-9)
    assert end - start == pytest.approx(1.0, abs=1e-9)  # half a second at 120 BPM


def test_precision_fp16_runs_the_shipped_fp16_variants(make_daemon) -> None:
    """On this CPU too: the fp16 generator, emotion model and encoder load, fit each other and make phrases."""
    daemon, events = make_daemon(model="", emotion_model="", precision="fp16")
    assert daemon.precision == "fp16"
    assert daemon.generator.path.name == "generator.fp16.onnx"
    assert daemon.emotion is not None and daemon.emotion.path.name == "emotion.fp16.onnx"
    assert daemon.encoder is not None and daemon.encoder.path.name == "encoder.fp16.onnx"
    begin = events.wait_for("/coevo/phrase/begin", timeout=5)
    assert begin[2] > 0  # notes


def test_shipped_encoder_is_left_out_for_a_generator_it_does_not_invert(make_daemon) -> None:
    daemon, _ = make_daemon()  # an untrained generator: the shipped encoder was not trained for it
    assert daemon.encoder is None


def test_feedback_replaces_the_upcoming_phrase(make_daemon, peer) -> None:
    daemon, events = make_daemon(apply="now", bpm=60.0)
    first = events.wait_for("/coevo/phrase/begin", timeout=5)[0]
    peer.send(target(daemon), "/coevo/nudge", "register", 1.0)
    newer = events.wait_for("/coevo/phrase/begin", timeout=3)[0]
    assert newer != first
    assert daemon.recent[newer].start_beat == daemon.recent[first].start_beat  # same slot, new phrase
    assert daemon.recent[newer].codes["register"] == 0.5
    assert len(daemon.ready_latency) >= 1


def test_hours_of_feedback_hold_a_bounded_number_of_phrases(make_daemon, peer) -> None:
    """Without visuals no score of played notes is kept, and the recent phrases stay capped, so a
    daemon left running for days under steady feedback does not grow."""
    daemon, events = make_daemon(apply="now", bpm=400.0)
    assert daemon.score is None
    for i in range(120):
        peer.send(target(daemon), "/coevo/nudge", "register", 0.01 * (-1) ** i)
        time.sleep(0.02)
    events.wait_for("/coevo/phrase/begin", timeout=3)
    assert daemon.counter > 64 and len(daemon.recent) <= 64 and len(daemon.upcoming) <= 8


def test_subscribers_get_events_until_they_unsubscribe_and_their_number_is_capped(make_daemon, peer) -> None:
    daemon, events = make_daemon(apply="now")
    t = target(daemon)
    listener = OscPeer()
    others = [OscPeer() for _ in range(MAX_SUBSCRIBED)]
    try:
        peer.send(t, "/coevo/subscribe", listener.port)
        listener.wait_for("/coevo/phrase/begin", timeout=5)
        peer.send(t, "/coevo/unsubscribe", listener.port)
        peer.send(t, "/coevo/generate")
        events.wait_for("/coevo/phrase/begin", timeout=5)  # the configured target still gets them
        time.sleep(0.3)
        listener.receive(0.5)  # anything sent before the unsubscribe arrived
        peer.send(t, "/coevo/generate")
        events.wait_for("/coevo/phrase/begin", timeout=5)
        assert not [m for m in listener.receive(1.0) if m[0] == "/coevo/phrase/begin"]
        peer.send(t, "/coevo/unsubscribe", listener.port)
        assert peer.wait_for("/coevo/error")[0] == "not_subscribed"

        for other in others[1:]:  # 15 subscriptions, then the listener's: the cap
            peer.send(t, "/coevo/subscribe", other.port)
        peer.send(t, "/coevo/subscribe", listener.port)
        peer.send(t, "/coevo/subscribe", others[0].port)  # one more: the oldest, others[1], goes
        deadline = time.monotonic() + 3
        while ("127.0.0.1", others[0].port) not in daemon.osc.targets and time.monotonic() < deadline:
            time.sleep(0.05)
        subscribed = [x for x in daemon.osc.targets if x != ("127.0.0.1", events.port)]
        assert len(subscribed) == MAX_SUBSCRIBED and ("127.0.0.1", others[1].port) not in subscribed
        assert ("127.0.0.1", events.port) in daemon.osc.targets  # the configured target is never dropped
        peer.send(t, "/coevo/generate")
        assert others[0].wait_for("/coevo/phrase/begin", timeout=5) and listener.wait_for("/coevo/phrase/begin", timeout=5)
    finally:
        for p in (listener, *others):
            p.close()


def test_snapshot_morph_reaches_the_saved_state(make_daemon, peer) -> None:
    daemon, events = make_daemon(apply="now", bpm=400.0)
    t = target(daemon)
    peer.send(t, "/coevo/emotion", 0.8, 0.8)
    peer.send(t, "/coevo/snapshot/save", "bright")
    peer.send(t, "/coevo/emotion", -0.8, -0.8)
    peer.send(t, "/coevo/morph", "bright", 2)
    states = [a for p, a in events.receive(3.0) if p == "/coevo/state"]
    valences = [round(a[2], 3) for a in states]
    assert 0.0 in valences and 0.8 in valences  # -0.8 -> 0.0 -> 0.8 over two bars
    assert valences.index(0.0) < valences.index(0.8)


def test_session_files_journal_and_replay(make_daemon, peer, tmp_path: Path) -> None:
    daemon, events = make_daemon(apply="now", bpm=400.0)
    deadline = time.monotonic() + 8
    written = lambda: len(list((daemon.session.path / "phrases").glob("*.mid")))  # noqa: E731
    while written() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    peer.send(target(daemon), "/coevo/mood", "sad")  # later phrases are mood-shaped, and replay must say so too
    while written() < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    played = daemon.last_played
    peer.send(target(daemon), "/coevo/feedback/like", played.id)
    time.sleep(0.3)
    daemon.stop()
    session = daemon.session.path
    records = list(read_journal(session))
    assert records[0]["type"] == "session" and records[-1]["type"] == "end"
    phrases = [r for r in records if r["type"] == "phrase"]
    assert len(phrases) >= 5
    assert {(r["played_mode"], r["half_time"]) for r in phrases} == {("major", False), ("harmonic_minor", True)}
    assert {"type": "feedback", "phrase": played.id, "like": True}.items() <= next(
        r for r in records if r["type"] == "feedback").items()
    result = replay_session(session)
    assert result.phrases == len(phrases)
    for rec in phrases:
        original = pretty_midi.PrettyMIDI(str(session / "phrases" / f"{rec['id']}.mid"))
        again = pretty_midi.PrettyMIDI(str(session / "replay" / f"{rec['id']}.mid"))
        notes = lambda pm: sorted((i.name, n.pitch, round(n.start, 4), round(n.end, 4), n.velocity)  # noqa: E731
                                  for i in pm.instruments for n in i.notes)
        assert notes(original) == notes(again) and len(notes(original)) == rec["n_notes"]
    combined = pretty_midi.PrettyMIDI(str(result.combined))
    assert sum(len(i.notes) for i in combined.instruments) == sum(r["n_notes"] for r in phrases)
    written = {p.relative_to(daemon.cfg.data_dir).parts[0] for p in Path(daemon.cfg.data_dir).rglob("*")}
    assert written == {"sessions"}


@pytest.mark.parametrize("setting, off, played", [
    ("mood_shaping", False, lambda r: r["played_mode"] == "major" and not r["half_time"]),
    ("mood_lift", 0, lambda r: r["played_mode"] == "harmonic_minor" and r["half_time"] and r["lift"] == 0),
])
def test_a_session_recorded_before_a_mood_setting_existed_replays_as_it_was_played(make_daemon, peer, setting, off,
                                                                                   played) -> None:
    """A journal from before the setting played as its off value does: replay reads it so."""
    daemon, _ = make_daemon(apply="now", bpm=400.0, **{setting: off})
    peer.send(target(daemon), "/coevo/mood", "sad")
    deadline = time.monotonic() + 8
    while len(list((daemon.session.path / "phrases").glob("*.mid"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.stop()
    session = daemon.session.path
    journal = session / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    del header["config"][setting]  # as the journals written before the setting existed
    journal.write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n", encoding="utf-8")
    sad = [r for r in read_journal(session) if r["type"] == "phrase" and tuple(r["emotion"]) == MOODS["sad"]]
    assert sad and all(played(r) for r in sad)
    replay_session(session)
    for rec in sad:
        original = pretty_midi.PrettyMIDI(str(session / "phrases" / f"{rec['id']}.mid"))
        again = pretty_midi.PrettyMIDI(str(session / "replay" / f"{rec['id']}.mid"))
        notes = lambda pm: sorted((n.pitch, round(n.start, 4), round(n.end, 4)) for i in pm.instruments for n in i.notes)  # noqa: E731
        assert notes(original) == notes(again)


def test_osc_host_serves_only_allowed_hosts() -> None:
    from bridge.osc_io import OscEndpoint

    from pythonosc.osc_message_builder import OscMessageBuilder

    seen = []
    endpoint = OscEndpoint("127.0.0.1", 0, [], [], seen.append)
    endpoint.allowed = frozenset({"127.0.0.1"})  # as for --osc-host 0.0.0.0 with no --allow
    undo = OscMessageBuilder("/coevo/undo").build().dgram
    endpoint.handle_datagram(undo, ("10.1.2.3", 9))
    endpoint.handle_datagram(undo, ("127.0.0.1", 9))
    endpoint.sock.close()
    assert [c.sender for c in seen] == [("127.0.0.1", 9)]
