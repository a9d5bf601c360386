"""On-disk feature cache: chunked, resumable, keyed by backbone + data + split + preprocessing, checksummed.

Layout of one entry, ``CACHE_DIR/<backbone>-<split>-<key16>/``:

- ``features.npy``  float32 (N, D), written once all chunks exist (np.load with allow_pickle=False)
- ``meta.json``     key, backbone spec, data fingerprint, split, N, D, sha256 of features.npy, versions
- ``parts/part-<start>-<stop>.npy`` while extracting; each chunk is written atomically, so a killed
  extraction resumes at the first missing chunk. Removed once ``features.npy`` is complete.

The key is a sha256 over the backbone spec (including its preprocessing), ``ImageSet.fingerprint()``
(content, names, resize), the split and N: editing one image or the preprocessing gives a new entry.
ONNX models are exported once to ``CACHE_DIR/onnx/<backbone>-<key16>.onnx`` (key: spec + weights hash),
with the check against torch beside it (``.json``); see ``features/onnx_runtime.py``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from unshuffle.data.imageset import ImageSet, from_array
from unshuffle.errors import ConfigError, DataFormatError
from unshuffle.features.backbones import BackboneSpec, load_backbone, resolve_spec
from unshuffle.features.parts import part_ok, part_path, save_npy, write_part
from unshuffle.runs.atomic import atomic_write_json, check_writable
from unshuffle.runs.measure import file_digest

FORMAT_VERSION = 1
FEATURES_FILE, META_FILE, PARTS_DIR = "features.npy", "meta.json", "parts"


def cache_key(spec: BackboneSpec, fingerprint: str, split: str | None, n: int) -> str:
    """sha256 hex of everything that changes the features."""
    blob = json.dumps({"format": FORMAT_VERSION, "spec": spec.to_dict(), "data": fingerprint,
                       "split": split, "n": n}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name.rstrip("/")).name or name)[:48]


def entry_dir(images: ImageSet | np.ndarray, backbone: str | BackboneSpec, cache_dir: str | Path,
              split: str | None = None) -> Path:
    """The folder that holds (or will hold) the features of ``images`` under ``backbone``."""
    images = _as_imageset(images)
    spec = resolve_spec(backbone)
    key = cache_key(spec, images.fingerprint(), split, len(images))
    return _entry(Path(cache_dir), spec, split, key)


def _entry(cache_dir: Path, spec: BackboneSpec, split: str | None, key: str) -> Path:
    return cache_dir / f"{_safe(spec.name)}-{split or 'all'}-{key[:16]}"


def _as_imageset(images: ImageSet | np.ndarray) -> ImageSet:
    if isinstance(images, ImageSet):
        return images
    if isinstance(images, np.ndarray):
        return from_array(images)
    raise DataFormatError(None, f"the feature cache needs an ImageSet or a uint8 (N, H, W, 3) array, "
                                f"got {type(images).__name__}")


def file_sha256(path: Path) -> str:
    """sha256 hex of a file's bytes."""
    return file_digest(path, "sha256")


def load_features(entry: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Features float32 (N, D) and metadata of a complete cache entry, checksum verified.

    Raises DataFormatError when the entry is incomplete or its checksum does not match.
    """
    entry = Path(entry)
    meta_path, feat_path = entry / META_FILE, entry / FEATURES_FILE
    if not meta_path.is_file() or not feat_path.is_file():
        raise DataFormatError(entry, f"not a complete feature cache entry (needs {FEATURES_FILE} and {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise DataFormatError(meta_path, f"not valid JSON ({e})") from e
    missing = [k for k in ("sha256", "n", "dim") if k not in meta]
    if missing:
        raise DataFormatError(meta_path, f"missing field(s) {missing}")
    digest = file_sha256(feat_path)
    if digest != meta.get("sha256"):
        raise DataFormatError(feat_path, f"sha256 {digest[:16]}... does not match {META_FILE} "
                                         f"({str(meta.get('sha256'))[:16]}...): the file was changed or damaged")
    feats = np.load(feat_path, allow_pickle=False)
    if feats.dtype != np.float32 or feats.shape != (meta["n"], meta["dim"]):
        raise DataFormatError(feat_path, f"expected float32 ({meta['n']}, {meta['dim']}), "
                                         f"got {feats.dtype} {feats.shape}")
    return feats, meta


def build_feature_cache(
    images: ImageSet | np.ndarray,
    backbone: str | BackboneSpec = "efficientnet-lite0",
    cache_dir: str | Path = ".cache/features",
    *,
    split: str | None = None,
    force: bool = False,
    batch_size: int = 64,
    device: str = "cpu",
    devices: int = 1,
    onnx: bool | None = None,
    chunk_size: int = 1024,
    progress: bool = True,
    before_extract: Callable[[], None] | None = None,
) -> Path:
    """Make sure the cache entry for (images, backbone, split) is complete; return its folder.

    An unchanged rerun only verifies the checksum (the backbone is not loaded). A checksum mismatch
    warns and rebuilds. ``force`` recomputes everything. ``devices > 1`` runs Lightning's predict loop
    under DDP (one process per device, never more processes than missing chunks); ``onnx`` runs the
    backbone through ONNX Runtime (CPU): None (default) picks it automatically (see
    ``onnx_runtime.cpu_engine``), False never.
    ``before_extract`` is called just before the backbone would be loaded (a cache miss), e.g. to
    refuse running a custom backbone's code that the user has not vouched for.
    """
    if chunk_size < 1 or batch_size < 1 or devices < 1:
        raise ConfigError(f"chunk_size={chunk_size}, batch_size={batch_size}, devices={devices}: all must be >= 1")
    if onnx and devices > 1:
        raise ConfigError("onnx=True runs on one CPU process; it cannot be combined with devices > 1")
    images = _as_imageset(images)
    spec = resolve_spec(backbone)
    n = len(images)
    if n == 0:
        raise DataFormatError(images.source, "no images to extract features from")
    fingerprint = images.fingerprint()
    key = cache_key(spec, fingerprint, split, n)
    entry = _entry(Path(cache_dir), spec, split, key)
    parts = entry / PARTS_DIR
    if force:
        _remove_outputs(entry)
        shutil.rmtree(parts, ignore_errors=True)
    elif (entry / META_FILE).is_file():
        try:
            stored_key = load_features(entry)[1].get("key")
        except DataFormatError as e:
            warnings.warn(f"feature cache {entry} is damaged ({e.problem}); rebuilding it", stacklevel=2)
            stored_key = None
        if stored_key == key:
            return entry
        _remove_outputs(entry)

    chunks = [(s, min(n, s + chunk_size)) for s in range(0, n, chunk_size)]
    todo = [c for c in chunks if not part_ok(parts, c, spec.dim)]
    engine = "torch"
    if todo and before_extract is not None:
        before_extract()
    if todo:
        check_writable(parts)  # a read-only or full cache is found before the extraction, not after
    # never more processes than missing chunks: an idle DDP process (fewer chunks than processes) has
    # been seen to abort at teardown under gloo, and it would only cost a start-up anyway
    workers = min(devices, len(todo))
    try:
        if workers > 1:
            from unshuffle.features.distributed_extract import extract_parts_ddp

            extract_parts_ddp(images, spec, todo, parts, batch_size=batch_size, device=device,
                              devices=workers, progress=progress)
        elif todo:
            engine = _extract_parts(images, spec, todo, parts, n, batch_size, device,
                                    False if devices > 1 else onnx,  # devices > 1: torch, as the DDP path
                                    Path(cache_dir), progress)
    except Exception:
        # a failed extraction (bad image, bad backbone) leaves no partial entry: fixing the cause changes
        # the key anyway. An interrupt (KeyboardInterrupt, a kill) keeps the parts so the rerun resumes.
        if not (entry / FEATURES_FILE).is_file():
            shutil.rmtree(entry, ignore_errors=True)
        raise
    missing = [c for c in chunks if not part_ok(parts, c, spec.dim)]
    if missing:
        raise DataFormatError(parts, f"{len(missing)} chunk(s) still missing after extraction, first {missing[0]}")

    feats = np.concatenate([np.load(part_path(parts, c), allow_pickle=False) for c in chunks])
    save_npy(entry / FEATURES_FILE, feats)
    meta = _meta(key, spec, images, fingerprint, split, feats, entry, engine, device, max(workers, 1))
    atomic_write_json(entry / META_FILE, meta)
    shutil.rmtree(parts, ignore_errors=True)
    return entry


def cached_features(
    images: ImageSet | np.ndarray,
    backbone: str | BackboneSpec = "efficientnet-lite0",
    cache_dir: str | Path = ".cache/features",
    force: bool = False,
    batch_size: int = 64,
    device: str = "cpu",
    devices: int = 1,
    *,
    split: str | None = None,
    onnx: bool | None = None,
    chunk_size: int = 1024,
    progress: bool = True,
    before_extract: Callable[[], None] | None = None,
) -> np.ndarray:
    """Features float32 (N, D) of ``images`` under ``backbone``, computed once and cached on disk.

    See ``build_feature_cache`` for the arguments and the cache rules.
    """
    entry = build_feature_cache(images, backbone, cache_dir, split=split, force=force, batch_size=batch_size,
                                device=device, devices=devices, onnx=onnx, chunk_size=chunk_size,
                                progress=progress, before_extract=before_extract)
    return load_features(entry)[0]


def _remove_outputs(entry: Path) -> None:
    for name in (META_FILE, FEATURES_FILE):
        (entry / name).unlink(missing_ok=True)


def _extract_parts(images: ImageSet, spec: BackboneSpec, todo: list[tuple[int, int]], parts: Path, n: int,
                   batch_size: int, device: str, onnx: bool, cache_dir: Path, progress: bool) -> str:
    from unshuffle.features.extract import extract_features
    from unshuffle.features.onnx_runtime import cpu_engine

    model, spec = load_backbone(spec, device="cpu" if onnx else device)
    model, engine = cpu_engine(model, spec, cache_dir, onnx=onnx, device=device)
    remaining = sum(b - a for a, b in todo)
    with tqdm(total=n, initial=n - remaining, desc=f"features {spec.name}", unit="img",
              disable=not progress) as bar:
        for chunk in todo:
            feats = extract_features(images, model, spec, batch_size=batch_size, device=device,
                                     indices=np.arange(*chunk), bar=bar)
            write_part(parts, chunk, feats)
    return engine


def _meta(key: str, spec: BackboneSpec, images: ImageSet, fingerprint: str, split: str | None, feats: np.ndarray,
          entry: Path,
          engine: str, device: str, devices: int) -> dict[str, Any]:
    import torch

    from unshuffle import __version__

    versions = {"unshuffle": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "torch": torch.__version__}
    if spec.kind in ("dinov2", "hf"):
        import transformers

        versions["transformers"] = transformers.__version__
    if engine == "onnxruntime":
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    return {
        "format": FORMAT_VERSION,
        "key": key,
        "backbone": spec.to_dict(),
        "data": {"source": images.source, "format": images.format, "fingerprint": fingerprint,
                 "split": split, "size": images.size},
        "n": int(feats.shape[0]),
        "dim": int(feats.shape[1]),
        "dtype": "float32",
        "sha256": file_sha256(entry / FEATURES_FILE),
        "engine": engine,
        "device": device,
        "devices": devices,
        "versions": versions,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
