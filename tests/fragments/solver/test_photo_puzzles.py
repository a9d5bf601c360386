"""The solver on real-photo jigsaw puzzles (scikit-image photos), dimensions not given: exact recovery
of small puzzles of both types, and merge operations that grow at most as pieces^1.5."""

from __future__ import annotations

import numpy as np
import pytest

from unshuffle.evaluation.puzzles import puzzle_scores
from unshuffle.fragments.solver import merging, placement
from unshuffle.fragments.solver.fragment_solver import FragmentSolver


def _puzzle(name: str, piece: int, turned: bool, seed: int, shape: tuple[int, int] | None = None):
    """Shuffled (and for Type 2 turned) pieces of a scikit-image photo and their truth (row, col, turn).
    shape: (rows, cols) to resize the photo to that many pieces first (else it is cropped)."""
    import skimage.data
    from PIL import Image

    img = getattr(skimage.data, name)()
    if shape is not None:
        img = np.asarray(Image.fromarray(img).resize((shape[1] * piece, shape[0] * piece), Image.BILINEAR))
    rows, cols = img.shape[0] // piece, img.shape[1] // piece
    p = img[:rows * piece, :cols * piece].reshape(rows, piece, cols, piece, 3).transpose(0, 2, 1, 3, 4)
    p = p.reshape(-1, piece, piece, 3)
    rng = np.random.default_rng(seed)
    turn = rng.integers(0, 4, len(p)) if turned else np.zeros(len(p), np.int64)
    p = np.stack([np.rot90(f, -int(k)) for f, k in zip(p, turn, strict=True)])  # np.rot90(p, turn) is upright
    order = rng.permutation(len(p))
    r, c = np.divmod(order, cols)
    return np.ascontiguousarray(p[order]), r, c, turn[order]


@pytest.mark.parametrize("turned", [False, True], ids=["type1", "type2"])
@pytest.mark.parametrize(("name", "piece", "pieces"), [("chelsea", 24, 216), ("coffee", 28, 294)])
def test_small_photo_puzzles_recovered_exactly(name, piece, pieces, turned):
    frags, r, c, k = _puzzle(name, piece, turned, seed=3)
    assert len(frags) == pieces
    sol = FragmentSolver(n_images=1, rotations=turned).solve(frags)
    score = puzzle_scores(np.zeros(pieces, np.int64), r, c, k, sol.group, sol.row, sol.col, sol.turn,
                          sol.shapes, turned)[0]
    assert score["direct"] == 1.0 and score["perfect"]  # strict: counted from the canvas' top-left
    truth = (int(r.max()) + 1, int(c.max()) + 1)  # the frame was found, not given (Type 2: either way round)
    assert sol.shapes == [truth] if not turned else sorted(sol.shapes[0]) == sorted(truth)


@pytest.mark.parametrize("turned", [False, True], ids=["type1", "type2"])
def test_recovery_does_not_depend_on_the_order_of_the_pieces(turned):
    """The same 216-piece puzzle in three other orders (and turns): each order gives the same picture."""
    pictures = []
    for seed in (0, 1, 2):
        frags, r, c, k = _puzzle("chelsea", 24, turned, seed=seed)
        sol = FragmentSolver(n_images=1, rotations=turned).solve(frags)
        score = puzzle_scores(np.zeros(len(frags), np.int64), r, c, k, sol.group, sol.row, sol.col, sol.turn,
                              sol.shapes, turned)[0]
        assert score["perfect"], f"order {seed}: strict D {score['direct']:.3f}"
        h, w = sol.shapes[0]
        canvas = np.zeros((h * 24, w * 24, 3), np.uint8)  # the picture as laid out, pieces turned upright
        for f in range(len(frags)):
            canvas[24 * sol.row[f]:24 * sol.row[f] + 24, 24 * sol.col[f]:24 * sol.col[f] + 24] = np.rot90(
                frags[f], sol.turn[f])
        pictures.append(canvas)
    for p in pictures[1:]:  # Type 2: the same picture up to one turn of the whole
        assert any(np.array_equal(np.rot90(p, q), pictures[0]) for q in ((0,) if not turned else range(4)))

@pytest.mark.slow
def test_merge_operations_grow_at_most_as_pieces_to_the_1_5(monkeypatch):
    """Calls to the assembler's merge planning, frame tests and merges and to the seam scorer, on clean
    Type 1 puzzles of 250, 500, 1000 and 2000 pieces (8 px pieces of one photo): the log-log slope
    of the count against the piece count stays <= 1.5 (operations, not seconds)."""
    calls = {"n": 0}

    def counted(fn):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            return fn(*args, **kwargs)
        return wrapper

    for cls, name in [(placement.Assembler, "plan"), (placement.Assembler, "_plan_translate"),
                      (placement.Assembler, "_fits"), (placement.Assembler, "apply"),
                      (merging.PairScorer, "adjacency_cost")]:
        monkeypatch.setattr(cls, name, counted(getattr(cls, name)))
    sizes, ops = [], []
    for shape in [(10, 25), (20, 25), (25, 40), (40, 50)]:
        frags = _puzzle("coffee", 8, False, seed=0, shape=shape)[0]
        calls["n"] = 0
        FragmentSolver(n_images=1, rotations=False).solve(frags)
        sizes.append(len(frags))
        ops.append(calls["n"])
    slope = np.polyfit(np.log(sizes), np.log(ops), 1)[0]
    assert slope <= 1.5, f"merge operations {ops} for {sizes} pieces: log-log slope {slope:.2f}"
