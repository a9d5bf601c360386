"""Issue 5: combine the per-seed runs of one or more ``temi_measure.py`` summaries into table rows.

Seeds measured in separate invocations (e.g. seed 0 first, then seeds 1 and 2) are pooled: mean and
population std over all seeds, as ``temi_measure.py`` itself reports them.

    python benchmarks/temi_table.py runs/temi/tiny-cpu-main-s0/summary.json runs/temi/tiny-cpu-main-s12/summary.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np

METRICS = ("accuracy", "nmi", "adjusted_nmi", "ari")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("summaries", nargs="+")
    args = p.parse_args()
    runs, occupied, oracle, knn = [], [], [], set()
    for path in args.summaries:
        s = json.load(open(path))
        runs += s["runs"]
        occupied += s["occupied"]
        oracle += s["oracle_best_head_accuracy"]
        knn.add(round(s["knn_loo_accuracy"], 4))
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"a seed appears twice: {seeds}")

    def fmt(v: list[float]) -> str:
        a = 100 * np.asarray(v, dtype=np.float64)
        return f"{a.mean():.1f} ± {a.std():.1f}"

    print(f"seeds {seeds}; kNN (LOO, 20-NN) {sorted(knn)}; TEMI occupied clusters {occupied}")
    for method in ("temi", "kmeans"):
        cells = [fmt([r["scores"][method][m] for r in runs]) for m in METRICS]
        print(f"| {method} | " + " | ".join(cells) + " |")
        print("   per seed accuracy:", [round(100 * r["scores"][method]["accuracy"], 1) for r in runs])
    spe = [r["train"]["seconds_per_epoch"] for r in runs]
    tr = [r["train"]["train_seconds"] for r in runs]
    print(f"seconds per epoch {np.mean(spe):.1f} ± {np.std(spe):.1f} (per seed {[round(x, 1) for x in spe]}); "
          f"training seconds {np.mean(tr):.0f} ± {np.std(tr):.0f}")
    print("label-free choice (epoch, head, select loss):",
          [(r["train"]["best_epoch"], r["train"]["best_head"], round(r["train"]["select_loss"], 4)) for r in runs])
    print("oracle best-head accuracy (diagnostic, labels):", [round(100 * x, 1) for x in oracle if x is not None])


if __name__ == "__main__":
    main()
