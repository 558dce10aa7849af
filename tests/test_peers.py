"""Third-party OSC peers: liblo's oscsend and oscdump, and a Pure Data vanilla patch."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import free_udp_port, require

pytestmark = pytest.mark.peer

PATCH = Path(__file__).resolve().parent / "pd" / "coevo_peer.pd"


def test_oscsend_changes_state_and_events_reach_oscdump(make_daemon) -> None:
    oscsend = require("oscsend")
    oscdump = require("oscdump")
    dump_port = free_udp_port()
    dump = subprocess.Popen(["stdbuf", "-oL", oscdump, "-L", str(dump_port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(0.3)
        daemon, _ = make_daemon(event_port=dump_port, apply="now")
        port = str(daemon.osc.address[1])
        for args in (["/coevo/mood", "s", "angry"], ["/coevo/key", "ss", "F#", "dorian"],
                     ["/coevo/nudge", "sf", "rhythm", "1.0"], ["/coevo/bars", "i", "1"]):
            subprocess.run([oscsend, "localhost", port, *args], check=True)
        time.sleep(2.5)
    finally:
        dump.terminate()
        out, _ = dump.communicate(timeout=5)
    v = daemon.state.values
    assert (v.valence, v.arousal) == (-0.8, 0.8)
    assert (v.tonic, v.mode, v.bars) == (6, "dorian", 1) and v.axis("rhythm") == 0.5
    lines = out.splitlines()
    assert any('/coevo/state ifffssif' in line and '"F#" "dorian" 1' in line for line in lines)
    assert any("/coevo/phrase/begin sfi" in line and " 4.000000 " in line for line in lines)  # 1-bar phrases
    assert any('/coevo/axes' in line and '"rhythm" 0.500000' in line for line in lines)


def test_pure_data_patch_pings_subscribes_and_likes(make_daemon) -> None:
    pd = require("pd")
    daemon, _ = make_daemon(apply="now", event_port=free_udp_port())
    listen = free_udp_port()
    proc = subprocess.Popen([pd, "-nogui", "-noaudio", "-nomidi", "-stderr", "-open", str(PATCH),
                             "-send", f"coevo-listen {listen}", "-send", f"coevo-port {daemon.osc.address[1]}",
                             "-send", "coevo-go bang", "-send", f"coevo-subscribe {listen}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(4.0)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=5)
    assert "reply: list coevo pong pd-token" in out, out
    begins = [line for line in out.splitlines() if line.startswith("phrase-begin:")]
    assert begins, out
    assert "error" not in out.lower(), out
    daemon.stop()
    journal = [json.loads(x) for x in (daemon.session.path / "journal.jsonl").read_text().splitlines()]
    likes = [r for r in journal if r["type"] == "feedback" and r["like"]]
    assert likes  # Pd's /coevo/feedback/like reached the state
