"""The ONNX files shipped as package data, and their manifest (torch-free)."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST_NAME", "shipped_dir", "shipped_model", "read_manifest", "sha256_file"]

MANIFEST_NAME = "manifest.json"


def shipped_dir() -> Path:
    """Folder that holds the shipped ONNX files and ``manifest.json``."""
    with as_file(files("models") / "shipped") as path:
        return Path(path)


def read_manifest(folder: Path | None = None) -> dict[str, Any]:
    """The manifest of the models shipped in ``folder`` (default: this install's), or an empty one."""
    path = (folder or shipped_dir()) / MANIFEST_NAME
    if not path.is_file():
        return {"models": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def shipped_model(kind: str, precision: str = "fp32") -> Path | None:
    """Path of the shipped model of ``kind`` ('generator', 'emotion', 'encoder' or 'art'), or None if none
    ships; ``precision='fp16'`` gives its fp16 variant where one ships (else the fp32 file)."""
    entry = read_manifest()["models"].get(kind)
    if entry is None:
        return None
    if precision == "fp16" and "fp16" in entry:
        entry = entry["fp16"]
    path = shipped_dir() / entry["file"]
    return path if path.is_file() else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
