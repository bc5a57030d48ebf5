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
