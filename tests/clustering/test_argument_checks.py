"""Arguments are checked before any feature is extracted; failures leave no cache entry; third-party
chatter goes to the run folder, not the terminal."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from PIL import Image

from unshuffle.cli.main import build_parser, main
from unshuffle.clustering.config import load_config
from unshuffle.clustering.pipeline import check_cluster_count, cluster_all
from unshuffle.errors import ConfigError, DataFormatError

# a backbone that cannot even be resolved: any extraction attempt would fail with another message
NEVER_LOADED = "no_such_module_here:make"


def _folder(tmp_path, n):
    root = tmp_path / f"imgs{n}"
    root.mkdir()
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / f"{i}.png")
    return root


def test_one_image_for_ten_clusters_fails_before_extraction(tmp_path):
    cfg = load_config(None, ["clusters=10"])
    with pytest.raises(ConfigError, match="holds 1 image; clustering needs at least 2"):
        cluster_all(_folder(tmp_path, 1), cfg, tmp_path / "run", backbone=NEVER_LOADED, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists() and not (tmp_path / "run").exists()


def test_more_clusters_than_images_names_both_numbers(tmp_path, capsys):
    data = _folder(tmp_path, 3)
    rc = main(["cluster", "all", str(data), "--clusters", "5", "--backbone", NEVER_LOADED, "--out",
               str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "--clusters 5 but" in err and "only 3 images" in err
    assert not (tmp_path / "c").exists()


def test_k_below_two_and_empty_folders_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="clusters must be in"):
        load_config(None, ["clusters=1"])
    with pytest.raises(ConfigError, match="at least 2"):
        check_cluster_count(10, 1, "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="empty folder"):
        cluster_all(tmp_path / "empty", load_config(None, ["clusters=2"]), tmp_path / "run", backbone=NEVER_LOADED)


def test_a_failed_extraction_leaves_no_partial_cache_entry(tmp_path, smooth_images, write_backbone, monkeypatch):
    from unshuffle.features.cache import build_feature_cache

    write_backbone(tmp_path / "mods", "grid_bb_fail")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    import unshuffle.features.extract as extract

    calls = {"n": 0}
    real = extract.read_images

    def failing(images, idx):
        calls["n"] += 1
        if calls["n"] > 1:
            raise DataFormatError("img", "broken on purpose")
        return real(images, idx)

    monkeypatch.setattr(extract, "read_images", failing)
    with pytest.raises(DataFormatError, match="broken on purpose"):
        build_feature_cache(smooth_images, "grid_bb_fail:make", tmp_path / "c", chunk_size=4, batch_size=4,
                            progress=False, onnx=False)
    assert [p for p in (tmp_path / "c").iterdir() if p.name != "onnx"] == []


def test_predict_takes_the_progress_flags_of_all():
    p = build_parser()
    assert p.parse_args(["cluster", "predict", "r", "i", "--out", "o.csv", "--no-progress"]).progress is False
    assert p.parse_args(["cluster", "all", "d", "--out", "r", "--no-progress"]).progress is False


def test_third_party_lines_and_warnings_go_to_the_run_log(tmp_path, capsys):
    from unshuffle.runs.console import LOG_NAME, third_party_to_run_log

    logging.getLogger("lightning.pytorch").addHandler(logging.StreamHandler())
    (tmp_path / "run").mkdir()
    with third_party_to_run_log(tmp_path / "run"):
        logging.getLogger("lightning.pytorch.trainer").info("Tip: install litlogger")
        warnings.warn_explicit("old API", UserWarning, "/site-packages/lightning/x.py", 1)
    err = capsys.readouterr().err
    assert "litlogger" not in err and "old API" not in err
    text = (tmp_path / "run" / LOG_NAME).read_text()
    assert "litlogger" in text and "old API" in text
