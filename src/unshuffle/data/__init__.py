"""Image collections from disk: pickled batches, image folders, archives and .npz, auto-detected.

May import ``runs`` (atomic writes) and ``errors`` only; labels are parsed and carried here, never used.
"""

from unshuffle.data.detect import open_images
from unshuffle.data.imageset import ImageSet

__all__ = ["ImageSet", "open_images"]
