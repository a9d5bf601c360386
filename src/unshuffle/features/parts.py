"""Feature part files: one float32 .npy per chunk of image indices, written atomically, checked on reuse."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from unshuffle.runs.atomic import atomic_path


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as .npy atomically (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


def part_path(parts: Path, chunk: tuple[int, int]) -> Path:
    """File of the chunk of image indices [start, stop)."""
    return parts / f"part-{chunk[0]:010d}-{chunk[1]:010d}.npy"


def write_part(parts: Path, chunk: tuple[int, int], feats: np.ndarray) -> None:
    """Store float32 (stop - start, D) features of one chunk atomically."""
    save_npy(part_path(parts, chunk), np.ascontiguousarray(feats, dtype=np.float32))


def part_ok(parts: Path, chunk: tuple[int, int], dim: int) -> bool:
    path = part_path(parts, chunk)
    if not path.is_file():
        return False
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:  # not a readable .npy: recompute this chunk, and say so
        warnings.warn(f"{path}: unreadable chunk ({e}); recomputing it", stacklevel=4)
        return False
    if arr.dtype != np.float32 or arr.shape != (chunk[1] - chunk[0], dim):
        warnings.warn(f"{path}: chunk has {arr.dtype} {arr.shape}, expected float32 "
                      f"({chunk[1] - chunk[0]}, {dim}); recomputing it", stacklevel=4)
        return False
    return True
