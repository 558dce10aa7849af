"""Third-party OSC peers: liblo's oscsend and oscdump, and a Pure Data vanilla patch."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import free_udp_port, require

pytestmark = pytest.mark.peer

PATCH = Path(__file__).resolve().parent / "pd" / "coevo_peer.pd"


def _lines_until(proc: subprocess.Popen[str], done: Callable[[list[str]], bool], timeout: float) -> list[str]:
    """The lines ``proc`` prints until ``done(lines)`` holds or ``timeout`` seconds pass; then ``proc`` is
    stopped and whatever else it printed is added. A peer that starts slowly on a busy machine gets the
    time it needs, and a quick one does not hold the test."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not done(list(lines)) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.terminate()
    proc.wait(timeout=5)
    reader.join(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()
    return [line.rstrip("\n") for line in lines]


def _records(journal: Path) -> list[dict]:
    """The journal's complete lines (one may be half written while the daemon runs)."""
    return [json.loads(x) for x in journal.read_text().split("\n")[:-1]]


def test_oscsend_changes_state_and_events_reach_oscdump(make_daemon) -> None:
    oscsend = require("oscsend")
    oscdump = require("oscdump")
    dump_port = free_udp_port()
    dump = subprocess.Popen(["stdbuf", "-oL", oscdump, "-L", str(dump_port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)

    def seen(lines: list[str]) -> bool:
        return (any('/coevo/state ifffssif' in line and '"F#" "dorian" 1' in line for line in lines)
                and any("/coevo/phrase/begin sfi" in line and " 4.000000 " in line for line in lines)  # 1-bar phrases
                and any('/coevo/axes' in line and '"rhythm" 0.500000' in line for line in lines))

    try:
        time.sleep(0.3)
        daemon, _ = make_daemon(event_port=dump_port, apply="now")
        port = str(daemon.osc.address[1])
        for args in (["/coevo/mood", "s", "angry"], ["/coevo/key", "ss", "F#", "dorian"],
                     ["/coevo/nudge", "sf", "rhythm", "1.0"], ["/coevo/bars", "i", "1"]):
            subprocess.run([oscsend, "localhost", port, *args], check=True)
        lines = _lines_until(dump, seen, timeout=20.0)
    finally:
        if dump.poll() is None:
            dump.kill()
    v = daemon.state.values
    assert (v.valence, v.arousal) == (-0.8, 0.8)
    assert (v.tonic, v.mode, v.bars) == (6, "dorian", 1) and v.axis("rhythm") == 0.5
    assert seen(lines), "\n".join(lines[-40:])


def test_pure_data_patch_pings_subscribes_and_likes(make_daemon) -> None:
    pd = require("pd")
    daemon, _ = make_daemon(apply="now", event_port=free_udp_port())
    listen = free_udp_port()
    proc = subprocess.Popen([pd, "-nogui", "-noaudio", "-nomidi", "-stderr", "-open", str(PATCH),
                             "-send", f"coevo-listen {listen}", "-send", f"coevo-port {daemon.osc.address[1]}",
                             "-send", "coevo-go bang", "-send", f"coevo-subscribe {listen}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    journal = daemon.session.path / "journal.jsonl"

    def liked(lines: list[str]) -> bool:
        return ("reply: list coevo pong pd-token" in "".join(lines) and any(x.startswith("phrase-begin:") for x in lines)
                and journal.is_file() and any(r["type"] == "feedback" and r["like"] for r in _records(journal)))

    try:
        lines = _lines_until(proc, liked, timeout=20.0)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "\n".join(lines)
    assert "reply: list coevo pong pd-token" in out, out
    assert any(line.startswith("phrase-begin:") for line in lines), out
    assert "error" not in out.lower(), out
    daemon.stop()
    likes = [r for r in _records(journal) if r["type"] == "feedback" and r["like"]]
    assert likes  # Pd's /coevo/feedback/like reached the state
