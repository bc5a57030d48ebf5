"""Scoring: what each test cell earned, the statuses of a run, the result of one submission."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import harness
from .matching import Alignment, GradedCell, describe_cell
from .redaction import Redactor
from .solution import SolutionLab
from .submission import Submission

__all__ = ["STATUSES", "FOR_STUDENTS", "REVIEW", "UNGRADED", "TestOutcome", "GradeResult", "test_outcomes",
           "finish", "was_graded"]

#: Every status a submission can get, most severe first, with its meaning.
STATUSES: dict[str, str] = {
    "grader-error": "the grader itself failed on this file (not the student's fault); re-grade it, with "
                    "--keep-workdir to debug",
    "empty-file": "the file is empty; nothing was graded",
    "invalid-json": "the file is not valid JSON (a truncated or hand-edited download?); nothing was graded",
    "not-a-notebook": "the file is JSON but not a Jupyter notebook; nothing was graded",
    "wrong-notebook": "none of this lab's cells were found in the notebook (another lab?); nothing was graded",
    "not-attempted": "the notebook is the lab as distributed: no answer was changed and no cell added; it ran "
                     "and scored 0",
    "needs-review": "graded, but the code does something a human should look at (dynamic access such as "
                    "getattr or eval, builtins, IPython hooks, sys.modules, /proc, signals, monkeypatching "
                    "torch, numpy or regopt, re-binding a module or helper of the lab, shadowing a builtin, "
                    "frames, IPython's history, the grader's harness, hidden test code in the feedback); "
                    "the reason says what and where",
    "forbidden-name": "an answer uses what its exercise forbids (the library's own implementation of what "
                      "the exercise asks you to write); that exercise's tests scored 0",
    "kernel-died": "the Python kernel died (os._exit, a crash, memory) during an exercise, whose tests scored 0; "
                   "a new kernel re-ran the set-up and the student's cells and graded the later exercises",
    "timeout": "the notebook ran past the per-notebook time limit; tests not reached scored 0",
    "cell-timeout": "a cell ran past the per-cell time limit (an infinite loop?) and was interrupted",
    "sys-exit": "the code called sys.exit() or exit(); the grader carried on with the next cell",
    "huge-output": "a cell printed more than the output limit (the grader counts output, never keeps it)",
    "passes-visible-only": "some answers pass the visible tests but fail the hidden ones (hard-coded to the "
                           "visible examples?)",
    "missing-answer": "an answer cell was not found; its stub was used (your added cells still ran)",
    "duplicate-cells": "a cell appears more than once; the last edited copy of an answer was used",
    "tests-restored": "a test cell was edited or deleted; the solution's test cell was used",
    "ok": "graded normally",
}
_SEVERITY = {status: rank for rank, status in enumerate(STATUSES)}
#: Statuses that set the ``review`` column: a person should look before the points are published.
REVIEW = ("grader-error", "needs-review", "forbidden-name", "passes-visible-only", "tests-restored")
#: Not a problem, only a note in the reason column (a notebook saved by Colab loses its metadata).
NOTES = {"metadata-stripped": "nbgrader metadata missing, answers found by position and content"}

#: What a student's feedback page says of each status: no grader internals, no guess at motives.
FOR_STUDENTS: dict[str, str] = {
    "grader-error": "the grader failed on your file (not your fault); your instructor will grade it again",
    "empty-file": "the file you handed in is empty",
    "invalid-json": "the file you handed in is not a complete notebook (was the download cut short?)",
    "not-a-notebook": "the file you handed in is not a Jupyter notebook (.ipynb)",
    "wrong-notebook": "the notebook you handed in is not this lab (another lab's?)",
    "not-attempted": "no answer was filled in: the notebook is the lab as you received it",
    "needs-review": "your instructor will read your code before your points are final",
    "forbidden-name": "an answer uses what its exercise asks you to write yourself; that exercise scored 0 "
                      "(see below)",
    "kernel-died": "Python stopped while running your notebook (a crash, os._exit() or too much memory); see "
                   "below which exercise",
    "timeout": "your notebook ran longer than the time limit; the exercises it did not reach scored 0",
    "cell-timeout": "a cell ran longer than the time limit of one cell (an endless loop?) and was stopped",
    "sys-exit": "your code called sys.exit() or exit(); the grader went on with the next cell",
    "huge-output": "a cell printed more than the output limit",
    "passes-visible-only": "some answers pass the checks you can see but not the checks on other inputs: try "
                           "them on inputs of your own",
    "missing-answer": "an answer cell was not found; the exercise's starting code was used",
    "duplicate-cells": "a cell appears more than once; the last edited copy of an answer was used",
    "tests-restored": "a test cell was changed or deleted; the lab's own test cell was used",
    "ok": "graded normally",
}
_CELL_IN = re.compile(r"Cell In\[(\d+)\], line (\d+)")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class TestOutcome:
    """What happened to one test cell of the solution."""

    grade_id: str
    points: float
    max_points: float
    visible: str = "not run"  # "passed", "failed", "not run"
    hidden: str = "none"  # "passed", "failed", "not run", "none" (no hidden part)
    errors: list[str] = field(default_factory=list)
    #: A written answer whose points a person has not given yet.
    pending: bool = False


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
    #: Lines of hidden test code the grader took out of this student's feedback.
    redacted: int = 0
    #: Written answers: grade id -> the student's text ("" when not answered).
    written: dict[str, str] = field(default_factory=dict)
    #: Reads every text for the student against the hidden source (see :mod:`.redaction`).
    redactor: Redactor | None = field(default=None, repr=False, compare=False)

    @property
    def review(self) -> bool:
        """Whether the row needs a human look (a status of :data:`REVIEW`, main or among the others)."""
        return self.status in REVIEW or any(f"{status}: " in self.reason for status in REVIEW)

    @property
    def total(self) -> float:
        return sum(o.points for o in self.outcomes)

    @property
    def by_hand(self) -> list[TestOutcome]:
        """The written answers still to be graded by a person."""
        return [o for o in self.outcomes if o.pending]


def test_outcomes(lab: SolutionLab, alignment: Alignment | None, state: dict | None,
                  redact: Redactor | None = None) -> list[TestOutcome]:
    redact = redact or Redactor(lab.hidden_lines, lab.public_texts)
    outcomes = {t.grade_id or t.key: TestOutcome(t.key, 0.0, t.points) for t in lab.tests}
    written = [TestOutcome(w.key, 0.0, w.points, visible="by hand", pending=True) for w in lab.written]
    order = {c.key: i for i, c in enumerate(lab.graded)}

    def ordered(items: list[TestOutcome]) -> list[TestOutcome]:
        return sorted(items, key=lambda o: order.get(o.grade_id, 0))
    if alignment is None or state is None:
        return ordered([*outcomes.values(), *written])
    results = state.get("cells", [])
    numbers = _own_numbers(alignment, state)
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
                    outcome.errors.append(redact(f"hidden tests: {head}"))
                else:
                    trace = [numbers(line) for line in r.get("traceback", [])[-20:]]
                    outcome.errors.append(redact("visible tests:\n" + "\n".join(trace or [head])))
            elif r["status"] in ("kernel-died", "not-run"):
                died = r["status"] == "kernel-died" or (
                    state.get("deaths") and r["status"] == "not-run" and not state.get("timed_out"))
                outcome.errors.append(("hidden" if cell.hidden else "visible") + " tests: not run ("
                                      + ("Python stopped during this exercise" if died else
                                         "the notebook stopped before this cell") + ")")
        if seen and outcome.visible == "passed" and outcome.hidden in ("passed", "none"):
            outcome.points = outcome.max_points
        for why in alignment.forbidden.get(key, []):
            outcome.points = 0.0
            outcome.errors.insert(0, f"forbidden: {why}; these tests score 0.")
    return ordered([*outcomes.values(), *written])


def _own_numbers(alignment: Alignment, state: dict):
    """A function rewriting IPython's "Cell In[26], line 3" as "your cell 7, line 3" (the student's numbers)."""
    by_count = {}
    for index, result in enumerate(state.get("cells", [])):
        if index < len(alignment.cells) and isinstance(result.get("execution_count"), int):
            cell = alignment.cells[index]
            if cell.role != "harness" and not cell.hidden:  # the cells IPython numbers
                by_count.setdefault(result["execution_count"], cell)

    def rewrite(text: str) -> str:
        def one(match: re.Match) -> str:
            cell = by_count.get(int(match.group(1)))
            return f"{describe_cell(cell)}, line {match.group(2)}" if cell else f"line {match.group(2)}"
        return _CELL_IN.sub(one, text)
    return rewrite


def _exercise_at(alignment: Alignment, index: int) -> str:
    """The exercise a graded cell belongs to: that of the first test cell at or after it."""
    for cell in alignment.cells[index:]:
        if cell.role == "test":
            return cell.title or cell.grade_id or "an exercise"
    return "the end of the notebook"


def _run_problems(alignment: Alignment, state: dict) -> dict[str, list[str]]:
    """The statuses the run itself earned (kernel death, limits, exits, output, the harness, the grader)."""
    problems: dict[str, list[str]] = {}
    add = lambda status, message: problems.setdefault(status, []).append(message)  # noqa: E731
    deaths = [i for i in state.get("deaths", []) if isinstance(i, int)]
    for index in deaths:
        add("kernel-died", f"the kernel died during {_exercise_at(alignment, index)} (a crash, os._exit, or a "
                           "resource limit); a new kernel re-ran the set-up and your cells and graded the "
                           "exercises after it")
    if state.get("kernel_died") and not deaths:
        add("kernel-died", "the kernel died (a crash, os._exit, or a resource limit); later cells did not run")
    if state.get("timed_out"):
        add("timeout", "the notebook ran past its time limit; later cells did not run")
    for index, result in enumerate(state.get("cells", [])):
        cell = alignment.cells[index] if index < len(alignment.cells) else None
        where, ename = describe_cell(cell), result.get("ename")
        if ename == "CellTimeoutError" and not state.get("timed_out"):
            add("cell-timeout", f"{where} ran past the per-cell limit")
        if ename == "SystemExit":
            add("sys-exit", f"{where} called sys.exit()")
        if cell is not None and cell.role == "harness" and result.get("status") == "error":
            detail = result.get("evalue", "") if ename == harness.RESTORED_ERROR else f"{ename}: {result.get('evalue', '')}"
            add("needs-review", f"before {where}, {detail[:300]} (an earlier cell patched it)"
                if ename == harness.RESTORED_ERROR else f"the grader's reset failed before {where} ({detail[:300]})")
    if state.get("huge_output_cells"):
        where = ", ".join(describe_cell(alignment.cells[i]) for i in state["huge_output_cells"] if i < len(alignment.cells))
        add("huge-output", f"{where} printed more than the output limit")
    if state.get("worker_error"):
        add("grader-error", f"the grader's worker failed: {state['worker_error']}")
    return problems


def _cell_errors(alignment: Alignment, state: dict, redact: Redactor) -> list[str]:
    """Exceptions raised in the student's own cells, as the feedback shows them (hidden code redacted)."""
    errors, numbers = [], _own_numbers(alignment, state)
    for index, result in enumerate(state.get("cells", [])):
        cell = alignment.cells[index] if index < len(alignment.cells) else None
        if cell is not None and cell.role in ("answer", "extra") and result.get("status") == "error" \
                and result.get("ename") not in ("CellTimeoutError", "SystemExit"):
            trace = "\n".join(numbers(line) for line in result.get("traceback", [])[-12:])
            errors.append(redact(f"{describe_cell(cell)} raised {result.get('ename')}: "
                                 f"{result.get('evalue', '')}\n{trace}"))
    return errors


def finish(lab: SolutionLab, submission: Submission, alignment: Alignment | None,
            state: dict | None, seconds: float = 0.0) -> GradeResult:
    problems: dict[str, list[str]] = {}
    if submission.status != "ok":
        problems[submission.status] = [submission.reason]
    notes: list[str] = []
    if alignment is not None:
        for status, messages in alignment.problems.items():
            if status in NOTES:
                notes.append(NOTES[status])
            else:
                problems.setdefault(status, []).extend(messages)
        if not _attempted(lab, alignment):
            problems.setdefault("not-attempted", []).append("no answer differs from the lab as distributed")
    own_code = [c.source for c in alignment.cells if c.role in ("answer", "extra")] if alignment else []
    redact = Redactor(lab.hidden_lines, [*lab.public_texts, *own_code])
    outcomes = test_outcomes(lab, alignment, state, redact)
    errors: list[str] = []
    if state is not None and alignment is not None:
        for status, messages in _run_problems(alignment, state).items():
            problems.setdefault(status, []).extend(messages)
        errors = _cell_errors(alignment, state, redact)
        suspicious = [o.grade_id for o in outcomes if o.visible == "passed" and o.hidden == "failed"]
        if suspicious:
            problems.setdefault("passes-visible-only", []).append(
                ", ".join(suspicious) + ": the visible tests pass, the hidden tests fail")
    if redact.count:
        problems.setdefault("needs-review", []).append(
            f"hidden test code reached the feedback ({redact.count} line(s) redacted): the code printed or "
            "raised what the tests run")
    status = min(problems, key=lambda s: _SEVERITY.get(s, -1)) if problems else "ok"
    # Every problem, most severe first, each prefixed by its status so the sheet can be filtered.
    reason = "; ".join(dict.fromkeys([*(f"{s}: {m}" for s in sorted(problems, key=_SEVERITY.get)
                                        for m in problems[s]), *(f"note: {n}" for n in notes)]))
    return GradeResult(student=submission.student, file=submission.path.name, status=status,
                       reason=reason, outcomes=outcomes, max_points=lab.max_points, seconds=seconds,
                       cell_errors=errors, lab=lab.path.stem, redacted=redact.count, redactor=redact,
                       written=dict(alignment.written) if alignment is not None else {})


def _attempted(lab: SolutionLab, alignment: Alignment) -> bool:
    """Whether any answer differs from its stub, or the student added code of their own."""
    from .solution import normalize_source

    stubs = {c.grade_id: normalize_source(c.lab_source) for c in lab.cells if c.role == "answer"}
    return any(alignment.written.values()) or any(c.role == "extra" and c.source.strip() for c in alignment.cells) or any(
        c.role == "answer" and normalize_source(c.source) != stubs.get(c.grade_id) for c in alignment.cells)


#: Statuses with which nothing of the submission was graded.
UNGRADED = ("grader-error", "empty-file", "invalid-json", "not-a-notebook", "wrong-notebook")


def was_graded(result: GradeResult) -> bool:
    """Whether the submission's code was run and scored (its status is not one of :data:`UNGRADED`)."""
    return result.status not in UNGRADED
