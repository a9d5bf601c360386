"""TEMI loss against a loop-level reference from the paper, closed forms, and the temperature schedule.

Closed forms, uniform prior p(k) = 1/K (kept fixed: eval mode, or uniform teacher so the EMA is a no-op):
- agreeing one-hot q_s = q_t = e_c: sum_k (q_s q_t)^beta / p = 1 / (1/K) = K, so pmi = log K; the
  weight is sum_k e_c e_c = 1; loss = -log K.
- all uniform q_s = q_t = 1/K: sum_k (1/K^2)^beta * K = K^(2 - 2 beta), pmi = (2 - 2 beta) log K; the
  weight is sum_k 1/K^2 = 1/K; loss = -(2 - 2 beta) log(K) / K. The uniform teacher leaves p uniform.
"""

from __future__ import annotations

import math

import pytest
import torch
from reference.temi_reference import reference_temi

from unshuffle.clustering.temi_loss import TEMILoss, beta_pmi, sim_weight, teacher_temperature
from unshuffle.errors import ConfigError


@pytest.mark.parametrize("beta", [0.3, 0.6, 1.0])
@pytest.mark.parametrize("temps", [(0.1, 0.04), (0.1, 0.1), (0.5, 0.2)])
@pytest.mark.parametrize("n_heads", [1, 3])
def test_loss_matches_loop_reference(beta, temps, n_heads):
    student_temp, teacher_temp = temps
    gen = torch.Generator().manual_seed(n_heads * 100 + int(beta * 10))
    b, k = 5, 4
    sx, sn, tx, tn = (torch.randn(n_heads, b, k, generator=gen, dtype=torch.float64) for _ in range(4))
    loss_fn = TEMILoss(n_heads, k, beta=beta, student_temp=student_temp, prior_momentum=0.9).double()
    start_prior = torch.rand(n_heads, k, generator=gen, dtype=torch.float64) + 0.1
    start_prior /= start_prior.sum(1, keepdim=True)
    loss_fn.prior.copy_(start_prior)
    got = loss_fn([sx, sn], [tx, tn], teacher_temp=teacher_temp)
    want, want_prior = reference_temi(sx.tolist(), sn.tolist(), tx.tolist(), tn.tolist(), start_prior.tolist(),
                                      beta=beta, student_temp=student_temp, teacher_temp=teacher_temp,
                                      momentum=0.9)
    torch.testing.assert_close(got, torch.tensor(want, dtype=got.dtype), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(loss_fn.prior, torch.tensor(want_prior, dtype=torch.float64), rtol=1e-7, atol=1e-9)


def test_eval_mode_leaves_prior_alone_and_matches_reference():
    gen = torch.Generator().manual_seed(3)
    sx, sn, tx, tn = (torch.randn(2, 6, 5, generator=gen, dtype=torch.float64) for _ in range(4))
    loss_fn = TEMILoss(2, 5).double().eval()
    got = loss_fn([sx, sn], [tx, tn], teacher_temp=0.1)
    want, _ = reference_temi(sx.tolist(), sn.tolist(), tx.tolist(), tn.tolist(), [[0.2] * 5] * 2, beta=0.6,
                             student_temp=0.1, teacher_temp=0.1, momentum=0.9, update_prior=False)
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))
    torch.testing.assert_close(loss_fn.prior, torch.full((2, 5), 0.2, dtype=torch.float64))


def test_gradient_flows_only_into_student():
    sx = torch.randn(2, 4, 3, requires_grad=True)
    tx = torch.randn(2, 4, 3, requires_grad=True)
    loss = TEMILoss(2, 3)([sx, sx.flip(1)], [tx, tx.flip(1)], teacher_temp=0.1).mean()
    loss.backward()
    assert sx.grad is not None and sx.grad.abs().sum() > 0
    assert tx.grad is None


@pytest.mark.parametrize("k", [2, 10, 200])
def test_agreeing_one_hot_gives_minus_log_k(k):
    logits = torch.zeros(3, 4, k)
    logits[:, torch.arange(4), torch.arange(4) % k] = 1e3  # one-hot after any softmax temperature
    loss_fn = TEMILoss(3, k, beta=0.6).eval()
    got = loss_fn([logits, logits], [logits, logits], teacher_temp=0.1)
    torch.testing.assert_close(got, torch.full((3,), -math.log(k)))


@pytest.mark.parametrize("beta", [0.2, 0.6, 1.0])
@pytest.mark.parametrize("k", [3, 50])
def test_all_uniform_predictions_closed_form(beta, k):
    logits = torch.zeros(2, 7, k)
    loss_fn = TEMILoss(2, k, beta=beta)  # training mode: the uniform teacher keeps p uniform
    got = loss_fn([logits, logits], [logits, logits], teacher_temp=0.1)
    want = -(2 - 2 * beta) * math.log(k) / k
    torch.testing.assert_close(got, torch.full((2,), want), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(loss_fn.prior, torch.full((2, k), 1.0 / k))


def test_prior_moves_towards_the_predicted_cluster():
    k = 4
    logits = torch.zeros(1, 8, k)
    logits[..., 2] = 1e3
    loss_fn = TEMILoss(1, k, prior_momentum=0.9)
    got = loss_fn([logits, logits], [logits, logits], teacher_temp=0.1)
    p_c = 0.9 / k + 0.1
    torch.testing.assert_close(loss_fn.prior[0, 2], torch.tensor(p_c))
    torch.testing.assert_close(got, torch.tensor([math.log(p_c)]))  # -log(1 / p_c)


def test_pure_functions_on_hand_values():
    p1 = torch.tensor([0.5, 0.5, 0.0])
    p2 = torch.tensor([1.0, 0.0, 0.0])
    assert sim_weight(p1, p2).item() == pytest.approx(0.5)
    assert sim_weight(p1, p1, gamma=2.0).item() == pytest.approx(0.125)
    prior = torch.tensor([0.25, 0.25, 0.5])
    # (0.5 * 1)^1 / 0.25 = 2 -> log 2
    assert beta_pmi(p1, p2, prior, beta=1.0).item() == pytest.approx(math.log(2))
    # (0.5)^0.5 / 0.25 = 4 sqrt(0.5)
    assert beta_pmi(p1, p2, prior, beta=0.5).item() == pytest.approx(math.log(4 * math.sqrt(0.5)))


def test_teacher_temperature_schedule_and_past_its_end():
    assert teacher_temperature(0, 0.04, 0.1, 30) == pytest.approx(0.04)
    assert teacher_temperature(15, 0.04, 0.1, 30) == pytest.approx(0.07)
    assert teacher_temperature(30, 0.04, 0.1, 30) == pytest.approx(0.1)
    assert teacher_temperature(10_000, 0.04, 0.1, 30) == pytest.approx(0.1)  # past the planned length
    assert teacher_temperature(0, 0.04, 0.1, 0) == pytest.approx(0.1)  # no warm-up
    with pytest.raises(ValueError, match="epoch"):
        teacher_temperature(-1, 0.04, 0.1, 30)


def test_bad_arguments_are_refused_with_the_value():
    with pytest.raises(ConfigError, match="beta must be in \\(0, 1\\], got 1.5"):
        TEMILoss(2, 3, beta=1.5)
    with pytest.raises(ConfigError, match="student_temp"):
        TEMILoss(2, 3, student_temp=0.0)
    with pytest.raises(ConfigError, match="n_clusters"):
        TEMILoss(2, 1)
    with pytest.raises(ValueError, match="views"):
        TEMILoss(2, 3)([torch.zeros(2, 1, 3)], [torch.zeros(2, 1, 3)], teacher_temp=0.1)
