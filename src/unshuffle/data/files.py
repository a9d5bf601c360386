"""Named image files of a folder or tar/zip archive, without layout or labels (what fragment readers need)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unshuffle.data.archives import (
    TarMemoryStore,
    TarOffsetStore,
    ZipStore,
    archive_kind,
    open_archive,
)
from unshuffle.data.decode import decode_image, is_image_name
from unshuffle.data.image_folder import ByteStore, FolderStore, list_files
from unshuffle.errors import DataFormatError
from unshuffle.regular_files import check_regular


@dataclass
class ImageFiles:
    """The image files under one input, listed once and decoded on demand.

    Attributes:
        names: (M,) sorted ``/``-separated names of the image files (relative path or member name).
        skipped: names of everything else: non-image, hidden or ``__MACOSX`` files, archive links.
        source: the input path.
    """

    names: list[str]
    skipped: list[str]
    source: str
    store: ByteStore = field(repr=False)

    def read(self, name: str) -> np.ndarray:
        """The decoded image ``name``: uint8 (H, W), (H, W, 3) or (H, W, 4) (see ``decode_image``)."""
        return decode_image(self.store.read_bytes(name), f"{self.source}/{name}")


def image_files(path: str | Path) -> ImageFiles:
    """List the image files of a folder (sub-folders included) or a .zip/.tar/.tar.gz/.tgz archive.

    Archives are read in place with the data layer's member-name and compression-bomb checks;
    a path that is neither raises DataFormatError naming it.
    """
    if not str(path).strip():
        raise DataFormatError(None, "the input path is empty (give a folder or an archive)")
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, "no such file or folder")
    check_regular(path)
    store: ByteStore
    if path.is_dir():
        names, links, store = list_files(path), [], FolderStore(path)
    elif path.is_file() and archive_kind(path) is not None:
        archive: TarMemoryStore | TarOffsetStore | ZipStore = open_archive(path, is_image_name)
        names, links, store = archive.names, archive.links, archive
    else:
        raise DataFormatError(path, "expected a folder or a .zip/.tar/.tar.gz/.tgz archive of image files")
    images = sorted(n for n in names if is_image_name(n))
    keep = set(images)
    skipped = sorted([n for n in names if n not in keep] + list(links))
    return ImageFiles(images, skipped, str(path), store)
