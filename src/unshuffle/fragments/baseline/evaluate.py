"""Grouping evaluation over many sampled bags: a method, random assignment and raw-pixel KMeans."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from unshuffle.data.imageset import ImageSet
from unshuffle.evaluation.metrics import grouping_scores, summarize
from unshuffle.fragments.bags.sampling import FragmentBag, FragmentSampler
from unshuffle.fragments.baseline.baselines import random_assignment, raw_pixel_kmeans

# A grouping method maps (bag, per-sample seed) to (M,) int64 group labels. It sees the fragments
# and the number of images N (given, as in the case study), never the provenance.
GroupingMethod = Callable[[FragmentBag, int], np.ndarray]


def baseline_methods() -> dict[str, GroupingMethod]:
    """The reference methods every evaluation includes with --with-baselines."""
    return {
        "random": lambda bag, seed: random_assignment(len(bag), bag.n_images, seed),
        "raw_pixel_kmeans": lambda bag, seed: raw_pixel_kmeans(bag.fragments, bag.n_images, seed),
    }


def autoencoder_method(model) -> GroupingMethod:
    """The case study's method: KMeans (k = N) on the autoencoder's codes."""
    from unshuffle.fragments.baseline.autoencoder import group_with_autoencoder

    return lambda bag, seed: group_with_autoencoder(model, bag.fragments, bag.n_images, seed)


def evaluate_grouping(images: ImageSet, methods: dict[str, GroupingMethod], *, num_samples: int = 1000,
                      images_per_sample: int = 10, grid: int = 4, seed: int = 0,
                      progress: bool = True) -> dict:
    """Score each method on the same ``num_samples`` bags drawn from ``images``.

    Returns {"results": {method: {"ari"|"nmi"|"purity": {"mean", "std"}}}, "per_sample": {method:
    [{"ari", "nmi", "purity"}, ...]}, "settings": {...}}. Bag i is FragmentSampler(images, N, grid,
    seed).sample(i), so two runs with the same settings score the same bags.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    sampler = FragmentSampler(images, images_per_sample, grid, seed)
    per_sample: dict[str, list[dict]] = {name: [] for name in methods}
    for i in tqdm(range(num_samples), desc="evaluating", unit="bag", disable=not progress):
        bag = sampler.sample(i)
        for name, method in methods.items():
            labels = method(bag, seed * 1_000_003 + i)
            per_sample[name].append(grouping_scores(bag.source, labels))
    return {
        "results": {name: summarize(scores) for name, scores in per_sample.items()},
        "per_sample": per_sample,
        "settings": {"data": images.source, "images": len(images), "num_samples": num_samples,
                     "images_per_sample": images_per_sample, "grid": grid, "seed": seed},
    }
