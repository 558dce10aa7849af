"""``coevo bench live``: figures for the live path, printed and written as JSON.

1. inference: torch eager vs onnxruntime on the same generator and the same inputs (one phrase);
2. timing, baseline: the daemon plays into jack_midi_dump with no OSC load;
3. timing, loaded: the same while OSC feedback arrives at 200 messages/s; every message changes the
   state, so every one is answered by a new phrase: feedback -> phrase ready (p50/p99/max).
Onset lateness is measured at the JACK peer: each captured note-on frame against its scheduled
deadline, with the offset between the two clocks taken as the smallest difference seen.
"""

from __future__ import annotations

import difflib
import json
import logging
import multiprocessing
import os
import platform
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.config import Config
from bridge.errors import CoevoError
from bridge.generation import resolve_model_path
from bridge.jack_tools import PERIOD, RATE, JackServer, MidiDump, jack_ports

__all__ = ["bench_live", "onset_lateness", "peer_figures", "percentiles"]

log = logging.getLogger(__name__)

OFFSET_WINDOW_S = 1.0  # JACK frames vs monotonic clock: offset taken within this distance of each note
STALL_GUARD_S = 2 * PERIOD / RATE  # a delivery this much quicker than its neighbours' median was stamped by a stalled cycle
TARGETS = {"phrase_ready_p99_ms": 5.0, "onset_lateness_p99_ms": 2.0}


def percentiles(values_s: list[float] | np.ndarray) -> dict[str, float]:
    """p50/p99/max of durations given in seconds, reported in milliseconds."""
    v = np.asarray(values_s, dtype=np.float64) * 1000.0
    if v.size == 0:
        return {"n": 0}
    return {"n": int(v.size), "p50_ms": round(float(np.percentile(v, 50)), 3),
            "p99_ms": round(float(np.percentile(v, 99)), 3), "max_ms": round(float(v.max()), 3)}


def _inference(model_path: Path, bars: int, runs: int = 500) -> dict[str, Any]:
    try:
        import torch

        from export.onnx_export import generator_from_onnx
    except ImportError as err:
        return {"skipped": f"torch is not installed ({err}); pip install 'coevo[train]'"}
    from bridge.generation import Generator

    torch.set_num_threads(1)
    gen = Generator(model_path, ["CPUExecutionProvider"])
    c = gen.contract
    rng = np.random.default_rng(0)
    feeds = [rng.standard_normal((bars, c.latent_size), dtype=np.float32),
             rng.standard_normal((bars, c.bar_latent_size), dtype=np.float32),
             rng.uniform(-1, 1, (bars, 2)).astype(np.float32),
             rng.uniform(-1, 1, (bars, len(c.code_names))).astype(np.float32)]
    model = generator_from_onnx(model_path)
    tensors = [torch.from_numpy(f) for f in feeds]
    times: dict[str, list[float]] = {"torch_eager": [], "onnxruntime": []}
    with torch.inference_mode():
        for _ in range(20):
            model(*tensors)
            gen.run(*feeds)
        for _ in range(runs):  # interleaved, so both see the same machine load
            t = time.perf_counter()
            want = model(*tensors)
            times["torch_eager"].append(time.perf_counter() - t)
            t = time.perf_counter()
            got = gen.run(*feeds)
            times["onnxruntime"].append(time.perf_counter() - t)
    diff = float(max(np.abs(g - w.numpy()).max() for g, w in zip(got, want)))
    out: dict[str, Any] = {name: percentiles(v) for name, v in times.items()}
    out["bars_per_call"] = bars
    out["max_abs_diff"] = diff
    out["speedup_p50"] = round(out["torch_eager"]["p50_ms"] / out["onnxruntime"]["p50_ms"], 2)
    return out


def _pair(sent: list[tuple[float, float, int, int]], captured: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Rows (deadline, sent, captured) in seconds of the note-ons found at the peer, aligned by (channel, pitch)."""
    a = [(c, p) for _, _, c, p in sent]
    b = [(c, p) for _, c, p, _ in captured]
    rows = []
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            deadline, sent_at, _, _ = sent[block.a + k]
            rows.append((deadline, sent_at, captured[block.b + k][0] / RATE))
    if len(rows) != len(sent):
        log.warning("sent %d note-ons, captured %d, paired %d", len(sent), len(captured), len(rows))
    return np.array(rows).reshape(-1, 3)


def onset_lateness(captured: list[tuple[int, int, int, int]],
                   sent: list[tuple[float, float, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(deadline, onset lateness, JACK delivery) in seconds of every note-on captured at the JACK peer.

    ``captured``: the peer's (frame, channel, pitch, velocity) note-ons; ``sent``: the scheduler's
    (deadline, sent at, channel, pitch) log.

    The peer stamps notes in JACK frames, a clock that wanders against the monotonic one (the
    dummy driver runs on the machine's timers). The offset between the two is taken locally: the
    quickest delivery (capture - send) within a second either side of each note. Onset lateness
    (capture - deadline) is then the daemon's own send lateness plus JACK delivery: up to one
    period (64 frames, 1.33 ms) with rtmidi, which writes each event at the start of the next
    cycle, plus the driver's wake-up jitter.

    A driver stall breaks the quickest-delivery rule: the cycles it held back run late but keep
    their frame numbers, so a note sent during the stall is stamped up to the stall's length
    *before* it was sent. Deliveries quicker than the window's median by more than
    ``STALL_GUARD_S`` are such stamps; they are left out of the offset (else every note within a
    second of a 30 ms stall would read 30 ms late) and come back with a negative delivery.
    """
    rows = _pair(sent, sorted(captured, key=lambda e: e[0]))  # stable sort: send order kept
    if len(rows) < 20:
        return np.empty(0), np.empty(0), np.empty(0)
    rows = rows[np.argsort(rows[:, 1], kind="stable")]
    deadline, sent_at, captured = rows.T
    delivery = captured - sent_at
    lo = np.searchsorted(sent_at, sent_at - OFFSET_WINDOW_S, side="left")
    hi = np.searchsorted(sent_at, sent_at + OFFSET_WINDOW_S, side="right")
    offset = np.empty_like(delivery)
    for k, (a, b) in enumerate(zip(lo, hi)):
        near = delivery[a:b]
        offset[k] = near[near >= np.median(near) - STALL_GUARD_S].min()
    delivery = delivery - offset
    late = np.maximum(sent_at - deadline, 0.0) + delivery
    return deadline, late, delivery


def peer_figures(late: np.ndarray, delivery: np.ndarray) -> dict[str, Any]:
    """Onset lateness and JACK delivery percentiles, leaving out (and counting) the notes a driver
    stall stamped early: their true lateness is unknown, and counting them as early would flatter."""
    measured = delivery >= 0.0
    return {"onset_lateness": percentiles(late[measured]), "jack_delivery": percentiles(delivery[measured]),
            "stamped_early_by_driver_stall": int((~measured).sum())}


def _flood(port: int, rate: float, axes: tuple[str, ...], stop: Any, sent: Any) -> None:
    """Send OSC feedback (nudges that change the state) at a fixed rate until ``stop`` is set."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t0 = time.monotonic()
    k = 0
    while not stop.is_set():
        amount = 0.2 if (k // len(axes)) % 2 == 0 else -0.2
        msg = OscMessageBuilder("/coevo/nudge")
        msg.add_arg(axes[k % len(axes)], "s")
        msg.add_arg(amount, "f")
        sock.sendto(msg.build().dgram, ("127.0.0.1", port))
        k += 1
        sent.value = k
        wait = t0 + k / rate - time.monotonic()
        if wait > 0:
            stop.wait(wait)
    sock.close()


class _Flood:
    """A separate process sending OSC feedback at a fixed rate, as a controller would (no shared GIL)."""

    def __init__(self, port: int, rate: float, axes: tuple[str, ...]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._sent = ctx.Value("i", 0)
        self._proc = ctx.Process(target=_flood, args=(port, rate, axes, self._stop, self._sent), daemon=True)

    @property
    def sent(self) -> int:
        return int(self._sent.value)

    def start(self) -> None:
        self._proc.start()

    def stop(self) -> None:
        self._stop.set()
        self._proc.join(timeout=5)


def bench_live(out: Path, seconds: float = 20.0, model: str = "") -> int:
    """Run the benchmark; print a table and write JSON to ``out``. Returns 0 (1 if a target is missed)."""
    from bridge.daemon import Daemon

    path = resolve_model_path(model, "generator")
    if path is None:
        raise CoevoError("no generator to benchmark: none is shipped; pass --model FILE.onnx")
    if not jack_ports() and not os.environ.get("JACK_DEFAULT_SERVER"):
        log.info("no JACK server answered; starting jackd with the dummy driver for the benchmark")
    tmp = Path(tempfile.mkdtemp(prefix="coevo-bench-"))
    server = None if jack_ports() else JackServer(f"coevo-bench-server-{os.getpid()}", tmp / "jackd.log")
    os.environ["MIDO_BACKEND"] = "mido.backends.rtmidi/UNIX_JACK"
    xruns = server.xruns if server is not None else lambda: None  # unknown on a server someone else started
    bars = 2
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "model": str(path), "targets": TARGETS, "seconds_per_phase": seconds,
        "jack": {"rate": RATE, "period": PERIOD, "realtime": bool(server.realtime) if server else None},
    }
    try:
        print("inference (one phrase of %d bars) ..." % bars, flush=True)
        results["inference"] = _inference(path, bars)
        cfg = Config(model=str(path), osc_port=0, data_dir=str(tmp / "data"), apply="now", bpm=120.0, bars=bars,
                     density=0.6, midi_client="coevo-bench", write_midi=False).validate()
        daemon = Daemon(cfg)
        daemon.start()
        dump = MidiDump(f"{cfg.midi_client}:coevo out", f"coevo-bench-dump-{os.getpid()}")
        try:
            time.sleep(2.5)  # count-in and first phrase
            print(f"timing, no OSC load ({seconds:g} s) ...", flush=True)
            a0, xruns_a0 = time.monotonic(), xruns()
            time.sleep(seconds)
            a1, xruns_a1 = time.monotonic(), xruns()
            flood = _Flood(daemon.osc.address[1], 200.0, daemon.state.axis_names)
            print(f"timing, OSC feedback at 200 messages/s ({seconds:g} s) ...", flush=True)
            flood.start()
            while flood.sent == 0 and time.monotonic() < a1 + 30:  # the sender process starts up
                time.sleep(0.01)
            time.sleep(0.5)
            daemon.ready_latency.clear()
            b0, sent_at_b0, xruns_b0 = time.monotonic(), flood.sent, xruns()
            time.sleep(seconds)
            sent_before = flood.sent
            b1, xruns_b1 = time.monotonic(), xruns()
            flood.stop()
            time.sleep(1.0)
            ready = list(daemon.ready_latency)
            sent = list(daemon.scheduler.sent_log)
        finally:
            daemon.stop()
            dump.close()
        deadlines, late, delivery = onset_lateness(dump.note_ons(), sent)
        at_send = np.array([s - d for d, s, _, _ in sent])
        send_deadlines = np.array([d for d, _, _, _ in sent])

        def phase(lo: float, hi: float) -> dict[str, Any]:
            window = (deadlines >= lo) & (deadlines < hi)
            return {**peer_figures(late[window], delivery[window]),
                    "send_lateness": percentiles(at_send[(send_deadlines >= lo) & (send_deadlines < hi)])}

        count = lambda a, b: None if a is None or b is None else b - a  # noqa: E731
        results["baseline"] = {**phase(a0, a1), "jack_xruns": count(xruns_a0, xruns_a1)}
        results["loaded"] = {**phase(b0, b1), "jack_xruns": count(xruns_b0, xruns_b1), "osc_messages": flood.sent,
                             "osc_rate_per_s": round((sent_before - sent_at_b0) / (b1 - b0), 1),
                             "phrase_ready": percentiles(ready)}
    finally:
        if server is not None:
            server.stop()
    loaded = results["loaded"]
    met = {"phrase_ready_p99_ms": loaded["phrase_ready"].get("p99_ms", float("inf")) <= TARGETS["phrase_ready_p99_ms"],
           "onset_lateness_p99_ms": loaded["onset_lateness"].get("p99_ms", float("inf")) <= TARGETS["onset_lateness_p99_ms"]}
    results["targets_met"] = met
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    inf = results["inference"]
    print("\n| measure | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    rows = [("inference, torch eager", inf.get("torch_eager", {})), ("inference, onnxruntime", inf.get("onnxruntime", {}))]
    for key, label in (("onset_lateness", "onset lateness at the JACK peer"), ("send_lateness", "of which: send lateness in the daemon"),
                       ("jack_delivery", "of which: JACK delivery (period + driver)")):
        rows += [(f"{label}, no load", results["baseline"][key]), (f"{label}, 200 OSC msg/s", loaded[key])]
    rows.append(("feedback -> phrase ready, 200 OSC msg/s", loaded["phrase_ready"]))
    for name, r in rows:
        print(f"| {name} | {r.get('n', '-')} | {r.get('p50_ms', '-')} | {r.get('p99_ms', '-')} | {r.get('max_ms', '-')} |")
    print(f"\nnotes stamped early by a JACK driver stall (left out above): "
          f"{results['baseline']['stamped_early_by_driver_stall']} no load, {loaded['stamped_early_by_driver_stall']} under load")
    if server is not None:
        print(f"JACK xruns (a client missed its cycle; JACK drops that cycle's MIDI): "
              f"{results['baseline']['jack_xruns']} no load, {loaded['jack_xruns']} under load")
    print(f"targets: phrase ready p99 <= 5 ms: {'met' if met['phrase_ready_p99_ms'] else 'MISSED'}; "
          f"onset lateness p99 <= 2 ms: {'met' if met['onset_lateness_p99_ms'] else 'MISSED'}")
    print(f"results written to {out}")
    return 0 if all(met.values()) else 1
