"""What a run hands to people: assignments.csv (file, cluster, confidence, rank) and one folder per cluster."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np

from unshuffle.errors import CheckpointError, ConfigError, DataFormatError

CSV_NAME = "assignments.csv"
COLUMNS = ("file", "cluster", "confidence", "rank")
# formats whose images are plain files on disk (exported as symlinks or copies); the rest become PNGs
_FILE_FORMATS = ("folder", "image")


def cluster_ranks(clusters: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """(N,) int64 rank of each image inside its cluster: 1 = the cluster's most confident image.

    Args:
        clusters: (N,) int cluster ids; confidence: (N,) float. Ties keep the image order.
    """
    clusters = np.asarray(clusters, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    if clusters.shape != confidence.shape or clusters.ndim != 1:
        raise ValueError(f"clusters {clusters.shape} and confidence {confidence.shape} must be equal (N,)")
    order = np.lexsort((np.arange(len(clusters)), -confidence, clusters))  # by cluster, then confidence desc
    ranks = np.empty(len(clusters), dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(clusters[order])) + 1]
    for a, b in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        ranks[order[a:b]] = np.arange(1, b - a + 1)
    return ranks


def write_assignments_csv(path: str | Path, names: list[str], clusters: np.ndarray, confidence: np.ndarray) -> Path:
    """Write ``path`` atomically: one row per image in the run's image order, columns ``COLUMNS``.

    ``names`` are the ImageSet's names: the path relative to the data root, the archive member name,
    or ``source#index`` for pickles and .npz.
    """
    from unshuffle.runs.atomic import atomic_write_text

    if len(names) != len(clusters):
        raise CheckpointError(f"{path}: {len(names)} image names for {len(clusters)} assignments")
    ranks = cluster_ranks(clusters, confidence)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for name, c, p, r in zip(names, clusters, confidence, ranks, strict=True):
        w.writerow([name, int(c), f"{float(p):.6f}", int(r)])
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def read_assignments_csv(path: str | Path) -> dict[str, np.ndarray | list[str]]:
    """{"file": [str], "cluster": (N,) int64, "confidence": (N,) float32, "rank": (N,) int64} of a CSV
    written by :func:`write_assignments_csv`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the assignments ({e.strerror or e}); train the run first") from e
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise DataFormatError(path, f"expected the header {','.join(COLUMNS)}")
    try:
        body = rows[1:]
        return {"file": [r[0] for r in body],
                "cluster": np.array([int(r[1]) for r in body], dtype=np.int64),
                "confidence": np.array([float(r[2]) for r in body], dtype=np.float32),
                "rank": np.array([int(r[3]) for r in body], dtype=np.int64)}
    except (IndexError, ValueError) as e:
        raise DataFormatError(path, f"a row is damaged ({e})") from e


_EXPORT_FOLDER = re.compile(r"cluster-\d+_n\d+")  # what cluster_folder_name makes


def cluster_folder_name(cluster: int, size: int, n_clusters: int) -> str:
    """``cluster-07_n123``: the cluster id (zero-padded to the widest id) and its image count."""
    width = len(str(max(n_clusters - 1, 0)))
    return f"cluster-{cluster:0{width}d}_n{size}"


def _flat_name(name: str) -> str:
    """A file name from an image name: folders joined by ``__``, odd characters replaced."""
    flat = name.replace("/", "__").replace("#", "_")
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", flat).lstrip(".") or "image"


def check_export_folder(out: str | Path, overwrite: bool) -> None:
    """Refuse (ConfigError) an existing ``out`` unless ``overwrite`` and it is an earlier export: nothing but
    cluster folders (:func:`cluster_folder_name`) and hidden files, so a photo folder is never replaced."""
    from unshuffle.runs.atomic import check_out_folder

    out = Path(out)
    check_out_folder(out, overwrite, label="--out ")
    if out.is_dir():
        other = [p.name for p in sorted(out.iterdir())
                 if not p.name.startswith(".") and not (p.is_dir() and _EXPORT_FOLDER.fullmatch(p.name))]
        if other:
            raise ConfigError(f"--out {out} is not an earlier export (it holds {other[0]!r}, not only cluster-* "
                              "folders); --overwrite replaces only those: choose another path or empty it yourself")


def export_clusters(run_dir: str | Path, out: str | Path, *, copy: bool = False, overwrite: bool = False) -> dict:
    """One folder per cluster under ``out`` (see :func:`cluster_folder_name`), every image exactly once.

    Images that are files on disk are symlinked (absolute targets), or copied with ``copy``; images
    inside archives, pickles or .npz are decoded and written as PNGs. Each file is named
    ``<rank>_<flattened name>`` so a folder lists its most confident images first. The data is
    reopened from the path the run records; the folder is built aside and renamed into place.
    Returns {"out", "clusters": {folder: size}, "images", "mode"}.
    """
    import shutil

    from PIL import Image

    from unshuffle.data import open_images
    from unshuffle.runs.atomic import atomic_dir, check_apart
    from unshuffle.runs.layout import RunDir

    run = RunDir(Path(run_dir))
    saved = run.read_config()["config"]
    check_apart(saved["data"]["path"], out)  # cluster folders inside the data would be read back as images
    check_export_folder(out, overwrite)
    table = read_assignments_csv(run.path / CSV_NAME)
    images = open_images(saved["data"]["path"], split=saved["data"].get("split"))
    if list(images.names) != table["file"]:
        raise CheckpointError(f"{run.path}: the images at {saved['data']['path']} are not the ones the run "
                              f"clustered ({len(images)} now, {len(table['file'])} in {CSV_NAME})")
    n_clusters = int(saved["temi"]["clusters"])
    clusters, ranks = table["cluster"], table["rank"]
    on_disk = images.format in _FILE_FORMATS
    root = Path(images.source) if images.format == "folder" else Path(images.source).parent
    sizes = np.bincount(clusters, minlength=n_clusters)
    folders = {int(c): cluster_folder_name(int(c), int(sizes[c]), n_clusters) for c in np.flatnonzero(sizes)}
    width = len(str(int(sizes.max()) if len(sizes) else 1))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for folder in folders.values():
            (tmp / folder).mkdir()
        for i, name in enumerate(table["file"]):
            stem = f"{int(ranks[i]):0{width}d}_{_flat_name(name)}"
            dest = tmp / folders[int(clusters[i])]
            if on_disk:
                src = (root / name).resolve()
                if copy:
                    shutil.copy2(src, dest / stem)
                else:
                    os.symlink(src, dest / stem)
            else:
                Image.fromarray(images.image(i)).save(dest / f"{stem}.png")
    mode = "png" if not on_disk else ("copy" if copy else "symlink")
    return {"out": str(out), "clusters": {folders[c]: int(sizes[c]) for c in sorted(folders)},
            "images": len(clusters), "mode": mode}
