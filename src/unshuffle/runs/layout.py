"""The run folder shared by every trainer: config.json, metrics.jsonl, checkpoints/, tensorboard/."""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from unshuffle.errors import CheckpointError
from unshuffle.regular_files import check_regular
from unshuffle.runs.atomic import atomic_write_json


def environment_record() -> dict:
    """Versions and machine facts that can change a result."""
    import numpy
    import torch

    import unshuffle

    return {
        "unshuffle": unshuffle.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.cuda.is_available(),
        "torch_threads": torch.get_num_threads(),
    }


@dataclass(frozen=True)
class RunDir:
    """Paths of one run folder.

    Layout::

        RUN/config.json          resolved settings and environment, written once at start
        RUN/metrics.jsonl        one JSON object per line (epoch, step, losses, ...), appended
        RUN/checkpoints/last.ckpt
        RUN/checkpoints/<name>-epoch=E-<metric>=V.ckpt   best checkpoints
        RUN/tensorboard/         TensorBoard event files
    """

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    def resume_checkpoint(self, resume: str | None) -> str | None:
        """The checkpoint a ``--resume`` value names: None (fresh run), "last" (this run's
        last.ckpt) or a path; a ConfigError says when that file does not exist."""
        if resume is None:
            return None
        path = str(self.last_checkpoint) if resume == "last" else resume
        if not Path(path).is_file():
            from unshuffle.errors import ConfigError

            raise ConfigError(f"resume: checkpoint {path} not found")
        return path

    def read_config(self) -> dict:
        """The saved config.json; a CheckpointError names the file when it is missing or broken."""
        check_regular(self.config_path)
        try:
            return json.loads(self.config_path.read_text())
        except FileNotFoundError as e:
            raise CheckpointError(f"{self.config_path}: not a run folder (no config.json)") from e
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{self.config_path}: corrupt JSON ({e})") from e

    def append_metrics(self, record: dict) -> None:
        """Append one JSON line to metrics.jsonl (flushed and fsynced)."""
        import os

        from unshuffle.errors import OutputError

        line = json.dumps(record, sort_keys=True) + "\n"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:  # a torn last line is skipped by read_metrics
            raise OutputError(self.metrics_path, f"cannot append a metrics line ({e.strerror or e})",
                              e.errno) from e

    def truncate_metrics(self, n: int) -> None:
        """Keep the first ``n`` records of metrics.jsonl (a resumed run drops what its checkpoint
        had not seen, and a line torn by a kill); rewritten atomically, only when that changes it."""
        if not self.metrics_path.exists():
            return
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.read_metrics()[:n])
        if self.metrics_path.read_text(encoding="utf-8") != text:
            from unshuffle.runs.atomic import atomic_write_text

            atomic_write_text(self.metrics_path, text)

    def read_metrics(self) -> list[dict]:
        """All records of metrics.jsonl; a torn last line (killed writer) is skipped."""
        if not self.metrics_path.exists():
            return []
        check_regular(self.metrics_path)
        out = []
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        for k, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                if k == len(lines) - 1:
                    break  # a line cut by a kill mid-write
                raise CheckpointError(f"{self.metrics_path}: corrupt line {k + 1} ({e})") from e
        return out


def create_run(path: str | Path, config: dict, *, resume: bool = False, overwrite: bool = False,
               keep: tuple[str | Path, ...] = ()) -> RunDir:
    """Create (or reopen, with ``resume``) a run folder and write its config.json.

    An existing run folder with a config.json is refused unless ``resume`` or ``overwrite`` is set;
    nothing in it is touched before that check. ``overwrite`` (without ``resume``) starts a clean run, in a
    folder whose config.json is an unshuffle run record (any other config.json is refused, its folder kept):
    everything in the old run folder is removed first (metrics.jsonl, checkpoints, pictures, ...),
    except the paths in ``keep`` and the folders holding them (e.g. a feature cache inside it).
    """
    run = RunDir(Path(path))
    if run.config_path.exists() and not (resume or overwrite):
        raise CheckpointError(
            f"{run.path}: already holds a run; pass --resume to continue it or choose another folder"
        )
    if overwrite and not resume and run.config_path.exists():
        record = run.read_config()  # a CheckpointError naming the file when it is not JSON
        if not (isinstance(record, dict) and {"config", "environment"} <= record.keys()):
            raise CheckpointError(f"{run.config_path}: not an unshuffle run record (no 'config' and 'environment'); "
                                  "--overwrite empties only earlier runs: choose another folder")
        clear_run_folder(run.path, keep)
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        run.checkpoints.mkdir(exist_ok=True)
    except OSError as e:  # read-only or full output location
        from unshuffle.errors import OutputError

        raise OutputError(run.path, f"cannot create the run folder ({(e.strerror or str(e)).lower()})",
                          e.errno) from e
    record = {"config": config, "environment": environment_record()}
    if resume and run.config_path.exists():
        old = run.read_config()
        record["resumed_from"] = old.get("config")
        for folder in (run.path, run.checkpoints):  # temporaries of writes cut short by a kill (runs.atomic)
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
    atomic_write_json(run.config_path, record)
    return run


def clear_run_folder(path: Path, keep: tuple[str | Path, ...] = ()) -> None:
    """Remove every entry of the run folder ``path`` except the ``keep`` paths and their parents."""
    import shutil

    kept = [Path(k).resolve() for k in keep]
    try:
        for entry in sorted(path.iterdir()):
            real = entry.resolve()
            if any(real == k or real in k.parents for k in kept):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    except OSError as e:
        from unshuffle.errors import OutputError

        raise OutputError(path, f"cannot clear the old run ({(e.strerror or str(e)).lower()})", e.errno) from e
