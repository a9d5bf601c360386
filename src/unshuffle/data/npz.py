"""``.npz`` files holding one uint8 (N, H, W, C) image array, optional labels and class names.

The image array is memory-mapped when the member is stored uncompressed (``np.savez``), so only
the images read are paged in; a compressed member (``np.savez_compressed``) is loaded whole.
No pickled objects are ever loaded (``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import math
import struct
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from unshuffle.data.archives import check_expansion
from unshuffle.data.imageset import ImageSet
from unshuffle.errors import DataFormatError

LABEL_KEYS = ("labels", "label", "y", "targets")
NAME_KEYS = ("class_names", "classes")


def _memmap_member(path: Path, member: str) -> np.ndarray | None:
    """Memory-map an uncompressed ``.npy`` member of the zip at ``path``; None when compressed."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            raise DataFormatError(path, f"member {member!r} has a bad local header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None
        offset = f.tell()
    if dtype.hasobject or fortran:
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def _check_member_size(path: Path, info: zipfile.ZipInfo, shape: tuple, fortran: bool, dtype: np.dtype) -> None:
    """Refuse a member whose header declares more data than it holds, or that inflates like a bomb,
    before anything allocates the array it declares."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size:
        raise DataFormatError(path, f"array {info.filename!r} declares {shape} {dtype} ({nbytes} bytes) "
                                    f"but the member holds {info.file_size} bytes")
    if info.compress_type != zipfile.ZIP_STORED:
        check_expansion(path, info.filename, info.file_size, info.compress_size)


class NpzReader:
    """ImageReader over a uint8 (N, H, W, C) array from an .npz; fingerprint hashes the file on demand."""

    def __init__(self, path: Path, array: np.ndarray):
        self.path, self.array = path, array
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def read(self, i: int) -> np.ndarray:
        return np.array(self.array[i])

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256()
            with open(self.path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            self._fingerprint = h.hexdigest()
        return self._fingerprint


def open_npz(path: Path) -> ImageSet:
    """Open an .npz with exactly one 3-D/4-D uint8 image array (N, H, W[, C]) and optional labels.

    Labels: a 1-D integer array named one of ``labels``/``label``/``y``/``targets`` of length N;
    class names: a 1-D string array ``class_names``/``classes``.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
            shapes = {}
            for k in keys:
                # read only the header of each member to find the image array
                with z.zip.open(f"{k}.npy") as f:
                    version = np.lib.format.read_magic(f)
                    header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shapes[k] = header(f)
                _check_member_size(path, z.zip.getinfo(f"{k}.npy"), *shapes[k])
            image_keys = [k for k, (shape, _, dt) in shapes.items() if len(shape) in (3, 4) and k not in LABEL_KEYS]
            if len(image_keys) != 1:
                desc = ", ".join(f"{k}: {dt} {shape}" for k, (shape, _, dt) in shapes.items()) or "no arrays"
                raise DataFormatError(path, f"expected exactly one (N, H, W, C) image array, found {desc}")
            key = image_keys[0]
            shape, _, dtype = shapes[key]
            if dtype != np.uint8:
                raise DataFormatError(path, f"array {key!r} must be uint8, got {dtype}")
            if len(shape) == 4 and shape[3] not in (1, 3, 4):
                raise DataFormatError(path, f"array {key!r} of shape {shape}: expected 1, 3 or 4 channels last")
            labels = class_names = None
            label_key = next((k for k in LABEL_KEYS if k in keys), None)
            if label_key is not None:
                labels = z[label_key]
                if labels.ndim != 1 or labels.shape[0] != shape[0] or not np.issubdtype(labels.dtype, np.integer):
                    raise DataFormatError(path, f"{label_key!r} must be N={shape[0]} integers, "
                                                f"got {labels.dtype} {labels.shape}")
                if labels.min(initial=0) < 0:
                    raise DataFormatError(path, f"{label_key!r} holds negative class indices")
            name_key = next((k for k in NAME_KEYS if k in keys), None)
            if name_key is not None:
                class_names = [str(c) for c in z[name_key]]
            array = _memmap_member(path, f"{key}.npy")
            if array is None:
                array = z[key]
    except DataFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, tokenize.TokenError) as e:
        # TokenError: numpy tokenizes the .npy header dict, and an unclosed quote or bracket escapes as that
        raise DataFormatError(path, f"truncated or corrupt .npz ({type(e).__name__}: {e})") from e
    if labels is not None:
        n_cls = int(labels.max()) + 1 if labels.size else 0  # no initial=-1: unsigned labels cannot hold it
        if class_names is None:
            class_names = [str(k) for k in range(n_cls)]
        elif len(class_names) < n_cls:
            raise DataFormatError(path, f"{len(class_names)} class names for labels up to {n_cls - 1}")
    return ImageSet(NpzReader(path, array), [f"{path.name}#{i}" for i in range(shape[0])], source=path,
                    format="npz", labels=labels, class_names=class_names)
