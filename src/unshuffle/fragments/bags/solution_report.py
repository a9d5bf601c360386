"""report.html of a solved bag: each group's reassembly, cells tinted by confidence, the solver's decisions."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from unshuffle.errors import DataFormatError
from unshuffle.fragments.bags.solution import LOW_CONFIDENCE
from unshuffle.report.html import esc, page, settings_list, table, write_page

REPORT_FILE = "report.html"
_GROUPS_FILE = "groups.json"  # = solution_io.GROUPS_FILE (that module imports this one)

_CSS = """
.groups{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,260px),1fr));gap:.75rem}
.canvas{position:relative;width:100%;max-width:320px;margin-top:.4rem}
.canvas img{display:block;width:100%;height:auto;image-rendering:pixelated;background:#ddd}
.cells{position:absolute;inset:0;display:grid}
.cell{min-width:0;min-height:0}
.cell.doubt{outline:2px solid #d22;outline-offset:-2px}
.canvas:hover .cell,#tint:checked~main .cell{background:var(--c)}
.legend{display:inline-block;width:9rem;height:.8rem;vertical-align:middle;border:1px solid #999;
background:linear-gradient(90deg,hsl(0 85% 45%),hsl(60 85% 45%),hsl(120 85% 40%))}
""".strip()


def group_picture_name(group: int, n_groups: int) -> str:
    """``group_007.png``: the reassembled picture of ``group`` (ids zero-padded to 3 or more digits)."""
    return f"group_{group:0{max(3, len(str(max(n_groups - 1, 0))))}d}.png"


def _differs(shape: list[int], frame: list[int], turned: bool) -> bool:
    """Whether a group's (rows, cols) is not the frame's (either way round when fragments were turned: a
    group may grow in any quarter turn)."""
    return shape != frame and not (turned and shape[::-1] == frame)


def decision_lines(settings: dict, shapes: list | None = None) -> list[str]:
    """What the solver estimated or decided, one sentence each (``settings``: groups.json's; ``shapes``:
    each group's (rows, cols), so that an estimated frame whose size no group has is said to be the searched
    frame, the groups' own sizes differing)."""
    given = settings.get("given", {})
    lines = []
    if "n_images" in settings:
        how = "given" if settings.get("n_images_given") else "estimated"
        lines.append(f"images: {settings['n_images']} ({how})")
    if settings.get("grid") is not None:
        how = "given" if settings.get("grid_given") else "estimated"
        grid = [int(v) for v in settings["grid"]]
        turned = bool(settings.get("rotations_used", settings.get("rotations")) is True)
        if how == "estimated" and any(s is not None and _differs([int(v) for v in s], grid, turned)
                                      for s in shapes or []):
            how = "estimated frame; the groups' own sizes differ, given with each"  # 27x27 for an 18x27 photo
        lines.append(f"grid per image: {grid[0]}x{grid[1]} ({how})")
    if "rotations_used" in settings:
        how = "decided from the bag" if given.get("rotations") == "auto" else "given"
        lines.append(f"fragments turned: {'yes' if settings['rotations_used'] else 'no'} ({how})")
    if "measure_used" in settings:
        lines.append(f"edge measure: {settings['measure_used']} (asked: {settings.get('measure')})")
    damage = settings.get("damage")
    if damage:
        found = [k for k in ("noise", "jpeg") if damage.get(k)]
        lines.append(f"damage found: {', '.join(found) if found else 'none'}")
    return lines


def _tint(conf: float | None, median: float) -> str:
    """Cell colour: red at or below LOW_CONFIDENCE x the bag's median confidence, green at the median."""
    if conf is None or not median > 0:
        return "hsl(0 0% 50% / .55)"
    t = min(1.0, max(0.0, (conf / median - LOW_CONFIDENCE) / (1 - LOW_CONFIDENCE)))
    return f"hsl({120 * t:.0f} 85% 45% / .55)"


def _group_card(g: dict, n_groups: int, median: float) -> str:
    gid, rows, cols = int(g["id"]), g.get("rows"), g.get("cols")
    frags = g.get("fragments", [])
    doubt = {id(f) for f in frags if f.get("confidence") is not None and f["confidence"] < LOW_CONFIDENCE * median}
    conf = g.get("confidence")
    facts = [f"{len(frags)} fragments", f"{rows}x{cols} cells" if rows else "grouped only (not placed)",
             f"confidence {conf:.2f}" if conf is not None else "confidence n/a"]
    if doubt:
        facts.append(f"{len(doubt)} doubtful")
    cells = []
    if rows and cols:
        for f in frags:
            c = f.get("confidence")
            title = (f"{f['file']}: row {f['row']}, col {f['col']}, turn {f['turn']}, confidence "
                     + ("n/a" if c is None else f"{c:.3f}"))
            cls = "cell doubt" if id(f) in doubt else "cell"
            cells.append(f"<span class=\"{cls}\" style=\"grid-row:{int(f['row']) + 1};grid-column:{int(f['col']) + 1};"
                         f"--c:{_tint(c, median)}\" title=\"{esc(title)}\"></span>")
        grid = (f"<div class=\"cells\" style=\"grid-template-rows:repeat({int(rows)},1fr);"
                f"grid-template-columns:repeat({int(cols)},1fr)\">{''.join(cells)}</div>")
    else:
        grid = ""
    picture = group_picture_name(gid, n_groups)
    return (f"<section class=\"card grp\" id=\"g{gid}\"><h3>Group #{gid}</h3>"
            f"<div class=\"muted\">{' &middot; '.join(esc(x) for x in facts)}</div>"
            f"<div class=\"canvas\"><img src=\"{esc(picture)}\" alt=\"group {gid} reassembled\">{grid}</div></section>")


def _scores(scores: dict | None) -> str:
    if scores is None:
        return ("<p class=\"note\">No truth file given: <code>unshuffle fragments report DIR --truth TRUTH</code> "
                "adds the score.</p>")
    def shown(key: str, v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, float) and (key.startswith("n_") or key == "exact_n"):  # counts, scored as floats
            return int(v)
        return v

    rows = [[k, shown(k, v)] for k, v in scores.items() if isinstance(v, (int, float, bool, str))]
    return table(["score", "value"], rows, numeric={1})


def solution_report_html(doc: dict, *, scores: dict | None = None, title: str = "Solved fragment bag") -> str:
    """The page for ``doc`` (a groups.json document); pictures are linked by relative name, so the
    page sits beside them. Groups are shown most confident first; ``scores`` (from scoring against
    a truth file) are added as a table when given."""
    groups = doc.get("groups", [])
    settings = doc.get("settings", {})
    confs = [f["confidence"] for g in groups for f in g.get("fragments", []) if f.get("confidence") is not None]
    median = statistics.median(confs) if confs else float("nan")
    order = sorted(groups, key=lambda g: (-(g.get("confidence") if g.get("confidence") is not None else -1), g["id"]))
    n_frags = sum(len(g.get("fragments", [])) for g in groups)
    warnings = "".join(f"<p class=\"note\">warning: {esc(w)}</p>" for w in settings.get("warnings", []) or [])
    shapes = [(g.get("rows"), g.get("cols")) if g.get("rows") else None for g in groups]
    decisions = "".join(f"<li>{esc(line)}</li>" for line in decision_lines(settings, shapes))
    body = (f"<input type=\"checkbox\" id=\"tint\"> <label for=\"tint\">tint every cell by its confidence "
            f"(or hover a group)</label><main><h1>{esc(title)}</h1>"
            f"<p>{n_frags} fragments from <code>{esc(settings.get('input', '?'))}</code> &rarr; {len(groups)} "
            f"groups, most confident first. Hover a group (or tick the box) to tint its cells: "
            f"<span class=\"legend\"></span> red at {LOW_CONFIDENCE:g}&times; the bag&rsquo;s median confidence "
            f"or below, green at the median; red frames mark doubtful fragments; hover a cell for its file.</p>"
            f"{warnings}<h2>Decisions</h2><ul>{decisions or '<li>none recorded</li>'}</ul>"
            f"<h2>Score</h2>{_scores(scores)}"
            f"<h2>Groups</h2><div class=\"groups\">"
            + "".join(_group_card(g, len(groups), median) for g in order)
            + "</div><p class=\"muted\">All groups in one picture: <a href=\"overview.png\">overview.png</a>; "
              "the data: <a href=\"groups.json\">groups.json</a>.</p>"
            f"<h2>Settings</h2>{settings_list(settings)}</main>")
    return page(title, body, extra_css=_CSS)


def write_solution_report(folder: str | Path, scores: dict | None = None) -> Path:
    """(Re)write ``folder/report.html`` from ``folder/groups.json``; returns its path."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / _GROUPS_FILE).read_text())
    except FileNotFoundError:
        raise DataFormatError(folder / _GROUPS_FILE, "no such file (not a `fragments solve` folder)") from None
    except ValueError as e:
        raise DataFormatError(folder / _GROUPS_FILE, f"not valid JSON ({e})") from None
    path = folder / REPORT_FILE
    write_page(path, solution_report_html(doc, scores=scores))
    return path
