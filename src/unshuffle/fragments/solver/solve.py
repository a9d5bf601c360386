"""The solver's one entry point on files: read a fragment folder or archive, solve it, write the solution."""

from __future__ import annotations

import os
from pathlib import Path

from unshuffle.errors import ConfigError, DataFormatError
from unshuffle.fragments.bags.folders import read_fragment_folder
from unshuffle.fragments.bags.solution import group_confidence
from unshuffle.fragments.bags.solution_io import GROUPS_FILE, json_ready, write_solution_folder
from unshuffle.fragments.bags.solution_report import REPORT_FILE, decision_lines
from unshuffle.fragments.solver.fragment_solver import FragmentSolver
from unshuffle.runs.atomic import check_apart, check_out_folder


def solve_fragment_folder(input_path: str | Path, out_dir: str | Path, solver=None, *,
                          overwrite: bool = False) -> dict:
    """Read fragments from a folder/archive, solve them, write ``groups.json``, one PNG per group,
    ``overview.png`` and ``report.html``.

    solver: the configured FragmentSolver (None = the defaults; its parameters are checked before
    anything is read), or any object with ``solve(fragments) -> Solution``. ``out_dir`` is refused
    when it exists, unless ``overwrite``, and when it is, holds or lies inside ``input_path``. Returns a
    summary dict (out, fragments, skipped, groups, settings).
    """
    solver = FragmentSolver() if solver is None else solver
    if isinstance(solver, FragmentSolver):
        solver.validate_params()
    check_apart(input_path, out_dir)
    check_out_folder(out_dir, overwrite, label="out_dir ", marker=GROUPS_FILE)  # before the solve, not after
    folder = read_fragment_folder(input_path)
    try:
        solution = solver.solve(folder.fragments)
    except ConfigError as e:  # e.g. fragments too small: name the input, not just the array
        raise DataFormatError(input_path, str(e)) from e
    from unshuffle import __version__

    given = {k: json_ready(getattr(solver, k, default))  # what was asked (the settings hold what was used)
             for k, default in (("n_images", None), ("grid", None), ("rotations", False), ("seed", 0))}
    solution.settings = {**solution.settings, "given": given, "input": os.path.abspath(input_path),
                         "skipped_files": folder.skipped, "unshuffle": __version__}
    solution.settings.setdefault("rotations", given["rotations"])
    write_solution_folder(out_dir, solution, folder.fragments, folder.files, overwrite=overwrite)
    return {"out": str(out_dir), "report": str(Path(out_dir) / REPORT_FILE), "fragments": len(folder.files),
            "skipped": folder.skipped,
            "groups": solution.n_groups, "group_confidence": json_ready(group_confidence(solution)),
            "shapes": [list(s) for s in solution.shapes], "settings": json_ready(solution.settings)}


def describe_solution(summary: dict) -> list[str]:
    """Lines telling what the solver estimated or decided (``summary``: what solve_fragment_folder returns)."""
    conf = summary.get("group_confidence") or []
    shapes = summary.get("shapes") or []
    lines = decision_lines(summary["settings"], shapes)
    for g, c in enumerate(conf):
        shape = f"{shapes[g][0]}x{shapes[g][1]} cells, " if g < len(shapes) else ""
        lines.append(f"  group {g}: {shape}confidence {'n/a' if c is None else f'{c:.2f}'}")
    return lines
