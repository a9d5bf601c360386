"""Training into a run folder that cannot be written: a clear error, the earlier checkpoint intact."""

import json
import os

import numpy as np
import pytest
from hostile import faults

from unshuffle.cli.main import main
from unshuffle.errors import OutputError
from unshuffle.runs.checkpoints import load_checkpoint
from unshuffle.runs.layout import RunDir

FAULTS = {"EACCES": 13, "ENOSPC": 28}


def _train_argv(data, out, epochs, *extra):
    return ["fragments", "train", "--train-dir", str(data), "--output-dir", str(out), "--val-fraction", "0.25",
            "--images-per-sample", "3", "--batch-size", "2", "--steps-per-epoch", "2", "--val-steps", "1",
            "--max-epochs", str(epochs), "--embedding-dim", "8", "--gpus", "0", "--no-progress", *extra]


@pytest.mark.parametrize("fault", FAULTS)
def test_resume_into_unwritable_run_keeps_the_earlier_checkpoint(tmp_path, monkeypatch, capsys, smooth_images,
                                                                 fault):
    data = tmp_path / "imgs.npz"
    np.savez(data, images=np.ascontiguousarray(smooth_images[:, :32, :32]))
    out = tmp_path / "run"
    assert main(_train_argv(data, out, 1)) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()

    faults.inject(monkeypatch, out, FAULTS[fault])
    code = main(_train_argv(data, out, 2, "--resume"))
    err = capsys.readouterr().err
    monkeypatch.undo()
    assert code == 1 and "Traceback" not in err
    assert "unshuffle: error:" in err and os.strerror(FAULTS[fault]).lower() in err
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # nothing overwritten, no temporary files left behind
    assert load_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == 2
    assert json.loads((out / "config.json").read_text())["config"]["max_epochs"] == 1


def test_metrics_append_failure_is_an_output_error(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run")
    run.append_metrics({"epoch": 0})
    faults.inject(monkeypatch, tmp_path / "run", FAULTS["ENOSPC"], budget=0)
    with pytest.raises(OutputError, match="metrics.jsonl"):
        run.append_metrics({"epoch": 1, "pad": "x" * 100})
    monkeypatch.undo()
    assert run.read_metrics()[0] == {"epoch": 0}
