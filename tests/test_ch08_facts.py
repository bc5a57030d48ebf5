"""The claims of chapter 8 (book/08_no_free_lunch.ipynb), recomputed independently.

The chapter counts things exactly: no-free-lunch averages as fractions, regions of a line
arrangement by enumerating sign vectors next to vertices, and linear pieces by pushing breakpoints
through the layers. These tests count the same things another way: every training set instead of a
few, regions from points beside the edges of the arrangement instead of its vertices, pieces from
exact rational arithmetic on a grid that contains every breakpoint.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

INPUTS = list(itertools.product([0, 1], repeat=3))
TARGETS = list(itertools.product([0, 1], repeat=len(INPUTS)))


# --- section 1: no free lunch --------------------------------------------------------------------


def learner_nearest_last(train, labels):
    """1-NN in Hamming distance, the *last* nearest training input on ties."""
    def predict(x):
        best = min(sum(a != b for a, b in zip(x, INPUTS[i])) for i in train)
        return [labels[k] for k, i in enumerate(train) if sum(a != b for a, b in zip(x, INPUTS[i])) == best][-1]
    return [predict(x) for x in INPUTS]


def learner_hash(train, labels):
    """An arbitrary deterministic function of the training data: a pseudo-random lookup table."""
    seed = hash((tuple(train), tuple(labels))) % (2**32)
    return list(np.random.default_rng(seed).integers(0, 2, len(INPUTS)))


def learner_anti_majority(train, labels):
    return [int(2 * sum(labels) < len(labels))] * len(INPUTS)


def learner_constant_one(train, labels):
    return [1] * len(INPUTS)


LEARNERS = [learner_nearest_last, learner_hash, learner_anti_majority, learner_constant_one]


def off_training_averages(learner, train):
    unseen = [i for i in range(len(INPUTS)) if i not in train]
    total = Fraction(0)
    for target in TARGETS:
        predictions = learner(train, [target[i] for i in train])
        total += Fraction(sum(predictions[i] == target[i] for i in unseen), len(unseen))
    return total / len(TARGETS)


def test_nfl_max_deviation_from_half_is_zero_over_every_training_set():
    # nfl_max_deviation_from_half: every training set of four sizes, four learners, exact fractions.
    deviations = [abs(off_training_averages(learner, list(train)) - Fraction(1, 2))
                  for size in (1, 2, 4, 7) for train in itertools.combinations(range(len(INPUTS)), size)
                  for learner in LEARNERS]
    assert len(deviations) == 4 * (8 + 28 + 70 + 8)
    assert max(deviations) == 0


def test_nfl_holds_for_small_mlps_trained_per_target():
    # The chapter's fifth learner, rewritten in NumPy with hand-written backpropagation: a ReLU MLP trained
    # by gradient descent on each of the 256 targets (all at once), from the same initial weights.
    rng = np.random.default_rng(0)
    x_all = np.array(INPUTS, dtype=float) * 2 - 1
    train = [0, 3, 5, 6]
    unseen = [i for i in range(len(INPUTS)) if i not in train]
    y = np.array([[t[i] for i in train] for t in TARGETS], dtype=float)            # (256, N)
    hidden = 8
    w1 = np.repeat(rng.normal(size=(1, 3, hidden)) / np.sqrt(3), len(TARGETS), 0)
    b1 = np.zeros((len(TARGETS), 1, hidden))
    w2 = np.repeat(rng.normal(size=(1, hidden)) / np.sqrt(hidden), len(TARGETS), 0)
    b2 = np.zeros((len(TARGETS), 1))
    x = x_all[train]
    for _ in range(1500):
        pre = x[None] @ w1 + b1                                   # (256, N, h)
        h = np.maximum(pre, 0)
        logits = np.einsum("tnh,th->tn", h, w2) + b2
        grad_logits = (1 / (1 + np.exp(-logits)) - y) / len(train)  # d(mean BCE)/d logits
        grad_h = grad_logits[..., None] * w2[:, None, :] * (pre > 0)
        w2 -= 0.5 * np.einsum("tn,tnh->th", grad_logits, h)
        b2 -= 0.5 * grad_logits.sum(1, keepdims=True)
        w1 -= 0.5 * np.einsum("nd,tnh->tdh", x, grad_h)
        b1 -= 0.5 * grad_h.sum(1, keepdims=True)
    logits_all = np.einsum("tnh,th->tn", np.maximum(x_all[None] @ w1 + b1, 0), w2) + b2
    predictions = (logits_all > 0).astype(int)
    targets = np.array(TARGETS)
    assert (predictions[:, train] == targets[:, train]).all(1).mean() > 0.9   # it does fit its training sets
    total = sum(Fraction(int(c), len(unseen)) for c in (predictions[:, unseen] == targets[:, unseen]).sum(1))
    assert total / len(TARGETS) == Fraction(1, 2)


def test_every_learner_has_the_same_binomial_count_of_correct_unseen_predictions():
    train = [1, 2, 6]
    unseen = [i for i in range(len(INPUTS)) if i not in train]
    for learner in LEARNERS:
        counts = np.zeros(len(unseen) + 1, int)
        for target in TARGETS:
            predictions = learner(train, [target[i] for i in train])
            counts[sum(predictions[i] == target[i] for i in unseen)] += 1
        expected = [len(TARGETS) * math.comb(len(unseen), k) // 2 ** len(unseen) for k in range(len(unseen) + 1)]
        assert counts.tolist() == expected


# --- section 3: regions of an arrangement ---------------------------------------------------------


def regions_by_edges(normals, offsets):
    """Distinct sign vectors at points just beside the middle of every edge (and beyond its ends) of the arrangement."""
    found = set()
    for i, (a, b) in enumerate(zip(normals, offsets)):
        point = -b * a / (a @ a)                  # a point on line i
        direction = np.array([-a[1], a[0]])
        params = []
        for j, (c, e) in enumerate(zip(normals, offsets)):
            if j != i:
                params.append(-(c @ point + e) / (c @ direction))   # where line j crosses line i
        params = np.sort(params)
        gaps = np.diff(params)
        candidates = np.concatenate([[params[0] - 1.0], params[:-1] + gaps / 2, [params[-1] + 1.0]])
        step = 1e-3 * min(gaps.min(), 1.0)
        for t in candidates:
            for side in (-1.0, 1.0):
                x = point + t * direction + side * step * a / np.linalg.norm(a)
                found.add(tuple(normals @ x + offsets > 0))
    return len(found)


@pytest.mark.parametrize("seed", [212, 0, 1, 2])
def test_regions_of_12_random_lines(seed):
    # regions_12_lines_2d: the chapter's lines are seed 212 (normals N(0, I), offsets U(-1, 1)).
    rng = np.random.default_rng(seed)
    normals, offsets = rng.normal(size=(12, 2)), rng.uniform(-1, 1, size=12)
    assert regions_by_edges(normals, offsets) == 1 + 12 + math.comb(12, 2) == 79


def regions_by_linear_programs(normals, offsets):
    """Sign vectors s for which the open cell {x : s_i (w_i·x + b_i) > 0 for all i} is not empty, one LP each."""
    from scipy.optimize import linprog

    n, d = normals.shape
    count = 0
    for signs in itertools.product([-1.0, 1.0], repeat=n):
        s = np.array(signs)[:, None]
        # maximize t subject to s_i (w_i·x + b_i) >= t, t <= 1: the cell is open and non-empty iff t* > 0.
        result = linprog(c=np.r_[np.zeros(d), -1.0], A_ub=np.c_[-s * normals, np.ones((n, 1))], b_ub=(s[:, 0] * offsets),
                         bounds=[(None, None)] * d + [(None, 1.0)], method="highs")
        count += bool(result.status == 0 and -result.fun > 1e-9)
    return count


@pytest.mark.parametrize("seed", [305, 0, 1])
def test_regions_of_5_random_planes_in_3d(seed):
    # regions_5_planes_3d (self-check 4): the chapter's planes are seed 100 d + n = 305.
    rng = np.random.default_rng(seed)
    normals, offsets = rng.normal(size=(5, 3)), rng.uniform(-1, 1, size=5)
    assert regions_by_linear_programs(normals, offsets) == sum(math.comb(5, i) for i in range(4)) == 26


# --- section 4: pieces ----------------------------------------------------------------------------


def relu(v):
    return v if v > 0 else 0 * v


def tent_composed(x, depth):
    for _ in range(depth):
        x = 2 * relu(x) - 4 * relu(x - Fraction(1, 2))
    return x


def pieces_on_grid(values, grid):
    """Linear pieces of a piecewise linear function from exact values on a grid containing every breakpoint."""
    slopes = [(values[k + 1] - values[k]) / (grid[k + 1] - grid[k]) for k in range(len(grid) - 1)]
    return 1 + sum(s != t for s, t in zip(slopes, slopes[1:]))


def test_tent_pieces_L8():
    # tent_pieces_L8: 8 layers of 2 ReLU units; breakpoints are multiples of 1/256, the grid has step 1/1024.
    grid = [Fraction(k, 1024) for k in range(1025)]
    values = [tent_composed(x, 8) for x in grid]
    assert pieces_on_grid(values, grid) == 256
    # The same function as a torch network of 8 hidden layers (2 units each), evaluated in float64 (exact here).
    layers = [torch.nn.Linear(1, 2)] + [torch.nn.Linear(2, 2) for _ in range(7)]
    modules = []
    for index, layer in enumerate(layers):
        with torch.no_grad():
            layer.weight[:] = torch.tensor([[1.0], [1.0]]) if index == 0 else torch.tensor([[2.0, -4.0], [2.0, -4.0]])
            layer.bias[:] = torch.tensor([0.0, -0.5])
        modules += [layer, torch.nn.ReLU()]
    output = torch.nn.Linear(2, 1)
    with torch.no_grad():
        output.weight[:] = torch.tensor([[2.0, -4.0]])
        output.bias.zero_()
    network = torch.nn.Sequential(*modules, output).double()
    with torch.no_grad():
        torch_values = network(torch.tensor([float(x) for x in grid], dtype=torch.float64)[:, None])[:, 0].tolist()
    assert [Fraction(v) for v in torch_values] == values


def shallow_value(x, weights, biases, out_weights):
    return sum(v * relu(w * x + b) for w, b, v in zip(weights, biases, out_weights))


def test_shallow_pieces_16_units():
    # shallow_pieces_16_units: the chapter's 16-unit network switches at j/16 with slope changes 16, -32, 32, ...
    weights = [Fraction(1)] * 16
    biases = [Fraction(-j, 16) for j in range(16)]
    out = [Fraction(16)] + [Fraction(32 * (-1) ** j) for j in range(1, 16)]
    grid = [Fraction(k, 64) for k in range(-64, 129)]         # [-1, 2], every breakpoint on it
    values = [shallow_value(x, weights, biases, out) for x in grid]
    assert pieces_on_grid(values, grid) == 17
    assert all(values[k] == tent_composed(grid[k], 4) for k in range(len(grid)) if 0 <= grid[k] <= 1)


def test_one_hidden_layer_never_exceeds_units_plus_one_pieces():
    rng = np.random.default_rng(0)
    for _ in range(20):
        weights = [Fraction(int(w)) or Fraction(1) for w in rng.integers(-5, 6, 16)]
        biases = [Fraction(int(b), 7) for b in rng.integers(-20, 21, 16)]
        out = [Fraction(int(v)) for v in rng.integers(-5, 6, 16)]
        switches = sorted({-b / w for w, b in zip(weights, biases)})
        grid = sorted(set(switches) | {switches[0] - 1, switches[-1] + 1}
                      | {(s + t) / 2 for s, t in zip(switches, switches[1:])})
        values = [shallow_value(x, weights, biases, out) for x in grid]
        assert pieces_on_grid(values, grid) <= 16 + 1


def test_montufar_construction_reaches_the_bound_in_one_dimension():
    # 7 tent layers fold [0, 1] 128 times; a last layer switching at 1/3 and 2/3 of each fold: 3 * 2^7 pieces.
    grid = [Fraction(k, 768) for k in range(769)]            # breakpoints are multiples of 1/384
    values = []
    for x in grid:
        t = tent_composed(x, 7)
        values.append(relu(t - Fraction(1, 3)) + 2 * relu(Fraction(2, 3) - t))
    bound = math.prod([(2 // 1) ** 1] * 7) * (1 + 2)
    assert pieces_on_grid(values, grid) == bound == 384


def test_goodfellow_6_42_as_printed_exceeds_an_elementary_upper_bound():
    d, n, L = 2, 8, 4
    printed = math.comb(n, d) ** (d * (L - 1)) * n**d
    upper = math.prod(sum(math.comb(n, j) for j in range(d + 1)) for _ in range(L))
    assert printed > upper


def test_goodfellow_6_42_for_d_at_least_2_exceeds_the_elementary_bound_everywhere():
    # "true but empty for d >= 2 (with n > d)": then C(n, d) >= n, and the printed expression exceeds the bound.
    for d in range(2, 7):
        for n in range(d + 1, 41):
            assert math.comb(n, d) >= n
            for L in range(1, 9):
                printed = math.comb(n, d) ** (d * (L - 1)) * n**d
                upper = math.prod(sum(math.comb(n, j) for j in range(d + 1)) for _ in range(L))
                assert printed > upper, (d, n, L)


def test_montufar_construction_exceeds_n_to_the_l_by_a_constant_factor():
    # book_6_42_d1_L8: for d = 1 the expression is n^L = 256 (n = 2, L = 8), below the 384 pieces of the
    # constructed network (counted exactly in the test above), and below the elementary bound 3^8. A
    # constant factor (3/2 here) refutes no O(n^L); test_three_units_per_layer_reach_the_one_dimensional_maximum
    # shows the factor that grows with the depth.
    d, n, L = 1, 2, 8
    printed = math.comb(n, d) ** (d * (L - 1)) * n**d
    grid = [Fraction(k, 768) for k in range(769)]
    values = [relu(tent_composed(x, 7) - Fraction(1, 3)) + 2 * relu(Fraction(2, 3) - tent_composed(x, 7)) for x in grid]
    assert printed == 256 < pieces_on_grid(values, grid) == 384 < 3**8


# --- issue 25: optimization version, recursion, the shallow network's units, eq. 6.42 for d = 1 ---


def test_optimization_nfl_every_non_repeating_search_sees_the_same_values():
    # nfl_opt_same (Wolpert and Macready 1997): over all f: X -> Y, the multiset of value sequences
    # seen by a deterministic search that never revisits a point does not depend on the search.
    points, levels = range(3), range(3)
    objectives = list(itertools.product(levels, repeat=len(points)))

    def run(choose, f):
        seen = []
        for _ in points:
            free = [p for p in points if p not in [q for q, _ in seen]]
            p = choose(seen, free)
            seen.append((p, f[p]))
        return tuple(v for _, v in seen)

    searches = [
        lambda seen, free: free[0],
        lambda seen, free: free[-1],
        lambda seen, free: free[0] if not seen or seen[-1][1] == 2 else free[-1],
        lambda seen, free: free[(sum(v for _, v in seen) * 7 + 1) % len(free)],
    ]
    histograms = [sorted(run(s, f) for f in objectives) for s in searches]
    assert all(h == histograms[0] for h in histograms)
    # and each sequence of values occurs |Y|^(|X| - m) times for its first m entries
    assert sorted(histograms[0]) == sorted(objectives)


def test_region_recursion_matches_the_formula_and_the_new_regions_of_each_added_line():
    # recursion_cases: R(n, d) = R(n-1, d) + R(n-1, d-1), and the n-th line adds R(n-1, 1) = n regions.
    def recursive(n, d):
        return 1 if n == 0 or d == 0 else recursive(n - 1, d) + recursive(n - 1, d - 1)

    assert all(recursive(n, d) == sum(math.comb(n, i) for i in range(d + 1)) for n in range(15) for d in range(6))
    rng = np.random.default_rng(3)
    normals, offsets = rng.normal(size=(9, 2)), rng.uniform(-1, 1, size=9)
    counts = [regions_by_edges(normals[:n], offsets[:n]) for n in range(3, 10)]
    assert [b - a for a, b in zip(counts, counts[1:])] == [recursive(n - 1, 1) for n in range(4, 10)]


def test_new_regions_of_each_added_plane_in_3d():
    # recursion_example: the n-th plane in R^3 adds R(n-1, 2) regions (checked up to 6 planes by LPs).
    rng = np.random.default_rng(8)
    normals, offsets = rng.normal(size=(6, 3)), rng.uniform(-1, 1, size=6)
    counts = [regions_by_linear_programs(normals[:n], offsets[:n]) for n in range(3, 7)]
    assert [b - a for a, b in zip(counts, counts[1:])] == [1 + (n - 1) + math.comb(n - 1, 2) for n in range(4, 7)]


def test_one_hidden_layer_needs_2_to_the_L_units_for_the_sawtooth_on_0_1():
    # shallow_units_for_L8 = 2^L: with 2^L - 1 units every unit switches at one interior breakpoint;
    # for every choice of directions the slope equations on the 2^L pieces have no solution.
    import sympy

    for depth in (1, 2, 3):
        pieces = 2**depth
        switches = [Fraction(k, pieces) for k in range(1, pieces)]
        slopes = [pieces * (-1) ** m for m in range(pieces)]            # the sawtooth's slopes
        for flipped in itertools.product([False, True], repeat=len(switches)):
            # slope of unit k on piece m (the piece [m, m+1] / 2^L): +1 right of a right-pointing
            # switch, -1 left of a left-pointing one, else 0
            rows = [[(-1 if flip else 0) if Fraction(m, pieces) < s else (0 if flip else 1)
                     for s, flip in zip(switches, flipped)] for m in range(pieces)]
            A = sympy.Matrix(rows)
            augmented = A.row_join(sympy.Matrix(slopes))
            assert augmented.rank() > A.rank(), (depth, flipped)
        # with one more unit pointing right from 0 (it contributes x on [0, 1]) it is solvable
        rows = [[1] + [0 if Fraction(m, pieces) < s else 1 for s in switches] for m in range(pieces)]
        A = sympy.Matrix(rows)
        assert A.row_join(sympy.Matrix(slopes)).rank() == A.rank()


def test_grid_switch_points_fall_on_the_sawtooth_zeros_when_n_divides_128():
    # grid_flat_counts: j / n is a zero of the 8-layer sawtooth for every j when n divides 128.
    for n in (8, 16, 32, 64, 128):
        assert all(tent_composed(Fraction(j, n), 8) == 0 for j in range(n))
    assert any(tent_composed(Fraction(j, 192), 8) != 0 for j in range(192))


def test_the_shallow_lower_bound_holds_for_fits_with_any_switch_points():
    # bound_rms: any continuous function with k linear pieces has mean squared error at least
    # (1/12)(1 - 4k / 2^L) against the L-layer sawtooth; checked on least-squares fits with random
    # and structured switch points (the fit with n units has at most n + 1 pieces on [0, 1]).
    depth = 6
    x = np.linspace(0, 1, 2**12 + 1)
    y = x.copy()
    for _ in range(depth):
        y = 2 * np.maximum(y, 0) - 4 * np.maximum(y - 0.5, 0)
    rng = np.random.default_rng(0)
    for n in (2, 4, 8, 12, 16):
        placements = [rng.uniform(0, 1, n) for _ in range(20)] + [np.arange(n) / 2**depth,
                                                                   (np.arange(n) + 0.5) / 2**depth]
        for switches in placements:
            features = np.c_[np.ones_like(x), x, np.maximum(x[:, None] - switches[None, :], 0)]
            fit = features @ np.linalg.lstsq(features, y, rcond=None)[0]
            pieces = n + 1                        # n switch points inside [0, 1]
            assert np.mean((fit - y) ** 2) >= (1 - 4 * pieces / 2**depth) / 12 - 1e-4


def whole_teeth(start, length, depth):
    """The teeth [2j/2^L, 2(j+1)/2^L] of the L-layer sawtooth inside [start, start + length]."""
    tooth = Fraction(2, 2**depth)
    return max(0, math.floor((start + length) / tooth) - math.ceil(start / tooth))


def test_a_piece_holds_at_least_half_its_length_in_teeth_minus_two():
    # The step of the text's bound: an interval I holds at least (|I| 2^L - 4) / 2 whole teeth,
    # and no more can be promised: (|I| 2^L - 3) / 2 fails for an interval just shorter than two
    # teeth that starts just after a tooth begins (it holds none).
    depth = 8
    rng = np.random.default_rng(1)
    for _ in range(2000):
        start = Fraction(int(rng.integers(0, 10**6)), 10**6)
        length = Fraction(int(rng.integers(1, 10**6)), 10**6) * (1 - start)
        assert whole_teeth(start, length, depth) >= (length * 2**depth - 4) / 2
    tooth = Fraction(2, 2**depth)
    start, length = tooth / 100, tooth * Fraction(198, 100)
    assert whole_teeth(start, length, depth) == 0 < (length * 2**depth - 3) / 2


def zigzag_composed(x, depth):
    for _ in range(depth):
        x = 4 - 12 * relu(x - Fraction(1, 6)) + 9 * relu(x - Fraction(1, 3)) - 6 * relu(Fraction(2, 3) - x)
    return x


def test_three_units_per_layer_reach_the_one_dimensional_maximum():
    # zigzag_pieces_L8 = 4^8: each layer of 3 units maps every piece of [0, 1] onto [0, 1] four
    # times, so L layers reach the elementary bound (n + 1)^L for d = 1, which eq. 6.42 writes n^L.
    for depth in (1, 2, 3, 4):
        grid = [Fraction(k, 6**depth) for k in range(6**depth + 1)]   # breakpoints have denominators 6^L
        values = [zigzag_composed(x, depth) for x in grid]
        assert all(0 <= v <= 1 for v in values)
        pieces = pieces_on_grid(values, grid)
        assert pieces == 4**depth == math.prod([3 + 1] * depth)
        assert Fraction(pieces, 3**depth) == Fraction(4, 3) ** depth   # unbounded in the depth
