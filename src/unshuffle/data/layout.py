"""Split/class rules for trees of image files (folders and archives alike), with a stable class order.

Rules, applied to the relative paths of all files under a root:

* Non-image and hidden files are skipped and reported.
* A single wrapper folder (``tiny-imagenet-200/...``, an archive's top folder) that holds only
  folders and non-image files is looked through.
* A top-level ``train``/``val``/``test`` folder is a split, never a class. With several splits,
  one must be chosen; with one, it is used.
* Inside the split: images in sub-folders are labelled by the first sub-folder's name (so the
  official Tiny-ImageNet ``train/<wnid>/images/x.JPEG`` works); images directly in it have no
  labels; ``val_annotations.txt`` beside an ``images`` folder (official Tiny-ImageNet val) gives
  the labels; a lone ``images`` folder without annotations means no labels.
* Class order: a ``wnids.txt`` (in the root, or given from beside it) in line order, otherwise the
  sorted class names over all splits, so train and val share one order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from unshuffle.data.decode import is_image_name
from unshuffle.errors import ConfigError, DataFormatError

SPLITS: tuple[str, ...] = ("train", "val", "test")
ANNOTATIONS = "val_annotations.txt"
WNIDS = "wnids.txt"


@dataclass
class Layout:
    """The images chosen from a tree, in a stable order.

    Attributes:
        files: relative paths (as given, wrapper folder included) of the images, sorted.
        labels: (N,) int64 class indices, or None.
        class_names: class index -> name, or None.
        skipped: relative paths of the tree's files that are not images (hidden files and
            ``__MACOSX`` folders included) and images outside every split folder; images of
            other splits are not counted.
        split: the split used, or None when the tree has no split folders.
    """

    files: list[str]
    labels: np.ndarray | None
    class_names: list[str] | None
    skipped: list[str]
    split: str | None


def resolve_layout(
    paths: Sequence[str],
    *,
    source: str,
    split: str | None,
    read_text: Callable[[str], str],
    class_order: Sequence[str] | None = None,
) -> Layout:
    """Choose images, split, labels and class order from ``paths`` (relative, ``/``-separated).

    ``read_text(path)`` returns the text of one of ``paths`` (for annotation files);
    ``class_order`` is a wnids list found outside the tree (it wins over one inside).
    """
    if not paths:
        raise DataFormatError(source, "is empty (no files)")
    hidden = [p for p in paths if _is_hidden(p)]
    paths = sorted(p for p in paths if not _is_hidden(p))
    images = [p for p in paths if is_image_name(p)]
    skipped = sorted(hidden + [p for p in paths if not is_image_name(p)])
    if not images:
        raise DataFormatError(source, f"contains no image files ({len(skipped)} other files, e.g. {skipped[0]!r})")

    prefix = _wrapper_prefix(paths)
    rel = {p: p[len(prefix):] for p in paths}
    if class_order is None and prefix + WNIDS in rel:
        class_order = parse_wnids(read_text(prefix + WNIDS), f"{source}/{prefix}{WNIDS}")

    by_split: dict[str, list[str]] = {}
    for p in images:
        head = rel[p].split("/", 1)[0]
        if head in SPLITS and "/" in rel[p]:
            by_split.setdefault(head, []).append(p)
    available = sorted(by_split, key=SPLITS.index)
    if available:
        if split is None:
            if len(available) > 1:
                raise ConfigError(f"{source}: holds the splits {', '.join(available)}; choose one with split=")
            split = available[0]
        elif split not in by_split:
            raise ConfigError(f"split: {source} has no {split!r} split (it has {', '.join(available)})")
        chosen = by_split[split]
        split_roots = {s: prefix + s + "/" for s in available}
        in_splits = {p for files in by_split.values() for p in files}
        skipped = sorted(skipped + [p for p in images if p not in in_splits])  # e.g. a preview.jpg beside them
    else:
        if split is not None:
            raise ConfigError(f"split: {source} has no train/val/test folders, so split={split!r} cannot be chosen")
        chosen, split_roots = images, {None: prefix}

    def labels_of(root: str, files: list[str]) -> dict[str, str] | None:
        return _class_of_files(root, [p[len(root):] for p in files], paths_in=set(rel), source=source,
                               read_text=read_text)

    # class names over every split, so train and val agree on the order
    all_classes: set[str] = set()
    chosen_classes: dict[str, str] | None = None
    for s, root in split_roots.items():
        files = by_split[s] if s is not None else images
        cls = labels_of(root, files)
        if cls is not None:
            all_classes.update(cls.values())
        if s == split:
            chosen_classes = cls
    if chosen_classes is None:
        return Layout(chosen, None, None, skipped, split)

    if class_order is not None:
        unknown = sorted(all_classes - set(class_order))
        if unknown:
            raise DataFormatError(source, f"classes {unknown[:5]} are not listed in {WNIDS}")
        class_names = list(class_order)
    else:
        class_names = sorted(all_classes)
    index = {c: k for k, c in enumerate(class_names)}
    root = split_roots[split]
    labels = np.array([index[chosen_classes[p[len(root):]]] for p in chosen], dtype=np.int64)
    return Layout(chosen, labels, class_names, skipped, split)


def _is_hidden(path: str) -> bool:
    """Dot-files, dot-folders and macOS ``__MACOSX`` resource folders."""
    return any(part.startswith(".") or part == "__MACOSX" for part in path.split("/"))


def _wrapper_prefix(paths: Sequence[str]) -> str:
    """The leading folders that hold everything and are not splits: a folder is looked through when it
    holds split folders, or holds only sub-folders and non-image files (else it is a class folder)."""
    prefix = ""
    while True:
        rest = [p[len(prefix):] for p in paths]
        heads = {r.split("/", 1)[0] for r in rest}
        if len(heads) != 1 or any("/" not in r for r in rest):
            return prefix
        head = heads.pop()
        if head in SPLITS:
            return prefix
        inner = [r.split("/", 1)[1] for r in rest]
        has_splits = any("/" in r and r.split("/", 1)[0] in SPLITS for r in inner)
        flat = not any("/" in r for r in inner) or any("/" not in r and is_image_name(r) for r in inner)
        if not has_splits and flat:
            return prefix  # images directly inside: a class folder, not a wrapper
        prefix += head + "/"


def _class_of_files(
    root: str, files: list[str], *, paths_in: set[str], source: str, read_text: Callable[[str], str]
) -> dict[str, str] | None:
    """Map each file (relative to the split root) to its class name, or None for unlabelled data."""
    nested = [f for f in files if "/" in f]
    if not nested:
        return None
    if len(nested) != len(files):
        flat = next(f for f in files if "/" not in f)
        raise DataFormatError(
            source, f"mixes images at the top level ({root}{flat!r}) with images in class sub-folders"
        )
    heads = {f.split("/", 1)[0] for f in files}
    ann_path = root + ANNOTATIONS
    if heads == {"images"}:
        if ann_path not in paths_in:
            return None  # e.g. Tiny-ImageNet test/images: no labels
        table = _parse_annotations(read_text(ann_path), f"{source}/{ann_path}")
        out = {}
        for f in files:
            name = f.rsplit("/", 1)[-1]
            if name not in table:
                raise DataFormatError(f"{source}/{ann_path}", f"has no label for {root}{f}")
            out[f] = table[name]
        return out
    return {f: f.split("/", 1)[0] for f in files}


def _parse_annotations(text: str, where: str) -> dict[str, str]:
    """``val_annotations.txt``: tab-separated ``file wnid [box]`` lines -> {file: wnid}."""
    table = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            parts = line.split()
        if len(parts) < 2:
            raise DataFormatError(where, f"line {n}: expected 'file<TAB>class', got {line!r}")
        table[parts[0].strip()] = parts[1].strip()
    return table


def parse_wnids(text: str, where: str) -> list[str]:
    """``wnids.txt``: one class id per line, line order = class index."""
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise DataFormatError(where, "lists no classes")
    if len(set(names)) != len(names):
        raise DataFormatError(where, "lists a class more than once")
    return names

