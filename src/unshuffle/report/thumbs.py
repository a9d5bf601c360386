"""Thumbnails of a run's images: small JPEGs named by image index, made once and kept between builds."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

THUMB_SIZE = 96  # longest side in pixels
QUALITY = 80
MANIFEST = "manifest.json"


def thumb_name(index: int) -> str:
    """The file name of image ``index``'s thumbnail (``000123.jpg``)."""
    return f"{index:06d}.jpg"


def names_digest(names: Iterable[str]) -> str:
    """A hash of the image names in order: thumbnails are kept only while it is unchanged."""
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()


def make_thumbnail(image: np.ndarray, size: int = THUMB_SIZE) -> bytes:
    """JPEG bytes of ``image`` (H, W, 3) uint8 shrunk so that its longest side is at most ``size``
    (small images are enlarged to it, pixelated, so a 32 px image is not a speck)."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image))
    w, h = pil.size
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if scale < 1:
        pil = pil.resize(new, Image.Resampling.BILINEAR, reducing_gap=2.0)
    elif scale > 1:
        pil = pil.resize(new, Image.Resampling.NEAREST)
    import io

    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=QUALITY)
    return buf.getvalue()


def ensure_thumbnails(images, indices: Iterable[int], folder: str | Path, *, size: int = THUMB_SIZE,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """Write ``folder/<thumb_name(i)>`` for each index in ``indices`` that has none yet.

    images: an ImageSet (``.names``, ``.image(i)`` (H, W, 3) uint8). The folder's manifest records
    the names' digest and the size; when either changed (other data, other size) the old thumbnails
    are removed first. Each file is written under a temporary name and renamed, so a killed build
    leaves no half thumbnail behind to be kept. Returns {"made", "kept"}.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    want = {"names_sha256": names_digest(images.names), "size": int(size), "format": "jpeg"}
    manifest = folder / MANIFEST
    try:
        have = json.loads(manifest.read_text())
    except (OSError, ValueError):
        have = None
    if have != want:
        for old in folder.glob("*.jpg"):
            old.unlink()
        manifest.write_text(json.dumps(want) + "\n")
    wanted = {int(i) for i in indices}
    existing = {p.name for p in folder.iterdir()}
    todo = sorted(i for i in wanted if thumb_name(i) not in existing)
    for k, i in enumerate(todo):
        path = folder / thumb_name(i)
        tmp = folder / f".{path.name}.tmp"
        tmp.write_bytes(make_thumbnail(images.image(i), size))
        os.replace(tmp, path)
        if progress is not None:
            progress(k + 1, len(todo))
    return {"made": len(todo), "kept": len(wanted) - len(todo)}
