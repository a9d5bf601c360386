"""Whether a bag's fragments are turned, decided from the bag alone (the solver's rotations="auto")."""

from __future__ import annotations

import numpy as np

from unshuffle.fragments.solver import compatibility as compat

TURN_EPS = 1.0  # rotations="auto" decides with the prediction measure at this covariance regulariser
TURN_UPRIGHT_LOOPS = 0.3  # ... an upright bag closing this many 2x2 loops per piece is taken as upright
TURN_MIN_LOOPS = 20  # ... otherwise, with at least this many loops among the pieces in 4 turns, the
# share of loops of 4 equally turned pieces decides (else the share of mutual best pairs of equal turn)
TURN_SAME_SHARE = 0.5  # ... turned when that share is below this (chance: 1/64)
TURN_PAIR_SHARE = 0.4  # ... or, for mutual best pairs, below this (chance: 1/4)
TURN_MIN_TEXTURE = 2.0  # only pieces whose lightness varies this much (std of CIE L*, 0-100) count: flat
# pieces (sky, walls) match each other in any turn and would close loops in any hypothesis
TURN_MIN_TEXTURED = 8  # ... unless fewer pieces than this are textured (then all count)

def decide_turns(solver, fragments: np.ndarray, cache: dict) -> tuple[bool, dict]:
    """rotations="auto": are the fragments turned? (decision, evidence), from the bag alone.

    solver: the FragmentSolver asking (its measures, candidate search and loop finder are used).

    Only textured pieces count (flat ones match in any turn). Upright bags close many 2x2 loops of
    hand-made candidate edges as they are (``cache`` keeps those features for the solve that
    follows). Otherwise every fragment is also tried in its 4 turns: in an upright bag the loops (or
    mutual best pairs) found then join pieces of one turn, in a turned bag pieces of unrelated turns
    (all four equal by chance 1 time in 64).
    """
    m = fragments.shape[0]
    owner = np.arange(m)
    lab = compat.rgb_to_lab(fragments)
    textured = lab[..., 0].reshape(m, -1).std(axis=1) >= TURN_MIN_TEXTURE
    if textured.sum() < TURN_MIN_TEXTURED:
        textured[:] = True
    upright: dict = {"lab": lab}  # what the solve reuses when it keeps the pieces upright
    option = ("prediction", TURN_EPS, None)
    feats = solver._features(lab, fragments, [compat.RIGHT, compat.DOWN], option, upright)
    cands = solver._candidates(feats, owner)
    upright["result", option] = feats, cands, solver._loops(cands, owner, rotations=False)
    loops = upright["result", option][2][0]
    flat = int(textured[loops].all(axis=1).sum()) / int(textured.sum())
    evidence: dict = {"textured_pieces": int(textured.sum()), "upright_loops_per_piece": round(flat, 4)}
    if flat >= TURN_UPRIGHT_LOOPS:
        cache.update(upright)
        return False, {**evidence, "rule": f"upright loops per piece >= {TURN_UPRIGHT_LOOPS}"}
    pieces, owner4, turn_of = solver._pieces(fragments, rotations=True)
    turned_cache: dict = {"lab": compat.rgb_to_lab(pieces)}  # ... and when it turns them
    feats = solver._features(turned_cache["lab"], pieces, [compat.RIGHT], option, turned_cache)
    cands = solver._candidates(feats, owner4)
    turned_cache["result", option] = feats, cands, solver._loops(cands, owner4, rotations=True)
    loops = turned_cache["result", option][2][0]
    loops = loops[textured[owner4[loops]].all(axis=1)]
    if loops.shape[0] >= TURN_MIN_LOOPS:
        t = turn_of[loops]
        same = float(np.mean((t == t[:, :1]).all(axis=1)))
        evidence.update(turned_loops=int(loops.shape[0]), same_turn_share=round(same, 4), basis="loops")
    else:  # too few loops (damaged borders): mutual best pairs, equal turns 1 time in 4 by chance
        c = cands[0]
        order = np.lexsort((c.d, c.i))
        first = np.r_[True, np.diff(c.i[order]) > 0]
        right_of = dict(zip(c.i[order][first].tolist(), c.j[order][first].tolist(), strict=True))
        order = np.lexsort((c.d, c.j))
        first = np.r_[True, np.diff(c.j[order]) > 0]
        left_of = dict(zip(c.j[order][first].tolist(), c.i[order][first].tolist(), strict=True))
        pairs = [(i, j) for i, j in right_of.items()
                 if left_of.get(j) == i and textured[owner4[i]] and textured[owner4[j]]]
        same = float(np.mean([turn_of[i] == turn_of[j] for i, j in pairs])) if pairs else 0.0
        evidence.update(mutual_pairs=len(pairs), same_turn_share=round(same, 4), basis="mutual best pairs",
                        turned_loops=int(loops.shape[0]))
    turned = same < (TURN_SAME_SHARE if evidence["basis"] == "loops" else TURN_PAIR_SHARE)
    limit = TURN_SAME_SHARE if evidence["basis"] == "loops" else TURN_PAIR_SHARE
    cache.update(turned_cache if turned else upright)
    return turned, {**evidence, "rule": f"same-turn share < {limit} means turned"}
