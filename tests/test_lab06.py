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
    assert EXERCISES[-2:] == ["ex8", "ex9"]
    assert run_lab({}) == set()


@pytest.mark.parametrize("exercise", EXERCISES)
def test_skipping_any_one_exercise_costs_points(exercise):
    assert exercise in run_lab({f"{exercise}-solution": STUDENT[f"{exercise}-solution"].source}, until=exercise)


NESTEROV_AS_HEAVY_BALL = SOL["ex8-solution"].source.replace(
    "w.sub_(lr * (g + momentum * velocity))", "w.sub_(lr * velocity)")
THREE_WEIGHTS_BY_SIZE = '''
adam_mean_steps = GRADIENT_CYCLES.mean(dim=1)  # what SGD would do, not Adam
signal_to_noise = GRADIENT_CYCLES.mean(dim=1) / GRADIENT_CYCLES.pow(2).mean(dim=1).sqrt()
fastest_weight = int(adam_mean_steps.argmax()) + 1
'''
THREE_WEIGHTS_GUESSED = SOL["ex9-solution"].source.replace(
    "fastest_weight = int(adam_mean_steps.argmax()) + 1", "fastest_weight = 1  # the largest gradient")


@pytest.mark.parametrize(("exercise", "answer"), [
    ("ex8", NESTEROV_AS_HEAVY_BALL),
    ("ex9", THREE_WEIGHTS_BY_SIZE),
    ("ex9", THREE_WEIGHTS_GUESSED),
])
def test_wrong_answers_to_the_new_exercises_fail(exercise, answer):
    assert exercise in run_lab({f"{exercise}-solution": answer}, until=exercise)


@pytest.mark.parametrize(("exercise", "answer"), [
    ("ex1", "def momentum_step(w, g, velocity, lr, momentum):\n"
            "    regopt.optim.sgd_step(w, g, velocity, lr=lr, momentum=momentum)\n"),
    ("ex8", "from torch.optim import SGD\n\n\ndef nesterov_step(w, g, velocity, lr, momentum):\n"
            "    opt = SGD([w], lr=lr, momentum=momentum, nesterov=True)\n"),
    ("ex9", "import torch.optim as O\n\nopt = O.Adam([torch.zeros(3)], lr=1.0)\n"),
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
