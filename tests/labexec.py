"""Running a lab's exercises in-process, for the tests/test_labNN.py files: an answer, then the
visible and the hidden part of its test cell, as the grader does (without a kernel)."""

from __future__ import annotations

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
