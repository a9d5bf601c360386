"""Keep third-party log lines, tips and warnings off the user's terminal; keep them in the run folder."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

LOG_NAME = "third_party.log"
# loggers of the libraries we drive; their INFO lines (Lightning's tips, device summaries) go to the log
THIRD_PARTY = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_utilities",
               "transformers", "torch", "huggingface_hub", "matplotlib")


class _Buffer(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def third_party_to_run_log(run_dir: str | Path) -> Iterator[list[str]]:
    """Collect what the libraries in ``THIRD_PARTY`` log and every warning not raised by unshuffle
    itself, instead of printing them; on exit append them to ``run_dir/third_party.log`` when that
    folder exists. Errors still propagate; unshuffle's own warnings still reach the terminal."""
    import importlib
    import importlib.util

    import unshuffle

    ours = str(Path(unshuffle.__file__).parent)
    if importlib.util.find_spec("lightning") is not None:
        importlib.import_module("lightning.pytorch")  # it adds its own terminal handler when first imported
    buffer = _Buffer()
    saved = {}
    for name in THIRD_PARTY:
        lg = logging.getLogger(name)
        saved[name] = (lg.handlers[:], lg.propagate, lg.level)
        lg.handlers[:] = [buffer]
        lg.propagate = False
        if lg.level == logging.NOTSET or lg.level > logging.INFO:
            lg.setLevel(logging.INFO)
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            if str(filename).startswith(ours):
                shown(message, category, filename, lineno, file, line)
            else:
                buffer.lines.append(f"WARNING {category.__name__} {filename}:{lineno}: {message}")

        warnings.showwarning = showwarning
        try:
            yield buffer.lines
        finally:
            for name, (handlers, propagate, level) in saved.items():
                lg = logging.getLogger(name)
                lg.handlers[:] = handlers
                lg.propagate = propagate
                lg.setLevel(level)
            run_dir = Path(run_dir)
            if buffer.lines and run_dir.is_dir():
                with open(run_dir / LOG_NAME, "a", encoding="utf-8") as f:
                    f.write("\n".join(buffer.lines) + "\n")
