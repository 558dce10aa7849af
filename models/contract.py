"""The model contract: what an ONNX file must declare to be loaded by the daemon.

This module is torch-free: the daemon (``bridge``) checks files against it on load, and the
exporter (``export``) writes files that satisfy it. Every contract value travels inside the ONNX
file as ``metadata_props`` (strings), so a model file is self-describing.

Generator (``kind = generator``): generates one bar per batch row.
    inputs   z        [batch, latent_size]      phrase-level latent (the state the performer steers)
             bar_z    [batch, bar_latent_size]  per-bar latent (variation inside a phrase)
             emotion  [batch, 2]                valence, arousal in [-1, 1]
             codes    [batch, n_codes]          interpretable codes in [-1, 1] (the named axes)
    outputs  roll     [batch, tracks, steps_per_bar, pitches]  note activity in [0, 1]
             velocity [batch, tracks, steps_per_bar, pitches]  velocity in [0, 1]
    optional mono_tracks tracks that sound one pitch at a time: only each step's strongest pitch sounds
             second_voice one activity logit per track: on the mono tracks, a step's second strongest
                         pitch sounds too where its ``roll`` exceeds ``sigmoid(second_voice)``
             bar_pitch_classes  per track, the most pitch classes a bar sounds (0: any): those with the
                         most activity in the bar, summed over its steps and octaves
             bar_gate    one activity logit per track: a bar whose strongest ``roll`` cell stays under
                         ``sigmoid(gate)`` rests, at any threshold
             All four are reading rules (``GeneratorContract.read_activity``, in this order), applied
             outside the graph so that it stays continuous and its fp16 variant keeps parity with a bar
             on its gate.

Emotion model (``kind = emotion``): reads a single-track piano roll of any length.
    inputs   roll            [batch, steps, pitches]  note activity in [0, 1]
    outputs  valence_arousal [batch, 2]               in [-1, 1]

Art model (``kind = art``): one image per batch row.
    inputs   z         [batch, latent_size]
             emotion   [batch, 2]               valence, arousal in [-1, 1] (shared with the music side)
             codes     [batch, n_codes]         the named visual axes, in [-1, 1]
             movement  [batch, movement_inputs] one-hot over ``movements`` (``|``-separated), zeros for any
    outputs  image     [batch, 3, image_size, image_size]  RGB in [0, 1]

Encoder (``kind = encoder``): inverts one generator, whose file's sha256 it names
(``generator_sha256``); its grid, tracks, latent sizes and codes are the generator's.
    inputs   roll     [batch, bars, tracks, steps_per_bar, pitches]  note activity in {0, 1}
    outputs  z        [batch, latent_size]
             bar_z    [batch, bars, bar_latent_size]
             codes    [batch, n_codes]
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

__all__ = [
    "CONTRACT_VERSION",
    "ContractError",
    "GeneratorContract",
    "EmotionContract",
    "EncoderContract",
    "ArtContract",
    "ART_INPUTS",
    "ART_OUTPUTS",
    "ENCODER_INPUTS",
    "ENCODER_OUTPUTS",
    "GENERATOR_INPUTS",
    "GENERATOR_OUTPUTS",
    "EMOTION_INPUTS",
    "EMOTION_OUTPUTS",
    "parse_contract",
]

CONTRACT_VERSION = "1"
GENERATOR_INPUTS = ("z", "bar_z", "emotion", "codes")
GENERATOR_OUTPUTS = ("roll", "velocity")
EMOTION_INPUTS = ("roll",)
EMOTION_OUTPUTS = ("valence_arousal",)
ART_INPUTS = ("z", "emotion", "codes", "movement")
ART_OUTPUTS = ("image",)
ENCODER_INPUTS = ("roll",)
ENCODER_OUTPUTS = ("z", "bar_z", "codes")

_GENERATOR_KEYS = (
    "coevo.contract", "kind", "latent_size", "bar_latent_size", "code_names", "emotion_inputs",
    "steps_per_bar", "pitch_low", "pitch_high", "tracks", "drum_tracks",
)
_EMOTION_KEYS = ("coevo.contract", "kind", "steps_per_bar", "pitch_low", "pitch_high")
_ART_KEYS = ("coevo.contract", "kind", "latent_size", "code_names", "movements", "image_size", "emotion_inputs")
_READING_KEYS = ("bar_gate", "mono_tracks", "second_voice", "bar_pitch_classes")  # optional: how the daemon reads a generator's activity
_ENCODER_KEYS = tuple(k for k in _GENERATOR_KEYS if k != "emotion_inputs") + ("generator_sha256",)


class ContractError(ValueError):
    """An ONNX model does not fit the contract; the message says what was expected."""


def _grid_metadata(kind: str, steps_per_bar: int, pitch_low: int, pitch_high: int,
                   extra: Mapping[str, str]) -> dict[str, str]:
    """Keys every model carries: contract version, kind, time grid and pitch range (plus provenance)."""
    return {**extra, "coevo.contract": CONTRACT_VERSION, "kind": kind, "steps_per_bar": str(steps_per_bar),
            "pitch_low": str(pitch_low), "pitch_high": str(pitch_high)}


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _per_track(meta: Mapping[str, str], key: str, tracks: tuple[str, ...], kind: type[float] | type[int],
               valid: Callable[[float], bool], what: str) -> tuple:
    """An optional per-track key (``bar_gate``, ``second_voice``, ``bar_pitch_classes``): empty, or one valid
    ``kind`` per track."""
    value = meta.get(key, "")
    if not value.strip():
        return ()
    try:
        values = tuple(kind(v) for v in value.split(","))
    except ValueError as err:
        words = "numbers" if kind is float else "integers"
        raise ContractError(f"metadata {key!r} must be comma-separated {words}, got {value!r}") from err
    if len(values) != len(tracks) or not all(valid(v) for v in values):
        raise ContractError(f"metadata {key!r} must hold one {what} per track ({len(tracks)}), got {value!r}")
    return values


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(logit.astype(np.float64) / 2))  # without overflow


def _int(meta: Mapping[str, str], key: str) -> int:
    try:
        return int(meta[key])
    except ValueError as err:
        raise ContractError(f"metadata {key!r} must be an integer, got {meta[key]!r}") from err


class _ReadingRules(NamedTuple):
    """A generator contract's reading rules as arrays, built once."""

    mono: np.ndarray  # track indices of the mono tracks
    second_level: np.ndarray | None  # [1, mono, 1, 1] activity a second voice must exceed
    pitch_class: np.ndarray  # [pitches]
    fold: np.ndarray  # [pitches, 12] pitch -> pitch class
    weakest_rank: np.ndarray  # [tracks] index, in a bar's sorted chroma, of the weakest class kept
    gate_level: np.ndarray | None  # [tracks] activity a bar's strongest cell must reach


@dataclass(frozen=True)
class GeneratorContract:
    latent_size: int
    bar_latent_size: int
    code_names: tuple[str, ...]
    steps_per_bar: int
    pitch_low: int
    pitch_high: int
    tracks: tuple[str, ...]
    drum_tracks: tuple[str, ...]
    extra: Mapping[str, str]
    bar_gate: tuple[float, ...] = ()  # per track, activity logits; empty: no track rests by a gate
    mono_tracks: tuple[str, ...] = ()  # tracks that sound one pitch at a time
    second_voice: tuple[float, ...] = ()  # per track, activity logits; empty: a mono track never sounds two pitches
    bar_pitch_classes: tuple[int, ...] = ()  # per track, the most pitch classes a bar sounds (0: any); empty: no limit

    @property
    def pitches(self) -> int:
        return self.pitch_high - self.pitch_low + 1

    @functools.cached_property
    def _rules(self) -> _ReadingRules:
        mono = np.array([self.tracks.index(t) for t in self.mono_tracks], dtype=np.int64)
        pitch_class = (np.arange(self.pitches) + self.pitch_low) % 12
        return _ReadingRules(
            mono=mono,
            second_level=_sigmoid(np.asarray(self.second_voice))[mono][None, :, None, None] if self.second_voice else None,
            pitch_class=pitch_class,
            fold=np.eye(12, dtype=np.float32)[pitch_class],
            weakest_rank=12 - np.array([k or 12 for k in self.bar_pitch_classes], dtype=np.int64),
            gate_level=_sigmoid(np.asarray(self.bar_gate)) if self.bar_gate else None)

    def read_activity(self, roll: np.ndarray) -> np.ndarray:
        """Apply the reading rules to ``roll`` [bars, tracks, steps, pitches] (activity 0..1, as the graph
        gives it), in place: on the ``mono_tracks`` every pitch but each step's strongest is silenced (but the
        second strongest where it exceeds ``sigmoid(second_voice[track])``); each
        track keeps in each bar its ``bar_pitch_classes`` strongest pitch classes (the most activity, summed
        over the bar's steps and octaves); then every bar whose strongest cell of a track stays under
        ``sigmoid(bar_gate[track])`` rests. Returns ``roll``."""
        rules = self._rules
        if self.mono_tracks:
            part = roll[:, rules.mono]
            strongest = part.argmax(axis=3)[..., None] == np.arange(part.shape[3])  # the first of equals, as argmax
            if rules.second_level is not None:
                second = np.partition(part, -2, axis=3)[..., -2:-1]  # [bars, mono, steps, 1]
                strongest |= (part >= second) & (part > rules.second_level)
            roll[:, rules.mono] = np.where(strongest, part, 0.0)
        if self.bar_pitch_classes:
            chroma = roll.sum(axis=2) @ rules.fold.astype(roll.dtype, copy=False)  # [bars, tracks, 12]
            weakest_kept = np.sort(chroma, axis=2)[:, np.arange(len(self.tracks)), rules.weakest_rank]  # [bars, tracks]
            roll *= (chroma >= weakest_kept[:, :, None])[:, :, None, rules.pitch_class]
        if rules.gate_level is not None:
            roll[roll.max(axis=(2, 3)) < rules.gate_level] = 0.0
        return roll

    def to_metadata(self) -> dict[str, str]:
        meta = _grid_metadata("generator", self.steps_per_bar, self.pitch_low, self.pitch_high, self.extra)
        meta.update({
            "latent_size": str(self.latent_size),
            "bar_latent_size": str(self.bar_latent_size),
            "code_names": ",".join(self.code_names),
            "emotion_inputs": "valence,arousal",
            "tracks": ",".join(self.tracks),
            "drum_tracks": ",".join(self.drum_tracks),
        })
        if self.bar_gate:
            meta["bar_gate"] = ",".join(repr(g) for g in self.bar_gate)
        if self.mono_tracks:
            meta["mono_tracks"] = ",".join(self.mono_tracks)
        if self.second_voice:
            meta["second_voice"] = ",".join(repr(v) for v in self.second_voice)
        if self.bar_pitch_classes:
            meta["bar_pitch_classes"] = ",".join(str(k) for k in self.bar_pitch_classes)
        return meta

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Static dimensions of each input and output, batch excluded."""
        plane = (len(self.tracks), self.steps_per_bar, self.pitches)
        return {
            "z": (self.latent_size,),
            "bar_z": (self.bar_latent_size,),
            "emotion": (2,),
            "codes": (len(self.code_names),),
            "roll": plane,
            "velocity": plane,
        }


@dataclass(frozen=True)
class EmotionContract:
    steps_per_bar: int
    pitch_low: int
    pitch_high: int
    extra: Mapping[str, str]

    @property
    def pitches(self) -> int:
        return self.pitch_high - self.pitch_low + 1

    def to_metadata(self) -> dict[str, str]:
        return _grid_metadata("emotion", self.steps_per_bar, self.pitch_low, self.pitch_high, self.extra)


@dataclass(frozen=True)
class EncoderContract:
    generator: GeneratorContract  # the grid, tracks, latent sizes and codes of the generator it inverts
    generator_sha256: str

    def to_metadata(self) -> dict[str, str]:
        meta = self.generator.to_metadata()
        del meta["emotion_inputs"]
        meta.update({"kind": "encoder", "generator_sha256": self.generator_sha256})
        return meta

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Static dimensions after the batch axis; ``-1`` marks the dynamic bars axis."""
        g = self.generator
        return {"roll": (-1, len(g.tracks), g.steps_per_bar, g.pitches), "z": (g.latent_size,),
                "bar_z": (-1, g.bar_latent_size), "codes": (len(g.code_names),)}


@dataclass(frozen=True)
class ArtContract:
    latent_size: int
    code_names: tuple[str, ...]
    movements: tuple[str, ...]
    image_size: int
    extra: Mapping[str, str]

    @property
    def movement_inputs(self) -> int:
        return max(1, len(self.movements))

    def to_metadata(self) -> dict[str, str]:
        return {**self.extra, "coevo.contract": CONTRACT_VERSION, "kind": "art", "latent_size": str(self.latent_size),
                "code_names": ",".join(self.code_names), "movements": "|".join(self.movements),
                "image_size": str(self.image_size), "emotion_inputs": "valence,arousal"}

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"z": (self.latent_size,), "emotion": (2,), "codes": (len(self.code_names),),
                "movement": (self.movement_inputs,), "image": (3, self.image_size, self.image_size)}


def _check_shapes(kind: str, contract: "GeneratorContract | EncoderContract | ArtContract",
                  shapes: Mapping[str, Sequence[object]]) -> None:
    for name, expected in contract.expected_shapes().items():
        actual = list(shapes[name])[1:]
        fits = len(actual) == len(expected) and all(
            not isinstance(a, int) or e < 0 or a == e for a, e in zip(actual, expected)
        )
        if not fits:
            dims = ", ".join("bars" if e < 0 else str(e) for e in expected)
            raise ContractError(f"{kind} {name!r} must be [batch, {dims}] to match its metadata, got {list(shapes[name])}")


def _check_pitch_range(low: int, high: int) -> None:
    if not 0 <= low < high <= 127:
        raise ContractError(f"pitch range must satisfy 0 <= pitch_low < pitch_high <= 127, got {low}..{high}")


def _check_io(kind: str, names: Sequence[str], expected: Sequence[str], what: str) -> None:
    if tuple(names) != tuple(expected):
        raise ContractError(f"a {kind} model must have {what} {list(expected)}, this one has {list(names)}")


def parse_contract(
    meta: Mapping[str, str],
    inputs: Mapping[str, Sequence[object]],
    outputs: Mapping[str, Sequence[object]],
) -> GeneratorContract | EmotionContract | EncoderContract | ArtContract:
    """Check a model's metadata and I/O shapes against the contract and return it.

    ``inputs``/``outputs`` map names to shapes as onnxruntime reports them (ints for static
    dimensions, strings or None for dynamic ones), in declaration order.

    Raises:
        ContractError: a key is missing or malformed, or a name or shape does not fit.
    """
    version = meta.get("coevo.contract")
    if version is None:
        raise ContractError("not a Coevo model: metadata 'coevo.contract' is missing (export it with `coevo export`)")
    if version != CONTRACT_VERSION:
        raise ContractError(f"model contract version {version!r} is not supported; this daemon reads version {CONTRACT_VERSION}")
    kind = meta.get("kind")
    if kind == "generator":
        keys, in_names, out_names = _GENERATOR_KEYS, GENERATOR_INPUTS, GENERATOR_OUTPUTS
    elif kind == "emotion":
        keys, in_names, out_names = _EMOTION_KEYS, EMOTION_INPUTS, EMOTION_OUTPUTS
    elif kind == "encoder":
        keys, in_names, out_names = _ENCODER_KEYS, ENCODER_INPUTS, ENCODER_OUTPUTS
    elif kind == "art":
        keys, in_names, out_names = _ART_KEYS, ART_INPUTS, ART_OUTPUTS
    else:
        raise ContractError(f"metadata 'kind' must be 'generator', 'emotion', 'encoder' or 'art', got {kind!r}")
    missing = [k for k in keys if k not in meta]
    if missing:
        raise ContractError(f"{kind} model metadata lacks {missing}")
    _check_io(kind, list(inputs), in_names, "inputs")
    _check_io(kind, list(outputs), out_names, "outputs")
    extra = {k: v for k, v in meta.items() if k not in keys + _READING_KEYS}
    if kind == "art":
        if _split(meta["emotion_inputs"]) != ("valence", "arousal"):
            raise ContractError(f"emotion_inputs must be 'valence,arousal', got {meta['emotion_inputs']!r}")
        art = ArtContract(_int(meta, "latent_size"), _split(meta["code_names"]),
                          tuple(m for m in meta["movements"].split("|") if m), _int(meta, "image_size"), extra)
        _check_shapes(kind, art, {**inputs, **outputs})
        return art
    low, high = _int(meta, "pitch_low"), _int(meta, "pitch_high")
    _check_pitch_range(low, high)
    steps = _int(meta, "steps_per_bar")
    if steps not in (4, 8, 12, 16, 24, 32, 48, 96):
        raise ContractError(f"steps_per_bar must divide a 4/4 bar evenly (4..96), got {steps}")
    if kind == "emotion":
        shape = list(inputs["roll"])
        if len(shape) != 3 or (isinstance(shape[2], int) and shape[2] != high - low + 1):
            raise ContractError(f"emotion input 'roll' must be [batch, steps, {high - low + 1}], got {shape}")
        return EmotionContract(steps, low, high, extra)

    tracks = _split(meta["tracks"])
    drums = _split(meta["drum_tracks"])
    if not tracks:
        raise ContractError("metadata 'tracks' names no track")
    if not set(drums) <= set(tracks):
        raise ContractError(f"drum_tracks {list(drums)} must be among tracks {list(tracks)}")
    if kind == "generator" and _split(meta["emotion_inputs"]) != ("valence", "arousal"):
        raise ContractError(f"emotion_inputs must be 'valence,arousal', got {meta['emotion_inputs']!r}")
    grid = GeneratorContract(
        latent_size=_int(meta, "latent_size"),
        bar_latent_size=_int(meta, "bar_latent_size"),
        code_names=_split(meta["code_names"]),
        steps_per_bar=steps,
        pitch_low=low,
        pitch_high=high,
        tracks=tracks,
        drum_tracks=drums,
        extra=extra,
        bar_gate=_per_track(meta, "bar_gate", tracks, float, math.isfinite, "finite number") if kind == "generator" else (),
        mono_tracks=_split(meta.get("mono_tracks", "")) if kind == "generator" else (),
        second_voice=(_per_track(meta, "second_voice", tracks, float, math.isfinite, "finite number")
                      if kind == "generator" else ()),
        bar_pitch_classes=(_per_track(meta, "bar_pitch_classes", tracks, int, lambda k: 0 <= k <= 12, "count 0..12")
                           if kind == "generator" else ()),
    )
    if not set(grid.mono_tracks) <= set(tracks):
        raise ContractError(f"mono_tracks {list(grid.mono_tracks)} must be among tracks {list(tracks)}")
    contract = EncoderContract(grid, meta["generator_sha256"]) if kind == "encoder" else grid
    _check_shapes(kind, contract, {**inputs, **outputs})
    return contract
