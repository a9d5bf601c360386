"""Issue 14 item 3: wall clock of the whole ``unshuffle cluster all`` from a cold feature cache, per stage.

    OMP_NUM_THREADS=2 python benchmarks/cluster_all_timing.py /work/exp/folder2000 10 --out runs/item3/timing

Runs the CLI in a child process (``--cache-dir`` a fresh folder inside ``--out``, so extraction and
the ONNX export are included) with the given extra arguments, and writes ``OUT/timing.json``: total
wall seconds, the load average (``/proc/loadavg``) before and after, the stage boundaries read from
the files each stage leaves (feature cache entry written, run config written, train_summary.json's
training seconds, report.json written), the CPU seconds of the child (user, system: on a
shared box the wall clock mostly measures the other jobs), the printed recipe line, the report's accuracies and the
code version.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def _load() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("clusters")
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--out", required=True)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more cluster-all arguments")
    args = p.parse_args()

    from unshuffle.runs.measure import code_version

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cache, run = out / "cache", out / "run"
    cmd = [sys.executable, "-m", "unshuffle.cli.main", "cluster", "all", args.data, "--clusters", args.clusters,
           "--backbone", args.backbone, "--out", str(run), "--cache-dir", str(cache), "--no-progress", *args.extra]
    load_before, t0 = _load(), time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    t1, load_after = time.time(), _load()
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    (out / "stdout.txt").write_text(proc.stdout)
    (out / "stderr.txt").write_text(proc.stderr)
    if proc.returncode:
        raise SystemExit(f"cluster all failed ({proc.returncode}); see {out}/stderr.txt")
    meta = next(cache.rglob("meta.json"))
    summary = json.loads((run / "train_summary.json").read_text())
    report = json.loads((run / "report.json").read_text())
    features_done = meta.stat().st_mtime
    train_start = (run / "config.json").stat().st_mtime
    stages = {"open + extract (cold cache, incl. ONNX export) + load": round(features_done - t0, 1),
              "neighbours + run folder": round(train_start - features_done, 1),
              "train (train_summary.train_seconds)": summary["train_seconds"],
              "train incl. head init and export": round((run / "train_summary.json").stat().st_mtime - train_start, 1),
              "evaluate + plots": round((run / "report.json").stat().st_mtime - (run / "train_summary.json").stat()
                                        .st_mtime, 1),
              "total": round(t1 - t0, 1)}
    res = {"command": cmd, "threads": os.environ.get("OMP_NUM_THREADS"), "load_before": load_before,
           "cpu_seconds": {"user": round(child.ru_utime, 1), "system": round(child.ru_stime, 1)},
           "load_after": load_after, "stages_s": stages,
           "recipe_line": next((ln for ln in proc.stdout.splitlines() if ln.startswith("recipe ")), None),
           "engine": json.loads(meta.read_text()).get("engine"), "recipe": summary.get("recipe"),
           "accuracy": {m: v["scores"]["accuracy"] for m, v in report["methods"].items()},
           "code": code_version()}
    (out / "timing.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
