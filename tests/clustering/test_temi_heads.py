"""Batched multi-head MLP: equals a per-head loop, seeded, normalisation buffers, shapes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unshuffle.clustering.heads import MultiHeadMLP
from unshuffle.errors import ConfigError


def _one_head(m: MultiHeadMLP, h: int, x: torch.Tensor) -> torch.Tensor:
    """Head ``h`` with ordinary F.linear calls, one layer after the other."""
    z = F.gelu(F.linear(m.normalize_features(x), m.w_in[h].T, m.b_in[h]))
    for i in range(m.n_layers - 2):
        z = F.gelu(F.linear(z, m.w_mid[h, i].T, m.b_mid[h, i]))
    z = F.normalize(F.linear(z, m.w_out[h].T, m.b_out[h]), dim=-1)
    v = m.last_v[h]  # (bottleneck, K)
    w = m.last_g[h] * v / v.norm(dim=0, keepdim=True)
    return z @ w


@pytest.mark.parametrize("n_layers", [2, 3])
@pytest.mark.parametrize("normalize", ["standardize", "l2", "none"])
def test_batched_heads_equal_a_loop_over_heads(n_layers, normalize):
    m = MultiHeadMLP(in_dim=12, n_clusters=5, n_heads=4, hidden_dim=16, bottleneck_dim=8,
                     n_layers=n_layers, normalize=normalize, seed=0)
    with torch.no_grad():  # make every parameter non-trivial, heads distinct
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    feats = torch.randn(30, 12) * 3 + 1
    m.set_feature_stats(feats)
    x = feats[:7]
    out = m(x)
    assert out.shape == (4, 7, 5)
    loop = torch.stack([_one_head(m, h, x) for h in range(4)])
    torch.testing.assert_close(out, loop, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out[0], out[1])
    m.best_head.fill_(2)
    torch.testing.assert_close(m.best_logits(x), loop[2], rtol=1e-5, atol=1e-6)


def test_seed_fixes_the_initialisation_and_gains_start_at_one():
    a = MultiHeadMLP(8, 3, n_heads=2, hidden_dim=4, bottleneck_dim=4, seed=5)
    b = MultiHeadMLP(8, 3, n_heads=2, hidden_dim=4, bottleneck_dim=4, seed=5)
    c = MultiHeadMLP(8, 3, n_heads=2, hidden_dim=4, bottleneck_dim=4, seed=6)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.w_in, c.w_in)
    assert torch.all(a.last_g == 1)
    assert a.w_in.abs().max() <= 0.04 + 1e-7  # truncated at two standard deviations


def test_feature_stats_are_buffers_and_standardise():
    m = MultiHeadMLP(3, 2, n_heads=1, hidden_dim=4, bottleneck_dim=4)
    feats = torch.tensor([[0.0, 10.0, 1.0], [2.0, 30.0, 1.0]])
    m.set_feature_stats(feats)
    keys = set(m.state_dict())
    assert {"feature_mean", "feature_std", "best_head"} <= keys
    z = m.normalize_features(feats)
    torch.testing.assert_close(z.mean(0), torch.zeros(3))
    assert torch.isfinite(z).all()  # a constant column does not divide by zero
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        m.set_feature_stats(torch.zeros(4, 5))


def test_bad_shapes_are_refused():
    with pytest.raises(ConfigError, match="n_clusters must be an integer >= 2, got 1"):
        MultiHeadMLP(4, 1)
    with pytest.raises(ConfigError, match="normalize must be one of"):
        MultiHeadMLP(4, 3, normalize="zscore")
    with pytest.raises(ConfigError, match="n_layers"):
        MultiHeadMLP(4, 3, n_layers=1)
