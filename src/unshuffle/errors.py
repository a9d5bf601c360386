"""The package's one exception family: every refusal of bad input or state is one of these."""

from __future__ import annotations

from pathlib import Path


class UnshuffleError(Exception):
    """Base class of every error unshuffle raises on purpose (bad input, bad config, bad state)."""


class DataFormatError(UnshuffleError, ValueError):
    """A data file or folder is missing, corrupt, truncated, empty or of the wrong shape.

    The message always names the file and the problem: ``DataFormatError(path, "problem")``.
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class UnsafeFileError(DataFormatError):
    """A file asks to run code or to write outside its folder (pickle globals, ../ paths, bombs)."""


class ConfigError(UnshuffleError, ValueError):
    """A setting is out of range or of the wrong type; the message names the field and the valid values."""


class CheckpointError(UnshuffleError):
    """A checkpoint or run folder cannot be read, resumed or written."""


class OutputError(UnshuffleError, OSError):
    """An output file or folder cannot be written (not writable, disk full, ...).

    Also an ``OSError`` (``errno`` kept), so callers that catch OSError still do. The message names
    the output and the system's reason: ``OutputError(path, "problem", errno)``.
    """

    def __init__(self, path: str | Path, problem: str, errno: int | None = None):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
        self.errno = errno
