"""Tar and zip archives read in place (never extracted), with path-traversal checks on member names.

Tar headers are parsed by :mod:`unshuffle.data.tar_scan` (tarfile is ~10x slower per member).
Compressed tar files (.tar.gz/.tgz/.tar.bz2/.tar.xz) cannot be read at random, so they are read
once, in one stream, and the *encoded* bytes of the members worth keeping (images, small metadata
files) stay in memory; images are decoded only when asked. Plain .tar files keep member offsets and
seek; zip files keep the central directory and read members on demand.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from unshuffle.data.tar_scan import tar_members
from unshuffle.errors import DataFormatError, UnsafeFileError

_CORRUPT_ARCHIVE = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError)
# zipfile raises NotImplementedError for an unknown compression method, RuntimeError for an encrypted member
_BAD_ZIP_MEMBER = (*_CORRUPT_ARCHIVE, NotImplementedError, RuntimeError)
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")

#: A compressed member (or a compressed tar stream) may expand this many times over its compressed
#: size before it is taken for a compression bomb (images, pickles and CIFAR data expand < 3x) ...
MAX_EXPANSION = 100
#: ... unless it stays under this many bytes: small, highly compressible files are normal.
EXPANSION_FREE_BYTES = 64 * 2**20


def check_expansion(archive: str | Path, name: str, size: int, compressed: int) -> None:
    """Refuse (UnsafeFileError) a member of ``size`` bytes stored in ``compressed`` bytes when it
    expands more than :data:`MAX_EXPANSION` times and past :data:`EXPANSION_FREE_BYTES`."""
    if size > EXPANSION_FREE_BYTES and size > MAX_EXPANSION * max(compressed, 1):
        raise UnsafeFileError(
            archive, f"member {name!r} expands from {compressed} to {size} bytes (over {MAX_EXPANSION}x); "
            "refusing a possible compression bomb"
        )


def safe_member_name(name: str, archive: str | Path) -> str:
    """``name`` as a clean relative ``/`` path; absolute paths and ``..`` raise UnsafeFileError."""
    n = name.replace("\\", "/")
    if n.startswith("/") or (len(n) > 1 and n[1] == ":"):
        raise UnsafeFileError(archive, f"member {name!r} has an absolute path; refusing the archive")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeFileError(archive, f"member {name!r} points outside the archive ('..'); refusing the archive")
    return "/".join(parts)


def check_unique(seen: set[str], name: str, archive: str | Path) -> None:
    """Refuse (DataFormatError) a member ``name`` already in ``seen`` (after name cleaning): two
    members under one name make it ambiguous which one is meant. Adds ``name`` to ``seen``."""
    if name in seen:
        raise DataFormatError(archive, f"member {name!r} appears more than once; refusing an ambiguous archive")
    seen.add(name)


def archive_kind(path: Path) -> str | None:
    """``"tar"``, ``"tar-compressed"``, ``"zip"`` from the file's first bytes, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise DataFormatError(path, f"cannot read the file ({e.strerror or e})") from e
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if any(head.startswith(m) for m in _COMPRESSED_MAGIC):
        return "tar-compressed"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


class TarMemoryStore:
    """A compressed tar read in one pass; kept members' bytes live in memory.

    Attributes:
        names: every regular member (clean relative names), kept or not.
        links: symbolic/hard link members (never followed; reported as skipped).
    """

    def __init__(self, path: Path, keep: Callable[[str], bool]):
        self.path = path
        self.names: list[str] = []
        self.links: list[str] = []
        self._data: dict[str, bytes] = {}
        try:
            compressed = path.stat().st_size
            with _open_compressed(path) as f:
                seen: set[str] = set()
                for kind, raw, size, offset in tar_members(f, path):
                    name = safe_member_name(raw, path)
                    if kind != "other":  # directory entries may repeat
                        check_unique(seen, name, path)
                    # bounds memory and time: the stream is never decompressed past this point
                    check_expansion(path, name, offset + size, compressed)
                    if kind == "link":
                        self.links.append(name)
                    elif kind == "file":
                        self.names.append(name)
                        if keep(name):
                            data = f.read(size)
                            if len(data) != size:
                                raise DataFormatError(path, f"truncated archive (member {name!r} is cut short)")
                            self._data[name] = data
        except DataFormatError:
            raise
        except _CORRUPT_ARCHIVE as e:
            raise DataFormatError(path, f"truncated or corrupt archive ({type(e).__name__}: {e})") from e

    def read_bytes(self, name: str) -> bytes:
        try:
            return self._data[name]
        except KeyError:
            raise DataFormatError(self.path, f"member {name!r} was not kept in memory") from None


class TarOffsetStore:
    """An uncompressed tar: member offsets are listed once, bytes are read by seeking."""

    def __init__(self, path: Path):
        self.path = path
        self.names: list[str] = []
        self.links: list[str] = []
        self._where: dict[str, tuple[int, int]] = {}
        try:
            total = path.stat().st_size
            with open(path, "rb") as f:
                seen: set[str] = set()
                for kind, raw, size, offset in tar_members(f, path):
                    name = safe_member_name(raw, path)
                    if kind != "other":  # directory entries may repeat
                        check_unique(seen, name, path)
                    if kind == "link":
                        self.links.append(name)
                    elif kind == "file":
                        if offset + size > total:
                            raise DataFormatError(path, f"truncated archive (member {name!r} is cut short)")
                        self.names.append(name)
                        self._where[name] = (offset, size)
        except DataFormatError:
            raise
        except _CORRUPT_ARCHIVE as e:
            raise DataFormatError(path, f"truncated or corrupt archive ({type(e).__name__}: {e})") from e
        self._fd: int | None = None

    def read_bytes(self, name: str) -> bytes:
        offset, size = self._where[name]
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        # pread leaves the shared file offset alone: safe across threads and forked workers
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise DataFormatError(self.path, f"member {name!r} is truncated ({len(data)} of {size} bytes)")
        return data

    def __getstate__(self) -> dict:  # picklable for DataLoader workers: reopen the file there
        state = dict(self.__dict__)
        state["_fd"] = None
        return state

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


class ZipStore:
    """A zip file read in place: the member table is listed once, members are read on demand."""

    def __init__(self, path: Path):
        self.path = path
        self.links: list[str] = []
        self._zip: zipfile.ZipFile | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        zf = self._open()
        self._member: dict[str, str] = {}
        seen: set[str] = set()
        for info in zf.infolist():
            name = safe_member_name(info.filename, path)
            if not info.is_dir():
                check_unique(seen, name, path)
                self._member[name] = info.filename
        self.names = sorted(self._member)

    def _open(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            # a forked worker opens its own handle: a shared file offset would garble reads
            self._pid = os.getpid()
            try:
                self._zip = zipfile.ZipFile(self.path)
            except _CORRUPT_ARCHIVE as e:
                raise DataFormatError(self.path, f"truncated or corrupt zip ({type(e).__name__}: {e})") from e
        return self._zip

    def _info(self, zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
        """The member's entry, refused when its declared size makes it a compression bomb (zipfile
        never inflates a member past its declared size, so this bounds what a read can allocate)."""
        info = zf.getinfo(self._member[name])
        check_expansion(self.path, name, info.file_size, info.compress_size)
        return info

    def read_bytes(self, name: str) -> bytes:
        with self._lock:
            zf = self._open()
            info = self._info(zf, name)
            try:
                return zf.read(info)
            except _BAD_ZIP_MEMBER as e:
                raise DataFormatError(f"{self.path}/{name}", f"unreadable zip member ({type(e).__name__}: {e})") from e

    def member_size(self, name: str) -> int:
        """Uncompressed size in bytes of one member."""
        with self._lock:
            return self._info(self._open(), name).file_size

    def open_member(self, name: str) -> IO[bytes]:
        """A binary stream over one member (for large members: pickle batches are read streaming)."""
        with self._lock:
            zf = self._open()
            try:
                return zf.open(self._info(zf, name))
            except _BAD_ZIP_MEMBER as e:
                raise DataFormatError(f"{self.path}/{name}", f"unreadable zip member ({type(e).__name__}: {e})") from e

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_zip"], state["_lock"] = None, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _open_compressed(path: Path) -> IO[bytes]:
    """A decompressing binary stream over a .tar.gz / .tar.bz2 / .tar.xz file (chosen by magic bytes)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if head.startswith(b"BZh"):
        return bz2.open(path, "rb")
    return lzma.open(path, "rb")


def open_archive(path: Path, keep: Callable[[str], bool]) -> TarMemoryStore | TarOffsetStore | ZipStore:
    """Open a tar/zip archive in place; ``keep(name)`` says which compressed-tar members to hold."""
    kind = archive_kind(path)
    if kind == "zip":
        return ZipStore(path)
    if kind == "tar-compressed":
        return TarMemoryStore(path, keep)
    if kind == "tar":
        return TarOffsetStore(path)
    raise DataFormatError(path, "not a tar or zip archive (unrecognised first bytes)")
