"""The timing thread: sends each MIDI event at its absolute deadline on the monotonic clock.

Events are kept in beats; the deadline of the earliest one is asked of the transport every time
the thread wakes, so a tempo change moves every pending deadline at once. The thread does no
other work: bar lines and phrase starts are handed to the control thread through callbacks that
only enqueue. On JACK, with a cycle clock (``bridge.jack_clock``) and ``cycle_align``, each event
is sent in the middle of the cycle before the one that starts nearest its deadline, so it lands
within half a period of its time whatever the send's own jitter.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import threading
import time
from collections import deque
from typing import Callable, NamedTuple

import mido

from bridge.jack_clock import JackClock
from bridge.phrase import BEATS_PER_BAR, Phrase
from bridge.transport import Transport

__all__ = ["Scheduler", "SentNote"]

log = logging.getLogger(__name__)

NOTE_OFF, BAR, PHRASE_START, NOTE_ON = range(4)  # order of events that fall on the same beat
REALTIME_PRIORITY = 5  # below JACK's (10 and up), above everything at normal priority
REALTIME_FIX = ("for tighter timing on Linux grant realtime priority, e.g. `@audio - rtprio 95` in "
                "/etc/security/limits.d/audio.conf and your user in the audio group")
_SPIN = 0.0015  # the last stretch before a deadline is slept without the lock, precisely


class _Event(NamedTuple):
    """A timeline entry; a tuple, so the heap compares (beat, order, seq) in C."""

    beat: float
    order: int
    seq: int  # unique: later fields are never compared
    phrase_id: str = ""
    note: tuple[int, int, int] | None = None  # channel, pitch, velocity
    phrase: Phrase | None = None


class SentNote(NamedTuple):
    """A note-on as the timing thread sent it, for the benchmark and the tests."""

    deadline: float  # monotonic s
    sent_at: float
    due_at: float  # when it was to be sent: the deadline, or earlier with cycle alignment
    channel: int
    pitch: int
    deadline_frame: int = -1  # with a JACK cycle clock: the JACK frame of the deadline ...
    cycle_frame: int = -1  # ... and the first frame of the cycle that should carry the note (-1: none)


class Scheduler:
    """Owns MIDI timing. ``send`` writes one message to the output port."""

    def __init__(self, transport: Transport, send: Callable[[mido.Message], None],
                 on_bar: Callable[[int], None], on_phrase_start: Callable[[Phrase], None]) -> None:
        self.transport = transport
        self.send = send
        self.on_bar = on_bar
        self.on_phrase_start = on_phrase_start
        self._heap: list[_Event] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = False
        self._was_running = False
        self._sounding: dict[tuple[int, int], int] = {}
        self._channels: set[int] = set()
        self._started: set[str] = set()
        self.clock: JackClock | None = None  # JACK's cycle clock, when the output is a JACK port
        self.cycle_align = False  # with the clock: send each event so it lands in the cycle nearest its deadline
        self.sent_log: deque[SentNote] = deque(maxlen=100_000)  # every note-on, for the benchmark
        self._thread = threading.Thread(target=self._run, name="coevo-timing", daemon=True)
        transport.add_listener(self.wake)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():  # stop() after a start that failed half-way
            self._thread.join(timeout=2)
        self.all_notes_off()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def add_phrase(self, phrase: Phrase, channels: dict[str, int], drum_tracks: tuple[str, ...]) -> None:
        """Commit a phrase: its note-ons, note-offs and start marker go on the timeline."""
        events = [_Event(phrase.start_beat, PHRASE_START, next(self._seq), phrase.id, phrase=phrase)]
        for n in phrase.notes:
            if n.mute:
                continue
            ch = (10 if n.track in drum_tracks else channels.get(n.track, 1)) - 1
            # messages are built when sent: a phrase that is replaced before it plays costs less
            events.append(_Event(phrase.start_beat + n.start, NOTE_ON, next(self._seq), phrase.id,
                                 note=(ch, n.pitch, n.velocity)))
            events.append(_Event(phrase.start_beat + n.end, NOTE_OFF, next(self._seq), phrase.id,
                                 note=(ch, n.pitch, 0)))
        with self._cond:
            for e in events:
                heapq.heappush(self._heap, e)
            self._cond.notify_all()

    def replace_phrase(self, old_id: str, new: Phrase, channels: dict[str, int], drum_tracks: tuple[str, ...],
                       margin_s: float = 0.02) -> bool:
        """Swap a committed phrase that has not started and starts more than ``margin_s`` from now."""
        with self._cond:
            if old_id in self._started or self.transport.time_at(new.start_beat) - time.monotonic() < margin_s:
                return False
            self._heap = [e for e in self._heap if e.phrase_id != old_id]
            heapq.heapify(self._heap)
        self.add_phrase(new, channels, drum_tracks)
        return True

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def all_notes_off(self) -> None:
        """Note-off for every sounding note, then All Notes Off (CC 123) on every channel used."""
        with self._cond:
            sounding, self._sounding = list(self._sounding), {}
            channels = sorted(self._channels)
        for ch, pitch in sounding:
            self.send(mido.Message("note_off", channel=ch, note=pitch, velocity=0))
        for ch in channels:
            self.send(mido.Message("control_change", channel=ch, control=123, value=0))

    def clear(self) -> None:
        """Drop everything pending and silence what sounds (transport stopped)."""
        with self._cond:
            self._heap.clear()
            self._started.clear()
        self.all_notes_off()

    def _run(self) -> None:
        _realtime_priority()
        while True:
            with self._cond:
                if self._stop:
                    return
                running = self.transport.running
                if running and not self._was_running:
                    first_bar = math.ceil(self.transport.beat_now() / BEATS_PER_BAR - 1e-9) * BEATS_PER_BAR
                    heapq.heappush(self._heap, _Event(first_bar, BAR, next(self._seq)))
                self._was_running = running
                if not running:
                    silence = bool(self._heap or self._sounding)
                    self._heap.clear()
                    self._started.clear()
                    if not silence:
                        self._cond.wait(0.1)
                        continue
                elif not self._heap:
                    self._cond.wait(0.1)
                    continue
                else:
                    send_at = self._send_time(self.transport.time_at(self._heap[0].beat))
                    wait = send_at - time.monotonic()
                    if wait > _SPIN:
                        self._cond.wait(wait - _SPIN)
                        continue
            if not running:
                self.all_notes_off()
                continue
            # one precise sleep (clock_nanosleep) to the send time: every wake-up has to win the GIL back
            time.sleep(max(0.0, send_at - time.monotonic()))
            self._dispatch_due()

    def _send_time(self, deadline: float) -> float:
        """When an event due at ``deadline`` goes out: then, or aligned to JACK's cycles."""
        clock = self.clock
        if clock is None or not self.cycle_align:
            return deadline
        return clock.send_time(deadline)

    def _dispatch_due(self) -> None:
        due: list[tuple[_Event, float]] = []  # with the time each was due to be sent
        with self._cond:
            now = time.monotonic()
            while self._heap:
                send_at = self._send_time(self.transport.time_at(self._heap[0].beat))
                if send_at > now + 0.0002:
                    break
                due.append((heapq.heappop(self._heap), send_at))
            for e, _ in due:
                if e.order == BAR:
                    heapq.heappush(self._heap, _Event(e.beat + BEATS_PER_BAR, BAR, next(self._seq)))
                elif e.order == PHRASE_START:
                    self._started.add(e.phrase_id)
        for e, send_at in due:
            if e.order == BAR:
                self.on_bar(int(round(e.beat / BEATS_PER_BAR)))
            elif e.order == PHRASE_START and e.phrase is not None:
                self.on_phrase_start(e.phrase)
            elif e.note is not None:
                self._send_note(e, send_at, *e.note)

    def _send_note(self, e: _Event, due_at: float, channel: int, pitch: int, velocity: int) -> None:
        key = (channel, pitch)
        with self._cond:
            held = self._sounding.pop(key, 0)
            if e.order == NOTE_ON:
                self._sounding[key] = 1
                self._channels.add(channel)
        if e.order == NOTE_ON:
            if held:  # the same pitch is still sounding: end it first
                self.send(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
            self.send(mido.Message("note_on", channel=channel, note=pitch, velocity=velocity))
            sent_at, deadline, clock = time.monotonic(), self.transport.time_at(e.beat), self.clock
            frames = clock.frames(deadline) if clock is not None else (-1, -1)
            self.sent_log.append(SentNote(deadline, sent_at, due_at, channel, pitch, *frames))
        elif held:
            self.send(mido.Message("note_off", channel=channel, note=pitch, velocity=0))


def _realtime_priority() -> None:
    """Put the calling thread in SCHED_FIFO where the system allows it (Linux, rtprio granted)."""
    error = set_realtime_priority()
    if error is None:
        log.info("timing thread at realtime priority %d", REALTIME_PRIORITY)
    else:
        log.info("timing thread at normal priority (%s); %s", error, REALTIME_FIX)


def set_realtime_priority() -> str | None:
    """SCHED_FIFO for the calling thread; None on success, else why not."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))  # 0: this thread
    except (AttributeError, OSError) as err:
        return str(err) or type(err).__name__
    return None


def realtime_available() -> str | None:
    """Whether the timing thread will get realtime priority: None if so, else why not (tried on a
    short-lived thread, so the caller's own priority is left alone)."""
    result: list[str | None] = []
    probe = threading.Thread(target=lambda: result.append(set_realtime_priority()))
    probe.start()
    probe.join()
    return result[0]
