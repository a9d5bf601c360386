"""Issue 14 item 3: TEMI recipes vs k-means (best of 10) and spectral on seeded 1,000-/2,000-image subsets.

Reads ``FEATS/<set>-<backbone>.npy`` and ``FEATS/<set>-labels.npy`` (raw backbone features, the
input ``cluster all`` gives TEMI). Subsets: ``--random N S`` draws S disjoint seeded subsets of N
images (``default_rng(subset_seed).permutation``); ``--classes C S`` draws S subsets of C whole
classes (disjoint class sets; only for picking data, the labels never reach a method);
``--subsets-json FILE`` reads index lists (the CIFAR-10 test subsets of item 1). Each variant is
``name=key=value,key=value`` on top of ``--preset`` (or of its own ``preset=NAME`` among them;
``auto``: the recipe ``choose_recipe`` picks for the subset's N on CPU). Labels only score. Writes
JSON (with the code version) and prints a table.

    nice -n 10 python benchmarks/temi_small_sets.py cifar_train5k --random 1000 3 --seeds 0 1 2 \
        --variant cpu= spec=head.init=spectral,head.init_epochs=20 --out runs/item3/cifar1k.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def draw_subsets(y: np.ndarray, args: argparse.Namespace) -> list[np.ndarray]:
    """Index arrays (sorted) of the subsets asked for."""
    rng = np.random.default_rng(args.subset_seed)
    if args.subsets_json:
        return [np.asarray(s, dtype=np.int64) for s in json.loads(Path(args.subsets_json).read_text())["subsets"]]
    if args.random:
        n, count = args.random
        perm = rng.permutation(len(y))
        return [np.sort(perm[n * i:n * (i + 1)]) for i in range(count)]
    c, count = args.classes
    classes = rng.permutation(np.unique(y))
    return [np.sort(np.flatnonzero(np.isin(y, classes[c * i:c * (i + 1)]))) for i in range(count)]


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, rest = text.partition("=")
    return name, [kv for kv in rest.split(",") if kv]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--random", type=int, nargs=2, metavar=("N", "COUNT"))
    g.add_argument("--classes", type=int, nargs=2, metavar=("C", "COUNT"))
    g.add_argument("--subsets-json")
    p.add_argument("--subset-seed", type=int, default=0)
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--variant", nargs="+", default=["base="])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--only-subsets", type=int, nargs="*", default=None)
    p.add_argument("--no-references", action="store_true", help="skip k-means and spectral")
    p.add_argument("--feats", default="/work/exp")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default="runs/item3")
    p.add_argument("--out", required=True)
    p.add_argument("--table-only", action="store_true", help="print the table of --out and stop")
    args = p.parse_args()
    if args.table_only:
        table(json.loads(Path(args.out).read_text())["rows"])
        return

    import torch

    torch.set_num_threads(args.threads)
    from unshuffle.clustering.baseline import kmeans_labels
    from unshuffle.clustering.config import load_config, neighbours_for
    from unshuffle.clustering.head_init import spectral_partition
    from unshuffle.clustering.neighbors import mine_neighbors
    from unshuffle.clustering.recipe import choose_recipe
    from unshuffle.clustering.train import load_assignments, train_temi
    from unshuffle.evaluation.metrics import hungarian_accuracy
    from unshuffle.runs.measure import code_version

    x_all = np.load(Path(args.feats) / f"{args.set}-{args.backbone}.npy").astype(np.float32)
    y_all = np.load(Path(args.feats) / f"{args.set}-labels.npy")
    subsets = draw_subsets(y_all, args)
    out_path = Path(args.out)
    result = json.loads(out_path.read_text()) if out_path.is_file() else {"rows": []}
    result.update({"set": args.set, "subset_rule": {k: getattr(args, k) for k in
                                                   ("random", "classes", "subsets_json", "subset_seed")},
                   "preset": args.preset, "code": code_version()})
    done = {(r["subset"], r["seed"], r["method"]) for r in result["rows"]}

    def save(row: dict) -> None:
        result["rows"].append(row)
        done.add((row["subset"], row["seed"], row["method"]))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=1))
        print(json.dumps(row), flush=True)

    for si, idx in enumerate(subsets):
        if args.only_subsets is not None and si not in args.only_subsets:
            continue
        x, y = x_all[idx], y_all[idx]
        k = len(np.unique(y))
        for seed in args.seeds:
            if not args.no_references:
                for name in ("kmeans", "spectral"):
                    if (si, seed, name) in done:
                        continue
                    t0 = time.perf_counter()
                    lab = (kmeans_labels(x, k, seed=seed, n_init=10) if name == "kmeans"
                           else spectral_partition(x, k, seed))
                    save({"subset": si, "seed": seed, "method": name, "n": len(x), "k": k,
                          "acc": hungarian_accuracy(y, lab), "seconds": round(time.perf_counter() - t0, 2)})
            for vtext in args.variant:
                vname, overrides = parse_variant(vtext)
                if (si, seed, vname) in done:
                    continue
                preset, recipe = args.preset, None
                for kv in [kv for kv in overrides if kv.startswith("preset=")]:  # a variant's own preset
                    preset = kv.split("=", 1)[1]
                    overrides = [o for o in overrides if o != kv]
                if preset == "auto":
                    recipe = choose_recipe(len(x), k, "cpu")
                    preset = recipe.preset
                cfg = load_config(None, [*overrides, f"clusters={k}", f"seed={seed}", "accelerator=cpu"],
                                  preset=preset, recipe=recipe.overrides if recipe else None)
                t0 = time.perf_counter()
                nbrs = mine_neighbors(x, neighbours_for(cfg.knn, len(x), k), progress=False)
                run = Path(args.runs) / args.set / f"s{si}-seed{seed}-{vname}"
                summ = train_temi(cfg, x, nbrs, run, overwrite=True)
                wall = time.perf_counter() - t0
                lab, _ = load_assignments(run)
                save({"subset": si, "seed": seed, "method": vname, "overrides": overrides, "n": len(x), "k": k,
                      "acc": hungarian_accuracy(y, lab), "seconds": round(wall, 2),
                      "recipe": recipe.to_dict() if recipe else None,
                      **{key: summ.get(key) for key in ("best_epoch", "select_loss", "knn", "batch_size",
                                                        "steps_per_epoch", "occupied_clusters")},
                      "init_agreement": summ.get("head_init", {}).get("head_agreement")})
    table(result["rows"])


def table(rows: list[dict]) -> None:
    """Markdown: per method, mean ± std over seeds per subset, and the mean over subsets."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    subsets = sorted({r["subset"] for r in rows})
    print("| method | " + " | ".join(f"subset {s}" for s in subsets) + " | mean | s/run |")
    print("|---" * (len(subsets) + 3) + "|")
    for m in methods:
        cells, means = [], []
        for s in subsets:
            v = [100 * r["acc"] for r in rows if r["method"] == m and r["subset"] == s]
            cells.append(f"{np.mean(v):.1f} ± {np.std(v):.1f} ({len(v)})" if v else "")
            means += [np.mean(v)] if v else []
        secs = [r["seconds"] for r in rows if r["method"] == m]
        print(f"| {m} | " + " | ".join(cells) + f" | {np.mean(means):.1f} | {np.mean(secs):.0f} |")


if __name__ == "__main__":
    main()
