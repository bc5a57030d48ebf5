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


def _adamw_paper_step(w, g, m, v, t, alpha, lam, eta_t=1.0, betas=(0.9, 0.999), delta=1e-8):
    # Loshchilov and Hutter (2019), algorithm 2: θ ← θ − η_t (α m̂ / (√v̂ + δ) + λ θ).
    b1, b2 = betas
    m.mul_(b1).add_((1 - b1) * g)
    v.mul_(b2).add_((1 - b2) * g * g)
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    w.sub_(eta_t * (alpha * m_hat / (v_hat.sqrt() + delta) + lam * w))


def test_algorithm_2_is_torch_adamw_with_lambda_over_alpha():
    # Same update when torch's lr is α η_t and its weight_decay is λ / α (a schedule included).
    gen = torch.Generator().manual_seed(0)
    curvature = torch.rand(8, generator=gen, dtype=torch.float64) * 3 + 0.1
    ours = torch.randn(8, generator=gen, dtype=torch.float64)
    theirs = ours.clone().requires_grad_(True)
    alpha, lam = 3e-3, 2e-4
    opt = torch.optim.AdamW([theirs], lr=alpha, weight_decay=lam / alpha)
    m, v = torch.zeros(8, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    for t in range(1, 201):
        eta_t = 0.5 * (1 + math.cos(math.pi * t / 200))
        noise = torch.randn(8, generator=gen, dtype=torch.float64)
        _adamw_paper_step(ours, curvature * ours + noise, m, v, t, alpha, lam, eta_t)
        for group in opt.param_groups:
            group["lr"] = alpha * eta_t
        theirs.grad = curvature * theirs.detach() + noise
        opt.step()
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rate", [1e-4, 1e-3, 1e-2])
def test_decay_per_step_torch_scales_with_lr_paper_does_not(rate):
    # With no loss gradient, torch's AdamW removes lr·λ per step; algorithm 2 removes η_t·λ, whatever α.
    w = torch.ones(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.AdamW([w], lr=rate, weight_decay=0.1)
    w.grad = torch.zeros(1, dtype=torch.float64)
    opt.step()
    assert 1 - float(w.detach()) == pytest.approx(rate * 0.1, rel=1e-9)
    w2, m, v = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    _adamw_paper_step(w2, torch.zeros(1, dtype=torch.float64), m, v, 1, alpha=rate, lam=1e-3)
    assert 1 - float(w2) == pytest.approx(1e-3, rel=1e-9)


def test_adam_step_bounds_of_kingma_and_ba():
    # Sparse case: a gradient zero until step T, then 1, moves the weight by ≈ (1 − β₁)/√(1 − β₂) η.
    w, m, v = (torch.zeros(1, dtype=torch.float64) for _ in range(3))
    for t in range(1, 10_001):
        before = w.clone()
        torch_g = torch.full((1,), float(t == 10_000), dtype=torch.float64)
        optim.adam_step(w, torch_g, m, v, t, lr=1.0)
    assert float(before - w) == pytest.approx(0.1 / math.sqrt(0.001), rel=1e-4)
    assert float(before - w) > 3  # well above η
    # A steady gradient of any size: the step tends to η.
    for size in (1e-3, 5.0):
        w, m, v = (torch.zeros(1, dtype=torch.float64) for _ in range(3))
        for t in range(1, 501):
            before = w.clone()
            optim.adam_step(w, torch.full((1,), size, dtype=torch.float64), m, v, t, lr=1.0)
        assert float(before - w) == pytest.approx(1.0, abs=1e-3)


def test_momentum_buffer_is_an_average_with_memory_one_over_one_minus_mu():
    # (1 − μ) m_t weighs past gradients by (1 − μ) μ^k: the last 1/(1 − μ) of them carry ≈ 1 − 1/e,
    # and for independent noise its variance is (1 − μ)/(1 + μ) times one gradient's.
    mu = 0.9
    weights = [(1 - mu) * mu**k for k in range(10_000)]
    assert sum(weights) == pytest.approx(1.0)
    assert sum(weights[:10]) == pytest.approx(1 - mu**10)
    assert abs(sum(weights[:10]) - (1 - 1 / math.e)) < 0.03
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(200_000, generator=gen, dtype=torch.float64)
    m, averaged = 0.0, []
    for g in noise[:20_000].tolist():
        m = mu * m + g
        averaged.append((1 - mu) * m)
    ratio = float(torch.tensor(averaged[100:]).std() / noise[:20_000].std())
    assert ratio == pytest.approx(math.sqrt((1 - mu) / (1 + mu)), rel=0.05)


def test_mu_09_is_too_much_momentum_for_the_kappa_25_valley():
    # Heavy ball inside the complex band contracts by √μ per step whatever η; the best gradient
    # descent on κ = 25 contracts by (κ − 1)/(κ + 1) = 0.923; μ = 0.9 is optimal for κ ≈ 1442.
    assert math.sqrt(0.9) > 24 / 26
    assert ((1 + math.sqrt(0.9)) / (1 - math.sqrt(0.9))) ** 2 == pytest.approx(1442, abs=1)
    for curvature in (1.0, 25.0):  # both inside the band (1 ± √μ)² for η = 0.02
        step = 0.02 * curvature
        assert (1 - math.sqrt(0.9)) ** 2 < step < (1 + math.sqrt(0.9)) ** 2
        roots = torch.linalg.eigvals(torch.tensor([[1 + 0.9 - step, -0.9], [1.0, 0.0]], dtype=torch.float64))
        assert float(roots.abs().max()) == pytest.approx(math.sqrt(0.9), rel=1e-9)


def test_adam_l2_on_a_weight_without_loss_gradient_ignores_lambda():
    # The chapter's section 5: with g = λw only, Adam divides λw by √v̂ of λw, so λ cancels
    # (up to δ): a hundredfold change of λ leaves the path unchanged; AdamW's is (1 − ηλ)^t.
    finals, decoupled = {}, {}
    for lam in (0.01, 0.1, 1.0):
        for name, make in (("Adam + L2", torch.optim.Adam), ("AdamW", torch.optim.AdamW)):
            w = torch.ones(1, dtype=torch.float64, requires_grad=True)
            opt = make([w], lr=1e-3, weight_decay=lam)
            for _ in range(1000):
                w.grad = torch.zeros(1, dtype=torch.float64)
                opt.step()
            (finals if name == "Adam + L2" else decoupled)[lam] = float(w.detach())
    assert max(finals.values()) - min(finals.values()) < 1e-3
    assert 0.2 < finals[1.0] < 0.3  # not 1 − 1000 η = 0: the steps shrink below η as w falls
    for lam, final in decoupled.items():
        assert final == pytest.approx((1 - 1e-3 * lam) ** 1000, rel=1e-9)

