"""The root CLI stays light: --help imports neither torch, lightning nor transformers."""

import subprocess
import sys

import pytest

PROBE = """
import sys
from unshuffle.cli.main import build_parser, main
build_parser()
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "lightning", "transformers", "sklearn") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


@pytest.mark.parametrize("argv", [["--help"], ["fragments", "--help"], ["cluster", "--help"],
                                  ["fragments", "solve", "--help"], ["fragments", "report", "--help"],
                                  ["cluster", "report", "--help"]])
def test_help_imports_no_heavy_modules(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY=\n" in out.stdout, out.stdout


def test_group_without_subcommand_prints_help_and_fails(capsys):
    from unshuffle.cli.main import main

    assert main(["fragments"]) == 2
    assert "SUBCOMMAND" in capsys.readouterr().err
