"""Batched no-grad feature extraction on one device, with a progress bar, to float32 (N, D) arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from unshuffle.data.imageset import ImageSet
from unshuffle.errors import ConfigError, DataFormatError
from unshuffle.features.backbones import BackboneSpec
from unshuffle.features.preprocess import preprocess

if TYPE_CHECKING:
    from torch import nn

# what extraction reads: an ImageSet, a uint8 (N, H, W, 3) array, or a list of uint8 (H, W, 3) arrays
Images = ImageSet | np.ndarray | Sequence[np.ndarray]
# a non-torch engine (ONNX Runtime): float32 (B, 3, S, S) -> float32 (B, D)
ArrayModel = Callable[[np.ndarray], np.ndarray]


def num_images(images: Images) -> int:
    """How many images ``images`` holds."""
    return len(images)


def read_images(images: Images, idx: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """The uint8 (H, W, 3) images at ``idx`` (they may differ in size)."""
    if isinstance(images, ImageSet):
        return [images.image(int(i)) for i in idx]
    return [np.asarray(images[int(i)]) for i in idx]


def extract_features(
    images: Images,
    model: nn.Module | ArrayModel,
    spec: BackboneSpec,
    *,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
    indices: Sequence[int] | np.ndarray | None = None,
    desc: str = "features",
    bar: tqdm | None = None,
) -> np.ndarray:
    """Run ``model`` over ``images`` in batches without gradients.

    Args:
        images: ImageSet, uint8 (N, H, W, 3) array or list of uint8 (H, W, 3) arrays.
        model: from ``load_backbone`` (an nn.Module, moved to ``device``) or an ONNX Runtime engine
            (any callable float32 (B, 3, S, S) numpy -> (B, D) numpy; ``device`` is then ignored).
        spec: the backbone's spec; gives the preprocessing and the expected dimension D.
        batch_size: images per forward pass.
        device: torch device string, e.g. ``"cpu"`` or ``"cuda:0"``.
        progress: show a tqdm bar.
        indices: extract only these image indices (default: all), in this order.
        bar: an open tqdm bar to advance instead of showing a new one (the cache shows one bar for
            all its chunks).

    Returns:
        float32 (n, D) features, row i for ``indices[i]``.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size}: must be >= 1")
    idx = np.arange(num_images(images)) if indices is None else np.asarray(indices, dtype=np.int64)
    if idx.size == 0:
        raise DataFormatError(getattr(images, "source", None), "no images to extract features from")
    run = _torch_runner(model, device) if _is_torch_module(model) else model
    out = np.empty((len(idx), spec.dim), dtype=np.float32)
    own_bar = bar is None
    if own_bar:
        bar = tqdm(total=len(idx), desc=desc, unit="img", disable=not progress)
    try:
        for start in range(0, len(idx), batch_size):
            sel = idx[start : start + batch_size]
            x = preprocess(read_images(images, sel), spec)
            y = np.asarray(run(x), dtype=np.float32)
            if y.shape != (len(sel), spec.dim):
                raise ConfigError(f"backbone {spec.name!r} returned shape {y.shape}, expected ({len(sel)}, {spec.dim})")
            out[start : start + len(sel)] = y
            bar.update(len(sel))
    finally:
        if own_bar:
            bar.close()
    return out


def _is_torch_module(model) -> bool:
    from torch import nn

    return isinstance(model, nn.Module)


def _torch_runner(model: nn.Module, device: str) -> ArrayModel:
    import torch

    model.eval().to(device)

    @torch.no_grad()
    def run(x: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(x).to(device)).float().cpu().numpy()

    return run
