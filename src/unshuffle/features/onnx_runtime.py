"""Optional ONNX Runtime engine for CPU extraction: export a backbone once, run it with onnxruntime.

Exporting needs the ``onnx`` package (torch's exporter writes through it); running needs
``onnxruntime``. Both are optional: ``pip install onnx onnxruntime``. Tested with EfficientNet-Lite
and plain custom modules (features equal torch's to 1e-4).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unshuffle.errors import DataFormatError, UnshuffleError
from unshuffle.features.backbones import BackboneSpec
from unshuffle.runs.atomic import atomic_path

if TYPE_CHECKING:
    from torch import nn

OPSET = 17


def onnx_path(cache_dir: str | Path, spec: BackboneSpec) -> Path:
    """Where the exported model of ``spec`` lives: ``CACHE_DIR/onnx/<name>-<spec16>.onnx``."""
    tag = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(spec.name.rstrip("/")).name)[:48]
    return Path(cache_dir) / "onnx" / f"{safe}-{tag}.onnx"


def export_onnx(model: nn.Module, spec: BackboneSpec, path: str | Path) -> Path:
    """Export ``model`` ((B, 3, S, S) float32 -> (B, D) float32, dynamic B) to ``path`` atomically."""
    import torch

    try:
        import onnx  # noqa: F401  (torch's exporter needs it to write the file)
    except ModuleNotFoundError as e:
        raise UnshuffleError("ONNX export needs the 'onnx' package: pip install onnx (or run without --onnx)") from e
    path = Path(path)
    x = torch.zeros(2, 3, spec.image_size, spec.image_size)
    model = model.eval().cpu()
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(model, (x,), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=["images"], output_names=["features"],
                          dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}})
    return path


class OnnxEngine:
    """Callable float32 (B, 3, S, S) numpy -> float32 (B, D) numpy through an ONNX Runtime session.

    Args:
        path: the exported .onnx file.
        threads: intra-op threads (None: onnxruntime's default, all cores).
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ModuleNotFoundError as e:
            raise UnshuffleError("the ONNX engine needs onnxruntime: pip install onnxruntime") from e
        self.path = Path(path)
        if not self.path.is_file():
            raise DataFormatError(self.path, "ONNX model file not found")
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float32)


def onnx_engine(model: nn.Module, spec: BackboneSpec, path: str | Path, threads: int | None = None) -> OnnxEngine:
    """The ONNX engine for ``model``, exporting it to ``path`` first when that file does not exist."""
    path = Path(path)
    if not path.is_file():
        export_onnx(model, spec, path)
    return OnnxEngine(path, threads)
