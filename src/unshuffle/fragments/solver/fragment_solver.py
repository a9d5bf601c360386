"""FragmentSolver: groups a bag of fragments by source image and puts each back in its cell and turn."""

from __future__ import annotations

import os

import numpy as np

from unshuffle.errors import ConfigError
from unshuffle.fragments.bags.solution import Solution
from unshuffle.fragments.solver import compatibility as compat
from unshuffle.fragments.solver import finishing
from unshuffle.fragments.solver.blocks import move_blocks
from unshuffle.fragments.solver.estimate import KeepApart, count_assembled
from unshuffle.fragments.solver.frames import FrameSearch, good_seams, rejected_frames
from unshuffle.fragments.solver.grow import MAX_PIECES as GROW_MAX_PIECES
from unshuffle.fragments.solver.grow import grow_puzzles
from unshuffle.fragments.solver.grow import piece_tables as grow_tables
from unshuffle.fragments.solver.measures import (  # noqa: F401  (EPS_CHOICES etc. are part of the API)
    AUTO_EPS_SUBSET,
    AUTO_LEARNED_BELOW,
    DAMAGED_MEASURES,
    EPS_CHOICES,
    FLOAT64_MAX_PIECES,
    GAP_CHOICES,
    LOOP_K,
    LOOP_MAX_SCORE,
    MEASURES,
    EdgeMeasures,
)
from unshuffle.fragments.solver.merging import PairScorer, cluster_merge, exhaustive_merge
from unshuffle.fragments.solver.placement import Assembler
from unshuffle.fragments.solver.refine import dense_scores, trim_and_fill
from unshuffle.fragments.solver.regrow import regrow_groups, regrow_summary
from unshuffle.fragments.solver.relocate import relocate_misfits
from unshuffle.fragments.solver.swaps import swap_groups
from unshuffle.fragments.solver.turns import decide_turns
from unshuffle.fragments.solver.upright import make_upright, upright_model
from unshuffle.fragments.solver.window import WINDOW_COUNT_SLACK, window_trim

FILL_CAPS = True  # N estimated: trim and fill gives a large group back at most 3 % more pieces than it held
BLOCKS = True  # N estimated, "best" placer: blocks glued to another image's group move (``blocks.py``)
SWAPS = True  # "best" placer: pieces exchanged inside each final layout while the seam fit rises (``swaps.py``)
RELOCATE = True  # N estimated, "best" placer: misfit pieces move to holes of other groups (``relocate.py``)
PLACERS = ("auto", "greedy", "buddies", "grow", "best")
AUTO_BEST_MIN_CELLS = 100  # placer="auto": "best" for images of at least this many pieces (puzzles), else "greedy"
DENSE_MAX_PIECES = 4608  # trim-and-fill uses dense (P, P) score tables up to this many pieces (4,200: McGill at 10 px)
FREE_MIN_PIECES = 100  # N not given: a frame-free cluster this large also proposes the frame (its square)
FREE_WIDEN = 1.25  # ... and a square this much wider
HINT_SEAM_MARGIN = 0.1  # a given grid is reported as conflicting with the bag when the bag's own
# estimate closes this many more good seams per fragment
HINT_MIN_FILL = 0.25  # ... or when the whole bag fills less than this share of one image of that grid


class FragmentSolver(EdgeMeasures):
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
        placer: "auto" (default) = "best" when the frame kept (given or estimated) holds at least
            ``AUTO_BEST_MIN_CELLS`` pieces, as in puzzles, else "greedy" (small images such as 4x4
            grids, where greedy is tuned and fast); recorded as ``placer_chosen``.
            "greedy" = constrained cluster merging with placement (the full solver); "buddies" =
            ablation: grouping only (best-buddy unions until N groups, rows/cols -1); "grow" = Paikin &
            Tal's one-piece-at-a-time placer under the piece count's frames (``grow.py``); "best" =
            greedy, each image regrown by grow, better one kept, polished (``polish.py``), wrap fixed (``wrap.py``);
            with N estimated, also grown under frames a little larger than its count and, after,
            parts cut off by a bad seam moved to the group their pieces pair with (``blocks.py``; not for
            turned fragments) and misfit pieces moved to other groups' holes (``relocate.py``); last,
            pieces exchanged inside each layout while its summed seam fit rises (``swaps.py``).
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
                 k: int = 4, placer: str = "auto", edge_max_score: float = 0.9, max_seam: float = 1.0,
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
        self.placer_ = self.placer
        frames = FrameSearch(self, loops, loop_score, edges, scorer, owner, turn_of, m, target)
        if self.placer == "grow" and self.n_images is not None:  # no frame from the merges needed
            tries = [(grid, None)]
        elif grid is None and self.n_images is not None:  # N given: a frame of M / N pieces
            shape = frames.frame_from_count(target)[0]
            tries = [(shape, frames.confident(shape))]
        elif grid is None:  # N not given: the loops' square, the square of the largest free cluster and a wider one
            tries = [frames.choose_grid()]
            big = max(frames.free_clusters().clusters.values(), key=lambda c: len(c.pos))
            side = max(big.box[1] - big.box[0], big.box[3] - big.box[2]) + 1
            if side > tries[0][0][0] and len(big.pos) >= FREE_MIN_PIECES:
                tries.append(((side, side), frames.confident((side, side))))
                wide = int(np.ceil(FREE_WIDEN * side))  # the largest part is often less than a whole image
                if wide > side:
                    tries.append(((wide, wide), frames.confident((wide, wide))))
        else:
            tries = [(grid, frames.confident(grid))]
            own, own_asm = frames.choose_grid()
            hint, mine = good_seams(tries[0][1], scorer), good_seams(own_asm, scorer)
            if own != grid and mine - hint > HINT_SEAM_MARGIN * m:
                self._warn(f"grid={self.grid!r}: its seams look wrong ({hint} good seams against {mine} for the "
                           f"bag's own estimate {own[0]}x{own[1]}; margin {HINT_SEAM_MARGIN} per fragment)")
        if grid is not None:  # a given grid the bag cannot fit, whatever the placer
            self._check_grid_hint(grid, m)
        if self.placer == "auto":  # greedy first; "best" once the frame it kept is known to be large
            self.placer_ = "greedy"
        if self.placer_ == "buddies":
            grid = tries[0][0]
            group = finishing.union_groups(edges, m, self.n_images, self.edge_max_score, grid)
            n_img = int(group.max()) + 1
            sol = Solution.grouping_only(group, self._settings(grid, n_img))
            sol.confidence = np.zeros(m)
        else:
            hists = finishing.colour_histograms(lab, owner) if self.n_images is None else None  # for counting
            if self.placer_ == "grow":
                if len(owner) > GROW_MAX_PIECES:
                    raise ConfigError(f"placer='grow' keeps dense tables: at most {GROW_MAX_PIECES} pieces "
                                      f"(fragments, times 4 turns under rotations), got {len(owner)}; "
                                      "use placer='greedy' or 'best'")
                tab = grow_tables(feats, owner, turn_of, self.rotations_)
                n_img = self._count(tries[0][1], tries[0][0], m, target, hists, edges)[0]
                asm, tried = grow_puzzles(tab, m, n_img, self.rotations_, self._grid_param())
                grid, extra = asm.layout()[4][0], {"regions": tried}
            else:  # greedy, then for "best" each image regrown
                tables: list = []  # dense score tables, built once for the refill
                done = []
                wholes = []  # the whole images each frame's count found (KeepApart)
                for k, (grid_k, asm) in enumerate(tries):  # several frames: keep the most good seams
                    n_img, apart = self._count(asm, grid_k, m, target, hists, edges)
                    self._finish(asm, grid_k, n_img, edges, scorer, lab, owner, feats, cands, tables, apart)
                    done.append((good_seams(asm, scorer), -k, grid_k, asm, n_img))
                    wholes.append(apart)
                small, joining = rejected_frames([(t[2], t[3]) for t in done], wholes, self.rotations_, edges)
                out = set(small) | set(joining)
                _, _, grid, asm, n_img = max([t for k, t in enumerate(done) if k not in out] or done,
                                             key=lambda t: t[:2])
                extra = {"frames_tried": [[list(g), good] for good, _, g, _, _ in done],
                         "frames_too_small": [list(done[k][2]) for k in small],
                         "frames_joining_images": [list(done[k][2]) for k in joining]}
                if self.placer == "auto" and grid[0] * grid[1] >= AUTO_BEST_MIN_CELLS:
                    self.placer_ = "best"
                if self.placer_ == "best" and len(owner) > GROW_MAX_PIECES:  # too large for the dense tables
                    extra["placer_used"] = "greedy"
                elif self.placer_ == "best":  # each image: merged or regrown
                    slack = WINDOW_COUNT_SLACK if self.n_images is None and n_img > 1 else 0.0
                    tab = grow_tables(feats, owner, turn_of, self.rotations_)
                    asm, kept = regrow_groups(tab, asm, self.rotations_, self._grid_param(), slack)
                    extra.update(regrow_summary(kept))
                    if slack > 0 and BLOCKS:  # blocks of one image glued to another's group
                        extra["blocks"] = move_blocks(tab, asm, grid, slack, self._grid_param())
                    if slack > 0 and RELOCATE:  # pieces of one image left in another's group
                        extra["relocated"] = relocate_misfits(tab, asm)
                        n_img = len(asm.clusters)
                    if SWAPS:  # last: pieces exchanged inside each layout while its seams improve
                        extra["swaps"] = swap_groups(tab, asm)
                    grid = asm.layout()[4][0] if "grow" in {g["kept"] for g in kept} else grid
            group, row, col, turn, shapes = asm.layout()
            conf = finishing.confidence(scorer, asm)
            sol = Solution(group, row, col, turn, conf, shapes, self._settings(grid, n_img))
            sol.settings.update(extra)
            if self.rotations_ and self.upright:  # each group grew in the turn of its first pieces
                sol, info = make_upright(fragments, sol, upright_model(self.upright_model))
                sol.settings.update(info)
        self.n_images_, self.grid_, self.solution_ = n_img, grid, sol
        return self

    def _check_grid_hint(self, grid: tuple[int, int], m: int) -> None:
        """Warn when the whole bag of ``m`` fragments fills under ``HINT_MIN_FILL`` of one image of ``grid``,
        or when ``n_images`` such images cannot hold it."""
        cells = grid[0] * grid[1]
        if m < HINT_MIN_FILL * cells:
            self._warn(f"grid={self.grid!r}: one image of {grid[0]}x{grid[1]} fragments has {cells} cells, but the "
                       f"bag has only {m} fragments ({m / cells:.0%} of one image; warned below {HINT_MIN_FILL:.0%})")
        if self.n_images is not None and m > self.n_images * cells:  # both hints
            self._warn(f"n_images={self.n_images}: {self.n_images} images of {grid[0]}x{grid[1]} fragments hold "
                       f"at most {self.n_images * cells} fragments, but the bag has {m}")

    def solve(self, fragments: np.ndarray) -> Solution:
        """Solve the bag and return the Solution (see ``fit``)."""
        return self.fit(fragments).solution_

    # ------------------------------------------------------------------ internals
    def _count(self, asm: Assembler, grid: tuple[int, int], m: int, target: int, hists: np.ndarray | None,
               edges: np.ndarray) -> tuple[int, KeepApart | None]:
        """N: the given one, else estimated from the clusters of ``asm`` under ``grid`` (``count_images``;
        hists: (M, B) colour histogram per fragment, joined per cluster for counting by looks; edges:
        the candidate seams, which tell whole images of a puzzle bag from parts, ``closed_clusters``),
        and with N estimated, the rule that keeps those whole images apart in the merges that follow."""
        if self.n_images is not None:
            return target, None
        return count_assembled(asm, grid, self.count_min_share, self.rotations_, hists, edges)

    def _finish(self, asm: Assembler, grid: tuple[int, int], n_img: int, edges, scorer, lab, owner, feats, cands,
                tables: list, apart: KeepApart | None = None) -> None:
        """From the confident clusters to ``n_img`` groups: whole-cluster merges, forced joins, then
        trim and refill (of complete bags, or of large groups cut back to a window of their own piece
        count when the grid is not given: ``window.window_trim``). ``apart``: merges not to make."""
        m, cells = len(asm.owner), grid[0] * grid[1]
        cluster_merge(asm, edges, scorer, target=n_img, apart=apart)
        exhaustive_merge(asm, scorer, target=n_img, apart=apart)
        if asm.n_clusters > n_img:  # pieces cut off by missing neighbours: lift the frame
            cluster_merge(asm, edges, scorer, target=n_img, frame=False, room=cells, apart=apart)
        finishing.force_merge(asm, n_img, finishing.colour_stats(lab, owner), cells, apart)
        # with fragments missing, free cells are legitimate holes: no refill unless a window was cut
        if self.min_trust > 0 and len(owner) <= DENSE_MAX_PIECES:
            slack = 0.0 if self.n_images is not None else WINDOW_COUNT_SLACK
            frames = {} if self.grid is not None else window_trim(asm, slack)
            if frames or m >= n_img * cells:
                if not tables:
                    tables.extend(dense_scores(q, key, c.row_second, c.col_second, owner)
                                  for (q, key), c in zip(feats, cands, strict=True))
                cap = WINDOW_COUNT_SLACK if self.n_images is None and FILL_CAPS else None
                trim_and_fill(asm, tables, self.rotations_, self.min_trust, frames, cap)

    def _settings(self, grid: tuple[int, int], n_img: int) -> dict:
        return {"method": "fragment-solver", "measure": self.measure, "measure_used": self.measure_,
                "eps": self.eps, "eps_used": self.eps_, "k": self.k, "gap": self.gap, "gap_used": self.gap_,
                "damage_check": self.damage_check, "damage": self.damage_, "learned_weight": self.learned_weight,
                "pair_model": self._model_name(), "placer": self.placer,
                "placer_chosen": self.placer_, "edge_max_score": self.edge_max_score,
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

    def _pieces(self, fragments: np.ndarray, rotations: bool | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pieces (P, s, s, 3), their fragment (P,) and turn (P,): the 4 turns of each under rotation."""
        m = fragments.shape[0]
        if not (self.rotations_ if rotations is None else rotations):
            return fragments, np.arange(m), np.zeros(m, np.int64)
        pieces = np.stack([np.rot90(fragments, k, axes=(1, 2)) for k in range(4)], axis=1)
        return pieces.reshape(4 * m, *fragments.shape[1:]), np.repeat(np.arange(m), 4), np.tile(np.arange(4), m)


__all__ = ["FragmentSolver", "MEASURES", "PLACERS"]
