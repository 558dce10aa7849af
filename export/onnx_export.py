"""Export Coevo models to ONNX: fixed names, dynamic batch, contract metadata, parity-checked.

The file is written only after onnxruntime's output matches torch's within ``ATOL`` (fp32); a generator's
output, read by its contract's reading rules as the daemon reads it, must also match torch's reading in all but
``READ_SHARE`` of its cells.
"""

from __future__ import annotations

import copy
import io
import logging
import subprocess
import warnings
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import torch

from bridge.errors import CoevoError
from models.art import ArtGenerator
from models.contract import (
    ART_INPUTS, ART_OUTPUTS, EMOTION_INPUTS, EMOTION_OUTPUTS, ENCODER_INPUTS, ENCODER_OUTPUTS, GENERATOR_INPUTS,
    GENERATOR_OUTPUTS, ArtContract, EmotionContract, EncoderContract, GeneratorContract,
)
from models.emotion import EmotionModel
from models.encoder import PhraseEncoder
from models.generator import GeneratorConfig, PhraseGenerator

__all__ = ["ATOL", "FP16_ATOL", "OPSET", "READ_SHARE", "ParityError", "export_generator", "export_emotion",
           "export_encoder", "export_art", "export_fp16", "generator_from_onnx", "git_revision"]

log = logging.getLogger(__name__)

OPSET = 17
ATOL = 1e-4  # max abs difference allowed between torch and onnxruntime outputs, fp32
READ_SHARE = 1e-3  # share of a generator's probe cells whose reading may differ from torch's (ties at float resolution)
FP16_ATOL = 1e-2  # max abs difference allowed between an fp16 variant and its fp32 file (outputs in [0, 1] or [-1, 1])


class ParityError(CoevoError, RuntimeError):
    """onnxruntime's output differs from torch's by more than the stated tolerance."""


def git_revision() -> str:
    """The repository's HEAD commit, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _to_onnx_bytes(model: torch.nn.Module, args: tuple[torch.Tensor, ...], inputs: tuple[str, ...],
                   outputs: tuple[str, ...], dynamic: Mapping[str, Mapping[int, str]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose: it needs no onnxscript and gives plain graphs.
        # torch 2.13 marks it (and helpers it calls) deprecated; those warnings are silenced here only.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, args, buf, input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes={k: dict(v) for k, v in dynamic.items()}, opset_version=OPSET,
                          dynamo=False)
    return buf.getvalue()


def _torch_outputs(model: torch.nn.Module, probe: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    with torch.no_grad():
        out = model(*(torch.from_numpy(v) for v in probe.values()))
    return tuple(o.numpy() for o in (out if isinstance(out, tuple) else (out,)))


def _finish(raw: bytes, meta: Mapping[str, str], model: torch.nn.Module, probe: dict[str, np.ndarray], path: Path,
            reading: tuple[Callable[..., tuple[np.ndarray, ...]], torch.nn.Module] | None = None) -> Path:
    """Write ``raw`` with ``meta`` to ``path`` once the session's outputs match ``model``'s within ``ATOL``.

    With ``reading``, ``(read, ruled)``: the daemon's reading of the outputs and the torch model that applies
    the same reading rules in its own graph, also once the outputs as read differ from ``ruled``'s in at most
    ``READ_SHARE`` of their cells. A reading rule is a hard cut, so a cell whose inputs sit on it within float
    error may fall either side: on a mono track, two pitches whose activity saturates to the same fp32 value
    are a tie the reader gives to the lower pitch, where torch still tells them apart by their logits."""
    proto = onnx.load_from_string(raw)
    del proto.metadata_props[:]
    for key, value in sorted(meta.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, probe)
    names = [o.name for o in session.get_outputs()]
    for name, g, w in zip(names, got, _torch_outputs(model, probe)):
        diff = float(np.max(np.abs(g - w)))
        if diff > ATOL:
            raise ParityError(f"output {name!r}: onnxruntime differs from torch by {diff:.3g} > {ATOL}")
        log.info("parity %s: max abs diff %.3g (tolerance %g)", name, diff, ATOL)
    if reading is not None:
        read, ruled = reading
        for name, g, w in zip(names, read(*(g.copy() for g in got)), _torch_outputs(ruled, probe)):
            off = int((np.abs(g - w) > ATOL).sum())
            if off > READ_SHARE * g.size:
                raise ParityError(f"output {name!r} as the daemon reads it: {off} of {g.size} cells differ from "
                                  f"torch's reading by more than {ATOL} ({off / g.size:.3%} > {READ_SHARE:.3%})")
            log.info("parity %s as read: %d of %d cells differ (tolerance %.3g%%, for cells on a reading rule's cut "
                     "within float error)", name, off, g.size, 100 * READ_SHARE)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _generator_probe(cfg: GeneratorConfig, batch: int) -> dict[str, np.ndarray]:
    """The inputs a generator's export is checked on: standard normal latents, emotions and codes anywhere."""
    rng = np.random.default_rng(0)
    return {
        "z": rng.standard_normal((batch, cfg.latent_size), dtype=np.float32),
        "bar_z": rng.standard_normal((batch, cfg.bar_latent_size), dtype=np.float32),
        "emotion": rng.uniform(-1, 1, (batch, 2)).astype(np.float32),
        "codes": rng.uniform(-1, 1, (batch, len(cfg.code_names))).astype(np.float32),
    }


def export_generator(model: PhraseGenerator, path: Path, meta: Mapping[str, str], batch: int = 16) -> Path:
    """Export a generator; ``meta`` adds provenance (training data, seed, ...) to the contract keys. The graph's
    outputs are checked against torch's within ``ATOL``, and as the daemon reads them (``READ_SHARE``)."""
    cfg = model.cfg
    contract = GeneratorContract(cfg.latent_size, cfg.bar_latent_size, tuple(cfg.code_names),
                                 cfg.steps_per_bar, cfg.pitch_low, cfg.pitch_high, tuple(cfg.tracks),
                                 tuple(cfg.drum_tracks),
                                 {"git_revision": git_revision(), "torch_width": str(cfg.width),
                                  "torch_temporal_kernel": str(cfg.temporal_kernel),
                                  "torch_steer_width": str(cfg.steer_width), **meta},
                                 bar_gate=tuple(cfg.bar_gate), mono_tracks=tuple(cfg.mono_tracks),
                                 second_voice=tuple(cfg.second_voice), bar_pitch_classes=tuple(cfg.bar_pitch_classes))
    probe = _generator_probe(cfg, batch)
    model = model.eval()
    graph = copy.deepcopy(model)
    graph.set_bar_gate(())  # the reading rules travel as metadata and the reader applies them: the graph stays continuous
    graph.set_mono_tracks(())
    graph.set_second_voice(())
    graph.set_bar_pitch_classes(())
    dynamic = {n: {0: "batch"} for n in GENERATOR_INPUTS + GENERATOR_OUTPUTS}
    raw = _to_onnx_bytes(graph, tuple(torch.from_numpy(v) for v in probe.values()),
                         GENERATOR_INPUTS, GENERATOR_OUTPUTS, dynamic)
    return _finish(raw, contract.to_metadata(), graph, probe, path,
                   reading=(lambda roll, velocity: (contract.read_activity(roll), velocity), model))


def export_emotion(model: EmotionModel, path: Path, meta: Mapping[str, str], batch: int = 3) -> Path:
    """Export an emotion model with dynamic batch and dynamic length."""
    cfg = model.cfg
    contract = EmotionContract(cfg.steps_per_bar, cfg.pitch_low, cfg.pitch_high,
                               {"git_revision": git_revision(), **meta})
    rng = np.random.default_rng(0)
    probe = {"roll": (rng.uniform(0, 1, (batch, cfg.steps_per_bar * 4, cfg.pitches)) > 0.9).astype(np.float32)}
    model = model.eval()
    dynamic = {"roll": {0: "batch", 1: "steps"}, "valence_arousal": {0: "batch"}}
    raw = _to_onnx_bytes(model, (torch.from_numpy(probe["roll"]),), EMOTION_INPUTS, EMOTION_OUTPUTS, dynamic)
    return _finish(raw, contract.to_metadata(), model, probe, path)


def export_encoder(model: PhraseEncoder, path: Path, meta: Mapping[str, str], generator_sha256: str,
                   batch: int = 3, bars: int = 4) -> Path:
    """Export an encoder with dynamic batch and bars; ``generator_sha256`` names the generator file it inverts."""
    cfg = model.cfg
    grid = GeneratorContract(cfg.latent_size, cfg.bar_latent_size, tuple(cfg.code_names), cfg.steps_per_bar,
                             cfg.pitch_low, cfg.pitch_high, tuple(cfg.tracks), tuple(cfg.drum_tracks),
                             {"git_revision": git_revision(), "torch_width": str(cfg.width), **meta})
    contract = EncoderContract(grid, generator_sha256)
    rng = np.random.default_rng(0)
    shape = (batch, bars, len(cfg.tracks), cfg.steps_per_bar, cfg.pitches)
    probe = {"roll": (rng.uniform(0, 1, shape) > 0.9).astype(np.float32)}
    model = model.eval()
    dynamic = {"roll": {0: "batch", 1: "bars"}, "z": {0: "batch"}, "bar_z": {0: "batch", 1: "bars"},
               "codes": {0: "batch"}}
    raw = _to_onnx_bytes(model, (torch.from_numpy(probe["roll"]),), ENCODER_INPUTS, ENCODER_OUTPUTS, dynamic)
    return _finish(raw, contract.to_metadata(), model, probe, path)


def export_art(model: ArtGenerator, path: Path, meta: Mapping[str, str], batch: int = 3) -> Path:
    """Export an art model (eval mode: batch norm uses its running statistics) with dynamic batch."""
    cfg = model.cfg
    contract = ArtContract(cfg.latent_size, tuple(cfg.code_names), tuple(cfg.movements), cfg.image_size,
                           {"git_revision": git_revision(), "torch_width": str(cfg.width), **meta})
    rng = np.random.default_rng(0)
    movement = np.zeros((batch, cfg.movement_inputs), dtype=np.float32)
    if cfg.movements:
        movement[np.arange(batch), np.arange(batch) % len(cfg.movements)] = 1.0
    probe = {
        "z": rng.standard_normal((batch, cfg.latent_size), dtype=np.float32),
        "emotion": rng.uniform(-1, 1, (batch, 2)).astype(np.float32),
        "codes": rng.uniform(-1, 1, (batch, len(cfg.code_names))).astype(np.float32),
        "movement": movement,
    }
    model = model.eval()
    dynamic = {n: {0: "batch"} for n in ART_INPUTS + ART_OUTPUTS}
    raw = _to_onnx_bytes(model, tuple(torch.from_numpy(v) for v in probe.values()), ART_INPUTS, ART_OUTPUTS, dynamic)
    return _finish(raw, contract.to_metadata(), model, probe, path)


def _probe_from_session(session: ort.InferenceSession, batch: int = 4) -> dict[str, np.ndarray]:
    """Inputs for any Coevo model: binary rolls for ``roll``, standard normal values elsewhere (4 bars,
    64 steps where the length is free)."""
    rng = np.random.default_rng(0)
    probe = {}
    for inp in session.get_inputs():
        free = iter((batch, 4) if len(inp.shape) == 5 else (batch, 64))
        shape = [d if isinstance(d, int) else next(free) for d in inp.shape]
        values = rng.uniform(0, 1, shape) > 0.9 if inp.name == "roll" else np.clip(rng.standard_normal(shape), -1, 1)
        probe[inp.name] = values.astype(np.float32)
    return probe


def _sort_nodes(graph: onnx.GraphProto) -> None:
    """Put the nodes in dependency order (the fp16 converter appends its input casts at the end)."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise ValueError("the graph has a cycle or an input nothing produces")
        for node in ready:
            known.update(node.output)
        ordered += ready
        taken = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in taken]
    del graph.node[:]
    graph.node.extend(ordered)


def export_fp16(src: Path, dst: Path) -> tuple[Path, float]:
    """Write an fp16 variant of the exported model ``src`` for GPUs: weights and arithmetic in fp16, inputs
    and outputs still fp32 (same names and contract), metadata ``precision=fp16`` and ``fp32_sha256`` (the
    file it comes from, so an encoder made for that generator still fits). Written only if its outputs
    match ``src``'s within ``FP16_ATOL``; returns the path and the largest difference seen."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from models.shipped import sha256_file

    proto = onnx.load(str(src))
    half = convert_float_to_float16(proto, keep_io_types=True)
    for key, value in (("precision", "fp16"), ("fp32_sha256", sha256_file(src))):
        entry = half.metadata_props.add()
        entry.key, entry.value = key, value
    _sort_nodes(half.graph)
    onnx.checker.check_model(half)
    data = half.SerializeToString()
    full = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    probe = _probe_from_session(full)
    worst = 0.0
    for out, want, got in zip(full.get_outputs(), full.run(None, probe), session.run(None, probe)):
        diff = float(np.max(np.abs(got - want)))
        if diff > FP16_ATOL:
            raise ParityError(f"fp16 output {out.name!r} differs from fp32 by {diff:.3g} > {FP16_ATOL}")
        worst = max(worst, diff)
    tmp = dst.with_suffix(dst.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dst)
    log.info("fp16 variant %s: max abs diff to fp32 %.3g (tolerance %g)", dst, worst, FP16_ATOL)
    return dst, worst


def generator_from_onnx(path: Path) -> PhraseGenerator:
    """Rebuild the torch generator of an exported file (same config, same weights)."""
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    from models.contract import parse_contract

    shapes = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    outs = {o.name: [d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim] for o in proto.graph.output}
    c = parse_contract(meta, shapes, outs)
    if not isinstance(c, GeneratorContract):
        raise ValueError(f"{path} is not a generator")
    from models.generator import GeneratorConfig

    cfg = GeneratorConfig(c.latent_size, c.bar_latent_size, c.code_names, c.steps_per_bar, c.pitch_low, c.pitch_high,
                          c.tracks, c.drum_tracks, width=int(meta.get("torch_width", 128)),
                          temporal_kernel=int(meta.get("torch_temporal_kernel", 1)), bar_gate=c.bar_gate,
                          mono_tracks=c.mono_tracks, second_voice=c.second_voice,
                          bar_pitch_classes=c.bar_pitch_classes, steer_width=int(meta.get("torch_steer_width", 0)))
    model = PhraseGenerator(cfg)
    weights = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy()) for i in proto.graph.initializer}
    model.load_state_dict({k: weights[k] for k in model.state_dict()})
    return model.eval()
