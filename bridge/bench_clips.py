"""``coevo bench generate``: how many 4-bar clips per second `coevo generate` makes, printed and written as JSON.

Measured in one run on the same model and machine:
1. baseline: one clip per model call, as the live daemon makes phrases;
2. batched: all clips of a request in calls of up to 4096 bars (what `coevo generate` does), split
   into model time and decode + refine time; a clip counts once its refined notes exist;
3. files: writing those clips as MIDI files.
The target is >= 1,000 clips/s for the batched path on a 2-core CPU.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bridge.clips import ClipMaker, ClipOptions, write_clips
from bridge.config import Config
from bridge.errors import CoevoError
from bridge.generation import Generator, choose_providers, resolve_model_path
from bridge.refine import RefineSettings

__all__ = ["bench_generate", "TARGET_CLIPS_PER_S"]

log = logging.getLogger(__name__)

TARGET_CLIPS_PER_S = 1000.0


def _best_rate(fn: Any, clips: int, repeats: int) -> tuple[float, list[float]]:
    """Clips per second of the fastest of ``repeats`` runs (the least disturbed by other load), and all times."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return clips / min(times), times


def bench_generate(out: Path, clips: int = 2048, bars: int = 4, repeats: int = 5, model: str = "",
                   providers: str = "cpu") -> int:
    """Run the benchmark, print a table, write ``out``; returns 0 when the target is met, 1 otherwise."""
    path = resolve_model_path(model, "generator")
    if path is None:
        raise CoevoError("no generator model ships with this install; pass --model FILE.onnx")
    cfg = Config()
    settings = RefineSettings.from_config(cfg, 0, "major")
    chosen = choose_providers(providers)
    batched = ClipMaker(Generator(path, chosen, threads=os.cpu_count() or 1), settings)
    single = ClipMaker(Generator(path, chosen, threads=1), settings)
    opts = ClipOptions(bars=bars, count=clips, seed=0)
    one = ClipOptions(bars=bars, count=1, seed=0)
    batched.make(ClipOptions(bars=bars, count=64))  # warm-up: first calls allocate
    single.make(one)

    n_single = max(64, clips // 16)
    baseline, _ = _best_rate(lambda: [single.make(ClipOptions(bars=bars, count=1, seed=i)) for i in range(n_single)],
                             n_single, repeats)
    end_to_end, times = _best_rate(lambda: batched.make(opts), clips, repeats)
    model_rate, _ = _best_rate(lambda: batched.run_model(opts), clips, repeats)
    roll, velocity = batched.run_model(opts)
    notes_rate, _ = _best_rate(lambda: batched.to_notes(roll, velocity, opts), clips, repeats)
    made = batched.make(opts)
    n_files = min(256, clips)
    with tempfile.TemporaryDirectory(prefix="coevo-bench-") as tmp:
        t = time.perf_counter()
        c = batched.generator.contract
        write_clips(made[:n_files], opts, Path(tmp), c.tracks, c.drum_tracks, cfg.channels)
        files_rate = n_files / (time.perf_counter() - t)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "model": str(path), "provider": batched.generator.provider, "bars_per_clip": bars, "clips": clips,
        "repeats": repeats,
        "clips_per_s": {"baseline_one_clip_per_call": round(baseline, 1), "batched": round(end_to_end, 1),
                        "batched_model_only": round(model_rate, 1), "batched_decode_refine_only": round(notes_rate, 1),
                        "midi_files_written": round(files_rate, 1)},
        "batched_run_seconds": [round(x, 4) for x in times],
        "batched_median_clips_per_s": round(clips / float(np.median(times)), 1),
        "notes_per_clip": round(float(np.mean([len(x) for x in made])), 1),
        "speedup_over_baseline": round(end_to_end / baseline, 2),
        "target_clips_per_s": TARGET_CLIPS_PER_S,
        "target_met": end_to_end >= TARGET_CLIPS_PER_S,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    rates = results["clips_per_s"]
    print(f"coevo bench generate: {clips} clips of {bars} bars, best of {repeats} runs, {results['provider']}, "
          f"{os.cpu_count()} CPUs")
    rows = [("one clip per model call (baseline)", rates["baseline_one_clip_per_call"]),
            ("batched: model + decode + refine", rates["batched"]),
            ("  of which model only", rates["batched_model_only"]),
            ("  of which decode + refine only", rates["batched_decode_refine_only"]),
            ("MIDI files written", rates["midi_files_written"])]
    for label, rate in rows:
        print(f"  {label:<38} {rate:>9.1f} clips/s")
    print(f"  (batched, median of the {repeats} runs: {results['batched_median_clips_per_s']:.1f} clips/s)")
    verdict = "met" if results["target_met"] else "NOT met"
    print(f"  target >= {TARGET_CLIPS_PER_S:.0f} clips/s (batched): {verdict}; {results['speedup_over_baseline']}x "
          f"the baseline measured in the same run\nresults written to {out}")
    return 0 if results["target_met"] else 1
