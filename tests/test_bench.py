"""The benchmark's onset measurement, on captures made the way JACK and jack_midi_dump stamp notes.

The server's frames are 32-bit and wrap; jack_midi_dump counts the frames of the cycles it processes
from its own start, so its count differs from the server's by an offset, which moves by a period when
it misses a cycle. rtmidi writes each note at the first frame of the cycle after the one it was sent in.
"""

import os
import time

import numpy as np

from bridge.bench import cpu_shares, cpu_times, onset_lateness, peer_figures
from bridge.jack_clock import frame_difference
from bridge.jack_tools import PERIOD, RATE
from bridge.scheduler import SentNote

START = (1 << 32) - 200 * PERIOD  # the take crosses the server's frame counter wrapping to 0
PEER_ORIGIN = 123 * PERIOD + START  # the server's frame at which jack_midi_dump started counting
STEP = 1 / 16 * RATE  # a sixteenth at 240 BPM, in frames


def _take(align: bool, lag_frames: int = 10, late: tuple[int, int, int] | None = None) -> list[SentNote]:
    """96 sixteenths, two notes each, deadlines off the cycle grid; each send ``lag_frames`` after it
    was due (``late``: notes from .. to get that many frames more). Unaligned, a note is due at its
    deadline; aligned, in the middle of the cycle before the one starting nearest it."""
    rng = np.random.default_rng(0)
    sent = []
    for step in range(96):
        deadline_frame = (START + 3000 + round(step * STEP) + int(rng.integers(0, PERIOD))) % (1 << 32)
        nearest = START + round(frame_difference(deadline_frame, START) / PERIOD) * PERIOD  # the cycle nearest
        due = nearest - PERIOD // 2 if align else deadline_frame
        for k, pitch in enumerate(rng.choice(np.arange(48, 72), 2, replace=False)):
            lag = lag_frames + (late[2] if late is not None and late[0] <= 2 * step + k < late[1] else 0)
            sent_frame = due + lag
            cycle = START + (frame_difference(sent_frame, START) // PERIOD + 1) * PERIOD  # the next cycle
            sent.append(SentNote(deadline_frame / RATE, sent_frame / RATE, due / RATE, 0, int(pitch),
                                 deadline_frame, cycle % (1 << 32)))
    return sent


def _capture(sent: list[SentNote], held_back: dict[int, int] | None = None,
             missed_cycle_at: int | None = None) -> list[tuple[int, int, int, int]]:
    """What jack_midi_dump prints: its own frame count of each note's cycle (``held_back``: note index
    -> cycles the server held it back; ``missed_cycle_at``: the peer misses a cycle before that note)."""
    captured = []
    for k, n in enumerate(sent):
        landed = n.cycle_frame + (held_back or {}).get(k, 0) * PERIOD
        count = frame_difference(landed, PEER_ORIGIN)
        if missed_cycle_at is not None and k >= missed_cycle_at:
            count -= PERIOD
        captured.append((count, n.channel, n.pitch, 100))
    return captured


def test_lateness_is_where_the_note_landed_in_jack_frames() -> None:
    sent = _take(align=False)
    onsets = onset_lateness(_capture(sent), sent)
    expected = np.array([frame_difference(n.cycle_frame, n.deadline_frame) for n in sent]) / RATE
    assert len(onsets.lateness) == len(sent)
    np.testing.assert_allclose(onsets.lateness, expected)  # across the wrap of the frame counter
    assert onsets.lateness.min() > 0 and onsets.lateness.max() <= (PERIOD + 10) / RATE  # up to a period late
    assert np.all(onsets.delivery == 0)


def test_aligned_notes_land_within_half_a_period_either_way() -> None:
    sent = _take(align=True, lag_frames=25)  # a send 25 frames late still reaches its cycle
    figures = peer_figures(onset_lateness(_capture(sent), sent))
    assert figures["onset_error"]["max_ms"] <= round(PERIOD / 2 / RATE * 1e3, 3)  # figures are rounded to 1 µs
    assert figures["onset_lateness"]["min_ms"] < 0  # some land early, by design
    assert figures["held_back_by_jack"] == 0


def test_a_peer_that_misses_a_cycle_moves_its_count_but_no_note_reads_late() -> None:
    sent = _take(align=False)
    onsets = onset_lateness(_capture(sent, missed_cycle_at=100), sent)
    assert np.all(onsets.delivery == 0)
    assert onsets.lateness.max() <= (PERIOD + 10) / RATE


def test_notes_the_server_held_back_read_late_by_their_cycles() -> None:
    sent = _take(align=True)
    held = {60: 3, 61: 3, 62: 3}  # a stall held back one sixteenth's notes for three cycles
    onsets = onset_lateness(_capture(sent, held_back=held), sent)
    np.testing.assert_allclose(onsets.delivery[[60, 61, 62]], 3 * PERIOD / RATE)
    assert np.all(np.delete(onsets.delivery, [60, 61, 62]) == 0)
    assert peer_figures(onsets)["held_back_by_jack"] == 3


def test_late_sends_from_the_daemon_still_read_late() -> None:
    sent = _take(align=True, late=(80, 90, 480))  # the daemon itself sends ten notes 10 ms late
    onsets = onset_lateness(_capture(sent), sent)
    assert np.all(onsets.lateness[80:90] > 0.0095) and np.all(onsets.placement[80:90] > 0.0095)
    assert np.all(np.abs(np.delete(onsets.lateness, range(80, 90))) <= PERIOD / 2 / RATE)
    assert np.all(onsets.delivery == 0)


def test_frames_wrap_at_32_bits() -> None:
    assert frame_difference(5, (1 << 32) - 5) == 10
    assert frame_difference((1 << 32) - 5, 5) == -10
    a, b = np.array([5, (1 << 32) - 5], dtype=np.int64), np.array([(1 << 32) - 5, 5], dtype=np.int64)
    assert frame_difference(a, b).tolist() == [10, -10]


def test_notes_sent_on_time_across_a_jump_of_jacks_clock_are_counted_apart() -> None:
    """A stalled server: four notes sent on time find the cycle before the stall current and land 15 ms
    before their deadline's frame, which the server's clock gave before it fell behind."""
    sent = [n._replace(cycle_frame=(n.cycle_frame - 720) % (1 << 32)) if 100 <= k < 104 else n
            for k, n in enumerate(_take(align=True))]
    figures = peer_figures(onset_lateness(_capture(sent), sent))
    assert figures["at_jack_clock_break"] == 4
    assert figures["onset_error"]["max_ms"] <= round(PERIOD / 2 / RATE * 1e3, 3)
    assert figures["onset_error_all_notes"]["max_ms"] > 14.0


def test_cpu_accounting_reads_busy_idle_and_stolen_time_from_the_kernel() -> None:
    before = cpu_times()
    assert before is not None, "Linux's /proc/stat should be readable"
    end = time.process_time() + 0.3
    while time.process_time() < end:  # 0.3 s of this CPU busy
        pass
    after = cpu_times()
    assert after is not None and (after >= before).all()
    assert after[0] - before[0] >= 0.2 * os.sysconf("SC_CLK_TCK")  # at least the time spun here
    assert cpu_shares(np.array([30, 60, 10])) == {"busy": 0.3, "idle": 0.6, "stolen": 0.1}
