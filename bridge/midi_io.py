"""MIDI ports: our virtual ports or named existing ones (matched by prefix), reopened when they return.

The backend is mido's, chosen by MIDO_BACKEND (e.g. ``mido.backends.rtmidi/UNIX_JACK``). When no
backend works (no ALSA sequencer, no JACK server, no CoreMIDI), MIDI is off and ``reason`` says why;
the daemon keeps running on OSC.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Callable

import mido

from bridge.errors import PortError
from bridge.jack_clock import route_libjack_messages

__all__ = ["MidiPorts", "DriverTime", "open_backend", "match_port", "DEFAULT_BACKEND"]

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "mido.backends.rtmidi"
OUT_NAME, IN_NAME = "coevo out", "coevo in"

_FIX = {
    "linux": "start JACK (jackd -d alsa, or -d dummy for tests) and set MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK, "
             "or load the ALSA sequencer (modprobe snd-seq)",
    "darwin": "enable the IAC Driver in Audio MIDI Setup > MIDI Studio",
    "win32": "install loopMIDI and create a port, then pass --midi-out/--midi-in with its name",
}


def fix_hint() -> str:
    import sys

    return _FIX.get(sys.platform, _FIX["linux"])


def open_backend(name: str | None = None) -> tuple[mido.Backend | None, str]:
    """The mido backend from ``name`` or MIDO_BACKEND; (None, reason) when it cannot list ports."""
    name = name or os.environ.get("MIDO_BACKEND") or DEFAULT_BACKEND
    try:
        backend = mido.Backend(name, load=True)
        if backend.api == "UNIX_JACK":
            route_libjack_messages()  # else libjack prints to stderr each time a port is tried with no server
        backend.get_output_names()
    except Exception as err:  # backends raise anything from ImportError to rtmidi.SystemError
        return None, f"MIDI backend {name} is not usable ({type(err).__name__}: {err}); {fix_hint()}"
    return backend, f"MIDI backend {name}"


def match_port(wanted: str, names: list[str], direction: str) -> str:
    """Exact name, else the one name starting with ``wanted`` (Windows appends numbers), else error."""
    if wanted in names:
        return wanted
    hits = [n for n in names if n.startswith(wanted)] or [n for n in names if wanted in n]
    if len(hits) == 1:
        return hits[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    if hits:
        raise PortError(f"MIDI {direction} port {wanted!r} is ambiguous: matches {listed}")
    raise PortError(f"no MIDI {direction} port matches {wanted!r}; available: {listed}")


class DriverTime:
    """When MIDI input happened, on ``time.monotonic()``'s scale, from the MIDI driver's own clock.

    python-rtmidi hands each message over with the time since the one before, taken on the driver's
    thread (JACK's process cycle, the ALSA sequencer, CoreMIDI) before any Python runs; the Python
    callback itself may wait milliseconds for the interpreter lock, which a clock follower would read
    as jitter. The running sum of those deltas is placed on the monotonic clock by the earliest
    arrival seen, since arrivals can be late but never early.
    """

    CREEP_S = 1e-6  # per message: lets the placement follow a slow drift between the two clocks

    def __init__(self) -> None:
        self._driver: float | None = None
        self._offset = math.inf

    def stamp(self, delta: float, arrival: float) -> float:
        """The driver time of a message that came ``delta`` s after the previous one and reached
        Python at ``arrival``."""
        self._driver = 0.0 if self._driver is None else self._driver + delta
        self._offset = min(self._offset + self.CREEP_S, arrival - self._driver)
        return self._driver + self._offset


class MidiPorts:
    """Output for generated notes, input for the performer; ``send`` never raises."""

    def __init__(self, backend: mido.Backend | None, reason: str, out_name: str, in_name: str, client: str,
                 on_message: Callable[[float, mido.Message], None]) -> None:
        self.backend = backend
        self.reason = reason
        self.out_wanted = out_name
        self.in_wanted = in_name
        self.client = client
        self.on_message = on_message
        self.output: mido.ports.BaseOutput | None = None
        self.input: mido.ports.BaseInput | None = None
        self.out_port_name = ""
        self.in_port_name = ""
        self._lock = threading.Lock()
        self.send_errors = 0

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    def open(self) -> None:
        """Open both ports. Raises PortError when a named port does not exist."""
        if self.backend is None:
            log.warning("MIDI is off: %s", self.reason)
            return
        self._open_out()
        self._open_in()

    def _callback(self, msg: mido.Message) -> None:
        self.on_message(time.monotonic(), msg)  # only timestamp and enqueue

    def _stamp_on_driver_time(self, port: mido.ports.BaseInput) -> None:
        """With mido's rtmidi backend, time each message on the driver's clock (see ``DriverTime``)."""
        rt = getattr(port, "_rt", None)  # mido's rtmidi port keeps its python-rtmidi MidiIn here
        if rt is None:
            return
        clock = DriverTime()

        def on_bytes(event: tuple[list[int], float], _data: object) -> None:
            arrival = time.monotonic()
            try:
                msg = mido.Message.from_bytes(event[0])
            except ValueError:  # as mido does: an incomplete or unknown message is dropped
                return
            self.on_message(clock.stamp(event[1], arrival), msg)

        rt.set_callback(on_bytes)

    def _open_out(self) -> None:
        assert self.backend is not None
        if self.out_wanted:
            name = match_port(self.out_wanted, self.backend.get_output_names(), "output")
            port = self.backend.open_output(name)  # mido makes a virtual port whenever client_name is given
        else:
            name = OUT_NAME
            port = self.backend.open_output(OUT_NAME, virtual=True, client_name=self.client)
        for ch in range(16):  # whatever a synth still holds (from a dropped connection, a crash) ends first
            port.send(mido.Message("control_change", channel=ch, control=123, value=0))
        with self._lock:  # only now can the timing thread send through it
            self.output, self.out_port_name = port, name
        log.info("MIDI out: %s%s", name, "" if self.out_wanted else " (virtual)")

    def _open_in(self) -> None:
        assert self.backend is not None
        if self.in_wanted:
            name = match_port(self.in_wanted, self.backend.get_input_names(), "input")
            port = self.backend.open_input(name, callback=self._callback)
        else:
            name = IN_NAME
            port = self.backend.open_input(IN_NAME, virtual=True, client_name=self.client, callback=self._callback)
        self._stamp_on_driver_time(port)
        self.input, self.in_port_name = port, name
        log.info("MIDI in: %s%s", name, "" if self.in_wanted else " (virtual)")

    def send(self, msg: mido.Message) -> None:
        with self._lock:
            port = self.output
            if port is None:
                return
            try:
                port.send(msg)
            except Exception as err:  # rtmidi raises its own errors when a port is gone
                self.send_errors += 1
                if self.send_errors in (1, 10, 100, 1000):
                    log.warning("MIDI send failed (%d so far): %s", self.send_errors, err)

    def check(self) -> None:
        """Close named ports that disappeared; reopen them by name when they return."""
        if self.backend is None:
            return
        if self.out_wanted:
            present = self._present(self.out_wanted, self.backend.get_output_names())
            if self.output is not None and not present:
                log.warning("MIDI out %r disappeared; will reopen it when it returns", self.out_port_name)
                with self._lock:
                    port, self.output = self.output, None
                port.close()
            elif self.output is None and present:
                self._reopen(self._open_out, "out")
        if self.in_wanted:
            present = self._present(self.in_wanted, self.backend.get_input_names())
            if self.input is not None and not present:
                log.warning("MIDI in %r disappeared; will reopen it when it returns", self.in_port_name)
                port, self.input = self.input, None
                port.close()
            elif self.input is None and present:
                self._reopen(self._open_in, "in")

    @staticmethod
    def _present(wanted: str, names: list[str]) -> bool:
        try:
            match_port(wanted, names, "")
        except PortError:
            return False
        return True

    def _reopen(self, opener: Callable[[], None], which: str) -> None:
        try:
            opener()
            log.info("MIDI %s reopened", which)
        except Exception as err:  # the port may vanish again between listing and opening
            log.warning("MIDI %s came back but could not be opened: %s", which, err)

    def reopen(self) -> None:
        """Open both ports again after ``close`` (a JACK server that went away runs again). A named port
        that is not there yet is reopened by ``check`` when it returns."""
        if self.backend is None:
            return
        self._reopen(self._open_out, "out")
        self._reopen(self._open_in, "in")

    def close(self) -> None:
        with self._lock:
            out, self.output = self.output, None
        if out is not None:
            out.close()
        if self.input is not None:
            self.input.close()
            self.input = None
