"""Fork server for the SIGKILL atomic-write test: imports only torch and unshuffle.runs (no Lightning).

Run as ``python kill_writer.py FOLDER``. It prints ``ready``, then reads commands on stdin:

* ``fork K``: fork a writer child that rewrites ``FOLDER/result.json`` (atomic_write_json) and
  ``FOLDER/last.ckpt`` (save_checkpoint) in a loop with versions K+1, K+2, ...; prints ``child PID``.
  The child announces ``PID writing json|ckpt V`` before and ``PID wrote json|ckpt V`` after each
  write, straight to the pipe (one ``os.write`` per line).
* ``wait PID``: reap that child (after the test killed it) and print ``dead PID STATUS``.
* ``quit``.

Forking once-imported children keeps each kill cheap: importing torch takes seconds here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from unshuffle.runs.atomic import atomic_write_json
from unshuffle.runs.checkpoints import save_checkpoint

JSON_REPEAT = 100_000  # 0.8 MB of JSON text
CKPT_FLOATS = 2_000_000  # 8 MB of tensor data


def json_doc(version: int) -> dict:
    """The JSON written at ``version``: ``fill`` repeats the version, so a torn file is detectable."""
    return {"version": version, "fill": f"{version:08d}" * JSON_REPEAT}


def ckpt_doc(version: int) -> dict:
    """The checkpoint written at ``version``: (CKPT_FLOATS,) float32 filled with the version."""
    return {"version": version, "weights": torch.full((CKPT_FLOATS,), float(version))}


def _line(text: str) -> None:
    """One whole line in one write, so lines of the server and its children never interleave."""
    os.write(1, f"{text}\n".encode())


def _say(line: str) -> None:
    _line(f"{os.getpid()} {line}")


def _writer(folder: Path, start: int) -> None:
    version = start
    while True:
        version += 1
        doc = json_doc(version)  # built before the announcement: "writing" means the write itself
        _say(f"writing json {version}")
        atomic_write_json(folder / "result.json", doc)
        _say(f"wrote json {version}")
        ckpt = ckpt_doc(version)
        _say(f"writing ckpt {version}")
        save_checkpoint(ckpt, folder / "last.ckpt")
        _say(f"wrote ckpt {version}")


def main(folder: Path) -> None:
    torch.set_num_threads(1)
    _line("ready")
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "fork":
            pid = os.fork()
            if pid == 0:
                try:
                    _writer(folder, int(args[0]))
                finally:
                    os._exit(3)  # only reached if a write raised: the test sees status 3
            _line(f"child {pid}")
        elif cmd == "wait":
            pid = int(args[0])
            _, status = os.waitpid(pid, 0)
            _line(f"dead {pid} {status}")
        elif cmd == "quit":
            return


if __name__ == "__main__":
    main(Path(sys.argv[1]))
