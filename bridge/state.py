"""The control state the performer steers: latent z, named axes, emotion, key, density, phrase length.

Every change is ``z_new = z_old + alpha * u`` on the vector (z, axes, emotion), made by one of the
``ControlState`` methods; each pushes the previous values on the undo history first. The state
is owned by the daemon's control thread; no other thread touches it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bridge.refine import parse_key

__all__ = ["StateValues", "ControlState", "Morph"]

HISTORY = 256


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return float(min(hi, max(lo, x)))


@dataclass(frozen=True)
class StateValues:
    """An immutable snapshot of everything the performer can change."""

    z: tuple[float, ...]
    axes: tuple[tuple[str, float], ...]
    valence: float
    arousal: float
    tonic: int
    mode: str
    density: float
    bars: int

    def axis(self, name: str) -> float:
        return dict(self.axes)[name]

    def as_dict(self) -> dict[str, object]:
        return {"z": list(self.z), "axes": dict(self.axes), "valence": self.valence, "arousal": self.arousal,
                "tonic": self.tonic, "mode": self.mode, "density": self.density, "bars": self.bars}


@dataclass
class Morph:
    start: StateValues
    target: StateValues
    bars: int
    done: int = 0


def _lerp(a: StateValues, b: StateValues, w: float) -> StateValues:
    za, zb = np.asarray(a.z), np.asarray(b.z)
    axes = tuple((k, (1 - w) * v + w * dict(b.axes)[k]) for k, v in a.axes)
    return replace(a, z=tuple(float(x) for x in (1 - w) * za + w * zb), axes=axes,
                   valence=(1 - w) * a.valence + w * b.valence, arousal=(1 - w) * a.arousal + w * b.arousal,
                   density=(1 - w) * a.density + w * b.density,
                   tonic=b.tonic if w >= 0.5 else a.tonic, mode=b.mode if w >= 0.5 else a.mode,
                   bars=b.bars if w >= 0.5 else a.bars)


class ControlState:
    """Current values, undo history, named snapshots and an optional morph in progress."""

    def __init__(self, latent_size: int, axis_names: tuple[str, ...], *, alpha: float, seed: int,
                 tonic: str, mode: str, density: float, bars: int) -> None:
        rng = np.random.default_rng(seed)
        t, m = parse_key(tonic, mode)
        self.values = StateValues(
            z=tuple(float(x) for x in rng.standard_normal(latent_size)),
            axes=tuple((name, 0.0) for name in axis_names), valence=0.0, arousal=0.0,
            tonic=t, mode=m, density=density, bars=bars)
        self.alpha = alpha
        self.history: list[StateValues] = []
        self.snapshots: dict[str, StateValues] = {}
        self.morph: Morph | None = None

    # -- every change goes through _set, which records the undo history
    def _set(self, values: StateValues) -> None:
        self.history.append(self.values)
        del self.history[:-HISTORY]
        self.values = values

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.values.axes)

    def nudge(self, axis: str, amount: float) -> None:
        """axis += alpha * amount, clipped to [-1, 1]. Raises ValueError for an unknown axis."""
        if axis not in self.axis_names:
            raise ValueError(f"axis must be one of {', '.join(self.axis_names)}; got {axis!r}")
        axes = tuple((k, _clip(v + self.alpha * amount) if k == axis else v) for k, v in self.values.axes)
        self._set(replace(self.values, axes=axes))

    def set_axis(self, axis: str, value: float) -> None:
        """Absolute position of an axis (a knob), value in [-1, 1]."""
        if axis not in self.axis_names:
            raise ValueError(f"axis must be one of {', '.join(self.axis_names)}; got {axis!r}")
        axes = tuple((k, _clip(value) if k == axis else v) for k, v in self.values.axes)
        self._set(replace(self.values, axes=axes))

    def feedback(self, phrase_z: np.ndarray, like: bool) -> None:
        """Like: z += alpha * (z_phrase - z); dislike: z -= alpha * (z_phrase - z)."""
        z = np.asarray(self.values.z)
        u = np.asarray(phrase_z, dtype=np.float64) - z
        z_new = z + (self.alpha if like else -self.alpha) * u
        self._set(replace(self.values, z=tuple(float(x) for x in z_new)))

    def pull_z(self, target: np.ndarray, weight: float) -> None:
        """Move z ``weight`` of the way toward ``target`` (what the performer played, as the encoder reads it)."""
        z = np.asarray(self.values.z)
        z_new = z + weight * (np.asarray(target, dtype=np.float64) - z)
        self._set(replace(self.values, z=tuple(float(x) for x in z_new)))

    def set_emotion(self, valence: float, arousal: float) -> None:
        self._set(replace(self.values, valence=_clip(valence), arousal=_clip(arousal)))

    def pull_emotion(self, valence: float, arousal: float, weight: float) -> None:
        """Move the emotion state ``weight`` of the way toward a reading (the performer's notes)."""
        v, a = self.values.valence, self.values.arousal
        self.set_emotion(v + weight * (valence - v), a + weight * (arousal - a))

    def set_key(self, tonic: str, mode: str) -> None:
        """Raises ValueError naming the allowed tonics or modes."""
        t, m = parse_key(tonic, mode)
        self._set(replace(self.values, tonic=t, mode=m))

    def set_bars(self, bars: int) -> None:
        if not 1 <= bars <= 8:
            raise ValueError(f"bars must be 1..8; got {bars}")
        self._set(replace(self.values, bars=bars))

    def set_density(self, density: float) -> None:
        """Note density in [0, 1]: lowers the activity threshold at which the roll becomes notes."""
        self._set(replace(self.values, density=_clip(density, 0.0, 1.0)))

    @property
    def threshold(self) -> float:
        return 0.75 - 0.5 * self.values.density

    def undo(self) -> bool:
        """Go back one change; False when there is nothing to undo."""
        if not self.history:
            return False
        self.values = self.history.pop()
        self.morph = None
        return True

    def save(self, name: str) -> None:
        self.snapshots[name] = self.values

    def recall(self, name: str) -> None:
        """Raises KeyError naming the saved snapshots."""
        if name not in self.snapshots:
            raise KeyError(f"no snapshot {name!r}; saved: {', '.join(self.snapshots) or 'none'}")
        self._set(self.snapshots[name])

    def start_morph(self, name: str, bars: int) -> None:
        """From the current values to snapshot ``name`` over ``bars`` bar lines."""
        if name not in self.snapshots:
            raise KeyError(f"no snapshot {name!r}; saved: {', '.join(self.snapshots) or 'none'}")
        self.morph = Morph(self.values, self.snapshots[name], bars)

    def bar_line(self) -> bool:
        """Advance a morph in progress by one bar; True if the values changed."""
        if self.morph is None:
            return False
        m = self.morph
        m.done += 1
        self._set(_lerp(m.start, m.target, m.done / m.bars))
        if m.done >= m.bars:
            self.morph = None
        return True
