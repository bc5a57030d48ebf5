
"""Lab 8's tests catch the mistakes students make, and accept the solution.

As in tests/test_lab02.py: each case replaces one answer of ``solutions/08_no_free_lunch.ipynb`` by a
plausible mistake and runs that exercise's test cell in-process, split into its visible and hidden
parts; the case states which part must reject it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
from labexec import assert_skipped_exercise_fails, run_answer_and_tests, split_test

from regopt.instructor import codecheck

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "08_no_free_lunch.ipynb"
NOTEBOOK = nbformat.read(SOLUTION, as_version=4)
CELLS = {c.metadata["nbgrader"]["grade_id"]: c.source for c in NOTEBOOK.cells
         if c.cell_type == "code" and "nbgrader" in c.metadata}
METADATA = {c.metadata["nbgrader"]["grade_id"]: c.metadata for c in NOTEBOOK.cells if "nbgrader" in c.metadata}
EXERCISES = ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]


@pytest.fixture(scope="module", autouse=True)
def lab_default_dtype():
    """The lab sets float64 as torch's default dtype; restore it for the other modules."""
    previous = torch.get_default_dtype()
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="module")
def solved_namespace() -> dict:
    namespace: dict = {"__name__": "__lab08__"}
    order = ["imports"] + [f"{ex}-{part}" for ex in EXERCISES for part in ("solution", "tests")]
    order.insert(order.index("ex3-solution"), "ex3-given")
    for grade_id in order:
        exec(compile(CELLS[grade_id], grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
    return namespace


def run_exercise(namespace: dict, exercise: str, answer: str) -> tuple[str, str] | None:
    """Run `answer` then the exercise's tests; return (failed part, error type), or None."""
    scope = dict(namespace)
    return run_answer_and_tests(scope, exercise, answer, CELLS[f"{exercise}-tests"])


def test_every_test_cell_has_visible_and_hidden_parts():
    for exercise in EXERCISES:
        visible, hidden = split_test(CELLS[f"{exercise}-tests"])
        assert "assert" in visible and "assert" in hidden, exercise


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_every_test(solved_namespace, exercise):
    assert run_exercise(solved_namespace, exercise, CELLS[f"{exercise}-solution"]) is None


EX2_RUN = """
nfl_averages = {f.__name__: average_off_training_accuracy(f, [0, 3, 5])
                for f in (nearest_neighbour, majority, constant, parity_fit)}
"""
EX5_RUN = """
tent_pieces = {d: count_pieces(grid[:, 0].numpy(), tent_network(d)(grid)[:, 0].detach().numpy()) for d in range(1, 9)}
wide_pieces = {d: count_pieces(wide_grid[:, 0].numpy(), tent_network(d)(wide_grid)[:, 0].detach().numpy())
               for d in range(1, 9)}
"""
EX6_SHALLOW = CELLS["ex6-solution"].split("shallow_units_needed, deep_units")[0]

MISTAKES = {
    "ex1 last nearest neighbour on ties": ("ex1", "hidden", """
def nearest_neighbour(train_index, train_labels):
    train_labels = np.asarray(train_labels)
    distances = np.abs(INPUTS[:, None, :] - INPUTS[None, train_index, :]).sum(-1)
    return train_labels[len(train_index) - 1 - distances[:, ::-1].argmin(1)]
"""),
    "ex1 farthest instead of nearest": ("ex1", "visible", """
def nearest_neighbour(train_index, train_labels):
    train_labels = np.asarray(train_labels)
    distances = np.abs(INPUTS[:, None, :] - INPUTS[None, train_index, :]).sum(-1)
    return train_labels[distances.argmax(1)]
"""),
    "ex2 the theorem's value instead of the average": ("ex2", "hidden", """
def average_off_training_accuracy(learner, train_index):
    for target in TARGETS:
        learner(list(train_index), target[train_index])
    return Fraction(1, 2)
""" + EX2_RUN),
    "ex2 divides by the 8 inputs instead of the unseen ones": ("ex2", "visible", """
def average_off_training_accuracy(learner, train_index):
    unseen = [i for i in range(8) if i not in train_index]
    total = Fraction(0)
    for t in TARGETS:
        total += Fraction(int(np.sum(np.asarray(learner(train_index, t[train_index]))[unseen] == t[unseen])), 8)
    return total / len(TARGETS)
""" + EX2_RUN),
    "ex2 float average": ("ex2", "visible", """
def average_off_training_accuracy(learner, train_index):
    unseen = [i for i in range(8) if i not in train_index]
    return float(np.mean([np.mean(np.asarray(learner(train_index, t[train_index]))[unseen] == t[unseen])
                          for t in TARGETS]))
""" + EX2_RUN),
    "ex2 accuracy over all inputs, training set included": ("ex2", "visible", """
def average_off_training_accuracy(learner, train_index):
    total = Fraction(0)
    for t in TARGETS:
        total += Fraction(int(np.sum(np.asarray(learner(train_index, t[train_index])) == t)), 8)
    return total / len(TARGETS)
""" + EX2_RUN),
    "ex3 a fixed step that jumps over small regions": ("ex3", "visible", """
def region_sign_vectors(normals, offsets):
    found = set()
    for i, j in itertools.combinations(range(len(normals)), 2):
        A, b = normals[[i, j]], offsets[[i, j]]
        vertex = np.linalg.solve(A, -b)
        for signs in itertools.product([-1.0, 1.0], repeat=2):
            step = np.linalg.solve(A, np.array(signs))
            found.add(tuple(normals @ (vertex + 0.01 * step / np.linalg.norm(step)) + offsets > 0))
    return found
regions_12 = len(region_sign_vectors(lines_normals, lines_offsets))
"""),
    "ex3 four sign vectors per vertex, no deduplication": ("ex3", "visible", """
def region_sign_vectors(normals, offsets):
    found = []
    for i, j in itertools.combinations(range(len(normals)), 2):
        A, b = normals[[i, j]], offsets[[i, j]]
        vertex = np.linalg.solve(A, -b)
        for signs in itertools.product([-1.0, 1.0], repeat=2):
            step = np.linalg.solve(A, np.array(signs))
            found.append(tuple(normals @ (vertex + 1e-6 * step) + offsets > 0))
    return found
regions_12 = len(region_sign_vectors(lines_normals, lines_offsets))
"""),
    "ex3 the closed form instead of the enumeration": ("ex3", "visible", """
def region_sign_vectors(normals, offsets):
    n = len(normals)
    return 1 + n + math.comb(n, 2)
regions_12 = region_sign_vectors(lines_normals, lines_offsets)
"""),
    "ex3 a set of the formula's size": ("ex3", "visible", """
def region_sign_vectors(normals, offsets):
    n = len(normals)
    return set(range(1 + n + math.comb(n, 2)))
regions_12 = 1 + 12 + math.comb(12, 2)
"""),
    "ex3 a fixed tiny step instead of one below the distance to the other lines": ("ex3", "hidden", """
def region_sign_vectors(normals, offsets):
    found = set()
    for i, j in itertools.combinations(range(len(normals)), 2):
        A, b = normals[[i, j]], offsets[[i, j]]
        vertex = np.linalg.solve(A, -b)
        for signs in itertools.product([-1.0, 1.0], repeat=2):
            step = np.linalg.solve(A, np.array(signs))
            found.add(tuple(normals @ (vertex + 1e-7 * step / np.linalg.norm(step)) + offsets > 0))
    return found
regions_12 = len(region_sign_vectors(lines_normals, lines_offsets))
"""),
    "ex5 differences of the values instead of slopes": ("ex5", "hidden", """
def count_pieces(xs, ys):
    steps = np.diff(np.asarray(ys, float))
    scale = np.abs(steps).max()
    return 1 + sum(not math.isclose(s, t, rel_tol=1e-9, abs_tol=1e-9 * scale) for s, t in zip(steps, steps[1:]))
""" + EX5_RUN),
    "ex4 output layer computes half the tent": ("ex4", "visible", """
def tent_network(depth):
    layers = []
    for layer in range(depth):
        linear = nn.Linear(1 if layer == 0 else 2, 2)
        with torch.no_grad():
            linear.weight[:] = torch.tensor([[1.0], [1.0]]) if layer == 0 else torch.tensor([[2.0, -4.0], [2.0, -4.0]])
            linear.bias[:] = torch.tensor([0.0, -0.5])
        layers += [linear, nn.ReLU()]
    output = nn.Linear(2, 1)
    with torch.no_grad():
        output.weight[:] = torch.tensor([[1.0, -2.0]])
        output.bias.zero_()
    return nn.Sequential(*layers, output)
"""),
    "ex5 exact slope comparison": ("ex5", "hidden", """
def count_pieces(xs, ys):
    slopes = np.diff(np.asarray(ys, float)) / np.diff(np.asarray(xs, float))
    return 1 + int(np.sum(slopes[1:] != slopes[:-1]))
""" + EX5_RUN),
    "ex5 a fixed absolute tolerance": ("ex5", "hidden", """
def count_pieces(xs, ys):
    slopes = np.diff(np.asarray(ys, float)) / np.diff(np.asarray(xs, float))
    return 1 + int(np.sum(np.abs(slopes[1:] - slopes[:-1]) > 1e-2))
""" + EX5_RUN),
    "ex6 first unit's slope change doubled": ("ex6", "visible", """
def shallow_sawtooth(depth):
    n = 2**depth
    shallow = nn.Sequential(nn.Linear(1, n), nn.ReLU(), nn.Linear(n, 1))
    with torch.no_grad():
        shallow[0].weight[:] = 1.0
        shallow[0].bias[:] = -torch.arange(n) / n
        shallow[2].weight[:] = (2.0 * n * (-1.0) ** torch.arange(n))[None, :]
        shallow[2].bias.zero_()
    return shallow
shallow_units_needed = {d: tent_pieces[d] - 1 for d in range(1, 9)}
deep_units = {d: 2 * d for d in range(1, 9)}
"""),
    "ex6 the piece-counting bound 2^L - 1": ("ex6", "hidden", EX6_SHALLOW + """
shallow_units_needed = {d: tent_pieces[d] - 1 for d in range(1, 9)}
deep_units = {d: 2 * d for d in range(1, 9)}
"""),
    "ex6 one unit too many": ("ex6", "hidden", EX6_SHALLOW + """
shallow_units_needed = {d: 2**d + 1 for d in range(1, 9)}
deep_units = {d: 2 * d for d in range(1, 9)}
"""),
    "ex6 deep units counted as layers": ("ex6", "visible", EX6_SHALLOW + """
shallow_units_needed = {d: 2**d for d in range(1, 9)}
deep_units = {d: d for d in range(1, 9)}
"""),
    "ex5 the chapter's 2^L on both intervals": ("ex5", "visible", """
def count_pieces(xs, ys):
    slopes = np.diff(np.asarray(ys, float)) / np.diff(np.asarray(xs, float))
    scale = np.abs(slopes).max()
    return 1 + sum(not math.isclose(s, t, rel_tol=1e-9, abs_tol=1e-9 * scale) for s, t in zip(slopes, slopes[1:]))
tent_pieces = {d: 2**d for d in range(1, 9)}
wide_pieces = {d: 2**d for d in range(1, 9)}
"""),
    "ex5 the wide count by a formula that forgets the flat right end": ("ex5", "hidden", """
def count_pieces(xs, ys):
    slopes = np.diff(np.asarray(ys, float)) / np.diff(np.asarray(xs, float))
    scale = np.abs(slopes).max()
    return 1 + sum(not math.isclose(s, t, rel_tol=1e-9, abs_tol=1e-9 * scale) for s, t in zip(slopes, slopes[1:]))
tent_pieces = {d: 2**d for d in range(1, 9)}
wide_pieces = {d: 2**d + 1 for d in range(1, 9)}
"""),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_plausible_mistake_is_caught_where_expected(solved_namespace, name):
    exercise, part, answer = MISTAKES[name]
    assert run_exercise(solved_namespace, exercise, answer) == (part, "AssertionError")


@pytest.mark.parametrize(("exercise", "answer"), [
    ("ex1", "from sklearn.neighbors import KNeighborsClassifier\n\n\n"
            "def nearest_neighbour(train_index, train_labels):\n"
            "    knn = KNeighborsClassifier(1).fit(INPUTS[train_index], train_labels)\n"
            "    return knn.predict(INPUTS)\n"),
    ("ex3", "import scipy.spatial\n\n\ndef region_sign_vectors(normals, offsets):\n"
            "    return scipy.spatial.HalfspaceIntersection\n"),
])
def test_a_library_call_that_does_the_exercise_is_flagged(exercise, answer):
    forbidden = METADATA[f"{exercise}-tests"]["regopt"]["forbidden"]
    reports = codecheck.analyze([("context", CELLS["imports"]), ("answer", answer)])
    assert codecheck.forbidden_uses(reports[1], forbidden), f"{exercise}: the library call was not flagged"


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_uses_nothing_forbidden(exercise):
    forbidden = METADATA[f"{exercise}-tests"].get("regopt", {}).get("forbidden", [])
    reports = codecheck.analyze([("context", CELLS["imports"]), ("answer", CELLS[f"{exercise}-solution"])])
    assert not codecheck.forbidden_uses(reports[1], forbidden)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_a_skipped_exercise_earns_nothing(solved_namespace, exercise):
    """The generated lab's stub, left as it is, fails the exercise's tests."""
    assert_skipped_exercise_fails(solved_namespace, exercise, CELLS, SOLUTION)
