"""Checkpoint files: atomic saves, weights-only loads, RNG state capture and a (lazily built) Lightning CheckpointIO."""

from __future__ import annotations

import io
import pickle
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unshuffle.errors import CheckpointError, brief
from unshuffle.regular_files import check_regular
from unshuffle.runs.atomic import atomic_path

# what torch.load raises on a damaged file besides UnpicklingError (its unpickler pops empty stacks,
# indexes short buffers, reads bad lengths, or allocates a corrupt length field)
_CORRUPT = (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError, TypeError, AttributeError,
            struct.error, OverflowError, MemoryError)


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Save ``state`` (plain containers, tensors, numbers, strings) atomically with torch.save.

    A failed write (folder not writable, disk full) raises CheckpointError or OutputError naming
    ``path``; an earlier checkpoint at ``path`` is left as it was.
    """
    buf = io.BytesIO()  # serialised in memory, then written by Python: a full disk is ENOSPC, named as such
    torch.save(state, buf)  # (torch's own file writer reports it as "unexpected pos N vs M")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(buf.getbuffer())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``: no code in the file can run.

    Raises CheckpointError naming the file when it is missing, truncated or holds objects other
    than tensors and plain containers.
    """
    path = Path(path)
    check_regular(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused, holds objects that are not plain data ({brief(e)})") from e
    except _CORRUPT as e:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return obj


def rng_state() -> dict:
    """Python, NumPy (global) and torch RNG states as plain data (loadable with weights_only)."""
    py = random.getstate()
    np_state = np.random.get_state(legacy=False)  # {"bit_generator", "state": {"key", "pos"}, "has_gauss", "gauss"}
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {k: ({kk: np.asarray(vv).tolist() for kk, vv in v.items()} if isinstance(v, dict) else v)
                  for k, v in np_state.items()},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    ns = state["numpy"]
    np.random.set_state({**ns, "state": {"key": np.asarray(ns["state"]["key"], dtype=np.uint32),
                                         "pos": int(ns["state"]["pos"])}})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RunStateHooks:
    """LightningModule mixin: checkpoints also carry ``self.config`` and the RNG states, which are
    restored on load (list it before ``L.LightningModule`` in the bases)."""

    config: dict

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["config"] = self.config
        checkpoint["rng_states"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint:
            set_rng_state(checkpoint["rng_states"])


def _atomic_checkpoint_io() -> type:
    """Build :class:`AtomicCheckpointIO` on first use, so importing this module does not import Lightning
    (a process that only saves or loads checkpoints, such as a writer killed in the atomicity test,
    stays light)."""
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Lightning CheckpointIO: temporary file in the same folder, fsync, rename; weights-only loads."""

        def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
            if storage_options is not None:
                raise TypeError(f"AtomicCheckpointIO takes no storage_options, got {storage_options!r}")
            save_checkpoint(checkpoint, path)

        def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
            return load_checkpoint(path, map_location=map_location or "cpu")

    # found again by name (module __getattr__), so instances pickle, e.g. for ddp_spawn workers
    AtomicCheckpointIO.__module__, AtomicCheckpointIO.__qualname__ = __name__, "AtomicCheckpointIO"
    return AtomicCheckpointIO


def __getattr__(name: str) -> Any:
    if name == "AtomicCheckpointIO":
        cls = _atomic_checkpoint_io()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def epoch_metrics_callback(run):
    """A Lightning callback appending one line per epoch to ``run``'s metrics.jsonl (rank zero only):
    epoch, step, seconds since start, and ``train_loss`` / ``val_loss`` when logged. run: a RunDir."""
    import time

    from unshuffle.runs.rolling import MetricsLines

    class MetricsLog(MetricsLines):
        def __init__(self):
            super().__init__(run)
            self._t0 = time.time()

        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.sanity_checking or not trainer.is_global_zero:
                return
            m = trainer.callback_metrics
            rec = {"epoch": trainer.current_epoch, "step": trainer.global_step,
                   "seconds": round(time.time() - self._t0, 3)}
            for key in ("train_loss_epoch", "val_loss"):
                if key in m:
                    rec[key.removesuffix("_epoch")] = float(m[key])
            self.append(rec)

    return MetricsLog()
