"""How the solver measures edges: the (measure, eps, gap) settings tried, their features, candidates and loops."""

from __future__ import annotations

import functools
import os

import numpy as np

from unshuffle.fragments.solver import compatibility as compat
from unshuffle.fragments.solver.candidates import top_candidates
from unshuffle.fragments.solver.loops import neighbour_table, rotated_down_table, square_loops
from unshuffle.fragments.solver.quality import detect_damage

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
FLOAT64_MAX_PIECES = 4096  # larger bags score pairs in float32 (features are centred, see compatibility)


class EdgeMeasures:
    """The edge-measure half of ``FragmentSolver`` (a mixin: it reads the solver's parameters
    ``measure``, ``eps``, ``gap``, ``k``, ``chunk``, ``seed``, ``pair_model``, ``learned_weight``,
    ``damage_check`` and its decision ``rotations_``)."""

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
