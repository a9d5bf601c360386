"""Fragment bags and solutions on disk: PNG folders with truth.json, input folders/archives, groups.json."""

from __future__ import annotations

import io
import json
import os
import tarfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from unshuffle.data.archives import check_expansion
from unshuffle.errors import ConfigError, DataFormatError, UnsafeFileError
from unshuffle.fragments.sampling import FragmentBag
from unshuffle.fragments.solution import Solution
from unshuffle.runs.atomic import atomic_dir, atomic_write_json

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
TRUTH_FILE = "truth.json"
GROUPS_FILE = "groups.json"


def write_bag(bag: FragmentBag, out_dir: str | Path, *, seed: int | None = None,
              overwrite: bool = False) -> Path:
    """Write each fragment as ``<random name>.png`` plus ``truth.json``, atomically, into ``out_dir``.

    The names are meaningless random hex strings (from ``seed``; None = fresh entropy), so the
    folder gives away nothing but pixels. ``truth.json`` = ``{"files": {"<name>.png": {"source",
    "row", "col", "turn"}}, "grid": [g, g], "n_images": N, "image_ids": [...]}``. The folder is built
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
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
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
        skipped: non-image files (and hidden/``__MACOSX`` entries) that were ignored.
        source: the input path.
    """

    fragments: np.ndarray
    files: list[str]
    skipped: int
    source: str


def read_fragment_folder(path: str | Path) -> FragmentFolder:
    """Read every fragment image in a folder or a .zip/.tar/.tar.gz/.tgz archive (subfolders allowed).

    Files whose suffix is not an image suffix, hidden files and ``__MACOSX`` folders are skipped and
    counted. Every fragment must be square and of one size (DataFormatError naming a bad file);
    archive members with absolute or ``..`` paths, and links, are refused (UnsafeFileError).
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, "no such file or folder")
    if path.is_dir():
        entries = _folder_entries(path)
    elif path.name.lower().endswith(".zip"):
        entries = _zip_entries(path)
    elif path.name.lower().endswith((".tar", ".tar.gz", ".tgz")):
        entries = _tar_entries(path)
    else:
        raise DataFormatError(path, "expected a folder or a .zip/.tar/.tar.gz/.tgz archive of fragment images")
    images: dict[str, np.ndarray] = {}
    skipped = 0
    for rel, read in entries:
        p = PurePosixPath(rel)
        if (any(part.startswith(".") or part == "__MACOSX" for part in p.parts)
                or p.suffix.lower() not in IMAGE_SUFFIXES):
            skipped += 1
            continue
        images[rel] = _decode(read(), f"{path}/{rel}")
    if not images:
        raise DataFormatError(path, f"no fragment images found ({skipped} other files skipped)")
    files = sorted(images)
    first = images[files[0]].shape
    for f in files:
        shape = images[f].shape
        if shape[0] != shape[1]:
            raise DataFormatError(f"{path}/{f}", f"fragment is not square: {shape[0]}x{shape[1]} pixels")
        if shape != first:
            raise DataFormatError(f"{path}/{f}", f"fragment is {shape[0]}x{shape[1]} but "
                                                 f"{files[0]} is {first[0]}x{first[1]}; all must match")
    return FragmentFolder(np.stack([images[f] for f in files]), files, skipped, str(path))


def _decode(data: bytes, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # the data layer's bomb rule (decode.decode_image): refuse past the limit
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise UnsafeFileError(where, f"refusing a possible decompression bomb ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataFormatError(where, f"cannot decode image: {e}") from None


def _folder_entries(root: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            yield full.relative_to(root).as_posix(), lambda full=full: _read_input(full)


def _read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataFormatError(path, f"cannot read the file ({e.strerror or e})") from None


def _safe_member(archive: Path, name: str) -> str:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise UnsafeFileError(archive, f"member {name!r} has an absolute or '..' path; refusing the archive")
    return p.as_posix()


def _zip_entries(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise DataFormatError(path, f"not a readable zip archive: {e}") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        for info in infos:
            _safe_member(path, info.filename)
            # zipfile never inflates past the declared size, so this bounds what a read allocates
            check_expansion(path, info.filename, info.file_size, info.compress_size)
        for info in sorted(infos, key=lambda i: i.filename):
            yield _safe_member(path, info.filename), lambda info=info: zf.read(info)


def _tar_entries(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    try:
        tf = tarfile.open(path)
    except tarfile.TarError as e:
        raise DataFormatError(path, f"not a readable tar archive: {e}") from None
    compressed = path.stat().st_size
    with tf:
        members = []
        for m in tf:  # checked as each header is read, before the stream is inflated past its data
            _safe_member(path, m.name)
            if m.issym() or m.islnk() or m.isdev():
                raise UnsafeFileError(path, f"member {m.name!r} is a link or device; refusing the archive")
            check_expansion(path, m.name, m.offset_data + m.size, compressed)
            members.append(m)
        for m in sorted((m for m in members if m.isfile()), key=lambda m: m.name):
            yield _safe_member(path, m.name), lambda m=m: tf.extractfile(m).read()


def read_truth(path: str | Path) -> tuple[dict[str, dict[str, int]], tuple[int, int], int, list[int]]:
    """Read ``truth.json``: (files -> {source, row, col, turn}, grid, n_images, image_ids)."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        files = {str(k): {f: int(v[f]) for f in ("source", "row", "col", "turn")} for k, v in d["files"].items()}
        grid = (int(d["grid"][0]), int(d["grid"][1]))
        return files, grid, int(d["n_images"]), [int(x) for x in d["image_ids"]]
    except FileNotFoundError:
        raise DataFormatError(path, "no such truth file") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as e:
        raise DataFormatError(path, f"not a valid truth.json ({type(e).__name__}: {e})") from None


def solution_to_json(solution: Solution, files: list[str]) -> dict:
    """The ``groups.json`` document: groups (id, rows, cols, fragments with file/row/col/turn/confidence)
    and settings. ``files``: (M,) names of the fragments. Grouping-only solutions get null places."""
    solution.validate(len(files))
    groups = []
    for g in range(solution.n_groups):
        members = np.flatnonzero(solution.group == g)
        rows, cols = solution.shapes[g] if solution.placed else (None, None)
        frags = []
        for i in members:
            conf = float(solution.confidence[i])
            frags.append({"file": files[i],
                          "row": int(solution.row[i]) if solution.placed else None,
                          "col": int(solution.col[i]) if solution.placed else None,
                          "turn": int(solution.turn[i]),
                          "confidence": None if not np.isfinite(conf) else round(conf, 6)})
        groups.append({"id": g, "rows": rows, "cols": cols, "fragments": frags})
    return {"groups": groups, "settings": _jsonable(solution.settings)}


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def write_solution_folder(out_dir: str | Path, solution: Solution, folder: FragmentFolder, *,
                          overwrite: bool = False) -> Path:
    """Write ``groups.json`` and ``group_<id>.png`` (each group reassembled, empty cells grey).

    Built in a temporary sibling folder and renamed into place; an existing ``out_dir`` is refused
    unless ``overwrite`` (and stays intact until the new one is complete).
    """
    from PIL import Image

    from unshuffle.plots.reassembly import assemble_group

    doc = solution_to_json(solution, folder.files)
    width = max(3, len(str(max(solution.n_groups - 1, 0))))
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        (tmp / GROUPS_FILE).write_text(json.dumps(doc, indent=1) + "\n")
        for g in range(solution.n_groups):
            canvas = assemble_group(folder.fragments, solution, g)
            Image.fromarray(canvas).save(tmp / f"group_{g:0{width}d}.png", format="PNG")
    return Path(out_dir)


def read_solution_folder(path: str | Path) -> tuple[list[str], Solution]:
    """Read ``groups.json`` (a solution folder or the file itself): (files, Solution) in file order."""
    path = Path(path)
    file = path / GROUPS_FILE if path.is_dir() else path
    try:
        d = json.loads(file.read_text())
        files, group, row, col, turn, conf, shapes = [], [], [], [], [], [], []
        for gi, g in enumerate(d["groups"]):
            if int(g["id"]) != gi:
                raise ValueError(f"group ids must be 0, 1, ... in order; group {gi} has id {g['id']}")
            shapes.append((g["rows"], g["cols"]))
            for f in g["fragments"]:
                files.append(str(f["file"]))
                group.append(gi)
                row.append(-1 if f["row"] is None else int(f["row"]))
                col.append(-1 if f["col"] is None else int(f["col"]))
                turn.append(int(f["turn"]))
                conf.append(np.nan if f["confidence"] is None else float(f["confidence"]))
        settings = dict(d.get("settings", {}))
    except FileNotFoundError:
        raise DataFormatError(file, "no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataFormatError(file, f"not a valid groups.json ({type(e).__name__}: {e})") from None
    if len(set(files)) != len(files):
        raise DataFormatError(file, "a fragment file appears more than once")
    order = np.argsort(files, kind="stable")
    files = [files[i] for i in order]
    placed = all(r is not None and c is not None for r, c in shapes)
    sol = Solution(np.asarray(group, np.int64)[order], np.asarray(row, np.int64)[order],
                   np.asarray(col, np.int64)[order], np.asarray(turn, np.int64)[order],
                   np.asarray(conf, np.float64)[order],
                   [(int(r), int(c)) for r, c in shapes] if placed else [], settings)
    try:
        sol.validate(len(files))
    except ValueError as e:
        raise DataFormatError(file, f"inconsistent solution: {e}") from None
    return files, sol


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
    Every file must be in the truth and vice versa.
    """
    truth, grid, n_images, image_ids = read_truth(truth_path)
    keys = match_to_truth(files, truth, truth_path)
    if len(set(keys)) != len(keys) or len(keys) != len(truth):
        missing = sorted(set(truth) - set(keys))[:3]
        raise DataFormatError(truth_path, f"solution has {len(files)} fragments, truth {len(truth)}; "
                                          f"e.g. not in the solution: {missing}")
    if len(fragments) != len(files):
        raise ConfigError(f"{len(fragments)} fragment images for {len(files)} files")
    col = {k: np.array([truth[f][k] for f in keys], dtype=np.int64) for k in ("source", "row", "col", "turn")}
    return FragmentBag(np.asarray(fragments, np.uint8), col["source"], col["row"], col["col"], col["turn"],
                       np.asarray(image_ids, np.int64), grid)


def write_scores(path: str | Path, scores: dict) -> None:
    """Write a score dict as JSON atomically (nan written as null)."""
    atomic_write_json(path, _nan_to_none(scores))


def _nan_to_none(obj):
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def solve_fragment_folder(input_path: str | Path, out_dir: str | Path, *, n_images: int | None = None,
                          grid: int | None = None, rotations: bool = False, seed: int = 0,
                          overwrite: bool = False, solver=None) -> dict:
    """Read fragments from a folder/archive, solve them, write ``groups.json`` + one PNG per group.

    ``solver``: anything with ``solve(fragments) -> Solution``; None builds
    ``FragmentSolver(n_images, grid, rotations, seed)``. Returns a summary dict
    (out, fragments, skipped, groups, settings).
    """
    if n_images is not None and n_images < 1:
        raise ConfigError(f"--n-images must be >= 1, got {n_images}")
    if grid is not None and grid < 1:
        raise ConfigError(f"--grid must be >= 1, got {grid}")
    if Path(out_dir).exists() and not overwrite:
        raise ConfigError(f"{out_dir} already exists; pass --overwrite to replace it")
    folder = read_fragment_folder(input_path)
    if solver is None:
        from unshuffle.fragments.solver import FragmentSolver

        solver = FragmentSolver(n_images=n_images, grid=grid, rotations=rotations, seed=seed)
    try:
        solution = solver.solve(folder.fragments)
    except ConfigError as e:  # e.g. fragments too small: name the input, not just the array
        raise DataFormatError(input_path, str(e)) from e
    from unshuffle import __version__

    solution.settings = {**solution.settings, "input": str(input_path), "n_images": n_images,
                         "grid": grid, "rotations": rotations, "seed": seed,
                         "skipped_files": folder.skipped, "unshuffle": __version__}
    write_solution_folder(out_dir, solution, folder, overwrite=overwrite)
    return {"out": str(out_dir), "fragments": len(folder.files), "skipped": folder.skipped,
            "groups": solution.n_groups, "settings": _jsonable(solution.settings)}
