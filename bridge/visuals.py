"""The visualizer: shared state + the music on the playhead -> art model inputs -> frames and OSC.

Data flow, one frame at a time on a thread of its own (``Visualizer``):
  control state (z, emotion, axes)  \\
  the notes about to play (``Score``) -> ``VisualDriver`` -> art model -> frame (RGB, 128x128)
  sound input (optional)            /                                   -> web page, OSC bundle, PNG files

The daemon knows every note before it sounds, so the energy envelope rises exactly on the onsets, and
the motion through the art model's latent space speeds up on them: visual moves land on the beat.
Everything is smoothed with time constants in seconds, so the picture never jumps.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from bridge.generation import ArtModel
from bridge.phrase import BEATS_PER_BAR, Phrase
from bridge.state import StateValues

__all__ = ["Score", "MusicFeatures", "VisualDriver", "VisualFrame", "Visualizer", "FrameSink", "upscale", "palette"]

log = logging.getLogger(__name__)

FRAME_SIZE = 128  # frames are sent and recorded at this size (the shipped model draws 64x64; see upscale)
PALETTE_COLOURS = 5
FPS_WINDOW_S = 2.0  # the fps shown on the page and sent with each frame is over this window
LATENT_COORDS = 8  # principal coordinates sent as /coevo/visual/latent
ENERGY_DECAY_BEATS = 0.35  # how fast a note's flash fades
SMOOTH_S = 0.18  # time constant of the latent and code smoothing
EMOTION_SMOOTH_S = 0.6
DRIFT_PER_BEAT = 0.035  # radians of wander per beat when nothing plays ...
DRIFT_PER_ENERGY = 0.25  # ... and this much more per beat at full energy
_PROJECTION_SEED = 7  # fixes the map from the music latent to the art latent


class StateSource(Protocol):
    @property
    def values(self) -> StateValues: ...


class Clock(Protocol):
    @property
    def running(self) -> bool: ...

    @property
    def bpm(self) -> float: ...

    def beat_now(self) -> float: ...


class FrameSink(Protocol):
    def publish(self, frame: "VisualFrame") -> None: ...


class Score:
    """The committed notes by absolute beat (onset, pitch, velocity, drum), for the visual thread to read."""

    def __init__(self, drum_tracks: tuple[str, ...]) -> None:
        self.drum_tracks = drum_tracks
        self._lock = threading.Lock()
        self._phrases: dict[str, Phrase] = {}
        self._onsets = np.zeros(0)
        self._pitch = np.zeros(0)
        self._velocity = np.zeros(0)
        self._drum = np.zeros(0, dtype=bool)

    def add(self, phrase: Phrase, replaces: str | None = None) -> None:
        with self._lock:
            if replaces is not None:
                self._phrases.pop(replaces, None)
            self._phrases[phrase.id] = phrase
            self._rebuild()

    def prune(self, before_beat: float) -> None:
        """Forget phrases that ended more than two bars before ``before_beat``."""
        with self._lock:
            old = [k for k, p in self._phrases.items() if p.start_beat + p.length_beats < before_beat - 2 * BEATS_PER_BAR]
            for k in old:
                del self._phrases[k]
            if old:
                self._rebuild()

    def clear(self) -> None:
        with self._lock:
            self._phrases.clear()
            self._rebuild()

    def _rebuild(self) -> None:
        notes = [(p.start_beat + n.start, n.pitch, n.velocity, n.track in self.drum_tracks)
                 for p in self._phrases.values() for n in p.notes if not n.mute]
        notes.sort()
        self._onsets = np.array([n[0] for n in notes], dtype=np.float64)
        self._pitch = np.array([n[1] for n in notes], dtype=np.float64)
        self._velocity = np.array([n[2] for n in notes], dtype=np.float64)
        self._drum = np.array([n[3] for n in notes], dtype=bool)

    def features(self, beat: float) -> "MusicFeatures":
        """What the music does at ``beat``: the onset envelope and the notes of the surrounding beats."""
        with self._lock:
            onsets, pitch, velocity, drum = self._onsets, self._pitch, self._velocity, self._drum
        lo, hi = np.searchsorted(onsets, [beat - 2.0, beat + 2.0], side="right")
        on, p, v, d = onsets[lo:hi], pitch[lo:hi], velocity[lo:hi], drum[lo:hi]
        past = on <= beat
        flash = float(np.sum(v[past] / 127.0 * np.exp(-(beat - on[past]) / ENERGY_DECAY_BEATS)))
        energy = 1.0 - math.exp(-flash / 1.5)
        density = len(on) / 4.0  # onsets per beat over the four beats around the playhead
        pitched = ~d
        centre = float(np.mean(p[pitched])) if pitched.any() else 60.0
        mean_velocity = float(np.mean(v) / 127.0) if len(v) else 0.0
        return MusicFeatures(energy, density, centre, mean_velocity, beat % 1.0)


@dataclass(frozen=True)
class MusicFeatures:
    energy: float  # 0..1, jumps on each onset (scaled by velocity), fades over ENERGY_DECAY_BEATS
    density: float  # onsets per beat around the playhead
    pitch_centre: float  # mean MIDI pitch of the pitched notes around the playhead
    velocity: float  # mean velocity 0..1
    beat_phase: float  # 0 on the beat .. 1


SILENCE = MusicFeatures(0.0, 0.0, 60.0, 0.0, 0.0)


@dataclass(frozen=True)
class VisualFrame:
    index: int
    image: np.ndarray  # uint8 [FRAME_SIZE, FRAME_SIZE, 3]
    palette: np.ndarray  # float [PALETTE_COLOURS, 3] in 0..1, darkest first
    energy: float
    valence: float
    arousal: float
    latent: np.ndarray  # the first LATENT_COORDS principal coordinates of the art latent
    bar: int
    beat: int  # 1..4
    beat_phase: float
    fps: float


class VisualDriver:
    """Turns the control state and the music into the art model's inputs, smoothly, frame by frame.

    - latent: the music latent z seen through a fixed random projection, plus a slow wander in a plane
      of the art latent whose speed rises with the music's energy and note density (so it moves on the
      notes, and more in busy passages);
    - emotion: the state's valence and arousal, smoothed over EMOTION_SMOOTH_S;
    - codes, when the model has them: contrast follows energy plus a small pulse on every beat (while
      notes play), saturation the velocity, warmth falls as the pitch centre rises (low notes, warm
      colours); a code the model lacks is left out.
    """

    def __init__(self, art: ArtModel, music_latent: int, seed: int = 0) -> None:
        self.art = art
        c = art.contract
        rng = np.random.default_rng(_PROJECTION_SEED)
        self.projection = rng.standard_normal((c.latent_size, music_latent)) / math.sqrt(music_latent)
        wander = np.random.default_rng(seed).standard_normal((2, c.latent_size))
        self.plane = np.linalg.qr(wander.T)[0].T  # two orthonormal directions
        self.theta = 0.0
        self.z = np.zeros(c.latent_size)
        self.emotion = np.zeros(2)
        self.codes = np.zeros(len(c.code_names))
        self.basis = principal_directions(art, LATENT_COORDS)
        self._started = False

    def step(self, state: StateValues, music: MusicFeatures, dt: float, beats: float,
             extra_energy: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Advance by ``dt`` seconds (``beats`` beats of music); returns (z, emotion, codes, energy)."""
        playing = music.density > 0  # notes around the playhead
        pulse = math.exp(-4.0 * music.beat_phase) if playing else 0.0  # a breath on every beat
        energy = float(np.clip(music.energy + extra_energy, 0.0, 1.0))
        busy = 1.0 + min(music.density, 4.0) / 4.0
        self.theta += beats * (DRIFT_PER_BEAT * busy + DRIFT_PER_ENERGY * energy) + dt * 0.02
        wander = math.cos(self.theta) * self.plane[0] + math.sin(self.theta) * self.plane[1]
        target_z = 0.8 * (self.projection @ np.asarray(state.z)) + 0.6 * wander * math.sqrt(len(self.z))
        target_emotion = np.array([state.valence, state.arousal])
        targets = {"contrast": 2.0 * min(1.0, energy + 0.2 * pulse) - 1.0, "saturation": 2.0 * music.velocity - 1.0,
                   "warmth": float(np.clip(-(music.pitch_centre - 60.0) / 18.0, -1.0, 1.0))}
        target_codes = np.array([targets.get(name, 0.0) for name in self.art.contract.code_names])
        if not self._started:  # the first frame starts where the state is
            self.z, self.emotion, self.codes, self._started = target_z, target_emotion, target_codes, True
        k = 1.0 - math.exp(-dt / SMOOTH_S)
        ke = 1.0 - math.exp(-dt / EMOTION_SMOOTH_S)
        self.z = self.z + k * (target_z - self.z)
        self.emotion = self.emotion + ke * (target_emotion - self.emotion)
        self.codes = self.codes + k * (target_codes - self.codes)
        return self.z, self.emotion, self.codes, energy

    def render(self) -> np.ndarray:
        """The current image as uint8 [FRAME_SIZE, FRAME_SIZE, 3]."""
        image = self.art.render(self.z[None], self.emotion[None], np.clip(self.codes, -1, 1)[None])[0]
        rgb = np.clip(image.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return upscale(rgb, FRAME_SIZE)

    def coordinates(self) -> np.ndarray:
        return self.basis @ self.z


def principal_directions(art: ArtModel, k: int, samples: int = 256, seed: int = 0) -> np.ndarray:
    """The k directions of the art latent that change the picture most, orthonormal, as rows.

    Fitted once: render ``samples`` random latents, regress the (8x8, RGB) pictures on the latents,
    and take the leading left singular vectors of that linear map. /coevo/visual/latent sends the
    current latent's coordinates along them, so coordinate 1 is the most visible movement."""
    c = art.contract
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((samples, c.latent_size)).astype(np.float32)
    images = art.render(z, np.zeros((samples, 2), np.float32), np.zeros((samples, len(c.code_names)), np.float32))
    s = c.image_size // 8
    small = images.reshape(samples, 3, 8, s, 8, s).mean(axis=(3, 5)).reshape(samples, -1)
    small = small - small.mean(axis=0)
    w, *_ = np.linalg.lstsq(z, small, rcond=None)  # [latent, pixels]
    u, _, _ = np.linalg.svd(w, full_matrices=False)
    return u[:, :min(k, u.shape[1])].T


def upscale(rgb: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a uint8 [h, w, 3] image to [size, size, 3] (identity when it already fits)."""
    h, w, _ = rgb.shape
    if h == size and w == size:
        return rgb
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0, x0 = ys.astype(int), xs.astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = rgb.astype(np.float32)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return np.clip(top * (1 - fy) + bottom * fy + 0.5, 0, 255).astype(np.uint8)


def palette(rgb: np.ndarray, colours: int = PALETTE_COLOURS, iterations: int = 6) -> np.ndarray:
    """The image's main colours by k-means on a 32x32 subsample (seeded from luminance quantiles), darkest
    first, as floats 0..1."""
    step = max(1, rgb.shape[0] // 32)
    pixels = rgb[::step, ::step].reshape(-1, 3).astype(np.float32) / 255.0
    weights = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    order = np.argsort(pixels @ weights)
    centres = pixels[order[((np.arange(colours) + 0.5) / colours * len(order)).astype(int)]]
    norms = (pixels * pixels).sum(axis=1)[:, None]
    for _ in range(iterations):
        nearest = np.argmin(norms - 2.0 * pixels @ centres.T + (centres * centres).sum(axis=1)[None], axis=1)
        counts = np.bincount(nearest, minlength=colours)
        sums = np.stack([np.bincount(nearest, pixels[:, c], minlength=colours) for c in range(3)], axis=1)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return centres[np.argsort(centres @ weights)]


class Visualizer:
    """Renders frames at ``fps`` on its own thread and hands each to every sink."""

    def __init__(self, driver: VisualDriver, state: StateSource, clock: Clock, score: Score, fps: float,
                 sinks: list[FrameSink], sound_energy: Callable[[], float] | None = None) -> None:
        self.driver = driver
        self.state = state
        self.clock = clock
        self.score = score
        self.period = 1.0 / fps
        self.sinks = sinks
        self.sound_energy = sound_energy
        self.frame_times: deque[float] = deque(maxlen=100_000)  # seconds spent making each frame
        self.frame_starts: deque[float] = deque(maxlen=int(fps * FPS_WINDOW_S) + 2)  # enough for fps()
        self.frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coevo-visuals", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def fps(self) -> float:
        """Frames per second over the last FPS_WINDOW_S seconds."""
        recent = [t for t in self.frame_starts if t >= self.frame_starts[-1] - FPS_WINDOW_S] if self.frame_starts else []
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9) if len(recent) > 1 else 0.0

    def _run(self) -> None:
        next_due = time.monotonic()
        last_t = next_due
        last_beat = self.clock.beat_now()
        while not self._stop.is_set():
            delay = next_due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            t = time.monotonic()
            next_due = max(next_due + self.period, t)  # late: start again from now, never catch up in a burst
            try:
                self._frame(t, t - last_t, last_beat)
            except Exception as err:  # a frame that fails is skipped; the music never waits for the pictures
                log.warning("visual frame failed: %s: %s", type(err).__name__, err)
            last_t = t
            last_beat = self.clock.beat_now()

    def _frame(self, t: float, dt: float, last_beat: float) -> None:
        beat = self.clock.beat_now()
        music = self.score.features(beat) if self.clock.running else SILENCE
        extra = self.sound_energy() if self.sound_energy is not None else 0.0
        values = self.state.values
        _, emotion, _, energy = self.driver.step(values, music, dt, max(0.0, beat - last_beat), extra)
        image = self.driver.render()
        self.frames += 1
        self.frame_starts.append(t)
        frame = VisualFrame(self.frames, image, palette(image), energy, float(emotion[0]), float(emotion[1]),
                            self.driver.coordinates(), int(beat // BEATS_PER_BAR), int(beat % BEATS_PER_BAR) + 1,
                            beat % 1.0, self.fps())
        self.frame_times.append(time.monotonic() - t)
        for sink in self.sinks:
            sink.publish(frame)
        if self.frames % 64 == 0:
            self.score.prune(beat)
