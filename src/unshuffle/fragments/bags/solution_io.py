"""Solutions on disk: ``groups.json`` plus one reassembled PNG per group, and score files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unshuffle.errors import DataFormatError
from unshuffle.fragments.bags.solution import LOW_CONFIDENCE, Solution, assemble_group, doubtful, group_confidence
from unshuffle.fragments.bags.solution_report import REPORT_FILE, group_picture_name, solution_report_html
from unshuffle.runs.atomic import atomic_dir, atomic_write_json

GROUPS_FILE = "groups.json"
OVERVIEW_WIDTH = 1024  # px a row of overview tiles shares: one whole puzzle gets 512 px, not a 160-px thumbnail
OVERVIEW_CELL = (160, 512)  # px, the smallest and largest tile


def solution_to_json(solution: Solution, files: list[str]) -> dict:
    """The ``groups.json`` document: groups (id, rows, cols, fragments with file/row/col/turn/confidence)
    and settings. ``files``: (M,) names of the fragments. Grouping-only solutions get null places."""
    solution.validate(len(files))
    groups = []
    group_conf = group_confidence(solution)
    for g in range(solution.n_groups):
        members = np.flatnonzero(solution.group == g)
        rows, cols = solution.shapes[g] if solution.placed else (None, None)
        frags = []
        for i in members:
            conf = float(solution.confidence[i])
            frags.append({"file": files[i],
                          "row": int(solution.row[i]) if solution.placed else None,
                          "col": int(solution.col[i]) if solution.placed else None,
                          "turn": int(solution.turn[i]),
                          "confidence": None if not np.isfinite(conf) else round(conf, 6)})
        conf = float(group_conf[g])
        groups.append({"id": g, "rows": rows, "cols": cols, "size": len(members),
                       "confidence": None if not np.isfinite(conf) else round(conf, 4), "fragments": frags})
    return {"groups": groups, "settings": json_ready(solution.settings)}


def json_ready(obj):
    """``obj`` with numpy scalars/arrays as Python values, tuples as lists, non-finite floats as None."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_solution_folder(out_dir: str | Path, solution: Solution, fragments: np.ndarray, files: list[str], *,
                          overwrite: bool = False, scores: dict | None = None) -> Path:
    """Write ``groups.json``, ``group_<id>.png`` (each group reassembled, empty cells grey),
    ``overview.png`` (every group in one sheet, most confident first, doubtful fragments framed in red:
    confidence below ``LOW_CONFIDENCE`` times the bag's median) and ``report.html`` (the page to
    browse them, with ``scores`` when given; see :mod:`~unshuffle.fragments.bags.solution_report`).

    fragments: (M, s, s, 3) uint8 in ``files`` order. Built in a temporary sibling folder and renamed
    into place; an existing ``out_dir`` is refused unless ``overwrite`` (and stays intact until the
    new one is complete).
    """
    from PIL import Image

    from unshuffle.plots.sheet import image_sheet

    doc = solution_to_json(solution, files)
    low = doubtful(solution)
    conf = group_confidence(solution)
    order = np.argsort(-np.nan_to_num(conf, nan=-1.0), kind="stable")
    with atomic_dir(out_dir, overwrite=overwrite, marker=GROUPS_FILE) as tmp:
        (tmp / GROUPS_FILE).write_text(json.dumps(doc, indent=1) + "\n")
        for g in range(solution.n_groups):
            canvas = assemble_group(fragments, solution, g)
            Image.fromarray(canvas).save(tmp / group_picture_name(g, solution.n_groups), format="PNG")
        sheet = image_sheet([assemble_group(fragments, solution, int(g), gap=1, marked=low) for g in order],
                            [f"#{g}: {int((solution.group == g).sum())} pcs, conf {conf[g]:.2f}"
                             for g in order],
                            title=f"{solution.n_groups} groups (#id: pieces, mean confidence), most confident "
                                  f"first; red: confidence < {LOW_CONFIDENCE} x the median",
                            cell=overview_cell(solution.n_groups))
        Image.fromarray(sheet).save(tmp / "overview.png", format="PNG")
        (tmp / REPORT_FILE).write_text(solution_report_html(doc, scores=json_ready(scores) if scores else None),
                                       encoding="utf-8")
    return Path(out_dir)


def overview_cell(n_groups: int) -> int:
    """Tile size (px) of the overview of ``n_groups`` groups: ``OVERVIEW_WIDTH`` shared by the sheet's
    columns (``image_sheet``'s near-square layout of at most 6), within ``OVERVIEW_CELL``."""
    from unshuffle.plots.sheet import sheet_columns

    return int(np.clip(OVERVIEW_WIDTH // sheet_columns(n_groups), *OVERVIEW_CELL))


def read_solution_folder(path: str | Path) -> tuple[list[str], Solution]:
    """Read ``groups.json`` (a solution folder or the file itself): (files, Solution) in file order."""
    path = Path(path)
    file = path / GROUPS_FILE if path.is_dir() else path
    try:
        d = json.loads(file.read_text())
        files, group, row, col, turn, conf, shapes = [], [], [], [], [], [], []
        for gi, g in enumerate(d["groups"]):
            if int(g["id"]) != gi:
                raise ValueError(f"group ids must be 0, 1, ... in order; group {gi} has id {g['id']}")
            shapes.append((g["rows"], g["cols"]))
            for f in g["fragments"]:
                files.append(str(f["file"]))
                group.append(gi)
                row.append(-1 if f["row"] is None else int(f["row"]))
                col.append(-1 if f["col"] is None else int(f["col"]))
                turn.append(int(f["turn"]))
                conf.append(np.nan if f["confidence"] is None else float(f["confidence"]))
        settings = dict(d.get("settings", {}))
    except FileNotFoundError:
        raise DataFormatError(file, "no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataFormatError(file, f"not a valid groups.json ({type(e).__name__}: {e})") from None
    if len(set(files)) != len(files):
        raise DataFormatError(file, "a fragment file appears more than once")
    order = np.argsort(files, kind="stable")
    files = [files[i] for i in order]
    placed = all(r is not None and c is not None for r, c in shapes)
    sol = Solution(np.asarray(group, np.int64)[order], np.asarray(row, np.int64)[order],
                   np.asarray(col, np.int64)[order], np.asarray(turn, np.int64)[order],
                   np.asarray(conf, np.float64)[order],
                   [(int(r), int(c)) for r, c in shapes] if placed else [], settings)
    try:
        sol.validate(len(files))
    except ValueError as e:
        raise DataFormatError(file, f"inconsistent solution: {e}") from None
    return files, sol


def write_scores(path: str | Path, scores: dict) -> None:
    """Write a score dict as JSON atomically (nan written as null)."""
    atomic_write_json(path, json_ready(scores))
