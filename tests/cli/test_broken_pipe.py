"""A reader that closes stdout early (`unshuffle ... | head -1`) ends the command quietly, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [["data", "inspect", "{folder}"], ["--help"]])
def test_closed_stdout_ends_quietly(tmp_path, argv):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    read, write = os.pipe()
    os.close(read)  # no reader at all: the first write to stdout fails with EPIPE
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a pipe is block-buffered, as usual
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    args = [a.replace("{folder}", str(tmp_path)) for a in argv]
    run = subprocess.run([sys.executable, "-c", "import sys; from unshuffle.cli.main import main; "
                          "sys.exit(main(sys.argv[1:]))", *args], stdout=write, stderr=subprocess.PIPE,
                         env=env, text=True, timeout=120)
    os.close(write)
    assert "Traceback" not in run.stderr and "BrokenPipeError" not in run.stderr, run.stderr
    assert run.returncode in ((0, 141) if argv == ["--help"] else (141,))  # argparse's help may exit first


def test_another_broken_pipe_is_an_error_not_silence(monkeypatch, capsys):
    from unshuffle.cli import main as cli_main

    def broken(argv):
        raise BrokenPipeError(32, "Broken pipe (a worker's pipe)")

    monkeypatch.setattr(cli_main, "_run", broken)
    assert cli_main.main(["data", "inspect", "x"]) == 1  # stdout is fine: not the quiet path
    assert "unshuffle: error:" in capsys.readouterr().err


def test_a_closed_stdout_is_not_an_error(tmp_path):
    """Started with stdout closed (`unshuffle ... >&-`): Python has no sys.stdout; the command still succeeds."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    run = subprocess.run([sys.executable, "-c", "import sys; from unshuffle.cli.main import main; "
                          "sys.exit(main(sys.argv[1:]))", "--version"], stderr=subprocess.PIPE, env=env, text=True,
                         timeout=120, preexec_fn=lambda: os.close(1))
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
