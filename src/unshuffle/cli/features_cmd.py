"""`unshuffle cluster extract|neighbors`: cached backbone features and nearest neighbours."""

from __future__ import annotations

import argparse


def register(s: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to `unshuffle cluster`."""
