"""`coevo art curate`: the artist picks generated images, which join the training folder of the next run.

Images are picked by their index in a sample grid of the run (``RUN/samples/step_*.png``, 8 x 6 tiles,
index = row * 8 + column, from 0; the newest grid unless one is named) or as image files. They are
copied, never moved or overwritten, into the folder the run trained on (``--images``), or into
``into``; a run on the shared paintings needs ``into``, as the shared data is never written.
"""

from __future__ import annotations

import json
from pathlib import Path

from models.art_data import GRID, IMAGE_SUFFIXES

__all__ = ["CurateError", "curate"]


class CurateError(ValueError):
    """A pick or a folder is not usable; the message says what was expected."""


def _target(run: Path, into: Path | None) -> Path:
    if into is not None:
        return into
    config = run / "art_config.json"
    if not config.is_file():
        raise CurateError(f"{run} is not an art run (no art_config.json); train one with coevo train art")
    images = json.loads(config.read_text())["images"]
    if not images:
        raise CurateError(f"{run} trained on the shared paintings, which are never written: pass --into FOLDER "
                          "(then train the next run with --images FOLDER)")
    return Path(images)


def curate(run: Path, picks: list[int], files: list[Path], into: Path | None = None,
           grid: Path | None = None) -> list[Path]:
    """Copy the picked grid tiles and files into the training folder; returns the new files."""
    from PIL import Image

    target = _target(run, into)
    if not target.is_dir():
        raise CurateError(f"{target} is not a folder")
    new: list[Path] = []
    if picks:
        grids = sorted((run / "samples").glob("step_*.png"))
        sheet_path = grid or (grids[-1] if grids else None)
        if sheet_path is None or not sheet_path.is_file():
            raise CurateError(f"no sample grid in {run / 'samples'}: train the run first")
        with Image.open(sheet_path) as sheet:
            sheet = sheet.convert("RGB")
            columns, rows = GRID
            side = sheet.width // columns
            if sheet.height != rows * side:
                raise CurateError(f"{sheet_path} is not an {columns} x {rows} grid of square tiles")
            for index in picks:
                if not 0 <= index < columns * rows:
                    raise CurateError(f"grid index {index} is outside 0..{columns * rows - 1}")
            for index in picks:
                r, c = divmod(index, columns)
                tile = sheet.crop((c * side, r * side, (c + 1) * side, (r + 1) * side))
                new.append(_save(tile, target / f"curated_{run.name}_{sheet_path.stem}_{index:02d}.png"))
    for file in files:
        if file.suffix.lower() not in IMAGE_SUFFIXES or not file.is_file():
            raise CurateError(f"{file} is not an image file ({', '.join(IMAGE_SUFFIXES)})")
        try:
            with Image.open(file) as img:
                new.append(_save(img.convert("RGB"), target / f"curated_{file.stem}.png"))
        except OSError as err:
            raise CurateError(f"{file} is not a readable image ({err})") from err
    return new


def _save(image: object, path: Path) -> Path:
    """Save under ``path``, or ``path`` with a counter when the name is taken: nothing is overwritten."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        n += 1
    image.save(candidate)  # type: ignore[attr-defined]
    return candidate
