"""The package's one exception family: every refusal of bad input or state is one of these."""

from __future__ import annotations

from pathlib import Path


class UnshuffleError(Exception):
    """Base class of every error unshuffle raises on purpose (bad input, bad config, bad state).

    The message is one line: line breaks in it (often from a library's exception text) become spaces.
    """

    def __init__(self, *args):
        super().__init__(*(one_line(a) if isinstance(a, str) else a for a in args))


def one_line(text: str) -> str:
    """``text`` with every line break (and the blanks around it) turned into one space."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) if "\n" in text else text


def brief(e: BaseException) -> str:
    """An exception's text on one line; torch's long weights-only refusal is cut to its reason."""
    text = str(e)
    marker = "WeightsUnpickler error:"
    if marker in text:
        reason = one_line(text.split(marker, 1)[1])
        return "torch.load(weights_only=True): " + reason.split(". ")[0].rstrip(".")  # not torch's allow-list advice
    return one_line(text)


class DataFormatError(UnshuffleError, ValueError):
    """A data file or folder is missing, corrupt, truncated, empty or of the wrong shape.

    The message always names the file and the problem: ``DataFormatError(path, "problem")``.
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = one_line(problem)
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
        self.problem = one_line(problem)
        super().__init__(f"{self.path}: {problem}")
        self.errno = errno
