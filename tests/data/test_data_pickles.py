"""Tests of the restricted unpickler and the pickled-batch formats (CIFAR-10/100, Downsampled ImageNet)."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from data_trees import planes, py2_pickle, random_images, tar_tree, write_tree

from unshuffle.data import open_images
from unshuffle.data import pickle_batches as pb
from unshuffle.data.safe_pickle import safe_loads
from unshuffle.errors import ConfigError, DataFormatError, UnsafeFileError

# ---------------------------------------------------------------- restricted unpickler


class _Evil:
    """Unpickling this would call ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _marker_payloads(marker: Path) -> list[tuple[str, object]]:
    return [
        ("posix.system", _Evil(os.system, f"touch {marker}")),
        ("builtins.open", _Evil(open, str(marker), "w")),
        ("builtins.eval", _Evil(eval, f"open({str(marker)!r}, 'w')")),
        ("builtins.exec", _Evil(exec, f"open({str(marker)!r}, 'w')")),
    ]


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("which", range(4))
def test_malicious_pickle_refused_and_nothing_runs(tmp_path, protocol, which):
    marker = tmp_path / "marker"
    refused, payload = _marker_payloads(marker)[which]
    data = pickle.dumps({"data": payload}, protocol=protocol)
    with pytest.raises(UnsafeFileError, match=rf"evil\.pkl: .*{refused.split('.')[-1]}.*not on the allowlist"):
        safe_loads(data, "evil.pkl")
    assert not marker.exists()


def test_malicious_batch_file_refused_through_open_images(tmp_path):
    marker = tmp_path / "marker"
    bad = tmp_path / "val_data"
    bad.write_bytes(pickle.dumps({"data": _Evil(os.system, f"touch {marker}"), "labels": [1]}, protocol=2))
    with pytest.raises(UnsafeFileError, match="val_data"):
        open_images(bad)
    assert not marker.exists()


def test_codecs_encode_only_latin1():
    ok = pickle.dumps(b"\x00\xffab", protocol=2)  # py3 protocol 2 writes bytes via _codecs.encode
    assert safe_loads(ok, "x") == b"\x00\xffab"
    bad = ok.replace(b"latin1", b"rot_13")
    with pytest.raises(UnsafeFileError, match="only latin1"):
        safe_loads(bad, "x")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_payloads_round_trip(protocol):
    obj = {"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "m": np.float32(2.5), "t": np.dtype("<f4"),
           "s": {1, 2}, "f": np.asfortranarray(np.ones((2, 3)))}
    back = safe_loads(pickle.dumps(obj, protocol=protocol), "x")
    np.testing.assert_array_equal(back["a"], obj["a"])
    assert back["m"] == np.float32(2.5) and back["t"] == np.dtype("<f4") and back["s"] == {1, 2}
    np.testing.assert_array_equal(back["f"], obj["f"])


def test_py2_numpy1_pickle_is_read():
    data = py2_pickle({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2]})
    assert b"numpy.core.multiarray" in data
    back = safe_loads(data, "x")
    np.testing.assert_array_equal(back["data"], [[0, 1, 2], [3, 4, 5]])


def test_a_huge_memo_index_does_not_allocate():
    """LONG_BINPUT 2**26: the C unpickler sized its memo array by it (1 GB for these 12 bytes; the
    fuzz suite found a 4 KB batch file taking 1.6 GB); the dict memo stores one entry."""
    import tracemalloc

    tracemalloc.start()
    try:
        assert safe_loads(b"\x80\x02}r\x00\x00\x00\x04.", "x") == {}
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_a_malformed_dtype_state_is_a_format_error():
    """numpy's dtype.__setstate__ raises SystemError for this byte order (fuzz: one length byte edited)."""
    good = pickle.dumps(np.dtype("u1"), protocol=2)
    bad = good.replace(b"X\x01\x00\x00\x00|", b"X\x06\x00\x00\x00|")  # the string eats the next 5 bytes
    assert bad != good
    with pytest.raises(DataFormatError, match="x: truncated or corrupt pickle"):
        safe_loads(bad, "x")


def test_labels_that_are_not_integers_are_refused():
    """Complex, NaN and fractional labels were cast to int64 silently (fuzz: a ComplexWarning)."""
    data = np.zeros((2, 12), np.uint8)
    for labels in ([1 + 2j, 2], [float("nan"), 1], [1.5, 2]):
        with pytest.raises(DataFormatError, match="w: 'labels' must be a list of integers, got"):
            pb.check_batch({"data": data, "labels": labels}, "w", ("labels",))
    for labels in ([1, 2], [1.0, 2.0], np.array([1, 2], np.uint8)):
        assert pb.check_batch({"data": data, "labels": labels}, "w", ("labels",))[1].tolist() == [1, 2]


def test_truncated_pickle_is_a_format_error():
    data = pickle.dumps({"data": np.zeros((4, 12), np.uint8), "labels": [1] * 4}, protocol=4)
    with pytest.raises(DataFormatError, match="b.pkl: truncated or corrupt pickle"):
        safe_loads(data[: len(data) // 2], "b.pkl")


# ---------------------------------------------------------------- CIFAR

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _cifar10_files(images: np.ndarray, labels: np.ndarray) -> dict[str, bytes]:
    """Official cifar-10-batches-py layout: 5 train batches of 3, a test batch of 5 (20 images)."""
    files = {"cifar-10-batches-py/batches.meta": py2_pickle(
        {b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_cases_per_batch": 3, b"num_vis": 3072})}
    for k in range(5):
        sl = slice(3 * k, 3 * k + 3)
        files[f"cifar-10-batches-py/data_batch_{k + 1}"] = py2_pickle(
            {b"batch_label": b"training batch", b"labels": labels[sl].tolist(), b"data": planes(images[sl]),
             b"filenames": [b"x.png"] * 3})
    files["cifar-10-batches-py/test_batch"] = py2_pickle(
        {b"batch_label": b"testing batch", b"labels": labels[15:].tolist(), b"data": planes(images[15:]),
         b"filenames": [b"x.png"] * 5})
    files["cifar-10-batches-py/readme.html"] = b"<html></html>"
    return files


def _cifar100_files(images, fine, coarse) -> dict[str, bytes]:
    meta = {b"fine_label_names": [f"f{k}".encode() for k in range(100)],
            b"coarse_label_names": [f"c{k}".encode() for k in range(20)]}
    files = {"cifar-100-python/meta": py2_pickle(meta)}
    for name, sl in (("train", slice(0, 12)), ("test", slice(12, 20))):
        files[f"cifar-100-python/{name}"] = py2_pickle(
            {b"filenames": [b"a.png"] * (sl.stop - sl.start), b"batch_label": name.encode(),
             b"fine_labels": fine[sl].tolist(), b"coarse_labels": coarse[sl].tolist(), b"data": planes(images[sl])})
    return files


@pytest.mark.parametrize("as_archive", [False, True])
def test_cifar10_official_layout(tmp_path, as_archive):
    images = random_images(20, size=32, seed=1)
    labels = np.random.default_rng(2).integers(0, 10, 20)
    files = _cifar10_files(images, labels)
    if as_archive:
        path = tar_tree(tmp_path / "cifar-10-python.tar.gz", files)
    else:
        path = write_tree(tmp_path, files) / "cifar-10-batches-py"
    train = open_images(path, split="train")
    test = open_images(path, split="test")
    assert train.format == "cifar10" and len(train) == 15 and len(test) == 5
    assert train.class_names == CIFAR10_NAMES
    np.testing.assert_array_equal(train.images(range(15)), images[:15])
    np.testing.assert_array_equal(test.images(range(5)), images[15:])
    np.testing.assert_array_equal(train.labels, labels[:15])
    np.testing.assert_array_equal(test.labels, labels[15:])
    with pytest.raises(ConfigError, match="train, test"):
        open_images(path)
    with pytest.raises(ConfigError, match="coarse"):
        open_images(path, split="train", label_set="coarse")


def test_cifar10_parent_folder_is_detected(tmp_path):
    images = random_images(20, size=32, seed=1)
    write_tree(tmp_path, _cifar10_files(images, np.arange(20) % 10))
    assert len(open_images(tmp_path, split="test")) == 5


@pytest.mark.parametrize("as_archive", [False, True])
def test_cifar100_fine_and_coarse(tmp_path, as_archive):
    images = random_images(20, size=32, seed=3)
    rng = np.random.default_rng(4)
    fine, coarse = rng.integers(0, 100, 20), rng.integers(0, 20, 20)
    files = _cifar100_files(images, fine, coarse)
    path = (tar_tree(tmp_path / "cifar-100-python.tar.gz", files) if as_archive
            else write_tree(tmp_path, files) / "cifar-100-python")
    f = open_images(path, split="test")
    c = open_images(path, split="test", label_set="coarse")
    assert f.format == "cifar100" and len(f.class_names) == 100 and len(c.class_names) == 20
    assert c.class_names[3] == "c3"
    np.testing.assert_array_equal(f.labels, fine[12:])
    np.testing.assert_array_equal(c.labels, coarse[12:])
    np.testing.assert_array_equal(c.images(range(8)), images[12:])
    with pytest.raises(ConfigError, match="label_set"):
        open_images(path, split="test", label_set="medium")


def test_cifar_wrong_data_length_and_keys(tmp_path):
    images = random_images(20, size=32)
    files = _cifar10_files(images, np.arange(20) % 10)
    files["cifar-10-batches-py/test_batch"] = py2_pickle({b"labels": [0] * 5, b"data": np.zeros((5, 3000), np.uint8)})
    root = write_tree(tmp_path / "a", files) / "cifar-10-batches-py"
    with pytest.raises(DataFormatError, match=r"test_batch: 'data' rows have 3000 values"):
        open_images(root, split="test")
    files["cifar-10-batches-py/test_batch"] = py2_pickle({b"labelz": [0] * 5, b"data": planes(images[:5])})
    root = write_tree(tmp_path / "b", files) / "cifar-10-batches-py"
    with pytest.raises(DataFormatError, match=r"test_batch: expected keys 'data' and 'labels'"):
        open_images(root, split="test")
    files["cifar-10-batches-py/test_batch"] = py2_pickle({b"labels": [0] * 4, b"data": planes(images[:5])})
    root = write_tree(tmp_path / "c", files) / "cifar-10-batches-py"
    with pytest.raises(DataFormatError, match=r"'labels' has shape \(4,\) for 5 images"):
        open_images(root, split="test")


# ---------------------------------------------------------------- Downsampled ImageNet


def _imagenet_batch(images: np.ndarray, labels_1based: np.ndarray) -> bytes:
    return pickle.dumps({"data": planes(images), "labels": labels_1based.tolist(),
                         "mean": planes(images).mean(0).astype(np.float32)}, protocol=4)


@pytest.fixture
def imagenet_dir(tmp_path):
    """train_data_batch_{1,2,10} of 4, 3, 2 images and val_data of 5 (8x8), labels 1-based."""
    images = random_images(14, size=8, seed=5)
    labels = np.random.default_rng(6).integers(1, 7, 14)
    root = tmp_path / "imagenet8"
    write_tree(root, {
        "train_data/train_data_batch_1": _imagenet_batch(images[0:4], labels[0:4]),
        "train_data/train_data_batch_2": _imagenet_batch(images[4:7], labels[4:7]),
        "train_data/train_data_batch_10": _imagenet_batch(images[7:9], labels[7:9]),
        "val_data_dir/val_data": _imagenet_batch(images[9:], labels[9:]),
    })
    return root, images, labels


def test_imagenet_batches_folder_file_and_zip(imagenet_dir, tmp_path):
    root, images, labels = imagenet_dir
    train = open_images(root / "train_data")
    assert train.format == "imagenet-pickle" and len(train) == 9
    # batch order is numeric (1, 2, 10), planes become HWC, labels become 0-based
    np.testing.assert_array_equal(train.images(range(9)), images[:9])
    np.testing.assert_array_equal(train.labels, labels[:9] - 1)
    val = open_images(root, split="val")
    np.testing.assert_array_equal(val.images(range(5)), images[9:])
    np.testing.assert_array_equal(val.labels, labels[9:] - 1)
    single = open_images(root / "val_data_dir" / "val_data")
    np.testing.assert_array_equal(single.labels, val.labels)
    with pytest.raises(ConfigError, match="train, val"):
        open_images(root)
    z = tmp_path / "Imagenet8_train.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((root / "train_data").iterdir()):
            zf.write(p, f"Imagenet8_train/{p.name}")
    zipped = open_images(z)
    np.testing.assert_array_equal(zipped.images(range(9)), images[:9])
    np.testing.assert_array_equal(zipped.labels, train.labels)


def test_imagenet_batches_are_unpickled_lazily_with_lru(imagenet_dir, monkeypatch):
    root, images, _ = imagenet_dir
    loads = []
    real = pb.BatchSource.load
    monkeypatch.setattr(pb.BatchSource, "load", lambda self: loads.append(self.where) or real(self))
    ds = open_images(root / "train_data")
    assert len(loads) == 3  # one pass at open for counts and labels
    loads.clear()
    for i in [0, 5, 1, 8, 2, 6]:  # in files 0, 1, 0, 2, 0, 1
        np.testing.assert_array_equal(ds.image(i), images[i])
    # file 0 loaded, 1 loaded, 0 cached, 2 loaded (evicts 1), 0 cached, 1 loaded again
    assert [Path(w).name for w in loads] == ["train_data_batch_1", "train_data_batch_2",
                                             "train_data_batch_10", "train_data_batch_2"]


def test_sidecar_index_skips_the_pass_and_follows_edits(imagenet_dir, monkeypatch, tmp_path):
    root, images, labels = imagenet_dir
    monkeypatch.setattr(pb, "SIDECAR_MIN_BYTES", 0)
    monkeypatch.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path / "cache"))
    loads = []
    real = pb.BatchSource.load
    monkeypatch.setattr(pb.BatchSource, "load", lambda self: loads.append(self.where) or real(self))
    first = open_images(root / "train_data")
    assert len(loads) == 3 and len(list((tmp_path / "cache" / "batch-index").glob("*.npz"))) == 3
    loads.clear()
    second = open_images(root / "train_data")
    assert loads == []
    np.testing.assert_array_equal(second.labels, first.labels)
    # rewriting one file (new size) invalidates its entry only
    (root / "train_data" / "train_data_batch_2").write_bytes(_imagenet_batch(images[4:6], labels[4:6]))
    third = open_images(root / "train_data")
    assert [Path(w).name for w in loads] == ["train_data_batch_2"] and len(third) == 8


def test_imagenet_fingerprint_follows_bytes(imagenet_dir):
    root, images, labels = imagenet_dir
    fp = open_images(root / "train_data").fingerprint()
    assert open_images(root / "train_data").fingerprint() == fp
    changed = images[7:9].copy()
    changed[1, 0, 0, 0] ^= 1
    (root / "train_data" / "train_data_batch_10").write_bytes(_imagenet_batch(changed, labels[7:9]))
    assert open_images(root / "train_data").fingerprint() != fp


def test_imagenet_zero_based_labels_and_bad_shapes(tmp_path):
    images = random_images(3, size=8)
    p = tmp_path / "val_data"
    p.write_bytes(_imagenet_batch(images, np.array([0, 1, 2])))
    with pytest.raises(DataFormatError, match="val_data: labels must be 1-based"):
        open_images(p)
    p.write_bytes(pickle.dumps({"data": planes(images).astype(np.float32), "labels": [1, 2, 3]}))
    with pytest.raises(DataFormatError, match=r"'data' must be a uint8 \(N, 3\*S\*S\) array, got float32"):
        open_images(p)
    p.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataFormatError, match="expected a pickled dict"):
        open_images(p)
    good = _imagenet_batch(images, np.array([1, 2, 3]))
    p.write_bytes(good[:-40])
    with pytest.raises(DataFormatError, match="val_data: truncated or corrupt pickle"):
        open_images(p)


def test_lazy_batch_reader_survives_pickling(imagenet_dir, tmp_path):
    root, images, _ = imagenet_dir
    z = tmp_path / "b.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted((root / "train_data").iterdir()):
            zf.write(p, p.name)
    for path in (root / "train_data", z):
        ds = open_images(path)
        ds.image(8)
        back = pickle.loads(pickle.dumps(ds))
        np.testing.assert_array_equal(back.images(range(9)), images[:9])


def test_single_pickle_with_any_name(tmp_path):
    images = random_images(3, size=8, seed=7)
    p = tmp_path / "my_batch.pkl"
    p.write_bytes(_imagenet_batch(images, np.array([3, 1, 2])))
    ds = open_images(p)
    np.testing.assert_array_equal(ds.images(range(3)), images)
    np.testing.assert_array_equal(ds.labels, [2, 0, 1])
    with pytest.raises(ConfigError, match="single batch file"):
        open_images(p, split="train")
