"""Dev only: share of train bags whose hand-made loops per piece (eps 1) reach 0.3, per condition."""
import sys
import numpy as np
from unshuffle.fragments.bench import open_bench_data
from unshuffle.fragments.sampling import FragmentSampler
from unshuffle.fragments.damage import parse_condition, apply_damage
from unshuffle.fragments.solver import FragmentSolver
images = open_bench_data(sys.argv[1]); sampler = FragmentSampler(images, 10, 4, seed=int(sys.argv[3]))
for spec in sys.argv[4:]:
    cond = parse_condition(spec); r = []
    for i in range(int(sys.argv[2])):
        f = apply_damage(sampler.sample(i), cond, 0, i).fragments
        r.append(FragmentSolver(n_images=10, grid=4, measure="prediction", eps=1.0).fit(f).n_loops_ / len(f))
    r = np.array(r)
    print(spec, "bags", len(r), ">=0.3:", int((r >= 0.3).sum()), ">=0.2:", int((r >= 0.2).sum()), "max", round(r.max(), 3), flush=True)
