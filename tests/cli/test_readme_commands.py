"""Every `unshuffle ...` command line in the README's bash blocks parses, with the flags it needs to run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from unshuffle.cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    cmds = [line.split(" #")[0].strip() for line in lines]
    return [c for c in cmds if c.startswith("unshuffle ")]


def test_the_readme_shows_commands():
    assert len(_readme_commands()) >= 20


@pytest.mark.parametrize("line", _readme_commands())
def test_readme_command_parses(line):
    words = [{"K": "10"}.get(w, w) for w in shlex.split(line)[1:] if w != "..."]  # placeholders: "...", K
    args = build_parser().parse_args(words)  # SystemExit(2) on an unknown or missing flag
    assert getattr(args, "handler", None) is not None
    if args.handler.__name__ == "predict_command":  # predict refuses to rebuild a backbone not named again
        assert args.backbone is not None, f"README: {line!r} lacks --backbone, which predict requires"
