"""Frozen pretrained backbones, batched feature extraction and the on-disk feature cache."""
