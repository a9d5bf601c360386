"""The learned edge pair model: training pairs, factorised scores, safe save/load, Lightning training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from unshuffle.errors import CheckpointError
from unshuffle.fragments.learned.pair_data import DamageMix, draw_batch
from unshuffle.fragments.learned.pair_model import (
    EdgePairModel,
    learned_features,
    load_pair_model,
    save_pair_model,
    to_tensor,
)

CLEAN = DamageMix(noise=0.0, jpeg=0.0, eroded=0.0)


def _coordinate_images(n: int = 3, side: int = 48) -> np.ndarray:
    """Images whose pixel (y, x) holds (y, x, image index): every crop says where it came from."""
    y, x = np.mgrid[:side, :side]
    return np.stack([np.stack([y, x, np.full_like(y, i)], axis=-1) for i in range(n)]).astype(np.uint8)


def test_training_pairs_are_side_by_side_crops_of_one_image():
    imgs = _coordinate_images()
    for step in range(5):
        b = draw_batch(imgs, step, seed=3, images_per_batch=4, pairs_per_image=3, size=8, mix=CLEAN)
        assert b["gap"] == 0.0 and b["left"].shape == (12, 3, 8, 8)
        left = np.rint(b["left"].numpy() * 255).astype(int)
        right = np.rint(b["right"].numpy() * 255).astype(int)
        # the left crop's last column and the right crop's first column are neighbouring pixels
        dy = left[:, 0, :, -1] - right[:, 0, :, 0]
        dx = left[:, 1, :, -1] - right[:, 1, :, 0]
        assert ((np.abs(dy) + np.abs(dx)) == 1).all()
        assert (left[:, 2] == right[:, 2]).all()  # same source image


def test_training_batches_are_a_pure_function_of_seed_and_step():
    imgs = _coordinate_images()
    mix = DamageMix(noise=0.5, jpeg=0.5, eroded=0.5)
    a = draw_batch(imgs, 7, seed=1, images_per_batch=4, size=8, mix=mix)
    b = draw_batch(imgs, 7, seed=1, images_per_batch=4, size=8, mix=mix)
    c = draw_batch(imgs, 8, seed=1, images_per_batch=4, size=8, mix=mix)
    assert torch.equal(a["left"], b["left"]) and torch.equal(a["right"], b["right"]) and a["gap"] == b["gap"]
    assert a["left"].shape != c["left"].shape or not torch.equal(a["left"], c["left"])


def test_eroded_batches_are_cropped_and_flagged():
    imgs = _coordinate_images()
    b = draw_batch(imgs, 0, images_per_batch=2, size=8, mix=DamageMix(noise=0.0, jpeg=0.0, eroded=1.0))
    assert b["gap"] == 1.0 and b["left"].shape[-2:] == (6, 6)


def test_learned_features_factorise_one_minus_cosine():
    torch.manual_seed(0)
    model = EdgePairModel(width=4, dim=8, band=3, size=8).eval()
    pieces = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    q, k = learned_features(model, pieces, gap=1.0)
    with torch.no_grad():
        logits = model(to_tensor(pieces), to_tensor(pieces), 1.0) / model.log_scale.exp()
    np.testing.assert_allclose(q @ k.T, 1.0 - logits.double().numpy(), atol=1e-5)
    assert (q @ k.T >= -1e-6).all() and (q @ k.T <= 2 + 1e-6).all()


def test_other_fragment_sizes_are_resized():
    model = EdgePairModel(width=4, dim=8, band=3, size=8).eval()
    q, _ = learned_features(model, np.zeros((2, 14, 14, 3), np.uint8))
    assert q.shape == (2, 9)


def test_save_load_gives_identical_embeddings(tmp_path):
    torch.manual_seed(1)
    model = EdgePairModel(width=4, dim=8, band=3, size=8).eval()
    path = tmp_path / "m.npz"
    save_pair_model(model, path, meta={"note": "test"})
    loaded = load_pair_model(path)
    pieces = np.random.default_rng(1).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    for gap in (0.0, 1.0):
        a = learned_features(model, pieces, gap)
        b = learned_features(loaded, pieces, gap)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert loaded.meta == {"note": "test"} and loaded.arch() == model.arch()


def test_loader_refuses_pickles_and_foreign_files(tmp_path):
    obj = tmp_path / "obj.npz"
    np.savez(obj, header=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(CheckpointError, match="obj.npz"):
        load_pair_model(obj)
    other = tmp_path / "other.npz"
    np.savez(other, header=np.frombuffer(json.dumps({"format": "nope"}).encode(), np.uint8))
    with pytest.raises(CheckpointError, match="not a pair model"):
        load_pair_model(other)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="junk.npz"):
        load_pair_model(junk)
    with pytest.raises(CheckpointError, match="not found"):
        load_pair_model(tmp_path / "missing.npz")


def test_loader_refuses_weights_of_another_shape(tmp_path):
    path = tmp_path / "m.npz"
    save_pair_model(EdgePairModel(width=4, dim=8, band=3, size=8), path)
    with np.load(path) as z:
        arrays = {key: z[key] for key in z.files}
    header = json.loads(bytes(arrays["header"]).decode())
    header["arch"]["dim"] = 16
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_pair_model(bad)


def test_shipped_model_loads_and_ranks_true_neighbours_first():
    from unshuffle.data.embedded import demo_images
    from unshuffle.fragments.bags.sampling import cut_grid

    model = load_pair_model(None)
    imgs = demo_images(64).images(np.arange(3))
    pieces = cut_grid(imgs, 4).reshape(-1, 16, 16, 3)  # image, row, col order
    q, k = learned_features(model, pieces)
    d = q @ k.T
    np.fill_diagonal(d, np.inf)
    idx = np.arange(len(pieces)).reshape(3, 4, 4)
    left, right = idx[:, :, :-1].ravel(), idx[:, :, 1:].ravel()
    hits = (d[left].argmin(axis=1) == right).mean()
    assert hits >= 0.8, hits
