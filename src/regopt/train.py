"""A small, deterministic training loop over in-memory tensors.

The loop is boilerplate; what a chapter teaches stays in the notebook and is
passed in: the optimizer (any ``torch.optim`` one, or :mod:`regopt.optim`), a
``penalty`` added to the loss, and an ``after_step`` operation on the
parameters (a proximal step, a projection). One epoch is::

    for each minibatch (x, y), in an order drawn from a generator seeded by `seed`:
        loss = loss_fn(model(x), y) + penalty(model)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        after_step(model)

Training metrics are averaged over the epoch's minibatches, while the weights
move (as Keras reports them); ``eval_train=True`` evaluates the whole training
set after each epoch instead. Test metrics are computed on the whole test set
in ``eval()`` mode every ``eval_every`` epochs and after the last one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from . import config
from .data import Dataset

__all__ = ["History", "fit", "evaluate", "set_seed", "unpack_data"]

Tensor = torch.Tensor


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (model initialization, dropout)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed={seed!r} is invalid; expected an integer.")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


@dataclass
class History:
    """Per-epoch metrics of a :func:`fit` run (errors are fractions in [0, 1]).

    ``test_*`` hold ``nan`` for epochs that were not evaluated; ``train_error``
    and ``test_error`` hold ``nan`` for regression.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    train_penalty: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)

    @property
    def final(self) -> dict[str, float]:
        """The metrics of the last epoch."""
        if not self.epoch:
            raise ValueError("This history is empty: fit() ran no epoch.")
        return {key: values[-1] for key, values in self.as_dict().items()}

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(empty)"
        f = self.final
        return (
            f"History(epochs={f['epoch']}, train_loss={f['train_loss']:.4g}, "
            f"train_error={f['train_error']:.4g}, test_loss={f['test_loss']:.4g}, "
            f"test_error={f['test_error']:.4g})"
        )


def unpack_data(data: Dataset | tuple) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``(x_train, y_train, x_test, y_test)`` of a Dataset or a 2- or 4-tuple of tensors (test parts may be None)."""
    if isinstance(data, Dataset):
        return data.x_train, data.y_train, data.x_test, data.y_test
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        items = list(data) + [None] * (4 - len(data))
        for i, item in enumerate(items):
            if item is not None and not isinstance(item, Tensor):
                raise TypeError(f"data[{i}] is a {type(item).__name__}; expected a torch.Tensor.")
        x_train, y_train, x_test, y_test = items
        if len(x_train) != len(y_train):
            raise ValueError(
                f"x_train has {len(x_train)} rows but y_train has {len(y_train)}; they must match."
            )
        if x_test is not None and (y_test is None or len(x_test) != len(y_test)):
            raise ValueError("x_test and y_test must both be given, with the same number of rows.")
        return x_train, y_train, x_test, y_test
    raise TypeError(
        f"data is a {type(data).__name__}; expected a regopt.data.Dataset or a tuple "
        "(x_train, y_train[, x_test, y_test]) of tensors."
    )


def _is_classification(y: Tensor) -> bool:
    return not torch.is_floating_point(y)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    batch_size: int = 2000,
) -> tuple[float, float]:
    """Mean loss and error rate of ``model`` on ``(x, y)``, in ``eval()`` mode.

    The error is the fraction of misclassified rows (``nan`` for regression).
    The model's training/eval mode is restored afterwards.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}; they must match.")
    if len(x) == 0:
        raise ValueError("Cannot evaluate on an empty set (x has 0 rows).")
    classification = _is_classification(y)
    loss_fn = loss_fn or (nn.functional.cross_entropy if classification else nn.functional.mse_loss)
    was_training = model.training
    model.eval()
    total_loss, wrong = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        out = model(xb)
        total_loss += float(loss_fn(out, yb)) * len(xb)
        if classification:
            wrong += int((out.argmax(dim=1) != yb).sum())
    model.train(was_training)
    return total_loss / len(x), (wrong / len(x) if classification else math.nan)


def fit(
    model: nn.Module,
    data: Dataset | tuple,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int = 100,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    penalty: Callable[[nn.Module], Tensor] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    seed: int = 0,
    eval_every: int = 1,
    eval_train: bool = False,
    progress: bool | None = None,
    description: str = "training",
) -> History:
    """Train ``model`` on in-memory data and return its :class:`History`.

    Parameters
    ----------
    model, optimizer:
        Any module and any optimizer built over (some of) its parameters.
    data:
        A :class:`regopt.data.Dataset` or ``(x_train, y_train[, x_test, y_test])``.
    epochs, batch_size:
        Passes over the training set, and minibatch size (the last minibatch of
        an epoch may be smaller).
    loss_fn:
        ``loss_fn(outputs, targets)``; default cross-entropy for integer targets,
        mean squared error for float targets.
    penalty:
        ``penalty(model)`` returns a scalar added to the loss before
        ``backward()``, e.g. ``lambda m: lam * l2_penalty(m)``.
    after_step:
        ``after_step(model)`` runs after each ``optimizer.step()``, e.g. a
        proximal step ``lambda m: prox_l1_(m, lr * lam)``.
    seed:
        Seeds torch's global generator (dropout, noise) and the minibatch order:
        the same seed, model initialization and data give the same history.
    eval_every:
        Evaluate on the test set every this many epochs (and after the last).
    eval_train:
        Evaluate the whole training set after each epoch instead of reporting
        the running minibatch average.
    progress:
        Show a tqdm bar over epochs; default on, except under ``REGOPT_STATIC=1``
        (the website build).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs={epochs!r} is invalid; expected a non-negative integer.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid; expected a positive integer.")
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every={eval_every!r} is invalid; expected a positive integer.")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer is a {type(optimizer).__name__}; expected a torch.optim.Optimizer "
            "such as torch.optim.SGD(model.parameters(), lr=0.1)."
        )
    x_train, y_train, x_test, y_test = unpack_data(data)
    classification = _is_classification(y_train)
    loss_fn = loss_fn or (nn.functional.cross_entropy if classification else nn.functional.mse_loss)
    if progress is None:
        progress = not config.static()

    set_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    n = len(x_train)
    history = History()

    from tqdm.auto import tqdm

    bar = tqdm(range(1, epochs + 1), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=order_generator)
        # Accumulate as tensors: a .item() per minibatch would force a sync and
        # cost measurable time on small models.
        loss_sum = torch.zeros(())
        penalty_sum = torch.zeros(())
        wrong = torch.zeros((), dtype=torch.long)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            xb, yb = x_train[index], y_train[index]
            out = model(xb)
            loss = loss_fn(out, yb)
            total = loss
            if penalty is not None:
                penalty_value = penalty(model)
                total = loss + penalty_value
                penalty_sum += penalty_value.detach() * len(index)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            if after_step is not None:
                after_step(model)
            loss_sum += loss.detach() * len(index)
            if classification:
                wrong += (out.detach().argmax(dim=1) != yb).sum()

        if eval_train:
            train_loss, train_error = evaluate(model, x_train, y_train, loss_fn)
        else:
            train_loss = float(loss_sum) / n
            train_error = float(wrong) / n if classification else math.nan
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"The training loss became {train_loss} at epoch {epoch}: the run diverged. "
                "Lower the learning rate (or the penalty's λ) and try again."
            )
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.train_error.append(train_error)
        history.train_penalty.append(float(penalty_sum) / n if penalty is not None else 0.0)
        if x_test is not None and (epoch % eval_every == 0 or epoch == epochs):
            test_loss, test_error = evaluate(model, x_test, y_test, loss_fn)
        else:
            test_loss, test_error = math.nan, math.nan
        history.test_loss.append(test_loss)
        history.test_error.append(test_error)
        if progress:
            bar.set_postfix(loss=f"{train_loss:.3g}", test_error=f"{test_error:.3g}")
    bar.close()
    return history
