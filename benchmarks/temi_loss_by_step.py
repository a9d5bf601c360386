"""Issue 5: TEMI training loss against optimiser steps and epochs for several run folders, one picture.

Runs with different batch sizes take different numbers of steps per epoch; plotting the mean loss
over heads against the step count shows whether a run has left the uniform-prediction value
-(2 - 2 beta) log(K) / K, which does not depend on labels.

    python benchmarks/temi_loss_by_step.py runs/temi/tiny-cpu-main-s0/seed0=cpu \
        runs/temi/tiny-default-s0/seed0=default \
        --out results/temi/tiny-default-vs-cpu-loss.png
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="RUN_FOLDER=label")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unshuffle.plots.figure import save_png

    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(11, 4))
    uniform = set()
    for item in args.runs:
        folder, _, label = item.partition("=")
        cfg = json.loads((Path(folder) / "config.json").read_text())["config"]["temi"]
        k, beta = cfg["clusters"], cfg["loss"]["beta"]
        uniform.add(-(2 - 2 * beta) * math.log(k) / k)
        rows = [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines() if line]
        steps = [r["step"] for r in rows]
        epochs = [r["epoch"] for r in rows]
        loss = [r["loss"] for r in rows]
        per_epoch = steps[1] - steps[0] if len(steps) > 1 else steps[0]  # the batch used may be smaller than configured
        name = f"{label or folder} ({per_epoch} steps per epoch, {cfg['head']['n_heads']} heads)"
        ax_s.plot(steps, loss, marker=".", label=name)
        ax_e.plot(epochs, loss, marker=".", label=name)
    for ax, xlabel in ((ax_s, "optimiser step (end of epoch)"), (ax_e, "epoch")):
        for u in sorted(uniform):
            ax.axhline(u, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("training loss, mean over heads")
        ax.grid(alpha=0.3)
    ax_s.set_title("loss by optimiser step")
    ax_e.set_title("loss by epoch (dashed: all-uniform predictions)")
    ax_s.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
