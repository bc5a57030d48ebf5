"""The facts chapter 3 (book/03_dropout.ipynb) relies on, recomputed independently.

Each named claim the chapter glues (``bootstrap_unique_fraction``, ``ensemble_mse_formula``,
``ensemble_mse_simulated``, ``weight_scaling_softmax_gap``, ``linear_network_gap``,
``dropout_linreg_identity_gap``, ``stretch_dropout_moves``) is checked here with its own code (NumPy
loops over masks instead of the chapter's batched torch enumeration), within the tolerance the
chapter states; so are the identities the prose uses (where weight scaling is exact, what the
data-scaled ridge penalty does, self-check 6's two ends of p).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

import regopt

# --- 1. Bagging ---------------------------------------------------------------------------


def test_bootstrap_sample_holds_about_63_percent_of_the_examples():
    rng = np.random.default_rng(12345)
    n = 10_000
    fractions = [len(np.unique(rng.integers(0, n, size=n))) / n for _ in range(20)]
    assert 0.625 <= float(np.mean(fractions)) <= 0.640
    # The expectation 1 - (1 - 1/N)^N, and its limit 1 - 1/e, lie in the same band.
    assert 0.625 <= 1 - (1 - 1 / n) ** n <= 0.640
    assert 1 - (1 - 1 / n) ** n == pytest.approx(1 - math.exp(-1), abs=1e-4)


def ensemble_mse_by_covariance(v: float, c: float, k: int) -> float:
    # Var(mean of k errors) = 1ᵀ Σ 1 / k² with Σ = c 11ᵀ + (v - c) I.
    sigma = np.full((k, k), c) + (v - c) * np.eye(k)
    return float(np.ones(k) @ sigma @ np.ones(k)) / k**2


def test_ensemble_mse_formula_is_0_37_for_v1_c03_k10():
    assert ensemble_mse_by_covariance(1.0, 0.3, 10) == pytest.approx(0.37, abs=1e-4)
    # Its limits: v/k for independent errors, v for identical ones.
    assert ensemble_mse_by_covariance(1.0, 0.0, 10) == pytest.approx(0.1)
    assert ensemble_mse_by_covariance(1.0, 1.0, 10) == pytest.approx(1.0)


def test_ensemble_mse_simulated_is_within_0_02_of_the_formula():
    rng = np.random.default_rng(7)
    k, v, c = 10, 1.0, 0.3
    sigma = np.full((k, k), c) + (v - c) * np.eye(k)
    errors = rng.multivariate_normal(np.zeros(k), sigma, size=100_000)
    assert abs(float((errors.mean(axis=1) ** 2).mean()) - 0.37) <= 0.02


def test_ensemble_identity_holds_exactly_for_measured_moments():
    # For any error vectors, the mean over examples of ||mean_i ε_i||² equals v̄/k + (k-1)c̄/k with the
    # empirical v̄ (mean ||ε_i||²) and c̄ (mean ε_i·ε_j over i ≠ j): the chapter's MNIST check.
    rng = np.random.default_rng(3)
    eps = rng.normal(size=(5, 300, 10)) + rng.normal(size=(1, 300, 10))
    k = eps.shape[0]
    inner = np.einsum("ink,jnk->ijn", eps, eps).mean(axis=2)
    v_bar = np.trace(inner) / k
    c_bar = (inner.sum() - np.trace(inner)) / (k * (k - 1))
    ensemble = float((eps.mean(axis=0) ** 2).sum(axis=1).mean())
    assert ensemble == pytest.approx(v_bar / k + (k - 1) / k * c_bar, rel=1e-12)


# --- 2. Dropout conventions ---------------------------------------------------------------


def test_torch_dropout_takes_the_drop_probability_and_rescales_by_the_keep_probability():
    torch.manual_seed(0)
    keep = 0.8
    out = nn.Dropout(1 - keep).train()(torch.ones(400_000))
    assert float((out != 0).float().mean()) == pytest.approx(keep, abs=0.005)
    assert torch.allclose(out.unique(), torch.tensor([0.0, 1 / keep]))  # survivors scaled by 1/p
    assert float(out.mean()) == pytest.approx(1.0, abs=0.01)  # inverted dropout: E = h


# --- 3. Exact results ---------------------------------------------------------------------


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("p", [0.5, 0.3, 0.9])
def test_weight_scaling_is_the_geometric_mean_for_softmax_regression(p):
    rng = np.random.default_rng(11)
    n, classes = 10, 3
    W, b = rng.normal(size=(classes, n)), rng.normal(size=classes)
    for x in rng.normal(size=(4, n)):
        log_mean = np.zeros(classes)
        arithmetic = np.zeros(classes)
        total = 0.0
        for mask in itertools.product((0, 1), repeat=n):
            r = np.array(mask, dtype=float)
            weight = p ** r.sum() * (1 - p) ** (n - r.sum())
            log_probs = log_softmax(W @ (r * x) + b)
            log_mean += weight * log_probs
            arithmetic += weight * np.exp(log_probs)
            total += weight
        assert total == pytest.approx(1.0, abs=1e-12)
        geometric = np.exp(log_softmax(log_mean))
        scaled = np.exp(log_softmax(W @ (p * x) + b))
        assert np.abs(geometric - scaled).max() <= 1e-9
        assert np.abs(arithmetic - scaled).max() > 1e-4  # the identity is about the geometric mean only


@pytest.mark.parametrize("p", [0.3, 0.5, 0.8])
def test_dropout_linear_regression_identity_by_enumeration(p):
    rng = np.random.default_rng(5)
    X, y, w = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=4)
    lhs = 0.0
    for mask in itertools.product((0, 1), repeat=X.size):
        R = np.array(mask, dtype=float).reshape(X.shape)
        lhs += p ** R.sum() * (1 - p) ** (R.size - R.sum()) * float(((y - (R * X) @ w) ** 2).sum())
    gamma = np.sqrt(np.diag(X.T @ X))
    rhs = float(((y - p * X @ w) ** 2).sum() + p * (1 - p) * ((gamma * w) ** 2).sum())
    assert abs(lhs - rhs) / abs(rhs) <= 1e-9


def test_dropout_linear_regression_minimizer_is_ridge_with_data_scaled_penalty():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(50, 4)) * np.array([0.5, 1.0, 2.0, 4.0])
    X[:, 1] += 0.5 * X[:, 0]  # correlated features: the factors are no longer all p
    y = X @ rng.normal(size=4) + rng.normal(size=50)
    p = 0.6
    gamma_sq = np.diag(np.diag(X.T @ X))
    w = np.linalg.solve(p * X.T @ X + (1 - p) * gamma_sq, X.T @ y)
    # w minimizes ||y - pXw||² + p(1-p)||Γw||²: the gradient vanishes there.
    gradient = -2 * p * X.T @ (y - p * X @ w) + 2 * p * (1 - p) * gamma_sq @ w
    assert np.abs(gradient).max() < 1e-8
    # The test-time weights pw are ridge with penalty (1-p)/p ||X_{:,j}||² on weight j.
    ridge = np.linalg.solve(X.T @ X + (1 - p) / p * gamma_sq, X.T @ y)
    assert np.allclose(p * w, ridge, atol=1e-10)


def normalized_geometric_mean(log_probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """exp(sum_r P(r) log P(. | r)), renormalized over the last axis."""
    mean_log = np.tensordot(weights, log_probs, axes=1)
    return np.exp(log_softmax(mean_log))


def masks_and_weights(n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    masks = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
    kept = masks.sum(axis=1)
    return masks, p**kept * (1 - p) ** (n - kept)


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_weight_scaling_is_exact_for_a_network_without_nonlinearities(p):
    # Goodfellow et al. 7.12: deep networks whose hidden layers have no nonlinearity. Dropout on the
    # 4 inputs and the 5 hidden units of a linear 4-5-3 network, every one of the 2^9 mask pairs.
    rng = np.random.default_rng(21)
    U, a, V, b = rng.normal(size=(5, 4)), rng.normal(size=5), 2 * rng.normal(size=(3, 5)), rng.normal(size=3)
    x = rng.normal(size=4)
    input_masks, input_weights = masks_and_weights(4, p)
    hidden_masks, hidden_weights = masks_and_weights(5, p)
    log_probs, weights = [], []
    for r1, w1 in zip(input_masks, input_weights):
        for r2, w2 in zip(hidden_masks, hidden_weights):
            log_probs.append(log_softmax(V @ (r2 * (U @ (r1 * x) + a)) + b))
            weights.append(w1 * w2)
    geometric = normalized_geometric_mean(np.array(log_probs), np.array(weights))
    scaled = np.exp(log_softmax(V @ (p * (U @ (p * x) + a)) + b))
    assert np.abs(geometric - scaled).max() <= 1e-10
    # With a ReLU between the masks and the output the identity fails (the chapter's approximation).
    relu_log_probs = [
        log_softmax(V @ (r2 * np.maximum(U @ (r1 * x) + a, 0)) + b) for r1 in input_masks for r2 in hidden_masks
    ]
    relu_geometric = normalized_geometric_mean(np.array(relu_log_probs), np.array(weights))
    relu_scaled = np.exp(log_softmax(V @ (p * np.maximum(U @ (p * x) + a, 0)) + b))
    assert np.abs(relu_geometric - relu_scaled).max() > 1e-3


def test_weight_scaling_is_exact_for_a_conditionally_gaussian_output():
    # Goodfellow et al. 7.12: regression with output N(y; mu(r), s^2), mu linear in the mask. The
    # normalized geometric mean of the 2^6 Gaussians, on a grid of y, is N(y; mu(p 1), s^2).
    rng = np.random.default_rng(8)
    w, b, x, s, p = rng.normal(size=6), 0.3, rng.normal(size=6), 0.7, 0.4
    masks, weights = masks_and_weights(6, p)
    y = np.linspace(-8, 8, 4001)
    mu = masks @ (w * x) + b  # one mean per mask
    log_densities = -((y[None, :] - mu[:, None]) ** 2) / (2 * s**2)  # up to a constant
    geometric = normalized_geometric_mean(log_densities, weights)  # normalized over the grid
    scaled = np.exp(log_softmax(-((y - (w @ (p * x) + b)) ** 2) / (2 * s**2)))
    assert np.abs(geometric - scaled).max() <= 1e-12 * scaled.max() + 1e-15
    # The arithmetic mean of the same Gaussians is a mixture, wider than the weight-scaled one.
    mixture = weights @ np.exp(log_densities)
    mixture /= mixture.sum()
    assert (mixture * (y - (mixture * y).sum()) ** 2).sum() > (scaled * (y - (scaled * y).sum()) ** 2).sum()


def dropout_ridge(X: np.ndarray, y: np.ndarray, p: float) -> np.ndarray:
    gram = X.T @ X
    return np.linalg.solve(gram + (1 - p) / p * np.diag(np.diag(gram)), X.T @ y)


def test_dropout_ridge_is_ordinary_ridge_on_normalized_features_and_ignores_feature_scales():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(40, 4)) * np.array([0.2, 1.0, 3.0, 10.0])
    X[:, 2] += 0.8 * X[:, 1]  # correlated features
    y = X @ rng.normal(size=4) + rng.normal(size=40)
    p = 0.5
    w = dropout_ridge(X, y, p)
    # In normalized coordinates z_j = X_j / ||X_j||, u_j = ||X_j|| w_j: ridge with lambda = (1-p)/p.
    norms = np.linalg.norm(X, axis=0)
    Z = X / norms
    u = np.linalg.solve(Z.T @ Z + (1 - p) / p * np.eye(4), Z.T @ y)
    assert np.allclose(norms * w, u, atol=1e-10)
    # Stretching a feature leaves the fitted predictions unchanged (the weight absorbs the factor)...
    stretch = np.array([50.0, 1.0, 1.0, 0.1])
    assert np.allclose((X * stretch) @ dropout_ridge(X * stretch, y, p), X @ w, atol=1e-9)

    # ... which ridge with one lambda for every weight does not do.
    def one_lambda(A):
        return np.linalg.solve(A.T @ A + 10.0 * np.eye(4), A.T @ y)

    assert np.abs((X * stretch) @ one_lambda(X * stretch) - X @ one_lambda(X)).max() > 1e-2


def test_dropout_ridge_scales_orthogonal_features_by_exactly_p_whatever_their_scale():
    rng = np.random.default_rng(10)
    Q, _ = np.linalg.qr(rng.normal(size=(30, 4)))
    X = Q * np.array([0.1, 1.0, 5.0, 40.0])  # orthogonal columns of very different norms
    y = rng.normal(size=30)
    w_ols = np.linalg.solve(X.T @ X, X.T @ y)
    for p in (0.2, 0.5, 0.9):
        assert np.allclose(dropout_ridge(X, y, p) / w_ols, p, atol=1e-10)


def test_dropout_penalty_at_both_ends_of_p_self_check_6():
    # The penalty p(1-p)||Γw||² on the training-time weights vanishes at both ends of p; the ridge
    # strength (1-p)/p on the test-time weights vanishes only as p -> 1 and drives them to 0 as p -> 0.
    rng = np.random.default_rng(12)
    X, y, w = rng.normal(size=(20, 3)), rng.normal(size=20), rng.normal(size=3)
    gamma_sq = np.diag(X.T @ X)
    for p in (1e-6, 1 - 1e-6):
        assert p * (1 - p) * (gamma_sq * w**2).sum() < 1e-4
    norms = [np.linalg.norm(dropout_ridge(X, y, p)) for p in (0.999999, 0.5, 0.1, 1e-3, 1e-6)]
    assert np.linalg.norm(dropout_ridge(X, y, 0.999999) - np.linalg.solve(X.T @ X, X.T @ y)) < 1e-4
    assert all(a > b for a, b in zip(norms, norms[1:])) and norms[-1] < 1e-4


# --- 4. MNIST (the smallest setting where the claim robustly holds) -----------------------


def test_dropout_holds_up_the_training_error_on_mnist():
    data = regopt.load_mnist(n_train=1000, n_test=200)
    if data.source != "MNIST":
        pytest.skip("MNIST not available: the chapter's MNIST claims do not apply to the digits fallback")
    errors = {}
    for drop in (0.0, 0.5):
        regopt.set_seed(0)
        model = regopt.MLP(784, [256, 256], 10, dropout=drop)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        history = regopt.fit(model, data, optimizer, epochs=5, eval_train=True, progress=False)
        errors[drop] = history.final["train_error"]
    assert errors[0.0] < errors[0.5]


def test_widening_to_n_over_p_multiplies_the_weights_by_about_2_5():
    # Section 4 keeps the recipe at 256 units: 512 = 256/p (p = 0.5) would cost ~2.5x per step,
    # the factor the chapter glues as recipe_wide_cost (forward and backward scale with weights).
    def n_weights(width: int) -> int:
        sizes = [784, width, width, 10]
        return sum(a * b + b for a, b in zip(sizes, sizes[1:]))

    assert n_weights(256) == 269_322 and n_weights(512) == 669_706
    assert n_weights(512) / n_weights(256) == pytest.approx(2.49, abs=0.005)
