"""The CPU inference notebook runs top to bottom on tiny data (executed with nbclient)."""

import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from unshuffle.fragments.baseline.ae_training import AutoencoderTrainConfig, train_autoencoder

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "fragment_inference.ipynb"


@pytest.mark.slow
def test_notebook_executes(tmp_path, smooth_images, monkeypatch):
    data = tmp_path / "imgs.npz"
    np.savez(data, images=np.ascontiguousarray(np.concatenate([smooth_images, smooth_images[:, ::-1]])))
    res = train_autoencoder(AutoencoderTrainConfig(
        train_dir=str(data), output_dir=str(tmp_path / "run"), val_fraction=0.25, images_per_sample=3,
        batch_size=2, steps_per_epoch=2, val_steps=1, max_epochs=1, accelerator="cpu", progress=False,
        embedding_dim=8, width=8))
    monkeypatch.setenv("UNSHUFFLE_DATA", str(data))
    monkeypatch.setenv("UNSHUFFLE_CKPT", res["last_checkpoint"])
    monkeypatch.setenv("UNSHUFFLE_NUM_SAMPLES", "2")
    monkeypatch.setenv("UNSHUFFLE_IMAGES_PER_SAMPLE", "3")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "raw_pixel_kmeans" in text and "model" in text
    assert any("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")
    assert (tmp_path / "fragment_inference_sample.png").is_file()
    assert os.environ["UNSHUFFLE_NUM_SAMPLES"] == "2"
