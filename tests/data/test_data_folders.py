"""Tests of image folders and archives of images: split/class rules, Tiny-ImageNet layouts, laziness, safety."""

from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np
import pytest
from data_trees import png, random_images, tar_tree, write_tree, zip_tree
from PIL import Image

from unshuffle.data import image_folder, open_images
from unshuffle.data.detect import inspect_path
from unshuffle.errors import ConfigError, DataFormatError, UnsafeFileError

KINDS = ["folder", "tar", "tar.gz", "zip"]


def materialize(tmp_path, files: dict[str, bytes], kind: str, name: str = "data"):
    """The same tree as a folder, a plain tar, a tar.gz or a zip."""
    if kind == "folder":
        return write_tree(tmp_path / name, files)
    if kind == "tar":
        return tar_tree(tmp_path / f"{name}.tar", files, mode="w")
    if kind == "tar.gz":
        return tar_tree(tmp_path / f"{name}.tar.gz", files, mode="w:gz")
    return zip_tree(tmp_path / f"{name}.zip", files)


@pytest.mark.parametrize("kind", KINDS)
def test_flat_tree_has_no_labels(tmp_path, kind):
    imgs = random_images(5)
    files = {f"img{k}.png": png(imgs[k]) for k in range(5)} | {"notes.txt": b"hello"}
    ds = open_images(materialize(tmp_path, files, kind))
    assert ds.labels is None and ds.class_names is None
    assert ds.names == [f"img{k}.png" for k in range(5)]
    np.testing.assert_array_equal(ds.images(range(5)), imgs)


@pytest.mark.parametrize("kind", KINDS)
def test_class_folders_under_wrapper_and_splits(tmp_path, kind):
    imgs = random_images(9, seed=1)
    files = {
        "mydata/train/dogs/a.png": png(imgs[0]), "mydata/train/dogs/b.png": png(imgs[1]),
        "mydata/train/cats/c.png": png(imgs[2]), "mydata/train/emus/d.png": png(imgs[3]),
        "mydata/val/dogs/e.png": png(imgs[4]), "mydata/val/emus/f.png": png(imgs[5]),
        "mydata/test/g.png": png(imgs[6]), "mydata/README": b"x", "mydata/preview.png": png(imgs[7]),
    }
    path = materialize(tmp_path, files, kind)
    with pytest.raises(ConfigError, match="train, val, test"):
        open_images(path)
    train = open_images(path, split="train")
    val = open_images(path, split="val")
    test = open_images(path, split="test")
    assert train.class_names == val.class_names == ["cats", "dogs", "emus"]
    assert train.names == ["mydata/train/cats/c.png", "mydata/train/dogs/a.png", "mydata/train/dogs/b.png",
                           "mydata/train/emus/d.png"]
    np.testing.assert_array_equal(train.labels, [0, 1, 1, 2])
    np.testing.assert_array_equal(val.labels, [1, 2])  # val lacks cats: same indices as train
    np.testing.assert_array_equal(val.images([0, 1]), imgs[[4, 5]])
    assert test.labels is None and len(test) == 1
    info = inspect_path(path, split="val")
    assert info["skipped_examples"] == ["mydata/README", "mydata/preview.png"]  # outside every split


def _tiny_imagenet_official(imgs) -> dict[str, bytes]:
    """The official tiny-imagenet-200.zip layout with 2 classes (wnids.txt order: n2 before n1)."""
    return {
        "tiny-imagenet-200/wnids.txt": b"n02\nn01\n",
        "tiny-imagenet-200/words.txt": b"n01\tone\nn02\ttwo\n",
        "tiny-imagenet-200/train/n01/images/n01_0.JPEG": png(imgs[0]),
        "tiny-imagenet-200/train/n01/images/n01_1.JPEG": png(imgs[1]),
        "tiny-imagenet-200/train/n01/n01_boxes.txt": b"n01_0.JPEG\t0\t0\t7\t7\n",
        "tiny-imagenet-200/train/n02/images/n02_0.JPEG": png(imgs[2]),
        "tiny-imagenet-200/train/n02/n02_boxes.txt": b"",
        "tiny-imagenet-200/val/images/val_0.JPEG": png(imgs[3]),
        "tiny-imagenet-200/val/images/val_1.JPEG": png(imgs[4]),
        "tiny-imagenet-200/val/images/val_2.JPEG": png(imgs[5]),
        "tiny-imagenet-200/val/val_annotations.txt": b"val_0.JPEG\tn01\t0\t0\t7\t7\n"
                                                     b"val_1.JPEG\tn02\t1\t1\t6\t6\nval_2.JPEG\tn01\t0\t0\t7\t7\n",
        "tiny-imagenet-200/test/images/test_0.JPEG": png(imgs[6]),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_imagenet_official_layout(tmp_path, kind):
    imgs = random_images(7, seed=2)
    path = materialize(tmp_path, _tiny_imagenet_official(imgs), kind)
    train = open_images(path, split="train")
    val = open_images(path, split="val")
    assert train.class_names == val.class_names == ["n02", "n01"]  # wnids.txt order, not sorted
    np.testing.assert_array_equal(train.labels, [1, 1, 0])
    np.testing.assert_array_equal(val.labels, [1, 0, 1])
    np.testing.assert_array_equal(val.images(range(3)), imgs[3:6])
    test = open_images(path, split="test")
    assert test.labels is None and len(test) == 1
    info = inspect_path(path, split="train")
    # words.txt, wnids.txt, two boxes files, annotations (images of other splits are not counted)
    assert info["skipped_files"] == 5 and info["per_class"]["first"] == {"n02": 1, "n01": 2}


def test_tiny_imagenet_flat_variant_and_split_folder_agree(tmp_path):
    imgs = random_images(7, seed=3)
    official = write_tree(tmp_path / "official", _tiny_imagenet_official(imgs))
    flat = write_tree(tmp_path / "flat", {
        "val/n01/val_0.JPEG": png(imgs[3]), "val/n02/val_1.JPEG": png(imgs[4]), "val/n01/val_2.JPEG": png(imgs[5]),
    })
    (tmp_path / "flat" / "wnids.txt").write_bytes(b"n02\nn01\n")
    a = open_images(official / "tiny-imagenet-200" / "val")  # a split folder: wnids.txt found in its parent
    b = open_images(flat / "val")
    assert a.class_names == b.class_names == ["n02", "n01"]
    # same images carry the same labels in both layouts
    for ds in (a, b):
        by_pixels = {ds.image(i).tobytes(): int(ds.labels[i]) for i in range(len(ds))}
        assert by_pixels == {imgs[3].tobytes(): 1, imgs[4].tobytes(): 0, imgs[5].tobytes(): 1}


def test_archive_class_order_from_wnids_beside_it(tmp_path):
    imgs = random_images(2, seed=4)
    path = tar_tree(tmp_path / "val.tar.gz", {"val/zz/a.png": png(imgs[0]), "val/aa/b.png": png(imgs[1])})
    assert open_images(path).class_names == ["aa", "zz"]
    (tmp_path / "wnids.txt").write_text("zz\naa\n")
    ds = open_images(path)
    assert ds.class_names == ["zz", "aa"]
    np.testing.assert_array_equal(ds.labels, [1, 0])  # names sorted: val/aa/b.png first


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_grey_rgba_palette_become_rgb(tmp_path, kind):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    rgba = np.dstack([random_images(1)[0], np.full((8, 8), 7, np.uint8)])
    pal = Image.fromarray(random_images(1, seed=9)[0]).convert("P")
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    files = {"a_grey.png": png(grey), "b_rgba.png": png(rgba), "c_pal.png": buf.getvalue()}
    ds = open_images(materialize(tmp_path, files, kind))
    out = ds.images(range(3))
    assert out.shape == (3, 8, 8, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], np.repeat(grey[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(out[1], rgba[:, :, :3])
    np.testing.assert_array_equal(out[2], np.asarray(pal.convert("RGB")))


@pytest.mark.parametrize("kind", KINDS)
def test_reads_are_lazy_and_corrupt_image_named_on_read(tmp_path, kind, monkeypatch):
    imgs = random_images(6, seed=5)
    half = png(imgs[5])[: len(png(imgs[5])) // 2]
    files = {f"x/{k}.png": png(imgs[k]) for k in range(5)} | {"x/5.png": half, "x/6.png": b"not an image"}
    path = materialize(tmp_path, files, kind)
    decoded = []
    real = image_folder.decode_image
    monkeypatch.setattr(image_folder, "decode_image", lambda data, where: decoded.append(where) or real(data, where))
    ds = open_images(path)
    assert decoded == []
    np.testing.assert_array_equal(ds.image(3), imgs[3])
    assert len(decoded) == 1 and decoded[0].endswith("x/3.png")
    with pytest.raises(DataFormatError, match=r"x/5\.png: damaged or truncated image"):
        ds.image(5)
    with pytest.raises(DataFormatError, match=r"x/6\.png: not a readable image"):
        ds.image(6)


@pytest.mark.parametrize("kind", ["folder", "zip", "tar"])
def test_fingerprint_lazy_cached_and_follows_bytes(tmp_path, kind, monkeypatch):
    imgs = random_images(3, seed=6)
    files = {f"{k}.png": png(imgs[k]) for k in range(3)}
    path = materialize(tmp_path, files, kind, name="a")
    ds = open_images(path)
    fp = ds.fingerprint()
    assert fp == open_images(path).fingerprint() == ds.fingerprint()
    changed = imgs[1].copy()
    changed[0, 0, 0] ^= 1
    path2 = materialize(tmp_path, files | {"1.png": png(changed)}, kind, name="b")
    assert open_images(path2).fingerprint() != fp
    if kind == "folder":  # opening and fingerprinting twice reads each file once
        reads = []
        real = image_folder.FolderStore.read_bytes
        monkeypatch.setattr(image_folder.FolderStore, "read_bytes", lambda s, n: reads.append(n) or real(s, n))
        ds = open_images(path)
        assert reads == []
        ds.fingerprint()
        ds.fingerprint()
        assert sorted(reads) == ["0.png", "1.png", "2.png"]


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    write_tree(tmp_path / "d", {"warn.png": png(random_images(1)[0]),  # 64 px: Pillow would only warn
                                "error.png": png(random_images(1, size=16)[0])})  # 256 px: Pillow raises
    ds = open_images(tmp_path / "d")
    for i in range(2):
        with pytest.raises(UnsafeFileError, match=rf"{ds.names[i]}: refusing a possible decompression bomb"):
            ds.image(i)


@pytest.mark.parametrize("bad", ["../evil.png", "/abs/evil.png", "ok/../../evil.png"])
@pytest.mark.parametrize("kind", ["tar", "tar.gz", "zip"])
def test_traversal_member_names_refused(tmp_path, bad, kind):
    files = {"fine.png": png(random_images(1)[0]), bad: png(random_images(1)[0])}
    if kind == "zip":
        path = tmp_path / "a.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for n, d in files.items():
                zf.writestr(zipfile.ZipInfo(n), d)  # ZipInfo keeps the name as given
    else:
        path = materialize(tmp_path, files, kind, name="a")
    with pytest.raises(UnsafeFileError, match="refusing the archive"):
        open_images(path)
    assert not (tmp_path.parent / "evil.png").exists() and not (tmp_path / "evil.png").exists()


def test_tar_links_are_skipped_not_followed(tmp_path):
    path = tmp_path / "l.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        data = png(random_images(1)[0])
        info = tarfile.TarInfo("a.png")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("b.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    info = inspect_path(path)
    assert info["images"] == 1 and info["skipped_examples"] == ["b.png"]


def test_single_image_file(tmp_path):
    img = random_images(1, seed=8)[0]
    p = tmp_path / "one.png"
    p.write_bytes(png(img))
    ds = open_images(p)
    assert len(ds) == 1 and ds.names == ["one.png"]
    np.testing.assert_array_equal(ds.image(0), img)


@pytest.mark.parametrize("kind", ["tar.bz2", "tar.xz"])
def test_other_tar_compressions(tmp_path, kind):
    imgs = random_images(3, seed=10)
    files = {f"c{k % 2}/{k}.png": png(imgs[k]) for k in range(3)}
    ds = open_images(tar_tree(tmp_path / f"d.{kind}", files, mode=f"w:{kind.split('.')[1]}"))
    np.testing.assert_array_equal(ds.labels, [0, 0, 1])
    np.testing.assert_array_equal(ds.images(range(3)), imgs[[0, 2, 1]])


@pytest.mark.parametrize("kind", KINDS)
def test_image_sets_survive_pickling_for_worker_processes(tmp_path, kind):
    import pickle

    imgs = random_images(4, seed=11)
    ds = open_images(materialize(tmp_path, {f"{k}.png": png(imgs[k]) for k in range(4)}, kind))
    ds.image(0)  # open handles (zip, tar) before pickling, as a parent process would
    back = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(back.images(range(4)), imgs)
    assert back.fingerprint() == ds.fingerprint()


def test_macos_zip_resource_folders_are_ignored(tmp_path):
    imgs = random_images(2, seed=12)
    files = {"photos/cats/a.png": png(imgs[0]), "photos/dogs/b.png": png(imgs[1]),
             "__MACOSX/photos/cats/._a.png": b"\x00\x05\x16\x07", "photos/.DS_Store": b"x"}
    info = inspect_path(zip_tree(tmp_path / "photos.zip", files))
    assert info["classes"] == 2 and info["per_class"]["first"] == {"cats": 1, "dogs": 1}
    assert info["skipped_files"] == 2


def _fd_of(ds) -> int:
    store = ds._reader.store
    return store._fd if hasattr(store, "_fd") else store._zip.fp.fileno()


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_forked_worker_does_not_move_the_parents_file_offset(tmp_path, kind):
    import multiprocessing
    import os

    imgs = random_images(4, size=64, seed=13)  # 12 KB per PNG: larger than a read-ahead buffer
    ds = open_images(materialize(tmp_path, {f"{k}.png": png(imgs[k]) for k in range(4)}, kind))
    ds.image(0)  # the parent opens its handle before forking, as before DataLoader workers start
    fd = _fd_of(ds)
    before = os.lseek(fd, 0, os.SEEK_CUR)

    def child():
        ok = all(np.array_equal(ds.image(i), imgs[i]) for i in (3, 1, 2))
        os._exit(0 if ok else 1)

    p = multiprocessing.get_context("fork").Process(target=child)
    p.start()
    p.join()
    assert p.exitcode == 0
    assert os.lseek(fd, 0, os.SEEK_CUR) == before
    np.testing.assert_array_equal(ds.images(range(4)), imgs)
