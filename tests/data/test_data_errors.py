"""Tests of .npz input and of the errors for missing, empty, corrupt, truncated and mis-shaped data."""

from __future__ import annotations

import numpy as np
import pytest
from data_trees import png, random_images, tar_tree, write_tree, zip_tree

from unshuffle.data import open_images
from unshuffle.errors import ConfigError, DataFormatError, UnshuffleError

# ---------------------------------------------------------------- .npz


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_images_labels_and_names(tmp_path, compressed):
    imgs = random_images(6, seed=1)
    labels = np.array([2, 0, 1, 1, 0, 2], dtype=np.int32)
    p = tmp_path / "set.npz"
    (np.savez_compressed if compressed else np.savez)(p, images=imgs, labels=labels,
                                                      class_names=np.array(["a", "b", "c"]))
    ds = open_images(p)
    assert ds.format == "npz" and len(ds) == 6 and ds.class_names == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.images(range(6)), imgs)
    np.testing.assert_array_equal(ds.labels, labels)
    # uncompressed members are memory-mapped, not loaded
    assert isinstance(ds._reader.array, np.memmap) is (not compressed)


def test_npz_greyscale_without_labels(tmp_path):
    grey = random_images(3)[..., 0]
    p = tmp_path / "g.npz"
    np.savez(p, x=grey)
    ds = open_images(p)
    assert ds.labels is None
    np.testing.assert_array_equal(ds.image(1), np.repeat(grey[1][:, :, None], 3, axis=2))


def test_npz_fingerprint_follows_bytes(tmp_path):
    imgs = random_images(3)
    np.savez(tmp_path / "a.npz", images=imgs)
    imgs[2, 1, 1, 1] ^= 4
    np.savez(tmp_path / "b.npz", images=imgs)
    assert open_images(tmp_path / "a.npz").fingerprint() != open_images(tmp_path / "b.npz").fingerprint()


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((2, 4, 4, 3), np.float32)}, "'images' must be uint8, got float32"),
        ({"images": np.zeros((2, 4), np.uint8)}, r"expected exactly one \(N, H, W, C\) image array"),
        ({"a": np.zeros((2, 4, 4, 3), np.uint8), "b": np.zeros((2, 4, 4, 3), np.uint8)}, "exactly one"),
        ({"images": np.zeros((2, 4, 4, 5), np.uint8)}, "expected 1, 3 or 4 channels"),
        ({"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.array([0, 1, 2])}, "'labels' must be N=2"),
        ({"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.array([0.5, 1.0])}, "'labels' must be N=2"),
        ({"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.array([0, -1])}, "negative"),
        ({"images": np.zeros((2, 4, 4, 3), np.uint8), "labels": np.array([0, 3]),
          "class_names": np.array(["a", "b"])}, "2 class names for labels up to 3"),
    ],
)
def test_npz_mis_shaped(tmp_path, arrays, message):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(DataFormatError, match=rf"bad\.npz: .*{message}"):
        open_images(p)


def test_npz_truncated_and_object_arrays(tmp_path):
    p = tmp_path / "t.npz"
    np.savez(p, images=random_images(4))
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(DataFormatError, match=r"t\.npz: truncated or corrupt \.npz"):
        open_images(p)
    q = tmp_path / "o.npz"
    np.savez(q, images=np.array([object(), 1], dtype=object))
    with pytest.raises(DataFormatError, match=r"o\.npz"):
        open_images(q)


# ---------------------------------------------------------------- paths, folders, archives


def test_missing_path(tmp_path):
    with pytest.raises(DataFormatError, match=r"nowhere: does not exist"):
        open_images(tmp_path / "nowhere")


def test_empty_folder_and_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="empty: is an empty folder"):
        open_images(tmp_path / "empty")
    write_tree(tmp_path / "txt", {"a.txt": b"1", "sub/b.csv": b"2"})
    with pytest.raises(DataFormatError, match=r"txt: contains no image files \(2 other files"):
        open_images(tmp_path / "txt")


def test_empty_and_unknown_files(tmp_path):
    (tmp_path / "e.tar.gz").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"e\.tar\.gz: is an empty file"):
        open_images(tmp_path / "e.tar.gz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataFormatError, match=r"notes\.txt: unknown file type"):
        open_images(tmp_path / "notes.txt")


def test_truncated_and_corrupt_archives(tmp_path):
    files = {f"{k}.png": png(img) for k, img in enumerate(random_images(20, size=16))}
    good = tar_tree(tmp_path / "g.tar.gz", files).read_bytes()
    (tmp_path / "t.tar.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFormatError, match=r"t\.tar\.gz: truncated or corrupt archive"):
        open_images(tmp_path / "t.tar.gz")
    z = zip_tree(tmp_path / "g.zip", files).read_bytes()
    (tmp_path / "t.zip").write_bytes(z[: len(z) - 30])  # central directory cut
    with pytest.raises(DataFormatError, match=r"t\.zip: truncated or corrupt zip"):
        open_images(tmp_path / "t.zip")
    tar_tree(tmp_path / "empty.tar.gz", {})
    with pytest.raises(DataFormatError, match=r"empty\.tar\.gz: is empty \(no files\)"):
        open_images(tmp_path / "empty.tar.gz")


def test_layout_errors(tmp_path):
    img = png(random_images(1)[0])
    write_tree(tmp_path / "mixed", {"top.png": img, "cls/a.png": img})
    with pytest.raises(DataFormatError, match="mixes images at the top level"):
        open_images(tmp_path / "mixed")
    write_tree(tmp_path / "s", {"train/a/x.png": img, "val/a/y.png": img})
    with pytest.raises(ConfigError, match=r"has no 'test' split \(it has train, val\)"):
        open_images(tmp_path / "s", split="test")
    write_tree(tmp_path / "flat", {"x.png": img})
    with pytest.raises(ConfigError, match="has no train/val/test folders"):
        open_images(tmp_path / "flat", split="train")
    with pytest.raises(ConfigError, match="split: expected train, val or test"):
        open_images(tmp_path / "flat", split="dev")
    write_tree(tmp_path / "w", {"wnids.txt": b"a\n", "train/a/x.png": img, "train/b/y.png": img})
    with pytest.raises(DataFormatError, match=r"classes \['b'\] are not listed in wnids.txt"):
        open_images(tmp_path / "w")
    write_tree(tmp_path / "ann", {"val/images/v0.JPEG": img, "val/images/v1.JPEG": img,
                                  "val/val_annotations.txt": b"v0.JPEG\tn01\t0\t0\t1\t1\n"})
    with pytest.raises(DataFormatError, match=r"val_annotations.txt: has no label for images/v1.JPEG"):
        open_images(tmp_path / "ann" / "val")


def test_every_error_is_in_the_family(tmp_path):
    for bad in (tmp_path / "missing", tmp_path):
        with pytest.raises(UnshuffleError):
            open_images(bad)
