import pytest
import torch
from torch import nn

from regopt import penalties
from regopt.models import MLP


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))


def test_split_leaves_biases_and_norms_unpenalized():
    model = small_model()
    penalized, unpenalized = penalties.split_parameters(model)
    assert {id(p) for p in penalized} == {id(model[0].weight), id(model[3].weight)}
    assert {id(p) for p in unpenalized} == {id(model[0].bias), id(model[1].weight),
                                             id(model[1].bias), id(model[3].bias)}


def test_penalties_of_a_model_count_weights_only():
    model = small_model()
    weights = [model[0].weight, model[3].weight]
    assert torch.isclose(penalties.l2_penalty(model), sum((w ** 2).sum() for w in weights))
    assert torch.isclose(penalties.l1_penalty(model), sum(w.abs().sum() for w in weights))


def test_l2_penalty_gradient_is_two_theta():
    theta = torch.randn(7, requires_grad=True)
    penalties.l2_penalty([theta]).backward()
    assert torch.allclose(theta.grad, 2 * theta.detach())


def test_prox_l1_is_soft_thresholding_and_never_flips_a_sign():
    torch.manual_seed(1)
    w = torch.randn(1000)
    before = w.clone()
    penalties.prox_l1_([w], 0.3)
    assert torch.equal(w, penalties.soft_threshold(before, 0.3))
    assert torch.all(w * before >= 0)
    assert torch.all(w[before.abs() <= 0.3] == 0)


def test_param_groups_decay_weights_only():
    model = MLP(10, [5], 2)
    groups = penalties.param_groups(model, 1e-3)
    assert groups[0]["weight_decay"] == 1e-3 and groups[1]["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in groups[0]["params"])
    assert all(p.ndim == 1 for p in groups[1]["params"])
    torch.optim.SGD(groups, lr=0.1)  # accepted by torch as is


@pytest.mark.parametrize("call, message", [
    (lambda: penalties.prox_l1_([torch.zeros(2)], -0.1), r"threshold=-0.1"),
    (lambda: penalties.param_groups(MLP(4, [2], 2), -1), r"weight_decay=-1"),
    (lambda: penalties.l2_penalty([torch.zeros(2), 3.0]), r"params\[1\] is a float"),
    (lambda: penalties.split_parameters("model"), r"expected a torch.nn.Module"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
