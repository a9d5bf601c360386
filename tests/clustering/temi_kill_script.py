"""Trains TEMI heads and SIGKILLs itself when global step `kill_at` is reached (test helper).

Usage: python temi_kill_script.py FEATURES.npz RUN_DIR KILL_AT OVERRIDE...
"""

import os
import signal
import sys

import lightning as L
import numpy as np
import torch

from unshuffle.clustering.config import load_config
from unshuffle.clustering.train import train_temi


class KillAt(L.Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:  # last.ckpt was refreshed after step - 1
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    torch.set_num_threads(1)  # the same float summation order as the in-process runs
    data, out, kill_at, overrides = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    with np.load(data) as z:
        feats, nbrs = z["feats"], z["nbrs"]
    train_temi(load_config(overrides=overrides), feats, nbrs, out, callbacks=[KillAt(kill_at)])
