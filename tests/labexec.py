"""Running a lab's exercises in-process, for the tests/test_labNN.py files: an answer, then the
visible and the hidden part of its test cell, as the grader does (without a kernel)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from regopt.instructor import labs


def split_test(source: str) -> tuple[str, str]:
    """A test cell's visible part and its hidden part (with whatever follows it)."""
    visible, _, rest = source.partition(labs.HIDDEN_BEGIN)
    hidden, _, after = rest.partition(labs.HIDDEN_END)
    assert hidden.strip(), "every test cell of a lab has hidden tests"
    return visible, hidden + after


def run_answer_and_tests(scope: dict, exercise: str, answer: str, test_source: str) -> tuple[str, str] | None:
    """Run `answer` then the test cell in `scope`; return (failed part, error type), or None."""
    exec(compile(answer, f"{exercise}-answer", "exec"), scope)  # noqa: S102
    visible, hidden = split_test(test_source)
    for part, source in (("visible", visible), ("hidden", hidden)):
        try:
            exec(compile(source, f"{exercise}-{part}", "exec"), scope)  # noqa: S102
        except Exception as error:  # noqa: BLE001 - any error fails a test cell for the grader too
            return part, type(error).__name__
    return None


def defined_names(source: str) -> set[str]:
    """Top-level names an answer cell binds (functions, classes, assignments); imports stay."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


@functools.cache
def lab_stubs(solution: Path) -> dict[str, str]:
    """The generated lab's cells by grade id, as a student receives them."""
    lab = labs.generate_lab(solution)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in lab.cells if "nbgrader" in c.metadata}


def assert_skipped_exercise_fails(namespace: dict, exercise: str, cells: dict[str, str], solution: Path) -> None:
    """The generated lab's stub, left as it is, fails the exercise's tests (the answer's names unbound)."""
    stub_source = lab_stubs(solution)[f"{exercise}-solution"]
    assert "raise NotImplementedError()" in stub_source
    scope = {k: v for k, v in namespace.items() if k not in defined_names(cells[f"{exercise}-solution"])}
    try:
        exec(compile(stub_source, f"{exercise}-stub", "exec"), scope)  # noqa: S102
    except NotImplementedError:
        pass  # the grader runs on after an error, as here
    visible, hidden = split_test(cells[f"{exercise}-tests"])
    with pytest.raises(Exception):  # noqa: B017, PT011 - any error fails the test cell
        exec(compile(visible + hidden, f"{exercise}-tests", "exec"), scope)  # noqa: S102
