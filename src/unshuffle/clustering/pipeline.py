"""End-to-end TEMI stages for the CLI: images -> cached features -> neighbours -> heads -> report, plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unshuffle.clustering.config import TemiConfig, neighbours_for
from unshuffle.errors import CheckpointError


def prepare_features(data: str | Path, backbone: str, *, knn: int, clusters: int, split: str | None = None,
                     cache_dir: str | Path | None = None, force: bool = False, progress: bool = False):
    """Open ``data``, get its cached backbone features and mine ``knn`` neighbours per image
    (``knn=0``: the auto count of :func:`neighbours_for` for ``clusters`` clusters).

    Returns (images: ImageSet, feats: (N, D) float32, neighbors: (N, knn) int64, spec: BackboneSpec).
    """
    from unshuffle.clustering.neighbors import mine_neighbors

    images, feats, spec = features_for(data, backbone, split=split, cache_dir=cache_dir, force=force, progress=progress)
    neighbors = np.asarray(mine_neighbors(feats, neighbours_for(knn, len(feats), clusters), progress=progress),
                           dtype=np.int64)
    return images, feats, neighbors, spec


def features_for(data: str | Path, backbone, *, split: str | None, cache_dir: str | Path | None,
                 force: bool = False, progress: bool = False):
    """(images: ImageSet, feats: (N, D) float32 from the feature cache, spec: BackboneSpec) of ``data``."""
    from unshuffle.data import open_images
    from unshuffle.features.backbones import resolve_spec
    from unshuffle.features.cache import cached_features

    images = open_images(data, split=split)
    spec = resolve_spec(backbone)
    kwargs = {"backbone": spec, "force": force, "progress": progress, "split": split}
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    feats = np.asarray(cached_features(images, **kwargs), dtype=np.float32)
    return images, feats, spec


def run_record(data, split, cache_dir, spec, images) -> dict:
    """What a run records about its input so that evaluate and predict can rebuild it."""
    return {"backbone": spec.to_dict(),
            "data": {"path": str(Path(data).resolve()), "split": split, "n_images": len(images)},
            "cache_dir": None if cache_dir is None else str(Path(cache_dir).resolve())}


def train_on_images(data: str | Path, cfg: TemiConfig | None, out: str | Path, *, backbone: str | None,
                    split: str | None = None, cache_dir: str | Path | None = None, force: bool = False,
                    resume: bool = False, overwrite: bool = False, progress: bool = False) -> dict:
    """Features, neighbours and TEMI training for the images at ``data`` into run folder ``out``.

    With ``resume`` the backbone, data and settings are read back from the run folder.
    """
    if resume:
        from unshuffle.runs.layout import RunDir

        saved = RunDir(Path(out)).read_config()["config"]
        data, split = saved["data"]["path"], saved["data"]["split"]
        cache_dir = saved.get("cache_dir") if cache_dir is None else cache_dir
        from unshuffle.features.backbones import BackboneSpec

        spec_or_name = BackboneSpec.from_dict(saved["backbone"])
        knn, clusters = int(saved["temi"]["knn"]), int(saved["temi"]["clusters"])
    else:
        if cfg is None or backbone is None:
            raise CheckpointError("a new run needs a config and a backbone")
        spec_or_name, knn, clusters = backbone, cfg.knn, cfg.clusters
    images, feats, neighbors, spec = prepare_features(data, spec_or_name, knn=knn, clusters=clusters, split=split,
                                                      cache_dir=cache_dir, force=force, progress=progress)
    from unshuffle.clustering.train import train_temi

    return train_temi(cfg, feats, neighbors, out, resume=resume, overwrite=overwrite,
                      record=run_record(data, split, cache_dir, spec, images), progress=progress)


def evaluate_run(run_dir: str | Path, *, images=None, feats: np.ndarray | None = None,
                 cache_dir: str | Path | None = None, plots: bool = True) -> dict:
    """Report of a trained run: TEMI's label-free assignments vs k-means on the same features, the
    leave-one-out kNN reference, cluster statistics, and (with labels) per-head accuracies as oracle
    diagnostics. Writes RUN/report.json and, with ``plots``, RUN/plots/{curves,gallery,sizes}.png."""
    from unshuffle.clustering.baseline import kmeans_labels
    from unshuffle.clustering.predict import TemiHeads
    from unshuffle.clustering.train import load_assignments
    from unshuffle.evaluation.knn import knn_loo_accuracy
    from unshuffle.evaluation.metrics import hungarian_accuracy
    from unshuffle.evaluation.report import build_report, write_report
    from unshuffle.runs.layout import RunDir

    run = RunDir(Path(run_dir))
    saved = run.read_config()["config"]
    cfg = saved["temi"]
    if images is None or feats is None:
        from unshuffle.features.backbones import BackboneSpec

        images, feats, _ = features_for(saved["data"]["path"], BackboneSpec.from_dict(saved["backbone"]),
                                     split=saved["data"]["split"], cache_dir=cache_dir or saved.get("cache_dir"))
    clusters, confidence = load_assignments(run.path)
    if len(clusters) != len(feats):
        raise CheckpointError(f"{run.path}: {len(clusters)} assignments for {len(feats)} images")
    k = int(cfg["clusters"])
    km = kmeans_labels(feats, k, seed=int(cfg["seed"]))
    labels = images.labels
    diagnostics, knn_acc = None, None
    if labels is not None:
        knn_acc = knn_loo_accuracy(feats, labels, k=min(20, len(labels) - 1))
        heads = TemiHeads.load(run.path)
        import torch

        with torch.no_grad():
            every = heads.heads(torch.as_tensor(feats)).argmax(-1).numpy()  # (H, N)
        per_head = [hungarian_accuracy(labels, h) for h in every]
        diagnostics = {"best_head_by_accuracy": int(np.argmax(per_head)),
                       "best_head_accuracy": float(max(per_head)),
                       "per_head_accuracy": [round(a, 4) for a in per_head]}
    model_info = TemiHeads.load(run.path).info
    report = build_report({"temi": clusters, "kmeans": km}, k, labels, knn_accuracy=knn_acc,
                          diagnostics=diagnostics,
                          info={"run": str(run.path), "backbone": saved["backbone"]["name"],
                                "selected_head": model_info["best_head"], "selected_epoch": model_info["epoch"],
                                "selection": "lowest training loss after the teacher-temperature warm-up"})
    write_report(report, run.path / "report.json")
    if plots:
        from unshuffle.plots.clusters import cluster_gallery, cluster_size_plot
        from unshuffle.plots.curves import plot_training_curves

        plot_training_curves(run.read_metrics(), run.path / "plots" / "curves.png")
        cluster_gallery(images, clusters, run.path / "plots" / "gallery.png", confidence=confidence)
        cluster_size_plot(clusters, k, run.path / "plots" / "sizes.png")
    return report


def cluster_all(data: str | Path, cfg: TemiConfig | None, out: str | Path, *, backbone: str | None,
                split: str | None = None, cache_dir: str | Path | None = None, force: bool = False,
                resume: bool = False, overwrite: bool = False, progress: bool = False) -> dict:
    """extract -> neighbours -> train -> evaluate -> plots; returns {"train": ..., "report": ...}."""
    summary = train_on_images(data, cfg, out, backbone=backbone, split=split, cache_dir=cache_dir, force=force,
                              resume=resume, overwrite=overwrite, progress=progress)
    report = evaluate_run(out, cache_dir=cache_dir)
    return {"train": summary, "report": report}
