"""Hugging Face backbones built offline from tiny random configs: CLIP, SigLIP, DINOv2, DINOv3 by folder,
preprocessing read from preprocessor_config.json, safetensors only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from unshuffle.errors import ConfigError, UnshuffleError
from unshuffle.features.backbones import BackboneSpec, load_backbone, resolve_spec
from unshuffle.features.extract import extract_features
from unshuffle.features.preprocess import preprocess

transformers = pytest.importorskip("transformers")

SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
         "image_size": 32, "patch_size": 8}
TEXT = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "vocab_size": 64}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CLIP_PRE = {"do_resize": True, "size": {"shortest_edge": 40}, "do_center_crop": True,
            "crop_size": {"height": 32, "width": 32}, "resample": 3, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711], "image_processor_type": "CLIPImageProcessor"}
SQUARE_PRE = {"do_resize": True, "size": {"height": 32, "width": 32}, "resample": 2, "do_rescale": True,
              "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
              "image_processor_type": "SiglipImageProcessor"}
# as on the hub for facebook/dinov3-vits16-pretrain-lvd1689m, at 32 px
DINOV3_PRE = {"crop_size": None, "do_center_crop": None, "do_normalize": True, "do_rescale": True, "do_resize": True,
              "image_mean": MEAN, "image_std": STD, "image_processor_type": "DINOv3ViTImageProcessorFast",
              "resample": 2, "rescale_factor": 1 / 255, "size": {"height": 32, "width": 32}}


def _save(model, folder, pre: dict):
    torch.manual_seed(0)
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(pre))
    return folder


def _build(family: str, folder):
    t = transformers
    torch.manual_seed(0)
    if family == "clip-vision":
        model = t.CLIPVisionModelWithProjection(t.CLIPVisionConfig(projection_dim=16, **SMALL))
        return _save(model, folder, CLIP_PRE), 16
    if family == "clip-full":
        cfg = t.CLIPConfig(vision_config=SMALL, text_config=TEXT, projection_dim=8)
        return _save(t.CLIPModel(cfg), folder, CLIP_PRE), 8
    if family == "siglip-vision":
        return _save(t.SiglipVisionModel(t.SiglipVisionConfig(**SMALL)), folder, SQUARE_PRE), 32
    if family == "siglip-full":
        return _save(t.SiglipModel(t.SiglipConfig(vision_config=SMALL, text_config=TEXT)), folder, SQUARE_PRE), 32
    if family == "dinov2":
        pre = {**CLIP_PRE, "image_mean": MEAN, "image_std": STD, "image_processor_type": "BitImageProcessor"}
        return _save(t.Dinov2Model(t.Dinov2Config(mlp_ratio=2, **{k: v for k, v in SMALL.items()
                                                                    if k != "intermediate_size"})), folder, pre), 32
    if family == "dinov3":
        return _save(t.DINOv3ViTModel(t.DINOv3ViTConfig(**SMALL)), folder, DINOV3_PRE), 32
    raise AssertionError(family)


FAMILIES = ["clip-vision", "clip-full", "siglip-vision", "siglip-full", "dinov2", "dinov3"]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_loads_from_a_folder_and_embeds_images(tmp_path, family):
    folder, dim = _build(family, tmp_path / family)
    spec = resolve_spec(str(folder))
    assert spec.dim == dim and spec.image_size == 32
    assert spec.kind == ("dinov2" if family == "dinov2" else "hf")
    model, spec2 = load_backbone(str(folder))
    assert spec2 == spec and not any(p.requires_grad for p in model.parameters())
    imgs = np.random.default_rng(0).integers(0, 256, size=(3, 48, 40, 3), dtype=np.uint8)
    feats = extract_features(imgs, model, spec, batch_size=2, progress=False)
    assert feats.shape == (3, dim) and np.isfinite(feats).all() and np.ptp(feats, axis=0).max() > 0
    # the spec round-trips through a run record and rebuilds the same model
    again = BackboneSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    np.testing.assert_allclose(extract_features(imgs, load_backbone(again)[0], again, progress=False), feats,
                               atol=1e-5)


def test_preprocessing_is_read_from_the_processor_config(tmp_path):
    clip = resolve_spec(str(_build("clip-vision", tmp_path / "c")[0]))
    assert (clip.resize_size, clip.image_size, clip.interpolation, clip.resize_mode) == (40, 32, "bicubic", "shorter")
    assert clip.mean == tuple(CLIP_PRE["image_mean"])
    sig = resolve_spec(str(_build("siglip-vision", tmp_path / "s")[0]))
    assert (sig.resize_size, sig.image_size, sig.interpolation, sig.resize_mode) == (32, 32, "bilinear", "square")
    assert sig.pooling == "pooler_output" and clip.pooling == "image_embeds"
    dv3 = resolve_spec(str(_build("dinov3", tmp_path / "d")[0]))
    assert (dv3.resize_mode, dv3.mean) == ("square", tuple(MEAN))
    assert "resize_mode" not in clip.to_dict() and sig.to_dict()["resize_mode"] == "square"


@pytest.mark.parametrize("processor, pre, shape", [
    ("CLIPImageProcessor", CLIP_PRE, (50, 50, 3)), ("CLIPImageProcessor", CLIP_PRE, (40, 60, 3)),
    ("SiglipImageProcessor", SQUARE_PRE, (45, 70, 3))])
def test_our_pixels_match_the_transformers_pil_processor(tmp_path, processor, pre, shape):
    from PIL import Image

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "clip_vision_model", "projection_dim": 4}))
    (folder / "preprocessor_config.json").write_text(json.dumps(pre))
    spec = resolve_spec(str(folder))
    img = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    proc = getattr(transformers, processor)(**{k: v for k, v in pre.items() if k != "image_processor_type"})
    theirs = np.asarray(proc(images=Image.fromarray(img), return_tensors="np")["pixel_values"], dtype=np.float32)
    np.testing.assert_allclose(preprocess([img], spec), theirs, atol=1e-4)


def test_weights_load_from_safetensors_only(tmp_path):
    folder, _ = _build("siglip-vision", tmp_path / "m")
    from safetensors.torch import load_file

    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    spec = resolve_spec(str(folder))  # reading the config is fine
    with pytest.raises(UnshuffleError, match="not available"):
        load_backbone(spec)


def test_refused_and_unknown_configs_say_why(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "siglip2"}))
    (folder / "preprocessor_config.json").write_text(json.dumps(SQUARE_PRE))
    with pytest.raises(ConfigError, match="NaFlex"):
        resolve_spec(str(folder))
    (folder / "config.json").write_text(json.dumps({"model_type": "siglip_vision_model", "hidden_size": 8}))
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(ConfigError, match="preprocessor_config.json"):
        resolve_spec(str(folder))
    (folder / "preprocessor_config.json").write_text(json.dumps({**SQUARE_PRE, "resample": 0}))
    with pytest.raises(ConfigError, match="resample"):
        resolve_spec(str(folder))


def test_cpu_extraction_uses_a_checked_onnx_export_automatically(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from unshuffle.features.cache import build_feature_cache, load_features
    from unshuffle.features.onnx_runtime import check_against_torch, cpu_engine

    folder, _ = _build("siglip-vision", tmp_path / "m")
    imgs = np.random.default_rng(0).integers(0, 256, size=(5, 40, 40, 3), dtype=np.uint8)
    entry = build_feature_cache(imgs, str(folder), tmp_path / "cache", progress=False)
    feats, meta = load_features(entry)
    assert meta["engine"] == "onnxruntime" and "onnxruntime" in meta["versions"]
    exported = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    verdict = json.loads(exported[0].with_suffix(".json").read_text())
    assert len(exported) == 1 and verdict["ok"] and verdict["max_abs_diff"] <= 1e-4
    model, spec = load_backbone(str(folder))
    np.testing.assert_allclose(feats, extract_features(imgs, model, spec, progress=False), atol=1e-4)
    engine, name = cpu_engine(model, spec, tmp_path / "cache")  # a second use reuses the export
    assert name == "onnxruntime" and check_against_torch(model, engine, spec, seed=3) <= 1e-4
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1
    with torch.no_grad():  # other weights, another export
        next(model.parameters()).add_(1.0)
    cpu_engine(model, spec, tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 2
    assert cpu_engine(model, spec, tmp_path / "cache", onnx=False)[1] == "torch"


@pytest.mark.parametrize("family", ["clip-full", "dinov2", "dinov3"])
def test_each_family_exports_to_onnx_within_1e4_of_torch(tmp_path, family):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from unshuffle.features.onnx_runtime import check_against_torch, verified_engine

    model, spec = load_backbone(str(_build(family, tmp_path / "m")[0]))
    engine = verified_engine(model, spec, tmp_path / "cache")
    assert engine is not None and check_against_torch(model, engine, spec, seed=7) <= 1e-4
