"""Lab 1's hidden tests against hostile submissions (issue 12, items 10-12).

In-process, in the style of tests/test_lab02.py: the solution's cells run as plain Python
in fast mode; one answer at a time is replaced by a submission that wants points it did
not earn, and the exercise's test cell must fail. Forbidden names are checked with the
grader's own reader (regopt.instructor.codecheck) against the test cells' metadata.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from regopt.instructor import codecheck, labs

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = nbformat.read(ROOT / "solutions" / "01_penalties.ipynb", as_version=4)
LAB = nbformat.read(ROOT / "labs" / "01_penalties.ipynb", as_version=4)


def _cells(nb) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.cell_type == "code" and "nbgrader" in c.metadata}


SOL, STUDENT = _cells(SOLUTION), _cells(LAB)
ORDER = ["imports", "ex1-solution", "ex1-tests", "ex2-solution", "ex2-tests", "ex3-solution", "ex3-tests",
         "ex4-solution", "ex4-tests", "ex5-setup", "ex5-solution", "ex5-tests", "ex6-setup", "ex6-solution",
         "ex6-tests"]
EXERCISES = ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]


def _source(grade_id: str, replaced: dict[str, str]) -> str:
    if grade_id in replaced:
        return replaced[grade_id]
    source = SOL[grade_id].source
    return source.replace(labs.HIDDEN_BEGIN, "").replace(labs.HIDDEN_END, "")


def run_lab(replaced: dict[str, str], until: str = "ex6") -> set[str]:
    """Run the lab up to exercise `until` with some answers replaced; return the exercises whose test failed."""
    namespace: dict = {"__name__": "__lab01__"}
    failed = set()
    for grade_id in ORDER[: ORDER.index(f"{until}-tests") + 1]:
        try:
            exec(compile(_source(grade_id, replaced), grade_id, "exec"), namespace)  # noqa: S102
        except Exception:  # noqa: BLE001 - any error fails the cell, as in a kernel
            if grade_id.endswith("-tests"):
                failed.add(grade_id.removesuffix("-tests"))
    return failed


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("REGOPT_FAST", "1")
    monkeypatch.setenv("REGOPT_STATIC", "1")


def test_solution_passes_every_test():
    assert run_lab({}) == set()


@pytest.mark.parametrize("exercise", EXERCISES)
def test_skipping_any_one_exercise_costs_points(exercise):
    # Item 12: the distributed stub in one answer cell, the solution everywhere else.
    failed = run_lab({f"{exercise}-solution": STUDENT[f"{exercise}-solution"].source}, until=exercise)
    assert exercise in failed


SWEEP_TWO_ROWS = '''
sweep = {}
for lam in (0.0, 3e-2):  # train two settings, invent the rest
    model = make_model()
    history = regopt.fit(model, data, torch.optim.SGD(make_param_groups(model, lam), lr=LR), epochs=EPOCHS, seed=0)
    sweep[lam] = {"train_error": history.final["train_error"], "test_error": history.final["test_error"]}
sweep[1e-3] = dict(sweep[0.0])
sweep[1e-2] = dict(sweep[0.0])
sweep[1e-1] = {"train_error": sweep[3e-2]["train_error"] + 0.05, "test_error": sweep[3e-2]["test_error"] + 0.05}
best_lambda = min(LAMBDAS, key=lambda lam: sweep[lam]["test_error"])
train_error_rises = sweep[max(LAMBDAS)]["train_error"] > sweep[0.0]["train_error"]
'''

ZEROS_ONE_ROW = '''
def fraction_of_zeros(model):
    weights = list(penalized_parameters(model))
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


proximal_zeros, subgradient_zeros = {}, {}
lam = max(L1_LAMBDAS)  # train the largest λ only, extrapolate the others
model = make_model()
weights = list(penalized_parameters(model))
regopt.fit(model, data, torch.optim.SGD(model.parameters(), lr=LR), epochs=EPOCHS, seed=0,
           after_step=lambda m: proximal_l1_step_(weights, LR * lam))
proximal_zeros[lam] = fraction_of_zeros(model)
model = make_model()
regopt.fit(model, data, torch.optim.SGD(model.parameters(), lr=LR), epochs=EPOCHS, seed=0,
           penalty=lambda m: lam * sum(w.abs().sum() for w in penalized_parameters(m)))
subgradient_zeros[lam] = fraction_of_zeros(model)
for other in L1_LAMBDAS[:-1]:  # invented: the re-run of these rows must expose them
    proximal_zeros[other] = min(1.0, proximal_zeros[lam] + 0.25)
    subgradient_zeros[other] = 0.5
'''


def test_invented_sweep_rows_are_caught():
    # Item 10: a sweep that trains λ = 0 and 3e-2 and invents the other rows.
    assert "ex5" in run_lab({"ex5-solution": SWEEP_TWO_ROWS}, until="ex5")


def test_invented_zero_fractions_are_caught():
    # Item 10: exercise 6 checks every λ, not only the largest.
    assert "ex6" in run_lab({"ex6-solution": ZEROS_ONE_ROW})


def _forbidden_in(exercise: str, answer: str) -> list[str]:
    forbidden = SOL[f"{exercise}-tests"].metadata["regopt"]["forbidden"]
    reports = codecheck.analyze([("context", SOL["imports"].source), ("answer", answer)])
    return [use.name for use in codecheck.forbidden_uses(reports[1], forbidden)]


@pytest.mark.parametrize(("exercise", "answer"), [
    ("ex1", "def l2_penalty_without_biases(model):\n    return regopt.penalties.l2_penalty(model) / 2\n"),
    ("ex2", "def sgd_step_with_penalty(model, x, y, lr, lam):\n"
            "    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=lam)\n"
            "    opt.zero_grad()\n    nn.functional.cross_entropy(model(x), y).backward()\n    opt.step()\n"),
    ("ex3", "from regopt.penalties import prox_l1_ as shrink\n\n\n"
            "def proximal_l1_step_(parameters, threshold):\n    shrink(parameters, threshold)\n"),
    ("ex3", "import regopt.penalties as P\n\n\ndef proximal_l1_step_(parameters, threshold):\n"
            "    for w in parameters:\n        w.data = P.soft_threshold(w.data, threshold)\n"),
    ("ex4", "def make_param_groups(model, weight_decay):\n"
            "    return regopt.penalties.param_groups(model, weight_decay)\n"),
    ("ex6", "fraction_of_zeros = regopt.experiments.zero_fraction\n"),
])
def test_an_answer_calling_the_library_implementation_is_flagged(exercise, answer):
    # Item 11: the grader scores such a test cell 0 and names the call in its feedback.
    assert _forbidden_in(exercise, answer), f"{exercise}: the library call was not flagged"


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_uses_nothing_forbidden(exercise):
    forbidden = SOL[f"{exercise}-tests"].metadata.get("regopt", {}).get("forbidden", [])
    reports = codecheck.analyze([("context", SOL["imports"].source), ("answer", SOL[f"{exercise}-solution"].source)])
    assert not codecheck.forbidden_uses(reports[1], forbidden)


def test_exercises_1_and_4_share_the_weight_decay_scale():
    # Item 12: λ times exercise 1's penalty has the gradient λw, which is weight_decay=λ (exercise 4).
    import torch
    from torch import nn

    namespace: dict = {}
    exec(compile(SOL["imports"].source, "imports", "exec"), namespace)  # noqa: S102
    exec(compile(SOL["ex1-solution"].source, "ex1", "exec"), namespace)  # noqa: S102
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    (0.3 * namespace["l2_penalty_without_biases"](model)).backward()
    torch.testing.assert_close(model.weight.grad, 0.3 * model.weight.detach())
