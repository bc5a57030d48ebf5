"""Forbidden names: an answer that calls the implementation it was asked to write scores 0 there.

The small lab of ``tests/minilab.py`` (two exercises, no torch: its kernels start in a second)
forbids ``math.sqrt`` and ``operator.pow`` in exercise 1. Each hostile submission hides
the forbidden call in another way; all are graded end to end in one ``grade_folder`` run.
Dynamic access the static reading cannot follow is graded and marked for review.
"""

from __future__ import annotations

import minilab
import nbformat
import pytest
from minilab import mini_solution, write_solution

from regopt.instructor import feedback, grading, labs

#: name -> (replacement of exercise 1's answer, cells added before it, expected status, ex1 points)
HOSTILE = {
    "honest": ("def root(x):\n    return x ** 0.5", [], "ok", 2),
    "direct": ("def root(x):\n    return math.sqrt(x)", [], "forbidden-name", 0),
    "import_as": ("import math as m\n\ndef root(x):\n    return m.sqrt(x)", [], "forbidden-name", 0),
    "from_import_as": ("from math import sqrt as s\n\ndef root(x):\n    return s(x)", [], "forbidden-name", 0),
    "module_alias": ("lib = math\n\ndef root(x):\n    return lib.sqrt(x)", [], "forbidden-name", 0),
    "operator_chain": ("import operator\nroot = lambda x: operator.pow(x, 0.5)", [], "forbidden-name", 0),
    "rebound_earlier": ("def root(x):\n    return r(x)", ["r = math.sqrt"], "forbidden-name", 0),
    "helper_earlier": ("def root(x):\n    return helper(x)", ["def helper(v):\n    return math.sqrt(v)"],
                       "forbidden-name", 0),
    "partial": ("import functools\nroot = functools.partial(math.sqrt)", [], "forbidden-name", 0),
    "star_import": ("from math import *\n\ndef root(x):\n    return sqrt(x)", [], "forbidden-name", 0),
    "getattr": ("def root(x):\n    return getattr(math, 'sq' + 'rt')(x)", [], "needs-review", 2),
    "dunder_import": ("def root(x):\n    return __import__('math').sqrt(x)", [], "needs-review", 2),
    "eval": ("def root(x):\n    return eval('math.' + 'sqrt')(x)", [], "needs-review", 2),
    "importlib": ("import importlib\nroot = importlib.import_module('math').sqrt", [], "needs-review", 2),
    # A local name that shadows the module is not the module.
    "shadowed": ("def root(x, math=None):\n    return x ** 0.5", [], "ok", 2),
}


def submission(solved: nbformat.NotebookNode, answer: str, added: list[str]) -> nbformat.NotebookNode:
    return minilab.submission(solved, {"ex1-solution": answer}, {"ex1-solution": added})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forbidden")
    solution, solved = write_solution(folder)
    submissions = folder / "submissions"
    submissions.mkdir()
    for name, (answer, added, _, _) in HOSTILE.items():
        nbformat.write(submission(solved, answer, added), submissions / f"{name}.ipynb")
    # Exercise 2 may use math.sqrt: the list belongs to exercise 1's test cell only.
    free = minilab.submission(solved, {"ex2-solution": "def cube(x):\n    return math.sqrt(x * x) ** 3 * (1 if x > 0 else -1)"})
    nbformat.write(free, submissions / "sqrt_in_exercise_2.ipynb")
    results = grading.grade_folder(solution, submissions, jobs=2, cell_timeout=30, timeout=120)
    by_name = {r.student: r for r in results}
    by_name["__solution__"] = solution
    return by_name


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_forbidden_call_scores_zero_however_it_is_spelled(graded, name):
    _, _, status, points = HOSTILE[name]
    result = graded[name]
    scored = {o.grade_id: o.points for o in result.outcomes}
    assert result.status == status, result.reason
    assert scored == {"ex1-tests": points, "ex2-tests": 1}, result.reason


def test_the_feedback_names_the_forbidden_use_and_why(graded):
    result = graded["from_import_as"]
    [ex1] = [o for o in result.outcomes if o.grade_id == "ex1-tests"]
    assert ex1.visible == "passed" and ex1.points == 0, "the code works; the rule costs the points"
    assert any("math.sqrt" in e and "write it yourself" in e for e in ex1.errors), ex1.errors
    page = feedback.feedback_html(result, grading.load_solution(graded["__solution__"]))
    assert "math.sqrt" in page and "write it yourself" in page


def test_dynamic_access_is_marked_for_review_with_its_reason(graded):
    for name in ("getattr", "dunder_import", "eval", "importlib"):
        assert "needs-review: " in graded[name].reason and "line " in graded[name].reason, graded[name].reason


def test_the_list_applies_to_its_own_exercise_only(graded):
    result = graded["sqrt_in_exercise_2"]
    assert (result.status, result.total) == ("ok", 3.0), result.reason


@pytest.mark.parametrize("value", ["math.sqrt", ["math..sqrt"], [1], ["math sqrt"]])
def test_malformed_forbidden_metadata_is_the_instructors_error(tmp_path, value):
    nb = mini_solution()
    nb.cells[4].metadata["regopt"] = {"forbidden": value}
    path = tmp_path / "98_roots.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(labs.LabError, match="expected a list of dotted names"):
        labs.read_solution(path)


def test_forbidden_metadata_belongs_on_a_test_cell(tmp_path):
    nb = mini_solution()
    nb.cells[3].metadata["regopt"] = {"forbidden": ["math.sqrt"]}
    path = tmp_path / "98_roots.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(labs.LabError, match="is not a test cell"):
        labs.read_solution(path)
