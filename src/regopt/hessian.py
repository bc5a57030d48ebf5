r"""Hessians and Hessian-vector products of a model's training loss.

Chapter 2 analyses penalties through the second-order expansion of the
unregularized risk around a minimizer :math:`\hat\theta`,

.. math::

    R(\theta) \approx R(\hat\theta)
    + \tfrac12 (\theta - \hat\theta)^\top H (\theta - \hat\theta),
    \qquad H = \nabla^2 R(\hat\theta),

so it needs :math:`H` for a real (small) network. This module treats all of a
model's trainable parameters as one flat vector :math:`\theta \in \mathbb R^P`
(in the order of ``model.named_parameters()``) and gives

* :func:`flat_parameters` / :func:`assign_flat_parameters_`: the model's
  parameters as one vector, and back;
* :func:`loss_function`: :math:`\theta \mapsto R(\theta)`, the mean loss over a
  fixed data set, as a pure function (via :func:`torch.func.functional_call`);
* :func:`hessian`: the full :math:`P \times P` matrix :math:`\nabla^2 R(\theta)`
  (memory :math:`O(P^2)`: for models up to a few thousand parameters);
* :func:`hessian_vector_product`: :math:`v \mapsto \nabla^2 R(\theta)\, v` without
  forming the matrix (reverse-over-reverse differentiation), for power
  iteration or Lanczos on larger models.

Nothing here is specific to a penalty: the chapter and the lab write the
identities they teach (ridge closed form, shrinkage factors) themselves.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vjp
from torch.func import hessian as _func_hessian

__all__ = [
    "flat_parameters",
    "assign_flat_parameters_",
    "loss_function",
    "hessian",
    "hessian_vector_product",
]

Tensor = torch.Tensor
LossFn = Callable[[Tensor, Tensor], Tensor]


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model is a {type(model).__name__}; expected a torch.nn.Module.")
    return model


def _trainable(model: nn.Module) -> list[tuple[str, Tensor]]:
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model has no trainable parameters (requires_grad=True); nothing to differentiate.")
    return named


def flat_parameters(model: nn.Module) -> Tensor:
    """A detached copy of ``model``'s trainable parameters as one 1-D tensor.

    The order is that of ``model.named_parameters()``; the dtype is the
    parameters' own (make the model ``.double()`` for float64 Hessians).
    """
    _check_model(model)
    return torch.cat([p.detach().reshape(-1) for _, p in _trainable(model)]).clone()


def _check_flat(model: nn.Module, flat: Tensor, name: str = "flat") -> int:
    size = sum(p.numel() for _, p in _trainable(model))
    if not isinstance(flat, Tensor):
        raise TypeError(f"{name} is a {type(flat).__name__}; expected a torch.Tensor.")
    if flat.ndim != 1 or flat.numel() != size:
        raise ValueError(
            f"{name} has shape {tuple(flat.shape)}; expected ({size},), one entry per trainable "
            "parameter of the model."
        )
    return size


def _unflatten(model: nn.Module, flat: Tensor) -> dict[str, Tensor]:
    params: dict[str, Tensor] = {}
    start = 0
    for name, p in _trainable(model):
        params[name] = flat[start : start + p.numel()].view_as(p)
        start += p.numel()
    return params


@torch.no_grad()
def assign_flat_parameters_(model: nn.Module, flat: Tensor) -> None:
    """Copy the 1-D tensor ``flat`` into ``model``'s trainable parameters, in place.

    The inverse of :func:`flat_parameters`.
    """
    _check_model(model)
    _check_flat(model, flat)
    for (_, p), value in zip(_trainable(model), _unflatten(model, flat).values()):
        p.copy_(value)


def _default_loss(y: Tensor) -> LossFn:
    return nn.functional.mse_loss if torch.is_floating_point(y) else nn.functional.cross_entropy


def loss_function(
    model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn | None = None
) -> Callable[[Tensor], Tensor]:
    r"""The map :math:`\theta \mapsto R(\theta) = \text{loss\_fn}(f_\theta(x), y)` on flat vectors.

    ``loss_fn`` defaults to cross-entropy for integer targets and mean squared
    error for float targets (as :func:`regopt.train.fit`). The model's buffers
    and its train/eval mode are used as they are; put it in ``eval()`` mode when
    it has dropout, or the function is random.
    """
    _check_model(model)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}; they must match.")
    loss_fn = loss_fn or _default_loss(y)
    buffers = dict(model.named_buffers())
    size = sum(p.numel() for _, p in _trainable(model))

    def risk(flat: Tensor) -> Tensor:
        if flat.ndim != 1 or flat.numel() != size:
            raise ValueError(f"theta has shape {tuple(flat.shape)}; expected ({size},).")
        out = functional_call(model, {**_unflatten(model, flat), **buffers}, (x,))
        return loss_fn(out, y)

    return risk


def hessian(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: LossFn | None = None,
    at: Tensor | None = None,
) -> Tensor:
    r"""The full Hessian :math:`\nabla^2 R(\theta)` of the mean loss, a :math:`P \times P` tensor.

    ``at`` is the flat parameter vector where it is evaluated (default: the
    model's current parameters). The result is symmetrized,
    :math:`(H + H^\top)/2`, to remove round-off asymmetry before an
    eigendecomposition. Memory grows as :math:`P^2`: 2,000 parameters in float64
    take 32 MB.
    """
    theta = flat_parameters(model) if at is None else at.detach()
    _check_flat(model, theta, "at")
    with warnings.catch_warnings():
        # The first forward-mode call makes PyTorch script its own decompositions, which warns
        # that torch.jit.script is deprecated: nothing a reader can act on.
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated", category=FutureWarning)
        matrix = _func_hessian(loss_function(model, x, y, loss_fn))(theta)
    return (matrix + matrix.T) / 2


def hessian_vector_product(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: LossFn | None = None,
    at: Tensor | None = None,
) -> Callable[[Tensor], Tensor]:
    r"""A function :math:`v \mapsto \nabla^2 R(\theta)\, v`, without forming the Hessian.

    :math:`Hv` is the directional derivative
    :math:`\frac{d}{dt}\nabla R(\theta + t v)` at :math:`t = 0`. It is computed
    by differentiating the gradient once more in reverse mode: the gradient's
    graph at :math:`\theta` is built once, here, and each call is one backward
    pass through it, returning :math:`v^\top \nabla^2 R = (\nabla^2 R\, v)^\top`
    (the Hessian is symmetric). Reverse-over-reverse rather than
    forward-over-reverse because some of PyTorch's losses
    (``mse_loss`` among them) have no forward-mode derivative of their
    backward pass. ``at`` as in :func:`hessian`.
    """
    theta = flat_parameters(model) if at is None else at.detach()
    _check_flat(model, theta, "at")
    _, pull_back = vjp(grad(loss_function(model, x, y, loss_fn)), theta)

    def hvp(v: Tensor) -> Tensor:
        if not isinstance(v, Tensor) or v.shape != theta.shape:
            shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
            raise ValueError(f"v has shape {shape}; expected {tuple(theta.shape)} (one entry per parameter).")
        if v.dtype != theta.dtype:
            raise ValueError(f"v has dtype {v.dtype}; expected {theta.dtype}, the parameters' dtype.")
        return pull_back(v)[0]

    return hvp
