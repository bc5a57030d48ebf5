import math

import pytest
import torch
from torch import nn

from regopt.models import MLP
from regopt.penalties import l2_penalty, prox_l1_
from regopt.train import History, evaluate, fit, set_seed


def blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 2, generator=g) * 0.5 + (y[:, None] * 2 - 1) * 1.5
    return x, y


def make(seed=0):
    set_seed(seed)
    model = MLP(2, [16], 2)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def test_fit_learns_a_separable_problem():
    x, y = blobs()
    model, opt = make()
    untrained_error = evaluate(model, x, y)[1]
    history = fit(model, (x, y, x, y), opt, epochs=20, batch_size=20, progress=False)
    assert history.epoch == list(range(1, 21))
    # Learned, not lucky: the same network erred on a good part of the set before training.
    assert untrained_error > 0.2
    assert history.test_error[-1] < 0.05
    assert history.train_loss[-1] < history.train_loss[0]


def test_same_seed_same_history_different_seed_different():
    x, y = blobs()
    runs = []
    for seed in (1, 1, 2):
        model, opt = make(0)
        runs.append(fit(model, (x, y, x, y), opt, epochs=3, batch_size=16, seed=seed, progress=False))
    assert runs[0].as_dict() == runs[1].as_dict()
    assert runs[0].train_loss != runs[2].train_loss


def test_penalty_is_added_to_the_loss_and_recorded():
    x, y = blobs()
    lam = 0.5
    model, opt = make()
    h = fit(model, (x, y), opt, epochs=5, penalty=lambda m: lam * l2_penalty(m), progress=False)
    model_free, opt_free = make()
    h_free = fit(model_free, (x, y), opt_free, epochs=5, progress=False)
    assert all(p > 0 for p in h.train_penalty) and h_free.train_penalty == [0.0] * 5
    assert float(l2_penalty(model).detach()) < float(l2_penalty(model_free).detach())


def test_after_step_runs_after_every_step():
    x, y = blobs(100)
    model, opt = make()
    calls = []

    def count_and_prox(m):
        calls.append(1)
        prox_l1_(m, 0.05)

    fit(model, (x, y), opt, epochs=2, batch_size=25, after_step=count_and_prox, progress=False)
    assert len(calls) == 2 * 4
    assert sum(int((p == 0).sum()) for p in model[1].weight) > 0


def test_history_matches_evaluate_on_test_set():
    x, y = blobs()
    model, opt = make()
    h = fit(model, (x, y, x[:50], y[:50]), opt, epochs=2, progress=False)
    loss, error = evaluate(model, x[:50], y[:50])
    assert math.isclose(h.test_loss[-1], loss) and math.isclose(h.test_error[-1], error)


def test_eval_every_leaves_gaps_but_always_evaluates_the_last_epoch():
    x, y = blobs()
    model, opt = make()
    h = fit(model, (x, y, x, y), opt, epochs=5, eval_every=2, progress=False)
    evaluated = [not math.isnan(v) for v in h.test_error]
    assert evaluated == [False, True, False, True, True]


def test_regression_targets_use_mse_and_nan_errors():
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    set_seed(0)
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
    h = fit(model, (x, y), torch.optim.SGD(model.parameters(), lr=0.1), epochs=30, batch_size=16, progress=False)
    assert h.train_loss[-1] < 1e-2 and math.isnan(h.train_error[-1])


def test_divergence_is_reported_with_advice():
    x, y = blobs()
    set_seed(0)
    model = MLP(2, [16], 2)
    with pytest.raises(FloatingPointError, match=r"diverged.*Lower the learning rate"):
        fit(model, (x * 1e3, y), torch.optim.SGD(model.parameters(), lr=1e4), epochs=5, progress=False)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": -1}, ValueError, r"epochs=-1"),
    ({"batch_size": 0}, ValueError, r"batch_size=0"),
    ({"eval_every": 0}, ValueError, r"eval_every=0"),
    ({"optimizer": "sgd"}, TypeError, r"optimizer is a str"),
    ({"data": [1, 2]}, TypeError, r"data\[0\] is a int"),
])
def test_bad_arguments_are_named(kwargs, error, message):
    x, y = blobs(20)
    model, opt = make()
    args = {"model": model, "data": (x, y), "optimizer": opt, "epochs": 1, "progress": False}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        fit(**args)


def test_history_final_and_empty():
    assert History().__repr__() == "History(empty)"
    with pytest.raises(ValueError, match="empty"):
        History().final
