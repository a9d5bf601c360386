"""Atomic file writes: write a temporary file in the same folder, fsync, rename into place."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from unshuffle.errors import OutputError, UnshuffleError

MIN_FREE_BYTES = 1 << 20  # check_writable: less free space than this counts as a full disk


def current_umask() -> int:
    """The process umask (read from /proc on Linux, else by setting and restoring it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass  # no /proc: fall back to the set-and-restore read below
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _output_error(path: Path, e: OSError) -> OutputError:
    """``e`` (a failed write, mkdir or rename for ``path``) as an OutputError naming ``path``."""
    return OutputError(path, f"cannot write ({(e.strerror or str(e)).lower()}); nothing was changed", e.errno)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was; an OSError (folder
    not writable, disk full, ...) comes out as :class:`~unshuffle.errors.OutputError` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; the result gets the user's umask
    except OSError as e:
        raise _output_error(path, e) from e
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        tmp_path.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, UnshuffleError):
            raise _output_error(path, e) from e
        raise


@contextlib.contextmanager
def writes_reported(folder: str | Path) -> Iterator[None]:
    """Turn a bare OSError raised inside (a write failing in a library's own writer, e.g. TensorBoard's,
    on a full disk) into an OutputError naming the file it names, else ``folder``."""
    try:
        yield
    except OSError as e:
        if isinstance(e, UnshuffleError):
            raise
        where = os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes, os.PathLike)) else folder
        raise OutputError(where, f"cannot write ({(e.strerror or str(e)).lower()})", e.errno) from e


def check_writable(folder: str | Path) -> None:
    """Raise OutputError naming ``folder`` unless a file can be created in it (or, while it does not
    exist yet, in its nearest existing parent): called before long work, so a read-only or full
    output location is found before hours of training or extraction, not after."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(folder, f"cannot write: {probe} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".unshuffle-write-check.", suffix=".tmp", dir=probe)
        os.close(fd)
        os.unlink(tmp)
        free = shutil.disk_usage(probe).free
    except OSError as e:
        raise OutputError(folder, f"cannot write ({(e.strerror or str(e)).lower()})", e.errno) from e
    if free < MIN_FREE_BYTES:
        raise OutputError(folder, f"cannot write (no space left on device: {free} bytes free)", errno.ENOSPC)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # fsync of a directory is not supported everywhere; durability only, not atomicity
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def check_apart(source: str | Path, out: str | Path) -> None:
    """Refuse (ConfigError) an output folder ``out`` that is the input ``source``, holds it or lies inside it.

    Replacing ``out`` (``--overwrite``) would delete the input, and outputs written inside an input folder
    are read back as input the next time the folder is read. Paths are compared by name after resolving
    links, and where they exist also as files (``os.path.samefile``), so another spelling of one folder
    (``BAG`` for ``bag`` on a case-insensitive disk) is caught too.
    """
    from unshuffle.errors import ConfigError

    src, dst = Path(os.path.realpath(source)), Path(os.path.realpath(out))  # realpath: no error on link loops
    is_input = _same(dst, src)
    if is_input or any(_same(dst, p) for p in src.parents):
        raise ConfigError(f"output folder {out} {'is' if is_input else 'holds'} the input {source}; "
                          "writing it would replace the input: choose another output folder")
    if any(_same(src, p) for p in dst.parents):
        raise ConfigError(f"output folder {out} is inside the input {source}: its files would be read as input "
                          "next time; choose a folder outside it")


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file or folder: equal names, or both existing and the same file."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet): the names decide
        return False


def _is_output(path: Path, marker: str) -> bool:
    """Whether folder ``path`` holds ``marker`` or nothing but hidden files (.DS_Store and the like)."""
    try:
        return (path / marker).is_file() or all(p.name.startswith(".") for p in path.iterdir())
    except OSError as e:
        raise _output_error(path, e) from e


def check_out_folder(path: str | Path, overwrite: bool = False, label: str = "", marker: str | None = None) -> None:
    """Refuse (ConfigError) an output folder ``path`` that is a file (``overwrite`` replaces folders only,
    never a file) or that exists while ``overwrite`` is off. With ``marker`` (a file every earlier output
    of this kind holds, e.g. ``groups.json``), ``overwrite`` replaces only a folder holding it or nothing but
    hidden files: a photo folder given by mistake is never deleted. label: how messages name it (e.g. "out_dir ")."""
    from unshuffle.errors import ConfigError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{label}{path} is a file, not a folder; overwrite=True (--overwrite) replaces "
                          "folders only: choose another path")
    if path.exists() and not overwrite:
        raise ConfigError(f"{label}{path} already exists; pass overwrite=True (--overwrite) to replace it")
    if path.exists() and marker is not None and not _is_output(path, marker):
        raise ConfigError(f"{label}{path} is not an earlier output of this command (it has files but no {marker}); "
                          "overwrite=True (--overwrite) replaces only those: choose another path or empty it yourself")


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False, marker: str | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``path``; on success it is renamed to ``path``.

    An existing ``path`` is refused (ConfigError) unless ``overwrite`` and it is a folder (a file is
    always refused, and with ``marker`` so is a folder of other files: ``check_out_folder``); then it
    stays intact until the new folder is complete, is moved aside, the new one renamed in, and the old one deleted. On
    any error the temporary folder is removed and ``path`` is left as it was; an OSError raised while
    the folder is built or moved (not writable, disk full, ...) comes out as
    :class:`~unshuffle.errors.OutputError` naming ``path``.
    """
    import shutil

    from unshuffle.errors import ConfigError

    path = Path(path)
    check_out_folder(path, overwrite, marker=marker)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the result gets the user's umask
    except OSError as e:
        raise _output_error(path, e) from e
    try:
        yield tmp
        if path.exists():
            if not overwrite:
                raise ConfigError(f"{path} appeared while it was being written; not replacing it")
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, UnshuffleError):
            raise _output_error(path, e) from e
        raise
