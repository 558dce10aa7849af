"""JACK's cycle clock, read through libjack, so each note lands in the JACK cycle nearest its deadline.

rtmidi's JACK backend writes every event at the first frame of the cycle after the one it was sent
in, so a note sent at its deadline lands up to one period late (64 frames at 48 kHz: 1.33 ms),
depending on where in the cycle the deadline falls. Knowing the cycles' phase, the scheduler sends
each note in the middle of the cycle *before* the one that starts nearest its deadline: the note
then lands within half a period of its deadline, early or late, and a send up to half a period off
its time still lands in that same cycle, so the daemon's own send jitter no longer reaches the synth.

The clock is a JACK client of its own with no ports (rtmidi does not share its client), opened only
to read the server's frame timer, which libjack serves from shared memory to any thread: the first
frame of the current cycle (``jack_last_frame_time``) and how long ago that cycle woke
(``jack_frames_since_cycle_start``). Later cycles follow a period apart. The server's smoothed
estimate of its cycles (``jack_frames_to_time``) is not used: after the dummy driver stalls it can be
off by a period for seconds, and every note would then miss its cycle. Frames are 32-bit and wrap
after about a day at 48 kHz: differences are taken modulo 2**32.

libjack prints its errors and notices straight to stderr: five lines each time a client is opened with
no server running, so every second while the daemon waits for a server to come back.
``route_libjack_messages`` sends them to this module's log instead, at debug level (``--log-level DEBUG``).
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import threading
import time
from typing import Any

from bridge.errors import PortError

__all__ = ["JackClock", "frame_difference", "route_libjack_messages"]

log = logging.getLogger(__name__)

_WRAP = 1 << 32
_NO_START_SERVER = 0x01  # JackNoStartServer: never start a server as a side effect
_SHUTDOWN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_MESSAGE = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
_routed: dict[str, Any] = {}  # path of each libjack routed -> the library, kept with the callback
_KEEP_WITHIN_S = 0.005  # a cycle chosen this close to its deadline is kept (the scheduler decides 1.5 ms ahead)


def frame_difference(a: Any, b: Any) -> Any:
    """``a - b`` in frames, for 32-bit JACK frame counts that may have wrapped between them (ints, or
    numpy arrays of int64)."""
    return (a - b + (_WRAP >> 1)) % _WRAP - (_WRAP >> 1)


def _libjack_message(text: bytes) -> None:
    log.debug("libjack: %s", text.decode(errors="replace"))


_CALLBACK = _MESSAGE(_libjack_message)  # module-level: it must live as long as libjack may call it


def _loaded_libjacks() -> set[str]:
    """The system's libjack and every libjack this process has loaded (python-rtmidi's wheels bring
    their own copy, whose printers are its own)."""
    system = ctypes.util.find_library("jack") or "libjack.so.0"
    try:
        ctypes.CDLL(system)  # loaded, so that the maps list it by its path
        with open("/proc/self/maps", encoding="utf-8") as maps:
            return {line.split()[-1] for line in maps if "/libjack" in line}
    except OSError:  # no libjack, or not Linux: the system's library only
        return {system}


def route_libjack_messages() -> None:
    """Send libjack's messages (its errors and notices, for every JACK client of this process, rtmidi's
    too once its module is loaded) to this module's log at debug level instead of stderr. Each library
    once; nothing when there is no libjack. libjack's own printers are put back at exit, before Python
    shuts down, since libjack may still print while the last clients close."""
    for path in _loaded_libjacks() - set(_routed):
        try:
            lib = ctypes.CDLL(path)
            printers = [ctypes.c_void_p.in_dll(lib, name).value for name in ("jack_error_callback", "jack_info_callback")]
        except (OSError, ValueError):
            continue
        if printers[0] == ctypes.cast(_CALLBACK, ctypes.c_void_p).value:  # the same library by another name
            continue
        lib.jack_set_error_function(_CALLBACK)
        lib.jack_set_info_function(_CALLBACK)
        _routed[path] = lib
        atexit.register(_put_back, lib, *printers)


def _put_back(lib: Any, error: int | None, info: int | None) -> None:
    lib.jack_set_error_function(ctypes.c_void_p(error))
    lib.jack_set_info_function(ctypes.c_void_p(info))


def _libjack() -> tuple[Any, Any]:
    """libjack twice: for opening and closing a client, which may block and so lets other threads run,
    and for reading the frame timer, which is quick and holds the GIL (a call that gave it up would
    have to win it back, up to a switch interval later, on the timing thread)."""
    name = ctypes.util.find_library("jack") or "libjack.so.0"
    try:
        lib, timer = ctypes.CDLL(name), ctypes.PyDLL(name)
    except OSError as err:
        raise PortError(f"libjack is not installed ({err}); Debian: apt-get install libjack-jackd2-0") from err
    route_libjack_messages()
    client = ctypes.c_void_p
    lib.jack_client_open.restype = client
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.jack_client_close.argtypes = [client]
    lib.jack_on_shutdown.argtypes = [client, _SHUTDOWN, ctypes.c_void_p]
    for fn in (timer.jack_last_frame_time, timer.jack_frames_since_cycle_start, timer.jack_get_buffer_size,
               timer.jack_get_sample_rate):
        fn.restype = ctypes.c_uint32
        fn.argtypes = [client]
    return lib, timer


class JackClock:
    """The running JACK server's cycle clock. Raises PortError when there is no server to read."""

    def __init__(self, client_name: str) -> None:
        self._lib, self._timer = _libjack()
        status = ctypes.c_int(0)
        self._client = self._lib.jack_client_open(client_name.encode()[:60], _NO_START_SERVER, ctypes.byref(status))
        if not self._client:
            raise PortError(f"no JACK server to read the cycle clock from (jack status 0x{status.value:x}); "
                            "start jackd first")
        self._lock = threading.Lock()  # close() against a reader on the timing thread
        # deadline -> send time already chosen: a deadline near the middle between two cycles would
        # otherwise flip between them with the jitter of each reading of the cycle's wake-up
        self._planned: dict[float, float] = {}
        self._alive = True
        self._on_shutdown = _SHUTDOWN(self._shutdown)  # kept: libjack calls it from its own thread
        self._lib.jack_on_shutdown(self._client, self._on_shutdown, None)

    @property
    def alive(self) -> bool:
        """False once the server has gone away (or after close)."""
        return self._alive

    @property
    def period(self) -> int:
        """Frames per cycle (the server's buffer size, which can change while it runs)."""
        return int(self._timer.jack_get_buffer_size(self._client))

    @property
    def rate(self) -> int:
        return int(self._timer.jack_get_sample_rate(self._client))

    def _cycle(self) -> tuple[float, int, int, int]:
        """(monotonic time the current cycle woke, its first frame, frames per cycle, rate). The wake-up is
        the server's own, not its smoothed estimate, which after a stall of the driver can be off by a
        period for seconds; the two reads are repeated when a cycle starts between them."""
        timer, client = self._timer, self._client
        while True:
            frame = timer.jack_last_frame_time(client)
            since, now = timer.jack_frames_since_cycle_start(client), time.monotonic()
            if timer.jack_last_frame_time(client) == frame:
                break
        rate = timer.jack_get_sample_rate(client)
        return now - since / rate, frame, timer.jack_get_buffer_size(client), rate

    def send_time(self, deadline: float) -> float:
        """When to send a note due at ``deadline`` (monotonic s) so that it lands in the cycle that
        starts nearest the deadline: the middle of the cycle before that one. ``deadline`` itself
        when the server's timer gives no sane answer (not running yet, or gone). Once the deadline is
        near, the same deadline asked again gets the same answer."""
        with self._lock:
            if not self._alive:
                return deadline
            if deadline in self._planned:  # asked again as it comes due: keep the cycle chosen
                return self._planned[deadline]
            woke, _, period, rate = self._cycle()
            if not rate or not period:
                return deadline
            cycle_s = period / rate
            send = woke + (round((deadline - woke) / cycle_s) - 0.5) * cycle_s
            if deadline - time.monotonic() < _KEEP_WITHIN_S:  # further ahead, the cycles may yet move (an xrun)
                if len(self._planned) >= 256:
                    self._planned.clear()
                self._planned[deadline] = send
        return send

    def frames(self, deadline: float) -> tuple[int, int]:
        """(the JACK frame of ``deadline``, the first frame of the next cycle), read just after a send:
        where the note belongs, and the cycle that should carry it (rtmidi writes at the next cycle).
        (-1, -1) once the server is gone."""
        with self._lock:
            if not self._alive:
                return -1, -1
            woke, frame, period, rate = self._cycle()
            return (frame + round((deadline - woke) * rate)) % _WRAP, (frame + period) % _WRAP

    def _shutdown(self, _arg: Any) -> None:
        self._alive = False  # no lock: libjack's thread must not wait on the timing thread
        log.debug("the JACK server went away")  # the daemon says what follows

    def close(self) -> None:
        with self._lock:
            if self._client:
                self._alive = False
                self._lib.jack_client_close(self._client)
                self._client = None
