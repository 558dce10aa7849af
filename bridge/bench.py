"""``coevo bench live``: figures for the live path, printed and written as JSON.

1. inference: torch eager vs onnxruntime on the same generator and the same inputs (one phrase);
2. timing, baseline: the daemon plays into jack_midi_dump with no OSC load;
3. timing, loaded: the same while OSC feedback arrives at 200 messages/s; every message changes the
   state, so every one is answered by a new phrase: feedback -> phrase ready (p50/p99/max).
Onset lateness is measured at the JACK peer: each captured note-on frame against its scheduled
deadline, with the offset between the two clocks taken as the smallest difference seen.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.config import Config
from bridge.errors import CoevoError
from bridge.generation import resolve_model_path
from bridge.jack_tools import RATE, JackServer, MidiDump, jack_ports

__all__ = ["bench_live", "percentiles"]

log = logging.getLogger(__name__)

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


def _lateness(dump: MidiDump, sent: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(deadline, lateness) of every note-on, captured at the JACK peer.

    The i-th note-on sent is the i-th captured. The capture's clock (JACK frames) and the monotonic
    clock differ by an offset and a small rate error: both are removed with a line through the
    earliest arrivals of each tenth of the run, so lateness is measured from the best case.
    """
    deadlines = np.array([d for d, _ in sent])
    frames = np.array(sorted(f for f, _, _, _ in dump.note_ons()), dtype=np.float64) / RATE
    n = min(deadlines.size, frames.size)
    if n < 10:
        return np.empty(0), np.empty(0)
    if deadlines.size != frames.size:
        log.warning("sent %d note-ons, captured %d: pairing the first %d", deadlines.size, frames.size, n)
    deadlines, diffs = deadlines[:n], frames[:n] - deadlines[:n]
    chunks = np.array_split(np.arange(n), 10)
    xs = np.array([deadlines[c[np.argmin(diffs[c])]] for c in chunks])
    ys = np.array([diffs[c].min() for c in chunks])
    slope, intercept = np.polyfit(xs - xs[0], ys, 1)
    late = diffs - (intercept + slope * (deadlines - xs[0]))
    return deadlines, late - min(0.0, float(late.min()))


class _Flood:
    """Sends OSC feedback (nudges that change the state) at a fixed rate from its own thread."""

    def __init__(self, port: int, rate: float, axes: tuple[str, ...]) -> None:
        self.port, self.rate, self.axes = port, rate, axes
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t0 = time.monotonic()
        while not self._stop.is_set():
            k = self.sent
            amount = 0.2 if (k // len(self.axes)) % 2 == 0 else -0.2
            msg = OscMessageBuilder("/coevo/nudge")
            msg.add_arg(self.axes[k % len(self.axes)], "s")
            msg.add_arg(amount, "f")
            sock.sendto(msg.build().dgram, ("127.0.0.1", self.port))
            self.sent += 1
            wait = t0 + self.sent / self.rate - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
        sock.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


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
    bars = 2
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "model": str(path), "targets": TARGETS, "seconds_per_phase": seconds,
        "jack": {"rate": RATE, "period": 64, "realtime": bool(server.realtime) if server else None},
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
            a0 = time.monotonic()
            time.sleep(seconds)
            a1 = time.monotonic()
            daemon.ready_latency.clear()
            flood = _Flood(daemon.osc.address[1], 200.0, daemon.state.axis_names)
            print(f"timing, OSC feedback at 200 messages/s ({seconds:g} s) ...", flush=True)
            flood.start()
            time.sleep(seconds)
            flood.stop()
            b1 = time.monotonic()
            time.sleep(1.0)
            ready = list(daemon.ready_latency)
            sent = list(daemon.scheduler.lateness)
        finally:
            daemon.stop()
            dump.close()
        deadlines, late = _lateness(dump, sent)
        results["baseline"] = {"onset_lateness": percentiles(late[(deadlines >= a0) & (deadlines < a1)])}
        results["loaded"] = {"osc_messages": flood.sent, "osc_rate_per_s": round(flood.sent / (b1 - a1), 1),
                             "onset_lateness": percentiles(late[(deadlines >= a1) & (deadlines < b1)]),
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
    rows = [("inference, torch eager", inf.get("torch_eager", {})), ("inference, onnxruntime", inf.get("onnxruntime", {})),
            ("onset lateness, no load", results["baseline"]["onset_lateness"]),
            ("onset lateness, 200 OSC msg/s", loaded["onset_lateness"]),
            ("feedback -> phrase ready, 200 OSC msg/s", loaded["phrase_ready"])]
    for name, r in rows:
        print(f"| {name} | {r.get('n', '-')} | {r.get('p50_ms', '-')} | {r.get('p99_ms', '-')} | {r.get('max_ms', '-')} |")
    print(f"\ntargets: phrase ready p99 <= 5 ms: {'met' if met['phrase_ready_p99_ms'] else 'MISSED'}; "
          f"onset lateness p99 <= 2 ms: {'met' if met['onset_lateness_p99_ms'] else 'MISSED'}")
    print(f"results written to {out}")
    return 0 if all(met.values()) else 1
