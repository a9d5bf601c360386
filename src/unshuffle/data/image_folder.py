"""Folders of image files -> ImageSet: files listed once, decoded only when asked, stable class order."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from unshuffle.data.decode import decode_image
from unshuffle.data.imageset import ImageSet
from unshuffle.data.layout import SPLITS, WNIDS, parse_wnids, resolve_layout
from unshuffle.errors import DataFormatError
from unshuffle.regular_files import check_regular, open_regular


class ByteStore(Protocol):
    """Random access to the bytes of named files (a folder or an archive)."""

    def read_bytes(self, name: str) -> bytes: ...


class EncodedImageReader:
    """ImageReader over encoded image files in a :class:`ByteStore`; decodes on each ``read``.

    The fingerprint hashes every file's name and bytes; it is computed on the first call only.
    """

    def __init__(self, store: ByteStore, files: list[str], where: str):
        self.store = store
        self.files = files
        self.where = where
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.files)

    def read(self, i: int) -> np.ndarray:
        name = self.files[i]
        return decode_image(self.store.read_bytes(name), f"{self.where}/{name}")

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256()
            for name in self.files:
                data = self.store.read_bytes(name)
                h.update(f"{name}\0{len(data)}\0".encode())
                h.update(data)
            self._fingerprint = h.hexdigest()
        return self._fingerprint


class FolderStore:
    """Files under a folder on disk, by ``/``-separated relative name."""

    def __init__(self, root: Path):
        self.root = root

    def read_bytes(self, name: str) -> bytes:
        path = self.root / name
        try:
            with open_regular(path) as f:
                return f.read()
        except OSError as e:
            raise DataFormatError(path, f"cannot read the file ({e.strerror or e})") from e


def list_files(root: Path) -> list[str]:
    """All files under ``root`` as sorted ``/``-separated relative paths (symlinked folders not followed).

    A FIFO, device or socket (or a symlink to one) anywhere under ``root`` is refused by name
    (UnsafeFileError) before anything is opened.
    """
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root).as_posix()
        for f in filenames:
            check_regular(os.path.join(dirpath, f))
            out.append(f if rel == "." else f"{rel}/{f}")
    return sorted(out)


def open_folder(path: Path, split: str | None) -> tuple[ImageSet, list[str]]:
    """Open a folder of images: returns the ImageSet and the relative paths of skipped files.

    When ``path`` is itself a split folder (``.../val``), a ``wnids.txt`` in its parent fixes the
    class order, so the train and val folders of one data set agree.
    """
    files = list_files(path)
    store = FolderStore(path)
    class_order = None
    outside = path.parent / WNIDS
    if path.name in SPLITS and outside.is_file():
        class_order = parse_wnids(outside.read_text(encoding="utf-8"), str(outside))

    def read_text(name: str) -> str:
        return store.read_bytes(name).decode("utf-8", errors="replace")

    layout = resolve_layout(files, source=str(path), split=split, read_text=read_text, class_order=class_order)
    ds = ImageSet(
        EncodedImageReader(store, layout.files, str(path)),
        layout.files,
        source=path,
        format="folder",
        labels=layout.labels,
        class_names=layout.class_names,
    )
    return ds, layout.skipped


def open_single_image(path: Path) -> tuple[ImageSet, list[str]]:
    """One image file as an ImageSet of one unlabelled image."""
    ds = ImageSet(EncodedImageReader(FolderStore(path.parent), [path.name], str(path.parent)), [path.name],
                  source=path, format="image")
    return ds, []
