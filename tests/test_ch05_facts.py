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


def pgd_example(model, x, y, eps, steps=10):
    x_adv = x.clone()
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


def test_pgd_is_at_least_as_strong_as_fgsm(mnist, clean_mlp):
    _, _, x_test, y_test = mnist
    x, y = x_test[:500], y_test[:500]
    fgsm_error = error(clean_mlp, fgsm_example(clean_mlp, x, y, 0.1), y)
    pgd_error = error(clean_mlp, pgd_example(clean_mlp, x, y, 0.1), y)
    assert pgd_error - fgsm_error >= 0.0
    assert fgsm_error > 0.2  # the comparison is made where the attack matters


def test_pgd_stays_in_the_ball_and_the_pixel_range(mnist, clean_mlp):
    _, _, x_test, y_test = mnist
    x = x_test[:50]
    x_adv = pgd_example(clean_mlp, x, y_test[:50], 0.1)
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


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
                 "advtrain_time_ratio"):
        assert re.search(rf'glue\("{name}",', code), f"{name} is not glued"
    checks = [c.source for c in nb.cells if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])
              and "fgsm_logistic_gap <= 1e-6" in c.source]
    assert len(checks) == 1
    for tolerance in ("fgsm_softmax_error_eps025 >= 0.90", "pgd_minus_fgsm_error >= 0.0", "advtrain_gain >= 0.05"):
        assert tolerance in checks[0]
