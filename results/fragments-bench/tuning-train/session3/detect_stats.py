"""Dev only: label-free damage statistics per bag on Tiny train bags (noise level, JPEG blockiness)."""
import sys, json
import numpy as np
from unshuffle.fragments.bench import open_bench_data
from unshuffle.fragments.sampling import FragmentSampler
from unshuffle.fragments.damage import parse_condition, apply_damage

def gray(f):
    return f.astype(np.float64) @ np.array([0.299, 0.587, 0.114])

def noise_sigma(f):  # Immerkaer 1996 per fragment
    g = gray(f)
    c = (g[:, :-2, :-2] - 2*g[:, :-2, 1:-1] + g[:, :-2, 2:] - 2*g[:, 1:-1, :-2] + 4*g[:, 1:-1, 1:-1]
         - 2*g[:, 1:-1, 2:] + g[:, 2:, :-2] - 2*g[:, 2:, 1:-1] + g[:, 2:, 2:])
    return np.sqrt(np.pi / 2) * np.abs(c).mean(axis=(1, 2)) / 6

def lap(g):
    return np.abs(g[:, :-2, :-2] - 2*g[:, :-2, 1:-1] + g[:, :-2, 2:] - 2*g[:, 1:-1, :-2] + 4*g[:, 1:-1, 1:-1]
         - 2*g[:, 1:-1, 2:] + g[:, 2:, :-2] - 2*g[:, 2:, 1:-1] + g[:, 2:, 2:]).mean(axis=(1, 2))

def chroma_ratio(f):
    x = f.astype(np.float64)
    y = x @ np.array([0.299, 0.587, 0.114]); cb = x @ np.array([-0.1687, -0.3313, 0.5]); cr = x @ np.array([0.5, -0.4187, -0.0813])
    return (lap(cb) + lap(cr)) / (lap(y) + 1.0)

def ring_ratio(f):
    x = f.astype(np.float64)
    c = np.stack([x @ np.array([-0.1687, -0.3313, 0.5]), x @ np.array([0.5, -0.4187, -0.0813])], -1)
    dx = np.abs(np.diff(c, axis=2)).sum(-1).mean(1)  # (M, s-1) per column pair
    dy = np.abs(np.diff(c, axis=1)).sum(-1).mean(2)
    d = dx + dy
    s = d.shape[1] + 1
    border = d[:, 0] + d[:, s - 2]
    inner = d[:, 2] + d[:, s - 4]
    return border.sum() / (inner.sum() + 1e-6), np.median(border / (inner + 1e-3))

def blockiness(f):
    g = gray(f)
    s = g.shape[1]
    if s < 16:
        return np.zeros(len(g))
    dx = np.abs(np.diff(g, axis=2)).mean(axis=1)  # (M, s-1)
    dy = np.abs(np.diff(g, axis=1)).mean(axis=2)
    d = dx + dy
    b = d[:, 7::8][:, :(s // 8) - 1]
    others = np.delete(d, np.arange(7, s - 1, 8), axis=1)
    return b.mean(1) / (others.mean(1) + 1e-6)

images = open_bench_data(sys.argv[1])
sampler = FragmentSampler(images, 10, 4, seed=0)
out = {}
for spec in sys.argv[3:]:
    cond = parse_condition(spec)
    rows = []
    for i in range(int(sys.argv[2])):
        bag = apply_damage(sampler.sample(i), cond, 0, i)
        f = bag.fragments
        n = noise_sigma(f); b = np.array(ring_ratio(f))
        rows.append([float(np.percentile(n, 10)), float(np.percentile(n, 25)), float(np.median(n)), float(b[0]), float(b[1])])
    r = np.array(rows)
    out[spec] = rows
    print(spec, "noise p10 [min,med,max]", np.round([r[:,0].min(), np.median(r[:,0]), r[:,0].max()],2),
          "p25", np.round([r[:,1].min(), np.median(r[:,1]), r[:,1].max()],2),
          "ring pooled", np.round([r[:,3].min(), np.median(r[:,3]), r[:,3].max()],3),
          "ring med", np.round([r[:,4].min(), np.median(r[:,4]), r[:,4].max()],3))
json.dump(out, open("runs/dev-switch/detect_stats.json", "w"))
