"""`unshuffle cluster`: TEMI image clustering (all, extract, neighbors, train, evaluate, predict)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", help="cluster an image collection by content (TEMI)")
    p.set_defaults(group_parser=p)
    s = p.add_subparsers(dest="cluster_command", metavar="SUBCOMMAND")
    from unshuffle.cli import features_cmd, temi_cmd

    features_cmd.register(s)
    temi_cmd.register(s)
