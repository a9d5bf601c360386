"""Issue 14: pictures of the clusters found by spectral clustering on the kNN graph of a cached input.

    python benchmarks/clustering_gallery.py cifar_test 10 --out results/clustering/gallery-cifar_test-spectral.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set")
    p.add_argument("clusters", type=int)
    p.add_argument("--backbones", nargs="+", default=["efficientnet-lite0"])
    p.add_argument("--feats", default=".cache/exp")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from clustering_features import open_set
    from clustering_parts import load_input

    from unshuffle.clustering.spectral import spectral_labels
    from unshuffle.plots.clusters import cluster_gallery

    x = load_input(Path(args.feats), args.set, args.backbones, False)
    labels = spectral_labels(x, args.clusters, seed=0)  # the default graph (SNN, 20 neighbours) and QR labels
    images, _ = open_set(args.set)
    assert len(images) == len(x)
    cluster_gallery(images, labels, args.out, n_clusters_shown=min(12, args.clusters), per_cluster=10, thumb=48,
                    title=f"{args.set}: spectral clustering, SNN graph + QR ({'+'.join(args.backbones)}, K = "
                          f"{args.clusters}), largest clusters, random members")
    print(args.out, np.bincount(labels).tolist()[:20])


if __name__ == "__main__":
    main()
