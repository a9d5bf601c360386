"""ONNX Runtime engine for CPU extraction: export a backbone once (keyed by its weights), check it, run it.

Exporting needs the ``onnx`` package (torch's exporter writes through it); running needs
``onnxruntime``; both are installed by default. :func:`cpu_engine` picks the engine: on CPU, built-in
and Hugging Face backbones run through ONNX Runtime automatically (custom ``module:factory`` ones
only when asked); every export is checked once against torch on a probe batch (max absolute
difference <= ``TOLERANCE``) and the result is kept next to the .onnx file. A backbone that does not
export, or whose export disagrees, runs in torch with a warning saying why.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unshuffle.errors import DataFormatError, UnshuffleError
from unshuffle.features.backbones import BackboneSpec
from unshuffle.runs.atomic import atomic_path

if TYPE_CHECKING:
    from torch import nn

OPSET = 17
TOLERANCE = 1e-4  # max absolute difference to torch's features for an export to be used
AUTO_KINDS = ("efficientnet-lite", "dinov2", "hf")  # exported automatically; custom code only on request


def weights_sha256(model: nn.Module) -> str:
    """sha256 hex over the names, dtypes, shapes and bytes of ``model``'s parameters and buffers."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def onnx_path(cache_dir: str | Path, spec: BackboneSpec, weights: str = "") -> Path:
    """Where the exported model lives: ``CACHE_DIR/onnx/<name>-<key16>.onnx``, the key a hash of the
    spec and ``weights`` (:func:`weights_sha256`), so changed weights give a new export."""
    blob = json.dumps({"spec": spec.to_dict(), "weights": weights}, sort_keys=True) if weights else \
        json.dumps(spec.to_dict(), sort_keys=True)
    tag = hashlib.sha256(blob.encode()).hexdigest()[:16]
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
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        # tracing notes, constant-folding notes and the exporter's deprecation notice: not for the user
        for category in (torch.jit.TracerWarning, DeprecationWarning, UserWarning):
            warnings.simplefilter("ignore", category)
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


def onnx_available() -> bool:
    """Whether both onnx (to export) and onnxruntime (to run) can be imported."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def check_against_torch(model: nn.Module, engine: OnnxEngine, spec: BackboneSpec, seed: int = 0) -> float:
    """Max absolute difference between torch's and the engine's features on a seeded (2, 3, S, S) probe."""
    import torch

    x = torch.randn(2, 3, spec.image_size, spec.image_size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = model.eval().cpu()(x).float().numpy()
    return float(np.abs(engine(x.numpy()) - ref).max())


def verified_engine(model: nn.Module, spec: BackboneSpec, cache_dir: str | Path) -> OnnxEngine | None:
    """The checked ONNX engine of ``model`` under ``cache_dir/onnx``, exporting it on first use;
    None (with a warning naming the reason) when it does not export or disagrees with torch."""
    import torch

    from unshuffle.runs.atomic import atomic_write_json

    weights = weights_sha256(model)
    path = onnx_path(cache_dir, spec, weights)
    check = path.with_suffix(".json")
    try:
        verdict = json.loads(check.read_text()) if check.is_file() and path.is_file() else None
    except (OSError, json.JSONDecodeError):
        verdict = None
    if verdict is not None and not verdict.get("ok"):
        warnings.warn(f"ONNX export of {spec.name} was checked before and disagreed with torch "
                      f"(max |diff| {verdict.get('max_abs_diff')}); extracting with torch", stacklevel=3)
        return None
    try:
        engine = onnx_engine(model, spec, path)
    except (RuntimeError, TypeError, ValueError) as e:  # torch's OnnxExporterError is a RuntimeError
        warnings.warn(f"{spec.name} does not export to ONNX ({type(e).__name__}: {str(e)[:200]}); "
                      "extracting with torch", stacklevel=3)
        return None
    if verdict is None:
        diff = check_against_torch(model, engine, spec)
        verdict = {"ok": diff <= TOLERANCE, "max_abs_diff": diff, "tolerance": TOLERANCE,
                   "weights_sha256": weights, "torch": torch.__version__}
        atomic_write_json(check, verdict)
        if not verdict["ok"]:
            warnings.warn(f"ONNX export of {spec.name} differs from torch by {diff:.2e} > {TOLERANCE}; "
                          "extracting with torch", stacklevel=3)
            return None
    return engine


def cpu_engine(model: nn.Module, spec: BackboneSpec, cache_dir: str | Path, *, onnx: bool | None = None,
               device: str = "cpu"):
    """(model or ONNX engine, ``"torch"`` or ``"onnxruntime"``) used to extract ``spec``'s features.

    ``onnx=None`` (auto): ONNX Runtime on CPU for the kinds in ``AUTO_KINDS`` when onnx and
    onnxruntime are installed and the export passes :func:`verified_engine`'s check; ``True``:
    always ONNX Runtime (errors raise); ``False``: torch.
    """
    if onnx:
        return onnx_engine(model, spec, onnx_path(cache_dir, spec, weights_sha256(model))), "onnxruntime"
    if onnx is None and device == "cpu" and spec.kind in AUTO_KINDS and onnx_available():
        engine = verified_engine(model, spec, cache_dir)
        if engine is not None:
            return engine, "onnxruntime"
    return model, "torch"
