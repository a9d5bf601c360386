"""Input files are opened only when they are regular files: FIFOs, devices and sockets are refused by name."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from unshuffle.errors import UnsafeFileError

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is ("a named pipe (FIFO)", ...), or None for files and folders."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_regular(path: str | Path) -> None:
    """Raise UnsafeFileError naming ``path`` when it (or what its symlink points to) is a FIFO, a device
    or a socket: reading one could block forever or never end. Missing paths and folders pass (the
    caller reports those); nothing is opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    kind = special_kind(mode)
    if kind is not None:
        raise UnsafeFileError(path, f"is {kind}, not a regular file; refusing to read it")


def open_regular(path: str | Path) -> BinaryIO:
    """Open ``path`` for binary reading, refusing (UnsafeFileError) anything but a regular file.

    The kind is checked by name first, then again on the open descriptor (opened non-blocking, so
    a FIFO swapped in between cannot block the open either).
    """
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeFileError(path, f"is {special_kind(mode) or 'a folder'}, not a regular file; "
                                        "refusing to read it")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
