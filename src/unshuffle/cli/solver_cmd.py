"""`unshuffle fragments solve|score|bench`: the boundary-matching fragment solver."""

from __future__ import annotations

import argparse


def register(s: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `unshuffle fragments`."""
