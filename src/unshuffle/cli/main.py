"""Root `unshuffle` command: builds the parser, registers sub-commands, dispatches; imports no torch."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from unshuffle.errors import UnshuffleError


def build_parser() -> argparse.ArgumentParser:
    """The full parser; each command module adds its sub-parsers through ``register``."""
    from unshuffle import __version__
    from unshuffle.cli import cluster_cmd, data_cmd, fragments_cmd

    parser = argparse.ArgumentParser(
        prog="unshuffle",
        description="Put shuffled visual data back into its groups without labels.",
    )
    parser.add_argument("--version", action="version", version=f"unshuffle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    data_cmd.register(sub)
    fragments_cmd.register(sub)
    cluster_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script. Returns the process exit code (141 when stdout's reader went away)."""
    try:
        try:
            return _run(argv)
        finally:  # a piped stdout is block-buffered: a closed reader shows here (also after --help), not at exit
            if sys.stdout is not None and not sys.stdout.closed:  # None when started with stdout closed (>&-)
                sys.stdout.flush()
    except BrokenPipeError as e:  # `unshuffle ... | head`: stop quietly, as other command-line tools do
        if not _stdout_reader_gone():  # some other pipe broke (a worker, a subprocess): a real error
            print(f"unshuffle: error: {e}", file=sys.stderr)
            return 1
        try:  # the interpreter flushes stdout once more at exit: point it at /dev/null first
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass  # no real stdout (stdout replaced in-process): nothing left to flush
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe or socket whose reading end is closed (poll reports an error on it)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real stdout (replaced in-process) or no poll
        return False


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        # a group given without its sub-command prints that group's help
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return 2
    try:
        handler(args)
    except UnshuffleError as e:
        print(f"unshuffle: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("unshuffle: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
