"""FragmentSolver: groups a bag of fragments by source image and puts each back in its cell and turn."""

from __future__ import annotations

import functools
import os

import numpy as np

from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.solution import Solution
from unshuffle.fragments.solver import compatibility as compat
from unshuffle.fragments.solver import finishing
from unshuffle.fragments.solver.candidates import top_candidates
from unshuffle.fragments.solver.estimate import count_images, estimate_grid
from unshuffle.fragments.solver.loops import (
    merge_loops,
    neighbour_table,
    rotated_down_table,
    square_loops,
)
from unshuffle.fragments.solver.merging import PairScorer, cluster_merge, exhaustive_merge
from unshuffle.fragments.solver.placement import Assembler, greedy_merge
from unshuffle.fragments.solver.quality import detect_damage
from unshuffle.fragments.solver.refine import dense_scores, trim_and_fill
from unshuffle.fragments.solver.turns import decide_turns
from unshuffle.fragments.solver.upright import make_upright, upright_model

PLACERS = ("greedy", "buddies")
MEASURES = ("auto", *compat.MEASURES, "learned", "hybrid")
AUTO_LEARNED_BELOW = 0.15  # measure="auto" adds the learned measure when the hand-made one closes
# fewer 2x2 loops than this per piece, and keeps whichever setting closes the most loops. A complete
# 4x4 puzzle has 9 loops per 16 pieces; on Tiny-ImageNet *train* bags the hand-made measure closes
# ~0.38 per piece when clean, ~0.20 with 20% missing (where it beats the hybrid), < 0.1 under noise
# sigma 8, JPEG q75 or eroded borders (where the hybrid wins)
DAMAGED_MEASURES = ("hybrid",)  # measure="auto" goes straight to these when ``quality.detect_damage``
# finds noise or per-fragment JPEG, whatever the hand-made measure's loop count: on JPEG'd bags it
# closes many wrong loops (on 28 of 1000 Tiny *train* JPEG bags >= 0.3 per piece, as many as clean
# bags; keeping the hand-made measure there gave ARI 0.37 against 0.80 for the hybrid)
GAP_CHOICES = (0, 1)  # gap="auto": touching neighbours or eroded borders, chosen by closed loops
LOOP_K = 3  # partners per edge searched for 2x2 loops
LOOP_MAX_SCORE = 0.99  # worst normalised edge score allowed in a merged loop
EPS_CHOICES = (1.0, 10.0, 100.0)  # eps="auto" tries these in turn for hand-made measures, stops at the
# first closing >= AUTO_LEARNED_BELOW loops per piece, else keeps the one closing the most (on Tiny
# *train* bags eps 1 alone matched or beat the full choice on clean, rotated and thinned bags, in 2/3 of the time)
AUTO_EPS_SUBSET = 1000  # ... measured on this many fragments (drawn with ``seed``) in larger bags
DENSE_MAX_PIECES = 4096  # trim-and-fill uses dense (P, P) score tables up to this many pieces
FLOAT64_MAX_PIECES = 4096  # larger bags score pairs in float32 (features are centred, see compatibility)
GRID_SEARCH_SPAN = 4  # unknown grid: at most this many sizes above the loop-cluster extent are tried
GRID_GOOD_SEAM = 0.9  # a seam this good (normalised dissimilarity) counts as evidence for a grid size
GRID_SEAM_SLACK = 0.1  # ... and the smallest within this share of M good seams of the best is kept
HINT_SEAM_MARGIN = 0.1  # a given grid is reported as conflicting with the bag when the bag's own
# estimate closes this many more good seams per fragment


class FragmentSolver:
    """Boundary-matching solver for mixed bags of square fragments (scikit-learn style estimator).

    Pipeline: every edge of every fragment gets query/key features (``compatibility.py``) so that a
    pair's dissimilarity is a dot product; the k best partners per edge are kept
    (``candidates.py``), normalised by the second best; pieces are merged into rigid clusters along
    the candidates in increasing normalised dissimilarity, never beyond the grid (``placement.py``);
    unknown N and grid are estimated from the clusters (``estimate.py``).

    Parameters:
        n_images: number of source images N, or None to estimate it.
        grid: g (int) or (rows, cols) of each source image, or None to estimate it.
        rotations: True when fragments may be turned by unknown multiples of 90 degrees, False when
            they are upright, "auto" to decide from the bag (``turns.decide_turns``: the decision and its
            evidence are in ``rotations_``, ``turn_evidence_`` and the solution's settings).
        seed: kept for reproducibility records; the algorithm is deterministic.
        measure: edge dissimilarity: "auto" (default: "hybrid" when ``damage_check`` finds noise or
            per-fragment JPEG in the bag, else "prediction", and when it closes few 2x2
            loops also "hybrid", keeping the setting that closes the most loops: no labels), "mgc"
            (Gallagher), "prediction" (per-pixel extrapolation,
            Mahalanobis), or "combined" (sum).
            "learned": the self-supervised edge pair model (``pair_model.py``); "hybrid":
            prediction plus learned, each divided by its median over random pairs
            (``compatibility.combine_features``), the learned part weighted by ``learned_weight``.
        pair_model: the EdgePairModel (or the path of its ``.npz``) for "learned"/"hybrid"; None
            loads the model shipped with unshuffle.
        learned_weight: weight of the learned part in "hybrid".
        gap: 0 when neighbouring fragments touched in the source image, 1 when their borders were
            eroded (a gap separates them), or "auto": both are tried and the one closing the most
            2x2 loops is kept. Only the learned measure uses it.
        eps: covariance regulariser of the measures (LAB units squared), or "auto": ``EPS_CHOICES``
            are tried and the one closing the most 2x2 loops of candidate edges is kept (no labels;
            small values suit clean fragments, large ones noise and JPEG); a hand-made measure
            stops at the first that closes enough loops (see ``EPS_CHOICES``).
        k: candidate partners kept per edge (as row and as column).
        placer: "greedy" = constrained cluster merging with placement (the full solver);
            "buddies" = ablation: grouping only, union of best-buddy edges then greedy union
            without geometry until N groups (rows/cols are -1).
        edge_max_score: the edge-by-edge phase merges only along edges whose normalised
            dissimilarity (d / second best) is at most this; the rest is joined cluster by cluster,
            scored over every shared boundary.
        max_seam: in the edge phase, a merge of two multi-piece clusters is refused when the mean
            normalised dissimilarity over all seams it creates exceeds this (or the edge's score).
        loops: merge closed 2x2 loops of candidate edges before single edges (Son et al.); False
            is the ablation without loop consensus.
        count_max_cost: unknown N: clusters are merged while their seams average at most this, and
            then every cluster holding at least ``count_min_share`` of the grid's cells is an image.
        count_min_share: see ``count_max_cost``.
        min_trust: trim and fill: fragments moved by a merge of quality ``1 / (1 + seam cost)``
            below this are taken out and re-inserted one by one where their seams fit best
            (``refine.py``; complete bags, i.e. M = N * rows * cols, of up to 4096 pieces); 0
            switches it off (ablation).
        chunk: rows/columns per block when scoring pairs (memory is O(chunk * M)).
        upright: when fragments are turned (``rotations_``), turn each group as a whole to the
            orientation the self-supervised upright model finds most likely (``upright.py``); the
            chosen turns and the model's scores are in the settings. False keeps the turn it grew in.
        upright_model: the UprightModel (or the path of its ``.npz``); None loads the shipped one.

    Attributes (after ``fit``):
        solution_: the Solution.
        n_images_, grid_, eps_: the N, (rows, cols) and eps used (given or estimated).

    Example:
        >>> sol = FragmentSolver(n_images=10, grid=4).solve(fragments)  # (M, s, s, 3) uint8
    """

    def __init__(self, n_images: int | None = None, grid: int | tuple[int, int] | None = None,
                 rotations: bool | str = "auto", seed: int = 0, measure: str = "auto", eps: float | str = "auto",
                 k: int = 4, placer: str = "greedy", edge_max_score: float = 0.9, max_seam: float = 1.0,
                 loops: bool = True,
                 count_max_cost: float = 3.0, count_min_share: float = 0.4, min_trust: float = 0.3,
                 chunk: int = 2048, pair_model=None, learned_weight: float = 1.0, gap: int | str = "auto",
                 damage_check: bool = True, upright: bool = True, upright_model=None):
        self.n_images = n_images
        self.grid = grid
        self.rotations = rotations
        self.seed = seed
        self.measure = measure
        self.eps = eps
        self.k = k
        self.placer = placer
        self.edge_max_score = edge_max_score
        self.loops = loops
        self.max_seam = max_seam
        self.count_max_cost = count_max_cost
        self.count_min_share = count_min_share
        self.min_trust = min_trust
        self.chunk = chunk
        self.pair_model = pair_model
        self.learned_weight = learned_weight
        self.gap = gap
        self.damage_check = damage_check
        self.upright = upright
        self.upright_model = upright_model

    # ------------------------------------------------------------------ validation
    def validate_params(self) -> None:
        """Check the constructor's parameters (ConfigError naming the parameter); ``fit`` calls it too."""
        if self.n_images is not None and not (isinstance(self.n_images, (int, np.integer)) and self.n_images >= 1):
            raise ConfigError(f"n_images must be None or an int >= 1, got {self.n_images!r}")
        if self.measure not in MEASURES:
            raise ConfigError(f"measure must be one of {MEASURES}, got {self.measure!r}")
        if self.rotations not in (True, False, "auto"):
            raise ConfigError(f"rotations must be True, False or 'auto', got {self.rotations!r}")
        if self.gap != "auto" and self.gap not in GAP_CHOICES:
            raise ConfigError(f"gap must be 'auto', 0 or 1, got {self.gap!r}")
        if not (isinstance(self.learned_weight, (int, float)) and self.learned_weight >= 0):
            raise ConfigError(f"learned_weight must be a number >= 0, got {self.learned_weight!r}")
        if self.placer not in PLACERS:
            raise ConfigError(f"placer must be one of {PLACERS}, got {self.placer!r}")
        if not (isinstance(self.k, (int, np.integer)) and self.k >= 1):
            raise ConfigError(f"k must be an int >= 1, got {self.k!r}")
        if self.eps != "auto" and not (isinstance(self.eps, (int, float)) and self.eps > 0):
            raise ConfigError(f"eps must be 'auto' or a number > 0, got {self.eps!r}")
        if self.upright not in (True, False):
            raise ConfigError(f"upright must be True or False, got {self.upright!r}")
        if not (isinstance(self.chunk, (int, np.integer)) and self.chunk >= 1):
            raise ConfigError(f"chunk must be an int >= 1, got {self.chunk!r}")
        self._grid_param()

    def _validate(self, fragments: np.ndarray) -> None:
        if not isinstance(fragments, np.ndarray) or fragments.ndim != 4 or fragments.shape[-1] != 3:
            shape = getattr(fragments, "shape", type(fragments).__name__)
            raise ConfigError(f"fragments must be an (M, s, s, 3) uint8 array, got {shape}")
        if fragments.dtype != np.uint8:
            raise ConfigError(f"fragments must be uint8, got dtype {fragments.dtype}")
        if fragments.shape[1] != fragments.shape[2]:
            raise ConfigError(f"fragments must be square, got {fragments.shape[1]}x{fragments.shape[2]}")
        if fragments.shape[1] < 2:
            raise ConfigError(f"fragment size must be >= 2 px to have an edge gradient, got {fragments.shape[1]}")
        if fragments.shape[0] < 2:
            raise ConfigError(f"a bag needs at least 2 fragments to group or place, got {fragments.shape[0]}")
        self.validate_params()
        if self.n_images is not None and self.n_images > fragments.shape[0]:
            raise ConfigError(f"n_images={self.n_images} but the bag holds only {fragments.shape[0]} fragments")

    def _grid_param(self) -> tuple[int, int] | None:
        g = self.grid
        if g is None:
            return None
        if isinstance(g, (int, np.integer)):
            g = (int(g), int(g))
        if (not isinstance(g, (tuple, list)) or len(g) != 2
                or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in g)):
            raise ConfigError(f"grid must be None, an int >= 1 or (rows, cols), got {self.grid!r}")
        return int(g[0]), int(g[1])

    # ------------------------------------------------------------------ public API
    def fit(self, fragments: np.ndarray) -> FragmentSolver:
        """Solve the bag. fragments: (M, s, s, 3) uint8 in any order. Sets ``solution_``; returns self."""
        self._validate(fragments)
        m = fragments.shape[0]
        cache: dict = {}
        self.rotations_, self.turn_evidence_ = self.rotations, None
        if self.rotations == "auto":
            self.rotations_, self.turn_evidence_ = decide_turns(self, fragments, cache)
        pieces, owner, turn_of = self._pieces(fragments)
        rels = [compat.RIGHT] if self.rotations_ else [compat.RIGHT, compat.DOWN]
        lab = cache.pop("lab") if "lab" in cache else compat.rgb_to_lab(pieces)
        best = None
        for options, enough in self._stages(fragments):
            best = self._best_option(options, lab, pieces, rels, owner, cache, best)
            if best[0] >= enough * len(owner):
                break  # sharp enough: the later stages (the learned measure) are skipped
        self.n_loops_, (self.measure_, self.eps_, self.gap_), feats, cands, loops, loop_score = best
        edges = self._edge_table(cands, owner, turn_of, rels)
        scorer = PairScorer(feats, [(c.row_second, c.col_second) for c in cands], self.rotations_)
        target = 1 if self.n_images is None else min(int(self.n_images), m)
        grid = self._grid_param()
        self.warnings_: list[str] = []
        if grid is None:
            grid, asm = self._choose_grid(loops, loop_score, edges, scorer, owner, turn_of, m, target)
        else:
            asm = self._confident(grid, loops, loop_score, edges, scorer, owner, turn_of, m, target)
            own, own_asm = self._choose_grid(loops, loop_score, edges, scorer, owner, turn_of, m, target)
            hint, mine = self._good_seams(asm, scorer), self._good_seams(own_asm, scorer)
            if own != grid and mine - hint > HINT_SEAM_MARGIN * m:
                self._warn(f"grid={self.grid!r}: its seams look wrong ({hint} good seams against {mine} for the "
                           f"bag's own estimate {own[0]}x{own[1]}; margin {HINT_SEAM_MARGIN} per fragment)")
        cells = grid[0] * grid[1]
        if self.n_images is not None and self.grid is not None and m > self.n_images * cells:  # both hints
            self._warn(f"n_images={self.n_images}: {self.n_images} images of {grid[0]}x{grid[1]} fragments hold at "
                       f"most {self.n_images * cells} fragments, but the bag has {m}")
        if self.placer == "buddies":
            group = finishing.union_groups(edges, m, self.n_images, self.edge_max_score, grid)
            n_img = int(group.max()) + 1
            sol = Solution.grouping_only(group, self._settings(grid, n_img))
            sol.confidence = np.zeros(m)
        else:
            if self.n_images is None:  # count the images among the confident clusters
                n_img = min(count_images([len(c.pos) for c in asm.clusters.values()], m, grid,
                                         self.count_min_share), m)
            else:
                n_img = target
            cluster_merge(asm, edges, scorer, target=n_img)
            exhaustive_merge(asm, scorer, target=n_img)
            if asm.n_clusters > n_img:  # pieces cut off by missing neighbours: lift the frame
                cluster_merge(asm, edges, scorer, target=n_img, frame=False, room=cells)
            finishing.force_merge(asm, n_img, finishing.colour_stats(lab, owner), cells)
            # refill only complete bags: with fragments missing, free cells are legitimate holes
            if self.min_trust > 0 and len(owner) <= DENSE_MAX_PIECES and m >= n_img * cells:
                tables = [dense_scores(q, key, c.row_second, c.col_second, owner)
                          for (q, key), c in zip(feats, cands, strict=True)]
                trim_and_fill(asm, tables, self.rotations_, self.min_trust)
            group, row, col, turn, shapes = asm.layout()
            conf = finishing.confidence(scorer, asm)
            sol = Solution(group, row, col, turn, conf, shapes, self._settings(grid, n_img))
            if self.rotations_ and self.upright:  # each group grew in the turn of its first pieces
                sol, info = make_upright(fragments, sol, upright_model(self.upright_model))
                sol.settings.update(info)
        self.n_images_, self.grid_, self.solution_ = n_img, grid, sol
        return self

    def solve(self, fragments: np.ndarray) -> Solution:
        """Solve the bag and return the Solution (see ``fit``)."""
        return self.fit(fragments).solution_

    # ------------------------------------------------------------------ internals
    def _settings(self, grid: tuple[int, int], n_img: int) -> dict:
        return {"method": "fragment-solver", "measure": self.measure, "measure_used": self.measure_,
                "eps": self.eps, "eps_used": self.eps_, "k": self.k, "gap": self.gap, "gap_used": self.gap_,
                "damage_check": self.damage_check, "damage": self.damage_, "learned_weight": self.learned_weight,
                "pair_model": self._model_name(), "placer": self.placer, "edge_max_score": self.edge_max_score,
                "loops": self.loops, "max_seam": self.max_seam,
                "count_max_cost": self.count_max_cost, "count_min_share": self.count_min_share,
                "min_trust": self.min_trust, "rotations": self.rotations, "rotations_used": self.rotations_,
                "turn_evidence": self.turn_evidence_, "seed": self.seed, "upright": self.upright,
                "upright_model": ("shipped" if self.upright_model is None else str(self.upright_model)
                                  if isinstance(self.upright_model, (str, os.PathLike)) else "given"),
                "n_images": n_img, "n_images_given": self.n_images is not None,
                "grid": list(grid), "grid_given": self.grid is not None, "warnings": list(self.warnings_)}

    def _warn(self, message: str) -> None:
        """A given hint conflicts with the bag: warn (UserWarning) and record it in the settings."""
        import warnings

        self.warnings_.append(message)
        warnings.warn(message, UserWarning, stacklevel=3)

    @staticmethod
    def _good_seams(asm: Assembler, scorer: PairScorer) -> int:
        """How many placed seams of ``asm`` are good (normalised dissimilarity <= GRID_GOOD_SEAM)."""
        return int((scorer.placed_scores(finishing.seams(asm)) <= GRID_GOOD_SEAM).sum())

    def _pieces(self, fragments: np.ndarray, rotations: bool | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pieces (P, s, s, 3), their fragment (P,) and turn (P,): the 4 turns of each under rotation."""
        m = fragments.shape[0]
        if not (self.rotations_ if rotations is None else rotations):
            return fragments, np.arange(m), np.zeros(m, np.int64)
        pieces = np.stack([np.rot90(fragments, k, axes=(1, 2)) for k in range(4)], axis=1)
        return pieces.reshape(4 * m, *fragments.shape[1:]), np.repeat(np.arange(m), 4), np.tile(np.arange(4), m)

    def _confident(self, grid, loops, loop_score, edges, scorer, owner, turn_of, m, target) -> Assembler:
        """Clusters from the confident phases: loops, checked single edges, and (when N is unknown)
        whole-cluster merges whose seams average at most ``max_seam``."""
        asm = Assembler(m, grid, self.rotations_)
        if self.loops:
            merge_loops(asm, loops, loop_score, owner, turn_of, target, LOOP_MAX_SCORE)
        greedy_merge(asm, edges, target=target, max_score=self.edge_max_score,
                     check=scorer.adjacency_cost, max_seam=self.max_seam)
        if self.n_images is None:
            cluster_merge(asm, edges, scorer, target=1, max_cost=self.count_max_cost)
        return asm

    def _choose_grid(self, loops, loop_score, edges, scorer, owner, turn_of, m, target):
        """Unknown grid: try every g between the extent of loop-only clusters and that of clusters
        grown without a frame, and keep the smallest g that closes (nearly) the most good seams
        (a frame too small cuts images, one too large closes no more good seams)."""
        lo = estimate_grid(loops, loop_score, owner, turn_of, m, self.rotations_, LOOP_MAX_SCORE)[0]
        free = Assembler(m, None, self.rotations_)
        greedy_merge(free, edges, target=1, max_score=self.edge_max_score, check=scorer.adjacency_cost,
                     max_seam=self.max_seam)
        hi = max(max(c.box[1] - c.box[0], c.box[3] - c.box[2]) + 1 for c in free.clusters.values())
        hi = min(max(hi, lo), lo + GRID_SEARCH_SPAN)
        tried = []
        for g in range(max(lo, 1), hi + 1):
            asm = self._confident((g, g), loops, loop_score, edges, scorer, owner, turn_of, m, target)
            tried.append((self._good_seams(asm, scorer), g, asm))
        most = max(t[0] for t in tried)
        for good, g, asm in tried:
            if good >= most - GRID_SEAM_SLACK * m:
                return (g, g), asm
        raise AssertionError("unreachable: the best grid always qualifies")

    def _stages(self, fragments: np.ndarray) -> list[tuple[list, float]]:
        """(options, loops per piece that stop before the next stage) tried in turn; sets ``damage_``."""
        self.damage_ = detect_damage(fragments) if self.measure == "auto" and self.damage_check else None
        if self.measure != "auto":
            return [(self._options(self.measure), np.inf)]
        if self.damage_ is not None and (self.damage_["noise"] or self.damage_["jpeg"]):
            return [([opt for m in DAMAGED_MEASURES for opt in self._options(m)], np.inf)]
        return [(self._options("prediction"), AUTO_LEARNED_BELOW), (self._options("hybrid"), np.inf)]

    def _options(self, measure: str) -> list[tuple[str, float | None, int | None]]:
        """The (measure, eps, gap) settings to try: eps matters to hand-made measures, gap to learned ones."""
        hand = measure != "learned"
        learned = measure in ("learned", "hybrid")
        eps = (EPS_CHOICES if self.eps == "auto" else (float(self.eps),)) if hand else (None,)
        gaps = (GAP_CHOICES if self.gap == "auto" else (int(self.gap),)) if learned else (None,)
        return [(measure, e, g) for e in eps for g in gaps]

    def _best_option(self, options, lab, pieces, rels, owner, cache: dict, best=None):
        """The setting closing the most 2x2 loops (hand-made eps: the first closing enough, see
        EPS_CHOICES), as (loops, option, feats, cands, loops, loop_score);
        ``best`` (from an earlier stage) is kept unless beaten. Large bags choose on a seeded subset."""
        m = int(owner.max()) + 1
        hand_only = all(opt[2] is None for opt in options)  # eps in increasing order, no learned part
        if len(options) > 1 and m > AUTO_EPS_SUBSET:
            pick = np.random.default_rng(self.seed).choice(m, AUTO_EPS_SUBSET, replace=False)
            sub = np.isin(owner, pick)
            counts = []
            for opt in options:
                counts.append(self._loops(self._candidates(self._features(lab[sub], pieces[sub], rels, opt, {}),
                                                           owner[sub]), owner[sub])[0].shape[0])
                if hand_only and counts[-1] >= AUTO_LEARNED_BELOW * sub.sum():
                    break  # sharp enough: the larger regularisers are not tried
            options = [options[int(np.argmax(counts))]]
        for opt in options:
            if ("result", opt) in cache:  # computed by the turn decision
                feats, cands, (loops, loop_score) = cache["result", opt]
            else:
                feats = self._features(lab, pieces, rels, opt, cache)
                cands = self._candidates(feats, owner)
                loops, loop_score = self._loops(cands, owner)
            if best is None or loops.shape[0] > best[0]:  # more closed loops = a sharper measure
                best = (loops.shape[0], opt, feats, cands, loops, loop_score)
            if hand_only and best[0] >= AUTO_LEARNED_BELOW * len(owner):
                break  # sharp enough: the larger regularisers are not tried
        return best

    def _model(self):
        """The EdgePairModel in use (loaded once per process for the shipped default)."""
        from unshuffle.fragments.learned.pair_model import EdgePairModel

        if isinstance(self.pair_model, EdgePairModel):
            return self.pair_model
        return _load_model(None if self.pair_model is None else str(self.pair_model))

    def _model_name(self) -> str | None:
        if self.measure_ not in ("learned", "hybrid"):
            return None
        if self.pair_model is None:
            return "shipped"
        return str(self.pair_model) if isinstance(self.pair_model, (str, os.PathLike)) else "given"

    def _features(self, lab, pieces, rels, option, cache: dict) -> list[tuple[np.ndarray, np.ndarray]]:
        """Query/key features of each relation for one (measure, eps, gap) setting. lab: (P, s, s, 3)
        float32; pieces: (P, s, s, 3) uint8; ``cache`` keeps each relation's hand-made features per
        (measure, eps) and learned features per gap, so "auto" computes none of them twice."""
        measure, eps, gap = option
        feats = []
        for rel in rels:
            parts = []
            if measure != "learned":
                hand = "prediction" if measure == "hybrid" else measure
                if (hand, eps, rel) not in cache:
                    view = lab if rel == compat.RIGHT else lab.transpose(0, 2, 1, 3)
                    cache[hand, eps, rel] = compat.edge_features(view, hand, eps)
                parts.append((*cache[hand, eps, rel], 1.0))
            if measure in ("learned", "hybrid"):
                if ("learned", gap, rel) not in cache:
                    from unshuffle.fragments.learned.pair_model import learned_features

                    view = pieces if rel == compat.RIGHT else pieces.transpose(0, 2, 1, 3)
                    cache["learned", gap, rel] = learned_features(self._model(), view, gap)
                weight = self.learned_weight if measure == "hybrid" else 1.0
                parts.append((*cache["learned", gap, rel], weight))
            feats.append(parts[0][:2] if len(parts) == 1 else compat.combine_features(parts, self.seed))
        return feats

    def _candidates(self, feats, owner: np.ndarray) -> list:
        """Top-k candidates of each relation from its query/key features."""
        dtype = np.float64 if len(owner) <= FLOAT64_MAX_PIECES else np.float32
        return [top_candidates(q, key, owner, k=self.k, chunk=self.chunk, dtype=dtype) for q, key in feats]

    def _loops(self, cands, owner: np.ndarray, rotations: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Closed 2x2 loops of candidate edges (L, 4) and their worst edge score (L,), best first."""
        rotations = self.rotations_ if rotations is None else rotations
        p = owner.shape[0]
        right = neighbour_table(cands[0], p, LOOP_K, LOOP_MAX_SCORE)
        down = rotated_down_table(right) if rotations else neighbour_table(cands[1], p, LOOP_K, LOOP_MAX_SCORE)
        return square_loops(right, down, owner)

    @staticmethod
    def _edge_table(cands, owner, turn_of, rels) -> np.ndarray:
        """(E, 6) float64 rows (score, fa, ka, fb, kb, rel) sorted by score, ties by position."""
        rows = [np.stack([c.score, owner[c.i], turn_of[c.i], owner[c.j], turn_of[c.j],
                          np.full(c.i.shape, rel)], axis=1) for c, rel in zip(cands, rels, strict=True)]
        table = np.concatenate(rows, axis=0) if rows else np.zeros((0, 6))
        order = np.argsort(table[:, 0], kind="stable")
        return table[order]


@functools.lru_cache(maxsize=4)
def _load_model(path: str | None):
    from unshuffle.fragments.learned.pair_model import load_pair_model

    return load_pair_model(path)


__all__ = ["FragmentSolver", "MEASURES", "PLACERS"]
