"""The solver's one entry point on files: read a fragment folder or archive, solve it, write the solution."""

from __future__ import annotations

from pathlib import Path

from unshuffle.errors import ConfigError, DataFormatError
from unshuffle.fragments.bags.folders import read_fragment_folder
from unshuffle.fragments.bags.solution_io import json_ready, write_solution_folder
from unshuffle.fragments.solver.fragment_solver import FragmentSolver


def solve_fragment_folder(input_path: str | Path, out_dir: str | Path, solver=None, *,
                          overwrite: bool = False) -> dict:
    """Read fragments from a folder/archive, solve them, write ``groups.json`` + one PNG per group.

    solver: the configured FragmentSolver (None = the defaults; its parameters are checked before
    anything is read), or any object with ``solve(fragments) -> Solution``. ``out_dir`` is refused
    when it exists, unless ``overwrite``. Returns a summary dict (out, fragments, skipped, groups, settings).
    """
    solver = FragmentSolver() if solver is None else solver
    if isinstance(solver, FragmentSolver):
        solver.validate_params()
    if Path(out_dir).exists() and not overwrite:
        raise ConfigError(f"out_dir {out_dir} already exists; pass overwrite=True to replace it")
    folder = read_fragment_folder(input_path)
    try:
        solution = solver.solve(folder.fragments)
    except ConfigError as e:  # e.g. fragments too small: name the input, not just the array
        raise DataFormatError(input_path, str(e)) from e
    from unshuffle import __version__

    given = {k: getattr(solver, k, default)  # what was asked of the solver (not what it estimated)
             for k, default in (("n_images", None), ("grid", None), ("rotations", False), ("seed", 0))}
    solution.settings = {**solution.settings, "input": str(input_path), **given,
                         "skipped_files": folder.skipped, "unshuffle": __version__}
    write_solution_folder(out_dir, solution, folder.fragments, folder.files, overwrite=overwrite)
    return {"out": str(out_dir), "fragments": len(folder.files), "skipped": folder.skipped,
            "groups": solution.n_groups, "settings": json_ready(solution.settings)}
