"""`unshuffle fragments`: cut/train/evaluate/visualize (baseline), solve/score/bench, train-pairs/-upright."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fragments", help="cut images into fragment bags and group them back")
    p.set_defaults(group_parser=p)
    s = p.add_subparsers(dest="fragments_command", metavar="SUBCOMMAND")
    from unshuffle.cli import baseline_cmd, pairs_cmd, solver_cmd, upright_cmd

    baseline_cmd.register(s)
    solver_cmd.register(s)
    pairs_cmd.register(s)
    upright_cmd.register(s)
