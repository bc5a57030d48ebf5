r"""Sweeps of a penalty strength :math:`\lambda` over seeds: the loop, not the penalty.

A chapter that compares penalty strengths trains the same model once per
:math:`(\text{seed}, \lambda)` pair and tabulates the final errors. This module
holds that double loop and the bookkeeping; what is being taught (the penalty
added to the loss, the proximal step after each update, the optimizer) is
passed in by the notebook as plain functions of ``(model, lam)``::

    sweep = penalty_sweep(
        make_model=ConvNet,
        data=mnist,
        lambdas=[0.0, 1e-3, 1e-2],
        make_optimizer=lambda model, lam: torch.optim.SGD(model.parameters(), lr=0.1),
        penalty=lambda model, lam: lam * l2_penalty(model.parameters()),
        epochs=30,
        seeds=[0, 1],
    )
    sweep.mean("test_error")        # one value per λ, averaged over the seeds

Every run is deterministic: before building the model for seed ``s`` the
generators are seeded with ``s`` (:func:`regopt.train.set_seed`), and
:func:`regopt.train.fit` is given the same seed for the minibatch order, so a
run depends only on ``(s, λ)`` and the functions passed in. When
:math:`\lambda = 0` neither ``penalty`` nor ``after_step`` is called, which is
the unregularized baseline (and, for the usual penalties, gives bit-identical
results to calling them with zero).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import config
from .data import Dataset
from .train import History, evaluate, fit, set_seed, unpack_data

__all__ = ["SweepResult", "penalty_sweep", "seed_std", "zero_fraction"]

Tensor = torch.Tensor


@dataclass
class SweepResult:
    """Final metrics of a :func:`penalty_sweep`, as arrays of shape ``(seeds, lambdas)``.

    ``train_error`` is measured on the whole training set after the last epoch
    (in ``eval()`` mode, with the final weights), ``test_error`` on the whole
    test set at the same point; ``measures`` holds the extra metrics returned
    by the sweep's ``measure(model)``; ``histories[i][j]`` is the
    :class:`~regopt.train.History` of seed ``seeds[i]`` and ``lambdas[j]``.
    """

    lambdas: list[float]
    seeds: list[int]
    train_error: np.ndarray
    test_error: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    measures: dict[str, np.ndarray] = field(default_factory=dict)
    histories: list[list[History]] = field(default_factory=list)
    run_seconds: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.run_seconds is None:
            self.run_seconds = np.zeros(self.test_error.shape)

    @property
    def seconds(self) -> float:
        """Wall-clock seconds of the runs this result holds."""
        return float(np.sum(self.run_seconds))

    def metric(self, name: str) -> np.ndarray:
        """The ``(seeds, lambdas)`` array of a metric or of a measure, by name."""
        if name in ("train_error", "test_error", "train_loss", "test_loss"):
            return getattr(self, name)
        if name in self.measures:
            return self.measures[name]
        known = ["train_error", "test_error", "train_loss", "test_loss", *self.measures]
        raise KeyError(f"metric {name!r} is unknown; expected one of {known}.")

    def mean(self, name: str) -> np.ndarray:
        """The metric averaged over seeds: one value per λ."""
        return self.metric(name).mean(axis=0)

    def std(self, name: str) -> np.ndarray:
        """The metric's sample standard deviation over seeds (``ddof=1``; 0 with a single seed).

        The course uses this one convention everywhere, numbers and bands alike
        (see :func:`regopt.plots.plot_vs_lambda`).
        """
        return seed_std(self.metric(name))

    def at(self, lam: float) -> int:
        """The column index of ``lam`` in :attr:`lambdas`."""
        for j, value in enumerate(self.lambdas):
            if math.isclose(value, lam, rel_tol=1e-9, abs_tol=0.0):
                return j
        raise KeyError(f"λ={lam!r} was not swept; the sweep has λ in {self.lambdas}.")

    def join(self, other: SweepResult) -> SweepResult:
        """This sweep's columns followed by ``other``'s (same seeds and measures).

        Used to reuse one baseline run (λ = 0) in two tables.
        """
        if list(self.seeds) != list(other.seeds):
            raise ValueError(f"Cannot join sweeps over seeds {self.seeds} and {other.seeds}; they must match.")
        if set(self.measures) != set(other.measures):
            raise ValueError(
                f"Cannot join sweeps with measures {sorted(self.measures)} and {sorted(other.measures)}."
            )
        overlap = [lam for lam in other.lambdas if any(math.isclose(lam, l2) for l2 in self.lambdas)]
        if overlap:
            raise ValueError(f"Cannot join sweeps that both contain λ in {overlap}.")

        def cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.concatenate([a, b], axis=1)

        return SweepResult(
            lambdas=[*self.lambdas, *other.lambdas],
            seeds=list(self.seeds),
            train_error=cat(self.train_error, other.train_error),
            test_error=cat(self.test_error, other.test_error),
            train_loss=cat(self.train_loss, other.train_loss),
            test_loss=cat(self.test_loss, other.test_loss),
            measures={k: cat(v, other.measures[k]) for k, v in self.measures.items()},
            histories=[a + b for a, b in zip(self.histories, other.histories)],
            run_seconds=cat(self.run_seconds, other.run_seconds),
        )

    def subset(self, lambdas: Sequence[float] | None = None, seeds: Sequence[int] | None = None) -> SweepResult:
        """Only the given λ columns and seed rows, in that order (default: all)."""
        cols = [self.at(lam) for lam in lambdas] if lambdas is not None else list(range(len(self.lambdas)))
        if seeds is None:
            rows = list(range(len(self.seeds)))
        else:
            missing = [s for s in seeds if s not in self.seeds]
            if missing:
                raise KeyError(f"seeds {missing} were not run; the sweep has seeds {self.seeds}.")
            rows = [self.seeds.index(s) for s in seeds]
        grid = np.ix_(rows, cols)
        return SweepResult(
            lambdas=[self.lambdas[j] for j in cols],
            seeds=[self.seeds[i] for i in rows],
            train_error=self.train_error[grid],
            test_error=self.test_error[grid],
            train_loss=self.train_loss[grid],
            test_loss=self.test_loss[grid],
            measures={k: v[grid] for k, v in self.measures.items()},
            histories=[[self.histories[i][j] for j in cols] for i in rows],
            run_seconds=self.run_seconds[grid],
        )


def seed_std(values: np.ndarray) -> np.ndarray:
    """Sample standard deviation over the first axis (seeds), ``ddof=1``; zeros for one seed."""
    values = np.asarray(values, dtype=float)
    if values.shape[0] < 2:
        return np.zeros(values.shape[1:])
    return values.std(axis=0, ddof=1)


@torch.no_grad()
def zero_fraction(model: nn.Module | Sequence[Tensor]) -> float:
    """The fraction of ``model``'s parameters (or of the given tensors) that are exactly 0."""
    params = list(model.parameters()) if isinstance(model, nn.Module) else list(model)
    total = sum(p.numel() for p in params)
    if total == 0:
        raise ValueError("There are no parameters to count (got an empty list).")
    return sum(int((p == 0).sum()) for p in params) / total


def _check_lambdas(lambdas: Sequence[float]) -> list[float]:
    if isinstance(lambdas, (str, bytes)) or not isinstance(lambdas, Sequence) or len(lambdas) == 0:
        raise ValueError(f"lambdas={lambdas!r} is invalid; expected a non-empty list of numbers ≥ 0.")
    values = []
    for lam in lambdas:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0 or math.isinf(lam):
            raise ValueError(f"λ={lam!r} is invalid; expected a finite number ≥ 0.")
        values.append(float(lam))
    if len(set(values)) != len(values):
        raise ValueError(f"lambdas={list(lambdas)!r} repeats a value; expected distinct values.")
    return values


def penalty_sweep(
    make_model: Callable[[], nn.Module],
    data: Dataset | tuple,
    lambdas: Sequence[float],
    make_optimizer: Callable[[nn.Module, float], torch.optim.Optimizer],
    epochs: int,
    penalty: Callable[[nn.Module, float], Tensor] | None = None,
    after_step: Callable[[nn.Module, float], None] | None = None,
    seeds: Sequence[int] = (0,),
    batch_size: int = 100,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    eval_every: int | None = None,
    measure: Callable[[nn.Module], Mapping[str, float]] | None = None,
    progress: bool | None = None,
) -> SweepResult:
    r"""Train ``make_model()`` once per (seed, λ) and collect the final errors.

    Parameters
    ----------
    make_model:
        Builds a fresh model; called right after seeding, so its initialization
        depends on the seed only.
    data:
        A :class:`~regopt.data.Dataset` or ``(x_train, y_train, x_test, y_test)``.
    lambdas:
        Distinct penalty strengths :math:`\lambda \ge 0`.
    make_optimizer:
        ``make_optimizer(model, lam)``; put a ``weight_decay=lam`` here to sweep
        an optimizer's decay instead of a penalty.
    penalty:
        ``penalty(model, lam)`` returns the scalar :math:`\lambda J(\theta)` added
        to the loss (not called when ``lam == 0``).
    after_step:
        ``after_step(model, lam)`` runs after each optimizer step, e.g. a proximal
        step (not called when ``lam == 0``).
    seeds:
        One run per seed and λ; the results' rows follow this order.
    eval_every:
        Passed to :func:`~regopt.train.fit` (default: only after the last epoch,
        since evaluating the test set costs time and the tables need the end).
    measure:
        ``measure(model)`` returns extra final metrics, e.g.
        ``{"zero_fraction": zero_fraction(model)}``.
    progress:
        A progress bar over the runs; default on except under ``REGOPT_STATIC=1``.
    """
    lambdas = _check_lambdas(lambdas)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; expected at least one integer seed.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} repeats a value; expected distinct seeds.")
    for name, fn in (("make_model", make_model), ("make_optimizer", make_optimizer)):
        if not callable(fn):
            raise TypeError(f"{name} is a {type(fn).__name__}; expected a function.")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is invalid; expected a positive integer.")
    x_train, y_train, x_test, y_test = unpack_data(data)
    if x_test is None:
        raise ValueError("data has no test set; penalty_sweep needs (x_train, y_train, x_test, y_test).")
    if progress is None:
        progress = not config.static()

    shape = (len(seeds), len(lambdas))
    train_error, test_error = np.full(shape, np.nan), np.full(shape, np.nan)
    train_loss, test_loss = np.full(shape, np.nan), np.full(shape, np.nan)
    measures: dict[str, np.ndarray] = {}
    histories: list[list[History]] = [[] for _ in seeds]
    run_seconds = np.zeros(shape)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(seeds) * len(lambdas), desc="sweep", disable=not progress, leave=False)
    for i, seed in enumerate(seeds):
        for j, lam in enumerate(lambdas):
            start = time.perf_counter()
            set_seed(seed)
            model = make_model()
            optimizer = make_optimizer(model, lam)
            run_penalty = None
            run_after_step = None
            if lam > 0 and penalty is not None:
                run_penalty = lambda m, lam=lam: penalty(m, lam)  # noqa: E731 - bind λ
            if lam > 0 and after_step is not None:
                run_after_step = lambda m, lam=lam: after_step(m, lam)  # noqa: E731
            history = fit(
                model,
                (x_train, y_train, x_test, y_test),
                optimizer,
                epochs=epochs,
                batch_size=batch_size,
                loss_fn=loss_fn,
                penalty=run_penalty,
                after_step=run_after_step,
                seed=seed,
                eval_every=eval_every or epochs,
                progress=False,
            )
            histories[i].append(history)
            train_loss[i, j], train_error[i, j] = evaluate(model, x_train, y_train, loss_fn)
            test_loss[i, j] = history.final["test_loss"]
            test_error[i, j] = history.final["test_error"]
            if measure is not None:
                for key, value in dict(measure(model)).items():
                    measures.setdefault(key, np.full(shape, np.nan))[i, j] = float(value)
            run_seconds[i, j] = time.perf_counter() - start
            bar.update(1)
    bar.close()
    return SweepResult(
        lambdas=lambdas,
        seeds=seeds,
        train_error=train_error,
        test_error=test_error,
        train_loss=train_loss,
        test_loss=test_loss,
        measures=measures,
        histories=histories,
        run_seconds=run_seconds,
    )
