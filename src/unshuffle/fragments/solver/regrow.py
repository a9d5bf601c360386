"""placer="best": each image the merging placer found, grown again by the growing placer, the better layout
kept per image, polished and its cyclic wrap corrected."""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.grow import (
    PieceTables,
    add_region,
    frames_for,
    grow_region,
    region_of,
    region_seams,
)
from unshuffle.fragments.solver.placement import Assembler
from unshuffle.fragments.solver.polish import polish_region
from unshuffle.fragments.solver.wrap import roll_search, wrap_region

POLISH = True  # regrow_groups: shift the kept layout's best-buddy segments inside its frame (``polish.py``;
# polishing both layouts before comparing them: dev strict D +0.001, twice the time)
WRAP = True  # regrow_groups: then relay a full layout cut in the wrong place at its worst seams (``wrap.py``),
# polished again when it moved
WRAP_SEARCH = True  # then try rolls opening its worst seams, each polished, and the rigid relayout again
# (``wrap.roll_search``). Dev (session 9, 14 sets, 359 puzzles and bags): strict D flat BSDS/Kodak Type 2 0.541 ->
# 0.630, Type 1 0.805 -> 0.815, look-alike-edge crops +0.01 to +0.04, mixed bags unchanged or up; 4 puzzles lost
# 0.004-0.024; median CPU x1.1-3.8
SLACK_FRAMES = True  # image count estimated: each group is also grown under photo-aspect frames a little larger
# than its piece count (``slack_frames``): a group that took or lost a few pieces of another image is otherwise
# held to frames of its exact count (518 pieces: only 14 x 37)
SLACK_MARGIN = 0.05  # ... and kept only with this share more best-buddy seams than under the exact-count frames
SLACK_MAX_ASPECT = 1.6  # ... of at most this elongation (3:2 photos and squarer)
SLACK_MAX_FRAMES = 10  # ... and at most this many (puzzles of 400-550 pieces have 8-10)
WRAP_SEARCH_MAX = 1200  # pieces: larger layouts skip the search (two 3,800-piece Kodak puzzles: 22 -> 120 CPU s)


def slack_frames(cells: int, slack: float) -> list[tuple[int, int]]:
    """Frames (rows, cols) of a photo's proportions (at most ``SLACK_MAX_ASPECT`` elongated) that hold
    ``cells`` cells with at most ``slack * cells`` left empty, both ways round, fewest cells first; at most
    ``SLACK_MAX_FRAMES`` (a 4,000-piece group would otherwise be grown under 57 more frames)."""
    out = []
    for rows in range(1, int(np.sqrt(cells * (1 + slack))) + 1):
        for cols in range(max(rows, -(-cells // rows)), int(cells * (1 + slack)) // rows + 1):
            if cols <= SLACK_MAX_ASPECT * rows:
                out += [(rows * cols, rows, cols), (rows * cols, cols, rows)]
    return list(dict.fromkeys((r, c) for _, r, c in sorted(out)))[:SLACK_MAX_FRAMES]


def regrow_groups(tab: PieceTables, asm: Assembler, rotations: bool, grid: tuple[int, int] | None = None,
                  slack: float = 0.0) -> tuple[Assembler, list[dict]]:
    """Each cluster of ``asm`` (an image as the merging placer found it) grown again from its own
    fragments under the frames of its own piece count (``grow_region``); of the cluster and the
    regrown region, the one with more seams, best-buddy seams counting twice, then the higher mean
    compatibility, is kept (the cluster on ties, or when the growth leaves fragments out). Returns
    the new Assembler and, per cluster, which was kept and both seam counts. ``slack`` > 0 (the image
    count was estimated, so a group may hold a few pieces more or fewer than its image) and no ``grid``
    given: the growth also tries ``slack_frames``, kept only with ``SLACK_MARGIN`` more best-buddy seams."""
    turned = len(tab.owner) > len(asm.owner)
    out = Assembler(len(asm.owner), None, rotations)
    out.clusters, out.trust = {}, asm.trust.copy()
    info = []
    for cl in asm.clusters.values():
        old = region_of(cl, turned)
        region, got = old, {"kept": "greedy"}
        if len(old) >= 2:
            avail = np.isin(tab.owner, list(cl.pos))
            frames = frames_for(len(old), grid, rotations)
            new, _, tried = grow_region(tab, avail, frames)
            if SLACK_FRAMES and slack > 0 and grid is None:  # kept only when clearly better: not on near-ties
                extra = [f for f in slack_frames(len(old), slack) if f not in frames]
                if extra:
                    new2, _, tried2 = grow_region(tab, avail, extra)
                    if tried2["buddy_seams"] > (1 + SLACK_MARGIN) * tried["buddy_seams"]:
                        new, tried = new2, {**tried2, "count_frames": tried}
            both = {name: region_seams(tab, r) for name, r in (("greedy", old), ("grow", new))}
            score = {name: (v[0] + v[1], v[2]) for name, v in both.items()}
            if len(new) == len(old) and score["grow"] > score["greedy"]:
                region, got = new, {"kept": "grow", "region": tried}
                out.trust[list(cl.pos)] = 1.0
            got["seams"] = {name: [v[0], v[1], round(v[2], 4)] for name, v in both.items()}
            if POLISH:
                region, got["polish"] = polish_region(tab, region)
                if got["polish"]["moves"]:
                    out.trust[list(cl.pos)] = 1.0
            if WRAP:
                region, got["wrap"] = wrap_region(tab, region)
                if got["wrap"]["moves"]:
                    out.trust[list(cl.pos)] = 1.0
                    if POLISH:
                        region, got["wrap"]["polish"] = polish_region(tab, region)
                if WRAP_SEARCH and len(region) <= WRAP_SEARCH_MAX:
                    region, got["wrap"]["search"] = roll_search(tab, region)
                    if got["wrap"]["search"]["moves"]:  # the border put back at the worst seams
                        out.trust[list(cl.pos)] = 1.0
                        region, got["wrap"]["search"]["wrap"] = wrap_region(tab, region)
        info.append(got)
        add_region(out, tab, region)
    return out, info


def regrow_summary(kept: list[dict]) -> dict:
    """What ``placer="best"`` records from ``regrow_groups``'s per-cluster info: which placer's layouts
    were kept ("greedy", "grow" or "both"), the per-cluster info, and with one image its seam counts
    (best-buddy seams, all seams, mean compatibility) under both placers."""
    used = sorted({g["kept"] for g in kept})
    out = {"placer_used": used[0] if len(used) == 1 else "both", "groups_kept": kept}
    if len(kept) == 1 and "seams" in kept[0]:
        out["seams"] = kept[0]["seams"]
    return out
