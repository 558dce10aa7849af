"""The benchmark's onset-lateness measurement, on captures made the way JACK's dummy driver stamps them."""

import numpy as np

from bridge.bench import onset_lateness, peer_figures
from bridge.jack_tools import PERIOD, RATE

CYCLE = PERIOD / RATE
JACK_ZERO = 100.0  # the monotonic time of JACK frame 0


def _capture(sent: list[tuple[float, float, int, int]], stall: tuple[float, float] | None) -> list[tuple[int, int, int, int]]:
    """Stamp each sent note as the dummy driver does: a cycle runs at its nominal time unless a stall
    holds it back, then runs at the stall's end with its own frame number; a note goes out in the first
    cycle that runs after it was sent, stamped with that cycle's first frame."""
    captured = []
    for _, sent_at, channel, pitch in sent:
        k = int(np.ceil((sent_at - JACK_ZERO) / CYCLE))  # the first cycle due after the send
        if stall is not None and stall[0] <= sent_at < stall[1]:
            k = int(np.ceil((stall[0] - JACK_ZERO) / CYCLE))  # held back: it runs at the stall's end
        captured.append((k * PERIOD, channel, pitch, 100))
    return captured


def _take(late_sends: tuple[float, float, float] | None = None) -> list[tuple[float, float, int, int]]:
    """Six seconds of sixteenths at 240 BPM, two notes each, sent 0.2 ms after their deadline (or
    ``late_sends``: (from, to, seconds late))."""
    rng = np.random.default_rng(0)
    sent = []
    for step in range(96):
        deadline = JACK_ZERO + 0.5 + step * 0.0625
        lag = 0.0002
        if late_sends is not None and late_sends[0] <= deadline - JACK_ZERO < late_sends[1]:
            lag = late_sends[2]
        for pitch in rng.choice(np.arange(48, 72), 2, replace=False):
            sent.append((deadline, deadline + lag, 0, int(pitch)))
    return sent


def test_a_driver_stall_does_not_make_the_notes_around_it_read_late() -> None:
    sent = _take()
    _, late, delivery = onset_lateness(_capture(sent, None), sent)
    assert len(late) == len(sent) and late.max() < CYCLE + 0.0003  # one period at most, plus the send lag
    stall = (JACK_ZERO + 1.98, JACK_ZERO + 2.03)  # 50 ms held back: the notes sent in it are stamped early
    _, late, delivery = onset_lateness(_capture(sent, stall), sent)
    figures = peer_figures(late, delivery)
    assert figures["stamped_early_by_driver_stall"] >= 1
    assert figures["onset_lateness"]["n"] == len(sent) - figures["stamped_early_by_driver_stall"]
    assert figures["onset_lateness"]["max_ms"] < (CYCLE + 0.0003) * 1e3  # before: up to the stall's 50 ms


def test_late_sends_from_the_daemon_still_read_late() -> None:
    sent = _take(late_sends=(3.0, 3.2, 0.010))  # the daemon itself sends 10 ms late for 0.2 s
    deadline, late, delivery = onset_lateness(_capture(sent, None), sent)
    late_window = (deadline - JACK_ZERO >= 3.0) & (deadline - JACK_ZERO < 3.2)
    assert np.all(late[late_window] > 0.0095) and np.all(late[~late_window] < CYCLE + 0.0003)
    assert peer_figures(late, delivery)["stamped_early_by_driver_stall"] == 0
