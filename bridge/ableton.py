"""Clips into Ableton Live through AbletonOSC (the Remote Script users install; we only speak its protocol).

Wire contract: requests go to 127.0.0.1:11000; AbletonOSC answers getters on port 11001 of the
sender's host, with the queried indices first (``/live/clip_slot/get/has_clip t s bool``); setters
and methods answer nothing unless they fail, when ``/live/error`` carries a message string. Live
runs the script's queue about every 100 ms, so a push is a few round trips of up to 100 ms each.

A push: ask whether the slot holds a clip (refuse unless ``replace``), create the clip, add the
notes in chunks of at most 64 (pitch start duration velocity mute, in beats), name it, optionally
fire it, and read the notes back to confirm that Live has exactly the clip's notes.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from pythonosc.osc_message import OscMessage, ParseError
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.errors import CoevoError
from bridge.phrase import Note

__all__ = ["AbletonError", "AbletonLive", "LivePusher", "PushResult", "one_instrument", "LIVE_PORT", "REPLY_PORT",
           "NOTES_PER_MESSAGE"]

log = logging.getLogger(__name__)

LIVE_PORT = 11000
REPLY_PORT = 11001
NOTES_PER_MESSAGE = 64
TOLERANCE_BEATS = 1e-3  # OSC floats are 32-bit


class AbletonError(CoevoError):
    """Live (AbletonOSC) refused a request, did not answer, or holds other notes than were pushed."""


@dataclass(frozen=True)
class PushResult:
    track: int
    slot: int
    notes: int
    length_beats: float
    name: str
    replaced: bool
    fired: bool
    live_tempo: float


def one_instrument(notes: Sequence[Note]) -> list[Note]:
    """The notes as one Live clip can hold them: parts merged, and where two notes of one pitch overlap
    the earlier one ends where the later begins (the louder kept when they start together)."""
    out: list[Note] = []
    for n in sorted((n for n in notes if n.duration > 0), key=lambda n: (n.pitch, n.start, -n.velocity)):
        if out and out[-1].pitch == n.pitch and out[-1].end > n.start:
            if out[-1].start == n.start:
                continue
            out[-1] = out[-1].with_(duration=n.start - out[-1].start)
        out.append(n)
    return sorted(out, key=lambda n: (n.start, n.pitch))


def _message(address: str, args: Sequence[object]) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class AbletonLive:
    """A client of AbletonOSC. Not thread-safe: use it from one thread (the daemon has a worker for it)."""

    def __init__(self, host: str = "127.0.0.1", port: int = LIVE_PORT, reply_port: int = REPLY_PORT,
                 timeout: float = 2.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind(("0.0.0.0", reply_port))
        except OSError as err:
            self._sock.close()
            raise AbletonError(f"cannot listen for AbletonOSC's replies on UDP port {reply_port} ({err.strerror}); "
                               "is another AbletonOSC client (or coevo) running?") from err

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "AbletonLive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, address: str, *args: object) -> None:
        self._sock.sendto(_message(address, args), self.address)

    def _drain(self) -> None:
        """Read what is waiting; a /live/error there belongs to a request already sent."""
        self._sock.settimeout(0)
        try:
            while True:
                self._raise_if_error(self._sock.recv(65536))
        except (BlockingIOError, socket.timeout):
            pass

    @staticmethod
    def _raise_if_error(data: bytes) -> OscMessage | None:
        try:
            msg = OscMessage(data)
        except ParseError:
            log.warning("ignored a malformed reply from AbletonOSC (%d bytes)", len(data))
            return None
        if msg.address == "/live/error":
            raise AbletonError("Live refused the request: " + " ".join(str(p) for p in msg.params))
        return msg

    def query(self, address: str, *args: object) -> tuple[object, ...]:
        """Send a getter and return the reply's values after the echoed ``args``.

        Raises:
            AbletonError: a /live/error reply, or no reply within the timeout.
        """
        self._drain()
        self.send(address, *args)
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AbletonError(f"no answer from Live to {address} within {self.timeout:g} s: is Live running with "
                                   f"the AbletonOSC control surface selected (it listens on UDP {self.address[1]})?")
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:  # Windows reports an ICMP port-unreachable here
                continue
            msg = self._raise_if_error(data)
            if msg is not None and msg.address == address and tuple(msg.params[:len(args)]) == tuple(args):
                return tuple(msg.params[len(args):])

    def tempo(self) -> float:
        (bpm,) = self.query("/live/song/get/tempo")
        return float(bpm)

    def has_clip(self, track: int, slot: int) -> bool:
        (value,) = self.query("/live/clip_slot/get/has_clip", track, slot)
        return bool(value)

    def notes(self, track: int, slot: int) -> list[tuple[int, float, float, int, bool]]:
        """The notes of a clip as Live holds them: (pitch, start, duration, velocity, mute) in beats."""
        flat = self.query("/live/clip/get/notes", track, slot)
        return [(int(flat[i]), float(flat[i + 1]), float(flat[i + 2]), int(flat[i + 3]), bool(flat[i + 4]))
                for i in range(0, len(flat) - 4, 5)]

    def first_empty_slot(self, track: int, start: int = 0, limit: int = 256) -> int:
        for slot in range(start, limit):
            if not self.has_clip(track, slot):
                return slot
        raise AbletonError(f"track {track} has no empty clip slot among the first {limit}")

    def push(self, notes: Sequence[Note], length_beats: float, track: int, slot: int, name: str,
             fire: bool = False, replace: bool = False) -> PushResult:
        """Write ``notes`` (merged by ``one_instrument``) as a new clip into (track, slot), then confirm
        Live holds exactly them.

        Raises:
            AbletonError: the slot holds a clip and ``replace`` is false, Live refused a step, did not
                answer, or holds other notes afterwards. A clip Live made before the failure stays.
        """
        if track < 0 or slot < 0:
            raise AbletonError(f"track and slot count from 0; got track {track}, slot {slot}")
        if length_beats <= 0:
            raise AbletonError(f"a clip needs a positive length; got {length_beats} beats")
        live_tempo = self.tempo()
        replaced = self.has_clip(track, slot)
        if replaced and not replace:
            raise AbletonError(f"track {track} slot {slot} already holds a clip; pass --replace to overwrite it "
                               "or choose another slot")
        if replaced:
            self.send("/live/clip_slot/delete_clip", track, slot)
        self.send("/live/clip_slot/create_clip", track, slot, float(length_beats))
        groups = [(int(n.pitch), float(n.start), float(n.duration), int(n.velocity), bool(n.mute))
                  for n in one_instrument(notes)]
        for a in range(0, len(groups), NOTES_PER_MESSAGE):
            self.send("/live/clip/add/notes", track, slot, *(v for g in groups[a:a + NOTES_PER_MESSAGE] for v in g))
        self.send("/live/clip/set/name", track, slot, name)
        held = sorted(self.notes(track, slot))  # also the barrier: every request above was handled by now
        want = sorted(groups)
        if len(held) != len(want) or any(
                h[0] != w[0] or h[3] != w[3] or abs(h[1] - w[1]) > TOLERANCE_BEATS or abs(h[2] - w[2]) > TOLERANCE_BEATS
                for h, w in zip(held, want)):
            raise AbletonError(f"Live holds {len(held)} note(s) in track {track} slot {slot}, but {len(want)} were "
                               "pushed; the clip is incomplete")
        if fire:
            self.send("/live/clip_slot/fire", track, slot)
        log.info("pushed %d notes to Live track %d slot %d (%s)", len(want), track, slot, name)
        return PushResult(track, slot, len(want), float(length_beats), name, replaced, fire, live_tempo)


PushDone = Callable[[str, "PushResult | None", str], None]


class LivePusher:
    """Pushes phrases into Live from a thread of its own, so the daemon never waits on Live.

    ``done(phrase_id, result, error)`` is called from that thread after each push (``result`` None
    and ``error`` set when it failed). With ``on_tempo``, Live's tempo is read every
    ``TEMPO_POLL_S`` and reported when it changes. The UDP reply port is bound on first use.
    """

    TEMPO_POLL_S = 2.0

    def __init__(self, host: str, port: int, reply_port: int, done: PushDone,
                 on_tempo: Callable[[float], None] | None = None) -> None:
        self._args = (host, port, reply_port)
        self._done = done
        self._on_tempo = on_tempo
        self._live: AbletonLive | None = None
        self._jobs: queue.Queue[tuple[str, list[Note], float, int, int | None, str] | None] = queue.Queue()
        self._tempo: float | None = None
        self._thread = threading.Thread(target=self._run, name="coevo-ableton", daemon=True)
        self._thread.start()

    def push(self, phrase_id: str, notes: list[Note], length_beats: float, track: int, slot: int | None) -> None:
        """Queue a push; ``slot`` None takes the track's first empty slot."""
        self._jobs.put((phrase_id, notes, length_beats, track, slot, f"coevo {phrase_id}"))

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)
        if self._live is not None:
            self._live.close()

    def _client(self) -> AbletonLive:
        if self._live is None:
            self._live = AbletonLive(*self._args)
        return self._live

    def _run(self) -> None:
        next_poll = time.monotonic()
        while True:
            timeout = None
            if self._on_tempo is not None:
                if time.monotonic() >= next_poll:
                    self._poll_tempo()
                    next_poll = time.monotonic() + self.TEMPO_POLL_S
                timeout = max(0.0, next_poll - time.monotonic())
            try:
                job = self._jobs.get(timeout=timeout)
            except queue.Empty:
                continue
            if job is None:
                return
            phrase_id, notes, length, track, slot, name = job
            try:
                live = self._client()
                target = slot if slot is not None else live.first_empty_slot(track)
                self._done(phrase_id, live.push(notes, length, track, target, name), "")
            except AbletonError as err:
                self._done(phrase_id, None, str(err))

    def _poll_tempo(self) -> None:
        assert self._on_tempo is not None
        try:
            bpm = self._client().tempo()
        except AbletonError as err:
            log.debug("Live's tempo unknown: %s", err)
            return
        if self._tempo is None or abs(bpm - self._tempo) > 1e-3:
            self._tempo = bpm
            self._on_tempo(bpm)
