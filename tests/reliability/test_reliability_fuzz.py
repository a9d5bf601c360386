"""Fuzzing every loader and `fragments solve` with hypothesis: random bytes, damaged valid files,
random shapes, dtypes and sizes. Each call runs under a 10 s alarm and either raises an
UnshuffleError naming the file, or returns output that passes the schema check."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile import corpus as hc
from hypothesis import given, settings
from hypothesis import strategies as st

# imported here, not inside the timed calls: a first import of torch can take 10 s on a loaded machine
import unshuffle.fragments.solver.fragment_solver  # noqa: F401
import unshuffle.plots.reassembly  # noqa: F401
from unshuffle.clustering.config import TemiConfig, load_config
from unshuffle.data.detect import open_path_with_skipped
from unshuffle.errors import DataFormatError, UnshuffleError
from unshuffle.fragments.bags.solution_io import GROUPS_FILE
from unshuffle.fragments.baseline.autoencoder import load_autoencoder
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.fragments.solver.solve import solve_fragment_folder
from unshuffle.runs.checkpoints import load_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_checks import EXAMPLES, FUZZ, check_loader, names_file, record, time_limit, workdir  # noqa: E402

# ---------------------------------------------------------------- random bytes under every name

_HEADS = [b"", b"\x80\x02", b"\x80\x04", b"PK\x03\x04", b"\x1f\x8b", b"\x89PNG\r\n\x1a\n", b"\x93NUMPY", b"BZh"]
_NAMES = ["x.npz", "val_data", "train_data_batch_1", "batch.pkl", "a.zip", "a.tar", "a.tar.gz", "a.png", "a.jpg"]


@FUZZ
@given(head=st.sampled_from(_HEADS), body=st.binary(max_size=1500), name=st.sampled_from(_NAMES))
def test_random_bytes_under_every_name(tmp_path, head, body, name):
    path = workdir(tmp_path) / name
    path.write_bytes(head + body)
    check_loader(path, fmt=f"random bytes as {name}")


# ---------------------------------------------------------------- valid files, truncated or corrupted


def _valid_file(kind: str, root: Path) -> tuple[Path, str | None]:
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, size=(3, 8, 8, 3), dtype=np.uint8)
    pngs = {f"c{i % 2}/{i}.png": hc.png_bytes(im) for i, im in enumerate(imgs)}
    if kind == "npz":
        path = root / "d.npz"
        np.savez(path, images=imgs, labels=np.arange(3))
    elif kind == "npz-compressed":
        path = root / "d.npz"
        np.savez_compressed(path, images=imgs, labels=np.arange(3))
    elif kind == "imagenet-pickle":
        path = root / "val_data"
        rows = np.ascontiguousarray(imgs.transpose(0, 3, 1, 2).reshape(3, -1))
        path.write_bytes(pickle.dumps({"data": rows, "labels": [1, 2, 3]}, protocol=2))
    elif kind == "cifar-tar.gz":
        path = hc.tar_of(root / "cifar-10-python.tar.gz", hc.cifar10_files(hc.good_cifar_batch(), "test_batch"))
        return path, "test"
    elif kind == "zip":
        path = hc.zip_of(root / "d.zip", pngs)
    elif kind == "tar":
        path = hc.tar_of(root / "d.tar", pngs, mode="w")
    elif kind == "tar.gz":
        path = hc.tar_of(root / "d.tar.gz", pngs)
    else:
        path = root / "a.png"
        path.write_bytes(pngs["c0/0.png"])
    return path, None


@FUZZ
@given(kind=st.sampled_from(["npz", "npz-compressed", "imagenet-pickle", "cifar-tar.gz", "zip", "tar", "tar.gz",
                             "png"]),
       cut=st.floats(0.0, 1.0), flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=6))
def test_damaged_valid_files(tmp_path, kind, cut, flips):
    path, split = _valid_file(kind, workdir(tmp_path))
    assert check_loader(path, split, fmt=f"{kind} (undamaged)") == "ok"  # the undamaged file opens
    data = bytearray(path.read_bytes())
    for where, xor in flips:
        data[int(where * (len(data) - 1))] ^= xor
    data = data[: max(1, int(cut * len(data)))] if cut < 0.999 else data
    path.write_bytes(bytes(data))
    check_loader(path, split, fmt=f"{kind} damaged")


# ---------------------------------------------------------------- random shapes, dtypes, sizes

_DTYPES = [np.uint8, np.int8, np.int16, np.uint16, np.int64, np.float32, np.float64, np.bool_, np.complex64]


@st.composite
def arrays(draw, max_dims: int = 5) -> np.ndarray:
    """Any shape up to ``max_dims`` and dtype, with half of them uint8 of 2 to 4 dims (image-like)."""
    if draw(st.booleans()):
        shape = tuple(draw(st.lists(st.integers(0, 6), min_size=min(2, max_dims), max_size=min(4, max_dims))))
        dtype = np.uint8
    else:
        shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=max_dims)))
        dtype = draw(st.sampled_from(_DTYPES))
    return np.random.default_rng(len(shape)).integers(0, 256, size=shape).astype(dtype)


@FUZZ
@given(images=arrays(), labels=st.none() | arrays(max_dims=2), names=st.none() | st.lists(st.text(max_size=4),
       max_size=5), compressed=st.booleans())
def test_npz_random_shapes_and_dtypes(tmp_path, images, labels, names, compressed):
    path = workdir(tmp_path) / "r.npz"
    members = {"images": images}
    if labels is not None:
        members["labels"] = labels
    if names is not None:
        members["class_names"] = np.array(names, dtype=str)
    (np.savez_compressed if compressed else np.savez)(path, **members)
    outcome = check_loader(path, fmt="npz random arrays")
    if outcome == "ok":  # only a uint8 (N, H, W[, 1|3|4]) image array may be accepted
        assert images.dtype == np.uint8 and images.ndim in (3, 4) and images.shape[0] > 0


@FUZZ
@given(data=arrays(max_dims=3), labels=st.one_of(st.lists(st.integers(-3, 300), max_size=8), arrays(max_dims=2)),
       byte_keys=st.booleans(), name=st.sampled_from(["val_data", "train_data_batch_1", "cifar"]))
def test_pickle_batches_random_contents(tmp_path, data, labels, byte_keys, name):
    root = workdir(tmp_path)
    label_key = "labels"
    batch = {"data": data, label_key: labels}
    if byte_keys:
        batch = {k.encode(): v for k, v in batch.items()}
    raw = pickle.dumps(batch, protocol=2)
    if name == "cifar":
        path, split = hc.write_files(root / "in", hc.cifar10_files(raw, "test_batch")), "test"
    else:
        path, split = hc.write_files(root, {name: raw}) / name, None
    outcome = check_loader(path, split, fmt="pickle random contents")
    if outcome == "ok":
        assert data.dtype == np.uint8 and data.ndim == 2 and data.shape[0] > 0


# ---------------------------------------------------------------- folders mixing images and other files


@st.composite
def mixed_entries(draw) -> dict[str, tuple[str, bytes]]:
    """{name: (kind, bytes)}: valid images of random size and mode, corrupt images, other files."""
    entries = {}
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["rgb", "grey", "rgba", "palette", "corrupt", "empty", "text"]))
        h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        rng = np.random.default_rng(i)
        if kind in ("rgb", "grey", "rgba", "palette"):
            from PIL import Image

            arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            im = Image.fromarray(arr)
            im = {"rgb": im, "grey": im.convert("L"), "rgba": im.convert("RGBA"), "palette": im.convert("P")}[kind]
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            entries[f"f{i}.png"] = (kind, buf.getvalue())
        elif kind == "corrupt":
            entries[f"f{i}.png"] = (kind, draw(st.binary(min_size=1, max_size=64)))
        elif kind == "empty":
            entries[f"f{i}.jpg"] = (kind, b"")
        else:
            entries[f"f{i}.txt"] = (kind, draw(st.binary(max_size=64)))
    return entries


@FUZZ
@given(entries=mixed_entries())
def test_folders_mixing_images_and_other_files(tmp_path, entries):
    root = hc.write_files(workdir(tmp_path) / "in", {n: b for n, (_, b) in entries.items()})
    n_other = sum(kind == "text" for kind, _ in entries.values())
    with time_limit():
        try:
            ds, skipped = open_path_with_skipped(root, None)
        except DataFormatError as e:  # only when nothing in it is an image file
            assert n_other == len(entries) and "in: contains no image files" in str(e)
            record("mixed folder", "DataFormatError")
            return
        assert len(skipped) == n_other and sorted(ds.names) == sorted(n for n, (k, _) in entries.items()
                                                                      if k != "text")
        for i, name in enumerate(ds.names):
            kind = entries[name][0]
            if kind in ("corrupt", "empty"):
                try:
                    img = ds.image(i)
                except DataFormatError as e:  # a corrupt image is named
                    assert f"in/{name}" in str(e)
                    record("mixed folder: corrupt image", "DataFormatError")
                    continue
                record("mixed folder: corrupt image", "result")
                # random bytes may still be a decodable image: then it must come out as RGB uint8
                assert img.dtype == np.uint8 and img.shape[2] == 3
            else:
                img = ds.image(i)
                assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
                record("mixed folder: valid image", "result")


# ---------------------------------------------------------------- `fragments solve` on random bags


@st.composite
def fragment_bags(draw) -> dict[str, bytes]:
    """Fragment PNGs: mostly one square size, sometimes other sizes, non-squares and non-images."""
    size = draw(st.integers(2, 12))
    n = draw(st.integers(1, 24))
    files = {}
    for i in range(n):
        odd = draw(st.sampled_from(["ok"] * 6 + ["other-size", "non-square", "garbage", "text"]))
        h = w = size
        if odd == "other-size":
            h = w = draw(st.integers(1, 12))
        elif odd == "non-square":
            h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        if odd == "garbage":
            files[f"g{i:02d}.png"] = draw(st.binary(min_size=1, max_size=48))
        elif odd == "text":
            files[f"note{i}.txt"] = b"not an image"
        else:
            rng = np.random.default_rng(i)
            files[f"sub{i % 3}/p{i:02d}.png"] = hc.png_bytes(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
    return files


@settings(FUZZ, max_examples=max(EXAMPLES * 2 // 3, 1))
@given(files=fragment_bags(), n_images=st.none() | st.integers(1, 4), grid=st.none() | st.integers(1, 3),
       container=st.sampled_from(["folder", "zip", "tar.gz"]))
def test_fragments_solve_on_random_bags(tmp_path, files, n_images, grid, container):
    root = workdir(tmp_path)
    if container == "folder":
        src = hc.write_files(root / "bag", files)
    elif container == "zip":
        src = hc.zip_of(root / "bag.zip", files)
    else:
        src = hc.tar_of(root / "bag.tar.gz", files)
    out = root / "solved"
    with time_limit():
        try:
            summary = solve_fragment_folder(src, out, FragmentSolver(n_images=n_images, grid=grid))
        except UnshuffleError as e:
            names_file(e, src)
            record(f"fragments solve ({container})", type(e).__name__)
            assert not out.exists() and [p.name for p in root.iterdir()] == [src.name]
            return
    record(f"fragments solve ({container})", "result")
    doc = json.loads((out / GROUPS_FILE).read_text())
    listed = [f["file"] for g in doc["groups"] for f in g["fragments"]]
    images = sorted(n for n in files if not n.endswith(".txt"))
    assert sorted(listed) == images  # every fragment exactly once
    assert summary["skipped"] == len(files) - len(images)
    for g in doc["groups"]:
        cells = [(f["row"], f["col"]) for f in g["fragments"]]
        assert len(set(cells)) == len(cells)
        assert all(0 <= r < g["rows"] and 0 <= c < g["cols"] and f["turn"] in (0, 1, 2, 3)
                   for (r, c), f in zip(cells, g["fragments"], strict=True))


def test_time_limit_really_stops_a_hang():
    """Control: the alarm used above does turn a hang into a failure."""
    with pytest.raises(pytest.fail.Exception, match="ran past 0.2 s"):
        with time_limit(0.2):
            while True:
                pass


def test_gzip_of_random_bytes_is_named(tmp_path):
    """A gzip stream that is not a tar: refused, naming the file."""
    path = tmp_path / "x.tar.gz"
    path.write_bytes(gzip.compress(b"hello world" * 100))
    assert check_loader(path) == "refused"


# ---------------------------------------------------------------- checkpoints and configs

_LEAVES = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(),
                    st.builds(lambda n: torch.ones(n), st.integers(0, 3)))
_KEYS = st.sampled_from(["config", "model", "state_dict", "model.encoder.0.weight", "fragment_size", "x"])
_TREES = st.recursive(_LEAVES, lambda ch: st.lists(ch, max_size=3) | st.dictionaries(_KEYS, ch, max_size=4),
                      max_leaves=8)


def _check_ckpt_loader(load, path: Path) -> None:
    with time_limit():
        try:
            out = load(path)
            assert out is not None
            record(f"checkpoint via {load.__name__}", "result")
        except UnshuffleError as e:
            names_file(e, path)
            record(f"checkpoint via {load.__name__}", type(e).__name__)


@FUZZ
@given(cut=st.integers(0, 3000), tail=st.binary(max_size=300))
def test_checkpoints_truncated_or_with_random_bytes(tmp_path, cut, tail):
    path = workdir(tmp_path) / "c.ckpt"
    buf = io.BytesIO()
    torch.save({"state_dict": {"model.w": torch.ones(8)}, "config": {"model": {}}}, buf)
    path.write_bytes(buf.getvalue()[:cut] + tail)
    for load in (load_checkpoint, load_autoencoder):
        _check_ckpt_loader(load, path)


@FUZZ
@given(obj=_TREES)
def test_checkpoints_with_random_structure(tmp_path, obj):
    path = workdir(tmp_path) / "c.ckpt"
    torch.save(obj, path)
    with time_limit():
        try:
            assert isinstance(load_checkpoint(path), dict)
            record("checkpoint random structure", "result")
        except UnshuffleError as e:
            names_file(e, path)
            assert not isinstance(obj, dict)
            record("checkpoint random structure", type(e).__name__)


_YAML_LINES = ["clusters: 3\n", "optim:\n", "  lr: 1e-3\n", "seed: x\n", "head:\n", "  n_heads: -1\n",
               "!!python/name:os.system\n", "[1, 2\n", "  - a\n"]


@FUZZ
@given(text=st.text(max_size=200) | st.lists(st.sampled_from(_YAML_LINES), max_size=6).map("".join))
def test_temi_config_files_with_random_text(tmp_path, text):
    path = workdir(tmp_path) / "temi.yaml"
    path.write_text(text)
    with time_limit():
        try:
            assert isinstance(load_config(path), TemiConfig)
            record("YAML random text", "result")
        except UnshuffleError as e:
            assert str(e) and "\n" not in str(e), str(e)
            record("YAML random text", type(e).__name__)
