"""Writes the deliberately broken Lab 1 submissions of tests/submissions/lab01/.

Run ``python tests/submissions/make_lab01.py`` after changing Lab 1's answers or
tests. Each submission starts from the student lab (``labs/01_penalties.ipynb``)
with the solution's answers filled in, then breaks one thing, the way students
(and their editors) do. ``lab01_expected.json`` records, for each file, the status the
grader must give and the points it must lose; tests/test_grading.py reads it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

from regopt.instructor import labs

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "lab01"
EXPECTED = Path(__file__).resolve().parent / "lab01_expected.json"
SOLUTION = ROOT / "solutions" / "01_penalties.ipynb"
LAB = ROOT / "labs" / "01_penalties.ipynb"


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solved_lab() -> nbformat.NotebookNode:
    """The student lab with every answer cell holding the solution's code (markers removed)."""
    return labs.solved_lab(SOLUTION)


def index_of(nb, wanted: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == wanted)


def added_cell(source: str) -> nbformat.NotebookNode:
    """A cell as Jupyter or Colab adds it: no nbgrader metadata."""
    cell = nbformat.v4.new_code_cell(source)
    return cell


def write_submission(path: Path, nb) -> None:
    """Write ``nb`` as a student's file: deterministic cell ids, unique as editors keep them."""
    seen: set[str] = set()
    for i, cell in enumerate(nb.cells):
        if not cell.metadata.get("nbgrader") or cell.get("id") in seen:
            cell["id"] = f"student-cell-{i}"
        seen.add(cell["id"])
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def write(name: str, nb) -> None:
    write_submission(OUT / name, nb)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    expected: dict[str, dict] = {}

    def record(name: str, status: str, lost: dict[str, float] | None = None, note: str = "",
               also: tuple[str, ...] = ()) -> None:
        expected[name] = {"status": status, "also": list(also), "lost": lost or {}, "note": note}

    write("solved.ipynb", solved_lab())
    record("solved.ipynb", "ok", note="the solution's answers in the student lab")

    write("unanswered.ipynb", nbformat.read(LAB, as_version=4))
    record("unanswered.ipynb", "not-attempted", lost="all", note="the lab as distributed")  # type: ignore[arg-type]

    # Metadata lost in a round trip through an editor, and cell ids renewed.
    nb = solved_lab()
    for i, cell in enumerate(nb.cells):
        cell.metadata = {}
        cell["id"] = f"fresh-{i}"
    write("stripped_metadata.ipynb", nb)
    record("stripped_metadata.ipynb", "ok", note="no nbgrader metadata at all (a note in the reason, not a problem)")

    # Metadata stripped AND the student added scratch cells and left a stub copy behind.
    nb = solved_lab()
    for cell in nb.cells:
        cell.metadata = {}
    ex2 = index_of(solved_lab(), "ex2-solution")
    stub = nbformat.read(LAB, as_version=4).cells[ex2]
    nb.cells.insert(ex2 + 1, added_cell("print('trying things out')"))
    nb.cells.insert(ex2 + 2, nbformat.v4.new_code_cell(stub.source))
    write("stripped_with_scratch.ipynb", nb)
    record("stripped_with_scratch.ipynb", "duplicate-cells",
           note="stripped metadata, a scratch cell and a leftover copy of the ex2 stub after the answer")

    # Cells duplicated in the editor (metadata duplicated with them).
    nb = solved_lab()
    ex1 = index_of(nb, "ex1-solution")
    nb.cells.insert(ex1, copy.deepcopy(nbformat.read(LAB, as_version=4).cells[ex1]))  # a stub copy before
    tests4 = index_of(nb, "ex4-tests")
    nb.cells.insert(tests4 + 1, copy.deepcopy(nb.cells[tests4]))
    write("duplicated_cells.ipynb", nb)
    record("duplicated_cells.ipynb", "duplicate-cells", note="a stub copy of ex1 and a second copy of ex4's tests")

    # A wrong answer to ex3 whose test cell was edited to pass, and ex4's tests deleted.
    nb = solved_lab()
    nb.cells[index_of(nb, "ex3-solution")].source = (
        "def proximal_l1_step_(parameters, threshold):\n"
        "    with torch.no_grad():\n"
        "        for w in parameters:\n"
        "            w -= threshold * torch.sign(w)  # the subgradient step, which crosses zero\n")
    nb.cells[index_of(nb, "ex3-tests")].source = "# I removed the checks that failed\nprint('Exercise 3: the visible checks pass.')"
    del nb.cells[index_of(nb, "ex4-tests")]
    write("edited_tests.ipynb", nb)
    record("edited_tests.ipynb", "passes-visible-only", also=("tests-restored",), lost={"ex3-tests": 2, "ex6-tests": 3},
           note="ex3 wrong with its test edited to pass; ex4's test cell deleted; ex6 reuses the wrong ex3")

    # The same without metadata: a wrong ex1 whose test cell lost its asserts.
    nb = solved_lab()
    nb.cells[index_of(nb, "ex1-solution")].source = (
        "def l2_penalty_without_biases(model):\n"
        "    return sum(p.pow(2).sum() for p in model.parameters())  # biases included: wrong\n")
    tests1 = nb.cells[index_of(nb, "ex1-tests")]
    tests1.source = "\n".join(line for line in tests1.source.split("\n") if "assert" not in line)
    for cell in nb.cells:
        cell.metadata = {}
    write("stripped_edited_test.ipynb", nb)
    record("stripped_edited_test.ipynb", "tests-restored", lost={"ex1-tests": 2},
           note="no metadata; ex1 wrong and its test cell stripped of its asserts")

    # An answer cell deleted (its stub is used; exercise 5 needs it too).
    nb = solved_lab()
    del nb.cells[index_of(nb, "ex4-solution")]
    write("deleted_answer.ipynb", nb)
    record("deleted_answer.ipynb", "missing-answer", lost={"ex4-tests": 2, "ex5-tests": 3},
           note="the answer cell of ex4 deleted; ex5 builds on it")

    # Answers hard-coded to the visible examples.
    nb = solved_lab()
    nb.cells[index_of(nb, "ex1-solution")].source = (
        "def l2_penalty_without_biases(model):\n"
        "    # the visible test's network gives 5.125\n"
        "    return 5.125 + 0 * sum(p.sum() for p in model.parameters())\n")
    nb.cells[index_of(nb, "ex3-solution")].source = (
        "def proximal_l1_step_(parameters, threshold):\n"
        "    with torch.no_grad():\n"
        "        for w in parameters:\n"
        "            if w.numel() == 5:\n"
        "                w.copy_(torch.tensor([-0.2, 0.0, 0.0, 0.0, 0.4]))\n")
    write("hardcoded.ipynb", nb)
    record("hardcoded.ipynb", "passes-visible-only", lost={"ex1-tests": 2, "ex3-tests": 2, "ex6-tests": 3},
           note="ex1 and ex3 hard-coded to the visible examples (ex6 reuses ex3)")

    # A correct answer that writes warnings to stderr.
    nb = solved_lab()
    cell = nb.cells[index_of(nb, "ex1-solution")]
    cell.source = ("import sys\nimport warnings\n\n"
                   "warnings.warn('a warning from my answer cell')\n"
                   "print('a message on stderr', file=sys.stderr)\n\n" + cell.source)
    write("stderr_warnings.ipynb", nb)
    record("stderr_warnings.ipynb", "ok", note="warnings and stderr output cost nothing")

    nb = solved_lab()
    nb.cells.insert(index_of(nb, "ex2-tests") + 1, added_cell("import sys\nsys.exit('done for today')"))
    write("sys_exit.ipynb", nb)
    record("sys_exit.ipynb", "sys-exit", note="sys.exit() in an added cell; grading carries on")

    nb = solved_lab()
    nb.cells.insert(index_of(nb, "ex4-tests") + 1, added_cell("import os\nos._exit(1)"))
    write("kernel_dies.ipynb", nb)
    record("kernel_dies.ipynb", "kernel-died", lost={"ex5-tests": 3},
           note="os._exit(1) after exercise 4 kills the kernel during exercise 5; a new kernel grades exercise 6")

    nb = solved_lab()
    nb.cells.insert(index_of(nb, "ex1-tests") + 1, added_cell("while True:\n    pass"))
    write("infinite_loop.ipynb", nb)
    record("infinite_loop.ipynb", "cell-timeout", note="an infinite loop in an added cell is interrupted")

    nb = solved_lab()
    nb.cells.insert(index_of(nb, "ex1-tests") + 1,
                    added_cell("for i in range(100_000):\n    print(i, 'all work and no play ' * 3)"))
    write("huge_output.ipynb", nb)
    record("huge_output.ipynb", "huge-output", note="about 7 MB printed, 7 times the default limit")

    (OUT / "truncated.ipynb").write_text(nbformat.writes(solved_lab())[:5000], encoding="utf-8")
    record("truncated.ipynb", "invalid-json", lost="all", note="a download cut short")  # type: ignore[arg-type]

    (OUT / "empty.ipynb").write_bytes(b"")
    record("empty.ipynb", "empty-file", lost="all")  # type: ignore[arg-type]

    (OUT / "notes.txt").write_text("I could not finish the lab, sorry.\n", encoding="utf-8")
    record("notes.txt", "not-a-notebook", lost="all", note="a text file")  # type: ignore[arg-type]

    (OUT / "settings.ipynb").write_text(json.dumps({"theme": "dark"}) + "\n", encoding="utf-8")
    record("settings.ipynb", "not-a-notebook", lost="all", note="JSON, but not a notebook")  # type: ignore[arg-type]

    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# My project"),
                                            nbformat.v4.new_code_cell("print('hello')")])
    other.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    write("other_notebook.ipynb", other)
    record("other_notebook.ipynb", "wrong-notebook", lost="all", note="a notebook of something else")  # type: ignore[arg-type]

    EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(expected)} submissions to {OUT}")


if __name__ == "__main__":
    main()
