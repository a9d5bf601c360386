"""Paikin & Tal's placer: grow each puzzle from a distinctive seed, the most confident (piece, cell) first.

Paikin & Tal 2015 ("Solving multiple square jigsaw puzzles with missing pieces", CVPR) place one
piece at a time. The compatibility of a candidate piece x next to a placed piece a is
``1 - D(a, x) / second(a)``, where ``second(a)`` is a's second-smallest dissimilarity on that side
(here averaged with the same ratio on x's side, P&T's mutual form); two pieces are *best buddies*
when each is the other's clear best match on the facing sides. The seed is the piece with the most
best buddies that have the most of their own; then every free cell next to the placed region keeps
its best available piece in a heap, best-buddy cells first, then cells with more placed neighbours,
then the highest compatibility, and the single best pair is placed. Pieces with flat, ambiguous
edges have low compatibility, so they go last, into the cells the confident part leaves.

The dimensions are not given: the seed first grows without bound while every placement is a best
buddy (the core); then every factor pair rows x cols of the piece count (at most
``FRAME_MAX_ASPECT`` elongated, both ways round) is laid over the core, the growth goes on bounded
by that frame's size, and the region with the most best-buddy seams is kept, near-ties going to the frame
of the more usual photo aspect (``grow_region``, ``choose_frame``).
``grow_puzzles`` places whole bags this way (``regrow.py`` regrows each image found by the merging
placer). Under unknown turns a piece is a (fragment,
quarter turn) pair, and placing one takes all four turns of its fragment out of play.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from unshuffle.fragments.solver.placement import Assembler, Cluster
from unshuffle.fragments.solver.window import factor_frames

SIDES = ((0, -1), (0, 1), (-1, 0), (1, 0))  # a candidate left of, right of, above, below a placed piece
OPPOSITE = (1, 0, 3, 2)
FLOOR = 1e-6  # smallest second-best dissimilarity used as a divisor
NEIGHBOURS_FIRST = True  # among best-buddy cells, those with more placed neighbours first
MUTUAL = True  # compatibility averaged with the candidate's own normalisation (Paikin & Tal's mutual form)
ROLL = True  # grow_region's default for ``roll`` (dev photos: no change; Kodak 16 px strict D 0.14 -> 0.19)
FIXED_WINDOW = False  # after the core, grow inside the frame's window (dev: False, only the frame's size bounds it)
TABLE_CHUNK = 512  # rows per block when finding each side's best and second best
FRAME_PRIOR = True  # near-ties between frames go to the more usual photo aspect (``choose_frame``)
FRAME_PRIOR_SLACK = 0.05  # ... frames within this share of the most best-buddy seams count as near-ties
PHOTO_ASPECTS = (1.0, 4 / 3, 3 / 2)  # usual still-photo aspects: square, 4:3 (compact, phone), 3:2 (film, DSLR)
MAX_PIECES = 8704  # dense tables of 4 P^2 float32: 1.2 GB at this many pieces (Type 2: 2,176 fragments)
SEAM_CAP = 10.0  # a seam pair's normalised dissimilarity counts at most this when finding the border


@dataclass(frozen=True)
class PieceTables:
    """Dense dissimilarities of every ordered pair of pieces, by side, with each side's best partner.

    Attributes:
        cost: (4, P, P) float32: ``cost[s, a, x]`` is the dissimilarity of x placed on side ``SIDES[s]``
            of a (left, right, above, below); +inf between two pieces of one fragment.
        best: (4, P) int64 argmin of ``cost[s, a]`` over x.
        second: (4, P) float64 second-smallest of ``cost[s, a]`` (+inf replaced by 1 / ``FLOOR``).
        owner, turn: (P,) int64 fragment and quarter turn of each piece.
    """

    cost: np.ndarray
    best: np.ndarray
    second: np.ndarray
    owner: np.ndarray
    turn: np.ndarray

    def buddies(self) -> np.ndarray:
        """(4, P) bool: piece a's best partner on side s has a as its best partner on the facing side."""
        p = np.arange(self.best.shape[1])
        first = np.take_along_axis(self.cost, self.best[:, :, None], axis=2)[:, :, 0]
        sharp = first < self.second  # a tie (flat edges: both ~0) is no best match
        return np.stack([(self.best[OPPOSITE[s], self.best[s]] == p) & sharp[s] & sharp[OPPOSITE[s], self.best[s]]
                         for s in range(4)])

    def compatibility(self, s: int, a: int) -> np.ndarray:
        """(P,) ``1 - cost[s, a] / second[s, a]`` of every piece on side s of placed piece a."""
        return 1.0 - self.cost[s, a] / max(self.second[s, a], FLOOR)

    def compatibility_of(self, s: int, a: int, x: int) -> np.float32:
        """``compatibility(s, a)[x]`` alone (one division, not a row of P)."""
        return 1.0 - self.cost[s, a, x] / max(self.second[s, a], FLOOR)

    def seam_fit(self, a: np.ndarray, x: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Seam fit of piece x on side ``SIDES[s]`` of piece a, elementwise over (K,) arrays: the mean of
        both directions' compatibility (x beside a, a beside x), capped at ``-SEAM_CAP``."""
        opp = np.asarray(OPPOSITE)[s]
        there = 1.0 - self.cost[s, a, x] / np.maximum(self.second[s, a], FLOOR)
        back = 1.0 - self.cost[opp, x, a] / np.maximum(self.second[opp, x], FLOOR)
        return np.maximum(0.5 * (there + back), -SEAM_CAP)


def piece_tables(feats: list[tuple[np.ndarray, np.ndarray]], owner: np.ndarray, turn: np.ndarray,
                 rotations: bool) -> PieceTables:
    """Tables of the pieces from the solver's query/key features ``D(a, x) = query[a] . key[x]``.

    feats: [(query, key)] of the RIGHT relation and, without rotations, the DOWN relation, each
    (P, F); under rotations piece ``4 f + t`` is fragment f turned t quarter turns and DOWN is RIGHT
    of both pieces turned once more. owner, turn: (P,) int64.
    """
    p = len(owner)
    cost = np.empty((4, p, p), np.float32)  # filled in place: 4 P^2 floats at the peak
    rels = [(1, feats[0]), (3, feats[1] if len(feats) > 1 else None)]
    for s, qk in rels:
        if qk is not None:
            np.matmul(qk[0].astype(np.float32), qk[1].astype(np.float32).T, out=cost[s])
    if rotations:
        spin = 4 * (np.arange(p) // 4) + (turn + 1) % 4
        cost[3] = cost[1][np.ix_(spin, spin)]
    same = owner[:, None] == owner[None, :]
    for s in (1, 3):
        np.maximum(cost[s], 0.0, out=cost[s])
        cost[s][same] = np.inf
        cost[s - 1] = cost[s].T  # x left of a: right[x, a]; x above a: down[x, a]
    del same
    best = np.empty((4, p), np.int64)
    second = np.full((4, p), np.inf)
    for s in range(4):
        for a in range(0, p, TABLE_CHUNK):
            block = cost[s, a:a + TABLE_CHUNK]
            best[s, a:a + TABLE_CHUNK] = np.argmin(block, axis=1)
            if p > 1:
                second[s, a:a + TABLE_CHUNK] = np.partition(block, 1, axis=1)[:, 1]
    second[~np.isfinite(second)] = 1.0 / FLOOR
    return PieceTables(cost, best, second, owner.astype(np.int64), turn.astype(np.int64))


def seed_piece(tab: PieceTables, avail: np.ndarray) -> int:
    """The available piece (turn 0) with the most best buddies among available pieces, preferring
    buddies that have as many of their own, then the largest summed margin ``1 - best / second``."""
    bud = tab.buddies() & avail[tab.best]
    n_bud = bud.sum(axis=0)
    n_around = np.array([np.where(bud[s], n_bud[tab.best[s]], 0) for s in range(4)]).sum(axis=0)
    first = np.take_along_axis(tab.cost, tab.best[:, :, None], axis=2)[:, :, 0]
    margin = np.where(bud, 1.0 - first / np.maximum(tab.second, FLOOR), 0.0).sum(axis=0)
    ok = avail & (tab.turn == 0)
    if not ok.any():
        ok = avail
    keys = np.lexsort((-np.arange(len(ok)), margin, n_around, n_bud))  # last key is primary
    return int(next(p for p in keys[::-1] if ok[p]))


def _slot_best(tab: PieceTables, cells: dict, avail: np.ndarray, r: int, c: int
               ) -> tuple[tuple[int, int, float], int] | None:
    """The priority (0 for a best-buddy cell else 1, minus its placed neighbours when
    ``NEIGHBOURS_FIRST``, minus the mean compatibility) and the best available piece of free cell (r, c);
    None when no neighbour is placed or no piece is left."""
    total, n, buddy, want = None, 0, True, -1
    for o, (dr, dc) in enumerate(SIDES):
        a = cells.get((r + dr, c + dc))
        if a is None:
            continue
        s = OPPOSITE[o]  # the candidate lies on side s of neighbour a
        comp = tab.compatibility(s, a)
        if MUTUAL:  # and a on the facing side of each candidate, normalised by the candidate's second best
            comp = 0.5 * (comp + 1.0 - tab.cost[s, a] / np.maximum(tab.second[OPPOSITE[s]], FLOOR))
        total = comp if total is None else total + comp
        n += 1
        x = int(tab.best[s, a])
        buddy &= (want in (-1, x)) and int(tab.best[OPPOSITE[s], x]) == a and comp[x] > 0
        want = x
    if total is None:
        return None
    score = np.where(avail, total, -np.inf)
    x = int(np.argmax(score))
    if not np.isfinite(score[x]):
        return None
    return ((0 if buddy and x == want else 1), -n if NEIGHBOURS_FIRST else 0, -float(score[x]) / n), x


def grow(tab: PieceTables, cells: dict[tuple[int, int], int], avail: np.ndarray,
         frame: tuple[int, int] | None = None, window: tuple[int, int, int, int] | None = None,
         buddies_only: bool = False) -> dict[tuple[int, int], int]:
    """Grow a region (cell (row, col) -> piece, its pieces already out of ``avail``) and return it.

    The box never gets larger than ``frame`` (rows, cols), and no cell leaves ``window`` (rmin, rmax,
    cmin, cmax); ``buddies_only`` stops at the first placement that is not a best buddy of all its
    placed neighbours. ``avail`` (P,) bool is updated in place (placed fragments leave it)."""
    cells = dict(cells)
    rows = [r for r, _ in cells]
    cols = [c for _, c in cells]
    box = [min(rows), max(rows), min(cols), max(cols)]
    heap: list = []
    version: dict[tuple[int, int], int] = {}

    def fits(r: int, c: int) -> bool:
        if window is not None and not (window[0] <= r <= window[1] and window[2] <= c <= window[3]):
            return False
        if frame is None:
            return True
        return max(box[1], r) - min(box[0], r) < frame[0] and max(box[3], c) - min(box[2], c) < frame[1]

    def push(r: int, c: int) -> None:
        if (r, c) in cells or not fits(r, c):
            return
        got = _slot_best(tab, cells, avail, r, c)
        if got is not None:
            heapq.heappush(heap, (got[0], r, c, got[1], version.get((r, c), 0)))

    for r, c in sorted({(r + dr, c + dc) for r, c in cells for dr, dc in SIDES}):
        push(r, c)
    while heap:
        (buddy, _, _), r, c, x, ver = heapq.heappop(heap)
        if (r, c) in cells or ver != version.get((r, c), 0) or not fits(r, c):
            continue
        if not avail[x]:  # its best piece went elsewhere: a later, worse candidate
            push(r, c)
            continue
        if buddies_only and buddy:
            break
        cells[(r, c)] = x
        avail[tab.owner == tab.owner[x]] = False  # every turn of its fragment
        box = [min(box[0], r), max(box[1], r), min(box[2], c), max(box[3], c)]
        for dr, dc in SIDES:
            nb = (r + dr, c + dc)
            version[nb] = version.get(nb, 0) + 1
            push(*nb)
    return cells


def place_window(cells: dict[tuple[int, int], int], frame: tuple[int, int]) -> tuple[int, int, int, int]:
    """The position (rmin, rmax, cmin, cmax) of a ``frame`` (rows, cols) holding most cells of a
    region (ties: the first, top-left first)."""
    rc = np.array(list(cells), np.int64)
    r0, c0 = rc.min(axis=0)
    h, w = rc.max(axis=0) - (r0, c0) + 1
    occ = np.zeros((h + 1, w + 1), np.int64)
    np.add.at(occ, (rc[:, 0] - r0 + 1, rc[:, 1] - c0 + 1), 1)
    csum = occ.cumsum(0).cumsum(1)  # csum[y, x]: cells in rows < y, cols < x
    fr, fc = min(frame[0], h), min(frame[1], w)
    ys, xs = np.arange(h - fr + 1), np.arange(w - fc + 1)
    held = (csum[ys[:, None] + fr, xs[None, :] + fc] - csum[ys[:, None], xs[None, :] + fc]
            - csum[ys[:, None] + fr, xs[None, :]] + csum[ys[:, None], xs[None, :]])
    y, x = np.unravel_index(int(np.argmax(held)), held.shape)
    top, left = r0 + int(y) - (frame[0] - fr) // 2, c0 + int(x) - (frame[1] - fc) // 2
    return top, top + frame[0] - 1, left, left + frame[1] - 1


def roll_to_worst_seams(tab: PieceTables, cells: dict[tuple[int, int], int], frame: tuple[int, int]
                        ) -> dict[tuple[int, int], int]:
    """A region that fills its frame, its columns (then rows) turned cyclically so that the worst
    column (row) seam, the wrap-around one included, becomes the image border.

    A region grown into a frame from the wrong place runs into the frame's edge and goes on from the
    other side: the wrapped block is right inside but the picture is cut in two. In the true layout
    the wrap seam joins unrelated pieces, so it is the worst; seams score ``min(d / second, SEAM_CAP)``
    averaged over the seam's filled pairs."""
    rows, cols = frame
    r0 = min(r for r, _ in cells)
    c0 = min(c for _, c in cells)
    g = np.full((rows, cols), -1, np.int64)
    for (r, c), p in cells.items():
        g[r - r0, c - c0] = p
    for axis, s in ((1, 1), (0, 3)):  # columns with pieces on the right, rows with pieces below
        n = g.shape[axis]
        if n < 3 or not (g >= 0).any(axis=1 - axis).all():  # only across a frame the region spans
            continue
        cost = np.zeros(n)
        for j in range(n):
            a, b = np.take(g, j, axis=axis), np.take(g, (j + 1) % n, axis=axis)
            ok = (a >= 0) & (b >= 0)
            if ok.any():
                v = tab.cost[s, a[ok], b[ok]] / np.maximum(tab.second[s, a[ok]], FLOOR)
                cost[j] = np.minimum(v, SEAM_CAP).mean()
        g = np.roll(g, -(int(np.argmax(cost)) + 1) % n, axis=axis)
    return {(int(r), int(c)): int(g[r, c]) for r, c in zip(*np.nonzero(g >= 0), strict=True)}


def buddy_seams(tab: PieceTables, cells: dict[tuple[int, int], int]) -> tuple[int, float]:
    """(best-buddy seams, mean compatibility over seams) of a finished region: higher is better."""
    bud, n, comp = 0, 0, 0.0
    for (r, c), a in sorted(cells.items()):  # a fixed order: one layout, one sum, wherever it lies
        for s in (1, 3):  # right and below
            x = cells.get((r + SIDES[s][0], c + SIDES[s][1]))
            if x is None:
                continue
            n += 1
            bud += int(tab.best[s, a] == x and tab.best[OPPOSITE[s], x] == a)
            comp += 0.5 * max(float(tab.compatibility_of(s, a, x) + tab.compatibility_of(OPPOSITE[s], x, a)), -SEAM_CAP)
    return bud, comp / max(n, 1)


def region_seams(tab: PieceTables, region: dict[tuple[int, int], int]) -> tuple[int, int, float]:
    """(best-buddy seams, all seams, mean compatibility over seams) of a region (cell -> piece)."""
    bud, mean = buddy_seams(tab, region)
    seams = sum((r, c + 1) in region for r, c in region) + sum((r + 1, c) in region for r, c in region)
    return bud, seams, mean


def count_frames(cells: int) -> list[tuple[int, int]]:
    """Every frame (rows, cols) of exactly ``cells`` cells at most ``FRAME_MAX_ASPECT`` elongated,
    both ways round, squarest first; for a count with no such pair, the squarest frame holding it."""
    fit = factor_frames(cells)
    if not fit:
        side = int(np.ceil(np.sqrt(cells)))
        fit = [(side, -(-cells // side))]
        fit.append(fit[0][::-1])
    return sorted(set(fit), key=lambda rc: (max(rc) / min(rc), rc))


def grow_region(tab: PieceTables, avail: np.ndarray, frames: list, start: str = "core", roll: bool | None = None
                ) -> tuple[dict[tuple[int, int], int], np.ndarray, dict]:
    """One region from the best seed among ``avail`` (P,) bool, grown under each of ``frames`` ((rows,
    cols), or [None] for no bound) and kept by ``choose_frame`` (most best-buddy seams, then mean
    compatibility, then the earlier frame; near-ties within ``FRAME_PRIOR_SLACK`` to the usual photo aspect).
    Returns (cell -> piece, the pieces still available, what was tried).

    start: "core" grows the seed without bound while every placement is a best buddy of all its
    neighbours, puts each frame where it holds most of that core (``place_window``) and grows on
    bounded by the frame's size; "seed" grows from the seed with only the frame's size as bound.
    ``roll`` puts a full region's worst seams on its border (``roll_to_worst_seams``)."""
    roll = ROLL if roll is None else roll
    core = {(0, 0): seed_piece(tab, avail)}
    if start == "core" and frames[0] is not None:
        core = grow(tab, core, taken(tab, avail.copy(), core), buddies_only=True)
    scores, grown = [], []
    for frame in frames:
        start_cells, window = core, None
        if start == "core" and frame is not None:
            window = place_window(core, frame)
            start_cells = {rc: p for rc, p in core.items()
                           if window[0] <= rc[0] <= window[1] and window[2] <= rc[1] <= window[3]}
        left = taken(tab, avail.copy(), start_cells)
        region = grow(tab, start_cells, left, frame=frame, window=window if FIXED_WINDOW else None)
        if frame is not None and roll:
            region = roll_to_worst_seams(tab, region, frame)
        key = (*buddy_seams(tab, region), -frames.index(frame))
        scores.append([None if frame is None else list(frame), key[0], round(key[1], 4)])
        grown.append((key, frame, region, left))
    key, frame, region, left = choose_frame(grown)
    return region, left, {"frame": None if frame is None else list(frame), "buddy_seams": key[0],
                          "compatibility": round(key[1], 4), "pieces": len(region), "core": len(core),
                          "frames": scores}


def aspect_distance(frame: tuple[int, int] | None) -> float:
    """|log aspect| distance of a frame (rows, cols) to the nearest of ``PHOTO_ASPECTS`` either way round."""
    if frame is None:
        return 0.0
    a = abs(np.log(frame[1] / frame[0]))
    return float(min(abs(a - np.log(t)) for t in PHOTO_ASPECTS))


def choose_frame(grown: list[tuple]) -> tuple:
    """The kept (key, frame, region, left) of one region grown under several frames: the most best-buddy
    seams (then mean compatibility, then the earlier frame), unless frames within ``FRAME_PRIOR_SLACK`` of
    that many seams include one of a more usual photo aspect (``aspect_distance``): then the most usual
    of those. Flat images give many frames nearly as many seams; the camera's aspect breaks the tie (when
    the best region closes no best-buddy seam at all, every frame is a near-tie and the aspect decides)."""
    best = max(grown, key=lambda g: g[0])
    if not FRAME_PRIOR or best[1] is None:
        return best
    close = [g for g in grown if g[1] is not None and g[0][0] >= (1.0 - FRAME_PRIOR_SLACK) * best[0][0]]
    return min(close, key=lambda g: (round(aspect_distance(g[1]), 6), tuple(-v for v in g[0])))


def frames_for(cells: int, grid: tuple[int, int] | None, rotations: bool) -> list[tuple[int, int]]:
    """The count frames of ``cells`` cells, or a given grid (both ways round under rotations)."""
    if grid is None:
        return count_frames(cells)
    return sorted({grid, grid[::-1]}) if rotations else [grid]


def grow_puzzles(tab: PieceTables, n_fragments: int, n_images: int, rotations: bool,
                 grid: tuple[int, int] | None = None) -> tuple[Assembler, list[dict]]:
    """Place ``n_fragments`` fragments as ``n_images`` puzzles of ceil(M / N) cells each, one region at
    a time (``grow_region``) from the best seed left under every count frame (or the given ``grid``).
    Fragments left when ``n_images`` regions are grown start regions of their own, unbounded.
    Returns the Assembler holding the regions and, per region, the frame kept with its scores."""
    avail = np.ones(len(tab.owner), bool)
    frames = frames_for(-(-n_fragments // n_images), grid, rotations)
    asm = Assembler(n_fragments, None, rotations)
    asm.clusters = {}
    tried = []
    while avail.any():
        region, avail, info = grow_region(tab, avail, frames if len(asm.clusters) < n_images else [None])
        tried.append(info)
        add_region(asm, tab, region)
    return asm, tried


def taken(tab: PieceTables, avail: np.ndarray, cells: dict[tuple[int, int], int]) -> np.ndarray:
    """``avail`` with every piece of the fragments placed in ``cells`` set False (in place)."""
    avail[np.isin(tab.owner, tab.owner[list(cells.values())])] = False
    return avail


def region_of(cluster: Cluster, turned: bool) -> dict[tuple[int, int], int]:
    """A cluster as cell -> piece (``4 f + t`` when the tables hold turned pieces): ``add_region``'s inverse."""
    return {(r, c): 4 * f + t if turned else f for f, (r, c, t) in cluster.pos.items()}


def add_region(asm: Assembler, tab: PieceTables, region: dict[tuple[int, int], int], h: int | None = None) -> None:
    """Store a region (cell -> piece) as one cluster of fragments with their turns, under id ``h`` (default:
    its smallest fragment)."""
    cl = Cluster()
    for (r, c), p in region.items():
        f = int(tab.owner[p])
        cl.pos[f] = (r, c, int(tab.turn[p]))
        cl.cells[(r, c)] = f
    rows = [r for r, _ in region]
    cols = [c for _, c in region]
    cl.box = (min(rows), max(rows), min(cols), max(cols))
    h = min(cl.pos) if h is None else h
    asm.clusters[h] = cl
    for f in cl.pos:
        asm.owner[f] = h
