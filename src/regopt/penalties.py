r"""Parameter penalties and the proximal L1 step.

The regularized objective is :math:`\tilde J(\theta) = J(\theta) + \lambda\,\Omega(\theta)`
(the course's notation, book/notation.md; for L2, :math:`\Omega = \tfrac12\lVert w\rVert^2`).
This module gives the sums behind :math:`\Omega` for the two classic choices, the proximal
step that applies an L1 penalty without the sign flips of its subgradient, and the split
of a model's parameters into penalized weights and unpenalized biases and
normalization parameters.

Conventions (they matter when comparing with ``weight_decay``):

* :func:`l2_penalty` is :math:`\sum_i \theta_i^2` (no factor 1/2). Its gradient is
  :math:`2\theta`, so adding :math:`\tfrac{\lambda}{2}\,` ``l2_penalty`` to the loss
  is exactly SGD's ``weight_decay=λ``.
* :func:`l1_penalty` is :math:`\sum_i |\theta_i|`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import nn

__all__ = [
    "l2_penalty",
    "l1_penalty",
    "prox_l1_",
    "soft_threshold",
    "split_parameters",
    "penalized_parameters",
    "param_groups",
]

_NORM_TYPES = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
)


def _as_list(params: Iterable[torch.Tensor] | nn.Module | torch.Tensor) -> list[torch.Tensor]:
    if isinstance(params, nn.Module):
        return list(penalized_parameters(params))
    if isinstance(params, torch.Tensor):
        return [params]
    items = list(params)
    for i, p in enumerate(items):
        if not isinstance(p, torch.Tensor):
            raise TypeError(
                f"params[{i}] is a {type(p).__name__}; expected tensors, a model, or a "
                "list of tensors such as penalized_parameters(model)."
            )
    return items


def l2_penalty(params: Iterable[torch.Tensor] | nn.Module | torch.Tensor) -> torch.Tensor:
    r"""Squared L2 norm :math:`\sum_i \theta_i^2` (differentiable); the course's L2 penalty is half of it.

    Given a model, only its penalized weights count (see :func:`split_parameters`).
    """
    items = _as_list(params)
    if not items:
        return torch.zeros(())
    return torch.stack([p.pow(2).sum() for p in items]).sum()


def l1_penalty(params: Iterable[torch.Tensor] | nn.Module | torch.Tensor) -> torch.Tensor:
    r"""L1 norm :math:`\Omega(\theta) = \sum_i |\theta_i|` (subdifferentiable at 0).

    Given a model, only its penalized weights count (see :func:`split_parameters`).
    """
    items = _as_list(params)
    if not items:
        return torch.zeros(())
    return torch.stack([p.abs().sum() for p in items]).sum()


def soft_threshold(x: torch.Tensor, threshold: float) -> torch.Tensor:
    r"""The proximal operator of :math:`t\,|x|`: :math:`\operatorname{sign}(x)\max(|x| - t, 0)`."""
    if threshold < 0:
        raise ValueError(f"threshold={threshold!r} is invalid; expected a non-negative number (η·λ).")
    return torch.sign(x) * torch.clamp(x.abs() - threshold, min=0)


@torch.no_grad()
def prox_l1_(params: Iterable[torch.Tensor] | nn.Module | torch.Tensor, threshold: float) -> None:
    r"""In-place proximal L1 step :math:`w \leftarrow \operatorname{sign}(w)\max(|w| - t, 0)`.

    Call it after each optimizer step with ``threshold = lr * lam``. Weights whose
    magnitude is below the threshold become exactly 0; the others shrink toward 0
    by ``threshold``; no weight ever changes sign. Equivalent to Fleuret's
    ``p.sub_(p.sign() * p.abs().clamp(max=threshold))``.
    """
    if threshold < 0:
        raise ValueError(f"threshold={threshold!r} is invalid; expected a non-negative number (η·λ).")
    for p in _as_list(params):
        p.sub_(p.sign() * p.abs().clamp(max=threshold))


def split_parameters(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Split ``model``'s trainable parameters into ``(penalized, unpenalized)``.

    Unpenalized: every bias, and every parameter of a normalization layer
    (batch, layer, group norm). Penalized: everything else (the weights of
    linear and convolution layers). Biases are left out because they do not
    interact multiplicatively with the inputs: shrinking them does not lower
    the model's capacity much and can cause under-fitting.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model is a {type(model).__name__}; expected a torch.nn.Module.")
    penalized: list[torch.Tensor] = []
    unpenalized: list[torch.Tensor] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if isinstance(module, _NORM_TYPES) or name == "bias" or name.endswith("_bias"):
                unpenalized.append(p)
            else:
                penalized.append(p)
    return penalized, unpenalized


def penalized_parameters(model: nn.Module) -> Iterator[torch.Tensor]:
    """The parameters a weight penalty applies to (weights, not biases or norms)."""
    yield from split_parameters(model)[0]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups that decay weights but not biases or norms.

    ``torch.optim.SGD(param_groups(model, 5e-4), lr=0.1)`` applies
    ``weight_decay=5e-4`` to the weights only.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay={weight_decay!r} is invalid; expected a non-negative number.")
    penalized, unpenalized = split_parameters(model)
    return [
        {"params": penalized, "weight_decay": weight_decay},
        {"params": unpenalized, "weight_decay": 0.0},
    ]
