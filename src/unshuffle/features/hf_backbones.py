"""Hugging Face vision backbones (CLIP, SigLIP, DINOv2, DINOv3, ...) by hub id or folder, safetensors only."""

from __future__ import annotations

import contextlib
import json
import pickle
from pathlib import Path
from typing import Any

from torch import nn

from unshuffle.errors import ConfigError, UnsafeFileError, UnshuffleError, brief

# model_type in config.json -> (transformers class, output used as the image vector)
FAMILIES: dict[str, tuple[str, str]] = {
    "clip": ("CLIPVisionModelWithProjection", "image_embeds"),  # the CLIP image embedding (projected)
    "clip_vision_model": ("CLIPVisionModelWithProjection", "image_embeds"),
    "siglip": ("SiglipVisionModel", "pooler_output"),  # attention-pooled image embedding
    "siglip_vision_model": ("SiglipVisionModel", "pooler_output"),
    "dinov2": ("Dinov2Model", "pooler_output"),  # CLS token after the final layer norm
    "dinov2_with_registers": ("Dinov2WithRegistersModel", "pooler_output"),
    "dinov3_vit": ("DINOv3ViTModel", "pooler_output"),
    "dinov3_convnext": ("DINOv3ConvNextModel", "pooler_output"),
}
# models whose image tower needs more than pixel_values (SigLIP 2's NaFlex patches, masks and shapes)
REFUSED = {"siglip2": "SigLIP 2 (NaFlex) needs patch masks and shapes besides the pixels; use a SigLIP model"}
# other model types: AutoModel, its pooler_output when it has one, else the first token of last_hidden_state
GENERIC = ("AutoModel", "pooled-or-cls")
_RESAMPLE = {2: "bilinear", 3: "bicubic"}  # PIL codes used in preprocessor_config.json


def offline() -> bool:
    """True when HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE asks for local files only."""
    import os

    flags = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in flags)


def _read_json(source: str, filename: str, required: bool) -> dict | None:
    """``filename`` of a local folder or a hub repo (JSON only: reading it runs no code)."""
    folder = Path(source)
    if folder.is_dir():
        path = folder / filename
        if not path.is_file():
            if required:
                raise ConfigError(f"{source}: no {filename}; expected a transformers save_pretrained() folder")
            return None
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = Path(hf_hub_download(source, filename, local_files_only=offline()))
        except EntryNotFoundError as e:
            if required:
                raise ConfigError(f"{source}: the hub repo has no {filename}") from e
            return None
        except (OSError, ValueError) as e:  # no network, unknown repo, offline cache miss
            raise _unavailable(source, e) from e
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it as JSON ({e})") from e


def _unavailable(source: str, err: Exception) -> UnshuffleError:
    mode = " (offline mode: HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set)" if offline() else ""
    return UnshuffleError(
        f"Hugging Face model {source!r} is not available{mode}: {err}. Download it once with network access "
        f"(huggingface-cli download {source} --local-dir FOLDER) and pass --backbone FOLDER.")


def family(model_type: str) -> tuple[str, str]:
    """(transformers class name, output) used for ``model_type``; refused types raise ConfigError."""
    if model_type in REFUSED:
        raise ConfigError(f"model_type={model_type!r}: {REFUSED[model_type]}")
    return FAMILIES.get(model_type, GENERIC)


def feature_dim(cfg: dict) -> int:
    """D of the image vector from a config.json dict (projection size for CLIP)."""
    mt = cfg.get("model_type")
    vision = cfg.get("vision_config") if mt in ("clip", "siglip") else None
    if mt == "clip":
        return int(cfg.get("projection_dim", 512))
    if mt == "clip_vision_model":
        return int(cfg.get("projection_dim", 512))
    src = vision if isinstance(vision, dict) else cfg
    if "hidden_size" in src:
        return int(src["hidden_size"])
    if src.get("hidden_sizes"):
        return int(src["hidden_sizes"][-1])
    raise ConfigError(f"config model_type={mt!r} has neither hidden_size nor hidden_sizes; "
                      "cannot tell the feature size")


def preprocessing(pre: dict, where: str) -> dict[str, Any]:
    """BackboneSpec preprocessing fields from a ``preprocessor_config.json`` dict.

    ``size`` {shortest_edge: R} (or an int) resizes the shorter side to R; {height: R, width: R}
    resizes to R x R (aspect not kept, as the model's processor does); then ``crop_size`` is cut
    from the centre when ``do_center_crop``, else the central R x R. Pixels are rescaled by 1/255
    and normalised with image_mean/std (0 and 1 when ``do_normalize`` is false).
    """
    if not pre.get("do_resize", True):
        raise ConfigError(f"{where}: do_resize=false; the model's input size is unknown")
    size = pre.get("size")
    if isinstance(size, dict) and "shortest_edge" in size:
        resize, mode = int(size["shortest_edge"]), "shorter"
    elif isinstance(size, dict) and "height" in size and "width" in size:
        if int(size["height"]) != int(size["width"]):
            raise ConfigError(f"{where}: size {size} is not square; only square inputs are supported")
        resize, mode = int(size["height"]), "square"
    elif isinstance(size, int):
        resize, mode = size, "shorter"
    else:
        raise ConfigError(f"{where}: size={size!r}: expected {{shortest_edge}} or {{height, width}}")
    crop = resize
    if pre.get("do_center_crop"):
        c = pre.get("crop_size", resize)
        if isinstance(c, dict):
            if int(c["height"]) != int(c["width"]):
                raise ConfigError(f"{where}: crop_size {c} is not square")
            c = c["height"]
        crop = int(c)
    if pre.get("do_rescale", True) and abs(float(pre.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        raise ConfigError(f"{where}: rescale_factor={pre.get('rescale_factor')}: only 1/255 is supported")
    if pre.get("do_normalize", True):
        mean = tuple(float(v) for v in pre.get("image_mean", (0.5, 0.5, 0.5)))
        std = tuple(float(v) for v in pre.get("image_std", (0.5, 0.5, 0.5)))
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    resample = pre.get("resample", 3)
    interp = _RESAMPLE.get(int(resample)) if isinstance(resample, int) else None
    if interp is None:
        raise ConfigError(f"{where}: resample={resample!r}; supported are 2 (bilinear) and 3 (bicubic)")
    return {"image_size": crop, "resize_size": max(resize, crop), "mean": mean, "std": std,
            "interpolation": interp, "resize_mode": mode}


def hf_spec_fields(name: str) -> dict[str, Any]:
    """BackboneSpec fields (kind ``hf``) of a hub id or ``save_pretrained`` folder, read from its
    config.json and preprocessor_config.json without loading weights."""
    folder = Path(name)
    source = str(folder.resolve()) if folder.is_dir() else name
    cfg = _read_json(source, "config.json", required=True)
    model_type = str(cfg.get("model_type", ""))
    _, output = family(model_type)
    pre = _read_json(source, "preprocessor_config.json", required=False)
    if pre is None:
        raise ConfigError(f"{source}: no preprocessor_config.json, so the model's preprocessing is unknown; save "
                          "the model's image processor next to it (processor.save_pretrained(FOLDER))")
    return {"name": source if folder.is_dir() else name, "kind": "hf", "source": source, "dim": feature_dim(cfg),
            "pooling": output, **preprocessing(pre, f"{source}/preprocessor_config.json")}


class HfImageFeatures(nn.Module):
    """A transformers vision model as (B, 3, S, S) float32 -> (B, D) float32: the output named by
    ``output`` (``image_embeds``, ``pooler_output``), or for ``pooled-or-cls`` the pooler output
    when the model has one, else the first (CLS) token of the last hidden state."""

    def __init__(self, net: nn.Module, output: str, dim: int):
        super().__init__()
        self.net = net
        self.output = output
        self.feature_dim = dim

    def forward(self, x):
        out = self.net(pixel_values=x)
        if self.output != "pooled-or-cls":
            return getattr(out, self.output)
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None and pooled.ndim == 2:
            return pooled
        return out.last_hidden_state[:, 0]


@contextlib.contextmanager
def _quiet_transformers():
    """Keep transformers' load reports and tips off the terminal (errors still raise)."""
    from transformers.utils import logging as hf_logging

    before, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def load_hf(source: str, dim: int) -> nn.Module:
    """The model at hub id or folder ``source`` giving ``dim``-d vectors, from safetensors weights only,
    with ``trust_remote_code`` off.

    Weights the model needs but the file lacks, or of the wrong shape, raise ConfigError; keys the
    model does not use (the text tower of a full CLIP/SigLIP checkpoint) are ignored on purpose.
    """
    import transformers

    cfg = _read_json(source, "config.json", required=True)
    model_type = str(cfg.get("model_type", ""))
    cls_name, output = family(model_type)
    cls = getattr(transformers, cls_name)
    local = Path(source).is_dir()
    kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": False, "output_loading_info": True,
                              "local_files_only": local or offline()}
    if model_type == "clip":  # the projection size lives in the top-level CLIP config, not the vision one
        vision = dict(cfg.get("vision_config") or {})
        vision["projection_dim"] = int(cfg.get("projection_dim", 512))
        kwargs["config"] = transformers.CLIPVisionConfig(**{k: v for k, v in vision.items() if k != "model_type"})
    try:
        with _quiet_transformers():
            net, info = cls.from_pretrained(source, **kwargs)
    except OSError as e:  # missing safetensors file, no network, unknown repo
        raise _unavailable(source, e) from e
    except RuntimeError as e:  # transformers refuses mismatched shapes
        raise ConfigError(f"{source}: the weights do not fit the config ({e})") from e
    bad = list(info.get("missing_keys", [])) + [str(k) for k in info.get("mismatched_keys", [])]
    if bad:
        raise ConfigError(f"{source}: {len(bad)} weight(s) missing or of the wrong shape, first {bad[:3]}")
    return HfImageFeatures(net, output, dim)


# ---------------------------------------------------------------- DINOv2 (the release's loader)


def weights_missing(source: str, err: Exception) -> UnshuffleError:
    """The error for DINOv2 weights that could not be had, with how to get them."""
    mode = " (offline mode: HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set)" if offline() else ""
    return UnshuffleError(
        f"DINOv2 weights {source!r} are not available{mode}: {err}. Either download them once with "
        f"network access (python -c \"from transformers import AutoModel; AutoModel.from_pretrained('{source}')"
        ".save_pretrained('FOLDER')\") or pass a local model folder as --backbone FOLDER."
    )


def hub_config(source: str):
    """The transformers config of hub id or folder ``source`` (local files only when offline)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, local_files_only=offline())
    except OSError as e:  # transformers reports missing files / no network as OSError
        raise weights_missing(source, e) from e


class Dinov2Features(nn.Module):
    """DINOv2 image vector = the CLS token after the final layer norm (``pooler_output``), as in the
    DINOv2 release and TEMI; patch tokens are dropped. (B, 3, S, S) -> (B, D)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.feature_dim = int(net.config.hidden_size)

    def forward(self, x):
        return self.net(pixel_values=x).pooler_output


def load_dinov2(source: str) -> nn.Module:
    """The DINOv2 model at hub id or folder ``source`` (safetensors only, no remote code), CLS vectors."""
    from transformers import Dinov2Model  # imported only when a DINOv2 backbone is asked for

    local = Path(source).is_dir()
    try:
        net = Dinov2Model.from_pretrained(source, local_files_only=local or offline(), use_safetensors=True,
                                          trust_remote_code=False)
    except OSError as e:  # transformers reports missing files / no network as OSError
        raise weights_missing(source, e) from e
    except pickle.UnpicklingError as e:  # torch.load(weights_only=True) refused what the weight file holds
        raise UnsafeFileError(source, f"refused, the weight file holds objects that are not plain data "
                                      f"({brief(e)})") from e
    except (ValueError, RuntimeError, KeyError) as e:  # config or weights that do not fit a DINOv2 model
        raise ConfigError(f"{source}: not a loadable DINOv2 model ({type(e).__name__}: {e})") from e
    return Dinov2Features(net)
