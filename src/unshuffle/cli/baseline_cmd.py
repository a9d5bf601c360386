"""`unshuffle fragments cut|train|evaluate|visualize`: the sampler and the case-study autoencoder."""

from __future__ import annotations

import argparse


def register(s: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `unshuffle fragments`."""
