"""The solution notebook, read for grading: its cells, their roles, the tests' hidden parts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import labs

__all__ = ["InstructorError", "SolutionCell", "SolutionLab", "load_solution", "normalize_source", "split_hidden"]


class InstructorError(Exception):
    """A mistake on the instructor's side (bad path, bad solution): grading cannot start."""


# --------------------------------------------------------------------------- solution


@dataclass
class SolutionCell:
    """One cell of the solution: its role, its text there and as the student received it."""

    index: int
    cell_type: str
    role: str  # "answer", "test", "written" (a markdown answer graded by hand) or "context"
    grade_id: str | None
    source: str
    lab_source: str
    points: float = 0.0
    #: Dotted names the answers graded by this test cell must not use (``regopt.forbidden`` metadata).
    forbidden: list[str] = field(default_factory=list)
    #: For a test cell: the exercise's title, from the last heading before it ("Exercise 2: ...").
    title: str = ""
    #: For a written answer: what the grader looks for (``regopt.rubric`` metadata).
    rubric: str = ""

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
    def graded(self) -> list[SolutionCell]:
        """Test cells and written answers, in the notebook's order: the columns of the grade sheet."""
        return [c for c in self.cells if c.role in ("test", "written")]

    @property
    def written(self) -> list[SolutionCell]:
        """The written answers, graded by hand (markdown answer cells with points)."""
        return [c for c in self.cells if c.role == "written"]

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.tests) + sum(c.points for c in self.written)

    @property
    def public_texts(self) -> list[str]:
        """Every cell as the student received it (hidden tests removed): no secret in there."""
        return [c.lab_source for c in self.cells]


def normalize_source(source: str) -> str:
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
    cells, hidden_lines, heading = [], [], ""
    for index, (cell, lab_cell) in enumerate(zip(nb.cells, student.cells)):
        if cell.cell_type == "markdown":
            headings = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("##")
                        and labs.SOLUTION_BEGIN not in line and labs.SOLUTION_END not in line]
            heading = _POINTS.sub("", headings[-1]).strip() if headings else heading
        meta = cell.metadata.get("nbgrader", {}) or {}
        role = ("written" if meta.get("solution") and meta.get("grade") and cell.cell_type == "markdown" else
                "answer" if meta.get("solution") else "test" if meta.get("grade") else "context")
        forbidden = (cell.metadata.get("regopt") or {}).get("forbidden", []) if role == "test" else []
        cells.append(SolutionCell(index=index, cell_type=cell.cell_type, role=role,
                                  grade_id=meta.get("grade_id"), source=cell.source,
                                  lab_source=lab_cell.source, points=float(meta.get("points", 0) or 0),
                                  forbidden=list(forbidden), title=heading if role in ("test", "written") else "",
                                  rubric=str((cell.metadata.get("regopt") or {}).get("rubric", ""))
                                  if role == "written" else ""))
        if role == "test":
            for part_hidden, part in split_hidden(cell.source):
                if part_hidden:
                    hidden_lines += [line.strip() for line in part.splitlines() if len(line.strip()) >= 8]
    title = nb.cells[0].source.strip().splitlines()[0].lstrip("# ").strip()
    return SolutionLab(path=path, title=title, cells=cells, hidden_lines=hidden_lines)


_POINTS = re.compile(r"\s*\(\s*\d+(\.\d+)?\s+points?\s*\)\s*$")


def split_hidden(source: str) -> list[tuple[bool, str]]:
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
