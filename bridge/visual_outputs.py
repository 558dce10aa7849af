"""Where frames go besides the web page: an OSC bundle per frame, and PNG files (``--record``)."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np

from bridge.osc_io import OscEndpoint
from bridge.visuals import VisualFrame

__all__ = ["OscVisuals", "PngRecorder", "png_bytes"]

log = logging.getLogger(__name__)


class OscVisuals:
    """Each frame as one bundle to the event targets: palette, energy, valence, arousal, latent, beat."""

    def __init__(self, osc: OscEndpoint) -> None:
        self.osc = osc

    def publish(self, frame: VisualFrame) -> None:
        self.osc.broadcast_bundle([
            ("/coevo/visual/palette", [float(x) for x in frame.palette.reshape(-1)]),
            ("/coevo/visual/energy", (float(frame.energy),)),
            ("/coevo/visual/valence", (float(frame.valence),)),
            ("/coevo/visual/arousal", (float(frame.arousal),)),
            ("/coevo/visual/latent", [float(x) for x in frame.latent]),
            ("/coevo/beat", (frame.bar, frame.beat)),
        ])


def png_bytes(rgb: np.ndarray) -> bytes:
    """A uint8 [h, w, 3] image as a PNG file (8-bit RGB, no filter, zlib level 1: fast enough per frame)."""
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


class PngRecorder:
    """Writes every frame to ``folder/frame_000001.png``, ... ; stops (and says why) if the disk refuses."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.written = 0
        self.failed = False
        log.info("recording frames to %s", folder)

    def publish(self, frame: VisualFrame) -> None:
        if self.failed:
            return
        path = self.folder / f"frame_{frame.index:06d}.png"
        try:
            path.write_bytes(png_bytes(frame.image))
            self.written += 1
        except OSError as err:
            self.failed = True
            log.error("recording stopped after %d frames: cannot write %s: %s", self.written, path, err.strerror)
