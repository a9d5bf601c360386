"""K estimation (clustering/choose_k.py) on synthetic mixtures with known K, its grid and its resume."""

import json

import numpy as np
import pytest

from unshuffle.clustering.choose_k import estimate_k, k_candidates, plot_k_evidence
from unshuffle.errors import ConfigError


def mixture(k: int, n_per: int = 60, dim: int = 32, spread: float = 0.15, seed: int = 0) -> np.ndarray:
    """``k`` Gaussian blobs around random unit directions (what pretrained embeddings look like after L2)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.repeat(centres, n_per, axis=0) + spread * rng.standard_normal((k * n_per, dim)) / np.sqrt(dim) * 3
    return x[rng.permutation(len(x))].astype(np.float32)


@pytest.mark.parametrize("k", [4, 9, 25])
def test_estimate_k_finds_the_mixture_count(k):
    est = estimate_k(mixture(k, seed=k), seed=0, sample=1000)
    assert abs(est.k - k) <= 0.12 * k  # exact where K is on the grid (every K up to 10), else a grid neighbour
    assert est.candidates == sorted(est.candidates) and len(est.scores) == len(est.candidates)


def test_k_candidates_depend_on_the_image_count_only():
    grid = k_candidates(10_000)
    assert grid[0] == 2 and grid[-1] == 1000
    ratios = np.array(grid[1:]) / np.array(grid[:-1])
    assert ratios[grid.index(10):].max() < 1.2  # a candidate within 10 % of any K >= 10
    assert k_candidates(100) == list(range(2, 14)) + [15, 16, 18, 20]  # small folder: up to 2 * sqrt(100) = 20
    assert k_candidates(36)[-1] == 12 and k_candidates(6) == [2, 3]  # 36 // 3 = 2 * sqrt(36) = 12; at least 3
    assert k_candidates(1000)[-1] == 100 and k_candidates(400)[-1] == 40  # n // 10 wins from 400 images up
    with pytest.raises(ConfigError, match="at least 6"):
        k_candidates(5)


def test_a_small_folder_of_small_groups_is_within_range():
    x = mixture(8, n_per=6, seed=2)  # 48 images in 8 groups of 6: N / 10 would stop at 4
    est = estimate_k(x, seed=0)
    assert est.candidates[-1] == 13 and est.k == 8


def test_bad_candidates_are_refused():
    with pytest.raises(ConfigError, match=r"\[2, 59\]"):
        estimate_k(mixture(3, n_per=20), candidates=[1, 3])


def test_evidence_resumes_and_ignores_other_settings(tmp_path):
    x = mixture(4, seed=1)
    ev = tmp_path / "k.jsonl"
    first = estimate_k(x, candidates=[3, 4, 5], evidence=ev)
    lines = [json.loads(line) for line in ev.read_text().splitlines()]
    assert [r["k"] for r in lines] == [3, 4, 5]
    # a stored score is reused, not recomputed: fake a better score for K=5 and it wins
    rec = dict(lines[2], score=2.0)
    ev.write_text("\n".join(json.dumps(r) for r in lines[:2] + [rec]) + "\n{torn")
    again = estimate_k(x, candidates=[3, 4, 5], evidence=ev)
    assert again.k == 5 and again.scores[:2] == first.scores[:2]
    # other settings (another seed) do not reuse it
    assert estimate_k(x, candidates=[3, 4, 5], evidence=ev, seed=1).k == 4


def test_plot_is_written(tmp_path):
    est = estimate_k(mixture(3, n_per=30), candidates=[2, 3, 4])
    out = plot_k_evidence(est, tmp_path / "k.png", true_k=3)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_weak_evidence_by_hand():
    from unshuffle.clustering.choose_k import weak_evidence

    # a clear peak at 4: only 4 within 5 % of the best, no warning
    assert weak_evidence([2, 3, 4, 5, 6], [0.2, 0.3, 0.5, 0.3, 0.2]) == ([4, 4], [])
    # best at the smallest candidate
    rng, warn = weak_evidence([2, 3, 4], [0.5, 0.3, 0.2])
    assert rng == [2, 2] and len(warn) == 1 and "smallest candidate" in warn[0]
    # flat from 10 to 40 (0.100 best, 0.096 within 5 %): weak
    rng, warn = weak_evidence([5, 10, 20, 40, 80], [0.05, 0.099, 0.100, 0.096, 0.06])
    assert rng == [10, 40] and len(warn) == 1 and "flat" in warn[0]


def test_estimate_reports_a_clear_mixture_without_warnings_and_a_blob_with_them():
    clear = estimate_k(mixture(6, seed=6), seed=0, sample=1000)
    assert clear.k == 6 and clear.warnings == [] and clear.plausible[0] <= 6 <= clear.plausible[1]
    blob = estimate_k(mixture(1, n_per=400, seed=3), seed=0, sample=400)  # one cluster: no structure to find
    assert blob.warnings
