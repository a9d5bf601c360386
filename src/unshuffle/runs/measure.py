"""Measuring a run: peak resident memory during calls, the version of the code that ran, file digests."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class PeakRSS:
    """Context manager sampling this process's resident set size every ``interval`` s (Linux /proc)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.page = 4096
        self.start = self.peak = 0

    @staticmethod
    def available() -> bool:
        return Path("/proc/self/statm").exists()

    def _rss(self) -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * self.page

    def __enter__(self) -> PeakRSS:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 4 MiB blocks (``algorithm``: any name ``hashlib`` knows)."""
    import hashlib

    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def code_version() -> dict:
    """What produced the numbers: sha256 of every source file of the package (``src/unshuffle``, the
    bench harness ``fragments/bench.py`` excluded) and, inside a git checkout, the commit and whether
    the package has uncommitted changes (None outside git)."""
    import hashlib
    import subprocess

    import unshuffle

    root = Path(unshuffle.__file__).parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if rel != "fragments/bench.py":
            h.update(rel.encode() + b"\0" + f.read_bytes())
    out = {"code_sha256": h.hexdigest()[:16], "git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return out  # no git executable: commit unknown, recorded as None
    if commit.returncode == 0:
        out["git_commit"] = commit.stdout.strip()
        out["git_dirty"] = bool(dirty.stdout.strip())
    return out


def write_results(results: dict, out: str | Path | None) -> dict:
    """Print ``results`` as JSON and, with ``out``, write it atomically with the code version
    (:func:`code_version`) under ``"code"``; returns what was written."""
    import json

    from unshuffle.runs.atomic import atomic_write_json

    doc = {**results, "code": results.get("code") or code_version()}
    print(json.dumps(doc, indent=1))
    if out:
        atomic_write_json(out, doc)
    return doc
