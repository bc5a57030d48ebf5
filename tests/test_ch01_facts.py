"""The facts chapter 1 (book/01_penalties.ipynb) relies on, pinned as tests.

Each test checks a claim the chapter makes in prose against an independent
computation (a brute-force minimization, an explicit update formula, a
probability density), so the chapter cannot drift from the mathematics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from regopt.models import MLP, ConvNet
from regopt.penalties import (
    l1_penalty,
    l2_penalty,
    param_groups,
    prox_l1_,
    soft_threshold,
    split_parameters,
)

GRID = np.linspace(-3.0, 3.0, 600_001)  # step 1e-5


def grid_argmin(values: np.ndarray) -> float:
    return float(GRID[np.argmin(values)])


# --- 1-D minimizers (sections 3 and 4) -------------------------------------------------


@pytest.mark.parametrize("lam", [0.0, 0.1, 0.5, 1.0, 3.0, 10.0])
def test_l2_minimizer_of_quadratic_is_two_over_two_plus_lambda(lam):
    # argmin (w - 1)^2 + (λ/2) w^2 = 2 / (2 + λ) (the course's Ω = ½w²): shrinks toward 0
    # but never reaches it.
    expected = 2.0 / (2.0 + lam)
    found = grid_argmin((GRID - 1) ** 2 + lam / 2 * GRID**2)
    assert found == pytest.approx(expected, abs=2e-5)
    assert found >= 0.16  # the grid's minimizer, not the formula: it stays away from 0


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0, 1.9, 2.0, 2.5, 5.0])
def test_l1_minimizer_of_quadratic_is_soft_thresholded(lam):
    # argmin (w - 1)^2 + λ|w| = max(1 - λ/2, 0): exactly 0 once λ ≥ 2 = |dL/dw at 0|.
    expected = max(1.0 - lam / 2.0, 0.0)
    assert grid_argmin((GRID - 1) ** 2 + lam * np.abs(GRID)) == pytest.approx(expected, abs=2e-5)


def test_l1_minimizer_is_zero_exactly_when_loss_slope_at_zero_is_below_lambda():
    # For a smooth loss L, 0 minimizes L + λ|x| iff |L'(0)| ≤ λ. Non-quadratic loss:
    # L(x) = log(1 + exp(-3 (x - 0.4))) (a logistic loss), L'(0) = -3 σ(1.2).
    slope_at_zero = -3.0 / (1.0 + math.exp(-1.2))
    loss = np.log1p(np.exp(-3.0 * (GRID - 0.4)))
    below = grid_argmin(loss + 0.95 * abs(slope_at_zero) * np.abs(GRID))
    above = grid_argmin(loss + 1.05 * abs(slope_at_zero) * np.abs(GRID))
    assert below > 1e-3
    assert above == pytest.approx(0.0, abs=2e-5)


def test_l2_never_reaches_zero_for_a_non_quadratic_loss():
    loss = np.log1p(np.exp(-3.0 * (GRID - 0.4)))
    for lam in [0.1, 1.0, 10.0, 100.0]:
        assert grid_argmin(loss + lam / 2 * GRID**2) > 0


# --- Bayesian reading (section 2) ---------------------------------------------------------


def test_gaussian_prior_negative_log_density_is_scaled_l2():
    w = torch.randn(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = 0.7
    nll = -torch.distributions.Normal(0.0, sigma).log_prob(w).sum()
    constant = len(w) * math.log(sigma * math.sqrt(2 * math.pi))
    # -log p(w) = ‖w‖² / (2σ²) + const, i.e. λ = 1 / (2σ²) in front of l2_penalty.
    assert float(nll - constant) == pytest.approx(float(l2_penalty(w)) / (2 * sigma**2), rel=1e-6)


def test_laplace_prior_negative_log_density_is_scaled_l1():
    w = torch.randn(50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    b = 0.3
    nll = -torch.distributions.Laplace(0.0, b).log_prob(w).sum()
    constant = len(w) * math.log(2 * b)
    assert float(nll - constant) == pytest.approx(float(l1_penalty(w)) / b, rel=1e-6)


# --- Weight decay and L2 (sections 3 and 5) -------------------------------------------------


def _copy_model(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    a = MLP(4, [5], 3)
    b = MLP(4, [5], 3)
    b.load_state_dict(a.state_dict())
    return a, b


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)


def test_sgd_step_with_half_l2_penalty_equals_weight_decay():
    lam, lr = 0.05, 0.3
    x, y = _batch()
    penalized, decayed = _copy_model()
    opt_p = torch.optim.SGD(penalized.parameters(), lr=lr)
    opt_d = torch.optim.SGD(decayed.parameters(), lr=lr, weight_decay=lam)
    loss = nn.functional.cross_entropy(penalized(x), y) + lam / 2 * l2_penalty(penalized.parameters())
    opt_p.zero_grad(); loss.backward(); opt_p.step()  # noqa: E702
    loss = nn.functional.cross_entropy(decayed(x), y)
    opt_d.zero_grad(); loss.backward(); opt_d.step()  # noqa: E702
    for p, q in zip(penalized.parameters(), decayed.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_weight_decay_is_shrink_then_step():
    # θ ← (1 - αλ) θ - α ∇R_emp(θ), written out by hand.
    lam, lr = 0.05, 0.3
    x, y = _batch(1)
    model, _ = _copy_model(1)
    before = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=lam)
    for p, g in zip(model.parameters(), grads):
        p.grad = g.clone()
    opt.step()
    for p, p0, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), (1 - lr * lam) * p0 - lr * g, rtol=1e-6, atol=1e-7)


def test_adam_weight_decay_is_l2_in_the_gradient_not_adamw():
    lam, lr = 0.1, 0.01
    x, y = _batch(2)
    adam_l2, adam_wd = _copy_model(2)
    adamw, _ = _copy_model(2)
    opts = [
        torch.optim.Adam(adam_l2.parameters(), lr=lr),
        torch.optim.Adam(adam_wd.parameters(), lr=lr, weight_decay=lam),
        torch.optim.AdamW(adamw.parameters(), lr=lr, weight_decay=lam),
    ]
    for _ in range(5):
        for model, opt in zip((adam_l2, adam_wd, adamw), opts):
            loss = nn.functional.cross_entropy(model(x), y)
            if model is adam_l2:
                loss = loss + lam / 2 * l2_penalty(model.parameters())
            opt.zero_grad(); loss.backward(); opt.step()  # noqa: E702
    # Adam's weight_decay is the L2 penalty's gradient fed through Adam's scaling ...
    for p, q in zip(adam_l2.parameters(), adam_wd.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    # ... and AdamW's decoupled decay is something else.
    gap = max(float((p - q).detach().abs().max()) for p, q in zip(adam_wd.parameters(), adamw.parameters()))
    assert gap > 1e-4


def test_adamw_decays_the_weights_directly():
    # With a zero gradient, AdamW multiplies by (1 - αλ); Adam(weight_decay) does not.
    lam, lr = 0.1, 0.01
    w = nn.Parameter(torch.tensor([2.0, -1.0, 0.5]))
    opt = torch.optim.AdamW([w], lr=lr, weight_decay=lam)
    w.grad = torch.zeros(3)
    opt.step()
    torch.testing.assert_close(w.detach(), (1 - lr * lam) * torch.tensor([2.0, -1.0, 0.5]))
    v = nn.Parameter(torch.tensor([2.0, -1.0, 0.5]))
    opt = torch.optim.Adam([v], lr=lr, weight_decay=lam)
    v.grad = torch.zeros(3)
    opt.step()
    # Adam normalizes the decay term λθ: the first step moves every weight by about lr.
    torch.testing.assert_close((torch.tensor([2.0, -1.0, 0.5]) - v.detach()).abs(), torch.full((3,), lr),
                               rtol=1e-4, atol=1e-6)


def test_weight_decay_with_zero_gradient_is_geometric():
    lam, lr, steps = 0.02, 0.5, 30
    w = nn.Parameter(torch.tensor([1.5, -0.25]))
    opt = torch.optim.SGD([w], lr=lr, weight_decay=lam)
    for _ in range(steps):
        w.grad = torch.zeros(2)
        opt.step()
    torch.testing.assert_close(w.detach(), (1 - lr * lam) ** steps * torch.tensor([1.5, -0.25]))


def test_same_lambda_does_more_with_a_larger_learning_rate_per_step():
    # The shrink factor per step is (1 - αλ): the learning rate multiplies λ.
    w0 = torch.tensor([1.0], dtype=torch.float64)
    shrunk = {}
    for lr in (0.01, 0.1):
        w = nn.Parameter(w0.clone())
        opt = torch.optim.SGD([w], lr=lr, weight_decay=0.1)
        w.grad = torch.zeros(1, dtype=torch.float64)
        opt.step()
        shrunk[lr] = float(w0 - w.detach())
    assert shrunk[0.1] == pytest.approx(10 * shrunk[0.01])


# --- L1: subgradient against proximal steps (section 4) --------------------------------------


def test_prox_step_equals_soft_thresholding_and_brute_force_prox():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(200, generator=g, dtype=torch.float64)
    t = 0.4
    stepped = w.clone()
    prox_l1_(stepped, t)
    torch.testing.assert_close(stepped, soft_threshold(w, t))
    # prox_{t|.|}(v) = argmin_u (u - v)^2 / 2 + t|u|, by brute force on a few entries.
    for v in w[:10].tolist():
        assert grid_argmin(0.5 * (GRID - v) ** 2 + t * np.abs(GRID)) == pytest.approx(
            float(soft_threshold(torch.tensor(v), t)), abs=2e-5
        )


def test_prox_step_never_changes_a_sign():
    g = torch.Generator().manual_seed(4)
    w = torch.randn(10_000, generator=g) * 0.05
    stepped = w.clone()
    prox_l1_(stepped, 0.03)
    assert torch.all((stepped == 0) | (torch.sign(stepped) == torch.sign(w)))
    assert torch.all(stepped.abs() <= w.abs())
    assert int((stepped == 0).sum()) == int((w.abs() <= 0.03).sum())


def test_subgradient_step_flips_small_weights_where_prox_zeroes_them():
    eta, lam = 0.1, 0.05  # threshold ηλ = 0.005
    w = torch.tensor([0.002, -0.001, 0.3])
    subgradient = w - eta * lam * torch.sign(w)
    assert torch.all(torch.sign(subgradient[:2]) == -torch.sign(w[:2]))  # overshoot past 0
    proximal = w.clone()
    prox_l1_(proximal, eta * lam)
    assert torch.all(proximal[:2] == 0)
    assert float(proximal[2]) == pytest.approx(0.3 - eta * lam)


def test_zero_weight_stays_zero_when_gradient_below_lambda():
    # Proximal gradient step from w = 0: w ← S_{ηλ}(0 - η g) is 0 iff |g| ≤ λ.
    eta, lam = 0.1, 0.5
    for grad, stays in [(0.3, True), (-0.5, True), (0.7, False), (-2.0, False)]:
        w = torch.tensor([0.0]) - eta * grad
        prox_l1_(w, eta * lam)
        assert (float(w) == 0.0) is stays


def test_fleuret_prox_update_is_soft_thresholding():
    # Fleuret's lecture: p.sub_(p.sign() * p.abs().clamp(max=λ)).
    w = torch.randn(1000, generator=torch.Generator().manual_seed(5))
    lam = 0.2
    theirs = w.clone()
    theirs.sub_(theirs.sign() * theirs.abs().clamp(max=lam))
    torch.testing.assert_close(theirs, soft_threshold(w, lam))


# --- Biases are not penalized (sections 1 and 5) ------------------------------------------


@pytest.mark.parametrize("make", [ConvNet, lambda: MLP(784, [16, 8], 10)])
def test_biases_are_in_the_unpenalized_group(make):
    model = make()
    penalized, unpenalized = split_parameters(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert unpenalized and all(names[id(p)].endswith("bias") for p in unpenalized)
    assert penalized and all(names[id(p)].endswith("weight") for p in penalized)
    assert len(penalized) + len(unpenalized) == len(list(model.parameters()))
    groups = param_groups(model, 0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in unpenalized}


def test_param_groups_decay_weights_but_leave_biases():
    torch.manual_seed(0)
    model = MLP(4, [5], 3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(param_groups(model, 0.1), lr=1.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        if n.endswith("bias"):
            torch.testing.assert_close(p.detach(), before[n])
        else:
            torch.testing.assert_close(p.detach(), 0.9 * before[n])


def test_l2_penalty_of_a_model_leaves_biases_out_but_parameters_does_not():
    torch.manual_seed(0)
    model = MLP(4, [5], 3)
    weights_only = sum(float((p.detach() ** 2).sum()) for n, p in model.named_parameters() if n.endswith("weight"))
    everything = sum(float((p.detach() ** 2).sum()) for p in model.parameters())
    assert float(l2_penalty(model).detach()) == pytest.approx(weights_only, rel=1e-6)
    assert float(l2_penalty(model.parameters()).detach()) == pytest.approx(everything, rel=1e-6)
    assert everything > weights_only


# --- Penalizing representations (section 9) ----------------------------------------------


def test_activation_l1_gradient_pushes_active_units_toward_zero():
    # d/dh λ Σ|h| = λ sign(h): a constant pull on every active (positive) ReLU output.
    h = torch.tensor([0.0, 0.5, 2.0], requires_grad=True)
    (0.3 * h.abs().sum()).backward()
    torch.testing.assert_close(h.grad, torch.tensor([0.0, 0.3, 0.3]))


# --- The chapter checks its own agreement claims (section 6) ------------------------------


def test_chapter_asserts_its_agreement_with_the_source_at_full_fidelity():
    # The reproduction is too slow for the test suite (it runs in fast mode), so the chapter
    # asserts its claims itself, in a hidden cell, whenever it runs at full fidelity (the
    # website build). This test keeps that cell, and the tolerance the prose states, in place.
    from pathlib import Path

    import nbformat

    path = Path(__file__).resolve().parents[1] / "book" / "01_penalties.ipynb"
    nb = nbformat.read(path, as_version=4)
    checks = [
        c for c in nb.cells
        if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])
        and "FLEURET_L2" in c.source and "if not regopt.config.fast():" in c.source
    ]
    assert len(checks) == 1, "the hidden full-fidelity assertion cell of Experiment A is missing"
    assert "<= 0.02" in checks[0].source
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "within 0.02 of the lecture" in prose


# --- The penalty's convention (book/notation.md) -------------------------------------------


def _train_linear(penalty, steps: int = 30) -> torch.Tensor:
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y) + penalty(model.weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.weight.detach().clone()


@pytest.mark.parametrize("lam_source", [1e-3, 0.05])
def test_source_lambda_without_half_is_twice_the_course_lambda(lam_source):
    # A source's λ_src ‖w‖² is the course's (λ/2) ‖w‖² with λ = 2 λ_src: the same weights.
    theirs = _train_linear(lambda w: lam_source * l2_penalty(w))
    ours = _train_linear(lambda w: (2 * lam_source) / 2 * l2_penalty(w))
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-6)
    # ... and the same λ under the two conventions is a different run (the test can fail).
    same_number = _train_linear(lambda w: lam_source / 2 * l2_penalty(w))
    assert float((theirs - same_number).abs().max()) > 1e-5


def test_course_lambda_is_sgd_weight_decay():
    # The course's Ω = ½‖w‖² makes λ equal to torch.optim.SGD's weight_decay.
    lam = 0.05
    penalized = _train_linear(lambda w: lam / 2 * l2_penalty(w))
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)
    opt = torch.optim.SGD([{"params": [model.weight], "weight_decay": lam},
                           {"params": [model.bias], "weight_decay": 0.0}], lr=0.2)
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.testing.assert_close(model.weight.detach(), penalized, rtol=1e-5, atol=1e-6)


def test_proximal_step_zeroes_exactly_when_the_gradient_step_lands_within_the_threshold():
    # Chapter 1: with the proximal step, w becomes exactly 0 iff |w − ηg| ≤ ηλ.
    eta, lam = 0.1, 0.5
    for w0, grad in [(0.02, 0.1), (0.02, -0.4), (0.3, 0.1), (-0.01, 0.2), (0.0, 0.6)]:
        w = torch.tensor([w0 - eta * grad], dtype=torch.float64)
        prox_l1_(w, eta * lam)
        assert (float(w) == 0.0) is (abs(w0 - eta * grad) <= eta * lam)


# --- Issue 25: what the chapter now claims, checked ---------------------------------------


def _lasso_by_proximal_gradient(x: torch.Tensor, y: torch.Tensor, lam: float, steps: int = 20_000) -> torch.Tensor:
    # argmin_w 1/(2N) ‖Xw − y‖² + λ‖w‖₁ by proximal gradient steps (ISTA), step 1/L.
    n = len(y)
    step = 1.0 / float(torch.linalg.matrix_norm(x, ord=2) ** 2 / n)
    w = torch.zeros(x.shape[1], dtype=x.dtype)
    for _ in range(steps):
        w = soft_threshold(w - step * x.T @ (x @ w - y) / n, step * lam)
    return w


def test_l1_coordinates_whose_slope_is_below_lambda_are_exactly_zero():
    # Fleuret 5.4: for a convex loss L and w* = argmin L + λ‖w‖₁, |∂L/∂w_d(w*)| < λ ⟹ w*_d = 0;
    # a nonzero coordinate has ∂L/∂w_d(w*) = −λ sign(w*_d).
    g = torch.Generator().manual_seed(8)
    x = torch.randn(40, 12, generator=g, dtype=torch.float64)
    y = x[:, :3] @ torch.tensor([2.0, -1.5, 0.8], dtype=torch.float64) + 0.3 * torch.randn(40, generator=g,
                                                                                          dtype=torch.float64)
    lam = 0.2
    w = _lasso_by_proximal_gradient(x, y, lam)
    slope = x.T @ (x @ w - y) / len(y)
    zero = w == 0
    assert 0 < int(zero.sum()) < len(w)  # the instance has both kinds of coordinates
    assert torch.all(slope[~zero].abs() > lam - 1e-6)
    torch.testing.assert_close(slope[~zero], -lam * torch.sign(w[~zero]), rtol=0, atol=1e-8)
    assert torch.all(zero[slope.abs() < lam - 1e-6])


def test_a_small_slope_at_zero_makes_zero_only_a_local_minimizer_without_convexity():
    # Chapter 1, section 4: |L'(0)| < λ makes 0 a local minimizer of L + λ|w| for any smooth L;
    # for a non-convex L the global minimizer can lie elsewhere.
    def loss(w):
        return 0.1 * w**2 - 3.0 * np.exp(-((w - 2.0) ** 2))

    lam = 0.5
    slope_at_zero = 6.0 * (0.0 - 2.0) * math.exp(-4.0)  # d/dw of the loss at 0
    assert abs(slope_at_zero) < lam
    objective = loss(GRID) + lam * np.abs(GRID)
    near = np.abs(GRID) <= 0.05
    assert grid_argmin(np.where(near, objective, np.inf)) == pytest.approx(0.0, abs=2e-5)  # a local minimizer
    assert grid_argmin(objective) > 1.5  # the global one is elsewhere
    assert objective.min() < loss(0.0) - 1.0


def test_with_momentum_an_l2_penalty_is_not_weight_decay():
    # Plain SGD: θ − η(g + λθ) is the decay (1 − ηλ)θ − ηg. With momentum μ, torch's weight_decay
    # (the L2 penalty's gradient, through the velocity) and a decoupled decay differ.
    h = torch.diag(torch.tensor([3.0, 0.5, 0.05], dtype=torch.float64))
    target = torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64)
    lam, lr, steps = 0.1, 0.05, 30

    def grad(theta):
        return h @ (theta - target)

    for mu in (0.0, 0.9):
        p = nn.Parameter(torch.ones(3, dtype=torch.float64))
        opt = torch.optim.SGD([p], lr=lr, momentum=mu, weight_decay=lam)
        l2 = torch.ones(3, dtype=torch.float64)
        v_l2 = torch.zeros(3, dtype=torch.float64)
        decoupled = torch.ones(3, dtype=torch.float64)
        v_dec = torch.zeros(3, dtype=torch.float64)
        for _ in range(steps):
            p.grad = grad(p.detach())
            opt.step()
            v_l2 = mu * v_l2 + grad(l2) + lam * l2
            l2 = l2 - lr * v_l2
            v_dec = mu * v_dec + grad(decoupled)
            decoupled = decoupled - lr * v_dec - lr * lam * decoupled
        torch.testing.assert_close(p.detach(), l2)  # torch's weight_decay is the L2 penalty
        gap = float((l2 - decoupled).abs().max())
        if mu == 0.0:
            assert gap < 1e-12  # plain SGD: the L2 penalty is weight decay
        else:
            assert gap > 1e-2  # with momentum it is not


def test_sgd_never_changes_the_part_of_w_the_training_inputs_do_not_span():
    # Krogh and Hertz (1992), the mechanism of chapter 1's d > N regression: the squared loss's
    # gradient lies in the span of the inputs, so without a penalty the orthogonal part of w keeps
    # its initial value; weight decay multiplies it by (1 − ηλ) every step.
    g = torch.Generator().manual_seed(9)
    d, n, lr, steps = 30, 6, 0.01, 200
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    w0 = torch.randn(d, 1, generator=g, dtype=torch.float64)
    span = torch.linalg.qr(x.T).Q

    def null_part(v):
        return v - span @ (span.T @ v)

    for lam in (0.0, 2.0):
        w = w0.clone()
        for step in range(steps):
            rows = [step % n, (step + 1) % n]  # minibatches of 2
            w = w - lr * (x[rows].T @ (x[rows] @ w - y[rows]) / 2 + lam * w)
        torch.testing.assert_close(null_part(w), (1 - lr * lam) ** steps * null_part(w0))
    assert float(null_part(w0).norm()) > 0.5 * float(w0.norm())


def test_the_chapter_no_longer_claims_that_proximal_zeros_stay_put():
    # Issue 25, item 16: the run changes signs and leaves zeros; captions and text say what is true.
    from pathlib import Path

    import nbformat

    path = Path(__file__).resolve().parents[1] / "book" / "01_penalties.ipynb"
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    captions = "\n".join(str(c.metadata.get("mystnb", {})) for c in nb.cells)
    for claim in ("no sign flipping", "where they stay", "rises steadily", "λx²", "λ|x|"):
        assert claim not in text and claim not in captions, claim
    assert "The thresholding itself never changes a sign" in text
    assert "seed standard deviations" in text  # agreement with the lecture stated in seed noise
