"""All configuration in one place: defaults < TOML file < COEVO_* environment < command-line flags."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import platformdirs

from bridge.errors import ConfigError

__all__ = ["Config", "load_config", "config_to_toml", "default_config_path"]

ENV_PREFIX = "COEVO_"


def _default_data_dir() -> str:
    return platformdirs.user_data_dir("coevo", appauthor=False)


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("coevo", appauthor=False)) / "coevo.toml"


@dataclass
class Config:
    """Every setting of the daemon; each field is also a TOML key, a COEVO_<NAME> variable and a flag."""

    # models ("" means the shipped model)
    model: str = ""
    emotion_model: str = ""
    encoder_model: str = ""  # phrase -> z, for --like and for answering the performer
    providers: str = "auto"  # auto | cpu | cuda | tensorrt
    precision: str = "auto"  # auto | fp32 | fp16: the shipped models' fp16 variants (auto: on CUDA/TensorRT)
    # MIDI ("" means a virtual port of our own); matched by prefix among existing ports
    midi_out: str = ""
    midi_in: str = ""
    midi_client: str = "coevo"
    cycle_align: bool = True  # on JACK: send each note so it lands in the cycle that starts nearest its time
    channels: dict[str, int] = field(default_factory=lambda: {
        "melody": 1, "accompaniment": 2, "bass": 3, "drums": 10})
    cc_map: dict[str, str] = field(default_factory=dict)  # CC number -> axis; empty: CC 21, 22, ... move the axes in order
    # OSC
    osc_host: str = "127.0.0.1"
    osc_port: int = 9100
    event_host: str = "127.0.0.1"
    event_port: int = 9101
    allow: list[str] = field(default_factory=list)
    # tempo and transport
    clock: str = "internal"  # internal | midi | link
    bpm: float = 120.0
    bars: int = 2
    autostart: bool = True
    # control state and feedback
    alpha: float = 0.5
    apply: str = "bar"  # bar | now
    variation: float = 0.35  # spread of each phrase's z around the state's z
    emotion_weight: float = 0.3  # how far the performer's notes move the emotion state
    answer_weight: float = 0.25  # how far the performer's notes pull z toward what the encoder reads in them
    seed: int = 0
    # refinement
    key: str = "C"
    mode: str = "major"
    key_lock: bool = True
    min_note_beats: float = 0.25
    velocity_from_model: bool = True
    velocity_floor: int = 1  # the model's softest note (1..127) plays at this velocity (1: as the model says)
    humanize: float = 0.08
    density: float = 0.5
    density_cap: int = 12  # notes per bar per track, 0 = no cap
    mood_shaping: bool = True  # the key lock's scale follows valence; low arousal plays in half time, mood_lift up
    mood_lift: int = 12  # semitones the pitched tracks rise at low arousal under mood shaping (0: they stay)
    # output
    data_dir: str = field(default_factory=_default_data_dir)
    write_midi: bool = True
    # Ableton Live through AbletonOSC
    ableton_push: str = "off"  # off | every (each phrase as it starts) | liked (each phrase you like)
    ableton_track: int = 0  # Live track (from 0) for those pushes; each goes to its first empty slot
    ableton_tempo: bool = False  # the internal clock follows Live's tempo
    ableton_host: str = "127.0.0.1"
    ableton_port: int = 11000
    ableton_reply_port: int = 11001
    # visuals (the art side) and sound input
    visuals: bool = False  # render frames from the art model: web page, OSC bundles, --record
    art_model: str = ""
    visual_host: str = "127.0.0.1"
    visual_port: int = 8100
    visual_fps: float = 30.0
    record: bool = False  # write every frame as PNG into the session folder's frames/
    sound_in: str = ""  # "" off, "default", a device index, or words of its name (e.g. "system JACK")
    sound_weight: float = 0.3  # how far the sound pulls arousal at each bar line
    log_level: str = "INFO"

    @property
    def renders_visuals(self) -> bool:
        """Frames are made: asked for, or implied by recording them."""
        return self.visuals or self.record

    def validate(self) -> "Config":
        """Raise ConfigError naming the first value out of its allowed range."""
        choices = {"providers": ("auto", "cpu", "cuda", "tensorrt"), "precision": ("auto", "fp32", "fp16"),
                   "clock": ("internal", "midi", "link"),
                   "apply": ("bar", "now"), "ableton_push": ("off", "every", "liked")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        ranges = {"bpm": (20.0, 400.0), "bars": (1, 8), "alpha": (0.0, 4.0), "variation": (0.0, 4.0),
                  "emotion_weight": (0.0, 1.0), "answer_weight": (0.0, 1.0), "min_note_beats": (0.0, 4.0), "humanize": (0.0, 1.0),
                  "velocity_floor": (1, 127), "mood_lift": (0, 24),
                  "density": (0.0, 1.0), "density_cap": (0, 256), "osc_port": (0, 65535),
                  "event_port": (1, 65535), "ableton_track": (0, 999), "ableton_port": (1, 65535),
                  "ableton_reply_port": (1, 65535), "visual_port": (0, 65535), "visual_fps": (1.0, 120.0),
                  "sound_weight": (0.0, 1.0)}  # osc_port 0: any free port
        for name, (lo, hi) in ranges.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ConfigError(f"{name} must be in [{lo}, {hi}]; got {value}")
        for track, ch in self.channels.items():
            if not 1 <= int(ch) <= 16:
                raise ConfigError(f"channels.{track} must be a MIDI channel 1..16; got {ch}")
        for cc in self.cc_map:
            if not cc.isdigit() or not 0 <= int(cc) <= 119:
                raise ConfigError(f"cc_map keys must be controller numbers 0..119; got {cc!r}")
        return self


def _coerce(name: str, kind: Any, raw: Any, source: str) -> Any:
    """Convert ``raw`` (a TOML value or an environment string) to the field's type."""
    text = isinstance(raw, str)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if text and raw.lower() in ("1", "true", "yes", "on"):
                return True
            if text and raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if kind is float:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if kind is str:
            if not isinstance(raw, str):
                raise ValueError(raw)
            return raw
        if kind is list and text and not raw.strip().startswith("["):
            return [v.strip() for v in raw.split(",") if v.strip()]  # COEVO_ALLOW=host1,host2
        if kind in (dict, list):
            value = json.loads(raw) if text else raw
            if not isinstance(value, kind):
                raise ValueError(raw)
            return {str(k): v for k, v in value.items()} if kind is dict else value
    except (ValueError, TypeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{source}: {name} expects {kind.__name__}, got {raw!r}") from err
    raise ConfigError(f"{source}: {name} has an unsupported type")


def _field_types() -> dict[str, Any]:
    types = {"str": str, "int": int, "float": float, "bool": bool}
    out = {}
    for f in fields(Config):
        t = str(f.type)
        out[f.name] = dict if t.startswith("dict") else list if t.startswith("list") else types[t]
    return out


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Resolve the configuration.

    ``path`` is a TOML file (the default location is used when it exists and ``path`` is None);
    ``env`` defaults to ``os.environ``; ``overrides`` holds flag values, None meaning "not given".

    Raises:
        ConfigError: the file is unreadable, a key is unknown, or a value has the wrong type or range.
    """
    types = _field_types()
    values: dict[str, Any] = {}
    if path is None and default_config_path().is_file():
        path = default_config_path()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"cannot read config file {path}: {err}") from err
        for key, raw in data.items():
            if key not in types:
                raise ConfigError(f"{path}: unknown key {key!r}; known keys: {', '.join(types)}")
            values[key] = _coerce(key, types[key], raw, str(path))
    for key, raw in (os.environ if env is None else env).items():
        if key.startswith(ENV_PREFIX) and key != "COEVO_CONFIG":
            name = key[len(ENV_PREFIX):].lower()
            if name not in types:
                raise ConfigError(f"environment: unknown variable {key}; known: "
                                  f"{', '.join(ENV_PREFIX + n.upper() for n in types)}")
            values[name] = _coerce(name, types[name], raw, "environment")
    for key, raw in (overrides or {}).items():
        if raw is not None:
            if key not in types:
                raise ConfigError(f"unknown setting {key!r}")
            values[key] = raw
    return Config(**values).validate()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def config_to_toml(cfg: Config) -> str:
    """The resolved configuration as TOML that ``load_config`` reads back unchanged."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in dataclasses.asdict(cfg).items())
