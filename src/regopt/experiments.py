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

import copy
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

__all__ = ["SweepResult", "penalty_sweep", "batched_sweep", "seed_std", "zero_fraction"]

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
        """Wall-clock seconds of the runs this result holds (a batched run's time is shared equally)."""
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



def _stack_models(models: Sequence[nn.Module]) -> tuple[nn.Module, dict[str, Tensor], dict[str, Tensor]]:
    """One stateless copy of the architecture and the models' parameters stacked along a new axis 0."""
    from torch.func import stack_module_state

    params, buffers = stack_module_state(list(models))
    base = copy.deepcopy(models[0]).to("meta")
    return base, params, buffers


def batched_sweep(
    make_model: Callable[[], nn.Module],
    data: Dataset | tuple,
    lambdas: Sequence[float],
    make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    epochs: int,
    penalty: Callable[[Mapping[str, Tensor], float | Tensor], Tensor] | None = None,
    seeds: Sequence[int] = (0,),
    batch_size: int = 100,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    eval_every: int | None = None,
    progress: bool | None = None,
) -> SweepResult:
    r"""Train the K = len(seeds) × len(lambdas) runs of a sweep *at once*, one model per run.

    The same sweep as :func:`penalty_sweep` (same initializations, minibatch orders
    and updates, so the same results up to floating-point rounding), but the K
    models' parameters are stacked (``torch.func.stack_module_state``) and every
    minibatch step evaluates all K models in one vectorized call
    (``torch.func.vmap`` over ``torch.func.functional_call``). Small MLPs gain
    several-fold on a CPU (``benchmarks/bench_sweep.py``); convnets gain nothing
    there, so use :func:`penalty_sweep` for them.

    What differs from :func:`penalty_sweep`, because the K models share one set of
    stacked tensors:

    ``make_optimizer(params)``
        receives the list of stacked parameter tensors and must not depend on λ
        (no ``weight_decay=lam``: put the decay in ``penalty``, e.g.
        ``lambda p, lam: lam / 2 * sum(w.pow(2).sum() for w in p.values())`` is
        SGD's ``weight_decay=lam``). Element-wise optimizers (SGD with or without
        momentum, RMSprop, Adam, AdamW's decoupled decay at a fixed rate) then
        update each model exactly as its own optimizer would.
    ``penalty(params, lam)``
        receives one model's parameters as a ``{name: tensor}`` dict (the names of
        ``model.named_parameters()``) and that run's λ as a 0-d tensor, and is
        evaluated for every model inside ``vmap``; use tensor operations only
        (``regopt.penalties.l2_penalty(p.values())`` works). It is applied at
        λ = 0 too, where it adds exactly nothing.

    No ``after_step`` or ``measure``. ``eval_every`` is :func:`penalty_sweep`'s:
    the test set is evaluated every this many epochs (default: only after the
    last one) and always after the last. Models with dropout get independent masks per model
    (``randomness="different"``), which differ from the sequential runs' masks.
    ``run_seconds`` holds the total time shared equally by the K runs.
    """
    from torch.func import functional_call, vmap
    from tqdm.auto import tqdm

    lambdas = _check_lambdas(lambdas)
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} is invalid; expected a non-empty list of distinct integers.")
    for name, fn in (("make_model", make_model), ("make_optimizer", make_optimizer)):
        if not callable(fn):
            raise TypeError(f"{name} is a {type(fn).__name__}; expected a function.")
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty is a {type(penalty).__name__}; expected a function of (params, lam).")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is invalid; expected a positive integer.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid; expected a positive integer.")
    eval_every = epochs if eval_every is None else eval_every
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every={eval_every!r} is invalid; expected a positive integer.")
    x_train, y_train, x_test, y_test = unpack_data(data)
    if x_test is None:
        raise ValueError("data has no test set; batched_sweep needs (x_train, y_train, x_test, y_test).")
    classification = not torch.is_floating_point(y_train)
    loss_fn = loss_fn or (nn.functional.cross_entropy if classification else nn.functional.mse_loss)
    if progress is None:
        progress = not config.static()

    start = time.perf_counter()
    runs = [(i, j) for i in range(len(seeds)) for j in range(len(lambdas))]
    models = []
    for i, _ in runs:
        set_seed(seeds[i])  # the initialization penalty_sweep would draw for this run
        models.append(make_model())
    base, params, buffers = _stack_models(models)
    if any(torch.is_floating_point(b) for b in buffers.values()):
        raise ValueError("batched_sweep supports models without floating-point buffers (no batch norm); "
                         "use penalty_sweep for this model.")
    leaves = list(params.values())
    optimizer = make_optimizer(leaves)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"make_optimizer returned a {type(optimizer).__name__}; expected a torch.optim.Optimizer.")
    lam = torch.tensor([lambdas[j] for _, j in runs], dtype=x_train.dtype)

    def run_loss(p, b, x, y, lam_k):
        out = functional_call(base, (p, b), (x,))
        loss = loss_fn(out, y)
        extra = penalty(p, lam_k) if penalty is not None else torch.zeros((), dtype=loss.dtype)
        return loss + extra, (loss.detach(), out.detach())

    # With one seed every run sees the same minibatches: pass them once, unbatched, so the first
    # layer of all K models becomes one large matrix product instead of K small ones.
    shared_batches = len(seeds) == 1
    data_dim = None if shared_batches else 0
    step = vmap(run_loss, in_dims=(0, 0, data_dim, data_dim, 0), randomness="different")

    def run_outputs(p, b, x):
        return functional_call(base, (p, b), (x,))

    @torch.no_grad()
    def evaluate_runs(x: Tensor, y: Tensor) -> tuple[list[float], list[float]]:
        """Every run's mean loss and error rate on (x, y), in eval() mode."""
        base.eval()
        outs = vmap(run_outputs, in_dims=(0, 0, None), randomness="different")(params, buffers, x)
        base.train()
        losses = torch.stack([loss_fn(out, y) for out in outs])
        errors = ((outs.argmax(dim=-1) != y).double().mean(dim=1) if classification
                  else torch.full((len(runs),), math.nan))
        return losses.tolist(), errors.tolist()

    # One generator per seed gives each run the minibatch order regopt.fit draws for it.
    order_generators = [torch.Generator().manual_seed(s) for s in seeds]
    n = len(x_train)
    loss_sums = torch.zeros(len(runs))
    histories = [History() for _ in runs]
    bar = tqdm(range(1, epochs + 1), desc=f"{len(runs)} runs at once", disable=not progress, leave=False)
    base.train()
    for epoch in bar:
        orders = torch.stack([torch.randperm(n, generator=g) for g in order_generators])
        run_orders = orders[[i for i, _ in runs]]
        loss_sums.zero_()
        wrong = torch.zeros(len(runs), dtype=torch.long)
        for first in range(0, n, batch_size):
            index = run_orders[:, first : first + batch_size]
            batch = index[0] if shared_batches else index
            xb, yb = x_train[batch], y_train[batch]
            totals, (losses, outs) = step(params, buffers, xb, yb, lam)
            optimizer.zero_grad(set_to_none=True)
            # The runs share no parameter, so the gradient of the sum is each run's own gradient.
            totals.sum().backward()
            optimizer.step()
            loss_sums += losses * index.shape[1]
            if classification:
                wrong += (outs.argmax(dim=-1) != yb).sum(dim=-1)
        if not torch.isfinite(loss_sums).all():
            bad = [lambdas[j] for (_, j), ok in zip(runs, torch.isfinite(loss_sums).tolist()) if not ok]
            raise FloatingPointError(f"The training loss diverged at epoch {epoch} for λ in {bad}. "
                                     "Lower the learning rate (or λ) and try again.")
        evaluated = epoch % eval_every == 0 or epoch == epochs
        test_losses, test_errors = (evaluate_runs(x_test, y_test) if evaluated
                                    else ([math.nan] * len(runs), [math.nan] * len(runs)))
        for k, history in enumerate(histories):
            history.epoch.append(epoch)
            history.train_loss.append(float(loss_sums[k]) / n)
            history.train_error.append(float(wrong[k]) / n if classification else math.nan)
            history.train_penalty.append(math.nan)
            history.test_loss.append(test_losses[k])
            history.test_error.append(test_errors[k])

    final = {"train": evaluate_runs(x_train, y_train), "test": (test_losses, test_errors)}
    shape = (len(seeds), len(lambdas))
    arrays = {name: np.full(shape, np.nan) for name in ("train_loss", "train_error", "test_loss", "test_error")}
    for k, (i, j) in enumerate(runs):
        arrays["train_loss"][i, j], arrays["train_error"][i, j] = final["train"][0][k], final["train"][1][k]
        arrays["test_loss"][i, j], arrays["test_error"][i, j] = final["test"][0][k], final["test"][1][k]
    bar.close()
    seconds = time.perf_counter() - start
    return SweepResult(
        lambdas=lambdas,
        seeds=seeds,
        histories=[[histories[i * len(lambdas) + j] for j in range(len(lambdas))] for i in range(len(seeds))],
        run_seconds=np.full(shape, seconds / len(runs)),
        **arrays,
    )
