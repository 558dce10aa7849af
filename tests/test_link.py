"""Ableton Link: the daemon joins a session on loopback and follows a peer's tempo."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest


def test_daemon_follows_a_link_peer(make_daemon) -> None:
    aalink = pytest.importorskip("aalink")
    daemon, events = make_daemon(clock="link", bpm=120.0)
    changed = threading.Event()

    async def peer() -> None:
        link = aalink.Link(120.0)
        link.enabled = True
        deadline = time.monotonic() + 10
        while link.num_peers < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        link.tempo = 93.0
        changed.set()
        await asyncio.sleep(1.5)
        link.enabled = False

    thread = threading.Thread(target=lambda: asyncio.run(peer()))
    thread.start()
    assert changed.wait(12), "no Link peer was found on loopback"
    time.sleep(0.8)
    try:
        assert daemon.transport.running
        assert abs(daemon.transport.bpm - 93.0) <= 1.0
        events.wait_for("/coevo/phrase/begin", timeout=5)
    finally:
        thread.join()
