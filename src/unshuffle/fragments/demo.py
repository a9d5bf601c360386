"""The embedded demo: scikit-image's photos in one bag, grouped by each method, scored and drawn."""

from __future__ import annotations

import time
from pathlib import Path

from unshuffle.evaluation.metrics import grouping_scores
from unshuffle.evaluation.placement import score_solution
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.bags.solution import Solution
from unshuffle.fragments.baseline.baselines import random_assignment, raw_pixel_kmeans
from unshuffle.fragments.solver.fragment_solver import FragmentSolver

METRICS_FILE = "metrics.json"  # the demo's results; --overwrite replaces only a folder holding it


def run_demo(out: str | Path, *, image_size: int = 64, grid: int = 4, seed: int = 0,
             overwrite: bool = False) -> dict:
    """Cut every embedded photo into grid x grid fragments, shuffle them into one bag, group them.

    Writes OUT/demo.png (the best method's groups, wrong pieces marked), OUT/metrics.json, the bag
    as ``fragments cut`` writes one (OUT/bag: PNGs + truth.json) and the solver's solution of it as
    ``fragments solve`` writes one, scored (OUT/solved: groups.json, pictures, report.html).
    Returns {"table": str, "picture": path, "metrics": path, "report": path, "results": {...}}.
    """
    import json

    from unshuffle.data.embedded import demo_images
    from unshuffle.fragments.bags.folders import TRUTH_FILE, write_bag
    from unshuffle.fragments.bags.solution_io import write_solution_folder
    from unshuffle.plots.fragments import plot_grouping
    from unshuffle.runs.atomic import atomic_dir, atomic_write_json, check_out_folder

    check_out_folder(out, overwrite, marker=METRICS_FILE)  # before the work, not when writing after it
    images = demo_images(image_size)
    bag = FragmentSampler(images, len(images), grid, seed).sample(0)
    n = bag.n_images
    solutions: dict[str, Solution] = {}
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    solver = FragmentSolver(seed=seed)
    solutions["solver (N, grid estimated)"] = solver.solve(bag.fragments)
    seconds["solver (N, grid estimated)"] = time.perf_counter() - t
    t = time.perf_counter()
    solutions["raw-pixel KMeans (N given)"] = Solution.grouping_only(raw_pixel_kmeans(bag.fragments, n, seed))
    seconds["raw-pixel KMeans (N given)"] = time.perf_counter() - t
    solutions["random (N given)"] = Solution.grouping_only(random_assignment(len(bag), n, seed))
    seconds["random (N given)"] = 0.0

    results = {}
    for name, sol in solutions.items():
        sol.validate(len(bag))
        results[name] = {**grouping_scores(bag.source, sol.group), "groups": sol.n_groups,
                         "seconds": round(seconds[name], 4)}
        if sol.placed:
            full = score_solution(bag, sol)
            for key in ("perfect_rate", "placement_accuracy", "neighbour_accuracy"):
                if key in full:
                    results[name][key] = full[key]

    header = f"{n} photos ({', '.join(images.names)}), {image_size} px, {grid}x{grid} grid -> {len(bag)} fragments"
    keys = ["ari", "nmi", "purity", "groups", "perfect_rate", "placement_accuracy", "seconds"]
    lines = [header, "", "| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, r in results.items():
        cells = [f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k, "-")) for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)

    best = next(iter(solutions))
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite, marker=METRICS_FILE) as tmp:
        r = results[best]
        plot_grouping(bag, solutions[best], Path(tmp) / "demo.png",
                      title=f"{best}: ARI {r['ari']:.3f}")
        atomic_write_json(Path(tmp) / METRICS_FILE, {
            "settings": {"images": images.names, "image_size": image_size, "grid": grid, "seed": seed},
            "results": results, "table": table})
        write_bag(bag, Path(tmp) / "bag", seed=seed)
        truth = json.loads((Path(tmp) / "bag" / TRUTH_FILE).read_text())["files"]
        by_cell = {(t["source"], t["row"], t["col"]): f for f, t in truth.items()}
        files = [by_cell[int(src), int(row), int(col)]
                 for src, row, col in zip(bag.source, bag.row, bag.col, strict=True)]
        solved = solutions[best]
        given = {"n_images": None, "grid": None, "rotations": solver.rotations, "seed": seed}
        solved.settings = {**solved.settings, "input": str(out / "bag"), "given": given}
        scores = {**score_solution(bag, solved), "truth": str(out / "bag" / TRUTH_FILE)}
        write_solution_folder(Path(tmp) / "solved", solved, bag.fragments, files, scores=scores)
    return {"table": table, "picture": str(out / "demo.png"), "metrics": str(out / "metrics.json"),
            "report": str(out / "solved" / "report.html"), "results": results}


