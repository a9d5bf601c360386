"""Format detection: look at a path (folder, archive, pickle, .npz, image) and open it as an ImageSet."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from unshuffle.data.archives import (
    TarMemoryStore,
    TarOffsetStore,
    ZipStore,
    archive_kind,
    open_archive,
)
from unshuffle.data.decode import is_image_name
from unshuffle.data.image_folder import EncodedImageReader, open_folder, open_single_image
from unshuffle.data.imageset import ImageSet
from unshuffle.data.layout import ANNOTATIONS, WNIDS, parse_wnids, resolve_layout
from unshuffle.data.pickle_batches import (
    CIFAR10_FILES,
    CIFAR100_FILES,
    CIFAR_META,
    BatchSource,
    cifar_variant,
    imagenet_split_of,
    open_cifar,
    open_imagenet_batches,
)
from unshuffle.errors import ConfigError, DataFormatError
from unshuffle.regular_files import check_regular

LABEL_SETS = ("fine", "coarse")
_PROBE_NAMES = ("train_data_batch_1", "val_data", *CIFAR_META.values())
_CIFAR_NAMES = {*CIFAR_META.values(), *sum(CIFAR10_FILES.values(), []), *sum(CIFAR100_FILES.values(), [])}
_PICKLE_PROTO = b"\x80"


def open_path(path: Path, split: str | None = None, label_set: str = "fine") -> ImageSet:
    """Open ``path`` as an ImageSet, detecting its format (see :func:`unshuffle.data.open_images`).

    ``split`` picks ``train``/``val``/``test`` where the data has splits (required when it has
    several); ``label_set`` is ``"fine"`` or ``"coarse"`` (CIFAR-100's 20 superclasses).
    """
    return open_path_with_skipped(path, split, label_set)[0]


def open_path_with_skipped(path: Path, split: str | None, label_set: str = "fine") -> tuple[ImageSet, list[str]]:
    """:func:`open_path`, also returning the relative names of skipped (non-image) files."""
    if label_set not in LABEL_SETS:
        raise ConfigError(f"label_set: expected one of {', '.join(LABEL_SETS)}, got {label_set!r}")
    if split is not None and split not in ("train", "val", "test"):
        raise ConfigError(f"split: expected train, val or test, got {split!r}")
    if not str(path).strip():
        raise DataFormatError(None, "the input path is empty (give a folder, an archive or a file)")
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, "does not exist")
    check_regular(path)
    if path.is_dir():
        ds, skipped = _open_dir(path, split, label_set)
    elif path.is_file():
        ds, skipped = _open_file(path, split, label_set)
    else:
        raise DataFormatError(path, "is neither a regular file nor a folder")
    if label_set == "coarse" and ds.format != "cifar100":
        raise ConfigError(f"label_set: 'coarse' exists only for CIFAR-100, and {path} is {ds.format}")
    if len(ds) == 0:
        raise DataFormatError(path, "holds no images")
    return ds, skipped


def inspect_path(path: Path, split: str | None = None, label_set: str = "fine", verify: bool = False) -> dict:
    """A JSON-ready summary: format, image count, first image shape, classes with counts, skipped files.

    Only the first image is decoded, and ``decoded`` says so, unless ``verify``: then every image is
    decoded and ``undecodable`` counts those that fail, with the first few names and reasons in
    ``undecodable_examples`` (an undecodable first image is then reported there, not raised).
    """
    ds, skipped = open_path_with_skipped(path, split, label_set)
    if verify:
        failed: list[dict] = []
        first = None
        for i in range(len(ds)):
            try:
                img = ds.image(i)
            except DataFormatError as e:
                failed.append({"name": ds.names[i], "reason": e.problem})
                continue
            first = img if first is None else first
        decoded = {"decoded": "all images", "undecodable": len(failed), "undecodable_examples": failed[:5]}
    else:
        first = ds.image(0)
        decoded = {"decoded": "first image only (the others were not decoded; --verify decodes every image)"}
    info: dict = {
        "path": ds.source,
        "format": ds.format,
        "images": len(ds),
        **decoded,
        "first_image_shape": None if first is None else list(first.shape),
        "labelled": ds.labels is not None,
        "classes": None if ds.class_names is None else len(ds.class_names),
        "skipped_files": len(skipped),
        "skipped_examples": skipped[:5],
    }
    if ds.labels is not None and ds.class_names is not None:
        counts = Counter(ds.labels.tolist())
        per_class = [counts.get(k, 0) for k in range(len(ds.class_names))]
        info["per_class"] = {
            "min": min(per_class),
            "max": max(per_class),
            "empty_classes": sum(c == 0 for c in per_class),
            "first": {ds.class_names[k]: per_class[k] for k in range(min(10, len(per_class)))},
        }
    return info


def _open_dir(path: Path, split: str | None, label_set: str) -> tuple[ImageSet, list[str]]:
    children = [p for p in sorted(path.iterdir()) if not p.name.startswith(".")]
    if not children:
        raise DataFormatError(path, "is an empty folder")
    # pickle batches: the files themselves, or one level down (imagenet64/{train_data,dev_data}/...)
    candidates = [p for p in children if p.is_file()]
    for sub in (p for p in children if p.is_dir()):
        if any((sub / n).is_file() for n in _PROBE_NAMES):
            candidates += [p for p in sorted(sub.iterdir()) if p.is_file()]
    batches = [p for p in candidates if imagenet_split_of(p.name)]
    if batches:
        return open_imagenet_batches([BatchSource(p) for p in batches], split, str(path)), []
    rel = {p.relative_to(path).as_posix(): p for p in candidates if p.name in _CIFAR_NAMES}
    if cifar_variant(list(rel)):
        ds = open_cifar(list(rel), lambda n: _read(rel[n]), split=split, label_set=label_set, where=str(path))
        return ds, []
    return open_folder(path, split)


def _read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as e:
        raise DataFormatError(p, f"cannot read the file ({e.strerror or e})") from e


def _open_file(path: Path, split: str | None, label_set: str) -> tuple[ImageSet, list[str]]:
    if path.stat().st_size == 0:
        raise DataFormatError(path, "is an empty file")
    if path.suffix.lower() == ".npz":
        from unshuffle.data.npz import open_npz

        return open_npz(path), []
    kind = archive_kind(path)
    if kind is not None:
        return _open_archive(path, kind, split, label_set)
    with open(path, "rb") as f:
        head = f.read(1)
    if head == _PICKLE_PROTO or imagenet_split_of(path.name):
        return open_imagenet_batches([BatchSource(path)], split, str(path)), []
    if is_image_name(path.name):
        if split is not None:
            raise ConfigError(f"split: {path} is a single image and has no splits")
        return open_single_image(path)
    raise DataFormatError(
        path, "unknown file type (expected a folder, .tar/.tar.gz/.tgz/.zip archive, pickle batch, .npz or image)"
    )


def _keep_member(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return is_image_name(name) or base in (WNIDS, ANNOTATIONS) or base in _CIFAR_NAMES


def _open_archive(path: Path, kind: str, split: str | None, label_set: str) -> tuple[ImageSet, list[str]]:
    store: TarMemoryStore | TarOffsetStore | ZipStore = open_archive(path, _keep_member)
    names = store.names
    where = str(path)
    batches = [n for n in names if imagenet_split_of(n)]
    if batches and isinstance(store, ZipStore):
        sources = [BatchSource(path, n, store) for n in batches]
        return open_imagenet_batches(sources, split, where), []
    if cifar_variant(names):
        return open_cifar(names, store.read_bytes, split=split, label_set=label_set, where=where), []
    class_order = None
    beside = path.parent / WNIDS
    if beside.is_file():
        class_order = parse_wnids(beside.read_text(encoding="utf-8"), str(beside))

    def read_text(name: str) -> str:
        return store.read_bytes(name).decode("utf-8", errors="replace")

    layout = resolve_layout(names, source=where, split=split, read_text=read_text, class_order=class_order)
    ds = ImageSet(
        EncodedImageReader(store, layout.files, where),
        layout.files,
        source=path,
        format="zip" if kind == "zip" else "tar",
        labels=layout.labels,
        class_names=layout.class_names,
    )
    return ds, sorted(layout.skipped + store.links)


def open_images(
    path: str | Path, *, split: str | None = None, size: int | None = None, label_set: str = "fine"
) -> ImageSet:
    """Open any supported image collection at ``path``, detecting its format.

    Formats: Downsampled-ImageNet pickle batches (folder, file or zip), CIFAR-10/100 python pickles
    (folder or ``cifar-*-python.tar.gz``), folders of image files (optional class sub-folders, a
    top-level ``train``/``val``/``test`` is a split), .tar/.tar.gz/.zip archives of images, and .npz
    holding a uint8 (N, H, W, 3) array. ``split`` picks ``train``/``val``/``test`` where the data has
    splits; ``size`` centre-crops and resizes every image on read; ``label_set`` is ``"fine"`` or
    ``"coarse"`` (CIFAR-100's 20 superclasses).
    """
    ds = open_path(path, split=split, label_set=label_set)
    return ds.with_size(size) if size is not None else ds
