"""Label-free choice of the cluster count K: silhouette of k-means in a reduced space over a grid of K.

For every candidate K (a geometric grid that depends on the image count only, :func:`k_candidates`)
the L2-normalised features are reduced by PCA to ``dim`` dimensions and L2-normalised again, clustered
by k-means (best of ``n_init`` restarts), and scored by the mean cosine silhouette on a fixed seeded
sample of ``sample`` points (Rousseeuw 1987). The estimate is the K of the highest score; higher is
better. No labels are read. Each K's score is appended to an evidence file as soon as it is known, so
an interrupted search resumes where it stopped (scores computed under other settings are ignored).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from unshuffle.errors import ConfigError

CRITERION = "silhouette (cosine) of k-means in a PCA-reduced, L2-normalised space; higher is better"
PLATEAU_TOL = 0.05  # candidates scoring within this share of the best score are reported as about as good


@dataclasses.dataclass(frozen=True)
class KEstimate:
    """The chosen K and the evidence behind it.

    Attributes:
        k: the candidate with the highest score.
        candidates: (M,) the K values tried, increasing; scores: (M,) their criterion values.
        criterion: what the score is; settings: everything that changes the scores.
        plausible: [lowest, highest] candidate scoring within ``PLATEAU_TOL`` of the best.
        warnings: what makes the estimate weak (the best at the edge of the grid, a flat criterion).
    """

    k: int
    candidates: list[int]
    scores: list[float]
    criterion: str
    settings: dict
    plausible: list[int] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-able dict."""
        return dataclasses.asdict(self)


def k_candidates(n_images: int, ratio: float = 1.12, max_per_cluster: int = 10, k_max: int = 1000) -> list[int]:
    """Every K from 2 to 10, then a geometric grid (neighbours ``ratio`` apart) up to
    ``min(k_max, top)``; reads the image count only. ``top`` is ``n_images // max_per_cluster``, but a small
    folder (under 400 images) may hold small groups, so there it is ``min(n_images // 3, 2 * sqrt(n_images))``
    when that is larger (36 images: up to 12 clusters instead of 3); at least 3."""
    if n_images < 6:
        raise ConfigError(f"estimating K needs at least 6 images, got {n_images}")
    small = min(n_images // 3, int(2 * np.sqrt(n_images)))
    top = max(3, min(k_max, max(n_images // max_per_cluster, small)))
    steps = int(np.ceil(np.log(top / 10) / np.log(ratio))) + 1 if top > 10 else 1
    grid = set(range(2, min(top, 10) + 1)) | set(np.round(np.geomspace(10, top, steps)).astype(int).tolist())
    return sorted(int(k) for k in grid if 2 <= k <= top)


def reduce_features(feats: np.ndarray, dim: int = 64, seed: int = 0) -> np.ndarray:
    """L2-normalise, PCA to ``min(dim, N - 1, D)`` components, L2-normalise again: (N, D) -> (N, d) float32."""
    from sklearn.decomposition import PCA

    x = np.asarray(feats, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    d = max(1, min(dim, x.shape[0] - 1, x.shape[1]))
    z = PCA(d, random_state=seed).fit_transform(x).astype(np.float32)
    return np.ascontiguousarray(z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12))


def estimate_k(feats: np.ndarray, *, candidates: list[int] | None = None, seed: int = 0, dim: int = 64,
               sample: int = 3000, n_init: int = 3, evidence: str | Path | None = None,
               progress: bool = False) -> KEstimate:
    """Estimate the number of clusters of ``feats`` (N, D) float32 without labels.

    Args:
        candidates: K values to try (default :func:`k_candidates` of N); each must be in [2, N - 1].
        seed: seeds the PCA, the k-means restarts and the silhouette sample.
        dim: PCA dimension of the space the criterion is computed in.
        sample: points scored by the silhouette (all when N is smaller).
        n_init: k-means restarts per K (best inertia kept).
        evidence: JSON-lines file; each K's score is appended when known and reused on a rerun with
            the same settings, so an interrupted search resumes.
    Returns:
        a :class:`KEstimate`.
    """
    x = np.asarray(feats, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 6:
        raise ConfigError(f"estimating K needs (N, D) features with N >= 6, got {x.shape}")
    n = x.shape[0]
    cands = sorted({int(k) for k in (candidates if candidates is not None else k_candidates(n))})
    bad = [k for k in cands if not 2 <= k <= n - 1]
    if bad or not cands:
        raise ConfigError(f"candidate K values must lie in [2, {n - 1}] (N = {n}), got {bad or 'none'}")
    settings = {"seed": int(seed), "dim": int(dim), "sample": int(sample), "n_init": int(n_init), "n": n,
                "features_sha": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]}
    done = _read_evidence(evidence, settings)
    z = reduce_features(x, dim, seed)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(sample, n), replace=False))
    scores = []
    for k in cands:
        if k not in done:
            done[k] = _silhouette_of_kmeans(z, k, rows, seed, n_init)
            _append_evidence(evidence, settings, k, done[k])
            if progress:
                print(f"K={k}: silhouette {done[k]:.4f}", flush=True)
        scores.append(done[k])
    best = int(cands[int(np.argmax(scores))])
    plausible, warnings = weak_evidence(cands, scores)
    return KEstimate(best, cands, [float(s) for s in scores], CRITERION, settings, plausible, warnings)


def weak_evidence(candidates: list[int], scores: list[float], tol: float = PLATEAU_TOL) -> tuple[list[int], list[str]]:
    """The range of candidates scoring within ``tol`` of the best score's size, and warnings when the
    evidence is weak: the best K is the smallest or largest candidate, or the near-best range spans a
    factor of 2 or more (a flat criterion: on CIFAR-10 and Tiny-ImageNet features the silhouette is flat
    over tens of K, results/clustering.md)."""
    s = np.asarray(scores, dtype=np.float64)
    best = int(np.argmax(s))
    near = [k for k, v in zip(candidates, s, strict=True) if v >= s[best] - tol * abs(s[best])]
    lo, hi, k = min(near), max(near), candidates[best]
    warnings = []
    if len(candidates) > 1 and k == candidates[0]:
        warnings.append(f"K = {k} is the smallest candidate tried: the criterion found no finer structure; "
                        "give --clusters if you know the count")
    elif len(candidates) > 1 and k == candidates[-1]:
        warnings.append(f"K = {k} is the largest candidate tried ({len(candidates)} candidates): there may be "
                        "more groups than the search reached")
    if hi >= 2 * lo:
        warnings.append(f"the criterion is flat: every K from {lo} to {hi} scores within {tol:.0%} of the best, "
                        "so the estimate is weak")
    return [int(lo), int(hi)], warnings


def _silhouette_of_kmeans(z: np.ndarray, k: int, rows: np.ndarray, seed: int, n_init: int) -> float:
    import faiss
    from sklearn.metrics import silhouette_score

    km = faiss.Kmeans(z.shape[1], k, niter=30, nredo=n_init, seed=int(seed), verbose=False,
                      max_points_per_centroid=max(256, z.shape[0] // k + 1), min_points_per_centroid=1)
    km.train(z)
    labels = km.index.search(z, 1)[1][:, 0]
    sub = labels[rows]
    if len(np.unique(sub)) < 2 or len(np.unique(sub)) >= len(sub):
        return -1.0  # silhouette undefined: worst possible score
    return float(silhouette_score(z[rows], sub, metric="cosine"))


def _read_evidence(path, settings: dict) -> dict[int, float]:
    if path is None or not Path(path).is_file():
        return {}
    done = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by an interruption: that K is recomputed
        if isinstance(rec, dict) and rec.get("settings") == settings:
            done[int(rec["k"])] = float(rec["score"])
    return done


def _append_evidence(path, settings: dict, k: int, score: float) -> None:
    if path is None:
        return
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"k": int(k), "score": float(score), "settings": settings}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def plot_k_evidence(est: KEstimate, path: str | Path, true_k: int | None = None) -> Path:
    """Criterion against K (log axis) with the chosen K marked; ``true_k`` (evaluation only) drawn dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unshuffle.plots.figure import save_png

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(est.candidates, est.scores, "o-", ms=3)
    if est.plausible:
        ax.axvspan(est.plausible[0], est.plausible[1], color="tab:red", alpha=0.12,
                   label=f"within {PLATEAU_TOL:.0%} of the best")
    ax.axvline(est.k, color="tab:red", label=f"chosen K = {est.k}")
    if true_k is not None:
        ax.axvline(true_k, color="k", ls="--", label=f"true K = {true_k}")
    ax.set_xscale("log")
    ax.set_xlabel("K")
    ax.set_ylabel("silhouette (cosine, PCA space)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)
