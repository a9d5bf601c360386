"""Test helpers for the data-format tests: small images, file trees, archives and py2-style pickles."""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def random_images(n: int, size: int = 8, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 random images, distinct from each other."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def png(img: np.ndarray) -> bytes:
    """Lossless PNG bytes of an (H, W[, C]) uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``{relative path: bytes}`` under ``root``; returns ``root``."""
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def tar_tree(out: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    """Write ``files`` as a tar archive (``mode`` w, w:gz, w:bz2 ...) at ``out``."""
    with tarfile.open(out, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out


def zip_tree(out: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` as a deflated zip at ``out``."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out


class Py2StylePickler(pickle._Pickler):
    """Protocol-2 pickler that writes bytes as Python 2 ``str`` (BINSTRING), as the CIFAR files do."""

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def py2_pickle(obj) -> bytes:
    """``obj`` pickled like Python 2 + numpy 1 would: protocol 2, py2 strings, numpy.core names."""
    buf = io.BytesIO()
    Py2StylePickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def planes(images: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, 3*S*S) uint8 rows of R, G, B planes (the pickled-batch layout)."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))
