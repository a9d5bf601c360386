"""Image collections from disk: pickled batches, image folders, archives and .npz, auto-detected."""

from unshuffle.data.imageset import ImageSet, open_images

__all__ = ["ImageSet", "open_images"]
