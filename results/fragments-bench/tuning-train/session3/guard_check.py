"""Dev only: on train JPEG bags where the hand-made measure closes >= 0.3 loops/piece, ARI with and without the guard.

Ran at commit c9a0622 (solver.DAMAGED_HAND_ENOUGH, removed in 5e0de72).
"""
import sys
import numpy as np
import unshuffle.fragments.solver as S
from unshuffle.evaluation.metrics import ari
from unshuffle.fragments.bench import open_bench_data
from unshuffle.fragments.sampling import FragmentSampler
from unshuffle.fragments.damage import parse_condition, apply_damage
images = open_bench_data(sys.argv[1]); sampler = FragmentSampler(images, 10, 4, seed=7)
cond = parse_condition("jpeg"); res = []
for i in range(1000):
    bag = apply_damage(sampler.sample(i), cond, 0, i)
    if FragmentSolver := S.FragmentSolver:
        h = FragmentSolver(n_images=10, grid=4, measure="prediction", eps=1.0).fit(bag.fragments)
    if h.n_loops_ < 0.3 * len(bag.fragments):
        continue
    S.DAMAGED_HAND_ENOUGH = 0.3; g = FragmentSolver(n_images=10, grid=4).fit(bag.fragments)
    S.DAMAGED_HAND_ENOUGH = np.inf; n = FragmentSolver(n_images=10, grid=4).fit(bag.fragments)
    res.append((ari(bag.source, g.solution_.group), ari(bag.source, n.solution_.group), g.measure_, n.measure_))
r = np.array([x[:2] for x in res])
print(len(res), "guard mean ARI", r[:, 0].mean().round(3), "no guard", r[:, 1].mean().round(3), set(x[2] for x in res), set(x[3] for x in res))
