"""Lab 6's hidden tests against hostile submissions (issue 12, items 11-13), in-process."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch

from regopt.instructor import codecheck, labs

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = nbformat.read(ROOT / "solutions" / "06_momentum_adam.ipynb", as_version=4)
LAB = nbformat.read(ROOT / "labs" / "06_momentum_adam.ipynb", as_version=4)


def _cells(nb) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.cell_type == "code" and "nbgrader" in c.metadata}


SOL, STUDENT = _cells(SOLUTION), _cells(LAB)
EXERCISES = [f"ex{k}" for k in range(1, 10) if f"ex{k}-tests" in SOL]
ORDER = ["imports"] + [g for ex in EXERCISES for g in (f"{ex}-setup", f"{ex}-solution", f"{ex}-tests") if g in SOL]


def run_lab(replaced: dict[str, str], until: str = EXERCISES[-1]) -> set[str]:
    """Run the lab up to `until` with some answers replaced; return the exercises whose test failed."""
    namespace: dict = {"__name__": "__lab06__"}
    failed = set()
    previous = torch.get_default_dtype()  # the lab sets float64; the tests after this one must not inherit it
    try:
        for grade_id in ORDER[: ORDER.index(f"{until}-tests") + 1]:
            source = replaced.get(grade_id, SOL[grade_id].source.replace(labs.HIDDEN_BEGIN, "")
                                  .replace(labs.HIDDEN_END, ""))
            try:
                exec(compile(source, grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
            except Exception:  # noqa: BLE001 - any error fails the cell, as in a kernel
                if grade_id.endswith("-tests"):
                    failed.add(grade_id.removesuffix("-tests"))
    finally:
        torch.set_default_dtype(previous)
    return failed


def test_solution_passes_every_test():
    assert EXERCISES == [f"ex{k}" for k in range(1, 9)]  # numbered consecutively
    assert run_lab({}) == set()


@pytest.mark.parametrize("exercise", EXERCISES)
def test_skipping_any_one_exercise_costs_points(exercise):
    assert exercise in run_lab({f"{exercise}-solution": STUDENT[f"{exercise}-solution"].source}, until=exercise)


def _replace(grade_id: str, old: str, new: str) -> str:
    source = SOL[grade_id].source
    assert old in source, (grade_id, old)
    return source.replace(old, new)


NESTEROV_AS_HEAVY_BALL = _replace("ex7-solution", "w.sub_(lr * (g + momentum * m))", "w.sub_(lr * m)")
THREE_WEIGHTS_BY_SIZE = '''
adam_mean_steps = GRADIENT_CYCLES.mean(dim=1)  # what SGD would do, not Adam
signal_to_noise = GRADIENT_CYCLES.mean(dim=1) / GRADIENT_CYCLES.pow(2).mean(dim=1).sqrt()
fastest_weight = int(adam_mean_steps.argmax()) + 1
'''
THREE_WEIGHTS_GUESSED = _replace("ex8-solution", "fastest_weight = int(adam_mean_steps.argmax()) + 1",
                                 "fastest_weight = 1  # the largest gradient")
THREE_WEIGHTS_BY_FORMULA = '''
signal_to_noise = GRADIENT_CYCLES.mean(dim=1) / GRADIENT_CYCLES.pow(2).mean(dim=1).sqrt()
adam_mean_steps = signal_to_noise.clone()  # the limit the step approaches, not Adam's steps
fastest_weight = int(adam_mean_steps.argmax()) + 1
'''
THREE_WEIGHTS_SNR_BY_STD = _replace(
    "ex8-solution", "GRADIENT_CYCLES.pow(2).mean(dim=1).sqrt()", "GRADIENT_CYCLES.std(dim=1)  # std, not rms")
THREE_WEIGHTS_UNCORRECTED = _replace(
    "ex8-solution", "eps=1e-8\n    )", "eps=1e-8,\n        bias_correction=False,\n    )")
MOMENTUM_AS_AVERAGE = _replace("ex1-solution", "m.mul_(momentum).add_(g)", "m.mul_(momentum).add_((1 - momentum) * g)")
RMSPROP_DELTA_INSIDE = _replace("ex2-solution", "w.sub_(lr * g / (square_avg.sqrt() + eps))",
                                "w.sub_(lr * g / (square_avg + eps).sqrt())")
ADAM_DELTA_INSIDE = _replace("ex3-solution", "w.sub_(lr * m_hat / (v_hat.sqrt() + eps))",
                             "w.sub_(lr * m_hat / (v_hat + eps).sqrt())")
FIRST_STEP_BY_FORMULA = _replace(
    "ex4-solution", "measured_first_step = measure_first_step(", "measure_first_step = lambda lr, b1, b2, g: "
    "uncorrected_first_step(lr, b1, b2)\nmeasured_first_step = measure_first_step(")
RATE_BY_FORMULA = _replace(
    "ex5-solution", "momentum_rates = {}", "def measured_momentum_rate(kappa, steps):\n"
    "    return (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)\n\n\nmomentum_rates = {}")
RATE_WITHOUT_MOMENTUM_STEP = _replace(
    "ex5-solution", "momentum_step(w, curvatures * w, m, lr, momentum)",
    "m.mul_(momentum).add_(curvatures * w)\n        w.sub_(lr * m)  # a loop of its own")
FACTOR_BY_FORMULA = _replace(
    "ex6-solution", "adamw_factor = measure_decay_factor(", "measure_decay_factor = lambda lr, wd, steps: 1 - lr * wd"
    "\nadamw_factor = measure_decay_factor(")
DECAY_AFTER_THE_STEP = _replace(
    "ex6-solution", "    w.mul_(1 - lr * weight_decay)\n    adam_step(w, g, m, v, t, lr, beta1, beta2, eps)",
    "    adam_step(w, g, m, v, t, lr, beta1, beta2, eps)\n    w.mul_(1 - lr * weight_decay)")


@pytest.mark.parametrize(("exercise", "answer", "caught_by"), [
    ("ex1", MOMENTUM_AS_AVERAGE, "visible"),
    ("ex2", RMSPROP_DELTA_INSIDE, "hidden"),
    ("ex3", ADAM_DELTA_INSIDE, "hidden"),
    ("ex4", FIRST_STEP_BY_FORMULA, "hidden"),
    ("ex5", RATE_BY_FORMULA, "hidden"),
    ("ex5", RATE_WITHOUT_MOMENTUM_STEP, "hidden"),
    ("ex6", FACTOR_BY_FORMULA, "hidden"),
    ("ex6", DECAY_AFTER_THE_STEP, "visible"),
    ("ex7", NESTEROV_AS_HEAVY_BALL, "visible"),
    ("ex8", THREE_WEIGHTS_BY_SIZE, "hidden"),
    ("ex8", THREE_WEIGHTS_GUESSED, "visible"),
    ("ex8", THREE_WEIGHTS_BY_FORMULA, "hidden"),
    ("ex8", THREE_WEIGHTS_SNR_BY_STD, "hidden"),
    ("ex8", THREE_WEIGHTS_UNCORRECTED, "hidden"),
])
def test_wrong_answers_fail(exercise, answer, caught_by):
    assert exercise in run_lab({f"{exercise}-solution": answer}, until=exercise)
    # Which part catches it: a mistake only the hidden tests catch is one a student can submit
    # believing it correct (the visible part alone is run with the hidden part removed).
    visible_only = SOL[f"{exercise}-tests"].source.split(labs.HIDDEN_BEGIN)[0]
    caught_visibly = exercise in run_lab({f"{exercise}-solution": answer, f"{exercise}-tests": visible_only},
                                         until=exercise)
    assert caught_visibly == (caught_by == "visible")


@pytest.mark.parametrize(("exercise", "answer"), [
    ("ex1", "def momentum_step(w, g, m, lr, momentum):\n"
            "    regopt.optim.sgd_step(w, g, m, lr=lr, momentum=momentum)\n"),
    ("ex7", "from torch.optim import SGD\n\n\ndef nesterov_step(w, g, m, lr, momentum):\n"
            "    opt = SGD([w], lr=lr, momentum=momentum, nesterov=True)\n"),
    ("ex8", "import torch.optim as O\n\nopt = O.Adam([torch.zeros(3)], lr=1.0)\n"),
])
def test_calling_an_optimizer_library_is_flagged(exercise, answer):
    forbidden = SOL[f"{exercise}-tests"].metadata["regopt"]["forbidden"]
    reports = codecheck.analyze([("context", SOL["imports"].source), ("answer", answer)])
    assert codecheck.forbidden_uses(reports[1], forbidden)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_uses_nothing_forbidden(exercise):
    forbidden = SOL[f"{exercise}-tests"].metadata.get("regopt", {}).get("forbidden", [])
    reports = codecheck.analyze([("context", SOL["imports"].source), ("answer", SOL[f"{exercise}-solution"].source)])
    assert not codecheck.forbidden_uses(reports[1], forbidden)
