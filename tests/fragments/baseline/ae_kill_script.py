"""Trains the autoencoder and SIGKILLs itself when global step `kill_at` is reached (test helper)."""

import os
import signal
import sys

import lightning as L

from unshuffle.fragments.baseline.ae_training import AutoencoderTrainConfig, train_autoencoder


class KillAt(L.Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:  # last.ckpt was refreshed after step - 1
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    data, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = AutoencoderTrainConfig(
        train_dir=data, output_dir=out, val_fraction=0.25, images_per_sample=4, grid=4, batch_size=2,
        steps_per_epoch=5, val_steps=2, max_epochs=2, accelerator="cpu", progress=False,
        embedding_dim=8, width=8, checkpoint_every_n_steps=1)
    train_autoencoder(cfg, callbacks=[KillAt(kill_at)])
