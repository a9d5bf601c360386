"""`unshuffle data`: inspect a path (detected format, counts, sizes, classes, skipped files)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect image data on disk")
    p.set_defaults(group_parser=p)
    s = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    q = s.add_parser("inspect", help="detected format, image count, sizes, per-class counts, skipped files")
    q.add_argument("path", help="a folder, archive, pickle batch or .npz")
    q.add_argument("--split", default=None, choices=["train", "val", "test"],
                   help="which split, where the data has several")
    q.add_argument("--label-set", default="fine", choices=["fine", "coarse"],
                   help="CIFAR-100 only: fine (100) or coarse (20 superclass) labels")
    q.set_defaults(handler=inspect_command)


def inspect_command(args: argparse.Namespace) -> dict:
    """Print (and return) the JSON summary of :func:`unshuffle.data.detect.inspect_path`."""
    from unshuffle.data.detect import inspect_path

    info = inspect_path(args.path, split=args.split, label_set=args.label_set)
    print(json.dumps(info, indent=2))
    return info
