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
    q.add_argument("--verify", action="store_true",
                   help="decode every image (default: only the first) and exit 1 when any fails")
    q.set_defaults(handler=inspect_command)


def inspect_command(args: argparse.Namespace) -> dict:
    """Print (and return) the JSON summary of :func:`unshuffle.data.detect.inspect_path`; with
    ``--verify``, an image that does not decode is an error (exit 1) after the summary."""
    from unshuffle.data.detect import inspect_path
    from unshuffle.errors import DataFormatError

    info = inspect_path(args.path, split=args.split, label_set=args.label_set, verify=args.verify)
    print(json.dumps(info, indent=2))
    if info.get("undecodable"):
        first = info["undecodable_examples"][0]
        raise DataFormatError(info["path"], f"{info['undecodable']} of {info['images']} images could not be "
                              f"decoded (first: {first['name']}: {first['reason']})")
    return info
