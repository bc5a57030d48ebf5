"""Tests of regopt.experiments: the λ sweep loop, its result arrays and the table formatter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from regopt.experiments import SweepResult, penalty_sweep, zero_fraction
from regopt.models import MLP
from regopt.penalties import l2_penalty, prox_l1_


def tiny_data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(60, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x[:40], y[:40], x[40:], y[40:]


def make_model() -> nn.Module:
    return MLP(6, [8], 2)


def sgd(model, lam):
    return torch.optim.SGD(model.parameters(), lr=0.1)


def sweep(**kwargs) -> SweepResult:
    args = dict(make_model=make_model, data=tiny_data(), lambdas=[0.0, 0.01, 0.1], make_optimizer=sgd,
                epochs=3, batch_size=10, progress=False,
                penalty=lambda m, lam: lam * l2_penalty(m.parameters()))
    args.update(kwargs)
    return penalty_sweep(**args)


def test_shapes_and_deterministic_given_seeds():
    a = sweep(seeds=[0, 1])
    b = sweep(seeds=[0, 1])
    assert a.test_error.shape == a.train_error.shape == (2, 3)
    np.testing.assert_array_equal(a.test_loss, b.test_loss)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    assert a.mean("test_error").shape == (3,)
    assert len(a.histories) == 2 and len(a.histories[0]) == 3
    assert a.histories[0][0].epoch == [1, 2, 3]


def test_seeds_change_the_runs():
    a = sweep(seeds=[0, 1])
    assert not np.array_equal(a.train_loss[0], a.train_loss[1])


def test_a_run_depends_only_on_its_seed_and_lambda():
    both = sweep(seeds=[0, 1], lambdas=[0.0, 0.1])
    alone = sweep(seeds=[1], lambdas=[0.1])
    assert both.train_loss[1, 1] == alone.train_loss[0, 0]


def test_stronger_l2_gives_smaller_weights():
    norms = sweep(lambdas=[0.0, 0.5], epochs=10,
                  measure=lambda m: {"norm": float(l2_penalty(m).detach())}).mean("norm")
    assert norms[1] < norms[0]


def test_lambda_zero_calls_neither_penalty_nor_after_step():
    calls = []

    def penalty(model, lam):
        calls.append(("penalty", lam))
        return lam * l2_penalty(model)

    def after(model, lam):
        calls.append(("after", lam))
        prox_l1_(model, lam)

    sweep(lambdas=[0.0, 0.2], penalty=penalty, after_step=after, epochs=1)
    assert calls and {lam for _, lam in calls} == {0.2}
    assert {kind for kind, _ in calls} == {"penalty", "after"}


def test_lambda_zero_equals_calling_with_zero():
    skipped = sweep(lambdas=[0.0], seeds=[3])
    # λ = 1e-300 is positive, so the penalty is called, and is numerically nothing.
    called = sweep(lambdas=[1e-300], seeds=[3])
    np.testing.assert_allclose(skipped.train_loss, called.train_loss, rtol=1e-6)


def test_after_step_prox_creates_exact_zeros():
    result = sweep(lambdas=[0.0, 0.05], penalty=None, epochs=5,
                   after_step=lambda m, lam: prox_l1_(m.parameters(), lam),
                   measure=lambda m: {"zeros": zero_fraction(m)})
    zeros = result.mean("zeros")
    assert zeros[0] == 0.0 and zeros[1] > 0.5


def test_weight_decay_through_the_optimizer():
    result = sweep(lambdas=[0.0, 0.5], penalty=None, epochs=10,
                   make_optimizer=lambda m, lam: torch.optim.SGD(m.parameters(), lr=0.1, weight_decay=lam),
                   measure=lambda m: {"norm": float(l2_penalty(m).detach())})
    assert result.mean("norm")[1] < result.mean("norm")[0]


def test_errors_are_fractions_and_train_error_is_the_final_model_on_all_train_data():
    result = sweep(seeds=[0])
    assert np.all((result.train_error >= 0) & (result.train_error <= 1))
    assert np.all(result.train_error * 40 == np.round(result.train_error * 40))
    assert np.all(result.test_error * 20 == np.round(result.test_error * 20))


def test_std_join_subset_and_at():
    a = sweep(seeds=[0, 1], lambdas=[0.0, 0.01])
    b = sweep(seeds=[0, 1], lambdas=[0.1])
    joined = a.join(b)
    assert joined.lambdas == [0.0, 0.01, 0.1]
    np.testing.assert_array_equal(joined.test_loss[:, 2], b.test_loss[:, 0])
    assert joined.at(0.1) == 2
    sub = joined.subset([0.1, 0.0])
    np.testing.assert_array_equal(sub.train_loss[:, 1], a.train_loss[:, 0])
    one_seed = joined.subset(seeds=[1])
    assert one_seed.seeds == [1] and one_seed.train_loss.shape == (1, 3)
    np.testing.assert_array_equal(one_seed.train_loss[0], joined.train_loss[1])
    assert one_seed.histories[0][2] is b.histories[1][0]
    with pytest.raises(KeyError, match="were not run"):
        a.subset(seeds=[7])
    assert np.allclose(a.std("train_loss"), a.train_loss.std(axis=0, ddof=1))
    assert np.all(sweep(seeds=[0]).std("train_loss") == 0)
    with pytest.raises(ValueError, match="both contain"):
        a.join(a)
    with pytest.raises(KeyError, match="was not swept"):
        a.at(0.5)
    with pytest.raises(KeyError, match="unknown"):
        a.metric("accuracy")


def test_zero_fraction_counts_exact_zeros():
    layer = nn.Linear(4, 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.fill_(0.5)
    assert zero_fraction(layer) == pytest.approx(8 / 10)
    assert zero_fraction([torch.tensor([0.0, 1.0, 0.0, 2.0])]) == 0.5
    with pytest.raises(ValueError, match="no parameters"):
        zero_fraction([])


@pytest.mark.parametrize("kwargs, message", [
    (dict(lambdas=[]), "non-empty"),
    (dict(lambdas=[0.1, -1.0]), r"λ=-1.0 is invalid"),
    (dict(lambdas=[0.1, 0.1]), "repeats"),
    (dict(seeds=[]), "seeds is empty"),
    (dict(seeds=[1, 1]), "repeats"),
    (dict(epochs=0), "epochs=0"),
    (dict(data=tiny_data()[:2]), "no test set"),
    (dict(make_model="mlp"), "make_model is a str"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        sweep(**kwargs)



def test_run_seconds_follow_join_and_subset():
    a = sweep(seeds=[0, 1])
    assert a.run_seconds.shape == (2, 3) and (a.run_seconds > 0).all()
    assert a.seconds == pytest.approx(a.run_seconds.sum())
    part = a.subset(lambdas=[0.01], seeds=[1])
    assert part.seconds == pytest.approx(a.run_seconds[1, 1])
    joined = a.subset(lambdas=[0.0]).join(a.subset(lambdas=[0.1]))
    assert joined.seconds == pytest.approx(a.run_seconds[:, [0, 2]].sum())
