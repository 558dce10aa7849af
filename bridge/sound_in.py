"""Sound input (sounddevice / PortAudio): level, onset rate and spectral centroid of the room.

For rooms without MIDI: the features move visual energy at frame rate and pull arousal at each bar
line. PortAudio calls ``_block`` on its own thread for every block; the work there is one FFT.

Onsets are timed on the audio's own clock (frames heard), not on the wall clock: a busy machine hands
blocks over late and in bursts, and audio it never captured is not a quiet room.

An input that stops delivering (its device unplugged, its sound server gone) reads as silence after
``STALL_S``, so the visuals and the emotion state do not freeze on the last sound. A stream whose JACK
server went away cannot be closed: PortAudio hangs in any call that touches it, at exit too, so it is
left as it is (``gone``) and the process can still exit.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from bridge.errors import SoundError

__all__ = ["SoundFeatures", "SoundInput", "input_devices"]

log = logging.getLogger(__name__)

BLOCK = 512
FLOOR_DB = -60.0  # level 0 at or below this, 1 at 0 dBFS
ONSET_WINDOW_S = 4.0
REFRACTORY_S = 0.08
LEVEL_RELEASE_S = 0.5  # the level meter rises at once and falls back over this time (a peak meter)
CENTROID_BLOCKS = 9  # the centroid is the median of the last few loud blocks' (a glitch or a click moves it little)
STALL_S = 1.0  # no audio for this long reads as silence
ONSET_RISE = 0.05  # an onset is a block at least 3 dB louder than the one before, with a jump in the spectrum


@dataclass(frozen=True)
class SoundFeatures:
    level: float  # 0..1 from FLOOR_DB..0 dBFS, peak-held (LEVEL_RELEASE_S)
    onset_rate: float  # onsets per second over the last ONSET_WINDOW_S of audio heard
    centroid_hz: float  # spectral centroid of the recent loud blocks (their median)

    @property
    def energy(self) -> float:
        """0..1: what sound adds to visual energy."""
        return float(np.clip(0.6 * self.level + 0.4 * min(self.onset_rate / 4.0, 1.0), 0.0, 1.0))

    @property
    def arousal(self) -> float:
        """-1..1: loud, busy, bright sound reads as high arousal; a quiet room as low."""
        x = 0.5 * self.level + 0.3 * min(self.onset_rate / 4.0, 1.0) + 0.2 * min(self.centroid_hz / 4000.0, 1.0)
        return float(np.clip(2.0 * x - 1.0, -1.0, 1.0))


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as err:  # the PortAudio library itself is missing
        raise SoundError(f"sound input needs PortAudio ({err}); Debian/Ubuntu: apt-get install libportaudio2") from err
    return sounddevice


def _open_portaudio(sd: Any) -> None:
    """PortAudio lists devices when it starts: start it afresh to see a JACK server or interface that
    appeared since (sounddevice's documented way to rescan)."""
    _close_portaudio(sd)
    sd._initialize()


def _close_portaudio(sd: Any) -> None:
    """Let go of PortAudio entirely (its JACK client too), so nothing is left for exit to tear down."""
    while sd._initialized:
        sd._terminate()


def _describe(sd: Any) -> list[str]:
    apis = sd.query_hostapis()
    return [f"{i}: {d['name']} ({apis[d['hostapi']]['name']}, {d['max_input_channels']} in)"
            for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]


def input_devices() -> list[str]:
    """'index: name (host API, channels)' for every device that can record."""
    sd = _sounddevice()
    _open_portaudio(sd)
    try:
        return _describe(sd)
    finally:
        _close_portaudio(sd)


class SoundInput:
    """One mono input stream and its running features. ``device``: "default", an index, or name words
    (sounddevice matches substrings of the device and host API names, e.g. "system JACK")."""

    def __init__(self, device: str) -> None:
        sd = _sounddevice()
        self._sd = sd
        _open_portaudio(sd)
        chosen: int | str | None = None if device == "default" else int(device) if device.isdigit() else device
        try:
            info = sd.query_devices(chosen, "input")
            self.stream = sd.InputStream(device=chosen, channels=1, blocksize=BLOCK, dtype="float32",
                                         callback=self._block)
        except (ValueError, sd.PortAudioError) as err:
            found = "\n  ".join(_describe(sd)) or "(none)"
            _close_portaudio(sd)
            raise SoundError(f"cannot open sound input {device!r}: {err}\ninput devices:\n  {found}") from err
        self.name = str(info["name"])
        self.rate = float(self.stream.samplerate)
        self._window = np.hanning(BLOCK).astype(np.float32)
        self._freqs = np.fft.rfftfreq(BLOCK, 1.0 / self.rate)
        self._lock = threading.Lock()
        self._level = 0.0
        self._last_level = 0.0  # of the previous block, unsmoothed
        self._centroids: deque[float] = deque(maxlen=CENTROID_BLOCKS)
        self._last_spectrum = np.zeros(len(self._freqs), dtype=np.float32)
        self._flux = deque(maxlen=int(self.rate / BLOCK * 1.0) + 1)  # the last second of spectral flux
        self._onsets: deque[float] = deque(maxlen=1024)  # on the audio clock, seconds
        self.blocks = 0
        self.heard_s = 0.0  # the audio clock: seconds of sound received since the stream opened
        self._last_block_at = math.inf  # time.monotonic() of the latest block; none before start

    def start(self) -> None:
        self._last_block_at = time.monotonic()
        self.stream.start()
        log.info("sound input: %s at %.0f Hz", self.name, self.rate)

    @property
    def gone(self) -> bool:
        """The stream was started and PortAudio no longer runs it, nor was it stopped: its device or
        sound server went away."""
        return self._last_block_at < math.inf and not self.stream.active and not self.stream.stopped

    def stop(self) -> None:
        if self.gone:
            log.warning("sound input %s went away; left open (PortAudio cannot close it)", self.name)
            atexit.unregister(self._sd._exit_handler)  # it would hang in PortAudio at exit
            return
        self.stream.stop()
        self.stream.close()
        _close_portaudio(self._sd)

    def features(self) -> SoundFeatures:
        if time.monotonic() - self._last_block_at > STALL_S:
            return SoundFeatures(0.0, 0.0, 0.0)  # nothing heard lately: a silent room
        with self._lock:
            onsets = sum(1 for t in self._onsets if t > self.heard_s - ONSET_WINDOW_S)
            centroid = float(np.median(self._centroids)) if self._centroids else 0.0
            return SoundFeatures(self._level, onsets / ONSET_WINDOW_S, centroid)

    def energy(self) -> float:
        return self.features().energy

    def _block(self, data: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status:
            log.debug("sound input: %s", status)
        x = data[:, 0]
        rms = float(np.sqrt(np.mean(x * x)) + 1e-12)
        level = float(np.clip((20.0 * math.log10(rms) - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0))
        spectrum = np.abs(np.fft.rfft(x * self._window[:len(x)], n=BLOCK)).astype(np.float32)
        flux = float(np.sum(np.maximum(spectrum - self._last_spectrum, 0.0)))
        self._last_spectrum = spectrum
        release = math.exp(-frames / self.rate / LEVEL_RELEASE_S)
        with self._lock:
            self._last_block_at = time.monotonic()
            self.blocks += 1
            now = self.heard_s
            self.heard_s += frames / self.rate
            self._level = max(level, self._level * release)
            if level > 0.05 and (total := float(spectrum.sum())) > 0:
                self._centroids.append(float((spectrum * self._freqs).sum() / total))
            typical = float(np.median(self._flux)) if self._flux else 0.0
            self._flux.append(flux)
            recent = self._onsets[-1] if self._onsets else -1.0
            rise = level - self._last_level
            self._last_level = level
            if level > 0.1 and rise > ONSET_RISE and flux > 2.0 * typical + 1e-3 and now - recent > REFRACTORY_S:
                self._onsets.append(now)
