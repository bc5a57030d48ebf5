"""regopt.optim against torch.optim, and the facts chapter 6 states about the updates."""

from __future__ import annotations

import inspect
import itertools
import math

import pytest
import torch

from regopt import optim

PAIRS = {
    "SGD": (optim.SGD, torch.optim.SGD),
    "RMSprop": (optim.RMSprop, torch.optim.RMSprop),
    "Adam": (optim.Adam, torch.optim.Adam),
    "AdamW": (optim.AdamW, torch.optim.AdamW),
}
SHAPES = [(7,), (3, 5), (2, 3, 4), ()]


def _problem(seed: int, dtype: torch.dtype):
    """Random parameters of several shapes and a random non-quadratic loss of them."""
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]
    targets = [torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]
    scales = [torch.rand(s, generator=gen, dtype=dtype) * 3 + 0.1 for s in SHAPES]

    def loss_fn(params, step):
        # A step-dependent random perturbation makes the gradients stochastic, as in SGD.
        noise = torch.Generator().manual_seed(seed * 1000 + step)
        total = 0.0
        for p, t, s in zip(params, targets, scales):
            jitter = torch.randn(p.shape, generator=noise, dtype=dtype) * 0.3
            total = total + (s * (p - t - jitter) ** 2).sum() + 0.1 * torch.cos(p).sum()
        return total

    return init, loss_fn


def _groups(params, options, split):
    if not split:
        return [{"params": params}], options
    # Two parameter groups: the second overrides the learning rate and weight decay.
    second = {"params": params[2:], "lr": options.get("lr", 1e-3) * 0.5}
    if "weight_decay" in options:
        second["weight_decay"] = options["weight_decay"] * 2
    return [{"params": params[:2]}, second], options


def _run_side_by_side(name, options, dtype=torch.float64, steps=100, seed=0, split=False):
    ours_cls, torch_cls = PAIRS[name]
    init, loss_fn = _problem(seed, dtype)
    results = []
    for cls in (ours_cls, torch_cls):
        params = [p.clone().requires_grad_(True) for p in init]
        groups, kwargs = _groups(params, options, split)
        extra = {"foreach": False} if cls is torch_cls else {}
        opt = cls(groups, **kwargs, **extra)
        for step in range(steps):
            opt.zero_grad()
            loss_fn(params, step).backward()
            opt.step()
        results.append([p.detach() for p in params])
    return results


def _assert_close(ours, theirs, rtol=1e-6):
    for a, b in zip(ours, theirs):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * 1e-3)


def _combos(grid):
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        yield dict(zip(names, values))


# Every option combination; learning rates and the remaining values vary in the
# param-group test below (kept small: the suite runs on a shared 2-core machine).
SGD_GRID = {"lr": [0.02], "momentum": [0.0, 0.9], "dampening": [0.0, 0.3],
            "weight_decay": [0.0, 0.1], "nesterov": [False, True]}
RMS_GRID = {"lr": [3e-3], "alpha": [0.9], "eps": [1e-8, 1e-3], "weight_decay": [0.0, 0.1],
            "momentum": [0.0, 0.9], "centered": [False, True]}
ADAM_GRID = {"lr": [2e-2], "betas_eps": [((0.9, 0.999), 1e-8), ((0.5, 0.9), 1e-3)],
             "weight_decay": [0.0, 0.1], "amsgrad": [False, True]}


def _sgd_cases():
    for c in _combos(SGD_GRID):
        if c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0):
            continue
        yield c


@pytest.mark.parametrize("options", list(_sgd_cases()), ids=str)
def test_sgd_matches_torch(options):
    ours, theirs = _run_side_by_side("SGD", options)
    _assert_close(ours, theirs)


@pytest.mark.parametrize("options", list(_combos(RMS_GRID)), ids=str)
def test_rmsprop_matches_torch(options):
    ours, theirs = _run_side_by_side("RMSprop", options)
    _assert_close(ours, theirs)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("options", list(_combos(ADAM_GRID)), ids=str)
def test_adam_and_adamw_match_torch(name, options):
    options = dict(options)
    options["betas"], options["eps"] = options.pop("betas_eps")
    ours, theirs = _run_side_by_side(name, options)
    _assert_close(ours, theirs)


@pytest.mark.parametrize("name,options", [
    ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.05}),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_param_groups_float32_maximize_and_long_runs(name, options, dtype):
    ours, theirs = _run_side_by_side(name, options, dtype=dtype, steps=200, seed=3, split=True)
    _assert_close(ours, theirs)
    # maximize=True follows the negated gradient exactly as torch does.
    ours, theirs = _run_side_by_side(name, {**options, "lr": options["lr"] * 0.01, "maximize": True},
                                     dtype=dtype, steps=50, seed=4)
    _assert_close(ours, theirs)


def test_defaults_match_torch():
    for ours_cls, torch_cls in PAIRS.values():
        ours = inspect.signature(ours_cls.__init__).parameters
        theirs = inspect.signature(torch_cls.__init__).parameters
        for name, parameter in ours.items():
            if name in ("self", "params"):
                continue
            assert name in theirs, f"{ours_cls.__name__} has an argument {name} torch lacks"
            assert parameter.default == theirs[name].default, (ours_cls.__name__, name)
        missing = set(theirs) - set(ours) - {"foreach", "fused", "capturable", "differentiable",
                                             "decoupled_weight_decay"}
        assert not missing, f"{ours_cls.__name__} lacks torch's arguments {missing}"


def test_works_with_fit_and_state_dict():
    from regopt import MLP, fit

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=gen)
    y = (x[:, 0] > 0).long()
    model = MLP(10, [16], 2)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, (x, y, x, y), opt, epochs=5, batch_size=50, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    state = opt.state_dict()
    again = optim.Adam(model.parameters(), lr=1e-2)
    again.load_state_dict(state)
    assert again.state_dict()["state"][0]["step"] == state["state"][0]["step"] == 20


@pytest.mark.parametrize("cls,kwargs,message", [
    (optim.SGD, {"lr": -1}, "Invalid learning rate: -1"),
    (optim.SGD, {"momentum": -0.5}, "Invalid momentum value: -0.5"),
    (optim.SGD, {"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
    (optim.SGD, {"nesterov": True}, "Nesterov momentum requires"),
    (optim.SGD, {"momentum": 0.9, "dampening": 0.1, "nesterov": True}, "dampening=0.1"),
    (optim.RMSprop, {"alpha": -0.9}, "Invalid alpha value: -0.9"),
    (optim.RMSprop, {"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
    (optim.Adam, {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    (optim.Adam, {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    (optim.Adam, {"betas": 0.9}, "Invalid betas: 0.9"),
    (optim.AdamW, {"lr": "fast"}, "Invalid learning rate: 'fast'"),
    (optim.AdamW, {"weight_decay": -1e-2}, "Invalid weight_decay value: -0.01"),
])
def test_validation_names_the_bad_value(cls, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        cls([torch.zeros(2, requires_grad=True)], **kwargs)


def test_adam_step_rejects_step_zero():
    p = torch.zeros(3)
    with pytest.raises(ValueError, match="step=0"):
        optim.adam_step(p, torch.ones(3), torch.zeros(3), torch.zeros(3), step=0)


def test_rmsprop_step_needs_buffer_for_momentum():
    with pytest.raises(ValueError, match="momentum_buffer"):
        optim.rmsprop_step(torch.zeros(2), torch.ones(2), torch.zeros(2), lr=0.1, momentum=0.9)


def test_update_functions_document_their_equations():
    for fn in (optim.sgd_step, optim.rmsprop_step, optim.adam_step, optim.adamw_step):
        assert r"\theta" in fn.__doc__ and r"\leftarrow" in fn.__doc__, fn.__name__


# ---- the facts the chapter states ---------------------------------------------------------- #


@pytest.mark.parametrize("momentum", [0.5, 0.9, 0.99])
def test_constant_gradient_momentum_step_tends_to_lr_over_one_minus_momentum(momentum):
    lr = 0.1
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = optim.SGD([param], lr=lr, momentum=momentum)
    steps = []
    for _ in range(3000):
        before = param.detach().clone()
        opt.zero_grad()
        param.sum().backward()  # gradient 1 everywhere
        opt.step()
        steps.append(float(before - param.detach()))
    assert steps[0] == pytest.approx(lr)
    assert steps[-1] == pytest.approx(lr / (1 - momentum), rel=1e-6)
    assert all(a < b for a, b in zip(steps[:15], steps[1:16]))  # the step grows monotonically


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)])
@pytest.mark.parametrize("gradient", [1e-3, 0.7, -250.0])
def test_adam_first_step_equals_lr_with_correction_and_ratio_without(betas, gradient):
    lr, (b1, b2) = 0.01, betas
    corrected = torch.zeros(1)
    optim.adam_step(corrected, torch.tensor([gradient]), torch.zeros(1), torch.zeros(1), 1, lr=lr,
                    beta1=b1, beta2=b2, eps=1e-12)
    assert float(-corrected) == pytest.approx(math.copysign(lr, gradient), rel=1e-6)
    raw = torch.zeros(1)
    optim.adam_step(raw, torch.tensor([gradient]), torch.zeros(1), torch.zeros(1), 1, lr=lr,
                    beta1=b1, beta2=b2, eps=1e-12, bias_correction=False)
    assert float(raw / corrected) == pytest.approx((1 - b1) / math.sqrt(1 - b2), rel=1e-6)


@pytest.mark.parametrize("lr,weight_decay", [(1e-3, 1e-2), (1e-2, 0.5), (0.1, 1.0)])
def test_adamw_with_zero_loss_gradient_shrinks_by_one_minus_lr_lambda(lr, weight_decay):
    init = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    param = init.clone().requires_grad_(True)
    opt = optim.AdamW([param], lr=lr, weight_decay=weight_decay)
    steps = 100
    for _ in range(steps):
        opt.zero_grad()
        (0.0 * param).sum().backward()
        opt.step()
    torch.testing.assert_close(param.detach(), init * (1 - lr * weight_decay) ** steps)


def test_adam_with_l2_barely_depends_on_lambda_when_the_loss_gradient_is_zero():
    # Adam divides λθ by its own running RMS, so each step has length ≈ γ whatever λ is.
    finals = []
    for weight_decay in (1e-3, 1e-2, 1e-1):
        param = torch.ones(1, requires_grad=True)
        opt = optim.Adam([param], lr=1e-3, weight_decay=weight_decay)
        for _ in range(100):
            opt.zero_grad()
            (0.0 * param).sum().backward()
            opt.step()
        finals.append(float(param.detach()))
    assert max(finals) - min(finals) < 1e-3
    # Each step has length close to γ (slightly less: the gradient λθ shrinks as θ does).
    assert finals[0] == pytest.approx(1 - 100 * 1e-3, rel=5e-3)
