"""Tempo and transport: maps beats to monotonic time, from the internal clock, MIDI clock or Ableton Link.

The transport is a line ``beat = anchor_beat + (t - anchor_time) * bpm / 60``; every clock source
only moves that line. The scheduler asks ``time_at(beat)`` for absolute deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Callable

import numpy as np

__all__ = ["Transport", "MidiClockFollower", "LinkClock", "TICKS_PER_BEAT"]

log = logging.getLogger(__name__)

TICKS_PER_BEAT = 24
LOST_TICK_TOLERANCE = 0.25  # of a period: how near whole periods the intervals around lost ticks must lie
LATE_TICK_S = 0.0015  # a clock tick this much later than the fitted line's typical one was held back on its way


class Transport:
    """Thread-safe playhead. ``on_change`` callbacks run after every start, stop or tempo change."""

    def __init__(self, bpm: float) -> None:
        self._lock = threading.Lock()
        self._bpm = float(bpm)
        self._anchor_time = time.monotonic()
        self._anchor_beat = 0.0
        self._running = False
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in self._listeners:
            callback()

    @property
    def bpm(self) -> float:
        return self._bpm

    @property
    def running(self) -> bool:
        return self._running

    def beat_at(self, t: float) -> float:
        with self._lock:
            if not self._running:
                return self._anchor_beat
            return self._anchor_beat + (t - self._anchor_time) * self._bpm / 60.0

    def beat_now(self) -> float:
        return self.beat_at(time.monotonic())

    def time_at(self, beat: float) -> float:
        """Monotonic time at which ``beat`` falls (extrapolated at the current tempo)."""
        with self._lock:
            return self._anchor_time + (beat - self._anchor_beat) * 60.0 / self._bpm

    def set_line(self, t: float, beat: float, bpm: float, running: bool = True) -> None:
        """Place the playhead: ``beat`` at time ``t``, moving at ``bpm`` (used by the clock sources)."""
        with self._lock:
            self._anchor_time, self._anchor_beat, self._bpm, self._running = t, beat, float(bpm), running
        self._changed()

    def start(self, beat: float = 0.0, t: float | None = None) -> None:
        self.set_line(time.monotonic() if t is None else t, beat, self._bpm, True)

    def stop(self) -> None:
        now = time.monotonic()
        beat = self.beat_at(now)
        self.set_line(now, beat, self._bpm, False)

    def resume(self, t: float | None = None) -> None:
        with self._lock:
            beat = self._anchor_beat
        self.set_line(time.monotonic() if t is None else t, beat, self._bpm, True)

    def set_bpm(self, bpm: float) -> None:
        now = time.monotonic()
        beat = self.beat_at(now)
        self.set_line(now, beat, bpm, self._running)


class MidiClockFollower:
    """Follows MIDI clock (24 ppqn), Start/Stop/Continue and Song Position Pointer.

    Tempo and phase come from a least-squares line through the last two beats of ticks, so a
    jittery clock moves the playhead smoothly. Ticks arrive late, never early: a stalled audio
    system or a busy sender holds several back and delivers them together. So the line is fitted
    again without the ticks that lie more than ``LATE_TICK_S`` above the typical one (up to three
    times, keeping at least half), and reads the clock's own pace rather than the stalls'.

    Ticks can also be lost (JACK drops a cycle's MIDI in an xrun), which would read as a slower tempo
    and a playhead falling behind. A gap of m periods followed by a tick one period later is m - 1
    lost ticks, and they are counted; a held-back tick is followed by its burst instead, and a tempo
    that slows down keeps its intervals alike, so neither is mistaken for a loss.
    """

    def __init__(self, transport: Transport, window: int = 48) -> None:
        self.transport = transport
        self._ticks: deque[tuple[int, float]] = deque(maxlen=window)  # (free-running tick number, time)
        self._total = 0
        self._count = 0  # ticks since the last Start, Continue or Song Position
        self._base_beat = 0.0
        self._playing = False
        self._armed = False  # Start/Continue received, waiting for the first tick
        self._period: float | None = None  # seconds per tick, from the last fit
        self.lost = 0  # ticks counted as lost so far
        self._report_at = 1  # the lost count at which the log says so next (1, 10, 100, ...)

    def estimate_bpm(self) -> float | None:
        """Tempo of the incoming clock, or None before enough ticks arrived."""
        fit = self._fit()
        return fit[1] if fit else None

    def _fit(self) -> tuple[float, float] | None:
        """(fitted time of the last tick, bpm) from a line through the recent ticks, late ones left out;
        None before 6 ticks arrived."""
        if len(self._ticks) < 6:
            return None
        ticks = np.array(self._ticks, dtype=np.float64)
        k, t = ticks[:, 0] - ticks[-1, 0], ticks[:, 1] - ticks[-1, 1]  # relative to the last tick: well conditioned
        keep = np.ones(len(k), dtype=bool)
        for _ in range(3):
            mk, mt = k[keep].mean(), t[keep].mean()
            slope = float(((k[keep] - mk) * (t[keep] - mt)).sum() / ((k[keep] - mk) ** 2).sum())  # seconds per tick
            residual = t - (mt + slope * (k - mk))
            on_time = residual <= np.median(residual[keep]) + LATE_TICK_S
            if on_time.sum() < len(k) // 2 or np.array_equal(on_time, keep):
                break
            keep = on_time
        return float(ticks[-1, 1] + mt - slope * mk), 60.0 / (slope * TICKS_PER_BEAT)

    def tick(self, t: float) -> None:
        """A Timing Clock message (0xF8) arrived at monotonic time ``t``."""
        if lost := self._lost_before(t):  # the tick before this one came after lost ones: renumber it
            n, t_prev = self._ticks[-1]
            self._ticks[-1] = (n + lost, t_prev)
            self._total += lost
            self._count += lost if self._playing and self._count > 0 else 0  # none before the downbeat
            self.lost += lost
            if self.lost >= self._report_at:
                self._report_at = self.lost * 10
                log.warning("MIDI clock: ticks lost on the way so far: %d (counted, so tempo and playhead hold); "
                            "a busy machine or audio system (JACK xruns) loses them", self.lost)
        self._total += 1
        self._ticks.append((self._total, t))
        t_fit, bpm = self._fit() or (t, None)
        self._period = 60.0 / (bpm * TICKS_PER_BEAT) if bpm is not None and bpm > 0 else None
        if bpm is not None and not 20 <= bpm <= 400:
            bpm = None
        if self._armed:  # the first tick after Start/Continue is the downbeat
            self._armed, self._playing, self._count = False, True, 0
            self.transport.set_line(t, self._base_beat, bpm or self.transport.bpm, True)
            return
        if self._playing:
            self._count += 1
            if bpm is not None:
                self.transport.set_line(t_fit, self._base_beat + self._count / TICKS_PER_BEAT, bpm, True)
        elif bpm is not None and abs(bpm - self.transport.bpm) > 0.05:
            self.transport.set_bpm(bpm)

    def _lost_before(self, t: float) -> int:
        """How many ticks were lost before the last one: m - 1 when it came m >= 2 periods after the one
        before it and this one (at ``t``) about one period after it; else 0."""
        if self._period is None or len(self._ticks) < 2:
            return 0
        (_, t0), (_, t1) = self._ticks[-2], self._ticks[-1]
        gap, next_gap = (t1 - t0) / self._period, (t - t1) / self._period
        m = round(gap)
        return m - 1 if m >= 2 and abs(gap - m) <= LOST_TICK_TOLERANCE and abs(next_gap - 1) <= LOST_TICK_TOLERANCE else 0

    def start(self) -> None:
        self._base_beat, self._armed = 0.0, True

    def resume(self) -> None:
        self._base_beat += self._count / TICKS_PER_BEAT
        self._count, self._armed = 0, True

    def stop(self) -> None:
        self._playing = self._armed = False
        self._base_beat += self._count / TICKS_PER_BEAT
        self._count = 0
        self.transport.stop()

    def song_position(self, sixteenths: int) -> None:
        self._base_beat, self._count = sixteenths / 4.0, 0
        if not self._playing:
            self.transport.set_line(time.monotonic(), self._base_beat, self.transport.bpm, False)


class LinkClock:
    """Joins an Ableton Link session (aalink) and follows its tempo and beat on its own thread."""

    def __init__(self, transport: Transport, bpm: float, poll: float = 0.02) -> None:
        self.transport = transport
        self.bpm = bpm
        self.poll = poll
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.peers = 0
        self._thread = threading.Thread(target=self._run, name="coevo-link", daemon=True)

    def start(self, timeout: float = 5.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("Ableton Link did not start within 5 s")
        if self._error is not None:
            raise RuntimeError(f"cannot join Ableton Link: {self._error}") from self._error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        try:
            asyncio.run(self._follow())
        except Exception as err:  # reported to start(); aalink raises plain RuntimeErrors
            self._error = err
            self._ready.set()

    async def _follow(self) -> None:
        from aalink import Link  # imported here: only the Link clock needs it

        link = Link(self.bpm)
        link.enabled = True
        self._ready.set()
        log.info("joined Ableton Link at %.1f BPM", self.bpm)
        while not self._stop.is_set():
            now = time.monotonic()
            beat, tempo = float(link.beat), float(link.tempo)
            if self.peers != link.num_peers:
                self.peers = link.num_peers
                log.info("Ableton Link: %d peer(s)", self.peers)
            drift = abs(self.transport.beat_at(now) - beat) * 60.0 / tempo
            if not self.transport.running or abs(tempo - self.transport.bpm) > 1e-3 or drift > 0.001:
                self.transport.set_line(now, beat, tempo, True)
            await asyncio.sleep(self.poll)
        link.enabled = False
