"""The facts chapter 7 (book/07_saddle_points.ipynb) relies on, recomputed independently.

Each test rebuilds a claim from scratch (its own data, its own code) and checks it against
the tolerance the chapter states: the count of permutation-equivalent minima, the flat
directions of a ReLU network's Hessian, and the critical points of a linear autoencoder.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from regopt.hessian import hessian, loss_function


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# --- Section 2: permutation copies -----------------------------------------------------------------


def test_log10_of_permutation_copies_for_9_layers_of_10_units():
    copies = math.prod(math.prod(range(1, 11)) for _ in range(9))   # (10!)^9 as an exact integer
    assert copies == math.factorial(10) ** 9
    # log10 from the exact digits: 10^(len-1) <= copies < 10^len, and the leading digits.
    digits = str(copies)
    log10 = len(digits) - 1 + math.log10(int(digits[:15]) / 10**14)
    assert log10 == pytest.approx(59.04, abs=0.01)


def test_permuting_hidden_units_keeps_the_function_and_changes_the_weights():
    torch.manual_seed(0)
    layers = [nn.Linear(3, 10), nn.Tanh(), nn.Linear(10, 10), nn.Tanh(), nn.Linear(10, 1)]
    net = nn.Sequential(*layers)
    x = torch.randn(50, 3)
    before = net(x).detach()
    first, second, third = layers[0], layers[2], layers[4]
    order1, order2 = torch.randperm(10), torch.randperm(10)
    with torch.no_grad():
        first.weight.copy_(first.weight[order1])
        first.bias.copy_(first.bias[order1])
        second.weight.copy_(second.weight[order2][:, order1])
        second.bias.copy_(second.bias[order2])
        third.weight.copy_(third.weight[:, order2])
    assert torch.allclose(net(x), before, atol=1e-12)
    assert not torch.equal(order1, torch.arange(10))


# --- Section 2: ReLU rescaling gives flat directions --------------------------------------------------


def _relu_problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(100, 2, generator=gen)
    w, b, v = torch.randn(4, 2, generator=gen), 0.5 * torch.randn(4, generator=gen), torch.randn(4, generator=gen)
    y = torch.relu(x @ w.T + b) @ v + 0.1 * torch.randn(100, generator=gen)
    return x, y[:, None]


def _clean_relu_minimum(x, y, net):
    """A minimum of the 2-4-1 ReLU loss in the interior of an activation pattern, or None."""
    risk = loss_function(net, x, y)
    for seed in range(40):
        gen = torch.Generator().manual_seed(100 + seed)
        theta = torch.cat([torch.randn(8, generator=gen) / math.sqrt(2), torch.zeros(4),
                           torch.randn(4, generator=gen) / 2, torch.zeros(1)]).requires_grad_(True)
        optimizer = torch.optim.Adam([theta], lr=0.01)
        for _ in range(2000):
            optimizer.zero_grad()
            risk(theta).backward()
            optimizer.step()
        theta = theta.detach()
        pattern = (x @ theta[:8].view(4, 2).T + theta[8:12]) > 0

        def smooth(t, pattern=pattern):
            h = (x @ t[:8].view(4, 2).T + t[8:12]) * pattern
            return ((h @ t[12:16] + t[16] - y[:, 0]) ** 2).mean()

        for _ in range(15):
            g = torch.func.grad(smooth)(theta)
            theta = theta - torch.linalg.pinv(torch.func.hessian(smooth)(theta), hermitian=True, rtol=1e-9) @ g
        still = torch.equal((x @ theta[:8].view(4, 2).T + theta[8:12]) > 0, pattern)
        if still and float(torch.func.grad(risk)(theta).norm()) < 1e-10:
            return theta
    return None


# torch.func.hessian's first call scripts PyTorch's own decompositions, which warns that
# torch.jit.script is deprecated (regopt.hessian silences it the same way).
@pytest.mark.filterwarnings("ignore:.*torch.jit.script.*deprecated:FutureWarning")
def test_relu_network_hessian_has_a_flat_direction_per_unit():
    x, y = _relu_problem()
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    theta = _clean_relu_minimum(x, y, net)
    assert theta is not None, "no initialization reached a differentiable minimum"
    H = hessian(net, x, y, at=theta)
    sigma, Q = torch.linalg.eigh(H)
    zero = 1e-8 * float(sigma.abs().max())
    assert float(sigma[0]) > -zero, "a minimum has no negative eigenvalue"
    flat = sigma.abs() < zero
    assert 4 <= int(flat.sum()) <= 17
    # The chapter's accounting: one rescaling per unit active somewhere, and the four coordinates
    # (w_j, b_j, v_j) of each unit inactive on all the data; a unit active on all of it adds more.
    active = ((x @ theta[:8].view(4, 2).T + theta[8:12]) > 0).sum(dim=0)
    n_dead, n_always_on = int((active == 0).sum()), int((active == len(x)).sum())
    if n_always_on == 0:
        assert int(flat.sum()) == (4 - n_dead) + 4 * n_dead
    else:
        assert int(flat.sum()) >= (4 - n_dead) + 4 * n_dead + n_always_on
    null = Q[:, flat]
    for j in range(4):
        d = torch.zeros(17)
        d[2 * j:2 * j + 2], d[8 + j], d[12 + j] = theta[2 * j:2 * j + 2], theta[8 + j], -theta[12 + j]
        assert float((null.T @ d).norm() / d.norm()) == pytest.approx(1.0, abs=1e-8)
        # and the rescaled network computes the same function
        scaled = theta.clone()
        scaled[2 * j:2 * j + 2] *= 3.0
        scaled[8 + j] *= 3.0
        scaled[12 + j] /= 3.0
        risk = loss_function(net, x, y)
        assert float(risk(scaled)) == pytest.approx(float(risk(theta)), rel=1e-12)


# --- Section 4: the linear autoencoder ----------------------------------------------------------------


def _swap_count(nu, kept):
    return sum(1 for i in kept for j in range(len(nu)) if j not in kept and nu[j] > nu[i])


def test_linear_autoencoder_critical_points_loss_and_index():
    d, m = 4, 2
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(300, d, generator=gen) @ torch.randn(d, d, generator=gen)
    nu, U = torch.linalg.eigh(x.T @ x / len(x))
    encoder_decoder = nn.Sequential(nn.Linear(d, m, bias=False), nn.Linear(m, d, bias=False))

    def loss_fn(out, target):
        return ((out - target) ** 2).sum(dim=1).mean()

    risk = loss_function(encoder_decoder, x, x, loss_fn)
    worst_gap, mismatches, n_points, minima = 0.0, 0, 0, []
    for size in range(m + 1):
        for kept in itertools.combinations(range(d), size):
            A, B = torch.zeros(m, d), torch.zeros(d, m)
            A[:size], B[:, :size] = U[:, list(kept)].T, U[:, list(kept)]
            theta = torch.cat([A.reshape(-1), B.reshape(-1)])
            assert float(torch.func.grad(risk)(theta).norm()) < 1e-10
            left_out = sum(float(nu[j]) for j in range(d) if j not in kept)
            worst_gap = max(worst_gap, abs(left_out - float(risk(theta))))
            sigma = torch.linalg.eigvalsh(hessian(encoder_decoder, x, x, loss_fn, at=theta))
            index = int((sigma < -1e-9 * float(sigma.abs().max())).sum())
            predicted = _swap_count(nu.tolist(), kept) + (m - size) * (d - size)
            mismatches += index != predicted
            n_points += 1
            if index == 0:
                minima.append(set(kept))
    assert n_points == 1 + 4 + 6
    assert worst_gap <= 1e-8
    assert mismatches == 0
    top = set(torch.argsort(nu, descending=True)[:m].tolist())
    assert minima == [top], "only the top-m eigenvectors give a minimum"


def test_swap_count_of_a_worked_example():
    # The chapter's quiz: ν = (4, 3, 2, 1), keep eigenvectors 1 and 3: one swap (3 for 2).
    nu = [4.0, 3.0, 2.0, 1.0]
    assert _swap_count(nu, (0, 2)) == 1
    assert _swap_count(nu, (0, 1)) == 0


def test_linear_autoencoder_index_tends_to_grow_with_the_loss_but_not_monotonically():
    # linear_ae_spearman, linear_ae_kendall, linear_ae_n_discordant: the chapter's data (d = 5, m = 2, seed 0).
    # Loss and index follow from the covariance eigenvalues alone (checked against the Hessian above).
    from scipy import stats

    d, m = 5, 2
    gen = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(d, d, generator=gen))
    x = torch.randn(400, d, generator=gen) * torch.tensor([3.0, 2.2, 1.5, 1.0, 0.6]) @ rotation.T
    nu = torch.linalg.eigvalsh(x.T @ x / len(x)).flip(0).tolist()
    losses, indices = [], []
    for size in range(m + 1):
        for kept in itertools.combinations(range(d), size):
            losses.append(sum(nu[j] for j in range(d) if j not in kept))
            indices.append(_swap_count(nu, kept) + (m - size) * (d - size))
    assert len(losses) == 16
    assert stats.spearmanr(losses, indices).statistic > 0.8
    assert stats.kendalltau(losses, indices).statistic > 0.7
    discordant = [(a, b) for a, b in itertools.combinations(range(16), 2)
                  if (losses[a] - losses[b]) * (indices[a] - indices[b]) < 0]
    assert discordant, "the index would be monotone in the loss"
    # The example of the text: keeping only u_1 costs less than keeping u_2 and u_3, yet has the larger index.
    assert losses[1] < losses[1 + d + 4] and indices[1] == 4 > indices[1 + d + 4] == 2


# --- Section 1: the classification rule ---------------------------------------------------------


def _kind(sigma, zero=1e-12):
    """Minimum, maximum, saddle or degenerate, written from the definitions (not the chapter's code)."""
    down = [s for s in sigma if s < -zero]
    up = [s for s in sigma if s > zero]
    if down and up:
        return "saddle"
    if len(down) + len(up) < len(sigma):
        return "degenerate"
    return "minimum" if up else "maximum"


def test_a_negative_and_a_positive_eigenvalue_make_a_saddle_whatever_the_zeros():
    # J = θ₁² − θ₂² + 0·θ₃ (plus a quartic in θ₃): descends along θ₂, ascends along θ₁.
    def J(t):
        return t[0] ** 2 - t[1] ** 2 + t[2] ** 4

    sigma = torch.linalg.eigvalsh(torch.func.hessian(J)(torch.zeros(3))).tolist()
    assert sorted(sigma) == [-2.0, 0.0, 2.0]
    assert _kind(sigma) == "saddle"
    # and it is not a minimum nor a maximum: points nearby on both sides of J(0) = 0
    assert float(J(torch.tensor([0.0, 1e-3, 0.0]))) < 0 < float(J(torch.tensor([1e-3, 0.0, 0.0])))


def test_zeros_with_one_sign_leave_second_order_undecided():
    # Same Hessian diag(2, 0): θ₁² + θ₂⁴ has a minimum at 0, θ₁² − θ₂⁴ a saddle.
    for J, is_minimum in ((lambda t: t[0] ** 2 + t[1] ** 4, True), (lambda t: t[0] ** 2 - t[1] ** 4, False)):
        sigma = torch.linalg.eigvalsh(torch.func.hessian(J)(torch.zeros(2))).tolist()
        assert sorted(sigma) == [0.0, 2.0] and _kind(sigma) == "degenerate"
        near = [float(J(torch.tensor([a, b]))) for a in (-1e-2, 0.0, 1e-2) for b in (-1e-1, 0.0, 1e-1)]
        assert (min(near) >= 0) == is_minimum


# --- Section 2: sign flips of tanh units ------------------------------------------------------------


def test_tanh_copies_count_permutations_and_sign_flips():
    copies = (2**10 * math.factorial(10)) ** 9
    assert math.log10(copies) == pytest.approx(86.13, abs=0.01)
    assert copies // math.factorial(10) ** 9 == 2**90
    # A sign flip of one tanh unit (incoming weights, bias, outgoing weight) keeps the function.
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = torch.randn(30, 3)
    before = net(x).detach()
    with torch.no_grad():
        net[0].weight[1] *= -1
        net[0].bias[1] *= -1
        net[2].weight[:, 1] *= -1
    assert torch.allclose(net(x), before, atol=1e-14)


# --- Section 6: escaping the saddle ½θ₁² − ½θ₂² + ¼θ₂⁴ ---------------------------------------------


def _escape_steps(method, offset, angle=0.0, lr=0.05, max_steps=3000):
    """Steps until the escape coordinate exceeds 0.5, written independently of the chapter (numpy)."""
    import numpy as np

    R = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    theta = R @ np.array([1.0, offset])
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, max_steps + 1):
        u = R.T @ theta
        g = R @ np.array([u[0], -u[1] + u[1] ** 3])
        if method == "GD":
            theta = theta - lr * g
        elif method == "momentum":
            m = 0.9 * m + g
            theta = theta - lr * m
        else:  # Adam, torch's defaults but lr
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            theta = theta - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        if abs((R.T @ theta)[1]) > 0.5:
            return t
    return max_steps


def test_gradient_descent_escape_time_is_the_linear_prediction_plus_a_few_steps():
    # escape_GD_1e-1, escape_GD_1e-12 and the prediction ln(0.5/h₀)/ln(1 + η|σ_min|).
    for offset, measured in ((1e-1, 36), (1e-12, 555)):
        predicted = math.log(0.5 / offset) / math.log(1 + 0.05 * 1.0)
        assert _escape_steps("GD", offset) == measured
        assert 0 < measured - predicted < 5


def test_adam_escape_count_depends_on_the_saddle_being_aligned_with_the_axes():
    # The chapter's 8 and 13 steps on the saddle as written, 33 and 215 once it is turned by 45°,
    # while gradient descent and momentum do not change under the rotation.
    assert (_escape_steps("Adam", 1e-1), _escape_steps("Adam", 1e-12)) == (8, 13)
    turned = math.pi / 4
    assert (_escape_steps("Adam", 1e-1, turned), _escape_steps("Adam", 1e-12, turned)) == (33, 215)
    for method in ("GD", "momentum"):
        assert _escape_steps(method, 1e-8, turned) == _escape_steps(method, 1e-8)


def test_newton_goes_into_the_saddle_and_saddle_free_newton_leaves_it():
    # On θ₂ alone (the loss is separable): J₂ = −½θ₂² + ¼θ₂⁴, J₂' = θ₂³ − θ₂, J₂'' = 3θ₂² − 1.
    newton, free = 1e-8, 1e-8
    free_steps = None
    for step in range(1, 41):
        newton -= (newton**3 - newton) / (3 * newton**2 - 1)
        free -= (free**3 - free) / abs(3 * free**2 - 1)
        if free_steps is None and abs(free) > 0.5:
            free_steps = step
    assert abs(newton) < 1e-60
    assert free_steps == math.ceil(math.log2(0.5 / 1e-8))
