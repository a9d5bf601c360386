"""Weight files that cannot carry code: an ``.npz`` of arrays plus a JSON header, read with allow_pickle=False."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from unshuffle.errors import CheckpointError


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray], header: dict) -> None:
    """Write ``arrays`` and the JSON ``header`` (stored as a uint8 array named ``header``) atomically,
    readable by everyone (a model file is meant to be shared)."""
    from unshuffle.runs.atomic import atomic_path

    if "header" in arrays:
        raise ValueError("'header' is reserved for the JSON header")
    blob = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, header=blob, **arrays)
        os.chmod(tmp, 0o644)


def load_arrays(path: str | Path, fmt: str, what: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of a file written by :func:`save_arrays` whose header says ``format: fmt``.

    Only arrays are read (``allow_pickle=False``); a missing file, a pickle, a damaged archive or
    another format raises CheckpointError naming the file and ``what`` it should have been.
    """
    path = Path(path)
    article = "an" if what[:1] in "aeiou" else "a"
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(bytes(z["header"]).decode())
            arrays = {k: z[k].copy() for k in z.files if k != "header"}
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not a readable {what} ({type(e).__name__}: {e})") from e
    if not isinstance(header, dict) or header.get("format") != fmt:
        found = header.get("format") if isinstance(header, dict) else header
        raise CheckpointError(f"{path}: not {article} {what} (format {found!r})")
    return header, arrays
