"""SGD with momentum, RMSProp, Adam and AdamW written out from scratch.

Each update is a short function of tensors (:func:`sgd_step`,
:func:`rmsprop_step`, :func:`adam_step`, :func:`adamw_step`) whose docstring
gives its equations; chapter 6 displays them. The classes :class:`SGD`,
:class:`RMSprop`, :class:`Adam` and :class:`AdamW` wrap these functions as
:class:`torch.optim.Optimizer` subclasses with the constructor arguments and
defaults of their :mod:`torch.optim` counterparts, so either can be passed to
:func:`regopt.fit`. The tests run each side by side with torch's and require
the same parameters after many steps.

Only torch's implementation switches (``foreach``, ``fused``, ``capturable``,
``differentiable``) are left out: they change how the update is computed, not
what it computes. The state keys are torch's (``momentum_buffer``,
``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``square_avg``,
``grad_avg``, ``step``).

Notation (the course's, book/notation.md): θ the parameters, g the gradient, η the
learning rate, μ the momentum, ρ RMSProp's decay, β₁ β₂ Adam's, δ the stabilizer, λ the
weight decay, t = 1, 2, … the step number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = [
    "sgd_step",
    "rmsprop_step",
    "adam_step",
    "adamw_step",
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
]

Tensor = torch.Tensor


# --------------------------------------------------------------------------- #
# The update rules, as plain functions of tensors (all updates are in place). #
# --------------------------------------------------------------------------- #


def sgd_step(param: Tensor, grad: Tensor, buf: Tensor | None, lr: float, momentum: float = 0.0,
             dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> Tensor | None:
    r"""One step of SGD with (heavy-ball or Nesterov) momentum; returns the new buffer.

    .. math::

        g &\leftarrow g + \lambda\,\theta                          && \text{(L2 weight decay)}\\
        m &\leftarrow g \ \text{at } t = 1, \qquad
        m \leftarrow \mu\, m + (1 - \text{dampening})\, g \ \text{after} && \text{(momentum } \mu)\\
        d &= g + \mu\, m \ \text{(Nesterov)} \quad\text{or}\quad d = m \\
        \theta &\leftarrow \theta - \eta\, d

    With ``momentum = 0`` there is no buffer (``buf`` stays ``None``) and the
    step is plain gradient descent, θ ← θ − η g. Without dampening
    the step Δθ_t = −η m_t obeys Δθ_t = −η g_t + μ Δθ_{t−1}, the heavy-ball form.
    """
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    if momentum != 0:
        if buf is None:
            buf = grad.detach().clone()
        else:
            buf.mul_(momentum).add_(grad, alpha=1 - dampening)
        direction = grad.add(buf, alpha=momentum) if nesterov else buf
    else:
        direction = grad
    param.add_(direction, alpha=-lr)
    return buf


def rmsprop_step(param: Tensor, grad: Tensor, square_avg: Tensor, lr: float, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 momentum_buffer: Tensor | None = None, grad_avg: Tensor | None = None) -> None:
    r"""One RMSProp step (Tieleman and Hinton, 2012); updates the state tensors in place.

    .. math::

        g &\leftarrow g + \lambda\,\theta \\
        v &\leftarrow \rho\, v + (1 - \rho)\, g^2          && \text{(running mean of } g^2)\\
        \bar g &\leftarrow \rho\, \bar g + (1 - \rho)\, g,\quad v \leftarrow v - \bar g^2
                                                               && \text{(centered only: a variance)}\\
        \Delta &= g / (\sqrt{v} + \delta)                    && \text{(per-weight scaled gradient)}\\
        m &\leftarrow \mu\, m + \Delta,\quad \Delta = m        && \text{(momentum only)}\\
        \theta &\leftarrow \theta - \eta\, \Delta

    Each weight's effective learning rate is η/(√v + δ): small where the
    gradient has been large, large where it has been small (ρ is torch's ``alpha``,
    δ its ``eps``). Pass
    ``momentum_buffer`` when ``momentum > 0`` and ``grad_avg`` for the
    centered variant (both start at zero).
    """
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
    if grad_avg is not None:
        grad_avg.lerp_(grad, 1 - alpha)
        denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
    else:
        denom = square_avg.sqrt().add_(eps)
    if momentum > 0:
        if momentum_buffer is None:
            raise ValueError(f"momentum={momentum!r} > 0 needs a momentum_buffer tensor; got None.")
        momentum_buffer.mul_(momentum).addcdiv_(grad, denom)
        param.add_(momentum_buffer, alpha=-lr)
    else:
        param.addcdiv_(grad, denom, value=-lr)


def adam_step(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step: int,
              lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
              weight_decay: float = 0.0, max_exp_avg_sq: Tensor | None = None,
              bias_correction: bool = True) -> None:
    r"""One Adam step (Kingma and Ba, 2015) at step number ``step`` = t ≥ 1; in place.

    .. math::

        g &\leftarrow g + \lambda\,\theta                    && \text{(L2 added to the gradient)}\\
        m &\leftarrow \beta_1 m + (1 - \beta_1)\, g            && \text{(running mean of } g)\\
        v &\leftarrow \beta_2 v + (1 - \beta_2)\, g^2          && \text{(running mean of } g^2)\\
        \hat m &= m / (1 - \beta_1^t),\quad \hat v = v / (1 - \beta_2^t)
                                                             && \text{(bias correction)}\\
        \theta &\leftarrow \theta - \eta\, \hat m / (\sqrt{\hat v} + \delta)

    m and v start at zero, so early on they are biased towards zero; the
    correction removes that bias (with a constant gradient the first step is
    exactly η, up to δ). ``bias_correction=False`` skips it, for the chapter's
    comparison only (torch has no such switch). AMSGrad (pass
    ``max_exp_avg_sq``) uses the running maximum of v in place of v.
    """
    if step < 1:
        raise ValueError(f"step={step!r} is invalid; expected the step number t >= 1.")
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    if max_exp_avg_sq is not None:
        torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    else:
        second_moment = exp_avg_sq
    correction1 = 1 - beta1**step if bias_correction else 1.0
    correction2 = 1 - beta2**step if bias_correction else 1.0
    denom = (second_moment.sqrt() / math.sqrt(correction2)).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-lr / correction1)


def adamw_step(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step: int,
               lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 1e-2, max_exp_avg_sq: Tensor | None = None) -> None:
    r"""One AdamW step (Loshchilov and Hutter, 2019): decay decoupled from the gradient.

    .. math::

        \theta &\leftarrow (1 - \eta\lambda)\, \theta     && \text{(weight decay, outside Adam)}\\
        \theta &\leftarrow \text{the Adam step on the loss gradient } g \text{ alone}

    The decay does not pass through Adam's division by √v̂, so every weight
    shrinks by the same factor (1 − ηλ) per step, whatever its gradient
    history; in Adam with an L2 term the decay is rescaled like the gradient.
    """
    param.mul_(1 - lr * weight_decay)
    adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
              weight_decay=0.0, max_exp_avg_sq=max_exp_avg_sq)


# --------------------------------------------------------------------------- #
# Argument validation (messages name the bad value, as torch's do).            #
# --------------------------------------------------------------------------- #


def _check_number(name: str, label: str, value: Any, low: float, high: float | None = None,
                  high_open: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"Invalid {label}: {value!r}; expected a number.")
    below = value < low
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        if high is None:
            expected = f"{name} >= {low}"
        else:
            expected = f"{low} <= {name} {'<' if high_open else '<='} {high}"
        raise ValueError(f"Invalid {label}: {value!r}; expected {expected}.")


def _check_betas(betas: Any) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas!r}; expected a pair (beta1, beta2).")
    for index, beta in enumerate(betas):
        _check_number(f"betas[{index}]", f"beta parameter at index {index}", beta, 0.0, 1.0)
    return float(betas[0]), float(betas[1])


class _FromScratch(torch.optim.Optimizer):
    """Shared loop: call ``self._update(param, grad, state, group)`` for each parameter."""

    def _update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Perform one update of every parameter that has a gradient.

        ``closure`` (optional) re-evaluates the model and returns the loss.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients.")
                grad = -param.grad if group["maximize"] else param.grad
                self._update(param, grad, self.state[param], group)
        return loss


class SGD(_FromScratch):
    """Stochastic gradient descent with optional momentum, as :class:`torch.optim.SGD`.

    The update is :func:`sgd_step`.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        _check_number("lr", "learning rate", lr, 0.0)
        _check_number("momentum", "momentum value", momentum, 0.0)
        _check_number("dampening", "dampening value", dampening, -math.inf)
        _check_number("weight_decay", "weight_decay value", weight_decay, 0.0)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"Nesterov momentum requires a momentum and zero dampening; got momentum={momentum!r}, "
                f"dampening={dampening!r}; expected momentum > 0 and dampening = 0."
            )
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        state["momentum_buffer"] = sgd_step(
            param, grad, state.get("momentum_buffer"), lr=group["lr"], momentum=group["momentum"],
            dampening=group["dampening"], weight_decay=group["weight_decay"],
            nesterov=group["nesterov"],
        )


class RMSprop(_FromScratch):
    """RMSProp, as :class:`torch.optim.RMSprop`. The update is :func:`rmsprop_step`."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 maximize: bool = False) -> None:
        _check_number("lr", "learning rate", lr, 0.0)
        _check_number("eps", "epsilon value", eps, 0.0)
        _check_number("momentum", "momentum value", momentum, 0.0)
        _check_number("weight_decay", "weight_decay value", weight_decay, 0.0)
        _check_number("alpha", "alpha value", alpha, 0.0)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        if not state:
            state["step"] = 0
            state["square_avg"] = torch.zeros_like(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = torch.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(param)
        state["step"] += 1
        rmsprop_step(
            param, grad, state["square_avg"], lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum=group["momentum"],
            momentum_buffer=state.get("momentum_buffer"), grad_avg=state.get("grad_avg"),
        )


class Adam(_FromScratch):
    """Adam with L2 weight decay added to the gradient, as :class:`torch.optim.Adam`.

    The update is :func:`adam_step`.
    """

    _decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        _check_number("lr", "learning rate", lr, 0.0)
        _check_number("eps", "epsilon value", eps, 0.0)
        betas = _check_betas(betas)
        _check_number("weight_decay", "weight_decay value", weight_decay, 0.0)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param, grad, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(param)
        state["step"] += 1
        update = adamw_step if self._decoupled else adam_step
        beta1, beta2 = group["betas"]
        update(param, grad, state["exp_avg"], state["exp_avg_sq"], state["step"], lr=group["lr"],
               beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
               max_exp_avg_sq=state.get("max_exp_avg_sq"))


class AdamW(Adam):
    """Adam with decoupled weight decay, as :class:`torch.optim.AdamW`.

    The update is :func:`adamw_step`.
    """

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
