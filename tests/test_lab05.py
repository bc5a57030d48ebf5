
"""Lab 5's tests catch the mistakes students make, and accept the solution.

Each case below replaces one answer of ``solutions/05_adversarial.ipynb`` by a plausible
mistake and runs that exercise's test cell in-process (the cells are plain Python), split into
its visible part and its hidden part, and states which part must catch it. The lab runs at its
fast size (``REGOPT_FAST=1``), the size ``regopt grade`` uses by default; its checks hold at
both sizes.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest
import torch
from labexec import run_answer_and_tests, split_test
from torch import nn

from regopt.instructor import codecheck

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "05_adversarial.ipynb"
NB = nbformat.read(SOLUTION, as_version=4)
CELLS = {c.metadata["nbgrader"]["grade_id"]: c.source for c in NB.cells
         if c.cell_type == "code" and "nbgrader" in c.metadata}
EXERCISES = ["ex1", "ex2", "ex3", "ex4", "ex5"]
ATTACK_LIBRARIES = {"torchattacks", "advertorch", "foolbox", "art", "cleverhans"}


@pytest.fixture(scope="module")
def solved_namespace() -> dict:
    """Globals after running the solution's set-up, answer and test cells in order (fast size, as the grader runs it)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("REGOPT_FAST", "1")
    patch.setenv("REGOPT_STATIC", "1")
    threads = torch.get_num_threads()
    namespace: dict = {"__name__": "__lab05__"}
    try:
        for grade_id in ["imports"] + [f"{ex}-{part}" for ex in EXERCISES for part in ("solution", "tests")]:
            exec(compile(CELLS[grade_id], grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
        yield namespace
    finally:
        patch.undo()
        torch.set_num_threads(threads)


def run_exercise(namespace: dict, exercise: str, answer: str) -> tuple[str, str] | None:
    """Run `answer` then the exercise's tests; return (failed part, error type), or None."""
    # Copies of tensors and models: an answer that changes them must not spoil other cases.
    scope = {name: value.clone() if isinstance(value, torch.Tensor)
             else copy.deepcopy(value) if isinstance(value, nn.Module) else value
             for name, value in namespace.items()}
    return run_answer_and_tests(scope, exercise, answer, CELLS[f"{exercise}-tests"])


def test_every_test_cell_has_visible_and_hidden_parts_and_forbids_attack_libraries():
    for cell in NB.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            visible, hidden = split_test(cell.source)
            assert "assert" in visible and "assert" in hidden, meta["grade_id"]
            assert ATTACK_LIBRARIES <= set(cell.metadata["regopt"]["forbidden"]), meta["grade_id"]
    points = [c.metadata["nbgrader"]["points"] for c in NB.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(points) >= 5 and sum(points) >= 14


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_every_test(solved_namespace, exercise):
    assert run_exercise(solved_namespace, exercise, CELLS[f"{exercise}-solution"]) is None


PGD_HEAD = """
def pgd(model, x, y, eps, steps=10, step_size=None, random_start=True, generator=None):
    step_size = 2.5 * eps / steps if step_size is None else step_size
    x_adv = x.clone()
"""
RANDOM_START = """
    if random_start:
        x_adv = (x + eps * (2 * torch.rand(x.shape, generator=generator) - 1)).clamp(0, 1)
"""
PGD_STEPS = """
    for _ in range(steps):
        x_adv = fgsm(model, x_adv, y, step_size, clip=False)
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv
"""
TARGETED = """
def targeted_attack(model, x, target, c=0.05, steps=300, lr=0.01):
    delta = torch.zeros_like(x, requires_grad=True)
    optimizer = torch.optim.{optimizer}([delta], lr=lr)
    for _ in range(steps):
        objective = c * {penalty} + F.cross_entropy(model(x + delta), target, reduction="{reduction}")
        optimizer.zero_grad(); objective.backward(); optimizer.step()
        with torch.no_grad():
            delta.copy_((x + delta).clamp(0, 1) - x)
    return delta.detach()
deltas_7 = targeted_attack(standard_mlp, seven.expand(9, -1, -1, -1), other_classes)
"""
LOOP = """
def adversarial_training(model, x, y, eps, epochs, alpha=0.5, lr=1e-3, batch_size=100, seed=0):
    regopt.set_seed(seed)
    optimizer = torch.optim.{optimizer}(model.parameters(), lr={lr})
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        {order}
        for index in order_this_epoch.split(batch_size):
            adversarial_training_step(model, optimizer, x[index], y[index], eps, alpha)
    return model.eval()
"""
SHUFFLED = "order_this_epoch = torch.randperm(len(x), generator=order)"

MISTAKES = {
    "ex1 the gradient instead of its sign": ("ex1", "visible", """
def fgsm(model, x, y, eps, clip=True):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    x_adv = x.detach() + eps * g
    return x_adv.clamp(0, 1) if clip else x_adv
"""),
    "ex1 a step down the loss (wrong sign)": ("ex1", "visible", """
def fgsm(model, x, y, eps, clip=True):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    x_adv = x.detach() - eps * g.sign()
    return x_adv.clamp(0, 1) if clip else x_adv
"""),
    "ex1 never clips to [0, 1]": ("ex1", "visible", """
def fgsm(model, x, y, eps, clip=True):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return x.detach() + eps * g.sign()
"""),
    "ex1 clips even with clip=False": ("ex1", "visible", """
def fgsm(model, x, y, eps, clip=True):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return (x.detach() + eps * g.sign()).clamp(0, 1)
"""),
    "ex1 attacks the model's own prediction instead of the label": ("ex1", "visible", """
def fgsm(model, x, y, eps, clip=True):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), model(x).argmax(dim=1)), x)
    x_adv = x.detach() + eps * g.sign()
    return x_adv.clamp(0, 1) if clip else x_adv
"""),
    "ex1 backward() leaves gradients on the model": ("ex1", "hidden", """
def fgsm(model, x, y, eps, clip=True):
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model(x), y).backward()
    x_adv = x.detach() + eps * x.grad.sign()
    return x_adv.clamp(0, 1) if clip else x_adv
"""),
    "ex2 no projection onto the ball": ("ex2", "visible", PGD_HEAD + RANDOM_START + """
    for _ in range(steps):
        x_adv = fgsm(model, x_adv, y, step_size)
    return x_adv
"""),
    "ex2 projects around the current iterate": ("ex2", "visible", PGD_HEAD + RANDOM_START + """
    for _ in range(steps):
        previous = x_adv
        x_adv = fgsm(model, x_adv, y, step_size, clip=False)
        x_adv = torch.minimum(torch.maximum(x_adv, previous - eps), previous + eps).clamp(0, 1)
    return x_adv
"""),
    "ex2 no clip to the pixel range": ("ex2", "visible", PGD_HEAD + RANDOM_START + """
    for _ in range(steps):
        x_adv = fgsm(model, x_adv, y, step_size, clip=False)
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)
    return x_adv
"""),
    "ex2 steps down the loss": ("ex2", "visible", PGD_HEAD + RANDOM_START + """
    for _ in range(steps):
        x_adv = fgsm(model, x_adv, y, -step_size, clip=False)
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv
"""),
    "ex2 ignores step_size": ("ex2", "hidden", PGD_HEAD + RANDOM_START + """
    for _ in range(steps):
        x_adv = fgsm(model, x_adv, y, eps, clip=False)
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv
"""),
    "ex2 one FGSM step of size eps (the shortcut)": ("ex2", "hidden", """
def pgd(model, x, y, eps, steps=10, step_size=None, random_start=True, generator=None):
    return fgsm(model, x, y, eps)
"""),
    "ex2 always starts at x (BIM, no random start)": ("ex2", "visible", PGD_HEAD + PGD_STEPS),
    "ex2 a random start even with random_start=False": ("ex2", "visible", PGD_HEAD + """
    x_adv = (x + eps * (2 * torch.rand(x.shape, generator=generator) - 1)).clamp(0, 1)
""" + PGD_STEPS),
    "ex2 the random start ignores the generator": ("ex2", "hidden", PGD_HEAD + """
    if random_start:
        x_adv = (x + eps * (2 * torch.rand(x.shape) - 1)).clamp(0, 1)
""" + PGD_STEPS),
    "ex2 the random start at the corners of the ball": ("ex2", "hidden", PGD_HEAD + """
    if random_start:
        u = torch.rand(x.shape, generator=generator)
        x_adv = (x + eps * torch.where(u < 0.5, -1.0, 1.0)).clamp(0, 1)
""" + PGD_STEPS),
    "ex2 a Gaussian random start": ("ex2", "hidden", PGD_HEAD + """
    if random_start:
        noise = torch.randn(x.shape, generator=generator).clamp(-1, 1)
        x_adv = (x + eps * noise).clamp(0, 1)
""" + PGD_STEPS),
    "ex2 the random start is not clipped to [0, 1]": ("ex2", "visible", PGD_HEAD + """
    if random_start:
        x_adv = x + eps * (2 * torch.rand(x.shape, generator=generator) - 1)
""" + PGD_STEPS),
    "ex3 ascends the target's loss": ("ex3", "visible", TARGETED.format(
        optimizer="Adam", penalty="delta.pow(2).sum()", reduction="sum").replace("+ F.cross", "- F.cross")),
    "ex3 no projection onto the pixel range": ("ex3", "visible", TARGETED.format(
        optimizer="Adam", penalty="delta.pow(2).sum()", reduction="sum").replace(
        "delta.copy_((x + delta).clamp(0, 1) - x)", "pass")),
    "ex3 the mean over the batch instead of the sum": ("ex3", "visible", TARGETED.format(
        optimizer="Adam", penalty="delta.pow(2).sum()", reduction="mean")),
    "ex3 the norm instead of its square": ("ex3", "hidden", TARGETED.format(
        optimizer="Adam", penalty="delta.flatten(1).norm(dim=1).sum()", reduction="sum")),
    "ex3 plain gradient descent instead of Adam": ("ex3", "hidden", TARGETED.format(
        optimizer="SGD", penalty="delta.pow(2).sum()", reduction="sum")),
    "ex4 ignores alpha": ("ex4", "visible", """
def adversarial_training_step(model, optimizer, x, y, eps, alpha=0.5):
    model.eval(); x_adv = fgsm(model, x, y, eps); model.train()
    loss = 0.5 * F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(x_adv), y)
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    return float(loss.detach())
"""),
    "ex4 the attack's gradients leak into the update": ("ex4", "hidden", """
def adversarial_training_step(model, optimizer, x, y, eps, alpha=0.5):
    optimizer.zero_grad()
    x_req = x.clone().requires_grad_(True)
    F.cross_entropy(model(x_req), y).backward()
    x_adv = (x + eps * x_req.grad.sign()).clamp(0, 1)
    loss = alpha * F.cross_entropy(model(x), y) + (1 - alpha) * F.cross_entropy(model(x_adv), y)
    loss.backward(); optimizer.step()
    return float(loss.detach())
"""),
    "ex4 leaves the model in eval() mode": ("ex4", "hidden", """
def adversarial_training_step(model, optimizer, x, y, eps, alpha=0.5):
    model.eval(); x_adv = fgsm(model, x, y, eps)
    loss = alpha * F.cross_entropy(model(x), y) + (1 - alpha) * F.cross_entropy(model(x_adv), y)
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    return float(loss.detach())
"""),
    "ex5 FGSM and PGD columns swapped": ("ex5", "visible", """
x_eval, y_eval = x_test[:500], y_test[:500]
error_table = {name: {"clean": error_rate(model, x_eval, y_eval),
                      "FGSM": error_rate(model, pgd(model, x_eval, y_eval, 0.25), y_eval),
                      "PGD": error_rate(model, fgsm(model, x_eval, y_eval, 0.25), y_eval)}
               for name, model in (("standard", standard_mlp), ("robust", robust_mlp))}
"""),
    "ex5 a hard-coded error table": ("ex5", "hidden", """
error_table = {"standard": {"clean": 0.08, "FGSM": 0.9, "PGD": 0.97},
               "robust": {"clean": 0.1, "FGSM": 0.3, "PGD": 0.7}}
"""),
    "ex5 the loop trains on clean images only": ("ex5", "visible", LOOP.format(
        optimizer="Adam", lr="lr", order=SHUFFLED).replace("y[index], eps, alpha", "y[index], 0.0, alpha") + """
regopt.set_seed(0)
robust_mlp = adversarial_training(regopt.MLP(784, [128], 10), x_train, y_train, eps=0.25, epochs=pick(5, 4))
x_eval, y_eval = x_test[:500], y_test[:500]
error_table = {name: {"clean": error_rate(model, x_eval, y_eval),
                      "FGSM": error_rate(model, fgsm(model, x_eval, y_eval, 0.25), y_eval),
                      "PGD": error_rate(model, pgd(model, x_eval, y_eval, 0.25,
                                                   generator=torch.Generator().manual_seed(0)), y_eval)}
               for name, model in (("standard", standard_mlp), ("robust", robust_mlp))}
"""),
    "ex5 the same order in every epoch": ("ex5", "hidden", LOOP.format(
        optimizer="Adam", lr="lr", order="order_this_epoch = torch.arange(len(x))")),
    "ex5 one random order drawn once for all epochs": ("ex5", "hidden", LOOP.format(
        optimizer="Adam", lr="lr", order=SHUFFLED).replace(
        "order = torch.Generator().manual_seed(seed)",
        "order = torch.Generator().manual_seed(seed); fixed = torch.randperm(len(x), generator=order)").replace(
        SHUFFLED, "order_this_epoch = fixed")),
    "ex5 ignores lr": ("ex5", "hidden", LOOP.format(optimizer="Adam", lr="1e-3", order=SHUFFLED)),
    "ex5 SGD instead of Adam": ("ex5", "hidden", LOOP.format(optimizer="SGD", lr="lr", order=SHUFFLED)),
    "ex5 FGSM examples crafted once, against the initial model": ("ex5", "hidden", """
def adversarial_training(model, x, y, eps, epochs, alpha=0.5, lr=1e-3, batch_size=100, seed=0):
    regopt.set_seed(seed)
    model.eval()
    x_adv = fgsm(model, x, y, eps)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for index in torch.randperm(len(x), generator=order).split(batch_size):
            model.train()
            loss = alpha * F.cross_entropy(model(x[index]), y[index]) \\
                + (1 - alpha) * F.cross_entropy(model(x_adv[index]), y[index])
            optimizer.zero_grad(); loss.backward(); optimizer.step()
    return model.eval()
"""),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_plausible_mistake_is_caught_where_expected(solved_namespace, name):
    exercise, part, answer = MISTAKES[name]
    # An AssertionError: the tests reject the answer with their message, not by crashing on it.
    assert run_exercise(solved_namespace, exercise, answer) == (part, "AssertionError")


def _forbidden_uses(exercise: str, answer: str) -> list[str]:
    forbidden = next(c for c in NB.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{exercise}-tests"
                     ).metadata["regopt"]["forbidden"]
    reports = codecheck.analyze([("context", CELLS["imports"]), ("answer", answer)])
    return [use.name for use in codecheck.forbidden_uses(reports[1], forbidden)]


LIBRARY_ANSWERS = {
    "ex1 an attack library's FGSM": ("ex1", """
import torchattacks
def fgsm(model, x, y, eps, clip=True):
    return torchattacks.FGSM(model, eps=eps)(x, y)
"""),
    "ex2 an attack library's PGD": ("ex2", """
from torchattacks import PGD
def pgd(model, x, y, eps, steps=10, step_size=None, random_start=True, generator=None):
    return PGD(model, eps=eps, steps=steps, random_start=random_start)(x, y)
"""),
    "ex5 regopt.fit in place of the loop": ("ex5", """
def adversarial_training(model, x, y, eps, epochs, alpha=0.5, lr=1e-3, batch_size=100, seed=0):
    regopt.fit(model, (x, y), torch.optim.Adam(model.parameters(), lr=lr), epochs=epochs, seed=seed)
    return model.eval()
"""),
}


@pytest.mark.parametrize("name", LIBRARY_ANSWERS)
def test_an_answer_that_calls_a_library_is_flagged(name):
    exercise, answer = LIBRARY_ANSWERS[name]
    assert _forbidden_uses(exercise, answer), f"{name}: the library call was not flagged"


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_uses_nothing_forbidden(exercise):
    assert _forbidden_uses(exercise, CELLS[f"{exercise}-solution"]) == []


def test_hidden_messages_print_no_expected_value():
    # A hidden test's message says what is wrong; it never formats a value computed from a hidden case.
    for exercise in EXERCISES:
        _, hidden = split_test(CELLS[f"{exercise}-tests"])
        for message in re.findall(r'f"([^"]*)"', hidden):
            for field in re.findall(r"\{([^}:]*)", message):
                assert field.strip().lstrip("_") in {"eps", "steps", "size", "name"}, (exercise, message)
