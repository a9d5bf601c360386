"""`unshuffle cluster all|train|evaluate|predict`: TEMI heads on cached features."""

from __future__ import annotations

import argparse


def register(s: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `unshuffle cluster`."""
