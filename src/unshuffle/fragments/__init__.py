"""Fragment bags: cutting images into shuffled grid pieces, and putting them back together."""

from unshuffle.fragments.sampling import FragmentBag, FragmentSampler, cut_grid

__all__ = ["FragmentBag", "FragmentSampler", "cut_grid"]
