"""`unshuffle cluster`: TEMI image clustering (all, extract, train, evaluate, predict)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="cluster an image collection by content (TEMI)")
    p.set_defaults(group_parser=p)
    p.add_subparsers(dest="cluster_command", metavar="SUBCOMMAND")
