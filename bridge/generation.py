"""Generation: onnxruntime sessions for the generator and the emotion model, checked against the contract."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bridge.errors import ModelError
from bridge.phrase import Note, decode_roll
from models.contract import ContractError, EmotionContract, GeneratorContract, parse_contract
from models.shipped import sha256_file, shipped_model

__all__ = ["choose_providers", "load_session", "Generator", "EmotionReader", "resolve_model_path"]

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


def resolve_model_path(configured: str, kind: str) -> Path | None:
    """The configured file, else the shipped model of ``kind``, else None."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ModelError(f"{kind} model {path} does not exist")
        return path
    return shipped_model(kind)


def load_session(path: Path, providers: list[str]) -> tuple[ort.InferenceSession, GeneratorContract | EmotionContract]:
    """Open ``path`` with onnxruntime and validate it against the contract.

    Raises:
        ModelError: unreadable or corrupt file, or a model that does not fit, with the reason.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # phrases are tiny; threads would fight the timing thread
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

    def __init__(self, path: Path, providers: list[str]) -> None:
        session, contract = load_session(path, providers)
        if not isinstance(contract, GeneratorContract):
            raise ModelError(f"{path} is an emotion model; a generator was expected")
        self.session = session
        self.contract = contract
        self.path = path
        self.sha256 = sha256_file(path)
        self.provider = session.get_providers()[0]

    def bar_latents(self, seed: int, bars: int) -> np.ndarray:
        """Per-bar latents of a phrase: a smooth walk so bars of one phrase belong together."""
        rng = np.random.default_rng(seed)
        base = rng.standard_normal(self.contract.bar_latent_size)
        steps = rng.standard_normal((bars, self.contract.bar_latent_size)) * 0.5
        walk = base + np.cumsum(steps, axis=0) - steps[0]
        return walk.astype(np.float32)

    def run(self, z: np.ndarray, bar_z: np.ndarray, emotion: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw model call; all inputs batched on axis 0."""
        roll, velocity = self.session.run(None, {"z": z, "bar_z": bar_z, "emotion": emotion, "codes": codes})
        return roll, velocity

    def generate(self, req: GenerationRequest) -> list[Note]:
        """Generate ``req.bars`` bars as notes (unrefined)."""
        c = self.contract
        z = np.repeat(req.z.astype(np.float32)[None, :], req.bars, axis=0)
        codes = np.repeat(req.codes.astype(np.float32)[None, :], req.bars, axis=0)
        emotion = np.repeat(np.array([req.emotion], dtype=np.float32), req.bars, axis=0)
        roll, velocity = self.run(z, self.bar_latents(req.seed, req.bars), emotion, codes)
        return decode_roll(roll, velocity, c.tracks, c.drum_tracks, c.pitch_low, req.threshold)


class EmotionReader:
    """Reads (valence, arousal) from the notes a performer played."""

    def __init__(self, path: Path, providers: list[str]) -> None:
        session, contract = load_session(path, providers)
        if not isinstance(contract, EmotionContract):
            raise ModelError(f"{path} is a generator; an emotion model was expected")
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
