"""Before a graded notebook runs: its code read with ``ast``, and the grader's harness cells added."""

from __future__ import annotations

from .. import codecheck, harness
from .matching import Alignment, GradedCell, describe_cell
from .solution import SolutionLab

__all__ = ["check_code", "add_harness"]


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
    reports = codecheck.analyze([("hidden" if c.role == "test" and c.hidden else c.role, c.source)
                                 for c in alignment.cells], answer_names=answer_names)
    for cell, report in zip(alignment.cells, reports):
        for note in dict.fromkeys(report.review):
            alignment.add("needs-review", f"{describe_cell(cell)}, {note}")
    for test in lab.tests:
        if not test.forbidden:
            continue
        answers, first, last = _graded_by(lab)[test.key]
        for cell, report in zip(alignment.cells, reports):
            mine = (cell.role == "answer" and cell.grade_id in answers) or \
                   (cell.role == "extra" and first <= cell.slot < last)
            for use in codecheck.forbidden_uses(report, test.forbidden) if mine else []:
                why = (f"{describe_cell(cell)} uses {use.name} (line {use.line}); this exercise asks you to write it "
                       f"yourself, without {', '.join(test.forbidden)}")
                alignment.forbidden.setdefault(test.key, []).append(why)
                alignment.add("forbidden-name", f"{test.key}: {why}")


def add_harness(lab: SolutionLab, alignment: Alignment) -> None:
    """Insert the grader's own cells (:mod:`regopt.instructor.harness`) around the lab's and the student's.

    The harness gets a fresh random name per submission (``alignment.harness_name``).
    """
    answer_names = set().union(*(codecheck.bound_names(c.source) for c in lab.cells if c.role == "answer"))
    name = alignment.harness_name = harness.new_name()
    out = [GradedCell("harness", harness.prologue(name, answer_names))]
    snapshot_taken = False
    for cell in alignment.cells:
        if cell.role in ("answer", "extra", "stub") and not snapshot_taken:
            out.append(GradedCell("harness", harness.snapshot(name)))
            snapshot_taken = True
        if cell.role == "test":
            out.append(GradedCell("harness", harness.reset(name, cell.hidden), cell.grade_id, hidden=cell.hidden))
        out.append(cell)
        if cell.role == "test" and cell.hidden:
            out.append(GradedCell("harness", harness.forget(name), cell.grade_id, hidden=True))
        # Names such as _ are IPython's too (the last result): only the lab's public names are kept.
        helpers = {n for n in codecheck.bound_names(cell.source) - answer_names
                   if not n.startswith("_")} if cell.role == "context" else set()
        if helpers:
            out.append(GradedCell("harness", harness.keep_source(sorted(helpers), name)))
    alignment.cells = out
