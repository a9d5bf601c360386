"""Top-k cosine nearest neighbours with faiss for positive-pair mining, cached by feature checksum and k.

Exact search (default) is ``IndexFlatIP`` on L2-normalised features: cosine similarity, O(N^2 D),
run in query chunks; fine up to a few million images on one machine.

For tens of millions of images use ``method="ivf"``: ``IndexIVFFlat`` with ``nlist`` inverted
lists (default about 4 * sqrt(N), at most N / 39 so every list gets trained), trained on a seeded
sample of at most 256 * nlist vectors; each query visits ``nprobe`` lists (default nlist / 8,
at least 1); a row whose visited lists hold fewer than k other points is searched again with
nprobe doubled until it has k. Cost per query is about nprobe / nlist of the exact search; recall rises with nprobe
(tested: >= 0.9 against exact search on clustered data). Memory is still N * D * 4 bytes; beyond
RAM, swap in an ``IndexIVFPQ`` (not wired here).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from unshuffle.errors import ConfigError, DataFormatError
from unshuffle.runs.atomic import atomic_path, atomic_write_json

METHODS = ("exact", "ivf")


def features_checksum(feats: np.ndarray) -> str:
    """sha256 hex of a float32 (N, D) array's shape and bytes."""
    a = np.ascontiguousarray(feats, dtype=np.float32)
    h = hashlib.sha256(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def l2_normalize(feats: np.ndarray) -> np.ndarray:
    """Rows of float32 (N, D) scaled to unit length (zero rows stay zero)."""
    a = np.ascontiguousarray(feats, dtype=np.float32)
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.maximum(norm, 1e-12)


def mine_neighbors(
    feats: np.ndarray,
    k: int = 50,
    method: str = "exact",
    cache_path: str | Path | None = None,
    *,
    nlist: int | None = None,
    nprobe: int | None = None,
    seed: int = 0,
    query_chunk: int = 16384,
    progress: bool = True,
) -> np.ndarray:
    """Indices of the ``k`` most cosine-similar other rows of every row.

    Args:
        feats: float32 (N, D) features (any scale: they are L2-normalised here).
        k: neighbours per row, 1 <= k < N.
        method: ``"exact"`` (IndexFlatIP) or ``"ivf"`` (IndexIVFFlat, see the module docstring).
        cache_path: None (no cache); a ``.npy`` file (its key is stored in ``<file>.json``; a
            different key recomputes and overwrites); or a folder holding one file per key.
        nlist, nprobe: IVF settings (defaults in the module docstring); ignored for exact search.
        seed: seeds the IVF training sample.
        query_chunk: rows searched per faiss call (bounds the memory of the result table).

    Returns:
        int64 (N, k): row i lists its neighbours, most similar first, never i itself.
    """
    feats = np.asarray(feats)
    if feats.ndim != 2 or feats.shape[0] < 2 or not np.issubdtype(feats.dtype, np.floating):
        raise DataFormatError(None, f"features must be float (N, D) with N >= 2, got {feats.dtype} {feats.shape}")
    n = feats.shape[0]
    if not 1 <= k < n:
        raise ConfigError(f"k={k}: must be in [1, {n - 1}] for {n} feature rows")
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: must be one of {METHODS}")
    if not np.isfinite(feats).all():
        raise DataFormatError(None, "features contain NaN or infinite values")
    _nlist, _nprobe = _ivf_settings(n, nlist, nprobe) if method == "ivf" else (None, None)
    key = {"checksum": features_checksum(feats), "k": k, "method": method, "nlist": _nlist, "nprobe": _nprobe,
           "seed": seed if method == "ivf" else None}
    file = _cache_file(Path(cache_path), key) if cache_path is not None else None
    if file is not None and file.is_file() and _stored_key(file) == key:
        idx = np.load(file, allow_pickle=False)
        if idx.shape == (n, k) and idx.dtype == np.int64:
            return idx
    idx = _search(l2_normalize(feats), k, _nlist, _nprobe, seed, query_chunk, progress)
    if file is not None:
        with atomic_path(file) as tmp, open(tmp, "wb") as f:
            np.save(f, idx, allow_pickle=False)
        atomic_write_json(file.with_suffix(".json"), key)
    return idx


def _ivf_settings(n: int, nlist: int | None, nprobe: int | None) -> tuple[int, int]:
    if nlist is None:
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
    if not 1 <= nlist <= n:
        raise ConfigError(f"nlist={nlist}: must be in [1, {n}]")
    if nprobe is None:
        nprobe = max(1, nlist // 8)
    if not 1 <= nprobe <= nlist:
        raise ConfigError(f"nprobe={nprobe}: must be in [1, nlist={nlist}]")
    return nlist, nprobe


def _cache_file(path: Path, key: dict) -> Path:
    if path.suffix == ".npy":
        return path
    tag = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return path / f"neighbors-{key['method']}-k{key['k']}-{tag}.npy"


def _stored_key(file: Path) -> dict | None:
    side = file.with_suffix(".json")
    return json.loads(side.read_text()) if side.is_file() else None


def _search(x: np.ndarray, k: int, nlist: int | None, nprobe: int | None, seed: int, query_chunk: int,
            progress: bool) -> np.ndarray:
    import faiss

    n, d = x.shape
    if nlist is None:
        index = faiss.IndexFlatIP(d)
    else:
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = x if n <= 256 * nlist else x[np.sort(rng.choice(n, 256 * nlist, replace=False))]
        index.train(sample)
        index.nprobe = nprobe
    index.add(x)
    kk = min(k + 1, n)
    out = np.empty((n, k), dtype=np.int64)
    for start in tqdm(range(0, n, query_chunk), desc="neighbours", unit="chunk", disable=not progress):
        stop = min(n, start + query_chunk)
        rows = np.arange(start, stop)
        _, found = index.search(x[start:stop], kk)
        got, short = _drop_self(found, rows, k)
        probe = nprobe
        while short.any():  # IVF only: too few points in the visited lists; widen the search for those rows
            probe = min(nlist, probe * 2)
            index.nprobe = probe
            _, again = index.search(x[rows[short]], kk)
            got[short], short[short] = _drop_self(again, rows[short], k)
        if nlist is not None:
            index.nprobe = nprobe
        out[start:stop] = got
    return out


def _drop_self(found: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(m, k+1) search results -> ((m, k) without the query row or faiss' -1 padding, (m,) bool short).

    The query is usually first; with duplicate features it can sit anywhere or be cut off. IVF can
    return fewer than k other hits when the visited lists are small: those rows are flagged short
    (their entries are then meaningless) and searched again with more lists.
    """
    out = np.zeros((len(rows), k), dtype=np.int64)
    short = np.zeros(len(rows), dtype=bool)
    fast = (found[:, 0] == rows) & (found[:, 1 : k + 1] >= 0).all(axis=1)
    out[fast] = found[fast, 1 : k + 1]
    for j in np.flatnonzero(~fast):
        hits = found[j]
        keep = hits[(hits != rows[j]) & (hits >= 0)][:k]
        if len(keep) < k:
            short[j] = True
        else:
            out[j] = keep
    return out, short


def mine_neighbors_file(features: str | Path, out: str | Path | None = None, k: int = 50, method: str = "exact",
                        *, nlist: int | None = None, nprobe: int | None = None) -> tuple[Path, np.ndarray]:
    """Mine neighbours of features on disk and store them; returns (neighbours file, int64 (N, k)).

    ``features`` is a feature cache entry folder (checksum verified) or a float32 (N, D) ``.npy``.
    ``out`` defaults to ``neighbors-k<K>-<method>.npy`` next to the features; an unchanged rerun
    reads it back instead of searching again.
    """
    src = Path(features)
    if src.is_dir():
        from unshuffle.features.cache import load_features

        feats = load_features(src)[0]
    elif src.suffix == ".npy" and src.is_file():
        feats = np.load(src, allow_pickle=False)
    else:
        raise DataFormatError(src, "expected a feature cache entry folder or a float32 (N, D) .npy file")
    out = Path(out) if out is not None else (src if src.is_dir() else src.parent) / f"neighbors-k{k}-{method}.npy"
    if out.suffix != ".npy":
        raise ConfigError(f"out={str(out)!r}: the neighbours file must end in .npy")
    return out, mine_neighbors(feats, k, method, cache_path=out, nlist=nlist, nprobe=nprobe)
