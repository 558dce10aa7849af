"""Generation: onnxruntime sessions for the generator and the emotion model, checked against the contract."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bridge.errors import ModelError
from bridge.phrase import Note, NoteTable, decode_rolls, encode_roll
from models.contract import (ArtContract, ContractError, EmotionContract, EncoderContract, GeneratorContract,
                             parse_contract)
from models.shipped import sha256_file, shipped_model

__all__ = ["choose_providers", "model_precision", "load_session", "bar_walk", "Generator", "EmotionReader", "Encoder",
           "ArtModel", "resolve_model_path"]

log = logging.getLogger(__name__)

_PREFERENCE = {
    "auto": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "cpu": ("CPUExecutionProvider",),
}


def choose_providers(preference: str) -> list[str]:
    """Execution providers to ask for, best first, among those this onnxruntime build has."""
    available = set(ort.get_available_providers())
    chosen = [p for p in _PREFERENCE[preference] if p in available]
    if preference in ("cuda", "tensorrt") and chosen == ["CPUExecutionProvider"]:
        log.warning("providers=%s asked for, but this onnxruntime has only %s; install onnxruntime-gpu "
                    "for CUDA. Running on CPU.", preference, ", ".join(sorted(available)))
    return chosen


def model_precision(precision: str, providers: list[str]) -> str:
    """'fp16' or 'fp32' for the shipped models: ``auto`` takes fp16 where a GPU provider leads."""
    if precision == "auto":
        gpu = providers[0] in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
        return "fp16" if gpu else "fp32"
    return precision


def resolve_model_path(configured: str, kind: str, precision: str = "fp32") -> Path | None:
    """The configured file, else the shipped model of ``kind`` in ``precision`` (fp32 where no fp16
    variant ships), else None."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ModelError(f"{kind} model {path} does not exist")
        return path
    return shipped_model(kind, precision)


AnyContract = GeneratorContract | EmotionContract | EncoderContract | ArtContract


def load_session(path: Path, providers: list[str], threads: int = 1) -> tuple[ort.InferenceSession, AnyContract]:
    """Open ``path`` with onnxruntime and validate it against the contract. ``threads``: intra-op threads
    (1 for the live daemon, where phrases are tiny and threads would fight the timing thread).

    Raises:
        ModelError: unreadable or corrupt file, or a model that does not fit, with the reason.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as err:  # onnxruntime raises its own unexported exception types
        raise ModelError(f"cannot load {path}: not a readable ONNX model ({str(err).splitlines()[0]})") from err
    meta = session.get_modelmeta().custom_metadata_map
    try:
        contract = parse_contract(meta, {i.name: i.shape for i in session.get_inputs()},
                                  {o.name: o.shape for o in session.get_outputs()})
    except ContractError as err:
        raise ModelError(f"{path} does not fit the Coevo model contract: {err}") from err
    return session, contract


def contract_kind(contract: AnyContract) -> str:
    return {GeneratorContract: "generator", EmotionContract: "emotion", EncoderContract: "encoder",
            ArtContract: "art"}[type(contract)]


def bar_walk(seed: int, bars: int, size: int) -> np.ndarray:
    """Per-bar latents of a phrase [bars, size]: a smooth walk (steps of 0.5 standard deviations) from a
    standard normal start, so that the bars of one phrase belong together."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(size)
    steps = rng.standard_normal((bars, size)) * 0.5
    return (base + np.cumsum(steps, axis=0) - steps[0]).astype(np.float32)


@dataclass(frozen=True)
class GenerationRequest:
    z: np.ndarray  # [latent]
    codes: np.ndarray  # [n_codes]
    emotion: tuple[float, float]
    bars: int
    seed: int
    threshold: float


class Generator:
    """The phrase generator: one batched run per phrase, one row per bar."""

    def __init__(self, path: Path, providers: list[str], threads: int = 1) -> None:
        session, contract = load_session(path, providers, threads)
        if not isinstance(contract, GeneratorContract):
            raise ModelError(f"{path} is an {contract_kind(contract)} model; a generator was expected")
        self.session = session
        self.contract = contract
        self.path = path
        # an fp16 variant names the fp32 file it was made from: encoders made for that one fit it too
        self.sha256 = contract.extra.get("fp32_sha256") or sha256_file(path)
        self.provider = session.get_providers()[0]

    def bar_latents(self, seed: int, bars: int) -> np.ndarray:
        """Per-bar latents of a phrase (``bar_walk``)."""
        return bar_walk(seed, bars, self.contract.bar_latent_size)

    def run(self, z: np.ndarray, bar_z: np.ndarray, emotion: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One model call, all inputs batched on axis 0 (a row per bar), its activity read by the contract's
        rules (one pitch a step on mono tracks, the strongest pitch classes of each bar, the bar gate)."""
        roll, velocity = self.session.run(None, {"z": z, "bar_z": bar_z, "emotion": emotion, "codes": codes})
        return self.contract.read_activity(roll), velocity

    def generate(self, req: GenerationRequest) -> NoteTable:
        """Generate ``req.bars`` bars as one phrase's notes (unrefined)."""
        c = self.contract
        z = np.repeat(req.z.astype(np.float32)[None, :], req.bars, axis=0)
        codes = np.repeat(req.codes.astype(np.float32)[None, :], req.bars, axis=0)
        emotion = np.repeat(np.array([req.emotion], dtype=np.float32), req.bars, axis=0)
        roll, velocity = self.run(z, self.bar_latents(req.seed, req.bars), emotion, codes)
        return decode_rolls(roll[None], velocity[None], c.tracks, c.drum_tracks, c.pitch_low, req.threshold)


class EmotionReader:
    """Reads (valence, arousal) from the notes a performer played."""

    def __init__(self, path: Path, providers: list[str]) -> None:
        session, contract = load_session(path, providers)
        if not isinstance(contract, EmotionContract):
            raise ModelError(f"{path} is a {contract_kind(contract)} model; an emotion model was expected")
        self.session = session
        self.contract = contract
        self.path = path

    def read(self, notes: list[tuple[int, float, float]], length_beats: float) -> tuple[float, float]:
        """``notes`` as (pitch, start_beat, duration_beats) within a window of ``length_beats``."""
        c = self.contract
        steps_per_beat = c.steps_per_bar / 4
        steps = max(1, int(round(length_beats * steps_per_beat)))
        roll = np.zeros((1, steps, c.pitches), dtype=np.float32)
        for pitch, start, dur in notes:
            p = min(max(pitch, c.pitch_low), c.pitch_high) - c.pitch_low
            a = int(start * steps_per_beat)
            b = max(a + 1, int(round((start + dur) * steps_per_beat)))
            roll[0, max(a, 0):min(b, steps), p] = 1.0
        valence, arousal = self.session.run(None, {"roll": roll})[0][0]
        return float(valence), float(arousal)


class Encoder:
    """Maps a multi-track phrase back to the generator inputs that make it: z, per-bar bar_z, codes."""

    def __init__(self, path: Path, providers: list[str], generator: Generator) -> None:
        session, contract = load_session(path, providers)
        if not isinstance(contract, EncoderContract):
            raise ModelError(f"{path} is a {contract_kind(contract)} model; an encoder was expected")
        if contract.generator_sha256 != generator.sha256:
            raise ModelError(f"{path} was trained to invert the generator with sha256 {contract.generator_sha256[:12]}…, "
                             f"not {generator.path} ({generator.sha256[:12]}…); train an encoder for this generator "
                             "(coevo train encoder) or use the generator it ships with")
        self.session = session
        self.contract = contract.generator
        self.path = path

    def roll(self, notes: list[Note], bars: int) -> np.ndarray:
        """Note activity [1, bars, tracks, steps_per_bar, pitches] of ``notes`` (tracks the model lacks are left out)."""
        c = self.contract
        velocity = encode_roll(notes, c.tracks, bars, c.steps_per_bar, c.pitch_low, c.pitches)
        return (velocity > 0).astype(np.float32)[None]

    def encode(self, notes: list[Note], bars: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z [latent], bar_z [bars, bar_latent], codes [n_codes] of a phrase of ``bars`` bars."""
        z, bar_z, codes = self.session.run(None, {"roll": self.roll(notes, bars)})
        return z[0], bar_z[0], codes[0]


class ArtModel:
    """The art side's image generator: (z, emotion, codes, movement) -> RGB images in [0, 1]."""

    def __init__(self, path: Path, providers: list[str], threads: int = 1) -> None:
        session, contract = load_session(path, providers, threads)
        if not isinstance(contract, ArtContract):
            raise ModelError(f"{path} is a {contract_kind(contract)} model; an art model was expected")
        self.session = session
        self.contract = contract
        self.path = path

    def render(self, z: np.ndarray, emotion: np.ndarray, codes: np.ndarray,
               movement: np.ndarray | None = None) -> np.ndarray:
        """Images [batch, 3, size, size]; ``movement`` None means any movement (all zeros)."""
        if movement is None:
            movement = np.zeros((len(z), self.contract.movement_inputs), dtype=np.float32)
        (image,) = self.session.run(None, {"z": z.astype(np.float32), "emotion": emotion.astype(np.float32),
                                           "codes": codes.astype(np.float32), "movement": movement.astype(np.float32)})
        return image
