"""The facts chapter 2 (book/02_quadratic_analysis.ipynb) states about early stopping and L2."""

from __future__ import annotations

import numpy as np
import pytest

H = np.diag([1.0, 0.1])
THETA_HAT = np.array([2.0, 1.0])


def ridge(lam: float) -> np.ndarray:
    return np.linalg.solve(H + lam * np.eye(2), H @ THETA_HAT)


def gd_path(eta: float, steps: int, momentum: float = 0.0) -> np.ndarray:
    theta, velocity, path = np.zeros(2), np.zeros(2), [np.zeros(2)]
    for _ in range(steps):
        velocity = momentum * velocity + H @ (theta - THETA_HAT)
        theta = theta - eta * velocity
        path.append(theta)
    return np.array(path)


def distance_to_l2_path(points: np.ndarray) -> float:
    l2 = np.array([ridge(lam) for lam in np.geomspace(1e4, 1e-5, 4000)])
    return max(float(np.linalg.norm(l2 - p, axis=1).min()) for p in points)


def test_early_stopping_filter_is_exact_for_plain_gradient_descent():
    eta, tau = 0.1, 37
    filt = 1 - (1 - eta * np.diag(H)) ** tau
    np.testing.assert_allclose(gd_path(eta, tau)[-1], filt * THETA_HAT, rtol=1e-12)


def test_plain_gd_with_small_steps_follows_the_l2_path():
    # Figure 7.4 of Goodfellow et al.: the two curves stay close under plain GD, small η.
    assert distance_to_l2_path(gd_path(0.1, 60)) < 0.25
    assert distance_to_l2_path(gd_path(0.01, 600)) < distance_to_l2_path(gd_path(0.1, 60)) + 1e-9


def test_momentum_breaks_the_equivalence():
    # With heavy-ball momentum the trajectory overshoots and leaves the L2 path far behind.
    assert distance_to_l2_path(gd_path(0.1, 60, momentum=0.9)) > 2 * distance_to_l2_path(gd_path(0.1, 60))


@pytest.mark.parametrize("tau", [5, 20, 80])
def test_lambda_one_over_tau_eta_gives_the_order_of_magnitude(tau):
    eta = 0.1
    gap = np.linalg.norm(gd_path(eta, tau)[-1] - ridge(1 / (tau * eta)))
    assert gap < 0.5 * np.linalg.norm(THETA_HAT)


def test_figure_7_4_gradient_descent_stops_short_of_the_minimum():
    # 60 steps of η = 0.1 from 0: θ₁ reaches 2(1 − 0.9⁶⁰) ≈ 2.00, θ₂ only 1 − 0.99⁶⁰ ≈ 0.45.
    end = gd_path(0.1, 60)[-1]
    np.testing.assert_allclose(end, [2 * (1 - 0.9**60), 1 - 0.99**60], rtol=1e-12)
    assert end[1] < 0.5 * THETA_HAT[1] and abs(end[0] - 2) < 0.01


def test_ridge_tends_to_the_pseudoinverse_on_an_under_constrained_problem():
    # Goodfellow et al. 7.3: with N < P, XᵀX is singular; (XᵀX + NλI)⁻¹Xᵀy → X⁺y as λ → 0.
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 15)), rng.standard_normal(6)
    pinv = np.linalg.pinv(X) @ y
    gaps = [np.abs(np.linalg.solve(X.T @ X / 6 + lam * np.eye(15), X.T @ y / 6) - pinv).max()
            for lam in (1e-2, 1e-4, 1e-6)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-4
    null = np.linalg.svd(X)[2][-1]  # a direction X does not see
    other = pinv + 2.0 * null
    np.testing.assert_allclose(X @ other, y, atol=1e-10)  # another exact fit...
    assert np.linalg.norm(other) > np.linalg.norm(pinv)  # ...with a larger norm


def test_a_penalized_minimum_need_not_be_a_minimum_of_the_loss_alone():
    # J(θ) = −θ²/2 + θ⁴/4 + λ₀θ²/2 around θ = 0 with λ₀ > 1: a minimum of the objective, where the
    # loss alone has negative curvature −1 and the objective's Hessian is −1 + λ₀ > 0.
    lam0 = 1.5
    def objective_second_derivative(theta):
        return -1 + 3 * theta**2 + lam0
    assert objective_second_derivative(0.0) > 0 and objective_second_derivative(0.0) - lam0 < 0
