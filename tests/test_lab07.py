"""Lab 7's tests catch the mistakes students make, and accept the solution.

Each case below replaces one answer of ``solutions/07_saddle_points.ipynb`` by a plausible
mistake and runs that exercise's test cell in-process, split into its visible part and its hidden
part. The case states which part must catch the mistake: a mistake that only the hidden tests
catch is one a student can submit believing it correct, so the hidden tests must not be decoration.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
from labexec import assert_skipped_exercise_fails, run_answer_and_tests, split_test

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "07_saddle_points.ipynb"
NOTEBOOK = nbformat.read(SOLUTION, as_version=4)
CELLS = {c.metadata["nbgrader"]["grade_id"]: c.source for c in NOTEBOOK.cells
         if c.cell_type == "code" and "nbgrader" in c.metadata}
EXERCISES = ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]


@pytest.fixture(scope="module", autouse=True)
def lab_default_dtype():
    """The lab sets float64 as torch's default dtype, for this module only."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="module")
def solved_namespace() -> dict:
    namespace: dict = {"__name__": "__lab07__"}
    order = ["imports"] + [f"{ex}-{part}" for ex in EXERCISES for part in ("solution", "tests")]
    order.insert(order.index("ex6-solution"), "ex6-setup")
    for grade_id in order:
        exec(compile(CELLS[grade_id], grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
    return namespace


def run_exercise(namespace: dict, exercise: str, answer: str) -> tuple[str, str] | None:
    """Run `answer` then the exercise's tests; return (failed part, error type), or None."""
    scope = dict(namespace)
    return run_answer_and_tests(scope, exercise, answer, CELLS[f"{exercise}-tests"])


def test_lab_structure_points_and_forbidden_names():
    graded = [c for c in NOTEBOOK.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) >= 5 and sum(c.metadata["nbgrader"]["points"] for c in graded) >= 14
    forbidden = {c.metadata["nbgrader"]["grade_id"]: c.metadata.get("regopt", {}).get("forbidden", []) for c in graded}
    assert "torch.func" in forbidden["ex3-tests"] and "regopt.hessian" in forbidden["ex3-tests"]
    assert "torch.optim" in forbidden["ex6-tests"] and "regopt.optim" in forbidden["ex6-tests"]
    for exercise in EXERCISES:
        visible, hidden = split_test(CELLS[f"{exercise}-tests"])
        assert "assert" in visible and "assert" in hidden, exercise


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_every_test(solved_namespace, exercise):
    assert run_exercise(solved_namespace, exercise, CELLS[f"{exercise}-solution"]) is None


EX6_SPEEDUP = "\nescape_speedup = gd_escape_steps(1e-8, 0.05) / momentum_escape_steps(1e-8, 0.05, 0.9)\n"
EX6_GD = """
def gd_escape_steps(offset, lr, max_steps=10_000):
    theta = torch.tensor([1.0, offset])
    for step in range(1, max_steps + 1):
        theta = theta - lr * saddle_gradient(theta)
        if abs(float(theta[1])) > 0.5:
            return step
    return max_steps
"""

MISTAKES = {
    "ex1 the old rule: any zero eigenvalue makes it degenerate": ("ex1", "visible", """
def classify_critical_point(H, tol=1e-8):
    sigma = torch.linalg.eigvalsh(H)
    index = int((sigma < -tol).sum())
    if bool((sigma.abs() <= tol).any()):
        return "degenerate", index
    return ("minimum" if index == 0 else "maximum" if index == len(sigma) else "saddle"), index
"""),
    "ex1 the diagonal as the spectrum": ("ex1", "visible", """
def classify_critical_point(H, tol=1e-8):
    sigma = torch.diagonal(H)
    index = int((sigma < -tol).sum())
    n_up = int((sigma > tol).sum())
    if index and n_up:
        return "saddle", index
    if index + n_up < len(sigma):
        return "degenerate", index
    return ("minimum" if n_up else "maximum"), index
"""),
    "ex1 index counts the ascending directions": ("ex1", "visible", """
def classify_critical_point(H, tol=1e-8):
    sigma = -torch.linalg.eigvalsh(H)
    index = int((sigma < -tol).sum())
    n_up = int((sigma > tol).sum())
    if index and n_up:
        return "saddle", index
    if index + n_up < len(sigma):
        return "degenerate", index
    return ("minimum" if n_up else "maximum"), index
"""),
    "ex1 zero eigenvalues ignored": ("ex1", "visible", """
def classify_critical_point(H, tol=1e-8):
    sigma = torch.linalg.eigvalsh(H)
    index = int((sigma < -tol).sum())
    return ("minimum" if index == 0 else "maximum" if index == len(sigma) else "saddle"), index
"""),
    "ex1 a negative and a zero eigenvalue make a saddle": ("ex1", "hidden", """
def classify_critical_point(H, tol=1e-8):
    sigma = torch.linalg.eigvalsh(H)
    index = int((sigma < -tol).sum())
    if index == 0:
        return ("degenerate" if bool((sigma.abs() <= tol).any()) else "minimum"), 0
    return ("maximum" if index == len(sigma) else "saddle"), index
"""),
    "ex1 exact zero instead of the tolerance": ("ex1", "hidden", """
def classify_critical_point(H, tol=1e-8):
    sigma = torch.linalg.eigvalsh(H)
    index = int((sigma < 0).sum())
    n_up = int((sigma > 0).sum())
    if index and n_up:
        return "saddle", index
    if index + n_up < len(sigma):
        return "degenerate", index
    return ("minimum" if n_up else "maximum"), index
"""),
    "ex1 tolerance for the zeros but not for the index": ("ex1", "hidden", """
def classify_critical_point(H, tol=1e-8):
    sigma = torch.linalg.eigvalsh(H)
    index = int((sigma < 0).sum())
    n_up = int((sigma > tol).sum())
    if int((sigma < -tol).sum()) and n_up:
        return "saddle", index
    if bool((sigma.abs() <= tol).any()):
        return "degenerate", index
    return ("minimum" if n_up else "maximum"), index
"""),
    "ex1 a fixed tolerance instead of tol": ("ex1", "hidden", """
def classify_critical_point(H, tol=1e-8):
    sigma = torch.linalg.eigvalsh(H)
    tol = 1e-8
    index = int((sigma < -tol).sum())
    n_up = int((sigma > tol).sum())
    if index and n_up:
        return "saddle", index
    if index + n_up < len(sigma):
        return "degenerate", index
    return ("minimum" if n_up else "maximum"), index
"""),
    "ex1 index as a tensor": ("ex1", "hidden", """
def classify_critical_point(H, tol=1e-8):
    sigma = torch.linalg.eigvalsh(H)
    index = (sigma < -tol).sum()
    n_up = int((sigma > tol).sum())
    if index and n_up:
        return "saddle", index
    if index + n_up < len(sigma):
        return "degenerate", index
    return ("minimum" if n_up else "maximum"), index
"""),
    "ex2 factorial of the total width": ("ex2", "visible", """
def permutation_copies(hidden_widths):
    return math.factorial(sum(hidden_widths))
log10_copies_9x10 = math.log10(permutation_copies([10] * 9))
"""),
    "ex2 floats through the gamma function": ("ex2", "hidden", """
def permutation_copies(hidden_widths):
    return math.prod(math.gamma(w + 1) for w in hidden_widths)
log10_copies_9x10 = math.log10(permutation_copies([10] * 9))
"""),
    "ex2 a typed answer": ("ex2", "hidden", """
def permutation_copies(hidden_widths):
    return math.prod(math.factorial(w) for w in hidden_widths)
log10_copies_9x10 = 59.04
"""),
    "ex3 the outer product of the gradient": ("ex3", "visible", """
def hessian_by_double_backward(f, theta):
    point = theta.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(point), point)
    return torch.outer(g, g)
"""),
    "ex3 calls torch's Hessian": ("ex3", "hidden", """
def hessian_by_double_backward(f, theta):
    return torch.func.hessian(f)(theta.detach())
"""),
    "ex3 marks the caller's theta for gradients": ("ex3", "hidden", """
def hessian_by_double_backward(f, theta):
    theta.requires_grad_(True)
    (g,) = torch.autograd.grad(f(theta), theta, create_graph=True)
    rows = [torch.autograd.grad(g[i], theta, retain_graph=True, allow_unused=True)[0] for i in range(len(theta))]
    rows = [torch.zeros_like(theta) if r is None else r for r in rows]
    H = torch.stack(rows).detach()
    return (H + H.T) / 2
"""),
    "ex3 finite differences of the gradient": ("ex3", "visible", """
def hessian_by_double_backward(f, theta):
    h = 1e-5
    def gradient(t):
        point = t.detach().clone().requires_grad_(True)
        return torch.autograd.grad(f(point), point)[0]
    rows = []
    for i in range(len(theta)):
        step = torch.zeros_like(theta)
        step[i] = h
        rows.append((gradient(theta + step) - gradient(theta - step)) / (2 * h))
    H = torch.stack(rows)
    return (H + H.T) / 2
"""),
    "ex3 the Jacobian of the gradient from torch.autograd.functional": ("ex3", "hidden", """
def hessian_by_double_backward(f, theta):
    def gradient(t):
        return torch.autograd.grad(f(t), t, create_graph=True)[0]
    H = torch.autograd.functional.jacobian(gradient, theta.detach().clone().requires_grad_(True))
    return (H + H.T) / 2
"""),
    "ex4 direction by finite differences of the rescaling": ("ex4", "hidden", """
def rescale_unit(net, j, c):
    new = copy.deepcopy(net)
    with torch.no_grad():
        new[0].weight[j] *= c
        new[0].bias[j] *= c
        new[2].weight[:, j] /= c
    return new
def rescaling_direction(net, j):
    h = 1e-5
    return (flat_parameters(rescale_unit(net, j, 1 + h)) - flat_parameters(rescale_unit(net, j, 1 - h))) / (2 * h)
"""),
    "ex4 outgoing weights scaled by c too": ("ex4", "visible", """
def rescale_unit(net, j, c):
    new = copy.deepcopy(net)
    with torch.no_grad():
        new[0].weight[j] *= c
        new[0].bias[j] *= c
        new[2].weight[:, j] *= c
    return new
def rescaling_direction(net, j):
    parts = []
    for name, p in net.named_parameters():
        piece = torch.zeros_like(p)
        if name in ("0.weight", "0.bias"):
            piece[j] = p.detach()[j]
        elif name == "2.weight":
            piece[:, j] = -p.detach()[:, j]
        parts.append(piece.reshape(-1))
    return torch.cat(parts)
"""),
    "ex4 rescales in place": ("ex4", "visible", """
def rescale_unit(net, j, c):
    with torch.no_grad():
        net[0].weight[j] *= c
        net[0].bias[j] *= c
        net[2].weight[:, j] /= c
    return net
def rescaling_direction(net, j):
    parts = []
    for name, p in net.named_parameters():
        piece = torch.zeros_like(p)
        if name in ("0.weight", "0.bias"):
            piece[j] = p.detach()[j]
        elif name == "2.weight":
            piece[:, j] = -p.detach()[:, j]
        parts.append(piece.reshape(-1))
    return torch.cat(parts)
"""),
    "ex4 rescales every hidden unit, not unit j": ("ex4", "visible", """
def rescale_unit(net, j, c):
    new = copy.deepcopy(net)
    with torch.no_grad():
        new[0].weight *= c
        new[0].bias *= c
        new[2].weight /= c
    return new
def rescaling_direction(net, j):
    parts = []
    for name, p in net.named_parameters():
        piece = torch.zeros_like(p)
        if name in ("0.weight", "0.bias"):
            piece[j] = p.detach()[j]
        elif name == "2.weight":
            piece[:, j] = -p.detach()[:, j]
        parts.append(piece.reshape(-1))
    return torch.cat(parts)
"""),
    "ex4 direction forgets the bias": ("ex4", "visible", """
def rescale_unit(net, j, c):
    new = copy.deepcopy(net)
    with torch.no_grad():
        new[0].weight[j] *= c
        new[0].bias[j] *= c
        new[2].weight[:, j] /= c
    return new
def rescaling_direction(net, j):
    parts = []
    for name, p in net.named_parameters():
        piece = torch.zeros_like(p)
        if name == "0.weight":
            piece[j] = p.detach()[j]
        elif name == "2.weight":
            piece[:, j] = -p.detach()[:, j]
        parts.append(piece.reshape(-1))
    return torch.cat(parts)
"""),
    "ex5 loss of the kept eigenvalues": ("ex5", "visible", """
def autoencoder_critical_point(U, kept, m):
    A = torch.zeros(m, U.shape[0])
    A[:len(kept)] = U[:, list(kept)].T
    return A, A.T.clone()
def predicted_loss(nu, kept):
    return float(sum(nu[i] for i in kept))
def predicted_index(nu, kept, m):
    left_out = [j for j in range(len(nu)) if j not in kept]
    return sum(1 for i in kept for j in left_out if nu[j] > nu[i]) + (m - len(kept)) * len(left_out)
"""),
    "ex5 index without the unused units": ("ex5", "visible", """
def autoencoder_critical_point(U, kept, m):
    A = torch.zeros(m, U.shape[0])
    A[:len(kept)] = U[:, list(kept)].T
    return A, A.T.clone()
def predicted_loss(nu, kept):
    return float(sum(nu[j] for j in range(len(nu)) if j not in kept))
def predicted_index(nu, kept, m):
    left_out = [j for j in range(len(nu)) if j not in kept]
    return sum(1 for i in kept for j in left_out if nu[j] > nu[i])
"""),
    "ex5 eigenvalues assumed in decreasing order": ("ex5", "visible", """
def autoencoder_critical_point(U, kept, m):
    A = torch.zeros(m, U.shape[0])
    A[:len(kept)] = U[:, list(kept)].T
    return A, A.T.clone()
def predicted_loss(nu, kept):
    return float(sum(nu[j] for j in range(len(nu)) if j not in kept))
def predicted_index(nu, kept, m):
    left_out = [j for j in range(len(nu)) if j not in kept]
    return sum(1 for i in kept for j in left_out if j < i) + (m - len(kept)) * len(left_out)
"""),
    "ex6 momentum updates the weights before the velocity": ("ex6", "visible", EX6_GD + """
def momentum_escape_steps(offset, lr, mu, max_steps=10_000):
    theta, velocity = torch.tensor([1.0, offset]), torch.zeros(2)
    for step in range(1, max_steps + 1):
        theta = theta - lr * velocity
        velocity = mu * velocity + saddle_gradient(theta)
        if abs(float(theta[1])) > 0.5:
            return step
    return max_steps
""" + EX6_SPEEDUP),
    "ex6 gradient descent counts one step short": ("ex6", "visible", """
def gd_escape_steps(offset, lr, max_steps=10_000):
    theta = torch.tensor([1.0, offset])
    for step in range(max_steps):
        theta = theta - lr * saddle_gradient(theta)
        if abs(float(theta[1])) > 0.5:
            return step
    return max_steps
def momentum_escape_steps(offset, lr, mu, max_steps=10_000):
    theta, velocity = torch.tensor([1.0, offset]), torch.zeros(2)
    for step in range(1, max_steps + 1):
        velocity = mu * velocity + saddle_gradient(theta)
        theta = theta - lr * velocity
        if abs(float(theta[1])) > 0.5:
            return step
    return max_steps
""" + EX6_SPEEDUP),
    "ex6 damped momentum": ("ex6", "visible", EX6_GD + """
def momentum_escape_steps(offset, lr, mu, max_steps=10_000):
    theta, velocity = torch.tensor([1.0, offset]), torch.zeros(2)
    for step in range(1, max_steps + 1):
        velocity = mu * velocity + (1 - mu) * saddle_gradient(theta)
        theta = theta - lr * velocity
        if abs(float(theta[1])) > 0.5:
            return step
    return max_steps
""" + EX6_SPEEDUP),
    "ex6 the linear estimate instead of a simulation": ("ex6", "hidden", """
def gd_escape_steps(offset, lr, max_steps=10_000):
    if offset == 0:
        return max_steps
    return min(max_steps, math.ceil(math.log(0.5 / abs(offset)) / math.log(1 + lr)))
def momentum_escape_steps(offset, lr, mu, max_steps=10_000):
    if offset == 0:
        return max_steps
    rate = ((1 + lr + mu) + math.sqrt((1 + lr + mu) ** 2 - 4 * mu)) / 2
    return min(max_steps, math.ceil(math.log(0.5 / abs(offset)) / math.log(rate)))
""" + EX6_SPEEDUP),
    "ex6 regopt.optim.sgd_step instead of the update": ("ex6", "hidden", EX6_GD + """
def momentum_escape_steps(offset, lr, mu, max_steps=10_000):
    import regopt.optim
    theta, buf = torch.tensor([1.0, offset]), None
    for step in range(1, max_steps + 1):
        buf = regopt.optim.sgd_step(theta, saddle_gradient(theta), buf, lr, momentum=mu)
        if abs(float(theta[1])) > 0.5:
            return step
    return max_steps
""" + EX6_SPEEDUP),
    "ex6 torch.optim.SGD instead of the update": ("ex6", "hidden", EX6_GD + """
def momentum_escape_steps(offset, lr, mu, max_steps=10_000):
    theta = torch.tensor([1.0, offset], requires_grad=True)
    optimizer = torch.optim.SGD([theta], lr=lr, momentum=mu)
    for step in range(1, max_steps + 1):
        theta.grad = saddle_gradient(theta.detach())
        optimizer.step()
        if abs(float(theta[1])) > 0.5:
            return step
    return max_steps
""" + EX6_SPEEDUP),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_plausible_mistake_is_caught_where_expected(solved_namespace, name):
    exercise, part, answer = MISTAKES[name]
    assert run_exercise(solved_namespace, exercise, answer) == (part, "AssertionError")


@pytest.mark.parametrize("exercise", EXERCISES)
def test_a_skipped_exercise_earns_nothing(solved_namespace, exercise):
    """The generated lab's stub, left as it is, fails the exercise's tests."""
    assert_skipped_exercise_fails(solved_namespace, exercise, CELLS, SOLUTION)
