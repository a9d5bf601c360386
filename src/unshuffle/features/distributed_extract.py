"""Multi-device extraction through Lightning's predict loop under DDP (imported only for devices > 1).

Each DDP process gets whole chunks of the cache (process r takes chunks r, r + P, r + 2P, ... of the
missing ones, so there must be at least as many chunks as processes; Lightning's distributed sampler
is not used), extracts them in batches and writes each chunk's part file atomically, so a killed run
resumes at the missing chunks exactly as the single-device path does. Processes are started with
``ddp_spawn``: the ImageSet and the backbone are pickled to them, so the image reader must be
picklable (in-memory arrays and file-backed readers are).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from unshuffle.data.imageset import ImageSet
from unshuffle.errors import ConfigError
from unshuffle.features.backbones import BackboneSpec, load_backbone
from unshuffle.features.parts import write_part
from unshuffle.features.preprocess import preprocess


def _first(batch: list[int]) -> int:
    return batch[0]


class ChunkExtractor(L.LightningModule):
    """Predict-only system: one predict step = one cache chunk of image indices [start, stop).

    Args:
        model: frozen backbone, (B, 3, S, S) float32 -> (B, D) float32.
        spec: its BackboneSpec (preprocessing, D).
        images: the images to read.
        chunks: list of (start, stop) index ranges still missing.
        parts: folder the part files go to.
        batch_size: images per forward pass inside a chunk.
    """

    def __init__(self, model: torch.nn.Module, spec: BackboneSpec, images: ImageSet,
                 chunks: list[tuple[int, int]], parts: Path, batch_size: int):
        super().__init__()
        self.model, self.spec, self.images = model, spec, images
        self.chunks, self.parts, self.batch_size = list(chunks), Path(parts), batch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) float32 -> (B, D) float32."""
        return self.model(x)

    def predict_step(self, batch: int, batch_idx: int) -> int:
        start, stop = self.chunks[batch]
        out = np.empty((stop - start, self.spec.dim), dtype=np.float32)
        for a in range(start, stop, self.batch_size):
            b = min(stop, a + self.batch_size)
            x = preprocess([self.images.image(i) for i in range(a, b)], self.spec)
            out[a - start : b - start] = self(torch.from_numpy(x).to(self.device)).float().cpu().numpy()
        write_part(self.parts, (start, stop), out)
        return stop - start

    def predict_dataloader(self) -> DataLoader:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        mine = list(range(rank, len(self.chunks), world))  # never empty: at least one chunk per process
        return DataLoader(mine, batch_size=1, shuffle=False, collate_fn=_first)


def extract_parts_ddp(images: ImageSet, spec: BackboneSpec, chunks: list[tuple[int, int]], parts: Path, *,
                      batch_size: int = 64, device: str = "cpu", devices: int = 2,
                      progress: bool = True) -> None:
    """Write the part files of ``chunks`` using ``devices`` DDP processes (CPU or CUDA by ``device``)."""
    if devices < 2:
        raise ConfigError(f"devices={devices}: the DDP path is for devices >= 2")
    if len(chunks) < devices:  # an idle process has been seen to abort at teardown under gloo
        raise ConfigError(f"devices={devices} for {len(chunks)} chunk(s): use at most one process per chunk")
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    if accelerator == "gpu" and torch.cuda.device_count() < devices:
        raise ConfigError(f"devices={devices}: only {torch.cuda.device_count()} CUDA device(s) visible")
    model, spec = load_backbone(spec)
    system = ChunkExtractor(model, spec, images, chunks, parts, batch_size)
    trainer = L.Trainer(accelerator=accelerator, devices=devices, strategy="ddp_spawn", logger=False,
                        enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
                        use_distributed_sampler=False)
    trainer.predict(system, return_predictions=False)
