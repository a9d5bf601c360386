"""Pieces exchanged inside each finished layout while its summed seam fit rises (flat regions: sky, snow, walls).

The placers decide a piece's cell once, the most confident first, so flat pieces go last into whatever
cells remain, in an order their near-equal seams hardly constrain; segment shifting (``polish.py``) moves
best-buddy segments, which flat pieces rarely form. On flat development photos the true layout's summed
seam fit (``PieceTables.seam_fit``: both directions' compatibility averaged, capped) is clearly higher
than the solver's, so this pass climbs it with the cells, the set of pieces and their turns held: first
assignment rounds (every piece to the cell it fits best beside the present neighbours, all at once, by the
Hungarian method; kept while the sum rises), then single exchanges of two pieces (neighbours included), the
best gain first, until none gains ``MIN_GAIN`` or ``MAX_SWAPS`` per piece are made. Nothing is kept that
lowers the layout's count of sharp best-buddy seams (``PieceTables.buddies``: mutual best matches clearly
better than the second best; ``grow.buddy_seams``, which ranks layouts elsewhere, also counts tied flat
matches). The solver runs it last (``swap_groups``), after every step that moves pieces between groups, on
layouts of at most ``MAX_PIECES`` pieces.
"""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.grow import OPPOSITE, SIDES, PieceTables, add_region, region_of
from unshuffle.fragments.solver.placement import Assembler

MIN_GAIN = 0.5  # summed seam fit a round or exchange must add (dev: 1e-3 broke 2 of 8 perfect flat puzzles)
MAX_SWAPS = 1.0  # at most this many exchanges per piece of the layout
LAP_ROUNDS = 10  # assignment rounds at most
ADJACENT = True  # exchanges of two neighbours too
MAX_PIECES = 1200  # larger layouts are left as they are ((n, n) tables per side, n^2 per exchange)

Cells = dict[tuple[int, int], int]


def swap_groups(tab: PieceTables, asm: Assembler) -> list[dict]:
    """``swap_refine`` on every cluster of ``asm``, in place (a cluster keeps its id and cells; one whose
    pieces moved gets trust 1, as after the other layout passes). Returns each cluster's info."""
    turned = len(tab.owner) > len(asm.owner)
    out = []
    for h, cl in list(asm.clusters.items()):
        new, info = swap_refine(tab, region_of(cl, turned))
        if info["lap"] or info["swaps"]:
            add_region(asm, tab, new, h)
            asm.trust[list(cl.pos)] = 1.0
        out.append(info)
    return out


def seam_fit_table(tab: PieceTables, piece: np.ndarray) -> list[np.ndarray]:
    """[s][u, v]: ``tab.seam_fit(piece[u], piece[v], s)`` for the four sides, as (n, n) tables (left and
    above are the transposes of right and below: the fit is the mean of both directions)."""
    right, below = (tab.seam_fit(piece[:, None], piece[None, :], s) for s in (1, 3))
    return [right.T, right, below.T, below]


def swap_refine(tab: PieceTables, region: Cells) -> tuple[Cells, dict]:
    """``region`` (cell -> piece) after assignment rounds and pair exchanges that raise its summed seam fit
    and never lower its sharp best-buddy seams. Returns the new region and {"lap": assignment rounds kept,
    "swaps": exchanges made, "gain": the summed seam fit gained}."""
    n = len(region)
    if n < 4 or n > MAX_PIECES:
        return region, {"lap": 0, "swaps": 0, "gain": 0.0}
    from scipy.optimize import linear_sum_assignment

    cells = sorted(region)
    index = {cell: i for i, cell in enumerate(cells)}
    piece = np.array([region[c] for c in cells], np.int64)
    # nbr[s, i]: the cell on side SIDES[s] of cell i, or -1
    nbr = np.array([[index.get((r + dr, c + dc), -1) for r, c in cells] for dr, dc in SIDES], np.int64)
    has = [np.flatnonzero(nbr[s] >= 0) for s in range(4)]
    # fit[s][u, v]: seam fit of the layout's piece v on side s of its piece u; bud[s][u, v]: they are best buddies
    fit = seam_fit_table(tab, piece)
    mutual = tab.buddies()
    bud = [((tab.best[s][piece][:, None] == piece[None, :]) & mutual[s][piece][:, None]).astype(np.int64)
           for s in range(4)]
    if not ADJACENT:
        adjacent = np.zeros((n, n), bool)
        for s in range(4):
            adjacent[has[s], nbr[s][has[s]]] = True

    def score(at: np.ndarray) -> tuple[int, float]:
        """(best-buddy seams, summed seam fit) of the layout with piece ``at[i]`` in cell i."""
        return (sum(int(bud[s][at[has[s]], at[nbr[s][has[s]]]].sum()) for s in (1, 3)),
                sum(float(fit[s][at[has[s]], at[nbr[s][has[s]]]].sum()) for s in (1, 3)))

    def around(table: list[np.ndarray], at: np.ndarray) -> np.ndarray:
        """(n, n): [k, i] the sum of ``table`` for piece k placed in cell i against the pieces now around i."""
        out = np.zeros((n, n), table[0].dtype)
        for s in range(4):
            out[:, has[s]] += table[s][:, at[nbr[s][has[s]]]]
        return out

    at = np.arange(n)  # at[i]: the layout's piece (index into ``piece``) in cell i
    start = now = score(at)
    lap = swaps = 0
    for _ in range(LAP_ROUNDS):  # every piece to the cell it fits best given the present neighbours, at once
        rows, cols = linear_sum_assignment(-around(fit, at))
        new = np.empty(n, np.int64)
        new[cols] = rows
        got = score(new)
        if got[0] < now[0] or got[1] <= now[1] + MIN_GAIN:
            break
        at, now, lap = new, got, lap + 1
    own, own_b = around(fit, at), around(bud, at)
    a, ab = own[at], own_b[at]  # [i, j]: the piece of cell i placed in cell j
    for _ in range(int(MAX_SWAPS * n)):  # then the one exchange that gains most, again and again
        here, here_b = np.diag(a).copy(), np.diag(ab).copy()
        g = a + a.T - here[:, None] - here[None, :]
        g[ab + ab.T - here_b[:, None] - here_b[None, :] < 0] = -np.inf  # never fewer sharp best-buddy seams
        if ADJACENT:  # two neighbours: each one's sum counted the other in its old cell; the seam between them
            # is counted afresh (the diagonal of the tables, a piece beside itself, is what was counted)
            for s in (1, 3):
                i_, j_ = has[s], nbr[s][has[s]]
                p, q = at[i_], at[j_]
                fix = fit[s][q, p] + fit[s][p, q] - fit[s][q, q] - fit[OPPOSITE[s]][p, p]
                fix_b = bud[s][q, p] + bud[s][p, q] - bud[s][q, q] - bud[OPPOSITE[s]][p, p]
                gb = ab[j_, i_] + ab[i_, j_] - here_b[i_] - here_b[j_] + fix_b
                g_adj = np.where(gb < 0, -np.inf, a[j_, i_] + a[i_, j_] - here[i_] - here[j_] + fix)
                g[i_, j_] = g[j_, i_] = g_adj
        else:
            g[adjacent] = -np.inf  # two neighbours' own seam would be counted from their old cells
        np.fill_diagonal(g, -np.inf)
        i, j = divmod(int(np.argmax(g)), n)
        if g[i, j] < MIN_GAIN:
            break
        at[i], at[j] = at[j], at[i]
        swaps += 1
        # only the cells beside i and j have new neighbours; their columns are summed again, side by side in the
        # order ``around`` adds them (same floats), and the rows of i and j hold new pieces
        moved = np.unique(np.concatenate([nbr[:, i], nbr[:, j]]))
        moved = moved[moved >= 0]
        for table, out in ((fit, own), (bud, own_b)):
            out[:, moved] = 0
            for s in range(4):
                ok = moved[nbr[s][moved] >= 0]
                out[:, ok] += table[s][:, at[nbr[s][ok]]]
        a[:, moved], ab[:, moved] = own[np.ix_(at, moved)], own_b[np.ix_(at, moved)]
        a[[i, j]], ab[[i, j]] = own[at[[i, j]]], own_b[at[[i, j]]]
    gain = score(at)[1] - start[1]
    return {cells[i]: int(piece[at[i]]) for i in range(n)}, {"lap": lap, "swaps": swaps, "gain": round(gain, 3)}
