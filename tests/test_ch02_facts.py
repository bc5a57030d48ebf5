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
