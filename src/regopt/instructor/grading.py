r"""Autograding of lab submissions against the solution notebook.

``regopt grade SOLUTION SUBMISSIONS_DIR --out grades.csv`` (see :mod:`regopt.instructor.cli`)
calls :func:`grade_folder`. Every regular file directly inside the folder (names
starting with ``.`` are skipped) is one submission; the student is the file's
stem. The submission supplies answers only; tests, context cells and the harness
come from the solution and the grader.

How a graded notebook is built
------------------------------
Tests always come from the solution. For each submission a new notebook is
assembled from the solution's cells, in the solution's order: context cells
(imports, data, explanations) and test cells (visible **and** hidden parts) in
the solution's version, answer cells in the student's version. Test cells are
split at the ``### BEGIN/END HIDDEN TESTS`` markers into visible and hidden
parts, run as separate cells, so that feedback can say which part failed
without showing hidden code. A test cell earns its points when all its parts
run without an exception; a warning printed to stderr costs nothing.

Matching the student's cells to the solution's (the rule)
---------------------------------------------------------
Grading never depends on the nbgrader metadata surviving Colab, VS Code or
JupyterLab, but uses it when it is there.

1. **Landmarks.** A submission cell is the solution's non-answer cell X (a
   markdown prompt, a context cell, a test cell) when it carries X's
   ``grade_id`` with the same cell type, or when its text equals X's text as the
   student received it (whitespace at line ends and around the cell ignored).
   Landmarks found out of order (a moved cell) are dropped, keeping the longest
   in-order run.
2. **Answers with metadata.** A code cell carrying an answer's ``grade_id`` is
   that answer.
3. **Answers without metadata.** An answer cell lies between two landmarks in
   the solution (typically the exercise's markdown prompt and its test cell);
   among the unclaimed code cells between the same two landmarks in the
   submission, it is the one that resembles the answer's stub as distributed
   more than any other stub or nearby test: it defines the same names (the
   function to write, the variables to fill in), keeps the stub's lines, or is
   similar as text (a score of at least 0.5 in any of these). The student's
   unanswered stub itself counts.
4. **Duplicates.** When several cells qualify as the same answer, the last one
   that differs from the stub is used (it is the definition that wins when the
   notebook runs top to bottom); the others are not run. Copies of landmark
   cells are not run either (the solution's version is used).
5. **Edited or deleted tests.** An unclaimed cell that resembles a test cell
   more than any answer is a modified test: it is not run, and the solution's
   test runs in its place. A test cell that cannot be found at all is restored.
6. **Cells the student added** (all other code cells) run where the student put
   them, after the landmark or answer that precedes them; markdown they added is
   ignored. A missing answer whose names (the function to write...) are defined
   in such a cell is taken to be written there; otherwise it is replaced by its
   stub, so that its tests fail with ``NotImplementedError``.

Statuses (most severe first; the reason column lists every problem found)
------------------------------------------------------------------------
See :data:`STATUSES`.

Execution and the trust model
-----------------------------
Every submission is treated as written by someone who wants points it did not
earn. Before anything runs, :func:`check_code` reads the cells to run with
:mod:`ast` (:mod:`regopt.instructor.codecheck`): forbidden names score their test
cell 0; dynamic access and tampering with the interpreter are marked
``needs-review``. :func:`add_harness` adds the grader's own cells
(:mod:`regopt.instructor.harness`), which restore what answers may have patched
before every test. Each graded notebook then runs in its own worker process and
kernel (:mod:`regopt.instructor.runner`): results come back over a pipe only the
worker holds, the grader signals only the workers it started, and the kernel runs
in a sandbox where the OS offers one (:mod:`regopt.instructor.sandbox`: no network,
its own PID space, a read-only view of the system, an empty home, an allow-listed
environment, limits on memory, processes, file size and CPU time). Limits: a
per-cell time limit (the cell is interrupted and the run goes on) and a
per-notebook limit (the run stops; what ran is graded); output is counted and
discarded beyond a limit; the kernel's death is caught. Kernels run with
``REGOPT_FAST=1`` unless ``full=True`` (tests are written to hold at any size),
``REGOPT_STATIC=1`` (no progress bars or sliders), the Agg backend, and
``cpu_count // jobs`` threads each.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import codecheck, harness, labs, runner, sandbox

__all__ = [
    "STATUSES",
    "InstructorError",
    "SolutionLab",
    "Submission",
    "GradeResult",
    "load_solution",
    "read_submission",
    "build_graded_notebook",
    "grade_folder",
    "grade_submission",
    "check_code",
    "add_harness",
    "was_graded",
    "UNGRADED",
]

#: Every status a submission can get, most severe first, with its meaning.
STATUSES: dict[str, str] = {
    "grader-error": "the grader itself failed on this file (not the student's fault); re-grade it, with "
                    "--keep-workdir to debug",
    "empty-file": "the file is empty; nothing was graded",
    "invalid-json": "the file is not valid JSON (a truncated or hand-edited download?); nothing was graded",
    "not-a-notebook": "the file is JSON but not a Jupyter notebook; nothing was graded",
    "wrong-notebook": "none of this lab's cells were found in the notebook (another lab?); nothing was graded",
    "needs-review": "graded, but the code does something a human should look at (dynamic access such as "
                    "getattr or eval, builtins, IPython hooks, sys.modules, /proc, signals, monkeypatching "
                    "torch, numpy or regopt, re-binding a helper of the lab); the reason says what and where",
    "forbidden-name": "an answer uses what its exercise forbids (the library's own implementation of what "
                      "the exercise asks you to write); that exercise's tests scored 0",
    "kernel-died": "the Python kernel died (os._exit, a crash, memory); tests after that point scored 0",
    "timeout": "the notebook ran past the per-notebook time limit; tests not reached scored 0",
    "cell-timeout": "a cell ran past the per-cell time limit (an infinite loop?) and was interrupted",
    "sys-exit": "the code called sys.exit() or exit(); the grader carried on with the next cell",
    "huge-output": "a cell printed more than the output limit (the grader counts output, never keeps it)",
    "passes-visible-only": "some answers pass the visible tests but fail the hidden ones (hard-coded to the "
                           "visible examples?)",
    "missing-answer": "an answer cell was not found; its stub was used (your added cells still ran)",
    "duplicate-cells": "a cell appears more than once; the last edited copy of an answer was used",
    "tests-restored": "a test cell was edited or deleted; the solution's test cell was used",
    "metadata-stripped": "nbgrader metadata was missing; answers were found by position and content",
    "ok": "graded normally",
}
_SEVERITY = {status: rank for rank, status in enumerate(STATUSES)}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class InstructorError(Exception):
    """A mistake on the instructor's side (bad path, bad solution): grading cannot start."""


# --------------------------------------------------------------------------- solution


@dataclass
class SolutionCell:
    """One cell of the solution: its role, its text there and as the student received it."""

    index: int
    cell_type: str
    role: str  # "answer", "test" or "context"
    grade_id: str | None
    source: str
    lab_source: str
    points: float = 0.0
    #: Dotted names the answers graded by this test cell must not use (``regopt.forbidden`` metadata).
    forbidden: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.grade_id or f"cell-{self.index}"


@dataclass
class SolutionLab:
    """A solution notebook prepared for grading."""

    path: Path
    title: str
    cells: list[SolutionCell]
    hidden_lines: list[str]

    @property
    def tests(self) -> list[SolutionCell]:
        return [c for c in self.cells if c.role == "test"]

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.tests)


def _normalize(source: str) -> str:
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def load_solution(path: str | Path) -> SolutionLab:
    """Read and check the solution; :class:`InstructorError` says what is wrong."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    path = Path(path)
    try:
        nb = labs.read_solution(path)
    except labs.LabError as error:
        raise InstructorError(str(error)) from None
    student = nbformat.from_dict(json.loads(json.dumps(nb)))
    resources: dict = {}
    for step in (ClearSolutions(code_stub={"python": labs.CODE_STUB}), ClearHiddenTests()):
        student, resources = step.preprocess(student, resources)
    cells, hidden_lines = [], []
    for index, (cell, lab_cell) in enumerate(zip(nb.cells, student.cells)):
        meta = cell.metadata.get("nbgrader", {}) or {}
        role = "answer" if meta.get("solution") else "test" if meta.get("grade") else "context"
        forbidden = (cell.metadata.get("regopt") or {}).get("forbidden", []) if role == "test" else []
        cells.append(SolutionCell(index=index, cell_type=cell.cell_type, role=role,
                                  grade_id=meta.get("grade_id"), source=cell.source,
                                  lab_source=lab_cell.source, points=float(meta.get("points", 0) or 0),
                                  forbidden=list(forbidden)))
        if role == "test":
            for part_hidden, part in _split_hidden(cell.source):
                if part_hidden:
                    hidden_lines += [line.strip() for line in part.splitlines() if len(line.strip()) >= 8]
    title = nb.cells[0].source.strip().splitlines()[0].lstrip("# ").strip()
    return SolutionLab(path=path, title=title, cells=cells, hidden_lines=hidden_lines)


def _split_hidden(source: str) -> list[tuple[bool, str]]:
    """A test cell's source cut into (hidden?, code) parts at the hidden-test markers."""
    parts: list[tuple[bool, list[str]]] = [(False, [])]
    for line in source.split("\n"):
        if labs.HIDDEN_BEGIN in line:
            parts.append((True, []))
        elif labs.HIDDEN_END in line:
            parts.append((False, []))
        else:
            parts[-1][1].append(line)
    return [(hidden, "\n".join(lines)) for hidden, lines in parts if "\n".join(lines).strip()]


# --------------------------------------------------------------------------- submission


@dataclass
class Submission:
    """A submitted file: who, where, and its notebook (``None`` when unreadable)."""

    path: Path
    student: str
    nb: NotebookNode | None = None
    status: str = "ok"
    reason: str = ""


def read_submission(path: str | Path) -> Submission:
    """Read a submitted file; unreadable files get their status here (never an exception)."""
    path = Path(path)
    submission = Submission(path=path, student=path.stem)
    try:
        raw = path.read_bytes()
    except OSError as error:
        submission.status, submission.reason = "not-a-notebook", f"the file cannot be read: {error}"
        return submission
    if not raw.strip():
        submission.status, submission.reason = "empty-file", "the file is empty"
        return submission
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        if path.suffix.lower() != ".ipynb":
            submission.status = "not-a-notebook"
            submission.reason = f"a {path.suffix or 'suffix-less'} file, not a notebook (.ipynb)"
        else:
            submission.status = "invalid-json"
            submission.reason = f"not valid JSON ({str(error).splitlines()[0][:120]})"
        return submission
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        submission.status, submission.reason = "not-a-notebook", "JSON without a list of notebook cells"
        return submission
    if data.get("nbformat") != 4:
        submission.status = "not-a-notebook"
        submission.reason = f"nbformat {data.get('nbformat')!r}; expected a version 4 notebook"
        return submission
    cells = []
    for raw_cell in data["cells"]:
        if not isinstance(raw_cell, dict) or raw_cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        source = raw_cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        metadata = raw_cell.get("metadata") if isinstance(raw_cell.get("metadata"), dict) else {}
        cells.append(nbformat.from_dict({"cell_type": raw_cell["cell_type"], "source": str(source),
                                         "metadata": metadata}))
    submission.nb = nbformat.from_dict({"cells": cells, "metadata": data.get("metadata") or {}})
    return submission


# --------------------------------------------------------------------------- alignment


@dataclass
class GradedCell:
    """A cell of the notebook that is actually run."""

    role: str  # "context", "answer", "stub", "extra", "test"
    source: str
    grade_id: str | None = None
    hidden: bool = False
    #: For a cell the student added (or a stub put back): the solution cell it follows (-1: the top).
    slot: int = -1


@dataclass
class Alignment:
    cells: list[GradedCell]
    problems: dict[str, list[str]] = field(default_factory=dict)
    #: Test grade id -> why its answers use a forbidden name (the test scores 0).
    forbidden: dict[str, list[str]] = field(default_factory=dict)

    def add(self, status: str, message: str) -> None:
        self.problems.setdefault(status, []).append(message)


_THRESHOLD = 0.5


def _kept_lines(lab_source: str) -> list[str]:
    stub_lines = {line.strip() for line in labs.CODE_STUB.splitlines()}
    return [line.strip() for line in lab_source.splitlines()
            if line.strip() and line.strip() not in stub_lines and not line.strip().startswith("#")]


_DEFINITION = re.compile(r"^(?:def|class)\s+(\w+)|^(\w+)\s*(?::[^=]*)?=(?!=)", re.MULTILINE)


def _defined_names(source: str) -> set[str]:
    """Names a cell defines at top level (functions, classes, assigned variables)."""
    return {a or b for a, b in _DEFINITION.findall(source)}


def _likeness(candidate: str, reference: str) -> float:
    """How much ``candidate`` looks like ``reference`` (a stub or a test), in [0, 1].

    The largest of: the similarity of the two texts; the fraction of the
    reference's kept lines (its ``def`` line, say) found in the candidate; the
    fraction of the names the reference defines that the candidate defines too.
    """
    candidate, reference = _normalize(candidate), _normalize(reference)
    if not candidate or not reference:
        return 0.0
    scores = [difflib.SequenceMatcher(None, candidate, reference, autojunk=False).ratio()]
    kept = _kept_lines(reference)
    if kept:
        present = {line.strip() for line in candidate.splitlines()}
        scores.append(sum(line in present for line in kept) / len(kept))
    names = _defined_names(reference)
    if names:
        scores.append(len(names & _defined_names(candidate)) / len(names))
    return max(scores)


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest subsequence of (solution index, position) pairs increasing in both."""
    pairs = sorted(pairs)
    best: list[list[tuple[int, int]]] = []
    for pair in pairs:
        chain = max((c for c in best if c[-1][1] < pair[1]), key=len, default=[])
        best.append(chain + [pair])
    return max(best, key=len, default=[])


def build_graded_notebook(lab: SolutionLab, submission: Submission) -> Alignment:
    """Assemble the cells to run for ``submission`` (see the matching rule above)."""
    assert submission.nb is not None
    cells = submission.nb.cells
    by_id = {c.grade_id: c for c in lab.cells if c.grade_id}
    alignment = Alignment(cells=[])

    # 1. Landmarks and metadata-matched answers.
    landmark_of: dict[int, SolutionCell] = {}  # submission position -> solution cell
    answer_claims: dict[int, list[int]] = {}  # solution index -> submission positions
    has_metadata = False
    by_text: dict[tuple[str, str], list[SolutionCell]] = {}
    for sol in lab.cells:
        if sol.role != "answer":
            for text in {_normalize(sol.lab_source), _normalize(sol.source)}:
                if text:
                    by_text.setdefault((sol.cell_type, text), []).append(sol)
    for position, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader") if isinstance(cell.metadata.get("nbgrader"), dict) else {}
        grade_id = meta.get("grade_id")
        sol = by_id.get(grade_id) if isinstance(grade_id, str) else None
        if sol is not None and sol.cell_type == cell.cell_type:
            has_metadata = True
            if sol.role == "answer":
                answer_claims.setdefault(sol.index, []).append(position)
            else:
                landmark_of[position] = sol
            continue
        same_text = by_text.get((cell.cell_type, _normalize(cell.source)), [])
        taken = {sol.index for sol in landmark_of.values()}
        # Identical texts (two equal cells of the solution) are matched in order.
        free = [candidate for candidate in same_text if candidate.index not in taken]
        if same_text:
            landmark_of[position] = (free or same_text)[0]

    # A landmark found twice (a duplicated cell): keep the first copy, drop the others.
    first_position: dict[int, int] = {}
    dropped: set[int] = set()
    for position in sorted(landmark_of):
        sol = landmark_of[position]
        if sol.index in first_position:
            dropped.add(position)
            if cells[position].cell_type == "code":
                alignment.add("duplicate-cells", f"{sol.key} appears more than once; extra copies were not run")
        else:
            first_position[sol.index] = position
    chain = _longest_increasing([(index, position) for index, position in first_position.items()])
    anchors = dict(chain)  # solution index -> submission position
    for index, position in first_position.items():
        if index not in anchors:
            dropped.add(position)
    # Grade ids such as "ex1-solution" recur from lab to lab: the lab's text decides.
    prose = {_normalize(sol.source) for sol in lab.cells if sol.cell_type == "markdown"} - {""}
    if not any(_normalize(cell.source) in prose for cell in cells if cell.cell_type == "markdown"):
        alignment.add("wrong-notebook", "none of this lab's text cells were found (title, exercises)")
        return alignment

    # Edited test cells carrying their metadata: the solution's version runs instead.
    for position, sol in landmark_of.items():
        if sol.role == "test" and position not in dropped and \
                _normalize(cells[position].source) not in {_normalize(sol.lab_source), _normalize(sol.source)}:
            alignment.add("tests-restored", f"{sol.key} was edited; the solution's version was used")

    claimed: set[int] = set(landmark_of) | {p for ps in answer_claims.values() for p in ps}
    answer_choice: dict[int, int | None] = {}
    stub_texts = {_normalize(c.lab_source) for c in lab.cells if c.role == "answer"}

    def choose(sol: SolutionCell, positions: list[int]) -> int:
        edited = [p for p in positions if _normalize(cells[p].source) != _normalize(sol.lab_source)]
        chosen = (edited or positions)[-1]
        if len(positions) > 1:
            alignment.add("duplicate-cells", f"the answer {sol.key} appears {len(positions)} times; "
                                             "the last edited copy was used")
        return chosen

    for index, positions in answer_claims.items():
        answer_choice[index] = choose(lab.cells[index], positions)

    # 2. Answers without metadata: search between the surrounding landmarks.
    anchor_indices = sorted(anchors)
    stripped = []
    for sol in lab.cells:
        if sol.role != "answer" or sol.index in answer_choice:
            continue
        before = [i for i in anchor_indices if i < sol.index]
        after = [i for i in anchor_indices if i > sol.index]
        low = anchors[before[-1]] if before else -1
        high = anchors[after[0]] if after else len(cells)
        candidates = [p for p in range(low + 1, high)
                      if p not in claimed and p not in dropped and cells[p].cell_type == "code"]
        others = [c for c in lab.cells if c.role == "answer" and c.index != sol.index]
        tests_near = [c for c in lab.cells if c.role == "test"
                      and (before[-1] if before else -1) < c.index < (after[0] if after else len(lab.cells))]
        matching = []
        for p in candidates:
            like = _likeness(cells[p].source, sol.lab_source)
            if like < _THRESHOLD or any(_likeness(cells[p].source, o.lab_source) > like for o in others):
                continue
            if any(_likeness(cells[p].source, t.lab_source) > like for t in tests_near):
                continue
            matching.append(p)
        if matching:
            answer_choice[sol.index] = choose(sol, matching)
            claimed.update(matching)
            for p in matching:
                if p != answer_choice[sol.index]:
                    dropped.add(p)
            stripped.append(sol.key)
        else:
            answer_choice[sol.index] = None
    if stripped:
        alignment.add("metadata-stripped", "answers found by position and content: " + ", ".join(stripped))

    # 3. The remaining code cells: modified tests (not run), copies of stubs (not run), added cells.
    tests = lab.tests
    found_tests = {sol.index for sol in landmark_of.values() if sol.role == "test"}
    extras: list[int] = []
    for position, cell in enumerate(cells):
        if position in claimed or position in dropped or cell.cell_type != "code" or not cell.source.strip():
            continue
        text = _normalize(cell.source)
        if text in stub_texts:
            alignment.add("duplicate-cells", "an extra copy of an answer's stub was not run")
            continue
        test_like = max(((_likeness(text, t.lab_source), t) for t in tests), key=lambda x: x[0], default=(0, None))
        answer_like = max((_likeness(text, c.lab_source) for c in lab.cells if c.role == "answer"), default=0)
        if test_like[1] is not None and test_like[0] >= _THRESHOLD and test_like[0] > answer_like:
            alignment.add("tests-restored", f"{test_like[1].key} was edited; the solution's version was used"
                          if test_like[1].index not in found_tests else
                          f"a modified copy of {test_like[1].key} was not run")
            found_tests.add(test_like[1].index)
            continue
        extras.append(position)
    for sol in tests:
        if sol.index not in found_tests:
            alignment.add("tests-restored", f"{sol.key} was not found (deleted?); the solution's version was used")

    # 4. Attach each added cell to the solution cell that precedes it in the submission.
    position_of = {index: position for index, position in anchors.items()}
    position_of.update({i: p for i, p in answer_choice.items() if p is not None})
    attached: dict[int, list[GradedCell]] = {}
    for position in extras:
        preceding = [i for i, p in position_of.items() if p < position]
        slot = max(preceding, key=lambda i: position_of[i]) if preceding else -1
        attached.setdefault(slot, []).append(GradedCell("extra", cells[position].source, slot=slot))
    defined_by_student = set().union(*(_defined_names(cells[p].source) for p in extras))
    for sol in lab.cells:
        if sol.role == "answer" and answer_choice.get(sol.index) is None:
            names = _defined_names(sol.lab_source)
            if names and names <= defined_by_student:
                continue  # written in a cell of the student's own, which runs as they placed it
            alignment.add("missing-answer", f"no cell answering {sol.key} was found; its stub was used")
            previous = max((i for i in position_of if i < sol.index), default=-1)
            attached.setdefault(previous, []).insert(0, GradedCell("stub", sol.lab_source, sol.grade_id,
                                                                   slot=previous))

    if not has_metadata and "metadata-stripped" not in alignment.problems:
        alignment.add("metadata-stripped", "the notebook carries no nbgrader metadata; cells matched by content")

    out = alignment.cells
    out.extend(attached.get(-1, []))
    for sol in lab.cells:
        if sol.cell_type == "code":
            if sol.role == "answer":
                chosen = answer_choice.get(sol.index)
                if chosen is not None:
                    out.append(GradedCell("answer", cells[chosen].source, sol.grade_id))
            elif sol.role == "test":
                for hidden, part in _split_hidden(sol.source):
                    out.append(GradedCell("test", part, sol.grade_id, hidden=hidden))
            else:
                out.append(GradedCell("context", sol.source, sol.grade_id))
        out.extend(attached.get(sol.index, []))
    return alignment


def _graded_by(lab: SolutionLab) -> dict[str, tuple[set[str], int, int]]:
    """Test grade id -> (answer grade ids it grades, first and last solution index of its stretch).

    The answers graded by a test cell are the answer cells after the previous test cell
    and before it; the stretch also holds the cells a student added there.
    """
    stretches, previous = {}, -1
    for test in lab.tests:
        answers = {c.grade_id for c in lab.cells if c.role == "answer" and previous < c.index < test.index}
        stretches[test.key] = (answers, previous, test.index)
        previous = test.index
    return stretches


def check_code(lab: SolutionLab, alignment: Alignment) -> None:
    """Read the cells to run with :mod:`ast`: forbidden names (the test scores 0) and marks for review."""
    answer_names = set().union(*(codecheck.bound_names(c.source) for c in lab.cells if c.role == "answer"))
    reports = codecheck.analyze([(c.role, c.source) for c in alignment.cells], answer_names=answer_names)
    for cell, report in zip(alignment.cells, reports):
        for note in dict.fromkeys(report.review):
            alignment.add("needs-review", f"{_where(cell)}, {note}")
    for test in lab.tests:
        if not test.forbidden:
            continue
        answers, first, last = _graded_by(lab)[test.key]
        for cell, report in zip(alignment.cells, reports):
            mine = (cell.role == "answer" and cell.grade_id in answers) or \
                   (cell.role == "extra" and first <= cell.slot < last)
            for use in codecheck.forbidden_uses(report, test.forbidden) if mine else []:
                why = (f"{_where(cell)} uses {use.name} (line {use.line}); this exercise asks you to write it "
                       f"yourself, without {', '.join(test.forbidden)}")
                alignment.forbidden.setdefault(test.key, []).append(why)
                alignment.add("forbidden-name", f"{test.key}: {why}")


def _graded_notebook(alignment: Alignment) -> NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})
    for cell in alignment.cells:
        code = nbformat.v4.new_code_cell(cell.source)
        code.metadata["regopt"] = {"role": cell.role, "grade_id": cell.grade_id, "hidden": cell.hidden}
        nb.cells.append(code)
    return nb


# --------------------------------------------------------------------------- harness


def add_harness(lab: SolutionLab, alignment: Alignment) -> None:
    """Insert the grader's own cells (:mod:`regopt.instructor.harness`) around the lab's and the student's."""
    answer_names = set().union(*(codecheck.bound_names(c.source) for c in lab.cells if c.role == "answer"))
    out = [GradedCell("harness", harness.PROLOGUE)]
    snapshot_taken = False
    for cell in alignment.cells:
        if cell.role in ("answer", "extra", "stub") and not snapshot_taken:
            out.append(GradedCell("harness", harness.SNAPSHOT))
            snapshot_taken = True
        if cell.role == "test":
            out.append(GradedCell("harness", harness.RESET, cell.grade_id, hidden=cell.hidden))
        out.append(cell)
        helpers = codecheck.bound_names(cell.source) - answer_names if cell.role == "context" else set()
        if helpers:
            out.append(GradedCell("harness", harness.keep_source(sorted(helpers))))
    alignment.cells = out


# --------------------------------------------------------------------------- results


@dataclass
class TestOutcome:
    """What happened to one test cell of the solution."""

    grade_id: str
    points: float
    max_points: float
    visible: str = "not run"  # "passed", "failed", "not run"
    hidden: str = "none"  # "passed", "failed", "not run", "none" (no hidden part)
    errors: list[str] = field(default_factory=list)


@dataclass
class GradeResult:
    """One row of the grade sheet and the content of one feedback file."""

    student: str
    file: str
    status: str
    reason: str
    outcomes: list[TestOutcome]
    max_points: float
    seconds: float = 0.0
    #: Exceptions raised in the student's own cells (answers, added cells), for the feedback.
    cell_errors: list[str] = field(default_factory=list)
    lab: str = ""

    @property
    def review(self) -> bool:
        """Whether the row needs a human look (see the status ``needs-review``)."""
        return "needs-review: " in self.reason or self.status == "needs-review"

    @property
    def total(self) -> float:
        return sum(o.points for o in self.outcomes)


def _redact(lines: list[str], hidden_lines: list[str]) -> list[str]:
    hidden = set(hidden_lines)
    return ["    [hidden test code]" if any(h in line for h in hidden) else line for line in lines]


def _outcomes(lab: SolutionLab, alignment: Alignment | None, state: dict | None) -> list[TestOutcome]:
    outcomes = {t.grade_id or t.key: TestOutcome(t.key, 0.0, t.points) for t in lab.tests}
    if alignment is None or state is None:
        return list(outcomes.values())
    results = state.get("cells", [])
    parts: dict[str, list[tuple[GradedCell, dict]]] = {}
    for index, cell in enumerate(alignment.cells):
        if cell.role == "test":
            result = results[index] if index < len(results) else {"status": "not-run"}
            parts.setdefault(cell.grade_id or "", []).append((cell, result))
    for key, outcome in outcomes.items():
        seen = parts.get(key, [])
        visible = [r for c, r in seen if not c.hidden]
        hidden = [r for c, r in seen if c.hidden]

        def summary(rs: list[dict]) -> str:
            if not rs:
                return "none"
            if any(r["status"] == "error" for r in rs):
                return "failed"
            if any(r["status"] != "ok" for r in rs):
                return "not run"
            return "passed"

        outcome.visible = summary(visible) if visible else "passed"
        outcome.hidden = summary(hidden)
        for cell, r in seen:
            if r["status"] == "error":
                head = f"{r.get('ename', 'Error')}: {r.get('evalue', '')}".strip().rstrip(":")
                if cell.hidden:
                    outcome.errors.append(f"hidden tests: {head}")
                else:
                    trace = _redact(r.get("traceback", [])[-20:], lab.hidden_lines)
                    outcome.errors.append("visible tests:\n" + "\n".join(trace or [head]))
            elif r["status"] in ("kernel-died", "not-run"):
                outcome.errors.append(("hidden" if cell.hidden else "visible") + " tests: not run ("
                                      + ("the kernel died" if r["status"] == "kernel-died" else
                                         "the notebook stopped before this cell") + ")")
        if seen and outcome.visible == "passed" and outcome.hidden in ("passed", "none"):
            outcome.points = outcome.max_points
        for why in alignment.forbidden.get(key, []):
            outcome.points = 0.0
            outcome.errors.insert(0, f"forbidden: {why}; these tests score 0.")
    return list(outcomes.values())


def _run_problems(alignment: Alignment, state: dict) -> dict[str, list[str]]:
    """The statuses the run itself earned (kernel death, limits, exits, output, the harness, the grader)."""
    problems: dict[str, list[str]] = {}
    add = lambda status, message: problems.setdefault(status, []).append(message)  # noqa: E731
    if state.get("kernel_died"):
        add("kernel-died", "the kernel died (a crash, os._exit, or a resource limit); later cells did not run")
    if state.get("timed_out"):
        add("timeout", "the notebook ran past its time limit; later cells did not run")
    for index, result in enumerate(state.get("cells", [])):
        cell = alignment.cells[index] if index < len(alignment.cells) else None
        where, ename = _where(cell), result.get("ename")
        if ename == "CellTimeoutError" and not state.get("timed_out"):
            add("cell-timeout", f"{where} ran past the per-cell limit")
        if ename == "SystemExit":
            add("sys-exit", f"{where} called sys.exit()")
        if cell is not None and cell.role == "harness" and result.get("status") == "error":
            detail = result.get("evalue", "") if ename == harness.RESTORED_ERROR else f"{ename}: {result.get('evalue', '')}"
            add("needs-review", f"before {where}, {detail[:300]} (an earlier cell patched it)"
                if ename == harness.RESTORED_ERROR else f"the grader's reset failed before {where} ({detail[:300]})")
    if state.get("huge_output_cells"):
        where = ", ".join(_where(alignment.cells[i]) for i in state["huge_output_cells"] if i < len(alignment.cells))
        add("huge-output", f"{where} printed more than the output limit")
    if state.get("worker_error"):
        add("grader-error", f"the grader's worker failed: {state['worker_error']}")
    return problems


def _cell_errors(alignment: Alignment, state: dict, hidden_lines: list[str]) -> list[str]:
    """Exceptions raised in the student's own cells, as the feedback shows them (hidden code redacted)."""
    errors = []
    for index, result in enumerate(state.get("cells", [])):
        cell = alignment.cells[index] if index < len(alignment.cells) else None
        if cell is not None and cell.role in ("answer", "extra") and result.get("status") == "error" \
                and result.get("ename") not in ("CellTimeoutError", "SystemExit"):
            trace = "\n".join(_redact(result.get("traceback", [])[-12:], hidden_lines))
            errors.append(f"{_where(cell)} raised {result.get('ename')}: {result.get('evalue', '')}\n{trace}")
    return errors


def _finish(lab: SolutionLab, submission: Submission, alignment: Alignment | None,
            state: dict | None, seconds: float = 0.0) -> GradeResult:
    problems: dict[str, list[str]] = {}
    if submission.status != "ok":
        problems[submission.status] = [submission.reason]
    if alignment is not None:
        for status, messages in alignment.problems.items():
            problems.setdefault(status, []).extend(messages)
    outcomes = _outcomes(lab, alignment, state)
    errors: list[str] = []
    if state is not None and alignment is not None:
        for status, messages in _run_problems(alignment, state).items():
            problems.setdefault(status, []).extend(messages)
        errors = _cell_errors(alignment, state, lab.hidden_lines)
        suspicious = [o.grade_id for o in outcomes if o.visible == "passed" and o.hidden == "failed"]
        if suspicious:
            problems.setdefault("passes-visible-only", []).append(
                ", ".join(suspicious) + ": the visible tests pass, the hidden tests fail")
    status = min(problems, key=lambda s: _SEVERITY.get(s, -1)) if problems else "ok"
    # Every problem, most severe first, each prefixed by its status so the sheet can be filtered.
    reason = "; ".join(dict.fromkeys(f"{s}: {m}" for s in sorted(problems, key=_SEVERITY.get)
                                     for m in problems[s]))
    return GradeResult(student=submission.student, file=submission.path.name, status=status,
                       reason=reason, outcomes=outcomes, max_points=lab.max_points, seconds=seconds,
                       cell_errors=errors, lab=lab.path.stem)


def _where(cell: GradedCell | None) -> str:
    if cell is None:
        return "a cell"
    if cell.role == "extra":
        return "a cell you added"
    if cell.role == "harness":
        return f"the tests {cell.grade_id}" if cell.grade_id else "the grader's set-up"
    if cell.role == "test":
        return f"the tests {cell.grade_id}"
    return f"the cell {cell.grade_id}" if cell.grade_id else "a cell"


# --------------------------------------------------------------------------- orchestration


def list_submissions(folder: str | Path) -> list[Path]:
    """The submitted files: regular files directly in ``folder``, not hidden, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InstructorError(f"Submissions folder {str(folder)!r} does not exist or is not a folder.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InstructorError(f"Submissions folder {str(folder)!r} holds no file to grade.")
    return files


def grade_submission(lab: SolutionLab, path: Path, options: runner.RunOptions, scratch: Path) -> GradeResult:
    """Grade one file; every failure of the submission ends up in the result, not raised."""
    started = time.monotonic()
    submission = read_submission(path)
    if submission.nb is None:
        return _finish(lab, submission, None, None)
    alignment = build_graded_notebook(lab, submission)
    if "wrong-notebook" in alignment.problems:
        return _finish(lab, submission, alignment, None)
    check_code(lab, alignment)
    add_harness(lab, alignment)
    text = nbformat.writes(_graded_notebook(alignment))
    state = runner.run_notebook(text, len(alignment.cells), options, scratch, label=_safe_name(path.name))
    return _finish(lab, submission, alignment, state, time.monotonic() - started)


def _check_options(options: runner.RunOptions) -> None:
    for name in ("cell_timeout", "timeout"):
        value = getattr(options, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise InstructorError(f"{name}={value!r} is invalid; expected a positive number of seconds.")
    if isinstance(options.jobs, bool) or not isinstance(options.jobs, int) or options.jobs < 1:
        raise InstructorError(f"jobs={options.jobs!r} is invalid; expected a positive integer.")
    if options.isolation not in ("auto", "bwrap", "unshare", "none"):
        raise InstructorError(f"isolation={options.isolation!r} is invalid; expected auto, bwrap, unshare or none.")


def grade_folder(solution: str | Path, submissions: str | Path, *,
                 progress: Callable[[GradeResult, int, int], None] | None = None,
                 notice: Callable[[str], None] | None = None, **options) -> list[GradeResult]:
    """Grade every file of ``submissions`` against ``solution``; one result per file, in name order.

    ``options`` are the fields of :class:`regopt.instructor.runner.RunOptions` (``cell_timeout``,
    ``timeout``, ``jobs``, ``full``, ``max_output_bytes``, ``limits``, ``isolation``,
    ``keep_workdir``). ``notice`` receives one line when the kernels cannot be isolated here.
    Raises :class:`InstructorError` for the instructor's mistakes only (missing or malformed
    solution, bad folder, bad limits).
    """
    try:
        run_options = runner.RunOptions(**options)
    except TypeError as error:
        raise InstructorError(f"{error}; expected options among "
                              f"{sorted(runner.RunOptions.__dataclass_fields__)}.") from None
    _check_options(run_options)
    lab = load_solution(solution)
    files = list_submissions(submissions)
    message = runner.isolation_notice(sandbox.isolation(run_options.isolation))
    if message:
        (notice or (lambda line: print(line, file=sys.stderr)))(message)
    results: list[GradeResult | None] = [None] * len(files)
    with tempfile.TemporaryDirectory(prefix="regopt-grade-") as scratch:
        def one(i: int) -> None:
            try:
                result = grade_submission(lab, files[i], run_options, Path(scratch))
            except Exception as error:  # a grader bug must not lose the batch, nor blame the student
                result = GradeResult(files[i].stem, files[i].name, "grader-error",
                                     f"grader-error: {type(error).__name__}: {error}",
                                     _outcomes(lab, None, None), lab.max_points, lab=lab.path.stem)
            results[i] = result
            if progress is not None:
                progress(result, sum(r is not None for r in results), len(files))

        with ThreadPoolExecutor(max_workers=run_options.jobs) as pool:
            list(pool.map(one, range(len(files))))
    return [r for r in results if r is not None]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "submission"


#: Statuses with which nothing of the submission was graded.
UNGRADED = ("grader-error", "empty-file", "invalid-json", "not-a-notebook", "wrong-notebook")


def was_graded(result: GradeResult) -> bool:
    """Whether the submission's code was run and scored (its status is not one of :data:`UNGRADED`)."""
    return result.status not in UNGRADED
