"""Hostile files built on the fly: code-running pickles and checkpoints, YAML object tags, archives
with ``..``/absolute/link members, compression bombs and image decompression bombs.

Every builder writes under a folder the test owns and returns the path; payloads that would run code
create a *marker* file, so a test proves that nothing ran by checking the marker is absent.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

MiB = 2**20


class CodePayload:
    """Pickles as a call ``fn(*args)``: whoever unpickles it without restriction runs the call."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def payloads(marker: Path) -> dict[str, CodePayload]:
    """Two ways to run code on unpickling, each creating ``marker``: a shell command and Python exec."""
    return {
        "os.system": CodePayload(os.system, f"touch {marker}"),
        "builtins.exec": CodePayload(builtins.exec, f"open({str(marker)!r}, 'w').write('ran')"),
    }


def evil_batch(payload: CodePayload, protocol: int = 2) -> bytes:
    """A pickled batch dict whose ``data`` is the payload (as a Downsampled-ImageNet / CIFAR batch)."""
    return pickle.dumps({"data": payload, "labels": [1]}, protocol=protocol)


def good_cifar_batch(n: int = 2, label_key: str = "labels") -> bytes:
    data = np.random.default_rng(0).integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
    return pickle.dumps({b"data": data, label_key.encode(): list(range(n))}, protocol=2)


def cifar10_files(evil: bytes, where: str) -> dict[str, bytes]:
    """The official ``cifar-10-batches-py`` layout with ``evil`` as the file named ``where``."""
    meta = pickle.dumps({b"label_names": [f"c{k}".encode() for k in range(10)]}, protocol=2)
    files = {"batches.meta": meta, "test_batch": good_cifar_batch()}
    files.update({f"data_batch_{k}": good_cifar_batch() for k in range(1, 6)})
    files[where] = evil
    return {f"cifar-10-batches-py/{k}": v for k, v in files.items()}


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def tar_of(out: Path, files: dict[str, bytes], mode: str = "w:gz",
           links: dict[str, str] | None = None) -> Path:
    """A tar with regular ``files`` and symbolic ``links`` (name -> target); names are taken verbatim."""
    with tarfile.open(out, mode, format=tarfile.GNU_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return out


def zip_of(out: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A deflated zip; ``links`` become Unix symlink members (mode S_IFLNK, data = the target)."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return out


def png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` RGB pixels (an image decompression bomb)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def zip_bomb(out: Path, name: str = "a.png", size: int = 100 * MiB) -> Path:
    """A zip whose one member inflates ``size`` bytes of zeros from ~size/1000 compressed bytes."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name, "w", force_zip64=True) as f:
            block = bytes(MiB)
            for _ in range(size // MiB):
                f.write(block)
    return out


def zip_lying_size(out: Path, name: str = "a.png", declared: int = 10 * 2**30) -> Path:
    """A zip whose member's local and central headers declare ``declared`` bytes for 1 KiB of data."""
    data = png_bytes(np.zeros((8, 8, 3), np.uint8))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    raw = bytearray(out.read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed-size field offsets
        pos = raw.find(sig)
        raw[pos + off:pos + off + 4] = struct.pack("<I", min(declared, 0xFFFFFFFE))
    out.write_bytes(bytes(raw))
    return out


class _Zeros(io.RawIOBase):
    def __init__(self, n: int):
        self.n = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        k = min(len(b), self.n)
        b[:k] = bytes(k)
        self.n -= k
        return k


def tgz_bomb(out: Path, name: str = "a.png", size: int = 100 * MiB) -> Path:
    """A .tar.gz whose one member is ``size`` bytes of zeros (~size/1000 on disk)."""
    with tarfile.open(out, "w:gz", compresslevel=9) as tf:
        info = tarfile.TarInfo(name)
        info.size = size
        tf.addfile(info, io.BufferedReader(_Zeros(size)))
    return out


def npz_bomb(out: Path, shape: tuple[int, ...] = (1700, 128, 128, 3)) -> Path:
    """An .npz whose compressed ``images`` member is a consistent uint8 array of zeros (> 64 MiB)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    total = int(np.prod(shape))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("images.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            block = bytes(MiB)
            while total > 0:
                f.write(block[:min(MiB, total)])
                total -= MiB
    return out


def npz_lying_header(out: Path, shape: tuple[int, ...] = (10**6, 64, 64, 3)) -> Path:
    """An .npz whose ``images`` header declares ``shape`` but holds 12 bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("images.npy", header.getvalue() + bytes(12))
    return out


def tree_snapshot(root: Path) -> dict[str, int]:
    """{relative path: size} of everything under ``root`` (links not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p.lstat().st_size if not p.is_dir() else -1
    return out
