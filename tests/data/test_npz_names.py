"""Images inside an .npz are named ``<file>#<index>``, as pickle batches are (what assignments.csv shows)."""

import numpy as np

from unshuffle.data import open_images


def test_npz_images_are_named_by_file_and_index(tmp_path):
    np.savez(tmp_path / "photos.npz", images=np.zeros((3, 8, 8, 3), np.uint8))
    assert open_images(tmp_path / "photos.npz").names == ["photos.npz#0", "photos.npz#1", "photos.npz#2"]
