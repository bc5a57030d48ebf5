"""Student labs generated from their solution notebooks, with nbgrader's preprocessors.

``solutions/NN_topic.ipynb`` is the single source of a lab: the worked solution,
the visible self-check tests and the hidden grading tests, marked with
nbgrader's conventions (see :data:`SOLUTION_BEGIN` and friends, and the cell
metadata described in the instructors' page of the book). :func:`generate_lab`
turns it into the student version ``labs/NN_topic.ipynb`` by running, as a
library and without an nbgrader course directory, the preprocessors that
``nbgrader generate_assignment`` runs:

1. ``LockCells``: test cells and read-only cells cannot be deleted or edited;
2. ``ClearSolutions``: ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` becomes
   ``raise NotImplementedError()``;
3. ``ClearOutput``;
4. ``CheckCellMetadata``: grade ids are present and unique, test cells have points;
5. ``ClearHiddenTests``: ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``
   is removed;
6. ``ComputeChecksums`` (nbgrader's record of the cells as distributed).

Before that, the Colab set-up cell is refreshed by
:func:`regopt.instructor.course.sync_notebook`; after, an "Open in Colab" badge pointing at
the lab itself (:func:`regopt.instructor.course.colab_badge_markdown`) goes right after the
title. The repository URL and git ref come from ``_config.yml`` only.

The student lab keeps the nbgrader metadata (grade ids, points), which helps
grading match cells, but :mod:`regopt.instructor.grading` never depends on it.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import course

__all__ = [
    "LabError",
    "SOLUTION_BEGIN",
    "SOLUTION_END",
    "HIDDEN_BEGIN",
    "HIDDEN_END",
    "CODE_STUB",
    "BADGE_GRADE_ID",
    "solution_paths",
    "read_solution",
    "check_solution",
    "generate_lab",
    "solved_lab",
    "write_notebook",
    "generate_labs",
    "stale_labs",
]

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
#: What replaces a solution region in the student lab (nbgrader's default stub).
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
BADGE_GRADE_ID = "colab-badge"
_LAB_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")


class LabError(ValueError):
    """A mistake in a solution notebook (the instructor's to fix), naming the file and cell."""


def solution_paths(root: str | Path | None = None) -> list[Path]:
    """Every ``solutions/NN_topic.ipynb`` of the course repository, in order."""
    root = course.find_root(root)
    return sorted((root / "solutions").glob("*.ipynb"))


def _nbgrader(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _describe(cell: NotebookNode, index: int) -> str:
    grade_id = _nbgrader(cell).get("grade_id")
    return f"cell {index} ({grade_id!r})" if grade_id else f"cell {index}"


def _check_markers(path: Path, cell: NotebookNode, index: int, begin: str, end: str) -> int:
    """Number of well-formed ``begin``/``end`` regions in ``cell``; LabError if unbalanced."""
    inside, regions = False, 0
    for line in cell.source.splitlines():
        if begin in line:
            if inside:
                raise LabError(f"{path}: {_describe(cell, index)} opens {begin!r} twice without {end!r}.")
            inside, regions = True, regions + 1
        elif end in line:
            if not inside:
                raise LabError(f"{path}: {_describe(cell, index)} has {end!r} without a preceding {begin!r}.")
            inside = False
    if inside:
        raise LabError(f"{path}: {_describe(cell, index)} opens {begin!r} but never closes it with {end!r}.")
    return regions


def check_solution(nb: NotebookNode, path: str | Path = "<solution>") -> None:
    """Raise :class:`LabError` unless ``nb`` is a well-formed solution notebook.

    Checked: a Python kernel; a first markdown cell ``# Lab N: Title``; nbgrader
    metadata that nbgrader itself accepts (unique grade ids, points on test
    cells); at least one test cell with positive points; every answer cell
    (``solution: true``) is code holding a solution region, and solution regions
    are only there; hidden-test regions only in test cells (``grade: true``);
    every region closed; no cell both answer and test (the grader keeps tests and
    answers apart).
    """
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError

    path = Path(path)
    language = nb.metadata.get("kernelspec", {}).get("language", "python")
    if language != "python":
        raise LabError(f"{path}: kernelspec language is {language!r}; expected 'python'.")
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not nb.cells[0].source.lstrip().startswith("# "):
        raise LabError(f"{path}: the first cell must be the markdown title '# Lab N: Title'.")
    try:
        MetadataValidator().validate_nb(nb)
    except ValidationError as error:
        raise LabError(f"{path}: invalid nbgrader metadata: {error}") from None
    points = 0.0
    answers = 0
    for index, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        is_grade, is_solution = bool(meta.get("grade")), bool(meta.get("solution"))
        solution_regions = _check_markers(path, cell, index, SOLUTION_BEGIN, SOLUTION_END)
        hidden_regions = _check_markers(path, cell, index, HIDDEN_BEGIN, HIDDEN_END)
        extra = cell.get("metadata", {}).get("regopt") or {}
        if "forbidden" in extra:
            if not is_grade:
                raise LabError(f"{path}: {_describe(cell, index)} carries regopt.forbidden but is not a test "
                               "cell (grade: true); put it on the test cell that grades the answers.")
            from .codecheck import check_forbidden_list

            try:
                check_forbidden_list(extra["forbidden"])
            except ValueError as error:
                raise LabError(f"{path}: {_describe(cell, index)}: {error}") from None
        if is_grade and is_solution and cell.cell_type == "markdown":
            # A written answer (nbgrader's manually graded answer cell): points, a model answer in a
            # solution region, and optionally regopt.rubric; graded by a person, see grading.written.
            value = meta.get("points")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise LabError(f"{path}: written answer {meta.get('grade_id')!r} has points={value!r}; "
                               "expected a positive number.")
            if not solution_regions:
                raise LabError(f"{path}: written answer {meta.get('grade_id')!r} has no {SOLUTION_BEGIN!r} ... "
                               f"{SOLUTION_END!r} region holding the model answer.")
            if not isinstance(extra.get("rubric", ""), str):
                raise LabError(f"{path}: written answer {meta.get('grade_id')!r}: regopt.rubric must be text.")
            continue
        if is_grade and is_solution:
            raise LabError(
                f"{path}: {_describe(cell, index)} is both an answer cell (solution: true) and a test cell "
                "(grade: true); put the answer and its tests in two cells."
            )
        if solution_regions and not is_solution:
            raise LabError(
                f"{path}: {_describe(cell, index)} contains {SOLUTION_BEGIN!r} but is not an answer cell; set "
                "its nbgrader metadata to solution: true."
            )
        if hidden_regions and not is_grade:
            raise LabError(
                f"{path}: {_describe(cell, index)} contains {HIDDEN_BEGIN!r} but is not a test cell; set its "
                "nbgrader metadata to grade: true with points."
            )
        if is_solution:
            if not solution_regions:
                raise LabError(
                    f"{path}: the answer cell {meta.get('grade_id')!r} has no {SOLUTION_BEGIN!r} ... "
                    f"{SOLUTION_END!r} region; is this the student's lab instead of the solution?"
                )
            if cell.cell_type != "code":
                raise LabError(
                    f"{path}: {_describe(cell, index)} is a markdown answer cell without grade: true; a written "
                    "answer is a markdown cell with solution: true, grade: true and its points (graded by hand)."
                )
            answers += 1
        if is_grade:
            if cell.cell_type != "code":
                raise LabError(f"{path}: {_describe(cell, index)} is a markdown test cell; tests must be code.")
            value = meta.get("points")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise LabError(
                    f"{path}: test cell {meta.get('grade_id')!r} has points={value!r}; expected a positive number."
                )
            points += value
    if points == 0:
        raise LabError(
            f"{path}: no test cell (nbgrader grade: true with points) was found; is this a solution notebook?"
        )
    if answers == 0:
        raise LabError(
            f"{path}: no answer cell (nbgrader solution: true) was found; is this the student's lab instead of "
            "the solution?"
        )


def read_solution(path: str | Path) -> NotebookNode:
    """Read and check a solution notebook; :class:`LabError` names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"Solution notebook {str(path)!r} does not exist (or is not a file).")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises several types for a corrupt file
        raise LabError(f"{path} is not a readable Jupyter notebook: {error}") from None
    check_solution(nb, path)
    return nb


def _badge_cell(lab_relpath: str, info: course.CourseInfo) -> NotebookNode:
    cell = nbformat.v4.new_markdown_cell(course.colab_badge_markdown(lab_relpath, info))
    cell["id"] = BADGE_GRADE_ID
    cell.metadata["tags"] = [course.BADGE_TAG]
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": BADGE_GRADE_ID, "locked": True,
                                 "schema_version": 3, "solution": False, "task": False}
    return cell


def generate_lab(solution: str | Path, info: course.CourseInfo | None = None) -> NotebookNode:
    """The student version of a solution notebook, in memory, header included.

    The header is the solution's title and learning goals, plus the "Open in Colab"
    badge of ``labs/<name>`` and the Colab set-up cell as :mod:`regopt.instructor.course` defines
    them today (from ``_config.yml``).
    """
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    solution = Path(solution)
    nb = read_solution(solution)
    info = info or course.course_info(solution.parent)
    # The set-up cell is defined by regopt.instructor.course alone: refresh it on a scratch copy (the
    # solution file itself is left as it is), before the cells are locked and checksummed.
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / solution.name
        write_notebook(nb, scratch)
        course.sync_notebook(scratch, kind="lab", info=info)
        nb = nbformat.read(scratch, as_version=4)
    resources: dict = {}
    # nbgrader generate_assignment's order, without its database and header/footer steps.
    steps = [
        LockCells(),
        ClearSolutions(code_stub={"python": CODE_STUB}),
        ClearOutput(),
        CheckCellMetadata(),
        ClearHiddenTests(),
        ComputeChecksums(),
        CheckCellMetadata(),
    ]
    for step in steps:
        nb, resources = step.preprocess(nb, resources)
    nb.cells = [c for c in nb.cells if course.BADGE_TAG not in c.get("metadata", {}).get("tags", [])]
    # A written answer's rubric is the instructor's (the grader reads it from the solution).
    for cell in nb.cells:
        extra = cell.get("metadata", {}).get("regopt")
        if isinstance(extra, dict) and extra.pop("rubric", None) is not None and not extra:
            del cell.metadata["regopt"]
    nb.cells.insert(1, _badge_cell(f"labs/{solution.name}", info))
    nb.metadata.pop("celltoolbar", None)
    nbformat.validate(nb)
    return nb


def solved_lab(solution: str | Path, info: course.CourseInfo | None = None) -> NotebookNode:
    """The student lab with the solution's answers typed in, as a student who solved it submits it.

    Used to check grading end to end (it must score full marks) and by the grading benchmark.
    """
    solution = Path(solution)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in read_solution(solution).cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = generate_lab(solution, info)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = answers[meta["grade_id"]].split("\n")
            cell.source = "\n".join(line for line in lines
                                    if SOLUTION_BEGIN not in line and SOLUTION_END not in line)
    return nb


def write_notebook(nb: NotebookNode, path: str | Path) -> None:
    """Write ``nb`` in Jupyter's own format (indent 1, sorted keys, trailing newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb, version=4) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class _Pair:
    solution: Path
    lab: Path


def _pairs(root: Path, out_dir: Path) -> list[_Pair]:
    pairs = []
    for solution in solution_paths(root):
        if not _LAB_NAME.match(solution.name):
            raise LabError(
                f"{solution}: a solution notebook must be named NN_topic.ipynb (two digits, lower-case topic)."
            )
        pairs.append(_Pair(solution, out_dir / solution.name))
    return pairs


def generate_labs(root: str | Path | None = None, out_dir: str | Path | None = None) -> list[Path]:
    """Write ``labs/NN_topic.ipynb`` (or into ``out_dir``) for every solution; return the paths."""
    root = course.find_root(root)
    info = course.course_info(root)
    out_dir = Path(out_dir) if out_dir is not None else root / "labs"
    written = []
    for pair in _pairs(root, out_dir):
        write_notebook(generate_lab(pair.solution, info), pair.lab)
        written.append(pair.lab)
    return written


def stale_labs(root: str | Path | None = None) -> list[str]:
    """Problems that make ``labs/`` differ from what :func:`generate_labs` would write.

    An empty list means every lab is up to date and no lab lacks its solution.
    """
    root = course.find_root(root)
    labs = root / "labs"
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate_labs(root, tmp)
        for path in fresh:
            committed = labs / path.name
            if not committed.is_file():
                problems.append(f"labs/{path.name} is missing")
            elif nbformat.reads(committed.read_text(encoding="utf-8"), as_version=4) != nbformat.reads(
                path.read_text(encoding="utf-8"), as_version=4
            ):
                problems.append(f"labs/{path.name} is out of date with solutions/{path.name}")
        expected = {p.name for p in fresh}
        for lab in sorted(labs.glob("*.ipynb")):
            if lab.name not in expected:
                problems.append(f"labs/{lab.name} has no solutions/{lab.name}")
    return problems
