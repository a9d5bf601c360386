"""Estimating the grid size and the number of source images of a bag from its confident clusters."""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver.cells import completes, core_extent, join_cells, place_together
from unshuffle.fragments.solver.loops import merge_loops
from unshuffle.fragments.solver.placement import Assembler

FRAME_MAX_ASPECT = 4.0  # a frame from the piece count is at most this elongated (unless a cluster forces it);
# so is a small closed cluster (``closed_clusters``)
N_MIN_SHARE = 0.25  # a cluster counts as an image when it holds at least this share of the g*g cells
GRID_MIN_SUPPORT = 0.2  # share of the multi-piece clusters that must reach the estimated extent
PAIR_OVERLAP_SHARE = 0.5  # counting: a part still joins a frame when this share of its cells collide
PAIR_MIN_WHOLE = 0.5  # counting: parts are joined only when at least this share of the counted clusters is whole
LOOK_MIN_SIMILARITY = 0.0  # counting by looks: least colour-histogram intersection for a join (0: any pair that fits)
LOOK_MIN_PART = 3  # counting by looks: parts of fewer fragments, or under 5 % of a frame, are left out (unless closed)
LOOK_MAX_MISSES = 8  # counting by looks: a group stops trying partners after this many that do not fit
WHOLE_BAG_SHARE = 0.45  # counting by looks: the image share of a frame when most counted clusters are whole
CLOSED_MIN_PIECES = 100  # counting: in a bag with a cluster this large (a puzzle, not 64-px images) ...
CLOSED_SMALL_PIECES = 16  # ... a cluster of this many or more may be a closed image (a small photo beside large
# ones: ImageNet sample photos of 20-90 pieces at 28 px were joined into others' groups) ...
CLOSED_MIN_FILL = 0.9  # ... when it fills this share of its core extent (``core_extent``) ...
CLOSED_CLEAR_SCORE = 0.7  # ... and hardly any candidate seam this clear (normalised) leaves it ...
CLOSED_MIN_PARTNER = 10  # ... to another cluster of at least this many (its own stray pieces do not count);
CLOSED_ABSORB_SHARE = 0.1  # counting: a whole image takes parts up to this share of its size, or bands along a side
CLOSED_MAX_LINKS = 0.05  # ... at most this share of its border cells (dev bags: parts 0.1-0.5, whole images 0-0.04)
SMALL_CLEAR_SCORE = 0.9  # ... for clusters under CLOSED_MIN_PIECES, seams under this count as clear (development
# bags: small photos' own borders scored 1.0 or more against everything, a part of a flat photo 0.8-0.97 across its cut)
COMPLETE_MAX_CHECKS = 64  # counting: at most this many ``completes`` tests (up to ~0.5 s each with turns) per
# count; small clusters short of a full rectangle left untested stay open (parts)


def estimate_grid(loops: np.ndarray, loop_score: np.ndarray, owner: np.ndarray, turn: np.ndarray,
                  n_fragments: int, rotations: bool, max_score: float) -> tuple[int, int]:
    """Square grid (g, g) from the extents of clusters grown, without a frame, from 2x2 loops only.

    loops: (L, 4) piece ids (a, b, c, d) sorted by ``loop_score`` (L,); owner, turn: (P,) fragment
    and quarter turn of each piece. Loops are rarely wrong, so their clusters stay inside one image
    and their extents are lower bounds of the grid; g is the largest extent reached by at least
    ``GRID_MIN_SUPPORT`` of the clusters of 4 or more fragments (at least one). Without any loop,
    g = round(sqrt(M)) (one square image).
    """
    asm = Assembler(n_fragments, None, rotations)
    merge_loops(asm, loops, loop_score, owner, turn, target=1, max_score=max_score)
    ext = []
    for cl in asm.clusters.values():
        if len(cl.pos) >= 4:
            rmin, rmax, cmin, cmax = cl.extent()
            ext.append(max(rmax - rmin + 1, cmax - cmin + 1))
    if not ext:
        g = max(1, int(round(np.sqrt(n_fragments))))
        return g, g
    ext_a = np.array(ext)
    need = max(1.0, GRID_MIN_SUPPORT * ext_a.size)
    for g in sorted(set(ext), reverse=True):
        if (ext_a >= g).sum() >= need:
            return int(g), int(g)
    return int(ext_a.max()), int(ext_a.max())


def frame_from_count(cells: int, extent: tuple[int, int]) -> tuple[int, int]:
    """Frame (rows, cols) of an image of ``cells`` pieces (dimensions not given) that holds a cluster
    of extent (h, w), the largest one assembled without a frame: the first of ``frame_candidates``."""
    return frame_candidates(cells, extent)[0]


def frame_candidates(cells: int, extent: tuple[int, int]) -> list[tuple[int, int]]:
    """Frames (rows, cols) of an image of ``cells`` pieces that hold a cluster of extent (h, w), best first.

    Candidates are the factor pairs rows * cols = cells at most ``FRAME_MAX_ASPECT`` elongated that
    hold the cluster as it lies, ordered by how close their aspect is to the cluster's (in log
    ratio), the squarer one first on ties (a small cluster says little). When no factor pair holds it (a
    prime count, missing pieces, or a cluster grown too far), the smallest frame of at least
    ``cells`` cells that holds it, alone. A turned cluster is laid so that h <= w when the caller
    allows turned frames.
    """
    h, w = max(1, int(extent[0])), max(1, int(extent[1]))
    cells = max(int(cells), h * w, 1)
    aspect = np.log(h / w)

    def key(rc: tuple[int, int]) -> tuple[float, float]:
        return abs(np.log(rc[0] / rc[1]) - aspect), abs(np.log(rc[0] / rc[1]))

    pairs = [(r, cells // r) for r in range(1, cells + 1) if cells % r == 0]
    fit = [(r, c) for r, c in pairs if r >= h and c >= w and max(r, c) <= FRAME_MAX_ASPECT * min(r, c)]
    if fit:
        return sorted(fit, key=key)
    wider = [(r, max(w, -(-cells // r))) for r in range(h, cells + 1)]
    least = min(r * c for r, c in wider)
    return [min((rc for rc in wider if rc[0] * rc[1] == least), key=key)]


def closed_clusters(members: list[list[int]], shapes: list[np.ndarray], edges: np.ndarray,
                    n_fragments: int, rotations: bool = False, small: bool = True) -> np.ndarray:
    """(G,) bool: which clusters look like whole images of a puzzle bag (one with a cluster of at least
    ``CLOSED_MIN_PIECES`` fragments), whatever the frame: at least ``CLOSED_SMALL_PIECES`` fragments, as
    many as ``CLOSED_MIN_FILL`` of the cells of their core extent (:func:`core_extent`: pieces of another
    image stuck on a side do not stretch it), with at most ``CLOSED_MAX_LINKS`` of their border cells'
    worth of fragments with a clear candidate seam (normalised score under ``CLOSED_CLEAR_SCORE``, under
    ``SMALL_CLEAR_SCORE`` for small ones) to a cluster of ``CLOSED_MIN_PARTNER`` or more fragments. A part
    of an image cut off along a seam keeps the clear seams of its cut; an image's own border matches nothing
    well (and a few of its pieces left out as strays do not count). A cluster under ``CLOSED_MIN_PIECES``
    must also be at most ``FRAME_MAX_ASPECT`` elongated and, when it is not a full rectangle, not square off
    a large cluster (:func:`completes`): a band cut off along weak seams has no clear seam leading out either.

    members: fragment ids per cluster; shapes: their (k, 2) cells; edges: (E, >= 4) rows (score,
    fragment a, turn a, fragment b, ...) of candidate seams; rotations: parts may lie turned (``completes``);
    small: False leaves clusters under ``CLOSED_MIN_PIECES`` out (a caller that keeps only large ones)."""
    size = np.array([len(mem) for mem in members], dtype=np.int64)
    out = np.zeros(len(members), dtype=bool)
    if not (size >= CLOSED_MIN_PIECES).any():  # no puzzle-sized cluster (64-px bags): nothing to test
        return out
    which = np.full(n_fragments, -1, dtype=np.int64)
    for g, mem in enumerate(members):
        which[np.asarray(mem, dtype=np.int64)] = g
    links = _links(edges, which, size, n_fragments, CLOSED_CLEAR_SCORE)
    links_small = _links(edges, which, size, n_fragments, SMALL_CLEAR_SCORE) if small else links
    checks = COMPLETE_MAX_CHECKS  # completes() calls left: past them small clusters short of a rectangle stay open
    large = np.flatnonzero(size >= CLOSED_MIN_PIECES)
    for g, (mem, sh) in enumerate(zip(members, shapes, strict=True)):
        if len(mem) < (CLOSED_SMALL_PIECES if small else CLOSED_MIN_PIECES):
            continue
        h, w = core_extent(sh)  # a few pieces stuck on its side do not count
        seams = links[g] if len(mem) >= CLOSED_MIN_PIECES else links_small[g]
        out[g] = len(mem) >= CLOSED_MIN_FILL * h * w and seams <= CLOSED_MAX_LINKS * 2 * (h + w)
        if out[g] and len(mem) < CLOSED_MIN_PIECES and max(h, w) > FRAME_MAX_ASPECT * min(h, w):
            out[g] = False  # a small one as thin as a row or two: a strip of an image, not a photo
        if out[g] and len(mem) < CLOSED_MIN_PIECES and len(mem) < np.prod(np.ptp(sh, axis=0) + 1):
            # a small one short of a full rectangle: not a band or notch that squares off a large one
            checks -= len(large)
            out[g] = checks >= 0 and not any(completes(shapes[k], sh, rotations) for k in large)
    return out


def _links(edges: np.ndarray, which: np.ndarray, size: np.ndarray, n_fragments: int, score: float) -> np.ndarray:
    """(G,) fragments of each cluster with a candidate seam under ``score`` to another cluster of at least
    ``CLOSED_MIN_PARTNER`` fragments (which: (M,) cluster of each fragment, -1 for none; size: (G,))."""
    e = np.asarray(edges)
    clear = e[e[:, 0] < score]
    fa, fb = clear[:, 1].astype(np.int64), clear[:, 3].astype(np.int64)
    ga, gb = which[fa], which[fb]
    linked = np.zeros(n_fragments, dtype=bool)
    for f, g, h in ((fa, ga, gb), (fb, gb, ga)):
        out_of = (g >= 0) & (h >= 0) & (g != h)
        out_of[out_of] = size[h[out_of]] >= CLOSED_MIN_PARTNER
        linked[f[out_of]] = True
    return np.bincount(which[linked], minlength=len(size))


def count_images(sizes: list[int], n_fragments: int, grid: tuple[int, int],
                 min_share: float = N_MIN_SHARE, shapes: list[np.ndarray] | None = None,
                 rotations: bool = False, looks: np.ndarray | None = None,
                 closed: np.ndarray | None = None) -> int:
    """Number of images: clusters holding at least ``min_share * rows * cols`` fragments, at least
    1 and at least enough frames to hold every fragment. sizes: fragments per cluster.

    With ``shapes`` (each cluster's occupied cells, (k, 2) row/col arrays, in the order of ``sizes``),
    clusters that fit together in one frame without overlap count as one image: an image split along
    weak seams comes back as parts that tile its frame (``PAIR_OVERLAP_SHARE`` of each added part's
    cells may collide: a part may hold a misplaced piece or two). Largest first, each cluster goes
    into the first frame it fits (first fit decreasing). Only when at least ``PAIR_MIN_WHOLE`` of the
    counted clusters fill a whole frame: where most images lack pieces, two parts of one image cannot
    be told from two incomplete images.

    With ``looks`` too ((G, B) colour histogram per cluster, any scale), parts are also joined by
    appearance (:func:`join_parts`), with or without whole images: parts that fit one frame are
    joined most similar palettes first, so parts of one image tend to meet before parts of two. The
    joined groups holding ``min_share`` of a frame count (at least ``WHOLE_BAG_SHARE`` when most
    clusters are whole images, and then the count is the smaller of this and the packing by shape);
    the count is never below the frames needed to hold every fragment.

    ``closed`` ((G,) bool, :func:`closed_clusters`): clusters that are whole images by themselves; two
    of them are never joined, by shape or by looks (images of a bag may differ in size, and two small
    whole images fit one frame of the largest)."""
    cells = grid[0] * grid[1]
    closed = np.zeros(len(sizes), dtype=bool) if closed is None else np.asarray(closed, dtype=bool)
    big = sorted((i for i, s in enumerate(sizes) if s >= min_share * cells or closed[i]), key=lambda i: -sizes[i])
    whole = sum(1 for i in big if sizes[i] >= cells or closed[i])
    mostly_whole = bool(big) and whole >= PAIR_MIN_WHOLE * len(big)
    if shapes is not None and looks is not None:
        joined = join_parts(sizes, shapes, looks, grid, rotations, closed=closed)
        share = max(min_share, WHOLE_BAG_SHARE) if mostly_whole else min_share
        n_looks = max(1, sum(1 for s, shut in joined if s >= share * cells or shut), int(np.ceil(n_fragments / cells)))
        n_looks = max(n_looks, _with_whole_images([s for s, shut in joined if shut], n_fragments, min_share))
        # with whole images the packing by shape alone is also valid: each rule misses parts the other joins
        return min(n_looks, count_images(sizes, n_fragments, grid, min_share, shapes, rotations, closed=closed)) \
            if mostly_whole else n_looks
    if shapes is None or not mostly_whole:  # most images incomplete: by shape, parts and images look alike
        return max(1, len(big), int(np.ceil(n_fragments / cells)))
    bins: list[tuple[int, np.ndarray, bool]] = []  # (fragments, occupied cells, holds a closed image) per frame
    for i in big:
        forgiven = int(PAIR_OVERLAP_SHARE * sizes[i])
        for j, (held, occupied, shut) in enumerate(bins):
            if held + sizes[i] > cells or (shut and closed[i]):
                continue
            placed = place_together(occupied, shapes[i], grid, rotations, forgiven)
            if placed is not None:
                bins[j] = (held + sizes[i], join_cells(occupied, placed), shut or bool(closed[i]))
                break
        else:
            bins.append((sizes[i], np.asarray(shapes[i]) - np.asarray(shapes[i]).min(axis=0), bool(closed[i])))
    return max(1, len(bins), int(np.ceil(n_fragments / cells)),
               _with_whole_images([held for held, _, shut in bins if shut], n_fragments, min_share))


def _with_whole_images(whole: list[int], n_fragments: int, min_share: float) -> int:
    """The count implied by whole images of ``whole`` fragments each (0 when there are none): one each,
    plus one more for every ``median`` fragments outside them, rounded up from ``min_share`` (images of one
    bag may differ in size: a typical whole one, not the frame, is the unit; the median of the puzzle-sized
    ones, ``CLOSED_MIN_PIECES`` or more, when there are any: a few small photos do not shrink it)."""
    if not whole:
        return 0
    unit = float(np.median([w for w in whole if w >= CLOSED_MIN_PIECES] or whole))
    return len(whole) + max(0, int(np.ceil((n_fragments - sum(whole)) / unit - min_share)))


def count_assembled(asm, grid: tuple[int, int], min_share: float, rotations: bool, hists: np.ndarray | None,
                    edges: np.ndarray) -> tuple[int, KeepApart]:
    """The image count of an Assembler's clusters under ``grid`` (:func:`count_images`, at most M) and
    the rule keeping their whole images apart in the merges that follow. hists: (M, B) colour
    histogram per fragment, summed per cluster for counting by looks (None: by shape only); edges:
    the candidate seams, which tell whole images of a puzzle bag from parts (:func:`closed_clusters`)."""
    m = len(asm.owner)
    ids = list(asm.clusters)
    found = [asm.clusters[h] for h in ids]
    looks = None if hists is None else np.stack([hists[list(c.pos)].sum(axis=0) for c in found])
    shapes = [np.array(list(c.cells)) for c in found]
    closed = closed_clusters([list(c.pos) for c in found], shapes, edges, m, rotations)
    n = min(count_images([len(c.pos) for c in found], m, grid, min_share, shapes=shapes, rotations=rotations,
                         looks=looks, closed=closed), m)
    return n, KeepApart(asm, [h for h, c in zip(ids, closed, strict=True) if c])


def may_absorb(whole: np.ndarray, part: np.ndarray, rotations: bool) -> bool:
    """Whether a group holding a closed image (cells ``whole``, (k, 2)) may take the group of cells
    ``part``: a part of at most ``CLOSED_ABSORB_SHARE`` of its size (strays, a corner), or a band that
    fills its own core extent along a side of the image's (a flat sky cut off along the horizon): the
    sides' lengths within one cell of each other (either way round under ``rotations``)."""
    if len(part) <= CLOSED_ABSORB_SHARE * len(whole):
        return True
    if len(whole) < CLOSED_MIN_PIECES and len(part) >= len(whole):  # a small photo takes no larger part
        return False
    hp, wp = core_extent(part)
    if len(part) < CLOSED_MIN_FILL * hp * wp:
        return False
    hw, ww = core_extent(whole)
    sides = [(hp, wp), (wp, hp)] if rotations else [(hp, wp)]
    return any(abs(h - hw) <= 1 or abs(w - ww) <= 1 for h, w in sides)


class KeepApart:
    """Which merges of an Assembler's clusters would join two whole images of a puzzle bag (clusters
    found closed when counting): called as ``apart(host_id, guest_id)`` by the merging steps. Each
    whole image is followed by one of its fragments, so it is found again after merges. (Keeping a
    whole image from large parts too, as :func:`may_absorb` does when counting, fixed one development
    bag and broke two: not done.)"""

    def __init__(self, asm, closed_ids: list[int]):
        self.asm = asm
        self.marks = [next(iter(asm.clusters[h].pos)) for h in closed_ids]
        self.extents = [core_extent(list(asm.clusters[h].cells)) for h in closed_ids]  # (rows, cols) when found

    def holds(self, frame: tuple[int, int], rotations: bool) -> bool:
        """Whether ``frame`` holds every whole image found (either way round under ``rotations``)."""
        return all((h <= frame[0] and w <= frame[1]) or (rotations and h <= frame[1] and w <= frame[0])
                   for h, w in self.extents)

    def __call__(self, host_id: int, guest_id: int) -> bool:
        if len(self.marks) < 2:  # called on every merge: nothing to keep apart is the common case
            return False
        sealed = {self.asm.owner[f] for f in self.marks}
        return host_id in sealed and guest_id in sealed


def join_by_looks(sizes: list[int], shapes: list[np.ndarray], looks: np.ndarray, grid: tuple[int, int],
                  rotations: bool = False, min_similarity: float = LOOK_MIN_SIMILARITY,
                  closed: np.ndarray | None = None) -> list[int]:
    """Sizes of the groups left by :func:`join_parts` (same arguments)."""
    return [s for s, _ in join_parts(sizes, shapes, looks, grid, rotations, min_similarity, closed)]


def join_parts(sizes: list[int], shapes: list[np.ndarray], looks: np.ndarray, grid: tuple[int, int],
               rotations: bool = False, min_similarity: float = LOOK_MIN_SIMILARITY,
               closed: np.ndarray | None = None) -> list[tuple[int, bool]]:
    """Sizes of the groups left after joining parts of one image by appearance: repeatedly the two
    groups whose colour histograms intersect most (at least ``min_similarity``; histograms are
    normalised to sum 1) join, when their fragments fit one frame and their shapes lie in it side by
    side (half of the smaller part's cells may collide, as in :func:`count_images`). A pair that does
    not fit is set aside (a group made by a join tries again), and a group stops trying after
    ``LOOK_MAX_MISSES`` misfits in a row, which bounds the work on bags of hundreds of parts. Parts
    under ``LOOK_MIN_PART`` fragments, or under 5 % of a frame, are left out unless ``closed``. Two groups holding a
    ``closed`` cluster (a whole image, :func:`closed_clusters`) are never joined, and such a group
    takes another only when it is small or a band along one of its sides (:func:`may_absorb`).
    sizes: (G,) fragments per cluster; shapes: their (k, 2) cells; looks: (G, B) histograms.
    Returns (fragments, holds a closed cluster) per group left."""
    cells = grid[0] * grid[1]
    shut = np.zeros(len(sizes), dtype=bool) if closed is None else np.asarray(closed, dtype=bool)
    keep = [i for i, s in enumerate(sizes) if s >= max(LOOK_MIN_PART, 0.05 * cells) or shut[i]]
    shut = shut[keep]
    size = np.array([sizes[i] for i in keep], dtype=np.int64)
    cell = [np.asarray(shapes[i]) - np.asarray(shapes[i]).min(axis=0) for i in keep]
    hist = np.asarray(looks, dtype=np.float64)[keep]
    hist = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1e-12)
    sim = np.stack([np.minimum(h, hist).sum(axis=1) for h in hist]) if len(keep) else np.zeros((0, 0))
    sim[size[:, None] + size[None, :] > cells] = -np.inf  # sizes only grow: a pair too large stays so
    sim[shut[:, None] & shut[None, :]] = -np.inf  # two whole images stay apart
    np.fill_diagonal(sim, -np.inf)
    misses = np.zeros(len(size), dtype=np.int64)
    while len(size):
        a, b = np.unravel_index(int(np.argmax(sim)), sim.shape)
        if sim[a, b] < min_similarity:
            break
        if size[a] < size[b]:
            a, b = b, a
        if shut[a] != shut[b] and not may_absorb(*((cell[a], cell[b]) if shut[a] else (cell[b], cell[a])), rotations):
            sim[a, b] = sim[b, a] = -np.inf  # a whole image does not take a large part that cannot complete it
            continue
        placed = place_together(cell[a], cell[b], grid, rotations, int(PAIR_OVERLAP_SHARE * size[b]))
        if placed is None:
            sim[a, b] = sim[b, a] = -np.inf
            misses[[a, b]] += 1
            for g in (a, b):
                if misses[g] >= LOOK_MAX_MISSES:
                    sim[g, :] = sim[:, g] = -np.inf
            continue
        cell[a] = join_cells(cell[a], placed)
        hist[a] = (hist[a] * size[a] + hist[b] * size[b]) / (size[a] + size[b])
        size[a] += size[b]
        size[b], misses[a] = 0, 0
        shut[a] = shut[a] or shut[b]
        row = np.minimum(hist[a], hist).sum(axis=1)  # the joined group is new: earlier misfits may be retried
        done = (size == 0) | (size + size[a] > cells) | (misses >= LOOK_MAX_MISSES) | (shut & shut[a])
        done[a] = True
        row[done] = -np.inf
        sim[a, :] = sim[:, a] = row
        sim[b, :] = sim[:, b] = -np.inf
    return [(int(s), bool(c)) for s, c in zip(size, shut, strict=True) if s > 0]
