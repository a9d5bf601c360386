"""Fragment bags as folders: writing a cut bag (PNGs + truth.json) and reading fragment images back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unshuffle.data.files import image_files
from unshuffle.data.imageset import to_rgb
from unshuffle.errors import DataFormatError
from unshuffle.fragments.bags.sampling import FragmentBag
from unshuffle.runs.atomic import atomic_dir

TRUTH_FILE = "truth.json"


def write_bag(bag: FragmentBag, out_dir: str | Path, *, seed: int | None = None,
              overwrite: bool = False, damage: str | None = None) -> Path:
    """Write each fragment as ``<random name>.png`` plus ``truth.json``, atomically, into ``out_dir``.

    The names are meaningless random hex strings (from ``seed``; None = fresh entropy), so the
    folder gives away nothing but pixels. ``truth.json`` = ``{"files": {"<name>.png": {"source",
    "row", "col", "turn"}}, "grid": [g, g], "n_images": N, "image_ids": [...]}``, plus ``"damage"``
    (the condition's name, e.g. ``"rotation+missing=0.1"``) when given. The folder is built
    as a temporary sibling and renamed into place; an existing ``out_dir`` is refused unless
    ``overwrite``. Returns ``out_dir``.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    names: set[str] = set()
    while len(names) < len(bag):
        names.add(f"{int(rng.integers(0, 2**48)):012x}.png")
    order = sorted(names)
    files = [order[i] for i in rng.permutation(len(order))]
    truth = {
        "files": {f: {"source": int(bag.source[i]), "row": int(bag.row[i]), "col": int(bag.col[i]),
                      "turn": int(bag.turn[i])} for i, f in enumerate(files)},
        "grid": [int(bag.grid[0]), int(bag.grid[1])],
        "n_images": bag.n_images,
        "image_ids": [int(x) for x in bag.image_ids],
    }
    if damage is not None:
        truth["damage"] = damage
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, overwrite=overwrite, marker=TRUTH_FILE) as tmp:
        for f, frag in zip(files, bag.fragments, strict=True):
            Image.fromarray(np.ascontiguousarray(frag)).save(tmp / f, format="PNG")
        (tmp / TRUTH_FILE).write_text(json.dumps(truth, indent=1) + "\n")
    return out_dir


@dataclass
class FragmentFolder:
    """Fragments read from a folder or archive.

    Attributes:
        fragments: (M, s, s, 3) uint8, in ``files`` order.
        files: (M,) paths relative to the input (POSIX separators), sorted.
        skipped: non-image files (and hidden/``__MACOSX`` entries, archive links) that were ignored.
        source: the input path.
    """

    fragments: np.ndarray
    files: list[str]
    skipped: int
    source: str


def read_fragment_folder(path: str | Path) -> FragmentFolder:
    """Read every fragment image in a folder or a .zip/.tar/.tar.gz/.tgz archive (subfolders allowed).

    Listing, member-name checks and decoding are the data layer's (``unshuffle.data.files``).
    Every fragment must be square and of one size (DataFormatError naming a bad file).
    """
    listing = image_files(path)
    if not listing.names:
        raise DataFormatError(path, f"no fragment images found ({len(listing.skipped)} other files skipped)")
    images = {name: to_rgb(listing.read(name), f"{path}/{name}") for name in listing.names}
    files = listing.names
    first = images[files[0]].shape
    for f in files:
        shape = images[f].shape
        if shape[0] != shape[1]:
            raise DataFormatError(f"{path}/{f}", f"fragment is not square: {shape[0]}x{shape[1]} pixels")
        if shape != first:
            raise DataFormatError(f"{path}/{f}", f"fragment is {shape[0]}x{shape[1]} but "
                                                 f"{files[0]} is {first[0]}x{first[1]}; all must match")
    return FragmentFolder(np.stack([images[f] for f in files]), files, len(listing.skipped), str(path))
