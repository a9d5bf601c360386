"""No code from data: a corpus of hostile files (code pickles, code checkpoints, YAML object tags,
escaping archive members, compression and decompression bombs) is refused with the package's own
errors, a marker file proves that nothing ran, and nothing is written anywhere in the sandbox."""

from __future__ import annotations

import os
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile import corpus as hc

from unshuffle.cli.main import main
from unshuffle.clustering.config import load_config, parse_overrides
from unshuffle.clustering.predict import TemiHeads
from unshuffle.data import archives, open_images
from unshuffle.errors import CheckpointError, ConfigError, DataFormatError, UnsafeFileError
from unshuffle.fragments.bags.folders import read_fragment_folder
from unshuffle.fragments.baseline.autoencoder import FragmentAutoencoder, load_autoencoder
from unshuffle.runs.checkpoints import load_checkpoint, save_checkpoint

PAYLOADS = ("os.system", "builtins.exec")
REFUSED_NAME = {"os.system": "system", "builtins.exec": "exec"}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """tmp_path as the whole world: temp files and caches inside it; yields (root, marker); on exit the
    tree must be exactly as it was after the test built its inputs (checked by ``unchanged``)."""
    monkeypatch.setenv("UNSHUFFLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path, tmp_path / "marker"


def _refused(call, error, match, root: Path, marker: Path) -> None:
    """``call()`` raises ``error`` matching ``match``; no marker; the tree under ``root`` is unchanged."""
    before = hc.tree_snapshot(root)
    with pytest.raises(error, match=match):
        call()
    assert not marker.exists(), "the payload ran"
    assert hc.tree_snapshot(root) == before, "something was written"


# ---------------------------------------------------------------- pickles that run code


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("container", ["imagenet-file", "imagenet-folder", "imagenet-zip", "cifar-folder",
                                       "cifar-meta", "cifar-tar.gz"])
def test_code_pickles_refused_everywhere_they_can_hide(sandbox, payload, container):
    root, marker = sandbox
    evil = hc.evil_batch(hc.payloads(marker)[payload])
    split = None
    if container == "imagenet-file":
        path = hc.write_files(root / "in", {"val_data": evil}) / "val_data"
    elif container == "imagenet-folder":
        path = hc.write_files(root / "in", {"val_data": evil, "train_data_batch_1": evil})
        split = "val"
    elif container == "imagenet-zip":
        path = root / "Imagenet64_val.zip"
        hc.zip_of(path, {"val_data": evil})
    elif container == "cifar-folder":
        path = hc.write_files(root / "in", hc.cifar10_files(evil, "test_batch"))
        split = "test"
    elif container == "cifar-meta":
        meta = pickle.dumps({b"label_names": hc.payloads(marker)[payload]}, protocol=2)
        path = hc.write_files(root / "in", hc.cifar10_files(meta, "batches.meta"))
        split = "test"
    else:
        path = hc.tar_of(root / "cifar-10-python.tar.gz", hc.cifar10_files(evil, "test_batch"))
        split = "test"
    match = rf"(val_data|test_batch|batches\.meta): pickle refers to the global \S*{REFUSED_NAME[payload]}"
    _refused(lambda: open_images(path, split=split), UnsafeFileError, match, root, marker)


def test_good_cifar_layout_opens(sandbox):
    """Control: the same layout without a payload opens, so the refusals above are about the payload."""
    root, _ = sandbox
    path = hc.write_files(root / "in", hc.cifar10_files(hc.good_cifar_batch(), "test_batch"))
    assert open_images(path, split="test").image(1).shape == (32, 32, 3)


# ---------------------------------------------------------------- checkpoints that run code


def _evil_checkpoints(root: Path, marker: Path) -> dict[str, Path]:
    out = {}
    good_state = {f"model.{k}": v for k, v in FragmentAutoencoder(16, 8, 4).state_dict().items()}
    for name, payload in hc.payloads(marker).items():
        for where, obj in {
            "config": {"state_dict": good_state, "config": {"model": payload}},
            "top": payload,
            "state": {"state_dict": {"model.x": payload}, "config": {"model": {}}},
        }.items():
            p = root / f"{name}-{where}.ckpt"
            torch.save(obj, p)
            out[f"{name}-{where}"] = p
        legacy = root / f"{name}-legacy.ckpt"
        torch.save({"config": payload}, legacy, _use_new_zipfile_serialization=False)
        out[f"{name}-legacy"] = legacy
    return out


def test_code_checkpoints_refused_by_every_loader(sandbox):
    root, marker = sandbox
    ckpts = _evil_checkpoints(root, marker)
    assert len(ckpts) == 8
    for path in ckpts.values():
        for load in (load_checkpoint, load_autoencoder, TemiHeads.load):
            _refused(lambda load=load, path=path: load(path), CheckpointError,
                     rf"{path.name}: refused, holds objects that are not plain data", root, marker)


def test_plain_checkpoint_still_loads(sandbox):
    """Control: a checkpoint of plain data written by save_checkpoint loads through the same path."""
    root, _ = sandbox
    model = FragmentAutoencoder(16, 8, 4)
    state = {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
             "config": {"model": {"fragment_size": 16, "embedding_dim": 8, "width": 4}}}
    save_checkpoint(state, root / "ok.ckpt")
    back = load_autoencoder(root / "ok.ckpt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values(), strict=True))


# ---------------------------------------------------------------- YAML that builds objects


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['touch {m}']",
    "!!python/object/apply:builtins.exec [\"open('{m}', 'w')\"]",
    "!!python/object/new:os.system ['touch {m}']",
    "!!python/name:os.system",
])
def test_yaml_object_tags_refused(sandbox, tag):
    root, marker = sandbox
    cfg = root / "temi.yaml"
    cfg.write_text(f"clusters: 3\noptim:\n  lr: {tag.format(m=marker)}\n")
    _refused(lambda: load_config(cfg), ConfigError, r"temi\.yaml: not valid YAML", root, marker)
    _refused(lambda: parse_overrides([f"optim.lr={tag.format(m=marker)}"]), ConfigError,
             "value is not a valid scalar", root, marker)
    cfg.write_text("clusters: 3\noptim:\n  lr: 0.001\n")  # control: the same file without the tag loads
    assert load_config(cfg).optim.lr == 0.001


# ---------------------------------------------------------------- archives whose members escape


def _escaping_names(root: Path) -> list[str]:
    return ["../escape.png", "a/../../escape.png", str(root / "abs_escape.png"), "/abs_escape.png"]


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_escaping_members_refused_by_both_readers(sandbox, kind):
    root, marker = sandbox
    img = hc.png_bytes(np.zeros((8, 8, 3), np.uint8))
    for i, bad in enumerate(_escaping_names(root)):
        files = {"fine.png": img, bad: img}
        path = root / f"bad{i}.{kind}"
        if kind == "zip":
            hc.zip_of(path, files)
        else:
            hc.tar_of(path, files, mode="w" if kind == "tar" else "w:gz")
        out = root / "out"
        _refused(lambda path=path: open_images(path), UnsafeFileError, "refusing the archive", root, marker)
        _refused(lambda path=path: read_fragment_folder(path), UnsafeFileError, "refusing the archive", root,
                 marker)
        before = hc.tree_snapshot(root)
        assert main(["fragments", "solve", str(path), "--out", str(out)]) == 1
        assert hc.tree_snapshot(root) == before and not out.exists()
        assert not (root.parent / "escape.png").exists() and not Path("/abs_escape.png").exists()


def test_tar_symlink_members_never_followed(sandbox):
    root, marker = sandbox
    outside = root / "outside.png"
    outside.write_bytes(hc.png_bytes(np.full((8, 8, 3), 200, np.uint8)))
    img = hc.png_bytes(np.zeros((8, 8, 3), np.uint8))
    path = hc.tar_of(root / "links.tar.gz", {"a.png": img}, links={"b.png": str(outside), "c.png": "../outside.png"})
    before = hc.tree_snapshot(root)
    ds = open_images(path)
    assert ds.names == ["a.png"] and ds.image(0).max() == 0  # links are skipped, never read
    folder = read_fragment_folder(path)  # one archive reader: the fragment reader skips links too
    assert folder.files == ["a.png"] and folder.skipped == 2 and folder.fragments.max() == 0
    assert hc.tree_snapshot(root) == before and not marker.exists()


def test_zip_symlink_members_read_as_data_never_followed(sandbox):
    root, marker = sandbox
    outside = root / "outside.png"
    outside.write_bytes(hc.png_bytes(np.full((8, 8, 3), 200, np.uint8)))
    img = hc.png_bytes(np.zeros((8, 8, 3), np.uint8))
    path = hc.zip_of(root / "links.zip", {"a.png": img}, links={"b.png": str(outside)})
    before = hc.tree_snapshot(root)
    ds = open_images(path)
    assert ds.image(ds.names.index("a.png")).max() == 0
    # the member holds the link text, not the target's pixels: it fails to decode, naming the member
    with pytest.raises(DataFormatError, match=r"links\.zip/b\.png: not a readable image"):
        ds.image(ds.names.index("b.png"))
    with pytest.raises(DataFormatError, match=r"links\.zip/b\.png: not a readable image"):
        read_fragment_folder(path)
    assert hc.tree_snapshot(root) == before and not marker.exists()


# ---------------------------------------------------------------- compression and decompression bombs


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """Bombs of 16 MiB (checked against a 1 MiB free allowance, see below) and one declaring 4 GiB."""
    d = tmp_path_factory.mktemp("bombs")
    size = 16 * hc.MiB
    return {
        "zip": hc.zip_bomb(d / "bomb.zip", size=size),
        "zip-lying": hc.zip_lying_size(d / "lying.zip", declared=4 * 2**30),
        "tgz": hc.tgz_bomb(d / "bomb.tar.gz", size=size),
        "imagenet-zip": hc.zip_bomb(d / "Imagenet64_val.zip", name="val_data", size=size),
        "npz": hc.npz_bomb(d / "bomb.npz", shape=(size // (64 * 64 * 3), 64, 64, 3)),
    }


def _peak_bytes(call) -> int:
    """Peak Python/NumPy heap growth while ``call()`` runs (it is expected to raise)."""
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("kind", ["zip", "zip-lying", "tgz", "imagenet-zip", "npz"])
def test_compression_bombs_refused_with_bounded_memory(bombs, kind, monkeypatch):
    # the real allowance is 64 MiB before the expansion ratio counts; 1 MiB keeps the bombs small
    # here (the lying zip declares 4 GiB and is refused under the real allowance too)
    if kind != "zip-lying":
        monkeypatch.setattr(archives, "EXPANSION_FREE_BYTES", hc.MiB)
    path = bombs[kind]
    assert path.stat().st_size < 160 * 1024  # each one inflates over 100x, to >= 16 MiB
    before = hc.tree_snapshot(path.parent)

    def load():
        with pytest.raises(UnsafeFileError, match=rf"{path.name}: member .* refusing a possible compression bomb"):
            ds = open_images(path)
            ds.image(0)

    assert _peak_bytes(load) < 4 * hc.MiB
    assert hc.tree_snapshot(path.parent) == before


def test_small_compressible_members_are_not_bombs(tmp_path):
    """Control: a highly compressible image under the allowance opens (a blank PNG-named BMP-like blob
    is still decoded normally when it is a real image)."""
    blank = hc.png_bytes(np.zeros((256, 256, 3), np.uint8))
    path = hc.zip_of(tmp_path / "blank.zip", {"a.png": blank})
    assert open_images(path).image(0).shape == (256, 256, 3)


def test_npz_header_declaring_more_than_it_holds(sandbox):
    root, _ = sandbox
    path = hc.npz_lying_header(root / "lying.npz")
    with pytest.raises(DataFormatError, match=r"lying\.npz: array 'images\.npy' declares .* holds"):
        open_images(path)


@pytest.mark.parametrize("kind", ["folder", "zip", "tar"])
def test_image_decompression_bomb_refused(sandbox, kind):
    root, marker = sandbox
    files = {"ok.png": hc.png_bytes(np.zeros((8, 8, 3), np.uint8)), "bomb.png": hc.png_claiming(60000, 60000)}
    if kind == "folder":
        path = hc.write_files(root / "in", files)
    elif kind == "zip":
        path = hc.zip_of(root / "in.zip", files)
    else:
        path = hc.tar_of(root / "in.tar", files, mode="w")
    ds = open_images(path)
    assert ds.image(ds.names.index("ok.png")).shape == (8, 8, 3)
    i = ds.names.index("bomb.png")
    _refused(lambda: ds.image(i), UnsafeFileError, r"bomb\.png: refusing a possible decompression bomb",
             root, marker)


def test_marker_payload_really_runs_when_unrestricted(sandbox):
    """Control for the marker itself: plain pickle.loads of the corpus does run the payload."""
    root, marker = sandbox
    for payload in PAYLOADS:
        pickle.loads(hc.evil_batch(hc.payloads(marker)[payload]))
        assert marker.exists()
        os.remove(marker)
