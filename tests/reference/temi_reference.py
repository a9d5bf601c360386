"""Slow loop-level TEMI loss written from the paper's formula (float64, no vectorisation), for tests.

Adaloglou et al., BMVC 2023: for a pair (x, x') of an image and one of its nearest neighbours,

    q_s^h(k|x) = softmax_k(student_h(x) / tau_s),  q_t^h(k|x) = softmax_k(teacher_h(x) / tau_t)
    p_h(k)    <- m * p_h(k) + (1 - m) * mean over the batch and both views of q_t^h(k|.)
    pmi_h(a, b) = log sum_k (q_s^h(k|a) q_t^h(k|b))^beta / p_h(k)
    w(x, x')  = 1/H sum_h sum_k q_t^h(k|x) q_t^h(k|x')
    L_h       = 1/B sum_i -w_i * 1/2 [pmi_h(x_i, x'_i) + pmi_h(x'_i, x_i)]
"""

from __future__ import annotations

import math


def _softmax(row: list[float], temp: float) -> list[float]:
    top = max(v / temp for v in row)
    exps = [math.exp(v / temp - top) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def reference_temi(student_x, student_nn, teacher_x, teacher_nn, prior, *, beta: float,
                   student_temp: float, teacher_temp: float, momentum: float,
                   update_prior: bool = True) -> tuple[list[float], list[list[float]]]:
    """Per-head loss and the updated prior.

    Args: nested lists (H, B, K) of logits for the student and teacher on the images and on their
    neighbours; prior: (H, K) nested list. Returns (losses: H floats, new prior: (H, K)).
    """
    n_heads, batch, n_k = len(student_x), len(student_x[0]), len(student_x[0][0])
    qt_x = [[_softmax(teacher_x[h][i], teacher_temp) for i in range(batch)] for h in range(n_heads)]
    qt_n = [[_softmax(teacher_nn[h][i], teacher_temp) for i in range(batch)] for h in range(n_heads)]
    qs_x = [[_softmax(student_x[h][i], student_temp) for i in range(batch)] for h in range(n_heads)]
    qs_n = [[_softmax(student_nn[h][i], student_temp) for i in range(batch)] for h in range(n_heads)]

    new_prior = []
    for h in range(n_heads):
        row = []
        for k in range(n_k):
            mean_k = (sum(qt_x[h][i][k] for i in range(batch)) + sum(qt_n[h][i][k] for i in range(batch))) / (2 * batch)
            row.append(momentum * prior[h][k] + (1 - momentum) * mean_k if update_prior else prior[h][k])
        new_prior.append(row)

    weights = []
    for i in range(batch):
        w = 0.0
        for h in range(n_heads):
            w += sum(qt_x[h][i][k] * qt_n[h][i][k] for k in range(n_k))
        weights.append(w / n_heads)

    def pmi(h: int, qs: list[float], qt: list[float]) -> float:
        return math.log(sum((qs[k] * qt[k]) ** beta / new_prior[h][k] for k in range(n_k)))

    losses = []
    for h in range(n_heads):
        total = 0.0
        for i in range(batch):
            both = pmi(h, qs_x[h][i], qt_n[h][i]) + pmi(h, qs_n[h][i], qt_x[h][i])
            total += -weights[i] * 0.5 * both
        losses.append(total / batch)
    return losses, new_prior
