"""Lab 3's tests catch the mistakes students make, and accept the solution.

Each case below replaces one answer of ``solutions/03_dropout.ipynb`` by a plausible mistake and
runs that exercise's test cell in-process (the cells are plain Python), split into its visible
part and its hidden part. The case states which part must catch the mistake: a mistake that only
the hidden tests catch is one a student can submit believing it correct.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from labexec import assert_skipped_exercise_fails, run_answer_and_tests, split_test

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "03_dropout.ipynb"
NOTEBOOK = nbformat.read(SOLUTION, as_version=4)
CELLS = {c.metadata["nbgrader"]["grade_id"]: c.source for c in NOTEBOOK.cells
         if c.cell_type == "code" and "nbgrader" in c.metadata}
EXERCISES = ["ex1", "ex2", "ex3", "ex4", "ex5"]
DROPOUT_NAMES = ["torch.nn.Dropout", "torch.nn.functional.dropout"]


@pytest.fixture(scope="module")
def solved_namespace() -> dict:
    """Globals after running the solution's set-up, answer and test cells in order."""
    namespace: dict = {"__name__": "__lab03__"}
    order = ["imports"] + [f"{ex}-{part}" for ex in EXERCISES for part in ("solution", "tests")]
    order.insert(order.index("ex2-solution"), "ex2-network")
    for grade_id in order:
        exec(compile(CELLS[grade_id], grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
    return namespace


def run_exercise(namespace: dict, exercise: str, answer: str) -> tuple[str, str] | None:
    """Run `answer` then the exercise's tests; return (failed part, error type), or None."""
    scope = dict(namespace)
    return run_answer_and_tests(scope, exercise, answer, CELLS[f"{exercise}-tests"])


def test_every_test_cell_has_visible_and_hidden_parts_and_points():
    total = 0
    for exercise in EXERCISES:
        visible, hidden = split_test(CELLS[f"{exercise}-tests"])
        assert "assert" in visible and "assert" in hidden, exercise
    for cell in NOTEBOOK.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            total += cell.metadata["nbgrader"]["points"]
    assert total >= 14


def test_the_dropout_module_forbids_torchs_dropout():
    cell = next(c for c in NOTEBOOK.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1-tests")
    forbidden = cell.metadata["regopt"]["forbidden"]
    assert all(name in forbidden for name in DROPOUT_NAMES)
    # No answer of the solution uses what the lab forbids (torch.bernoulli is allowed).
    for exercise in EXERCISES:
        answer = CELLS[f"{exercise}-solution"]
        assert not any(name.split("torch.")[-1] in answer for name in ("nn.Dropout", "functional.dropout")), exercise


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_every_test(solved_namespace, exercise):
    assert run_exercise(solved_namespace, exercise, CELLS[f"{exercise}-solution"]) is None


EX1_INIT = """
class InvertedDropout(nn.Module):
    def __init__(self, keep_prob):
        super().__init__()
        if not 0.0 < keep_prob <= 1.0:
            raise ValueError(f"keep_prob={keep_prob!r} is invalid")
        self.keep_prob = keep_prob
"""

EX2_SIGNATURE = "def mc_dropout_predict(model, x, n_samples):\n"

EX3_ENUMERATION = """
def expected_over_masks(f, shape, p):
    n = math.prod(shape)
    masks = all_masks(n)
    kept = masks.sum(1)
    probabilities = p**kept * (1 - p) ** (n - kept)
    return float(sum(weight * f(mask.reshape(shape)) for weight, mask in zip(probabilities, masks)))
"""

EX3_LOSS = """
def expected_masked_loss(X, y, w, p):
    return expected_over_masks(lambda R: (y - (R * X) @ w).pow(2).sum(), X.shape, p)
"""

EX3_MARGINALIZED = """
def marginalized_loss(X, y, w, p):
    gamma = torch.sqrt(torch.diagonal(X.T @ X))
    return float((y - p * X @ w).pow(2).sum() + p * (1 - p) * (gamma * w).pow(2).sum())
"""

EX4_FORMULA = """
def ensemble_mse_formula(v, c, k):
    return v / k + (k - 1) / k * c
"""

MISTAKES = {
    "ex1 the drop probability used as the keep probability": ("ex1", "visible", EX1_INIT + """
    def forward(self, h):
        if not self.training:
            return h
        mask = torch.bernoulli(torch.full_like(h, 1 - self.keep_prob))
        return h * mask / (1 - self.keep_prob)
"""),
    "ex1 no rescaling": ("ex1", "visible", EX1_INIT + """
    def forward(self, h):
        if not self.training:
            return h
        return h * torch.bernoulli(torch.full_like(h, self.keep_prob))
"""),
    "ex1 scales by p instead of 1/p": ("ex1", "visible", EX1_INIT + """
    def forward(self, h):
        if not self.training:
            return h
        return h * torch.bernoulli(torch.full_like(h, self.keep_prob)) * self.keep_prob
"""),
    "ex1 drops in eval mode too": ("ex1", "visible", EX1_INIT + """
    def forward(self, h):
        return h * torch.bernoulli(torch.full_like(h, self.keep_prob)) / self.keep_prob
"""),
    "ex1 weight scaling in eval mode on top of inverted dropout": ("ex1", "visible", EX1_INIT + """
    def forward(self, h):
        if not self.training:
            return h * self.keep_prob
        return h * torch.bernoulli(torch.full_like(h, self.keep_prob)) / self.keep_prob
"""),
    "ex1 one mask shared by every row": ("ex1", "hidden", EX1_INIT + """
    def forward(self, h):
        if not self.training:
            return h
        mask = torch.bernoulli(torch.full_like(h.reshape(-1, h.shape[-1])[0], self.keep_prob))
        return h * mask / self.keep_prob
"""),
    "ex1 changes its input in place": ("ex1", "visible", EX1_INIT + """
    def forward(self, h):
        if not self.training:
            return h
        return h.mul_(torch.bernoulli(torch.full_like(h, self.keep_prob)) / self.keep_prob)
"""),
    "ex1 keeps exactly a fraction p of the entries": ("ex1", "hidden", EX1_INIT + """
    def forward(self, h):
        if not self.training:
            return h
        flat = torch.zeros(h.numel(), dtype=h.dtype)
        flat[torch.randperm(h.numel())[:round(self.keep_prob * h.numel())]] = 1
        return h * flat.reshape(h.shape) / self.keep_prob
"""),
    "ex1 no validation of keep_prob": ("ex1", "hidden", """
class InvertedDropout(nn.Module):
    def __init__(self, keep_prob):
        super().__init__()
        self.keep_prob = keep_prob

    def forward(self, h):
        if not self.training:
            return h
        return h * torch.bernoulli(torch.full_like(h, self.keep_prob)) / self.keep_prob
"""),
    "ex2 averages the outputs, then takes the softmax": ("ex2", "hidden", EX2_SIGNATURE + """
    was_training = model.training
    model.train()
    with torch.no_grad():
        logits = sum(model(x) for _ in range(n_samples)) / n_samples
    model.train(was_training)
    return torch.softmax(logits, dim=1)
"""),
    "ex2 leaves dropout off": ("ex2", "visible", EX2_SIGNATURE + """
    with torch.no_grad():
        return sum(torch.softmax(model(x), dim=1) for _ in range(n_samples)) / n_samples
"""),
    "ex2 leaves the model in train mode": ("ex2", "visible", EX2_SIGNATURE + """
    model.train()
    with torch.no_grad():
        return sum(torch.softmax(model(x), dim=1) for _ in range(n_samples)) / n_samples
"""),
    "ex2 records gradients": ("ex2", "hidden", EX2_SIGNATURE + """
    was_training = model.training
    model.train()
    probs = sum(torch.softmax(model(x), dim=1) for _ in range(n_samples)) / n_samples
    model.train(was_training)
    return probs
"""),
    "ex2 one mask reused for every sample": ("ex2", "hidden", EX2_SIGNATURE + """
    was_training = model.training
    model.train()
    with torch.no_grad():
        state = torch.random.get_rng_state()
        total = 0
        for _ in range(n_samples):
            torch.random.set_rng_state(state)
            total = total + torch.softmax(model(x), dim=1)
    model.train(was_training)
    return total / n_samples
"""),
    "ex2 a majority vote instead of averaged probabilities": ("ex2", "hidden", EX2_SIGNATURE + """
    was_training = model.training
    model.train()
    with torch.no_grad():
        votes = sum(torch.nn.functional.one_hot(model(x).argmax(1), model(x).shape[1]).to(x.dtype)
                    for _ in range(n_samples))
    model.train(was_training)
    return votes / n_samples
"""),
    "ex2 a geometric mean instead of the arithmetic mean": ("ex2", "hidden", EX2_SIGNATURE + """
    was_training = model.training
    model.train()
    with torch.no_grad():
        mean_log = sum(torch.log_softmax(model(x), dim=1) for _ in range(n_samples)) / n_samples
    model.train(was_training)
    return torch.softmax(mean_log, dim=1)
"""),
    "ex3 the closed form in place of the enumeration": ("ex3", "hidden", EX3_ENUMERATION + """
def expected_masked_loss(X, y, w, p):
    return marginalized_loss(X, y, w, p)
""" + EX3_MARGINALIZED),
    "ex3 a Monte Carlo estimate in place of the enumeration": ("ex3", "visible", """
def expected_over_masks(f, shape, p):
    draws = torch.bernoulli(torch.full((20_000, *shape), p, dtype=torch.float64))
    return float(sum(f(r) for r in draws) / len(draws))
""" + EX3_LOSS + EX3_MARGINALIZED),
    "ex3 f at the average mask instead of the average of f": ("ex3", "visible", """
def expected_over_masks(f, shape, p):
    return float(f(torch.full(tuple(shape), p, dtype=torch.float64)))
""" + EX3_LOSS + EX3_MARGINALIZED),
    "ex3 every mask weighted equally": ("ex3", "visible", """
def expected_over_masks(f, shape, p):
    masks = all_masks(math.prod(shape))
    return float(sum(f(mask.reshape(shape)) for mask in masks) / len(masks))
""" + EX3_LOSS + EX3_MARGINALIZED),
    "ex3 p and 1 - p swapped in P(R)": ("ex3", "visible", EX3_ENUMERATION.replace(
        "p**kept * (1 - p) ** (n - kept)", "(1 - p) ** kept * p ** (n - kept)") + EX3_LOSS + EX3_MARGINALIZED),
    "ex3 masks not reshaped to the shape asked for": ("ex3", "hidden", EX3_ENUMERATION.replace(
        "f(mask.reshape(shape))", "f(mask)") + """
def expected_masked_loss(X, y, w, p):
    return expected_over_masks(lambda R: (y - (R.reshape(X.shape) * X) @ w).pow(2).sum(), X.shape, p)
""" + EX3_MARGINALIZED),
    "ex3 penalty p(1 - p)||Xw||^2 instead of p(1 - p)||Gamma w||^2": ("ex3", "visible", EX3_ENUMERATION + EX3_LOSS + """
def marginalized_loss(X, y, w, p):
    return float((y - p * X @ w).pow(2).sum() + p * (1 - p) * (X @ w).pow(2).sum())
"""),
    "ex3 Gamma without the square root": ("ex3", "visible", CELLS["ex3-solution"].replace(
        "torch.sqrt(torch.diagonal(X.T @ X))", "torch.diagonal(X.T @ X)")),
    "ex3 penalty p instead of p(1 - p)": ("ex3", "visible", CELLS["ex3-solution"].replace(
        "p * (1 - p) * (gamma", "p * (gamma")),
    "ex4 independent errors": ("ex4", "visible", """
def ensemble_mse_formula(v, c, k):
    return v / k + (k - 1) / k * c


def simulate_ensemble_mse(v, c, k, n_trials, generator):
    errors = math.sqrt(v) * torch.randn(n_trials, k, generator=generator, dtype=torch.float64)
    return float(errors.mean(1).pow(2).mean())
"""),
    "ex4 c read as a correlation": ("ex4", "hidden", """
def ensemble_mse_formula(v, c, k):
    return v / k + (k - 1) / k * c


def simulate_ensemble_mse(v, c, k, n_trials, generator):
    shared = math.sqrt(c * v) * torch.randn(n_trials, 1, generator=generator, dtype=torch.float64)
    private = math.sqrt(v - c * v) * torch.randn(n_trials, k, generator=generator, dtype=torch.float64)
    return float((shared + private).mean(1).pow(2).mean())
"""),
    "ex4 the formula in place of the simulation": ("ex4", "visible", EX4_FORMULA + """
def simulate_ensemble_mse(v, c, k, n_trials, generator):
    return ensemble_mse_formula(v, c, k)
"""),
    "ex4 n_trials ignored": ("ex4", "hidden", EX4_FORMULA + """
def simulate_ensemble_mse(v, c, k, n_trials, generator):
    shared = math.sqrt(c) * torch.randn(200_000, 1, generator=generator, dtype=torch.float64)
    private = math.sqrt(v - c) * torch.randn(200_000, k, generator=generator, dtype=torch.float64)
    return float((shared + private).mean(1).pow(2).mean())
"""),
    "ex4 torch's global generator instead of the argument": ("ex4", "hidden", EX4_FORMULA + """
def simulate_ensemble_mse(v, c, k, n_trials, generator):
    shared = math.sqrt(c) * torch.randn(n_trials, 1, dtype=torch.float64)
    private = math.sqrt(v - c) * torch.randn(n_trials, k, dtype=torch.float64)
    return float((shared + private).mean(1).pow(2).mean())
"""),
    "ex4 private part of variance v instead of v - c": ("ex4", "visible", EX4_FORMULA + """
def simulate_ensemble_mse(v, c, k, n_trials, generator):
    shared = math.sqrt(c) * torch.randn(n_trials, 1, generator=generator, dtype=torch.float64)
    private = math.sqrt(v) * torch.randn(n_trials, k, generator=generator, dtype=torch.float64)
    return float((shared + private).mean(1).pow(2).mean())
"""),
    "ex4 the members' mean squared error instead of the ensemble's": ("ex4", "visible", EX4_FORMULA + """
def simulate_ensemble_mse(v, c, k, n_trials, generator):
    shared = math.sqrt(c) * torch.randn(n_trials, 1, generator=generator, dtype=torch.float64)
    private = math.sqrt(v - c) * torch.randn(n_trials, k, generator=generator, dtype=torch.float64)
    return float((shared + private).pow(2).mean())
"""),
    "ex4 formula without the (k - 1)/k": ("ex4", "visible", CELLS["ex4-solution"].replace(
        "return v / k + (k - 1) / k * c", "return v / k + c")),
    "ex5 arithmetic mean": ("ex5", "visible", """
def geometric_mean_prediction(log_predict, n_units, p):
    masks = all_masks(n_units)
    kept = masks.sum(1)
    probabilities = p**kept * (1 - p) ** (n_units - kept)
    return sum(weight * log_predict(mask).exp() for weight, mask in zip(probabilities, masks))


def weight_scaled_prediction(W, b, x, p):
    return torch.softmax(W @ (p * x) + b, dim=-1)
"""),
    "ex5 every mask weighted equally": ("ex5", "visible", """
def geometric_mean_prediction(log_predict, n_units, p):
    masks = all_masks(n_units)
    return torch.softmax(sum(log_predict(mask) for mask in masks) / len(masks), dim=-1)


def weight_scaled_prediction(W, b, x, p):
    return torch.softmax(W @ (p * x) + b, dim=-1)
"""),
    "ex5 p and 1 - p swapped in P(r)": ("ex5", "visible", CELLS["ex5-solution"].replace(
        "p**kept * (1 - p) ** (n_units - kept)", "(1 - p) ** kept * p ** (n_units - kept)")),
    "ex5 the bias scaled by p too": ("ex5", "visible", CELLS["ex5-solution"].replace(
        "torch.softmax(W @ (p * x) + b, dim=-1)", "torch.softmax(p * (W @ x + b), dim=-1)")),
    "ex5 log-probabilities averaged but not renormalized": ("ex5", "visible", CELLS["ex5-solution"].replace(
        "return torch.softmax(mean_log, dim=-1)", "return mean_log.exp()")),
    "ex5 the model at the average mask instead of the average over masks": ("ex5", "hidden", """
def geometric_mean_prediction(log_predict, n_units, p):
    return torch.softmax(log_predict(torch.full((n_units,), p, dtype=torch.float64)), dim=-1)


def weight_scaled_prediction(W, b, x, p):
    return torch.softmax(W @ (p * x) + b, dim=-1)
"""),
}


# A mistaken answer that records gradients warns when the test reads a number from it.
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")
@pytest.mark.parametrize("name", MISTAKES)
def test_a_plausible_mistake_is_caught_where_expected(solved_namespace, name):
    exercise, part, answer = MISTAKES[name]
    # An AssertionError: the tests reject the answer with their message, not by crashing on it.
    assert run_exercise(solved_namespace, exercise, answer) == (part, "AssertionError")


@pytest.mark.parametrize("exercise", EXERCISES)
def test_a_skipped_exercise_earns_nothing(solved_namespace, exercise):
    """The generated lab's stub, left as it is, fails the exercise's tests."""
    assert_skipped_exercise_fails(solved_namespace, exercise, CELLS, SOLUTION)
