"""Matching a submission's cells to the solution's, and assembling the notebook that is run.

The rule is stated in full in :mod:`regopt.instructor.grading`. Names a cell defines
are read with :mod:`ast`; texts are compared with :mod:`difflib`, cut to a bounded
length first so that no submission can make the comparison slow.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

from .. import codecheck, labs
from .solution import SolutionCell, SolutionLab, normalize_source, split_hidden
from .submission import Submission

__all__ = ["GradedCell", "Alignment", "build_graded_notebook", "graded_notebook", "describe_cell",
           "defined_names"]


@dataclass
class GradedCell:
    """A cell of the notebook that is actually run."""

    role: str  # "context", "answer", "stub", "extra", "test"
    source: str
    grade_id: str | None = None
    hidden: bool = False
    #: For a cell the student added (or a stub put back): the solution cell it follows (-1: the top).
    slot: int = -1
    #: The cell's number in the student's own notebook (1 for the first cell; 0: not theirs).
    number: int = 0
    #: For a test cell: its exercise's title.
    title: str = ""


@dataclass
class Alignment:
    cells: list[GradedCell]
    problems: dict[str, list[str]] = field(default_factory=dict)
    #: Test grade id -> why its answers use a forbidden name (the test scores 0).
    forbidden: dict[str, list[str]] = field(default_factory=dict)
    #: The name the grader's harness has in this submission's kernel (drawn by ``add_harness``).
    harness_name: str = ""
    #: Written answers (grade id -> the student's markdown; "" when left as distributed or not found).
    written: dict[str, str] = field(default_factory=dict)

    def add(self, status: str, message: str) -> None:
        self.problems.setdefault(status, []).append(message)


_THRESHOLD = 0.5


def _kept_lines(lab_source: str) -> list[str]:
    stub_lines = {line.strip() for line in labs.CODE_STUB.splitlines()}
    return [line.strip() for line in lab_source.splitlines()
            if line.strip() and line.strip() not in stub_lines and not line.strip().startswith("#")]


#: Texts longer than this are cut before they are compared (difflib is quadratic in the worst case).
_COMPARED_CHARS = 3000


def defined_names(source: str) -> set[str]:
    """Names a cell defines at top level (functions, classes, variables, imports), read with ``ast``.

    A cell that does not parse (a student's syntax error) is read up to its first bad line.
    """
    lines = source.split("\n")
    for _ in range(20):
        names = codecheck.bound_names("\n".join(lines))
        if names or not lines:
            return names
        try:
            compile("\n".join(lines), "<cell>", "exec", dont_inherit=True)
            return names
        except SyntaxError as error:
            lines = lines[: max(0, (error.lineno or 1) - 1)]
        except ValueError:
            return set()
    return set()


def _likeness(candidate: str, reference: str) -> float:
    """How much ``candidate`` looks like ``reference`` (a stub or a test), in [0, 1].

    The largest of: the similarity of the two texts; the fraction of the
    reference's kept lines (its ``def`` line, say) found in the candidate; the
    fraction of the names the reference defines that the candidate defines too.
    """
    candidate, reference = normalize_source(candidate), normalize_source(reference)
    if not candidate or not reference:
        return 0.0
    matcher = difflib.SequenceMatcher(None, candidate[:_COMPARED_CHARS], reference[:_COMPARED_CHARS],
                                      autojunk=False)
    scores = [matcher.ratio()]
    kept = _kept_lines(reference)
    if kept:
        present = {line.strip() for line in candidate.splitlines()}
        scores.append(sum(line in present for line in kept) / len(kept))
    names = defined_names(reference)
    if names:
        scores.append(len(names & defined_names(candidate)) / len(names))
    return max(scores)


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest subsequence of (solution index, position) pairs increasing in both."""
    pairs = sorted(pairs)
    best: list[list[tuple[int, int]]] = []
    for pair in pairs:
        chain = max((c for c in best if c[-1][1] < pair[1]), key=len, default=[])
        best.append(chain + [pair])
    return max(best, key=len, default=[])


@dataclass
class _Match:
    """The state of one matching, phase after phase."""

    lab: SolutionLab
    cells: list
    alignment: Alignment
    landmark_of: dict[int, SolutionCell] = field(default_factory=dict)  # position -> solution cell
    answer_claims: dict[int, list[int]] = field(default_factory=dict)  # solution index -> positions
    has_metadata: bool = False
    dropped: set[int] = field(default_factory=set)
    anchors: dict[int, int] = field(default_factory=dict)  # solution index -> position
    claimed: set[int] = field(default_factory=set)
    answer_choice: dict[int, int | None] = field(default_factory=dict)
    found_tests: set[int] = field(default_factory=set)
    extras: list[int] = field(default_factory=list)
    written_at: dict[int, int] = field(default_factory=dict)  # written answer's solution index -> position


def _find_landmarks(m: _Match) -> None:
    """Rule 1 and 2: cells found by grade id (same type) or by their text as the student received it."""
    by_id = {c.grade_id: c for c in m.lab.cells if c.grade_id}
    by_text: dict[tuple[str, str], list[SolutionCell]] = {}
    for sol in m.lab.cells:
        if sol.role not in ("answer", "written"):
            for text in {normalize_source(sol.lab_source), normalize_source(sol.source)}:
                if text:
                    by_text.setdefault((sol.cell_type, text), []).append(sol)
    for position, cell in enumerate(m.cells):
        meta = cell.metadata.get("nbgrader") if isinstance(cell.metadata.get("nbgrader"), dict) else {}
        grade_id = meta.get("grade_id")
        sol = by_id.get(grade_id) if isinstance(grade_id, str) else None
        if sol is not None and sol.cell_type == cell.cell_type:
            m.has_metadata = True
            if sol.role == "written":
                m.written_at.setdefault(sol.index, position)
                continue
            if sol.role == "answer":
                m.answer_claims.setdefault(sol.index, []).append(position)
            else:
                m.landmark_of[position] = sol
            continue
        same_text = by_text.get((cell.cell_type, normalize_source(cell.source)), [])
        taken = {sol.index for sol in m.landmark_of.values()}
        # Identical texts (two equal cells of the solution) are matched in order.
        free = [candidate for candidate in same_text if candidate.index not in taken]
        if same_text:
            m.landmark_of[position] = (free or same_text)[0]


def _keep_in_order(m: _Match) -> None:
    """A landmark found twice keeps its first copy; landmarks out of order (moved) are dropped."""
    first_position: dict[int, int] = {}
    for position in sorted(m.landmark_of):
        sol = m.landmark_of[position]
        if sol.index in first_position:
            m.dropped.add(position)
            if m.cells[position].cell_type == "code":
                m.alignment.add("duplicate-cells", f"{sol.key} appears more than once; extra copies were not run")
        else:
            first_position[sol.index] = position
    m.anchors = dict(_longest_increasing([(index, position) for index, position in first_position.items()]))
    for index, position in first_position.items():
        if index not in m.anchors:
            m.dropped.add(position)


def _is_this_lab(m: _Match) -> bool:
    """Grade ids such as "ex1-solution" recur from lab to lab: the lab's text decides."""
    prose = {normalize_source(sol.source) for sol in m.lab.cells if sol.cell_type == "markdown"} - {""}
    return any(normalize_source(cell.source) in prose for cell in m.cells if cell.cell_type == "markdown")


def _choose(m: _Match, sol: SolutionCell, positions: list[int]) -> int:
    """Rule 4: of several cells answering ``sol``, the last one that differs from the stub."""
    edited = [p for p in positions if normalize_source(m.cells[p].source) != normalize_source(sol.lab_source)]
    if len(positions) > 1:
        m.alignment.add("duplicate-cells", f"the answer {sol.key} appears {len(positions)} times; "
                                           "the last edited copy was used")
    return (edited or positions)[-1]


def _answers_with_metadata(m: _Match) -> None:
    for position, sol in m.landmark_of.items():  # edited test cells carrying their metadata
        texts = {normalize_source(sol.lab_source), normalize_source(sol.source)}
        if sol.role == "test" and position not in m.dropped and normalize_source(m.cells[position].source) not in texts:
            m.alignment.add("tests-restored", f"{sol.key} was edited; the solution's version was used")
    m.claimed = set(m.landmark_of) | {p for ps in m.answer_claims.values() for p in ps}
    for index, positions in m.answer_claims.items():
        m.answer_choice[index] = _choose(m, m.lab.cells[index], positions)


def _candidates(m: _Match, sol: SolutionCell) -> list[int]:
    """Rule 3: unclaimed code cells between the answer's two landmarks that resemble its stub most."""
    anchor_indices = sorted(m.anchors)
    before = [i for i in anchor_indices if i < sol.index]
    after = [i for i in anchor_indices if i > sol.index]
    low = m.anchors[before[-1]] if before else -1
    high = m.anchors[after[0]] if after else len(m.cells)
    others = [c for c in m.lab.cells if c.role == "answer" and c.index != sol.index]
    tests_near = [c for c in m.lab.cells if c.role == "test"
                  and (before[-1] if before else -1) < c.index < (after[0] if after else len(m.lab.cells))]
    matching = []
    for p in range(low + 1, high):
        if p in m.claimed or p in m.dropped or m.cells[p].cell_type != "code":
            continue
        like = _likeness(m.cells[p].source, sol.lab_source)
        if like < _THRESHOLD or any(_likeness(m.cells[p].source, o.lab_source) > like for o in others):
            continue
        if any(_likeness(m.cells[p].source, t.lab_source) > like for t in tests_near):
            continue
        matching.append(p)
    return matching


def _answers_without_metadata(m: _Match) -> None:
    stripped = []
    for sol in m.lab.cells:
        if sol.role != "answer" or sol.index in m.answer_choice:
            continue
        matching = _candidates(m, sol)
        if not matching:
            m.answer_choice[sol.index] = None
            continue
        m.answer_choice[sol.index] = _choose(m, sol, matching)
        m.claimed.update(matching)
        m.dropped.update(p for p in matching if p != m.answer_choice[sol.index])
        stripped.append(sol.key)
    if stripped:
        m.alignment.add("metadata-stripped", "answers found by position and content: " + ", ".join(stripped))


def _remaining_cells(m: _Match) -> None:
    """Rule 5 and 6: the other code cells are modified tests (not run), stub copies, or the student's own."""
    stub_texts = {normalize_source(c.lab_source) for c in m.lab.cells if c.role == "answer"}
    m.found_tests = {sol.index for sol in m.landmark_of.values() if sol.role == "test"}
    for position, cell in enumerate(m.cells):
        if position in m.claimed or position in m.dropped or cell.cell_type != "code" or not cell.source.strip():
            continue
        text = normalize_source(cell.source)
        if text in stub_texts:
            m.alignment.add("duplicate-cells", "an extra copy of an answer's stub was not run")
            continue
        test_like = max(((_likeness(text, t.lab_source), t) for t in m.lab.tests), key=lambda x: x[0],
                        default=(0, None))
        answer_like = max((_likeness(text, c.lab_source) for c in m.lab.cells if c.role == "answer"), default=0)
        if test_like[1] is not None and test_like[0] >= _THRESHOLD and test_like[0] > answer_like:
            m.alignment.add("tests-restored", f"{test_like[1].key} was edited; the solution's version was used"
                            if test_like[1].index not in m.found_tests else
                            f"a modified copy of {test_like[1].key} was not run")
            m.found_tests.add(test_like[1].index)
            continue
        m.extras.append(position)
    for sol in m.lab.tests:
        if sol.index not in m.found_tests:
            m.alignment.add("tests-restored", f"{sol.key} was not found (deleted?); the solution's version was used")


def _attached(m: _Match) -> dict[int, list[GradedCell]]:
    """Each added cell after the solution cell that precedes it; stubs for answers found nowhere."""
    position_of = dict(m.anchors)
    position_of.update({i: p for i, p in m.answer_choice.items() if p is not None})
    attached: dict[int, list[GradedCell]] = {}
    for position in m.extras:
        preceding = [i for i, p in position_of.items() if p < position]
        slot = max(preceding, key=lambda i: position_of[i]) if preceding else -1
        attached.setdefault(slot, []).append(GradedCell("extra", m.cells[position].source, slot=slot,
                                                        number=position + 1))
    defined_by_student = set().union(*(defined_names(m.cells[p].source) for p in m.extras))
    for sol in m.lab.cells:
        if sol.role == "answer" and m.answer_choice.get(sol.index) is None:
            names = defined_names(sol.lab_source)
            if names and names <= defined_by_student:
                continue  # written in a cell of the student's own, which runs as they placed it
            m.alignment.add("missing-answer", f"no cell answering {sol.key} was found; its stub was used")
            previous = max((i for i in position_of if i < sol.index), default=-1)
            attached.setdefault(previous, []).insert(0, GradedCell("stub", sol.lab_source, sol.grade_id,
                                                                   slot=previous))
    return attached


def _assemble(m: _Match, attached: dict[int, list[GradedCell]]) -> None:
    out = m.alignment.cells
    out.extend(attached.get(-1, []))
    for sol in m.lab.cells:
        if sol.cell_type == "code":
            if sol.role == "answer":
                chosen = m.answer_choice.get(sol.index)
                if chosen is not None:
                    out.append(GradedCell("answer", m.cells[chosen].source, sol.grade_id, number=chosen + 1))
            elif sol.role == "test":
                for hidden, part in split_hidden(sol.source):
                    out.append(GradedCell("test", part, sol.grade_id, hidden=hidden, title=sol.title))
            else:
                out.append(GradedCell("context", sol.source, sol.grade_id))
        out.extend(attached.get(sol.index, []))


def _written_answers(m: _Match) -> None:
    """Each written answer: the markdown cell with its grade id, else the last free markdown cell
    between the landmarks around it (a notebook that lost its metadata)."""
    for sol in m.lab.written:
        position = m.written_at.get(sol.index)
        if position is None:
            before = [i for i in sorted(m.anchors) if i < sol.index]
            after = [i for i in sorted(m.anchors) if i > sol.index]
            low = m.anchors[before[-1]] if before else -1
            high = m.anchors[after[0]] if after else len(m.cells)
            free = [p for p in range(low + 1, high) if m.cells[p].cell_type == "markdown"
                    and p not in m.landmark_of and p not in m.written_at.values()]
            position = free[-1] if free else None
        text = m.cells[position].source.strip() if position is not None else ""
        unchanged = normalize_source(text) == normalize_source(sol.lab_source)
        m.alignment.written[sol.key] = "" if unchanged else text


def build_graded_notebook(lab: SolutionLab, submission: Submission) -> Alignment:
    """Assemble the cells to run for ``submission`` (see the matching rule in the package documentation)."""
    assert submission.nb is not None
    m = _Match(lab=lab, cells=submission.nb.cells, alignment=Alignment(cells=[]))
    _find_landmarks(m)
    _keep_in_order(m)
    if not _is_this_lab(m):
        m.alignment.add("wrong-notebook", "none of this lab's text cells were found (title, exercises)")
        return m.alignment
    _answers_with_metadata(m)
    _answers_without_metadata(m)
    _written_answers(m)
    _remaining_cells(m)
    attached = _attached(m)
    if not m.has_metadata and "metadata-stripped" not in m.alignment.problems:
        m.alignment.add("metadata-stripped", "the notebook carries no nbgrader metadata; cells matched by content")
    _assemble(m, attached)
    return m.alignment


def graded_notebook(alignment: Alignment) -> NotebookNode:
    """The notebook the worker runs: one code cell per graded cell, its role in the metadata."""
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})
    for cell in alignment.cells:
        code = nbformat.v4.new_code_cell(cell.source)
        # The worker keeps the grader's cells and hidden tests out of IPython's history (In, _ih).
        code.metadata["regopt"] = {"role": cell.role, "grade_id": cell.grade_id, "hidden": cell.hidden,
                                   "history": cell.role not in ("harness",) and not cell.hidden}
        nb.cells.append(code)
    return nb


def describe_cell(cell: GradedCell | None) -> str:
    """How the sheet and the feedback name a graded cell (the student's own cell numbers)."""
    if cell is None:
        return "a cell"
    if cell.role == "extra":
        return f"your cell {cell.number}" if cell.number else "a cell you added"
    if cell.role == "answer":
        return f"your cell {cell.number}" if cell.number else f"the cell {cell.grade_id}"
    if cell.role == "harness":
        return f"the tests {cell.grade_id}" if cell.grade_id else "the grader's set-up"
    if cell.role == "test":
        return f"the tests of {cell.title}" if cell.title else f"the tests {cell.grade_id}"
    return f"the lab's cell {cell.grade_id}" if cell.grade_id else "a cell"
