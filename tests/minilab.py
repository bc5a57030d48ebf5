"""A small lab for grading tests: two exercises, no torch, so that each kernel starts in a second.

Exercise 1 asks for ``root(x)`` without ``math.sqrt`` (its test cell forbids ``math.sqrt``
and ``operator.pow``); exercise 2 asks for ``cube(x)`` and is checked with ``check``, a
helper of the lab's set-up cell, and ``math.isclose``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from regopt.instructor import course, labs

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ["math.sqrt", "operator.pow"]
HIDDEN_LINE = "assert math.isclose(root(2.0) ** 2, 2.0, rel_tol=1e-9)"


def _cell(source: str, grade_id: str, *, grade=False, solution=False, points=None, forbidden=None):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "grade_id": grade_id, "locked": not solution,
                                 "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        cell.metadata["nbgrader"]["points"] = points
    if forbidden is not None:
        cell.metadata["regopt"] = {"forbidden": forbidden}
    return cell


def mini_solution() -> nbformat.NotebookNode:
    md = nbformat.v4.new_markdown_cell
    cells = [
        md("# Lab 98: Square roots by hand"),
        _cell("import math\nimport operator\n\n\ndef check(value, expected):\n"
              "    assert math.isclose(value, expected), f'{value} != {expected}'", "setup"),
        md("## Exercise 1\nWrite `root(x)`, the square root of `x >= 0`, without `math.sqrt`."),
        _cell("def root(x):\n    ### BEGIN SOLUTION\n    return x ** 0.5\n    ### END SOLUTION",
              "ex1-solution", solution=True),
        _cell("assert abs(root(4.0) - 2.0) < 1e-12\n### BEGIN HIDDEN TESTS\n" + HIDDEN_LINE +
              "\n### END HIDDEN TESTS", "ex1-tests", grade=True, points=2, forbidden=FORBIDDEN),
        md("## Exercise 2\nWrite `cube(x)`; here anything goes."),
        _cell("def cube(x):\n    ### BEGIN SOLUTION\n    return x * x * x\n    ### END SOLUTION",
              "ex2-solution", solution=True),
        _cell("check(cube(2), 8)\ncheck(cube(-1.5), -3.375)", "ex2-tests", grade=True, points=1),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def three_exercises() -> nbformat.NotebookNode:
    """The small lab with a third exercise, ``square(x)`` (1 point), after the second."""
    nb = mini_solution()
    nb.cells += [
        nbformat.v4.new_markdown_cell("## Exercise 3\nWrite `square(x)`."),
        _cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
              "ex3-solution", solution=True),
        _cell("check(square(3), 9)\n### BEGIN HIDDEN TESTS\ncheck(square(-2.5), 6.25)\n### END HIDDEN TESTS",
              "ex3-tests", grade=True, points=1),
    ]
    return nb


def write_solution(folder: Path, nb: nbformat.NotebookNode | None = None) -> tuple[Path, nbformat.NotebookNode]:
    """The solution (with its Colab set-up cell, as every solution has) and the solved student lab."""
    solution = folder / "98_roots.ipynb"
    nbformat.write(nb if nb is not None else mini_solution(), solution)
    info = course.course_info(ROOT)
    course.sync_notebook(solution, kind="lab", info=info)
    return solution, labs.solved_lab(solution, info)


def submission(solved: nbformat.NotebookNode, answers: dict[str, str],
               added: dict[str, list[str]] | None = None) -> nbformat.NotebookNode:
    """``solved`` with some answers replaced and cells added before the named answers."""
    nb = nbformat.from_dict(nbformat.reads(nbformat.writes(solved), as_version=4))
    for grade_id, source in answers.items():
        position = next(i for i, c in enumerate(nb.cells)
                        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        nb.cells[position].source = source
    for grade_id, sources in (added or {}).items():
        position = next(i for i, c in enumerate(nb.cells)
                        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        for offset, source in enumerate(sources):
            nb.cells.insert(position + offset, nbformat.v4.new_code_cell(source))
    return nb
