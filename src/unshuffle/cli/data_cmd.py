"""`unshuffle data`: inspect a path (detected format, counts, sizes)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect image data on disk")
    p.set_defaults(group_parser=p)
    s = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    q = s.add_parser("inspect", help="detected format, image count, sizes, labels")
    q.add_argument("path", help="a folder, archive, pickle batch or .npz")
    q.add_argument("--split", default=None, help="train, val or test, where the data has splits")
    q.set_defaults(handler=inspect_command)


def inspect_command(args: argparse.Namespace) -> dict:
    from unshuffle.data import open_images

    ds = open_images(args.path, split=args.split)
    first = ds.image(0) if len(ds) else None
    info = {
        "path": ds.source,
        "format": ds.format,
        "images": len(ds),
        "first_image_shape": None if first is None else list(first.shape),
        "classes": None if ds.class_names is None else len(ds.class_names),
        "labelled": ds.labels is not None,
    }
    print(json.dumps(info, indent=2))
    return info
