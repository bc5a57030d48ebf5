"""Lab 2's tests catch the mistakes students make, and accept the solution.

The graded tests of a lab are only as good as the wrong answers they reject. Each case
below replaces one answer of ``solutions/02_quadratic_analysis.ipynb`` by a plausible
mistake and runs that exercise's test cell in-process (no kernel: the cells are plain
Python), split into its visible part and its hidden part. The case states which part
must catch the mistake, with an assertion: a mistake that only the hidden tests catch is one
a student can submit believing it correct, so the hidden tests must not be decoration.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
from labexec import run_answer_and_tests, split_test

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "02_quadratic_analysis.ipynb"
CELLS = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nbformat.read(SOLUTION, as_version=4).cells
         if c.cell_type == "code" and "nbgrader" in c.metadata}
EXERCISES = ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]


@pytest.fixture(scope="module", autouse=True)
def lab_default_dtype():
    """The lab sets float64 as torch's default dtype, for this module only: other modules must not inherit it.

    Autouse and module-scoped, so it is set up before `solved_namespace` and torn down after it.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="module")
def solved_namespace() -> dict:
    """Globals after running the solution's set-up, answer and test cells in order."""
    namespace: dict = {"__name__": "__lab02__"}
    order = ["imports"] + [f"{ex}-{part}" for ex in EXERCISES for part in ("solution", "tests")]
    order.insert(order.index("ex6-solution"), "ex6-network")
    for grade_id in order:
        exec(compile(CELLS[grade_id], grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
    return namespace


def run_exercise(namespace: dict, exercise: str, answer: str) -> tuple[str, str] | None:
    """Run `answer` then the exercise's tests; return (failed part, error type), or None."""
    # Copies of the tensors: an answer that writes into its inputs must not spoil other cases.
    scope = {name: value.clone() if isinstance(value, torch.Tensor) else value for name, value in namespace.items()}
    return run_answer_and_tests(scope, exercise, answer, CELLS[f"{exercise}-tests"])


def test_every_test_cell_has_visible_and_hidden_parts():
    for exercise in EXERCISES:
        visible, hidden = split_test(CELLS[f"{exercise}-tests"])
        assert "assert" in visible and "assert" in hidden, exercise


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_every_test(solved_namespace, exercise):
    assert run_exercise(solved_namespace, exercise, CELLS[f"{exercise}-solution"]) is None


# Exercise 6 asks for two results besides the function; every ex6 mistake computes them the same way.
EX6_RUN = """
top_by_power, top_vector = power_iteration(hvp, n_parameters, iterations=100)
top_by_eigvalsh = float(torch.linalg.eigvalsh(hessian(network, inputs, targets))[-1])
"""

MISTAKES = {
    "ex1 eigenvectors as rows": ("ex1", "visible", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    sigma, Q = torch.linalg.eigh(H)
    return Q.T @ (sigma / (sigma + lam) * (Q @ theta_hat))
"""),
    "ex1 one factor for all directions": ("ex1", "visible", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    sigma = torch.linalg.eigvalsh(H).mean()
    return sigma / (sigma + lam) * theta_hat
"""),
    "ex1 changes theta_hat in place": ("ex1", "hidden", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    sigma, Q = torch.linalg.eigh(H)
    coefficients = Q.T @ theta_hat
    theta_hat[:] = Q @ (sigma / (sigma + lam) * coefficients)
    return theta_hat
"""),
    "ex2 the removed fraction instead of the kept one": ("ex2", "visible", """
def shrinkage_factors(H, lam):
    sigma = torch.linalg.eigvalsh(H)
    return lam / (sigma + lam)
def count_mostly_removed(H, lam):
    return int((shrinkage_factors(H, lam) > 0.5).sum())
n_mostly_removed = count_mostly_removed(H, 0.1)
"""),
    "ex2 counts the directions kept": ("ex2", "visible", """
def shrinkage_factors(H, lam):
    sigma = torch.linalg.eigvalsh(H)
    return sigma / (sigma + lam)
def count_mostly_removed(H, lam):
    return int((shrinkage_factors(H, lam) > 0.5).sum())
n_mostly_removed = count_mostly_removed(H, 0.1)
"""),
    "ex2 counts a component that keeps exactly half": ("ex2", "visible", """
def shrinkage_factors(H, lam):
    sigma = torch.linalg.eigvalsh(H)
    return sigma / (sigma + lam)
def count_mostly_removed(H, lam):
    return int((shrinkage_factors(H, lam) <= 0.5).sum())
n_mostly_removed = count_mostly_removed(H, 0.1)
"""),
    "ex2 the count for the regression's lambda only": ("ex2", "visible", """
def shrinkage_factors(H, lam):
    sigma = torch.linalg.eigvalsh(H)
    return sigma / (sigma + lam)
def count_mostly_removed(H, lam):
    return int((torch.linalg.eigvalsh(H) < 0.1).sum())
n_mostly_removed = count_mostly_removed(H, 0.1)
"""),
    "ex3 hard thresholding": ("ex3", "visible", """
def lasso_diagonal(h, theta_hat, lam):
    return theta_hat * (theta_hat.abs() > lam / h)
"""),
    "ex3 threshold lam times h": ("ex3", "visible", """
def lasso_diagonal(h, theta_hat, lam):
    return torch.sign(theta_hat) * torch.clamp(theta_hat.abs() - lam * h, min=0.0)
"""),
    "ex4 the exponential approximation as the filter": ("ex4", "visible", """
def gradient_descent_from_zero(H, theta_hat, lr, steps):
    theta = torch.zeros_like(theta_hat)
    for _ in range(steps):
        theta = theta - lr * H @ (theta - theta_hat)
    return theta
def early_stopping_filter(sigma, lr, steps):
    return 1 - torch.exp(-lr * steps * sigma)
"""),
    "ex4 one step too many": ("ex4", "visible", """
def gradient_descent_from_zero(H, theta_hat, lr, steps):
    theta = torch.zeros_like(theta_hat)
    for _ in range(steps + 1):
        theta = theta - lr * H @ (theta - theta_hat)
    return theta
def early_stopping_filter(sigma, lr, steps):
    return 1 - (1 - lr * sigma) ** (steps + 1)
"""),
    "ex5 gap relative to the early-stopping filter": ("ex5", "visible", """
def equivalent_l2_strength(lr, steps):
    return 1.0 / (steps * lr)
def imitation_gap(sigma, lr, steps):
    lam = equivalent_l2_strength(lr, steps)
    early = float(early_stopping_filter(torch.tensor([sigma]), lr, steps))
    return (early - sigma / (sigma + lam)) / early
gap_below = imitation_gap(0.01, 0.01, 1000)
gap_at = imitation_gap(0.1, 0.01, 1000)
"""),
    "ex5 the exponential approximation instead of the filter": ("ex5", "hidden", """
def equivalent_l2_strength(lr, steps):
    return 1.0 / (steps * lr)
def imitation_gap(sigma, lr, steps):
    lam = equivalent_l2_strength(lr, steps)
    early = 1 - math.exp(-sigma / lam)
    return (early - sigma / (sigma + lam)) / (sigma / (sigma + lam))
gap_below = imitation_gap(0.01, 0.01, 1000)
gap_at = imitation_gap(0.1, 0.01, 1000)
"""),
    "ex5 alpha as lr over steps": ("ex5", "visible", """
def equivalent_l2_strength(lr, steps):
    return lr / steps
def imitation_gap(sigma, lr, steps):
    return 0.04
gap_below, gap_at = 0.04, 0.3
"""),
    "ex6 Rayleigh quotient of an unnormalized vector": ("ex6", "visible", """
def power_iteration(matvec, dim, iterations, seed=0):
    v = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
    for _ in range(iterations):
        v = matvec(v)
    return float(v @ matvec(v)), v
""" + EX6_RUN),
    "ex6 two products per iteration": ("ex6", "hidden", """
def power_iteration(matvec, dim, iterations, seed=0):
    v = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
    v = v / v.norm()
    for _ in range(iterations):
        v = matvec(v) / matvec(v).norm()
    return float(v @ matvec(v)), v
""" + EX6_RUN),
    "ex6 eigenvalue as a tensor": ("ex6", "hidden", """
def power_iteration(matvec, dim, iterations, seed=0):
    v = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
    v = v / v.norm()
    for _ in range(iterations):
        w = matvec(v)
        value = v @ w
        v = w / w.norm()
    return value, v
""" + EX6_RUN),
    "ex1 a linear solve": ("ex1", "hidden", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    return torch.linalg.solve(H + lam * torch.eye(len(H)), H @ theta_hat)
"""),
    "ex1 solve_ex": ("ex1", "hidden", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    return torch.linalg.solve_ex(H + lam * torch.eye(len(H)), H @ theta_hat)[0]
"""),
    "ex1 the inverse as a tensor method": ("ex1", "hidden", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    return (H + lam * torch.eye(len(H))).inverse() @ (H @ theta_hat)
"""),
    "ex1 torch.inverse": ("ex1", "hidden", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    return torch.inverse(H + lam * torch.eye(len(H))) @ H @ theta_hat
"""),
    "ex1 least squares": ("ex1", "hidden", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    A = H + lam * torch.eye(len(H))
    return torch.linalg.lstsq(A, (H @ theta_hat)[:, None]).solution[:, 0]
"""),
    "ex1 the pseudoinverse": ("ex1", "hidden", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    return torch.linalg.pinv(H + lam * torch.eye(len(H))) @ H @ theta_hat
"""),
    "ex1 a Cholesky solve": ("ex1", "hidden", """
def ridge_by_eigendecomposition(H, theta_hat, lam):
    L = torch.linalg.cholesky(H + lam * torch.eye(len(H)))
    return torch.cholesky_solve((H @ theta_hat)[:, None], L)[:, 0]
"""),
    "ex1 NumPy's solve": ("ex1", "hidden", """
import numpy as np
def ridge_by_eigendecomposition(H, theta_hat, lam):
    A = (H + lam * torch.eye(len(H))).numpy()
    return torch.from_numpy(np.linalg.solve(A, (H @ theta_hat).numpy()))
"""),
    "ex4 the closed form instead of the loop": ("ex4", "hidden", """
def gradient_descent_from_zero(H, theta_hat, lr, steps):
    sigma, Q = torch.linalg.eigh(H)
    return Q @ ((1 - (1 - lr * sigma) ** steps) * (Q.T @ theta_hat))
def early_stopping_filter(sigma, lr, steps):
    return 1 - (1 - lr * sigma) ** steps
"""),
    "ex4 a matrix power instead of the loop": ("ex4", "hidden", """
def gradient_descent_from_zero(H, theta_hat, lr, steps):
    M = torch.linalg.matrix_power(torch.eye(len(H)) - lr * H, steps)
    return theta_hat - M @ theta_hat
def early_stopping_filter(sigma, lr, steps):
    return 1 - (1 - lr * sigma) ** steps
"""),
    "ex6 the full matrix from its products, then eigh": ("ex6", "hidden", """
def power_iteration(matvec, dim, iterations, seed=0):
    A = torch.stack([matvec(e) for e in torch.eye(dim)], dim=1)
    values, vectors = torch.linalg.eigh(A)
    return float(values[-1]), vectors[:, -1]
""" + EX6_RUN),
    "ex6 the Jacobian of the product, then eigh": ("ex6", "hidden", """
def power_iteration(matvec, dim, iterations, seed=0):
    v = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
    A = torch.func.jacrev(matvec)(v)
    values, vectors = torch.linalg.eigh((A + A.T) / 2)
    return float(values[-1]), vectors[:, -1]
""" + EX6_RUN),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_plausible_mistake_is_caught_where_expected(solved_namespace, name):
    exercise, part, answer = MISTAKES[name]
    # An AssertionError: the tests reject the answer with their message, not by crashing on it.
    assert run_exercise(solved_namespace, exercise, answer) == (part, "AssertionError")


# --- Forbidden names (issue 12, item 11) -------------------------------------------------


def _forbidden_uses(exercise: str, answer: str) -> list[str]:
    from regopt.instructor import codecheck

    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.read(SOLUTION, as_version=4).cells
             if c.cell_type == "code" and "nbgrader" in c.metadata}
    forbidden = cells[f"{exercise}-tests"].metadata.get("regopt", {}).get("forbidden", [])
    reports = codecheck.analyze([("context", CELLS["imports"]), ("answer", answer)])
    return [use.name for use in codecheck.forbidden_uses(reports[1], forbidden)]


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_uses_nothing_forbidden(exercise):
    assert _forbidden_uses(exercise, CELLS[f"{exercise}-solution"]) == []


@pytest.mark.parametrize(("exercise", "answer"), [
    ("ex1", "def ridge_by_eigendecomposition(H, theta_hat, lam):\n"
            "    return torch.linalg.solve(H + lam * torch.eye(len(H)), H @ theta_hat)\n"),
    ("ex1", "def ridge_by_eigendecomposition(H, theta_hat, lam):\n"
            "    return torch.linalg.solve_ex(H + lam * torch.eye(len(H)), H @ theta_hat)[0]\n"),
    ("ex1", "def ridge_by_eigendecomposition(H, theta_hat, lam):\n"
            "    return torch.inverse(H + lam * torch.eye(len(H))) @ H @ theta_hat\n"),
    ("ex1", "from torch.linalg import lstsq\n\n\ndef ridge_by_eigendecomposition(H, theta_hat, lam):\n"
            "    return lstsq(H + lam * torch.eye(len(H)), (H @ theta_hat)[:, None]).solution[:, 0]\n"),
    ("ex1", "import numpy as np\n\n\ndef ridge_by_eigendecomposition(H, theta_hat, lam):\n"
            "    return torch.from_numpy(np.linalg.pinv((H + lam * torch.eye(len(H))).numpy())) @ H @ theta_hat\n"),
    ("ex3", "from regopt.penalties import soft_threshold\n\n\ndef lasso_diagonal(h, theta_hat, lam):\n"
            "    return soft_threshold(theta_hat * h, lam) / h\n"),
    ("ex6", "def power_iteration(matvec, dim, iterations, seed=0):\n"
            "    values, vectors = torch.lobpcg(torch.eye(dim), k=1)\n    return float(values[0]), vectors[:, 0]\n"),
])
def test_an_answer_calling_a_library_for_the_exercise_is_flagged(exercise, answer):
    assert _forbidden_uses(exercise, answer)
