"""Unit tests of regopt.hessian: Hessians and Hessian-vector products of a loss."""

import pytest
import torch
from torch import nn

from regopt.hessian import (
    assign_flat_parameters_,
    flat_parameters,
    hessian,
    hessian_vector_product,
    loss_function,
)


def _linear_problem(n=40, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    return model, x, y


def _tiny_mlp(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(30, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (30,), generator=g)
    return model, x, y


def test_flat_parameters_round_trip_and_order():
    model, _, _ = _tiny_mlp()
    flat = flat_parameters(model)
    assert flat.shape == (sum(p.numel() for p in model.parameters()),)
    # First entries are the first layer's weight, row by row.
    assert torch.equal(flat[:12], model[0].weight.detach().reshape(-1))
    new = torch.arange(flat.numel(), dtype=torch.float64)
    assign_flat_parameters_(model, new)
    assert torch.equal(flat_parameters(model), new)
    # flat_parameters is a copy: changing the model does not change it.
    assert not torch.equal(flat, new)


def test_loss_function_matches_model_loss():
    model, x, y = _tiny_mlp()
    risk = loss_function(model, x, y)
    expected = nn.functional.cross_entropy(model(x), y)
    assert torch.allclose(risk(flat_parameters(model)), expected)
    # Evaluating at other parameters does not modify the model.
    before = flat_parameters(model)
    risk(torch.zeros_like(before))
    assert torch.equal(flat_parameters(model), before)


def test_hessian_of_least_squares_is_two_xtx_over_n():
    # mean((x w - y)^2) has Hessian 2 X^T X / n, whatever w.
    model, x, y = _linear_problem()
    H = hessian(model, x, y)
    assert torch.allclose(H, 2 * x.T @ x / len(x), atol=1e-12)
    H_elsewhere = hessian(model, x, y, at=torch.ones(5, dtype=torch.float64))
    assert torch.allclose(H_elsewhere, H, atol=1e-12)


def test_hessian_at_another_point_is_the_hessian_there():
    # A non-quadratic loss, so the Hessian depends on the point: `at` must be used, and the
    # model's own parameters left alone.
    model, x, y = _tiny_mlp()
    here = flat_parameters(model)
    there = here + 0.5 * torch.randn(here.shape, generator=torch.Generator().manual_seed(3), dtype=here.dtype)
    H_there = hessian(model, x, y, at=there)
    assert torch.equal(flat_parameters(model), here)
    assert not torch.allclose(H_there, hessian(model, x, y), atol=1e-3)
    moved, _, _ = _tiny_mlp()
    assign_flat_parameters_(moved, there)
    assert torch.allclose(H_there, hessian(moved, x, y), atol=1e-12)


def test_hessian_is_symmetric_and_matches_finite_differences_of_gradient():
    model, x, y = _tiny_mlp()
    theta = flat_parameters(model)
    H = hessian(model, x, y)
    assert torch.equal(H, H.T)
    risk = loss_function(model, x, y)
    g = torch.func.grad(risk)
    step = 1e-6
    for i in (0, 7, theta.numel() - 1):
        e = torch.zeros_like(theta)
        e[i] = step
        column = (g(theta + e) - g(theta - e)) / (2 * step)
        assert torch.allclose(H[:, i], column, atol=1e-6)


def test_hessian_vector_product_equals_matrix_product():
    model, x, y = _tiny_mlp(seed=3)
    H = hessian(model, x, y)
    hvp = hessian_vector_product(model, x, y)
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        v = torch.randn(H.shape[0], generator=g, dtype=torch.float64)
        assert torch.allclose(hvp(v), H @ v, atol=1e-12)


def test_hessian_vector_product_with_squared_error_and_repeated_calls():
    # mse_loss has no forward-mode derivative of its backward: a regression once failed here.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(25, 3, generator=g, dtype=torch.float64)
    y = torch.randn(25, 1, generator=g, dtype=torch.float64)
    H = hessian(model, x, y)
    hvp = hessian_vector_product(model, x, y)
    basis = torch.eye(H.shape[0], dtype=torch.float64)
    # Every column, one call each through the same function: H e_i is column i.
    assert torch.allclose(torch.stack([hvp(e) for e in basis], 1), H, atol=1e-12)
    at = flat_parameters(model) + 0.1
    assert torch.allclose(hessian_vector_product(model, x, y, at=at)(basis[0]), hessian(model, x, y, at=at)[:, 0],
                          atol=1e-12)


def test_custom_loss_function_is_used():
    model, x, y = _linear_problem()
    half_sse = lambda out, target: 0.5 * ((out - target) ** 2).sum()  # noqa: E731
    H = hessian(model, x, y, loss_fn=half_sse)
    assert torch.allclose(H, x.T @ x, atol=1e-10)


def test_input_validation_names_the_bad_value():
    model, x, y = _tiny_mlp()
    size = flat_parameters(model).numel()
    with pytest.raises(ValueError, match=rf"expected \({size},\)"):
        assign_flat_parameters_(model, torch.zeros(size + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="rows"):
        loss_function(model, x, y[:-1])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        flat_parameters("not a model")
    hvp = hessian_vector_product(model, x, y)
    with pytest.raises(ValueError, match="v has shape"):
        hvp(torch.zeros(size - 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="dtype"):
        hvp(torch.zeros(size, dtype=torch.float32))
    frozen = nn.Linear(2, 1)
    frozen.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        flat_parameters(frozen)
