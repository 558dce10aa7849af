"""Images for the art model: the paintings of ../shared/data/paintings/, or an artist's own folder.

- Every image is converted to RGB (some paintings are grayscale), centre-cropped to a square and
  resized to ``size`` x ``size``; pixels are floats in [0, 1], layout [n, 3, size, size].
- Movement: the first genre artists.csv gives the painter (file names start with the artist key);
  an artist's own images have movement "own work".
- Emotion labels (the paintings have no human ratings): valence and arousal from colour, after
  Valdez & Mehrabian (1994): pleasure = 0.69 brightness + 0.22 saturation, arousal = -0.31 brightness
  + 0.60 saturation (HSV value and saturation), each standardized over the collection and squashed
  into [-1, 1] with tanh, so they share the music side's scale.
- Split: a fixed 10% of the images, chosen by a seeded shuffle, is held out for evaluation;
  preprocessing is cached (in the user cache folder, never in the images' folder), so a second run
  starts in seconds.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.data import _cached, data_root

__all__ = ["ArtImages", "load_images", "colour_emotion", "IMAGE_SUFFIXES", "OWN_WORK", "GRID"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
OWN_WORK = "own work"
GRID = (8, 6)  # columns, rows of the sample grids that training saves and curating reads


@dataclass(frozen=True)
class ArtImages:
    pixels: np.ndarray  # [n, 3, size, size] float32 in [0, 1]
    names: list[str]
    movement: np.ndarray  # [n] index into movements
    movements: tuple[str, ...]
    emotion: np.ndarray  # [n, 2] valence, arousal in [-1, 1]
    emotion_mean: tuple[float, float]
    emotion_std: tuple[float, float]
    held_out: np.ndarray  # [n] bool: the evaluation split


def _load_one(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
        return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)


def colour_emotion(pixels: np.ndarray) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """(valence, arousal) in [-1, 1] per image of [n, 3, h, w] RGB in [0, 1], from brightness and
    saturation, and the mean and standard deviation used to standardize them."""
    top = pixels.max(axis=1)
    low = pixels.min(axis=1)
    value = top.mean(axis=(1, 2))
    saturation = ((top - low) / np.maximum(top, 1e-6)).mean(axis=(1, 2))
    raw = np.stack([0.69 * value + 0.22 * saturation, -0.31 * value + 0.60 * saturation], axis=1)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    emotion = np.tanh((raw - mean) / std).astype(np.float32)
    return emotion, (float(mean[0]), float(mean[1])), (float(std[0]), float(std[1]))


def _movements(root: Path) -> dict[str, str]:
    table = root / "artists.csv"
    if not table.is_file():
        return {}
    with table.open(encoding="utf-8") as f:
        return {row["artist_key"]: row["genre"].split(",")[0].strip() for row in csv.DictReader(f)}


def load_images(folder: Path | None = None, size: int = 64, limit: int | None = None, seed: int = 7) -> ArtImages:
    """The paintings (``folder`` None) or every image in ``folder``, preprocessed and cached.

    Raises:
        FileNotFoundError: the folder does not exist or holds no image, said with what was looked for.
    """
    from tqdm import tqdm

    own = folder is not None
    root = Path(folder) if own else data_root() / "paintings"
    image_dir = root if own else root / "images"
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{image_dir} is not a folder of images")
    files = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit is not None:  # evenly spread, so a quick run still sees several artists
        files = files[::max(1, len(files) // limit)][:limit]
    if not files:
        raise FileNotFoundError(f"{image_dir} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    def build() -> dict[str, np.ndarray]:
        pixels = np.empty((len(files), 3, size, size), dtype=np.uint8)
        kept: list[str] = []
        for path in tqdm(files, desc="images", unit="img"):
            try:
                pixels[len(kept)] = _load_one(path, size)
                kept.append(path.name)
            except OSError as err:
                log.warning("left out %s: not a readable image (%s)", path.name, err)
        return {"pixels": pixels[:len(kept)], "names": np.array(kept)}

    key = f"{image_dir.resolve()}|{size}|" + "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    cached = _cached("art", key, build)
    pixels, names = cached["pixels"], [str(n) for n in cached["names"]]
    if not names:
        raise FileNotFoundError(f"{image_dir}: none of its {len(files)} images could be read")
    by_artist = {} if own else _movements(root)
    labels = [OWN_WORK if own else next((m for k, m in by_artist.items() if n.startswith(k + "_")), "unknown")
              for n in names]
    movements = tuple(sorted(set(labels)))
    floats = pixels.astype(np.float32) / 255.0
    order = np.random.default_rng(seed).permutation(len(names))
    held_out = np.zeros(len(names), dtype=bool)
    held_out[order[:max(1, len(names) // 10)]] = True
    emotion, mean, std = colour_emotion(floats)
    return ArtImages(floats, names, np.array([movements.index(m) for m in labels]), movements, emotion, mean, std,
                     held_out)
