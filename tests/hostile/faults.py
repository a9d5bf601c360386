"""Simulated write faults under one folder: not writable (EACCES) or disk full (ENOSPC).

Tests may run as root, where chmod does not stop writes, so the faults are injected by patching the
ways the package writes files: ``open``/``io.open`` (Python files, Pillow, pathlib), ``os.open``
(tempfile), ``os.mkdir`` and ``torch.save`` (which writes through its own C++ writer).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import sys
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class _FullFile:
    """A writable file that accepts ``budget`` bytes in all, then fails every write with ENOSPC."""

    def __init__(self, f, budget: list[int]):
        self._f, self._budget = f, budget

    def write(self, data):
        room = self._budget[0]
        if len(data) > room:
            if room:
                self._f.write(data[:room])
                self._budget[0] = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget[0] -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __iter__(self):
        return iter(self._f)


def inject(monkeypatch, root: Path, code: int, budget: int = 1000) -> None:
    """From now on (until monkeypatch undoes it), writes under ``root`` fail with ``code``.

    EACCES: creating or opening any file or folder under ``root`` for writing is refused.
    ENOSPC: files open, but only ``budget`` bytes in all get written under ``root`` (a partial file
    is left for the writer to clean up), then every write fails.
    """
    root = os.path.realpath(root)
    left = [budget]
    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def under(path) -> bool:
        try:
            p = os.path.realpath(os.fsdecode(path))
        except TypeError:  # a file descriptor
            return False
        return p == root or p.startswith(root + os.sep)

    def refuse(path):  # EACCES comes out as PermissionError, EROFS as a plain OSError
        raise OSError(code, os.strerror(code), os.fspath(path))

    def fake_open(file, mode="r", *args, **kwargs):
        writing = any(c in mode for c in "wax+")
        if writing and under(file):
            if code != errno.ENOSPC:
                refuse(file)
            return _FullFile(real_open(file, mode, *args, **kwargs), left)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        if code != errno.ENOSPC and flags & _WRITE_FLAGS and under(path):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if code != errno.ENOSPC and under(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        real_save = torch.save

        def fake_save(obj, f, *args, **kwargs):
            if isinstance(f, (str, os.PathLike)) and under(f):
                if code != errno.ENOSPC:
                    refuse(f)
                buf = io.BytesIO()
                real_save(obj, buf, *args, **kwargs)
                with real_open(f, "wb") as out:
                    out.write(buf.getvalue()[: left[0]])  # the part that fitted
                left[0] = 0
                raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
            return real_save(obj, f, *args, **kwargs)

        monkeypatch.setattr(torch, "save", fake_save)
