"""The claims chapter 5 (book/05_adversarial.ipynb) glues, recomputed independently.

Each named result of the chapter is checked here by its own computation, written again
from the definitions (no code is imported from the notebook): the closed form of FGSM on a
logistic regression, a softmax regression's error under FGSM at ε = 0.25 on MNIST, PGD
against FGSM on the same model, and the gain of adversarial training. Training claims run at
the smallest size where they hold robustly; MNIST claims are skipped when the loader fell back
to scikit-learn's digits.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import regopt

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "05_adversarial.ipynb"


def unit_pixels(dataset):
    low, high = dataset.x_train.min(), dataset.x_train.max()
    return [((x - low) / (high - low)).clamp(0, 1) for x in (dataset.x_train, dataset.x_test)]


@pytest.fixture(scope="module")
def mnist():
    dataset = regopt.load_mnist(n_train=5000, n_test=2000, seed=0)
    if dataset.source != "MNIST":
        pytest.skip("MNIST is not available (the loader fell back to the 8x8 digits)")
    x_train, x_test = unit_pixels(dataset)
    return x_train, dataset.y_train, x_test, dataset.y_test


def fgsm_example(model, x, y, eps):
    x = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def pgd_example(model, x, y, eps, steps=10, random_start=True, seed=0):
    """Madry et al.'s PGD (a uniformly random start in the ball); random_start=False is Kurakin et al.'s BIM."""
    x_adv = x.clone()
    if random_start:
        u = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed))
        x_adv = (x + eps * (2 * u - 1)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = x_adv.detach() + 2.5 * eps / steps * grad.sign()
        x_adv = torch.clamp(torch.clamp(x_adv, x - eps, x + eps), 0, 1)
    return x_adv


def error(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) != y).float().mean())


def train(model, x, y, epochs, adversarial_eps=None, seed=0):
    regopt.set_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for index in torch.randperm(len(x), generator=order).split(100):
            xb, yb = x[index], y[index]
            loss = F.cross_entropy(model(xb), yb)
            if adversarial_eps is not None:  # the source's α = 0.5 mix of clean and FGSM examples
                loss = 0.5 * loss + 0.5 * F.cross_entropy(model(fgsm_example(model, xb, yb, adversarial_eps)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


# --- fgsm_logistic_gap: the closed form of FGSM on logistic regression ---------------------


def test_fgsm_on_logistic_regression_equals_the_closed_form():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(500, 784, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(500, generator=g) < 0.5, 1.0, -1.0).double()
    w = 0.05 * torch.randn(784, generator=g, dtype=torch.float64)
    b = torch.tensor(0.3, dtype=torch.float64)
    eps = 0.25
    x_grad = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(F.softplus(-y * (x_grad @ w + b)).sum(), x_grad)
    autograd_loss = F.softplus(-y * ((x + eps * grad.sign()) @ w + b))
    closed_form = F.softplus(eps * w.abs().sum() - y * (x @ w + b))
    assert float((autograd_loss - closed_form).abs().max()) <= 1e-6


def test_fgsm_is_the_worst_perturbation_in_the_ball_for_logistic_regression():
    # No other corner (random signs) of the L∞ ball reaches the closed-form loss.
    g = torch.Generator().manual_seed(1)
    x, w, eps = torch.rand(784, generator=g, dtype=torch.float64), torch.randn(784, generator=g, dtype=torch.float64), 0.1
    worst = float(F.softplus(eps * w.abs().sum() - (x @ w)))
    signs = torch.where(torch.rand(2000, 784, generator=g) < 0.5, 1.0, -1.0).double()
    others = F.softplus(-((x + eps * signs) @ w))
    assert float(others.max()) < worst


# --- l1_gradient_gap: adversarial training of logistic regression is an L1 penalty inside the softplus ---


def test_adversarial_logistic_loss_is_an_l1_penalty_inside_the_softplus():
    # Goodfellow et al. (2015), section 5: max over the ball of ζ(−y(wᵀ(x + Δx) + b)) is ζ(ε‖w‖₁ − y(wᵀx + b));
    # its gradient is ζ'(·)(ε sign(w) − y x), an L1 subgradient of strength ε ζ'(·) per example, and the loss
    # never exceeds chapter 1's L1-penalized loss with λ = ε (ζ has slope below 1).
    g = torch.Generator().manual_seed(2)
    x = torch.rand(300, 50, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(300, generator=g) < 0.5, 1.0, -1.0).double()
    w = torch.randn(50, generator=g, dtype=torch.float64).requires_grad_(True)
    b, eps = 0.2, 0.1
    score = y * (x @ w + b)
    adversarial = F.softplus(eps * w.abs().sum() - score)
    grad, = torch.autograd.grad(adversarial.mean(), w)
    slope = torch.sigmoid(eps * w.abs().sum() - score).detach()
    formula = (slope[:, None] * (eps * w.sign().detach() - y[:, None] * x)).mean(0)
    assert float((grad - formula).abs().max()) <= 1e-12
    l1_penalized = F.softplus(-score) + eps * w.abs().sum()
    assert bool((l1_penalized >= adversarial - 1e-12).all())
    # The worst case in the ball, found by brute force over random corners, never exceeds the closed form.
    signs = torch.where(torch.rand(4000, 50, generator=g) < 0.5, 1.0, -1.0).double()
    corners = F.softplus(-(y[0] * ((x[0] + eps * signs) @ w.detach() + b)))
    assert float(corners.max()) <= float(adversarial[0].detach()) + 1e-12


# --- fgsm_softmax_error_eps025 -------------------------------------------------------------


def test_softmax_regression_fails_under_fgsm_at_a_quarter(mnist):
    x_train, y_train, x_test, y_test = mnist
    model = train(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), x_train, y_train, epochs=5)
    assert error(model, x_test, y_test) < 0.15  # a real classifier first
    assert error(model, fgsm_example(model, x_test, y_test, 0.25), y_test) >= 0.90


# --- pgd_minus_fgsm_error and advtrain_gain --------------------------------------------------


@pytest.fixture(scope="module")
def clean_mlp(mnist):
    x_train, y_train, _, _ = mnist
    return train(regopt.MLP(784, [128], 10), x_train[:2000], y_train[:2000], epochs=3)


def test_pgd_and_bim_are_at_least_as_strong_as_fgsm(mnist, clean_mlp):
    _, _, x_test, y_test = mnist
    x, y = x_test[:500], y_test[:500]
    fgsm_error = error(clean_mlp, fgsm_example(clean_mlp, x, y, 0.1), y)
    pgd_error = error(clean_mlp, pgd_example(clean_mlp, x, y, 0.1), y)
    bim_error = error(clean_mlp, pgd_example(clean_mlp, x, y, 0.1, random_start=False), y)
    assert pgd_error - fgsm_error >= 0.0 and bim_error - fgsm_error >= 0.0
    assert fgsm_error > 0.2  # the comparison is made where the attack matters


def test_pgd_stays_in_the_ball_and_the_pixel_range(mnist, clean_mlp):
    _, _, x_test, y_test = mnist
    x = x_test[:50]
    for steps in (0, 10):  # the random start itself, and the end of the iteration
        x_adv = pgd_example(clean_mlp, x, y_test[:50], 0.1, steps=steps)
        assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
        assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert float((pgd_example(clean_mlp, x, y_test[:50], 0.1, steps=0) - x).abs().max()) > 0.05


def test_adversarial_training_lowers_the_fgsm_error(mnist, clean_mlp):
    x_train, y_train, x_test, y_test = mnist
    robust = train(regopt.MLP(784, [128], 10), x_train[:2000], y_train[:2000], epochs=3, adversarial_eps=0.25)
    x, y = x_test[:500], y_test[:500]
    before = error(clean_mlp, fgsm_example(clean_mlp, x, y, 0.25), y)
    after = error(robust, fgsm_example(robust, x, y, 0.25), y)
    assert before - after >= 0.05


# --- the chapter glues these names and asserts their tolerances -------------------------------


def test_chapter_glues_the_named_results_and_checks_them():
    nb = nbformat.read(CHAPTER, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for name in ("fgsm_logistic_gap", "fgsm_softmax_error_eps025", "pgd_minus_fgsm_error", "advtrain_gain",
                 "advtrain_time_ratio", "l1_gradient_gap"):
        assert re.search(rf'glue\("{name}",', code), f"{name} is not glued"
    checks = [c.source for c in nb.cells if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])
              and "fgsm_logistic_gap <= 1e-6" in c.source]
    assert len(checks) == 1
    for tolerance in ("fgsm_softmax_error_eps025 >= 0.90", "pgd_minus_fgsm_error >= 0.0", "advtrain_gain >= 0.05",
                      "l1_gradient_gap <= 1e-9"):
        assert tolerance in checks[0]
