"""Dev only: edge top-1 of the prediction measure with chroma on a 2-px grid (4:2:0-aware) vs plain."""
import sys
import numpy as np
sys.path.insert(0, "benchmarks")
from pair_retrieval import _truth
from unshuffle.data import open_images
from unshuffle.fragments import compatibility as compat
from unshuffle.fragments.compatibility import _inv_cov, _quadratic
from unshuffle.fragments.damage import apply_damage, parse_condition
from unshuffle.fragments.sampling import FragmentSampler

def feats420(lab, eps, mode):
    x = lab.astype(np.float64)
    x = x - x.mean(axis=(0, 1, 2))
    last, prev, first, nxt = x[:, :, -1].copy(), x[:, :, -2].copy(), x[:, :, 0].copy(), x[:, :, 1].copy()
    if mode == "420":
        c = slice(1, 3)
        last[..., c] = x[:, :, -2:, c].mean(2); prev[..., c] = x[:, :, -4:-2, c].mean(2)
        first[..., c] = x[:, :, :2, c].mean(2); nxt[..., c] = x[:, :, 2:4, c].mean(2)
    elif mode == "inner":  # chroma one pixel in, extrapolated two steps
        c = slice(1, 3)
        last[..., c] = x[:, :, -2, c] ; prev[..., c] = x[:, :, -3, c]
        first[..., c] = x[:, :, 1, c]; nxt[..., c] = x[:, :, 2, c]
    gi, gj = last - prev, first - nxt
    ai, aj = _inv_cov(gi, eps), _inv_cov(gj, eps)
    step = 3.0 if mode == "inner" else 1.0
    if mode == "inner":
        ti = last.copy(); ti[..., 0] += gi[..., 0]; ti[..., 1:] += 3 * gi[..., 1:]
        tj = first.copy(); tj[..., 0] += gj[..., 0]; tj[..., 1:] += 3 * gj[..., 1:]
        # observed: j's chroma one pixel in is 'first'; i's 'last' similarly -> both sides offset symmetric
        q3, k3 = _quadratic(ti, ai, first); k4, q4 = _quadratic(tj, aj, last)
    else:
        q3, k3 = _quadratic(last + gi, ai, first); k4, q4 = _quadratic(first + gj, aj, last)
    return np.concatenate([q3, q4], 1), np.concatenate([k3, k4], 1)

data, samples = sys.argv[1], int(sys.argv[2])
sampler = FragmentSampler(open_images(data), 10, 4, 0)
for spec in sys.argv[3:]:
    cond = parse_condition(spec)
    hits = {}
    for i in range(samples):
        bag = apply_damage(sampler.sample(i), cond, 0, i)
        lab = compat.rgb_to_lab(bag.fragments)
        for rel in (0, 1):
            li, lj = _truth(bag, rel)
            v = lab if rel == 0 else lab.transpose(0, 2, 1, 3)
            for mode in ("plain", "420", "inner"):
                for e in (1.0, 10.0, 100.0):
                    q, k = feats420(v, e, mode)
                    d = compat.dissimilarity(q, k)
                    hits.setdefault(f"{mode} eps={e:g}", []).append(float((d[li].argmin(1) == lj).mean()))
    print(spec, {k: round(100 * np.mean(v), 1) for k, v in hits.items()}, flush=True)
