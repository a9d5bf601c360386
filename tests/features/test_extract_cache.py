"""Extraction and the feature cache: batching, resume after a kill, keys, checksums, ONNX, DDP, CLI."""

from __future__ import annotations

import dataclasses
import importlib
import json
import textwrap

import numpy as np
import pytest
import torch

from unshuffle.data.imageset import from_array
from unshuffle.errors import ConfigError, DataFormatError
from unshuffle.features.backbones import load_backbone
from unshuffle.features.cache import build_feature_cache, cached_features, entry_dir, load_features
from unshuffle.features.extract import extract_features
from unshuffle.features.preprocess import preprocess

FACTORY = "counting_backbone:make"


@pytest.fixture
def counting(tmp_path, monkeypatch):
    """A tiny custom backbone whose module counts the images it has been run on (and can fail)."""
    (tmp_path / "counting_backbone.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        SEEN = 0          # images forwarded so far
        FAIL_AFTER = None # raise once SEEN would pass this (simulates a killed extraction)

        class Net(nn.Module):
            image_size = 16
            resize_size = 16
            feature_dim = 5

            def __init__(self):
                super().__init__()
                g = torch.Generator().manual_seed(0)
                self.w = nn.Parameter(torch.randn(5, 3 * 16 * 16, generator=g) / 30)

            def forward(self, x):
                global SEEN
                if FAIL_AFTER is not None and SEEN + len(x) > FAIL_AFTER:
                    raise KeyboardInterrupt("killed")
                SEEN += len(x)
                return x.flatten(1) @ self.w.T

        def make():
            return Net()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("counting_backbone")
    yield mod
    mod.SEEN, mod.FAIL_AFTER = 0, None


def test_extract_matches_direct_forward_and_ignores_batch_size(counting, smooth_images):
    model, spec = load_backbone(FACTORY)
    a = extract_features(smooth_images, model, spec, batch_size=5, progress=False)
    b = extract_features(list(smooth_images), model, spec, batch_size=64, progress=False)
    with torch.no_grad():
        ref = model(torch.from_numpy(preprocess(smooth_images, spec))).numpy()
    assert a.shape == (12, 5) and a.dtype == np.float32
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    sub = extract_features(smooth_images, model, spec, indices=[3, 0], progress=False)
    np.testing.assert_allclose(sub, a[[3, 0]], rtol=1e-5, atol=1e-6)


def test_unchanged_rerun_never_calls_the_backbone_and_force_recomputes(counting, smooth_images, tmp_path):
    cache = tmp_path / "cache"
    first = cached_features(smooth_images, FACTORY, cache, batch_size=4, chunk_size=5, progress=False)
    assert counting.SEEN == 12
    again = cached_features(smooth_images, FACTORY, cache, batch_size=4, chunk_size=5, progress=False)
    assert counting.SEEN == 12
    np.testing.assert_array_equal(first, again)
    cached_features(smooth_images, FACTORY, cache, force=True, progress=False)
    assert counting.SEEN == 24
    entry = entry_dir(smooth_images, FACTORY, cache)
    feats, meta = load_features(entry)
    assert meta["n"] == 12 and meta["dim"] == 5 and meta["backbone"]["source"] == FACTORY
    assert meta["engine"] == "torch" and "torch" in meta["versions"]
    assert not (entry / "parts").exists()


def test_editing_one_image_or_the_preprocessing_rebuilds(counting, smooth_images, tmp_path):
    cache = tmp_path / "cache"
    base = cached_features(smooth_images, FACTORY, cache, progress=False)
    edited = smooth_images.copy()
    edited[7, 0, 0, 0] ^= 1  # one bit of one pixel
    feats = cached_features(edited, FACTORY, cache, progress=False)
    assert counting.SEEN == 24
    np.testing.assert_allclose(np.delete(feats, 7, 0), np.delete(base, 7, 0), rtol=1e-6)
    _, spec = load_backbone(FACTORY)
    other = dataclasses.replace(spec, mean=(0.4, 0.4, 0.4))
    cached_features(smooth_images, other, cache, progress=False)
    assert counting.SEEN == 36
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 3


def test_killed_extraction_resumes_at_the_first_missing_chunk(counting, smooth_images, tmp_path):
    cache = tmp_path / "cache"
    counting.FAIL_AFTER = 8  # chunks of 4: two chunks are written, the third one dies
    with pytest.raises(KeyboardInterrupt):
        cached_features(smooth_images, FACTORY, cache, batch_size=2, chunk_size=4, progress=False)
    entry = entry_dir(smooth_images, FACTORY, cache)
    assert len(list((entry / "parts").glob("part-*.npy"))) == 2
    assert not (entry / "features.npy").exists()
    counting.FAIL_AFTER, counting.SEEN = None, 0
    resumed = cached_features(smooth_images, FACTORY, cache, batch_size=2, chunk_size=4, progress=False)
    assert counting.SEEN == 4  # only the missing chunk
    fresh = cached_features(smooth_images, FACTORY, tmp_path / "fresh", progress=False)
    np.testing.assert_allclose(resumed, fresh, rtol=1e-5, atol=1e-6)


def test_damaged_feature_file_is_detected_and_rebuilt_with_a_warning(counting, smooth_images, tmp_path):
    cache = tmp_path / "cache"
    good = cached_features(smooth_images, FACTORY, cache, progress=False)
    path = entry_dir(smooth_images, FACTORY, cache) / "features.npy"
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match="sha256 .* does not match"):
        load_features(path.parent)
    with pytest.warns(UserWarning, match="damaged.*rebuilding"):
        again = cached_features(smooth_images, FACTORY, cache, progress=False)
    assert counting.SEEN == 24
    np.testing.assert_array_equal(again, good)
    (path.parent / "meta.json").write_text("{")
    with pytest.warns(UserWarning, match=r"damaged \(not valid JSON"):
        cached_features(smooth_images, FACTORY, cache, progress=False)
    assert counting.SEEN == 36


def test_onnx_engine_equals_torch(counting, smooth_images, tmp_path):
    pytest.importorskip("onnx", reason="exporting needs the optional onnx package")
    pytest.importorskip("onnxruntime")
    cache = tmp_path / "cache"
    ref = cached_features(smooth_images, FACTORY, tmp_path / "torch", progress=False)
    entry = build_feature_cache(smooth_images, FACTORY, cache, onnx=True, progress=False)
    feats, meta = load_features(entry)
    assert meta["engine"] == "onnxruntime"
    assert len(list((cache / "onnx").glob("*.onnx"))) == 1
    np.testing.assert_allclose(feats, ref, atol=1e-4)


@pytest.mark.slow
def test_two_process_ddp_extraction_equals_single_device(counting, smooth_images, tmp_path):
    one = cached_features(smooth_images, FACTORY, tmp_path / "one", chunk_size=5, progress=False)
    # 3 chunks shared by 2 spawned processes (they import counting_backbone through sys.path)
    two = cached_features(smooth_images, FACTORY, tmp_path / "two", batch_size=2, chunk_size=5, devices=2,
                          progress=False)
    assert counting.SEEN == 12  # the parent process ran only the single-device extraction
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("n", "chunk"), [(5, 1024), (9, 4)])
def test_ddp_extraction_works_for_any_count_and_chunk_size(counting, smooth_images, tmp_path, n, chunk):
    """Fewer images than a chunk (one chunk: runs in one process, no idle DDP process); 9 images in
    chunks of 4 (a count not divisible by the processes, an odd number of chunks, a last chunk of 1
    image, 2 gloo processes): the same features as one process."""
    images = np.concatenate([smooth_images, smooth_images[:, ::-1]])[:n]
    one = cached_features(images, FACTORY, tmp_path / "one", chunk_size=chunk, progress=False)
    two = cached_features(images, FACTORY, tmp_path / "two", chunk_size=chunk, devices=2, progress=False)
    assert two.shape == (n, 5)
    # one chunk: the parent extracted it (SEEN counts the parent's images); two chunks or more: the spawned
    # processes did
    assert counting.SEEN == (2 * n if n <= chunk else n)
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)


def test_cli_extract_then_neighbors(counting, smooth_images, tmp_path, capsys):
    from unshuffle.cli.main import main

    data = tmp_path / "imgs.npz"
    np.savez(data, images=smooth_images)
    cache = tmp_path / "cache"
    assert main(["cluster", "extract", str(data), "--backbone", FACTORY, "--cache-dir", str(cache),
                 "--batch-size", "5"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n"] == 12 and info["dim"] == 5
    assert main(["cluster", "neighbors", info["entry"], "--k", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    idx = np.load(out["neighbors"], allow_pickle=False)
    assert idx.shape == (12, 3) and not (idx == np.arange(12)[:, None]).any()
    assert counting.SEEN == 12


def test_ddp_path_refuses_more_processes_than_chunks(tmp_path):
    """An idle DDP process is never started: the DDP path refuses fewer chunks than processes."""
    from unshuffle.features.distributed_extract import extract_parts_ddp

    images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ConfigError, match="at most one process per chunk"):
        extract_parts_ddp(from_array(images), FACTORY, [(0, 3)], tmp_path, devices=2)
