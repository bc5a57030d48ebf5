"""Lab 1's tests catch the mistakes students make, and accept the solution.

Each case below replaces one answer of ``solutions/01_penalties.ipynb`` by a plausible mistake
or a shortcut and runs that exercise's test cell in-process (the cells are plain Python), split
into its visible part and its hidden part, and states which part must catch it: a mistake that
only the hidden tests catch is one a student can submit believing it correct. The lab runs at its
fast size (``REGOPT_FAST=1``), the size ``regopt grade`` uses by default. Forbidden library calls
are checked with the grader's own reader (regopt.instructor.codecheck) against the test cells'
metadata.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch
from labexec import assert_skipped_exercise_fails, split_test

from regopt.instructor import codecheck

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "01_penalties.ipynb"
NB = nbformat.read(SOLUTION, as_version=4)
CELLS = {c.metadata["nbgrader"]["grade_id"]: c.source for c in NB.cells
         if c.cell_type == "code" and "nbgrader" in c.metadata}
EXERCISES = ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]
ORDER = ["imports", "ex1-solution", "ex1-tests", "ex2-solution", "ex2-tests", "ex3-solution", "ex3-tests",
         "ex4-solution", "ex4-tests", "ex5-setup", "ex5-solution", "ex5-tests", "ex6-setup", "ex6-solution",
         "ex6-tests"]


@pytest.fixture(scope="module")
def solved_namespace() -> dict:
    """Globals after running the solution's cells in order (fast size, as the grader runs it)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("REGOPT_FAST", "1")
    patch.setenv("REGOPT_STATIC", "1")
    threads = torch.get_num_threads()
    namespace: dict = {"__name__": "__lab01__"}
    try:
        for grade_id in ORDER:
            exec(compile(CELLS[grade_id], grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
        yield namespace
    finally:
        patch.undo()
        torch.set_num_threads(threads)


def run_exercise(namespace: dict, exercise: str, answer: str) -> tuple[str, str] | None:
    """Run `answer` then the exercise's test cell; return (failed part, error message), or None."""
    scope = dict(namespace)  # every answer below builds its own models and dictionaries
    exec(compile(answer, f"{exercise}-answer", "exec"), scope)  # noqa: S102
    visible, hidden = split_test(CELLS[f"{exercise}-tests"])
    for part, source in (("visible", visible), ("hidden", hidden)):
        try:
            exec(compile(source, f"{exercise}-{part}", "exec"), scope)  # noqa: S102
        except Exception as error:  # noqa: BLE001 - any error fails a test cell for the grader too
            return part, f"{type(error).__name__}: {error}"
    return None


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_every_test(solved_namespace, exercise):
    assert run_exercise(solved_namespace, exercise, CELLS[f"{exercise}-solution"]) is None


@pytest.mark.parametrize("exercise", EXERCISES)
def test_skipping_any_one_exercise_costs_points(solved_namespace, exercise):
    # The distributed stub in one answer cell, the solution everywhere else.
    assert_skipped_exercise_fails(solved_namespace, exercise, CELLS, SOLUTION)


EX1 = "def l2_penalty_without_biases(model):\n"
EX2 = "def sgd_step_with_penalty(model, x, y, lr, lam):\n"
EX3 = "def proximal_l1_step_(parameters, threshold):\n"
EX4 = "def make_param_groups(model, weight_decay):\n"

GROUPS_BY_NORM_TYPES = EX4 + """    decayed, not_decayed = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if isinstance(module, NORMS) or name.endswith("bias"):
                not_decayed.append(p)
            else:
                decayed.append(p)
    return [{"params": decayed, "weight_decay": weight_decay},
            {"params": not_decayed, "weight_decay": 0.0}]
"""

EX5_LOOP = """
sweep, models = {{}}, {{}}
for lam in LAMBDAS:
    model = {make_model}
    optimizer = {optimizer}
    history = regopt.fit(model, data, optimizer, epochs=EPOCHS, seed={seed}{penalty})
    models[lam] = model
    sweep[lam] = {{"train_error": history.final["train_error"], "test_error": history.final["test_error"]}}
best_lambda = min(LAMBDAS, key=lambda lam: sweep[lam]["test_error"])
train_error_rises = sweep[max(LAMBDAS)]["train_error"] > sweep[0.0]["train_error"]
"""


def ex5(make_model="make_model()", optimizer="torch.optim.SGD(make_param_groups(model, lam), lr=LR)",
        seed="0", penalty=""):
    return EX5_LOOP.format(make_model=make_model, optimizer=optimizer, seed=seed, penalty=penalty)


EX6_LOOP = """
proximal_zeros, subgradient_zeros, proximal_models, subgradient_models = {{}}, {{}}, {{}}, {{}}
for lam in L1_LAMBDAS:
    model = make_model()
    regopt.fit(model, data, torch.optim.SGD(model.parameters(), lr=LR), epochs=EPOCHS, seed=0,
               after_step=lambda m: proximal_l1_step_({prox_params}, {threshold}))
    proximal_models[lam], proximal_zeros[lam] = model, fraction_of_zeros(model)
    model = make_model()
    {subgradient}
    subgradient_models[lam], subgradient_zeros[lam] = model, fraction_of_zeros(model)
"""
SUBGRADIENT_RUN = ("regopt.fit(model, data, torch.optim.SGD(model.parameters(), lr=LR), epochs=EPOCHS, seed=0, "
                   "penalty=lambda m: lam * sum(w.abs().sum() for w in {params}))")

SUBGRADIENT_OF_WEIGHTS = SUBGRADIENT_RUN.format(params="penalized_parameters(m)")


def ex6(prox_params="list(penalized_parameters(m))", threshold="LR * lam",
        subgradient=SUBGRADIENT_OF_WEIGHTS):
    return EX6_LOOP.format(prox_params=prox_params, threshold=threshold, subgradient=subgradient)


MISTAKES = {
    # Exercise 1: the L2 penalty without the biases.
    "ex1 forgets the half": ("ex1", "visible", EX1 + """    return sum(p.pow(2).sum() for n, p in model.named_parameters() if not n.endswith("bias"))
"""),
    "ex1 penalizes the biases too": ("ex1", "visible", EX1 + """    return 0.5 * sum(p.pow(2).sum() for p in model.parameters())
"""),
    "ex1 returns a detached number": ("ex1", "visible", EX1 + """    squares = [p.detach().pow(2).sum() for n, p in model.named_parameters() if not n.endswith("bias")]
    return 0.5 * torch.stack(squares).sum()
"""),
    "ex1 takes every second parameter as a weight": ("ex1", "hidden", EX1 + """    return 0.5 * sum(p.pow(2).sum() for p in list(model.parameters())[::2])
"""),
    "ex1 counts the weights of nn.Linear layers only": ("ex1", "hidden", EX1 + """    return 0.5 * sum(m.weight.pow(2).sum() for m in model.modules() if isinstance(m, nn.Linear))
"""),
    # Exercise 2: one explicit SGD step on the penalized loss.
    "ex2 keeps the old gradients": ("ex2", "hidden", EX2 + """    loss = nn.functional.cross_entropy(model(x), y)
    (loss + lam / 2 * sum(p.pow(2).sum() for p in model.parameters())).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
"""),
    "ex2 penalizes the weights only": ("ex2", "visible", EX2 + """    model.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    penalty = sum(p.pow(2).sum() for n, p in model.named_parameters() if not n.endswith("bias"))
    (loss + lam / 2 * penalty).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
"""),
    "ex2 forgets the half": ("ex2", "visible", EX2 + """    model.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    (loss + lam * sum(p.pow(2).sum() for p in model.parameters())).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
"""),
    # Exercise 3: the proximal L1 step.
    "ex3 takes a subgradient step": ("ex3", "visible", EX3 + """    with torch.no_grad():
        for w in parameters:
            w -= threshold * torch.sign(w)
"""),
    "ex3 hard-thresholds": ("ex3", "visible", EX3 + """    with torch.no_grad():
        for w in parameters:
            w[w.abs() <= threshold] = 0.0
"""),
    "ex3 rebinds instead of updating in place": ("ex3", "visible", EX3 + """    for w in parameters:
        w = torch.sign(w) * torch.clamp(w.abs() - threshold, min=0)
"""),
    "ex3 updates the first tensor only": ("ex3", "hidden", EX3 + """    with torch.no_grad():
        w = parameters[0]
        w.copy_(torch.sign(w) * torch.clamp(w.abs() - threshold, min=0))
"""),
    # Exercise 4: parameter groups.
    "ex4 leaves out the biases only": ("ex4", "visible", EX4 + """    decayed = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    not_decayed = [p for n, p in model.named_parameters() if n.endswith("bias")]
    return [{"params": decayed, "weight_decay": weight_decay},
            {"params": not_decayed, "weight_decay": 0.0}]
"""),
    "ex4 knows BatchNorm1d only": ("ex4", "hidden", "NORMS = (nn.BatchNorm1d,)\n" + GROUPS_BY_NORM_TYPES),
    "ex4 misses BatchNorm2d": ("ex4", "hidden",
                               "NORMS = (nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm)\n" + GROUPS_BY_NORM_TYPES),
    # Exercise 5: the λ sweep (issue 25: it passed with the biases decayed too).
    "ex5 decays the biases too": ("ex5", "hidden",
                                  ex5(optimizer="torch.optim.SGD(model.parameters(), lr=LR, weight_decay=lam)")),
    "ex5 puts λ‖w‖² (no half) in the loss": ("ex5", "hidden", ex5(
        optimizer="torch.optim.SGD(model.parameters(), lr=LR)",
        penalty=", penalty=lambda m, lam=lam: lam * sum(w.pow(2).sum() for w in penalized_parameters(m))")),
    "ex5 trains one model on and on": ("ex5", "visible", "_shared = make_model()\n" + ex5(make_model="_shared")),
    "ex5 seeds every λ differently": ("ex5", "hidden", ex5(seed="LAMBDAS.index(lam)")),
    "ex5 trains two settings and invents the rest": ("ex5", "hidden", """
sweep, models = {}, {}
for lam in (0.0, 1e-1):
    model = make_model()
    history = regopt.fit(model, data, torch.optim.SGD(make_param_groups(model, lam), lr=LR), epochs=EPOCHS, seed=0)
    models[lam] = model
    sweep[lam] = {"train_error": history.final["train_error"], "test_error": history.final["test_error"]}
for lam in (1e-3, 1e-2, 3e-2):
    models[lam] = make_model()  # untrained
    sweep[lam] = dict(sweep[0.0])
best_lambda = min(LAMBDAS, key=lambda lam: sweep[lam]["test_error"])
train_error_rises = sweep[max(LAMBDAS)]["train_error"] > sweep[0.0]["train_error"]
"""),
    # Exercise 6: exact zeros under L1.
    "ex6 counts the biases among the entries": ("ex6", "visible", """
def fraction_of_zeros(model):
    return sum(int((p == 0).sum()) for p in model.parameters()) / sum(p.numel() for p in model.parameters())
""" + ex6()),
    "ex6 thresholds the biases too": ("ex6", "hidden", ex6(prox_params="list(m.parameters())")),
    "ex6 thresholds by λ instead of LR·λ": ("ex6", "hidden", ex6(threshold="lam")),
    "ex6 penalizes the biases in the subgradient run": ("ex6", "hidden", ex6(
        subgradient=SUBGRADIENT_RUN.format(params="m.parameters()"))),
    "ex6 does not train the subgradient runs (zeros are rare anyway)": ("ex6", "hidden", ex6(
        subgradient="pass  # a constant instead of a run: the fraction below is that of the initial model")),
    "ex6 trains the largest λ and extrapolates": ("ex6", "hidden", ex6().replace(
        "for lam in L1_LAMBDAS:", "for lam in L1_LAMBDAS[-1:]:") + """
for other in L1_LAMBDAS[:-1]:
    proximal_models[other], subgradient_models[other] = make_model(), make_model()
    proximal_zeros[other], subgradient_zeros[other] = proximal_zeros[L1_LAMBDAS[-1]] / 2, 0.0
"""),
}

# A hidden test says what is wrong without printing the expected value of its case (issue 27).
EXPECTED_VALUE = re.compile(r"(expected|should be|instead of)\s*[:=]?\s*[-+]?\d", re.IGNORECASE)


@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_plausible_mistake_is_caught(solved_namespace, case):
    exercise, part, answer = MISTAKES[case]
    outcome = run_exercise(solved_namespace, exercise, answer)
    assert outcome is not None, f"{case}: the tests accept it"
    assert outcome[0] == part, f"{case}: caught by the {outcome[0]} tests ({outcome[1]}), expected the {part} ones"
    if part == "hidden":
        message = outcome[1].split(": ", 1)[-1]
        assert message.strip(), f"{case}: the hidden test fails without saying what is wrong"
        assert not EXPECTED_VALUE.search(message), f"{case}: the message gives the expected value away: {message}"


def test_a_decayed_bias_is_named_as_the_mistake(solved_namespace):
    # The failure message says what is wrong (issue 27), here the exact mistake.
    _, _, answer = MISTAKES["ex5 decays the biases too"]
    part, message = run_exercise(solved_namespace, "ex5", answer)
    assert part == "hidden" and "biases were decayed" in message


def test_every_test_cell_has_visible_and_hidden_parts():
    for exercise in EXERCISES:
        visible, hidden = split_test(CELLS[f"{exercise}-tests"])
        assert "assert" in visible and "assert" in hidden, exercise


def _forbidden_in(exercise: str, answer: str) -> list[str]:
    cell = next(c for c in NB.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{exercise}-tests")
    forbidden = cell.metadata["regopt"]["forbidden"]
    reports = codecheck.analyze([("context", CELLS["imports"]), ("answer", answer)])
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
    ("ex3", "def proximal_l1_step_(parameters, threshold):\n"
            "    for w in parameters:\n        w.data = torch.nn.functional.softshrink(w.data, threshold)\n"),
    ("ex4", "def make_param_groups(model, weight_decay):\n"
            "    return regopt.penalties.param_groups(model, weight_decay)\n"),
    ("ex6", "fraction_of_zeros = regopt.experiments.zero_fraction\n"),
])
def test_an_answer_calling_the_library_implementation_is_flagged(exercise, answer):
    # The grader scores such a test cell 0 and names the call in its feedback.
    assert _forbidden_in(exercise, answer), f"{exercise}: the library call was not flagged"


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_uses_nothing_forbidden(exercise):
    cell = next(c for c in NB.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{exercise}-tests")
    forbidden = cell.metadata.get("regopt", {}).get("forbidden", [])
    reports = codecheck.analyze([("context", CELLS["imports"]), ("answer", CELLS[f"{exercise}-solution"])])
    assert not codecheck.forbidden_uses(reports[1], forbidden)


def test_exercises_1_and_4_share_the_weight_decay_scale():
    # λ times exercise 1's penalty has the gradient λw, which is weight_decay=λ (exercise 4).
    from torch import nn

    namespace: dict = {}
    exec(compile(CELLS["imports"], "imports", "exec"), namespace)  # noqa: S102
    exec(compile(CELLS["ex1-solution"], "ex1", "exec"), namespace)  # noqa: S102
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    (0.3 * namespace["l2_penalty_without_biases"](model)).backward()
    torch.testing.assert_close(model.weight.grad, 0.3 * model.weight.detach())


def test_the_lab_says_what_the_proximal_step_does_not_guarantee():
    # Issue 25, item 16: the thresholding never flips a sign, but training with it does.
    text = "\n".join(c.source for c in NB.cells if c.cell_type == "markdown")
    assert "never flips a sign;" not in text and "no weight ever changes sign" not in text
    assert "the step itself never changes a weight's sign" in text
