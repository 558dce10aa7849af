"""A test double of AbletonOSC that follows its wire contract, for tests without Ableton Live.

- Listens on UDP 127.0.0.1:11000; answers on port 11001 of the sender's IP (not the sender's port).
- Handles the queue in batches every 100 ms, as Live runs the script's tick.
- Getters answer with the queried indices first (``/live/clip_slot/get/has_clip t s bool``);
  setters and methods answer nothing; any failure answers ``/live/error`` with a message string;
  unknown addresses are only logged, as the real script does.
- Holds a Live set of ``tracks`` x ``slots`` clip slots; records every message it handled.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pythonosc.osc_message import OscMessage, ParseError
from pythonosc.osc_message_builder import OscMessageBuilder

LISTEN = ("127.0.0.1", 11000)
REPLY_PORT = 11001
TICK_S = 0.1


@dataclass
class FakeClip:
    length: float
    notes: list[tuple[int, float, float, int, bool]] = field(default_factory=list)
    name: str = ""
    fired: int = 0


class AbletonOSCDouble:
    def __init__(self, tracks: int = 4, slots: int = 8, tempo: float = 120.0) -> None:
        self.tracks, self.slots, self.tempo = tracks, slots, tempo
        self.clips: dict[tuple[int, int], FakeClip] = {}
        self.received: list[tuple[str, tuple[Any, ...]]] = []
        self.batches = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(LISTEN)
        self._sock.setblocking(False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="abletonosc-double", daemon=True)
        self._handlers: dict[str, Callable[..., tuple[Any, ...] | None]] = {
            "/live/song/get/tempo": lambda: (self.tempo,),
            "/live/clip_slot/get/has_clip": lambda t, s: (t, s, self._slot(t, s) in self.clips),
            "/live/clip_slot/create_clip": self._create,
            "/live/clip_slot/delete_clip": self._delete,
            "/live/clip_slot/fire": self._fire,
            "/live/clip/add/notes": self._add_notes,
            "/live/clip/get/notes": self._get_notes,
            "/live/clip/set/name": self._set_name,
        }

    def __enter__(self) -> "AbletonOSCDouble":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def _slot(self, t: int, s: int) -> tuple[int, int]:
        if not (isinstance(t, int) and isinstance(s, int) and 0 <= t < self.tracks and 0 <= s < self.slots):
            raise IndexError(f"Index out of range: track {t} slot {s}")
        return t, s

    def _clip(self, t: int, s: int) -> FakeClip:
        clip = self.clips.get(self._slot(t, s))
        if clip is None:
            raise RuntimeError("No clip in slot")
        return clip

    def _create(self, t: int, s: int, length: float) -> None:
        if self._slot(t, s) in self.clips:
            raise RuntimeError("Clip slot already has a clip")
        if length <= 0:
            raise ValueError("Clip length must be positive")
        self.clips[(t, s)] = FakeClip(float(length))

    def _delete(self, t: int, s: int) -> None:
        self._clip(t, s)
        del self.clips[(t, s)]

    def _fire(self, t: int, s: int) -> None:
        if self._slot(t, s) in self.clips:
            self.clips[(t, s)].fired += 1

    def _add_notes(self, t: int, s: int, *flat: Any) -> None:
        clip = self._clip(t, s)
        if len(flat) % 5:
            raise ValueError("Notes must be groups of pitch, start, duration, velocity, mute")
        clip.notes += [(int(flat[i]), float(flat[i + 1]), float(flat[i + 2]), int(flat[i + 3]), bool(flat[i + 4]))
                       for i in range(0, len(flat), 5)]

    def _get_notes(self, t: int, s: int) -> tuple[Any, ...]:
        return (t, s, *(v for note in self._clip(t, s).notes for v in note))

    def _set_name(self, t: int, s: int, name: str) -> None:
        self._clip(t, s).name = name

    def _send(self, address: str, params: tuple[Any, ...], host: str) -> None:
        builder = OscMessageBuilder(address)
        for p in params:
            builder.add_arg(p)
        self._sock.sendto(builder.build().dgram, (host, REPLY_PORT))

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self.batches += 1
            while True:
                try:
                    data, (host, _port) = self._sock.recvfrom(65536)
                except (BlockingIOError, OSError):
                    break
                try:
                    msg = OscMessage(data)
                except ParseError:
                    continue
                self.received.append((msg.address, tuple(msg.params)))
                handler = self._handlers.get(msg.address)
                if handler is None:
                    continue
                try:
                    reply = handler(*msg.params)
                except Exception as err:  # AbletonOSC reports every failure the same way
                    self._send("/live/error", (f"Error handling OSC message: {err}",), host)
                    continue
                if reply is not None:
                    self._send(msg.address, reply, host)

    def wait_idle(self, timeout: float = 2.0) -> None:
        """Return once a batch has run after the call (everything sent before it was handled)."""
        start = self.batches
        deadline = time.monotonic() + timeout
        while self.batches < start + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
