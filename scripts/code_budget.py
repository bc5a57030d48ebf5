"""What a reader sees of each chapter's code, counted from the notebooks' cell tags.

A code cell is visible on the website unless a tag removes or collapses it
(``remove-cell``, ``remove-input``, ``hide-input``, ``hide-cell``). The course's
budgets for a chapter page (issue 24): no ``glue(`` in visible code, no visible
cell over 30 lines, no visible line over 79 characters, at most 200 visible lines.
``tests/test_browser.py`` measures the same on the built site.

    python scripts/code_budget.py [NOTEBOOK ...]     # default: book/*.ipynb
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HIDDEN_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
MAX_CELL_LINES = 30
MAX_LINE_LENGTH = 79
MAX_CHAPTER_LINES = 200


def visible_cells(path: Path) -> list[list[str]]:
    """The visible code cells of a notebook, each as its lines (trailing blank lines dropped)."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        if HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        source = cell["source"]
        lines = ("".join(source) if isinstance(source, list) else source).rstrip().splitlines()
        if lines:
            cells.append(lines)
    return cells


def budget(path: Path) -> dict:
    """The counts of one notebook, and the list of what breaks a budget."""
    cells = visible_cells(path)
    lines = [line for cell in cells for line in cell]
    report = {
        "cells": len(cells),
        "lines": len(lines),
        "longest_cell": max((len(cell) for cell in cells), default=0),
        "glue_calls": sum(line.count("glue(") for line in lines),
        "long_lines": sum(len(line) > MAX_LINE_LENGTH for line in lines),
    }
    problems = []
    if report["glue_calls"]:
        problems.append(f"{report['glue_calls']} glue( calls in visible code")
    for number, cell in enumerate(cells, 1):
        if len(cell) > MAX_CELL_LINES:
            problems.append(f"visible cell {number} has {len(cell)} lines (at most {MAX_CELL_LINES}); "
                            f"it starts {cell[0][:60]!r}")
        for line in cell:
            if len(line) > MAX_LINE_LENGTH:
                problems.append(f"visible cell {number}: a line of {len(line)} characters "
                                f"(at most {MAX_LINE_LENGTH}): {line[:60]!r}...")
    if report["lines"] > MAX_CHAPTER_LINES:
        problems.append(f"{report['lines']} visible code lines (at most {MAX_CHAPTER_LINES})")
    report["problems"] = problems
    return report


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    paths = [Path(arg) for arg in argv] or sorted((root / "book").glob("*.ipynb"))
    print(f"{'notebook':36} cells lines longest glue long")
    failed = False
    for path in paths:
        report = budget(path)
        print(f"{path.name:36} {report['cells']:5} {report['lines']:5} {report['longest_cell']:7} "
              f"{report['glue_calls']:4} {report['long_lines']:4}")
        for problem in report["problems"]:
            print(f"    {problem}")
        failed |= bool(report["problems"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
