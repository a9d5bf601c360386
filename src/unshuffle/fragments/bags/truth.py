"""Truth files of cut bags: reading ``truth.json``, matching files to it, scoring a solution folder."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np

from unshuffle.errors import ConfigError, DataFormatError
from unshuffle.fragments.bags.folders import read_fragment_folder
from unshuffle.fragments.bags.sampling import FragmentBag
from unshuffle.fragments.bags.solution_io import read_solution_folder

TRUTH_FORMATS = """Truth files: either what `unshuffle fragments cut` writes,
  {"files": {"<name>.png": {"source": i, "row": r, "col": c, "turn": t}}, "grid": [R, C], "n_images": N, ...}
(turn t: np.rot90(fragment, k=t) is upright), or a plain mapping a cutter of your own can write,
  {"<name>.png": [image, row, col]} or {"<name>.png": [image, row, col, turn]}
with 0-based row and col, image any number or name, and turn k meaning the stored fragment is
np.rot90(original, k). File names are matched by path, or by base name when base names are unique.
Entries whose fragment is no longer in the bag are scored as missing pieces (truth_entries_not_in_bag)."""


def read_truth(path: str | Path) -> tuple[dict[str, dict[str, int]], tuple[int, int], int, list[int]]:
    """Read a truth file (either format of :data:`TRUTH_FORMATS`): (files -> {source, row, col,
    turn}, grid, n_images, image_ids), with ``turn`` in the solver's convention (``np.rot90(fragment,
    k=turn)`` is upright) and, for the plain mapping, sources numbered 0.. in sorted image order."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        if isinstance(d, dict) and "files" in d and isinstance(d["files"], dict):
            files = {str(k): {f: int(v[f]) for f in ("source", "row", "col", "turn")} for k, v in d["files"].items()}
            grid = (int(d["grid"][0]), int(d["grid"][1]))
            return files, grid, int(d["n_images"]), [int(x) for x in d["image_ids"]]
        return _read_mapping(d, path)
    except FileNotFoundError:
        raise DataFormatError(path, "no such truth file") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise DataFormatError(path, f"not a valid truth file ({type(e).__name__}: {e}); "
                                    "see `unshuffle fragments score --help` for the formats") from None


def _read_mapping(d, path: Path) -> tuple[dict[str, dict[str, int]], tuple[int, int], int, list[int]]:
    """The plain ``{file: [image, row, col(, turn)]}`` truth mapping."""
    if not isinstance(d, dict) or not d:
        raise ValueError("expected a JSON object mapping file names to [image, row, col(, turn)]")
    rows = {}
    for name, v in d.items():
        if not isinstance(v, list) or len(v) not in (3, 4):
            raise ValueError(f"{name!r}: expected [image, row, col] or [image, row, col, turn], got {v!r}")
        row, col, k = int(v[1]), int(v[2]), int(v[3]) if len(v) == 4 else 0
        if row < 0 or col < 0:
            raise ValueError(f"{name!r}: row and col must be >= 0 (0-based), got {row}, {col}")
        rows[str(name)] = (v[0], row, col, (-k) % 4)
    images = sorted({r[0] for r in rows.values()}, key=lambda x: (str(type(x)), x))
    index = {img: i for i, img in enumerate(images)}
    files = {n: {"source": index[img], "row": r, "col": c, "turn": t} for n, (img, r, c, t) in rows.items()}
    grid = (max(f["row"] for f in files.values()) + 1, max(f["col"] for f in files.values()) + 1)
    return files, grid, len(images), list(range(len(images)))


def match_to_truth(files: list[str], truth_keys, where: str | Path) -> list[str]:
    """The truth key of each file: its own path, or else its base name when base names are unique."""
    truth_keys = set(truth_keys)
    by_base = {PurePosixPath(k).name: k for k in truth_keys}
    unique_base = len(by_base) == len(truth_keys)
    keys = []
    for f in files:
        if f in truth_keys:
            keys.append(f)
        elif unique_base and PurePosixPath(f).name in by_base:
            keys.append(by_base[PurePosixPath(f).name])
        else:
            raise DataFormatError(where, f"fragment {f!r} is not in the truth")
    return keys


def bag_from_truth(truth_path: str | Path, files: list[str], fragments: np.ndarray) -> FragmentBag:
    """The FragmentBag of ``files`` (with their pixels) using provenance from ``truth.json``.

    Files are matched with :func:`match_to_truth`. fragments: (M, s, s, 3) uint8 in ``files`` order.
    Every file must be in the truth, each entry matched at most once; truth entries with no file
    (fragments deleted from the bag, e.g. to try missing pieces) are left out.
    """
    from collections import Counter

    truth, grid, n_images, image_ids = read_truth(truth_path)
    keys = match_to_truth(files, truth, truth_path)
    twice = sorted(k for k, n in Counter(keys).items() if n > 1)
    if twice:
        raise DataFormatError(truth_path, f"{len(twice)} truth entries match two or more fragment files, "
                                          f"e.g. {twice[:3]}")
    if len(fragments) != len(files):
        raise ConfigError(f"{len(fragments)} fragment images for {len(files)} files")
    col = {k: np.array([truth[f][k] for f in keys], dtype=np.int64) for k in ("source", "row", "col", "turn")}
    return FragmentBag(np.asarray(fragments, np.uint8), col["source"], col["row"], col["col"], col["turn"],
                       np.asarray(image_ids, np.int64), grid)


def score_solution_folder(solution: str | Path, truth: str | Path, fragments: str | Path | None = None,
                          rotations: bool | None = None) -> dict:
    """Score a ``solve`` output folder (or its groups.json) against a ``truth.json``.

    fragments: folder/archive holding the fragment images (for the pixel-identical rule); None = the
    bag the solve read (``settings["input"]`` of groups.json) when that path exists, else the truth
    file's folder (a failure to read or match it then says which). rotations: None = what the solution
    records (``settings["rotations_used"]``, the solver's decision, else ``settings["rotations"]`` when a
    boolean), else whether any true turn is non-zero. Returns the metrics of
    :func:`unshuffle.evaluation.placement.score_solution` plus the paths, the rotations used and how many
    truth entries have no fragment in the bag (pieces a user deleted: scored as missing pieces).
    """
    from unshuffle.evaluation.placement import score_solution  # scikit-learn: only when scoring

    files, sol = read_solution_folder(solution)
    truth_files, *_ = read_truth(truth)
    where = None
    if fragments is None:  # the bag the solve read, while it is there; else the truth file's folder
        recorded = sol.settings.get("input")
        # only an absolute path: an old groups.json's relative one would resolve against today's folder
        solved = isinstance(recorded, str) and Path(recorded).is_absolute() and Path(recorded).exists()
        fragments = Path(recorded) if solved else Path(truth).parent
        where = f"the bag groups.json names, {fragments}" if solved else f"the truth file's folder, {fragments}"
    try:
        folder = read_fragment_folder(fragments)
        pixels = {k: folder.fragments[i]
                  for i, k in enumerate(match_to_truth(folder.files, truth_files, folder.source))}
    except DataFormatError as e:
        if where is None:
            raise
        raise type(e)(e.path, f"{e.problem} (the fragment images were read from {where}; to read them "
                              "elsewhere pass --fragments BAG)") from None
    keys = match_to_truth(files, truth_files, truth)
    missing = [f for f, k in zip(files, keys, strict=True) if k not in pixels]
    if missing:
        raise ConfigError(f"no image for {missing[:3]} under {folder.source}")
    bag = bag_from_truth(truth, files, np.stack([pixels[k] for k in keys]))
    if rotations is None:
        recorded = sol.settings.get("rotations_used", sol.settings.get("rotations"))
        rotations = bool(recorded) if isinstance(recorded, bool) else bool((bag.turn != 0).any())
    out = score_solution(bag, sol, rotations=rotations)
    counts = {k: int(out[k]) for k in ("n_fragments", "n_images", "n_groups")}  # floats for averaging, here counts
    return {**out, **counts, "rotations": rotations, "solution": str(solution), "truth": str(truth),
            "truth_entries_not_in_bag": len(truth_files) - len(set(keys))}
