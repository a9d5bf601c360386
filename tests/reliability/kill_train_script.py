"""Trains one of the package's models with default checkpointing and SIGKILLs itself at a fixed point
(test helper for test_reliability_kill_resume.py).

Usage: python kill_train_script.py TRAINER DATA OUT POINT
  TRAINER: temi | ae | pair | ae-ddp (settings from kill_train_configs.py; ae-ddp starts a second
           process, which runs this script again, so both processes carry the kill point)
  POINT:   step:N   when optimiser step N is about to run (mid-epoch)
           epoch:E  when epoch E starts (right after epoch E-1's checkpoint)
           write:K  during the K-th write of last.ckpt (half the temporary file written, not renamed)
           slow:S   no kill, sleep S seconds per step (the test kills it from outside)
           none:0   no kill (an uninterrupted reference run)
           resume:0 no kill; resume the run in OUT from its last.ckpt
"""

import os
import signal
import sys
import time
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).parent))
from kill_train_configs import run_trainer  # noqa: E402


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillAt(L.Callback):
    def __init__(self, kind: str, n: float):
        self.kind, self.n = kind, n

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.kind == "step" and trainer.global_step == self.n:
            _kill()
        if self.kind == "slow":
            time.sleep(self.n)

    def on_train_epoch_start(self, trainer, pl_module):
        if self.kind == "epoch" and trainer.current_epoch == self.n:
            _kill()


def _kill_during_write(k: int) -> None:
    """Make the k-th write of a last.ckpt temporary file stop half-way and SIGKILL the process
    (``runs.checkpoints.save_checkpoint`` serialises in memory, then writes with ``open``)."""
    from unshuffle.runs import checkpoints

    count = [0]

    class HalfWrite:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(bytes(data)[: len(data) // 2])
            self.f.flush()
            os.fsync(self.f.fileno())
            _kill()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def killing_open(file, mode="r", *args, **kwargs):
        f = open(file, mode, *args, **kwargs)
        if "w" in mode and Path(file).name.startswith(".last.ckpt."):
            count[0] += 1
            if count[0] == k:
                return HalfWrite(f)
        return f

    checkpoints.open = killing_open  # shadows the builtin inside that module only


if __name__ == "__main__":
    torch.set_num_threads(1)  # the same float summation order as the in-process runs
    trainer, data, out, point = sys.argv[1:5]
    kind, n = point.split(":")
    if kind == "write":
        _kill_during_write(int(n))
    if kind == "resume":
        run_trainer(trainer, data, out, resume=True)
    else:
        run_trainer(trainer, data, out, callbacks=[KillAt(kind, float(n))])
