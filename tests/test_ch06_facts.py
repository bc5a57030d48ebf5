"""The facts chapter 6 (book/06_momentum_adam.ipynb) states, checked independently."""

from __future__ import annotations

import math

import pytest
import torch

from regopt import optim


def test_steps_per_factor_e_for_kappa_100():
    # −1/ln r, not 1/(1 − r): for r = 9/11 the two differ by half a step.
    gd, hb = 99 / 101, 9 / 11
    assert -1 / math.log(gd) == pytest.approx(50.0, abs=0.01)
    assert -1 / math.log(hb) == pytest.approx(4.983, abs=1e-3)
    assert 1 / (1 - hb) - (-1 / math.log(hb)) > 0.5


def test_measured_momentum_rate_matches_steps_per_factor_e():
    # Heavy ball at its optimal (η, μ) on curvatures {1, 100}: the error shrinks by e about
    # every −1/ln r steps (up to the double root's polynomial factor).
    kappa = 100.0
    curvatures = torch.tensor([1.0, kappa], dtype=torch.float64)
    lr = 4 / (math.sqrt(kappa) + 1) ** 2
    momentum = ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2
    w, buf = torch.ones(2, dtype=torch.float64), None
    norms = []
    for _ in range(400):
        buf = optim.sgd_step(w, curvatures * w, buf, lr=lr, momentum=momentum)
        norms.append(float(w.norm()))
    rate = (norms[-1] / norms[199]) ** (1 / 200)
    assert -1 / math.log(rate) == pytest.approx(-1 / math.log(9 / 11), rel=0.15)


def _rmsprop_inside(g: torch.Tensor, steps: int = 3000, delta: float = 1e-6) -> float:
    w, v = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for _ in range(steps):
        before = w.clone()
        v.mul_(0.99).add_(0.01 * g * g)
        w.sub_(g / torch.sqrt(delta + v))
    return float((before - w).abs())


@pytest.mark.parametrize("size", [1e-4, 1e-3, 1e-1])
def test_delta_placement(size):
    # Outside the root (torch): the step stays ≈ η down to |g| ≫ δ. Inside (Goodfellow et al.):
    # the step is |g| / sqrt(δ + g²) once v = g².
    g = torch.tensor([size], dtype=torch.float64)
    w, v = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for _ in range(3000):
        before = w.clone()
        optim.rmsprop_step(w, g, v, lr=1.0, alpha=0.99, eps=1e-8)
    outside = float((before - w).abs())
    assert outside == pytest.approx(size / (size + 1e-8), rel=1e-3)
    inside = _rmsprop_inside(g)
    assert inside == pytest.approx(size / math.sqrt(1e-6 + size**2), rel=1e-3)
    if size <= 1e-3:
        assert inside < 0.75 * outside  # the placement matters for small gradients


def test_rmsprop_outside_delta_matches_torch():
    g = torch.tensor([1e-4, 0.3, -2.0], dtype=torch.float64)
    ours, v = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    theirs = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RMSprop([theirs], lr=0.01, alpha=0.99, eps=1e-8)
    for _ in range(5):
        optim.rmsprop_step(ours, g, v, lr=0.01, alpha=0.99, eps=1e-8)
        theirs.grad = g.clone()
        opt.step()
    torch.testing.assert_close(ours, theirs.detach())
