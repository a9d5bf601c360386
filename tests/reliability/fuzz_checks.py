"""Shared by the fuzz suites: hypothesis settings, the per-case alarm, the loader check and the outcome
counts (written as JSON to $UNSHUFFLE_FUZZ_SUMMARY when it is set)."""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, settings

from unshuffle.data import open_images
from unshuffle.errors import ConfigError, UnshuffleError

LIMIT_S = 10
# more examples for a longer hunt: UNSHUFFLE_FUZZ_EXAMPLES=500 pytest tests/reliability/test_reliability_fuzz*.py
EXAMPLES = int(os.environ.get("UNSHUFFLE_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

#: (test, format, outcome) -> cases; outcome is "result" or the UnshuffleError class that refused it
COUNTS: collections.Counter = collections.Counter()


class CallTimedOut(BaseException):
    """Raised by the alarm; a BaseException so no ``except Exception`` in the library can swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float = LIMIT_S) -> Iterator[None]:
    """Fail the test when the block runs past ``seconds`` (SIGALRM through setitimer, main thread)."""
    def _alarm(signum, frame):
        raise CallTimedOut(f"call ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except CallTimedOut as e:
        pytest.fail(str(e))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def names_file(err: UnshuffleError, path: Path) -> None:
    """Errors about the data name the file; a ConfigError (settings that do not fit the input, e.g.
    more images asked for than fragments given) names the setting instead. Either way, one line."""
    assert "\n" not in str(err), f"error spans several lines: {err}"
    if isinstance(err, ConfigError):
        assert str(err), "empty ConfigError message"
    else:
        assert path.name in str(err), f"error does not name {path.name}: {err}"


def record(fmt: str, outcome: str) -> None:
    """Count one case (and report it as a hypothesis event inside a hypothesis test)."""
    from hypothesis.control import currently_in_test_context

    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0].split("[")[0]
    COUNTS[(test, fmt, outcome)] += 1
    if currently_in_test_context():
        event(f"{fmt}: {outcome}")


def check_loader(path: Path, split: str | None = None, fmt: str | None = None) -> str:
    """open_images + read up to 4 images within the limit: images come out (H, W, 3) uint8, or an
    UnshuffleError names the file. Any other exception fails the test. Returns "ok" or "refused"."""
    fmt = fmt or path.name
    with time_limit():
        try:
            ds = open_images(path, split=split)
            assert len(ds) > 0
            for i in range(min(len(ds), 4)):
                img = ds.image(i)
                assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, img.shape
                assert img.shape[0] > 0 and img.shape[1] > 0, img.shape
            record(fmt, "result")
            return "ok"
        except UnshuffleError as e:
            names_file(e, path)
            record(fmt, type(e).__name__)
            return "refused"


def workdir(tmp_path: Path) -> Path:
    """A fresh folder per hypothesis case (tmp_path is shared by all cases of one test)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


@atexit.register
def _write_summary() -> None:
    out = os.environ.get("UNSHUFFLE_FUZZ_SUMMARY")
    if out and COUNTS:
        rows = [{"test": t, "format": f, "outcome": o, "cases": n} for (t, f, o), n in sorted(COUNTS.items())]
        Path(out).write_text(json.dumps(rows, indent=1) + "\n")
