"""Pickled batch dicts (Downsampled-ImageNet, CIFAR-10/100): R,G,B plane rows -> HWC images.

* Downsampled ImageNet (``train_data_batch_N``, ``val_data``; a folder, one file or the
  distributed zip): each file is a dict with ``data`` uint8 (N, 3*S*S) and 1-based ``labels``.
  Files are unpickled lazily: at open, one pass reads each file's count and labels (for files of
  64 MiB or more these are cached in a small ``.npz`` sidecar under the cache dir, keyed by path,
  size and mtime, so later opens skip the pass); images are then read through an LRU of the two
  most recently used decoded files.
* CIFAR-10/100 python pickles (``cifar-10-batches-py``, ``cifar-100-python``; a folder or the
  distributed ``.tar.gz``): at most 180 MB in all, so the chosen split is decoded at open.

All pickles go through :mod:`unshuffle.data.safe_pickle`.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unshuffle.data.imageset import ImageSet
from unshuffle.data.safe_pickle import safe_load, safe_load_path, safe_loads
from unshuffle.errors import ConfigError, DataFormatError

IMAGENET_TRAIN = re.compile(r"^train_data_batch_(\d+)$")
IMAGENET_VAL = "val_data"
SIDECAR_MIN_BYTES = 64 * 2**20
LRU_FILES = 2

CIFAR10_FILES = {"train": [f"data_batch_{k}" for k in range(1, 6)], "test": ["test_batch"]}
CIFAR100_FILES = {"train": ["train"], "test": ["test"]}
CIFAR_META = {"cifar10": "batches.meta", "cifar100": "meta"}


def imagenet_split_of(name: str) -> str | None:
    """``"train"`` for ``train_data_batch_N``, ``"val"`` for ``val_data``, else None."""
    base = name.rsplit("/", 1)[-1]
    if IMAGENET_TRAIN.match(base):
        return "train"
    return "val" if base == IMAGENET_VAL else None


def _sort_key(name: str) -> tuple[int, str]:
    m = IMAGENET_TRAIN.match(name.rsplit("/", 1)[-1])
    return (int(m.group(1)) if m else 0, name)


class BatchSource:
    """One pickled batch: a file on disk, or a member of a zip (``member`` set)."""

    def __init__(self, path: Path, member: str | None = None, store: Any = None):
        self.path, self.member, self.store = path, member, store

    @property
    def where(self) -> str:
        return f"{self.path}/{self.member}" if self.member else str(self.path)

    def load(self) -> dict:
        if self.member is None:
            return safe_load_path(self.path)
        with self.store.open_member(self.member) as f:
            return safe_load(f, self.where)

    def stat_key(self) -> str:
        st = os.stat(self.path)
        return f"{self.path.resolve()}\0{self.member}\0{st.st_size}\0{st.st_mtime_ns}"

    def nbytes(self) -> int:
        if self.member is None:
            return os.stat(self.path).st_size
        return self.store.member_size(self.member)


def check_batch(obj: Any, where: str, label_keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate a batch dict -> (data uint8 (N, 3*S*S), labels int64 (N,) as stored, S)."""
    if not isinstance(obj, dict):
        raise DataFormatError(where, f"expected a pickled dict with 'data' and labels, got {type(obj).__name__}")
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    label_key = next((k for k in label_keys if k in d), None)
    if "data" not in d or label_key is None:
        raise DataFormatError(where, f"expected keys 'data' and {' or '.join(map(repr, label_keys))}, "
                                     f"found {sorted(map(str, d))}")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFormatError(where, f"'data' must be a uint8 (N, 3*S*S) array, got {desc}")
    side = int(round((data.shape[1] / 3) ** 0.5))
    if side < 1 or 3 * side * side != data.shape[1]:
        raise DataFormatError(where, f"'data' rows have {data.shape[1]} values, not 3*S*S for any S")
    try:
        raw = np.asarray(d[label_key])
        # complex, NaN and fractional values were cast silently (imaginary part dropped, NaN -> a huge int)
        whole = raw.dtype.kind == "f" and bool(np.all(np.isfinite(raw) & (raw == np.round(raw))))
        exact = raw.dtype.kind not in "cf" or whole
        labels = raw.astype(np.int64) if exact else None
    except (TypeError, ValueError, OverflowError) as e:
        raise DataFormatError(where, f"{label_key!r} must be a list of integers ({e})") from e
    if labels is None:
        raise DataFormatError(where, f"{label_key!r} must be a list of integers, got {raw.dtype} values")
    if labels.shape != (data.shape[0],):
        raise DataFormatError(where, f"{label_key!r} has shape {labels.shape} for {data.shape[0]} images")
    return data, labels, side


def planes_to_hwc(row: np.ndarray, side: int) -> np.ndarray:
    """One (3*S*S,) uint8 row of R, G, B planes -> (S, S, 3) uint8."""
    return np.ascontiguousarray(row.reshape(3, side, side).transpose(1, 2, 0))


class PlaneArrayReader:
    """ImageReader over an in-memory uint8 (N, 3*S*S) plane array (CIFAR); fingerprint on demand."""

    def __init__(self, data: np.ndarray, side: int):
        self.data, self.side = data, side
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def read(self, i: int) -> np.ndarray:
        return planes_to_hwc(self.data[i], self.side)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256(str(self.data.shape).encode())
            h.update(np.ascontiguousarray(self.data).tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint


class LazyBatchReader:
    """ImageReader over several pickled batch files, unpickled on first use, two kept (LRU)."""

    def __init__(self, sources: list[BatchSource], counts: list[int], side: int):
        self.sources, self.counts, self.side = sources, counts, side
        self._ends = np.cumsum(counts)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def _data(self, k: int) -> np.ndarray:
        with self._lock:  # one unpickling at a time: two threads must not both load a 1.5 GB batch
            return self._data_locked(k)

    def _data_locked(self, k: int) -> np.ndarray:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        src = self.sources[k]
        data, _, side = check_batch(src.load(), src.where, ("labels",))
        if data.shape[0] != self.counts[k] or side != self.side:
            raise DataFormatError(src.where, "changed since it was opened (count or image size differs)")
        self._cache[k] = data
        while len(self._cache) > LRU_FILES:
            self._cache.popitem(last=False)
        return data

    def read(self, i: int) -> np.ndarray:
        k = int(np.searchsorted(self._ends, i, side="right"))
        start = int(self._ends[k - 1]) if k else 0
        return planes_to_hwc(self._data(k)[i - start], self.side)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256()
            for src in self.sources:
                if src.member is None:
                    with open(src.path, "rb") as f:
                        for block in iter(lambda f=f: f.read(1 << 20), b""):
                            h.update(block)
                else:
                    with src.store.open_member(src.member) as f:
                        for block in iter(lambda f=f: f.read(1 << 20), b""):
                            h.update(block)
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def __getstate__(self) -> dict:  # picklable for DataLoader workers, without the decoded files
        state = dict(self.__dict__)
        state["_cache"], state["_lock"] = OrderedDict(), None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def cache_dir() -> Path:
    """Where sidecar indexes live: ``$UNSHUFFLE_CACHE_DIR`` or ``~/.cache/unshuffle``."""
    return Path(os.environ.get("UNSHUFFLE_CACHE_DIR") or Path.home() / ".cache" / "unshuffle")


def _batch_index(src: BatchSource) -> tuple[int, np.ndarray, int]:
    """(count, stored labels int64 (N,), S) of one batch, through the sidecar cache for big files."""
    use_sidecar = src.nbytes() >= SIDECAR_MIN_BYTES
    if use_sidecar:
        key = hashlib.sha256(src.stat_key().encode()).hexdigest()[:32]
        side_path = cache_dir() / "batch-index" / f"{key}.npz"
        if side_path.is_file():
            with np.load(side_path, allow_pickle=False) as z:
                return int(z["count"]), z["labels"].astype(np.int64), int(z["side"])
    data, labels, side = check_batch(src.load(), src.where, ("labels",))
    if use_sidecar:
        from unshuffle.runs.atomic import atomic_path

        with atomic_path(side_path) as tmp, open(tmp, "wb") as f:
            np.savez(f, count=data.shape[0], labels=labels, side=side)
    return data.shape[0], labels, side


def open_imagenet_batches(sources: list[BatchSource], split: str | None, where: str) -> ImageSet:
    """Downsampled-ImageNet batches -> lazy ImageSet; labels become 0-based class indices."""
    by_split: dict[str, list[BatchSource]] = {}
    for s in sources:
        by_split.setdefault(imagenet_split_of(s.member or s.path.name) or "", []).append(s)
    available = [s for s in ("train", "val") if s in by_split]
    if not available:  # one pickle file with another name: no split to choose
        if split is not None:
            raise ConfigError(f"split: {where} is a single batch file with no train/val split")
        chosen = sources
    else:
        if split is None:
            if len(available) > 1:
                raise ConfigError(f"{where}: holds the splits {', '.join(available)}; choose one with split=")
            split = available[0]
        if split not in by_split:
            raise ConfigError(f"split: {where} has no {split!r} split (it has {', '.join(available)})")
        chosen = sorted(by_split[split], key=lambda s: _sort_key(s.member or s.path.name))
    counts, labels, sides = [], [], set()
    for src in chosen:
        n, lab, side = _batch_index(src)
        if n and lab.min() < 1:
            raise DataFormatError(src.where, f"labels must be 1-based (Downsampled-ImageNet), found {lab.min()}; "
                                             "for a CIFAR batch file, open its cifar-*-batches-py folder")
        counts.append(n)
        labels.append(lab - 1)
        sides.add(side)
    if len(sides) != 1:
        raise DataFormatError(where, f"batch files hold different image sizes {sorted(sides)}")
    all_labels = np.concatenate(labels)
    n_classes = int(all_labels.max()) + 1 if len(all_labels) else 0
    names = [f"{src.member or src.path.name}#{j}" for src, n in zip(chosen, counts, strict=True) for j in range(n)]
    return ImageSet(
        LazyBatchReader(chosen, counts, sides.pop()), names, source=where, format="imagenet-pickle",
        labels=all_labels, class_names=[str(k + 1) for k in range(n_classes)],
    )


def cifar_variant(names: Sequence[str]) -> tuple[str, str] | None:
    """(``"cifar10"``/``"cifar100"``, folder prefix) when ``names`` hold an official CIFAR pickle layout."""
    for n in names:
        base = n.rsplit("/", 1)[-1]
        prefix = n[: len(n) - len(base)]
        for variant, meta in CIFAR_META.items():
            files = CIFAR10_FILES if variant == "cifar10" else CIFAR100_FILES
            if base == meta and all(prefix + f in names for f in files["test"]):
                return variant, prefix
    return None


def open_cifar(
    names: Sequence[str], read_bytes: Callable[[str], bytes], *, split: str | None, label_set: str, where: str
) -> ImageSet:
    """CIFAR-10/100 pickles named ``names`` (read through ``read_bytes``) -> ImageSet of one split."""
    found = cifar_variant(names)
    if found is None:
        raise DataFormatError(where, "is not an official CIFAR-10/100 python layout")
    variant, prefix = found
    if split is None:
        raise ConfigError(f"{where}: holds the splits train, test; choose one with split=")
    if split not in ("train", "test"):
        raise ConfigError(f"split: CIFAR has the splits 'train' and 'test', got {split!r}")
    if label_set == "coarse" and variant != "cifar100":
        raise ConfigError(f"label_set: 'coarse' exists only for CIFAR-100, and {where} is CIFAR-10")
    if variant == "cifar10":
        files, label_key, names_key = CIFAR10_FILES[split], "labels", "label_names"
    else:
        files = CIFAR100_FILES[split]
        label_key, names_key = f"{label_set}_labels", f"{label_set}_label_names"
    meta_where = f"{where}/{prefix}{CIFAR_META[variant]}"
    meta = safe_loads(read_bytes(prefix + CIFAR_META[variant]), meta_where)
    if not isinstance(meta, dict):
        raise DataFormatError(meta_where, f"expected a pickled dict, got {type(meta).__name__}")
    meta = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in meta.items()}
    if names_key not in meta:
        raise DataFormatError(meta_where, f"has no {names_key!r} (found {sorted(meta)})")
    class_names = [c.decode("utf-8") if isinstance(c, bytes) else str(c) for c in meta[names_key]]
    datas, labels, image_names = [], [], []
    for f in files:
        if prefix + f not in names:
            raise DataFormatError(where, f"is missing the batch file {prefix + f!r}")
        bw = f"{where}/{prefix}{f}"
        data, lab, side = check_batch(safe_loads(read_bytes(prefix + f), bw), bw, (label_key,))
        if side != 32:
            raise DataFormatError(bw, f"CIFAR images are 32x32, these are {side}x{side}")
        if len(lab) and (lab.min() < 0 or lab.max() >= len(class_names)):
            raise DataFormatError(bw, f"labels outside 0..{len(class_names) - 1}")
        datas.append(data)
        labels.append(lab)
        image_names += [f"{prefix}{f}#{j}" for j in range(len(lab))]
    return ImageSet(
        PlaneArrayReader(np.concatenate(datas), 32), image_names, source=where, format=variant,
        labels=np.concatenate(labels), class_names=class_names,
    )
