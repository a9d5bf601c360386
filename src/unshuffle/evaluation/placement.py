"""Scoring of fragment solutions, defined once: grouping, placement, perfect images, neighbours, confidence.

Definitions (higher is better for every metric; placement metrics are nan for grouping-only solutions):

- ``ari``, ``nmi``, ``purity``: the grouping against the true source image of each present fragment.
- ``placement_accuracy``: share of fragments correctly placed. Each group gets one transform: a source
  image it is anchored on, one shift, and (only when ``rotations``) one global quarter turn ``q``; the
  transform is the one making the most fragments of the group correct. A fragment ``j`` in cell
  ``(r', c')`` with turn ``t'`` is correct when the fragment truly at the transform's pre-image of
  ``(r', c')`` in the anchor image, ``i``, is present and ``np.rot90(given_j, k=t' - q)`` is
  pixel-identical to ``i`` upright (so ``j == i`` with the right turn, or any pixel-identical copy).
  A split image can be placed correctly in each part; merging is caught by the other metrics.
- ``upright_accuracy``: share of fragments whose displayed content ``np.rot90(given, k=t')`` equals
  their own upright content (absolute orientation, not up to the group's turn).
- ``perfect_rate``: share of present source images whose every present fragment lies in one group,
  anchored on that image, and is correctly placed.
- ``neighbour_accuracy``: share of true adjacent pairs (``j`` right of or below ``i`` in the same
  source) that end up in one group, with the same group turn ``q = (t' - t) mod 4`` (0 when orientation
  is known), and ``j`` on the matching side of ``i`` (the side turned by ``q``). Exact identity only.
- ``confidence_auroc``: ROC AUC of the confidences for ``correct placement``; nan with one class or
  non-finite confidences.
- ``exact_n``: 1.0 when the number of groups equals the number of source images present.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

import numpy as np

from unshuffle.errors import ConfigError
from unshuffle.evaluation.metrics import grouping_scores


class TruthRecord(Protocol):
    """Where each fragment of a bag came from (a ``FragmentBag`` is one).

    fragments: (M, s, s, 3) uint8 as given to the method; source, row, col: (M,) int64 true image and
    cell; turn: (M,) int64, the stored fragment is ``np.rot90(upright, k=turn)``; grid: (rows, cols).
    """

    fragments: np.ndarray
    source: np.ndarray
    row: np.ndarray
    col: np.ndarray
    turn: np.ndarray
    grid: tuple[int, int]


class PlacementRecord(Protocol):
    """A method's answer (a ``Solution`` is one): group, row, col, turn, confidence (M,) arrays and
    one (rows, cols) canvas shape per group (empty when it only groups)."""

    group: np.ndarray
    row: np.ndarray
    col: np.ndarray
    turn: np.ndarray
    confidence: np.ndarray
    shapes: list[tuple[int, int]]

    @property
    def n_groups(self) -> int: ...

    @property
    def placed(self) -> bool: ...

    def validate(self, n_fragments: int) -> None: ...


def _turned(fragments: np.ndarray, k: np.ndarray) -> np.ndarray:
    """out[i] = np.rot90(fragments[i], k=k[i]) for (M, s, s, C) fragments and (M,) quarter turns."""
    k = np.asarray(k, dtype=np.int64) % 4
    return np.stack([np.rot90(f, k=int(q)) for f, q in zip(fragments, k, strict=True)]) if len(k) else fragments


METRICS = ("ari", "nmi", "purity", "placement_accuracy", "perfect_rate", "neighbour_accuracy",
           "upright_accuracy", "confidence_auroc", "exact_n", "n_groups", "n_images", "n_fragments")


def rotate_cells(r: np.ndarray, c: np.ndarray, q: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Cells (r, c) after turning the whole image ``q`` quarter turns CCW, up to a shift.

    ``np.rot90`` sends cell (r, c) of a grid with C columns to (C-1-c, r); the constants are left to
    the shift. r, c: (K,) int64; q: int or (K,) int. Returns two (K,) int64 arrays.
    """
    r, c = np.asarray(r, np.int64), np.asarray(c, np.int64)
    q = np.broadcast_to(np.asarray(q, np.int64) % 4, r.shape)
    rr = np.choose(q, [r, -c, -r, c])
    cc = np.choose(q, [c, r, -c, -r])
    return rr, cc


def _content_classes(bag: TruthRecord, turn_pred: np.ndarray, qs: tuple[int, ...]):
    """Class id of each fragment's upright content, and of each fragment shown turned by t' - q."""
    m = len(bag)
    upright = _turned(bag.fragments, bag.turn).reshape(m, -1)
    ids: dict[bytes, int] = {}
    up_class = np.array([ids.setdefault(r.tobytes(), len(ids)) for r in upright], np.int64)
    shown = np.full((m, len(qs)), -1, np.int64)
    for k, q in enumerate(qs):
        turned = _turned(bag.fragments, turn_pred - q).reshape(m, -1)
        shown[:, k] = [ids.get(r.tobytes(), -1) for r in turned]
    return up_class, shown


def _placement(bag: TruthRecord, sol: PlacementRecord, rotations: bool):
    """Per-fragment correctness and the chosen (source, q, dr, dc) per group."""
    qs = (0, 1, 2, 3) if rotations else (0,)
    up_class, shown = _content_classes(bag, sol.turn, qs)
    members = defaultdict(list)
    for i, c in enumerate(up_class):
        members[int(c)].append(i)
    # candidate (j, i, q): j shown turned by t'_j - q looks exactly like i upright
    rows = []
    for j in range(len(bag)):
        for k, q in enumerate(qs):
            if shown[j, k] >= 0:
                rows.extend((j, i, q) for i in members[int(shown[j, k])])
    cand = np.array(rows, dtype=np.int64).reshape(-1, 3)
    j, i, q = cand[:, 0], cand[:, 1], cand[:, 2]
    rr, cc = rotate_cells(bag.row[i], bag.col[i], q)
    keys = np.stack([sol.group[j], bag.source[i], q, sol.row[j] - rr, sol.col[j] - cc], axis=1)
    correct = np.zeros(len(bag), bool)
    anchor = np.full(sol.n_groups, -1, np.int64)
    if len(keys):
        uniq, inv, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
        # best key per group: most support, ties to the smallest key (np.unique sorts keys)
        best = {}
        for u in np.lexsort((np.arange(len(uniq)), -counts)):
            best.setdefault(int(uniq[u, 0]), u)
        chosen = np.zeros(len(uniq), bool)
        chosen[list(best.values())] = True
        correct[j[chosen[inv]]] = True
        for g, u in best.items():
            anchor[g] = uniq[u, 1]
    upright = shown[:, 0] == up_class  # qs[0] == 0: the content as displayed
    return correct, anchor, upright


def _neighbours(bag: TruthRecord, sol: PlacementRecord, rotations: bool) -> float:
    gr, gc = bag.grid
    pos = np.full((int(bag.source.max()) + 1, gr, gc), -1, np.int64)
    pos[bag.source, bag.row, bag.col] = np.arange(len(bag))
    q_of = (sol.turn - bag.turn) % 4
    hits = total = 0
    for (dr, dc), a, b in (((0, 1), pos[:, :, :-1], pos[:, :, 1:]), ((1, 0), pos[:, :-1, :], pos[:, 1:, :])):
        ok = (a >= 0) & (b >= 0)
        a, b = a[ok], b[ok]
        total += a.size
        q = q_of[a]
        er, ec = rotate_cells(np.full(a.size, dr), np.full(a.size, dc), q)
        same = (sol.group[a] == sol.group[b]) & (q_of[b] == q) & ((q == 0) | rotations)
        hits += int((same & (sol.row[b] - sol.row[a] == er) & (sol.col[b] - sol.col[a] == ec)).sum())
    return hits / total if total else float("nan")


def score_solution(bag: TruthRecord, solution: PlacementRecord, rotations: bool = False) -> dict[str, float]:
    """Every metric of the module docstring for one bag and one solution (dict of floats).

    bag: the (damaged) bag the method was given, with its provenance; ``bag.turn`` is the truth.
    rotations: orientation was unknown, so each group may be turned by one global quarter turn.
    """
    m = len(bag)
    if m == 0:
        raise ConfigError("cannot score an empty bag")
    try:
        solution.validate(m)
    except ValueError as e:
        raise ConfigError(f"solution does not fit the bag of {m} fragments: {e}") from None
    present = np.unique(bag.source)
    out: dict[str, float] = {"n_fragments": float(m), "n_images": float(len(present)),
                             "n_groups": float(solution.n_groups),
                             "exact_n": float(solution.n_groups == len(present))}
    out.update(grouping_scores(bag.source, solution.group))
    nan = float("nan")
    if not solution.placed:
        out.update(placement_accuracy=nan, perfect_rate=nan, neighbour_accuracy=nan,
                   upright_accuracy=nan, confidence_auroc=nan)
        return out
    correct, anchor, upright = _placement(bag, solution, rotations)
    perfect = []
    for s in present:
        mine = bag.source == s
        groups = np.unique(solution.group[mine])
        perfect.append(len(groups) == 1 and anchor[groups[0]] == s and bool(correct[mine].all()))
    out["placement_accuracy"] = float(correct.mean())
    out["perfect_rate"] = float(np.mean(perfect))
    out["neighbour_accuracy"] = _neighbours(bag, solution, rotations)
    out["upright_accuracy"] = float(upright.mean())
    out["confidence_auroc"] = confidence_auroc(correct, solution.confidence)
    return out


def image_upright(bag: TruthRecord, solution: PlacementRecord, rotations: bool = True) -> dict[str, np.ndarray]:
    """Per present source image (sorted ids): whether it came out upright and whether it was assembled.

    An image's group is the one holding most of its fragments; the image is ``upright`` when more than
    half of its fragments in that group display upright content (``upright_accuracy``'s test), and
    ``assembled`` when all its fragments lie in that group, anchored on it and correctly placed (as
    ``perfect_rate``). Returns {"source", "upright", "assembled"}: (S,) arrays (int64, bool, bool).
    """
    solution.validate(len(bag))
    if not solution.placed:
        raise ConfigError("image_upright needs a placed solution")
    correct, anchor, upright = _placement(bag, solution, rotations)
    present = np.unique(bag.source)
    up, done = np.zeros(len(present), bool), np.zeros(len(present), bool)
    for k, s in enumerate(present):
        mine = np.flatnonzero(bag.source == s)
        groups, counts = np.unique(solution.group[mine], return_counts=True)
        g = groups[np.argmax(counts)]
        main = mine[solution.group[mine] == g]
        up[k] = upright[main].mean() > 0.5
        done[k] = len(groups) == 1 and anchor[g] == s and bool(correct[mine].all())
    return {"source": present, "upright": up, "assembled": done}


def confidence_auroc(correct: np.ndarray, confidence: np.ndarray) -> float:
    """ROC AUC of ``confidence`` (M,) float for ``correct`` (M,) bool; nan with one class or non-finite values."""
    from sklearn.metrics import roc_auc_score

    correct = np.asarray(correct, bool)
    confidence = np.asarray(confidence, np.float64)
    if correct.all() or not correct.any() or not np.isfinite(confidence).all():
        return float("nan")
    return float(roc_auc_score(correct, confidence))


def aggregate_scores(per_sample: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per metric over samples, nan values ignored: {"mean", "std", "median", "n"} (n = non-nan count).

    A metric that is nan in every sample gets mean/std/median nan and n 0.
    """
    if not per_sample:
        raise ConfigError("no samples to aggregate")
    out = {}
    for k in per_sample[0]:
        v = np.array([s[k] for s in per_sample], np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            out[k] = {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v)),
                      "n": int(v.size)}
        else:
            out[k] = {"mean": float("nan"), "std": float("nan"), "median": float("nan"), "n": 0}
    return out
