"""``coevo bench live``: figures for the live path, printed and written as JSON.

1. inference: torch eager vs onnxruntime on the same generator and the same inputs (one phrase);
2. timing, no load: the daemon plays into jack_midi_dump, each note sent to land in the JACK cycle
   nearest its deadline (cycle alignment, the default);
3. timing, loaded: the same while OSC feedback arrives at 200 messages/s; every message changes the
   state, so every one is answered by a new phrase: feedback -> phrase ready (p50/p99/max);
   in turns of 5 s with
4. cycle alignment off: each note sent at its deadline, as before alignment existed, the baseline
   measured in the same run and under the same load.
Onset lateness is measured at the JACK peer in JACK's own frames: the frame each note-on landed on
against the frame of its deadline, both read from the server's frame timer (``onset_lateness``).
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
from typing import Any, NamedTuple

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.config import Config
from bridge.errors import CoevoError
from bridge.generation import resolve_model_path
from bridge.jack_clock import frame_difference
from bridge.jack_tools import PERIOD, RATE, JackServer, MidiDump, jack_ports
from bridge.scheduler import SentNote

__all__ = ["bench_live", "cpu_shares", "cpu_times", "onset_lateness", "peer_figures", "percentiles", "Onsets"]

log = logging.getLogger(__name__)

ALTERNATE_S = 5.0  # under load, cycle alignment on and off in turns this long, so both see the same machine
PEER_WINDOW = 16  # notes either side whose peer offsets decide a note's
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


class Onsets(NamedTuple):
    """Every note-on found at the JACK peer, in seconds: lateness = placement + delivery."""

    deadline: np.ndarray  # monotonic s
    lateness: np.ndarray  # where the note landed in JACK's frames, against its deadline's frame (signed)
    placement: np.ndarray  # the cycle the daemon's send reached, against the deadline: the daemon's part
    delivery: np.ndarray  # the cycle the peer got it in, against that one: JACK's part (0, or whole periods)
    clock_break: np.ndarray  # sent on time, yet its cycle is impossible for that: JACK's clock jumped (bool)


def _pair(sent: list[SentNote], captured: list[tuple[int, int, int, int]]) -> list[tuple[int, int]]:
    """(index in ``sent``, peer frame) of the note-ons found at the peer, aligned by (channel, pitch)."""
    a = [(n.channel, n.pitch) for n in sent]
    b = [(c, p) for _, c, p, _ in captured]
    pairs = []
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        pairs += [(block.a + k, captured[block.b + k][0]) for k in range(block.size)]
    if len(pairs) != len(sent):
        log.warning("sent %d note-ons, captured %d, paired %d", len(sent), len(captured), len(pairs))
    return pairs


def _peer_offsets(offsets: np.ndarray, neighbours: int = PEER_WINDOW) -> np.ndarray:
    """The peer's frame offset at each note: the note's own (peer frame - expected cycle) where at least a
    third of its neighbours share it, else the commonest among them. jack_midi_dump counts the cycles
    it processes, and a cycle it misses moves its count against the server's for good, so the offset
    is taken locally; a note the server held back stands alone with a larger offset and is measured
    against its neighbours'."""
    out = np.empty_like(offsets)
    for k in range(offsets.size):
        values, counts = np.unique(offsets[max(0, k - neighbours): k + neighbours + 1], return_counts=True)
        shared = counts[values == offsets[k]][0]
        out[k] = offsets[k] if 3 * shared >= counts.sum() else values[counts.argmax()]
    return out


def onset_lateness(captured: list[tuple[int, int, int, int]], sent: list[SentNote], rate: int = RATE,
                   period: int = PERIOD) -> Onsets:
    """Where each note-on landed at the JACK peer, in JACK's own frames, against its deadline.

    ``captured``: the peer's (frame, channel, pitch, velocity) note-ons; ``sent``: the scheduler's log,
    which holds, for each note, the JACK frame of its deadline and the first frame of the cycle that
    should carry it (the next one after the send), both read from the server's frame timer.

    jack_midi_dump counts frames from its own start, so its frames differ from the server's by an
    offset: the one most nearby notes show between where they landed and the cycle that should have
    carried them (``_peer_offsets``). A note the server held back (an xrun, a stalled driver) lands
    cycles later than that, and its delivery says by how much. Lateness is signed: a note aligned to
    the cycle nearest its deadline may land up to half a period early.

    When the server's cycles stall (JACK's dummy driver on a busy VM), its frame clock falls behind the
    wall clock, and a note sent on time during the stall lands many periods off its deadline's frame,
    which was read before the jump. Such notes are marked ``clock_break``: where they belong in JACK's
    timeline is unknown, and the daemon sent them on time.
    """
    rows = [(n.deadline, n.sent_at - n.due_at, n.deadline_frame, n.cycle_frame, frame)
            for n, frame in ((sent[i], frame) for i, frame in _pair(sent, sorted(captured, key=lambda e: e[0])))
            if n.cycle_frame >= 0]
    if len(rows) < 20:
        return Onsets(*(np.empty(0) for _ in Onsets._fields))
    columns = list(zip(*rows))
    deadline, send_late = (np.array(c, dtype=np.float64) for c in columns[:2])
    deadline_frame, cycle_frame, peer_frame = (np.array(c, dtype=np.int64) for c in columns[2:])
    landed = peer_frame - _peer_offsets(frame_difference(peer_frame, cycle_frame))
    placement = frame_difference(cycle_frame, deadline_frame)
    # a send at most half a period late reaches a cycle from half a period before its deadline (aligned)
    # to one and a half after (sent at the deadline); a reading of the cycle's wake-up jitters by a few
    # frames, so only a cycle a whole period beyond that means the clock jumped
    clock_break = (send_late <= period / 2 / rate) & ((placement < -1.5 * period) | (placement > 2.5 * period))
    return Onsets(deadline, frame_difference(landed, deadline_frame) / rate, placement / rate,
                  frame_difference(landed, cycle_frame) / rate, clock_break)


def peer_figures(onsets: Onsets) -> dict[str, Any]:
    """Onset lateness (signed, with its earliest), its absolute error, and the daemon's and JACK's parts,
    of the notes away from a break in JACK's clock; those are counted, and the error given with them."""
    kept = ~onsets.clock_break.astype(bool)
    late = onsets.lateness[kept]
    return {"onset_lateness": {**percentiles(late), **({"min_ms": round(float(late.min()) * 1e3, 3)} if late.size else {})},
            "onset_error": percentiles(np.abs(late)), "placement": percentiles(onsets.placement[kept]),
            "jack_delivery": percentiles(onsets.delivery[kept]),
            "held_back_by_jack": int((onsets.delivery[kept] > 0).sum()),
            "at_jack_clock_break": int((~kept).sum()), "onset_error_all_notes": percentiles(np.abs(onsets.lateness))}


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


def cpu_times() -> np.ndarray | None:
    """The machine's CPU time so far (all CPUs, in clock ticks): [busy, idle, stolen], from Linux's
    /proc/stat; None elsewhere. Stolen time is what a hypervisor gave other guests while this one had
    work: a vCPU taken away for a millisecond misses a JACK cycle whatever the daemon does."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    if len(fields) < 8:
        return None
    idle = fields[3] + fields[4]
    return np.array([sum(fields[:8]) - idle - fields[7], idle, fields[7]])


def cpu_shares(ticks: np.ndarray) -> dict[str, float]:
    """Busy, idle and stolen shares of a span's CPU ticks (``cpu_times`` differences)."""
    total = max(int(ticks.sum()), 1)
    return {name: round(float(t) / total, 3) for name, t in zip(("busy", "idle", "stolen"), ticks)}


def _in(times: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    return np.any([(times >= lo) & (times < hi) for lo, hi in windows], axis=0)


def _phase(onsets: Onsets, sent: list[SentNote], windows: list[tuple[float, float]]) -> dict[str, Any]:
    """Figures of the notes due within ``windows``."""
    chosen = _in(onsets.deadline, windows)
    send = [n.sent_at - n.due_at for n, keep in zip(sent, _in(np.array([n.deadline for n in sent]), windows)) if keep]
    return {**peer_figures(Onsets(*(column[chosen] for column in onsets))), "send_lateness": percentiles(send)}


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
    def stalls() -> np.ndarray:  # xruns, late driver cycles (known only on a server the bench started)
        return np.array([server.xruns(), server.late_cycles()] if server is not None else [0, 0])

    bars = 2
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "model": str(path), "targets": TARGETS, "seconds_per_phase": seconds,
        "jack": {"rate": RATE, "period": PERIOD, "realtime": bool(server.realtime) if server else None},
    }
    windows: dict[str, list[tuple[float, float]]] = {"baseline": [], "loaded": [], "unaligned": []}
    stall_counts = {name: np.zeros(2, dtype=int) for name in windows}
    cpu = {name: np.zeros(3, dtype=np.int64) for name in windows}  # stays zero where /proc/stat is missing
    try:
        print("inference (one phrase of %d bars) ..." % bars, flush=True)
        results["inference"] = _inference(path, bars)
        cfg = Config(model=str(path), osc_port=0, data_dir=str(tmp / "data"), apply="now", bpm=120.0, bars=bars,
                     density=0.6, midi_client="coevo-bench", write_midi=False).validate()
        daemon = Daemon(cfg)
        daemon.start()
        if daemon.cycle_clock is None:
            raise CoevoError("the daemon could not read JACK's cycle clock (see the log above)")
        dump = MidiDump(f"{cfg.midi_client}:coevo out", f"coevo-bench-dump-{os.getpid()}")

        def take(name: str, length: float) -> None:
            daemon.scheduler.cycle_align = name != "unaligned"
            t0, before, cpu_before = time.monotonic(), stalls(), cpu_times()
            time.sleep(length)
            stall_counts[name] += stalls() - before
            cpu_after = cpu_times()
            if cpu_before is not None and cpu_after is not None:
                cpu[name] += cpu_after - cpu_before
            windows[name].append((t0, time.monotonic()))

        flood: _Flood | None = None
        try:
            time.sleep(2.5)  # count-in and first phrase
            print(f"timing, no OSC load ({seconds:g} s) ...", flush=True)
            take("baseline", seconds)
            flood = _Flood(daemon.osc.address[1], 200.0, daemon.state.axis_names)
            flood.start()
            while flood.sent == 0 and time.monotonic() < windows["baseline"][0][1] + 30:  # the sender starts up
                time.sleep(0.01)
            time.sleep(0.5)
            daemon.ready_latency.clear()
            print(f"timing, OSC feedback at 200 messages/s, cycle alignment on and off in turns of "
                  f"{ALTERNATE_S:g} s ({2 * seconds:g} s) ...", flush=True)
            t0, sent_at_t0 = time.monotonic(), flood.sent
            for _ in range(max(1, round(seconds / ALTERNATE_S))):
                take("loaded", ALTERNATE_S)
                take("unaligned", ALTERNATE_S)
            osc_rate = (flood.sent - sent_at_t0) / (time.monotonic() - t0)
            ready = list(daemon.ready_latency)
            daemon.scheduler.cycle_align = True
            flood.stop()
            time.sleep(1.0)
            sent = list(daemon.scheduler.sent_log)
        finally:
            if flood is not None:
                flood.stop()
            daemon.stop()
            dump.close()
        onsets = onset_lateness(dump.note_ons(), sent)
        for name, spans in windows.items():
            xruns, late_cycles = (None, None) if server is None else stall_counts[name].tolist()
            results[name] = {**_phase(onsets, sent, spans), "jack_xruns": xruns, "jack_late_cycles": late_cycles,
                             "cpu": cpu_shares(cpu[name]) if cpu[name].any() else None}
        results["loaded"].update(osc_messages=flood.sent if flood else 0, osc_rate_per_s=round(osc_rate, 1),
                                 phrase_ready=percentiles(ready))
    finally:
        if server is not None:
            server.stop()
    loaded = results["loaded"]
    met = {"phrase_ready_p99_ms": loaded["phrase_ready"].get("p99_ms", float("inf")) <= TARGETS["phrase_ready_p99_ms"],
           "onset_lateness_p99_ms": loaded["onset_error"].get("p99_ms", float("inf")) <= TARGETS["onset_lateness_p99_ms"]}
    results["targets_met"] = met
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _print(results)
    print(f"targets: phrase ready p99 <= 5 ms: {'met' if met['phrase_ready_p99_ms'] else 'MISSED'}; "
          f"onset lateness p99 <= 2 ms (either way, aligned, 200 OSC msg/s): "
          f"{'met' if met['onset_lateness_p99_ms'] else 'MISSED'}")
    print(f"results written to {out}")
    return 0 if all(met.values()) else 1


def _print(results: dict[str, Any]) -> None:
    inf = results["inference"]
    print("\n| measure | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    rows = [("inference, torch eager", inf.get("torch_eager", {})), ("inference, onnxruntime", inf.get("onnxruntime", {}))]
    phases = (("baseline", "no load"), ("loaded", "200 OSC msg/s"), ("unaligned", "200 OSC msg/s, alignment off"))
    for key, label in (("onset_lateness", "onset lateness at the JACK peer"), ("onset_error", "onset error (either way)"),
                       ("send_lateness", "the daemon's send, after it was due"),
                       ("placement", "of which: the cycle the daemon reached"),
                       ("jack_delivery", "of which: JACK delivery after that cycle")):
        rows += [(f"{label}, {what}", results[phase][key]) for phase, what in phases]
    rows.append(("feedback -> phrase ready, 200 OSC msg/s", results["loaded"]["phrase_ready"]))
    for name, r in rows:
        print(f"| {name} | {r.get('n', '-')} | {r.get('p50_ms', '-')} | {r.get('p99_ms', '-')} | {r.get('max_ms', '-')} |")
    print("\nearliest onset (ms): " + ", ".join(f"{what} {results[phase]['onset_lateness'].get('min_ms', '-')}"
                                              for phase, what in phases))
    print("notes JACK held back past their cycle: " + ", ".join(f"{what} {results[phase]['held_back_by_jack']}"
                                                          for phase, what in phases))
    print("notes sent on time across a jump of JACK's clock (left out above): " + ", ".join(
        f"{what} {results[phase]['at_jack_clock_break']} (error with them p99 "
        f"{results[phase]['onset_error_all_notes'].get('p99_ms', '-')} ms)" for phase, what in phases))
    if results["jack"]["realtime"] is not None:
        print("JACK xruns (a client missed its cycle; JACK drops that cycle's MIDI): " +
              ", ".join(f"{what} {results[phase]['jack_xruns']}" for phase, what in phases))
        print("JACK driver cycles that woke late (its frame clock then jumps): " +
              ", ".join(f"{what} {results[phase]['jack_late_cycles']}" for phase, what in phases))
    if all(results[phase]["cpu"] for phase, _ in phases):
        print("CPU time busy / idle / stolen by the hypervisor (all CPUs): " + ", ".join(
            f"{what} " + " / ".join(f"{100 * results[phase]['cpu'][k]:.0f}%" for k in ("busy", "idle", "stolen"))
            for phase, what in phases))
