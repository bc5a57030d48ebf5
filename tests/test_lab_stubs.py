"""No exercise of any lab can be skipped for free.

For every solution in ``solutions/`` (new labs are picked up as they appear) and every
graded exercise (a test cell and the answer cells since the previous test cell): a
submission that answers everything but that exercise, whose answers are left as the
lab's stubs, must score below full marks.

Cheap: one kernel per lab, in fast mode. It runs the solution from top to bottom (every
test passes), then, exercise by exercise, runs the exercise's stubs and its test cell,
which must fail; when it does not, the later test cells run too, and one of them must
fail. The solution's answers are then run again, so the next exercise starts from a
solved notebook.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from regopt import config
from regopt.instructor import grading, labs

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = labs.solution_paths(ROOT)
CELL_TIMEOUT = 600


class Kernel:
    """A kernel that runs cells and says whether each raised."""

    def __init__(self, cwd: Path) -> None:
        env = dict(os.environ, **{config.FAST_ENV: "1", config.STATIC_ENV: "1"}, MPLBACKEND="agg")
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env)

    def run(self, source: str) -> str | None:
        """None when the cell ran; else the exception's name and message."""
        reply = self.kc.execute_interactive(source, timeout=CELL_TIMEOUT, output_hook=lambda msg: None,
                                            store_history=False)
        content = reply["content"]
        return None if content["status"] == "ok" else f"{content.get('ename')}: {content.get('evalue', '')[:200]}"

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def exercises(lab: grading.SolutionLab) -> list[tuple[grading.SolutionCell, list[grading.SolutionCell]]]:
    """(test cell, its answer cells) for every test cell graded on answers."""
    out, previous = [], -1
    for test in lab.tests:
        answers = [c for c in lab.cells if c.role == "answer" and previous < c.index < test.index]
        if answers:
            out.append((test, answers))
        previous = test.index
    return out


def free_exercises(solution: Path, cwd: Path) -> list[str]:
    """The test cells that still pass when their exercise is left as its stubs (see above)."""
    lab = grading.load_solution(solution)
    assert exercises(lab), f"{solution.name} has no graded exercise"
    kernel = Kernel(cwd)
    try:
        for cell in lab.cells:
            if cell.cell_type == "code":
                error = kernel.run(cell.source)
                assert error is None, f"{solution.name}: the solution's {cell.key} fails: {error}"
        free = []
        for test, answers in exercises(lab):
            for answer in answers:
                kernel.run(answer.lab_source)  # the stub (it may raise NotImplementedError itself)
            caught = kernel.run(test.source) is not None
            later = [t for t in lab.tests if t.index > test.index]
            while not caught and later:
                caught = kernel.run(later.pop(0).source) is not None
            if not caught:
                free.append(test.key)
            for answer in answers:
                error = kernel.run(answer.source)
                assert error is None, f"{solution.name}: re-running {answer.key} fails: {error}"
        return free
    finally:
        kernel.close()


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_no_exercise_can_be_skipped_for_free(solution, tmp_path):
    free = free_exercises(solution, tmp_path)
    assert not free, (f"{solution.name}: leaving the answers of {free} as their stubs still scores full "
                      "marks; their tests must fail on a stub")


def test_an_exercise_whose_test_checks_nothing_is_found(tmp_path):
    import minilab
    import nbformat

    nb = minilab.mini_solution()
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex2-tests")
    test.source = "cube  # looks at the answer, checks nothing"
    path = tmp_path / "98_roots.ipynb"
    nbformat.write(nb, path)
    assert free_exercises(path, tmp_path) == ["ex2-tests"]
