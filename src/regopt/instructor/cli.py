"""The ``regopt`` command: generate the labs, grade submissions.

``regopt labs``
    Write ``labs/NN_topic.ipynb`` from every ``solutions/NN_topic.ipynb``.
``regopt labs --check``
    Exit 1 (and say which) if a lab is missing or differs from what its solution
    generates; nothing is written.
``regopt grade SOLUTION SUBMISSIONS_DIR --out grades.csv``
    Grade every file of ``SUBMISSIONS_DIR`` (see :mod:`regopt.instructor.grading`): one CSV
    row per file and one HTML feedback file per student.

Exit status: 0 when the command did its job (for ``grade``: it graded every
file it could, whatever the submissions contained); 1 when ``labs --check``
finds stale labs, or when the solution does not score full marks on itself
(``--check-solution``); 2 for an instructor's mistake (a missing solution, a
malformed solution, a bad path or option), with a message saying what to fix.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_INSTRUCTOR_ERROR = 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected a positive integer")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regopt", description="Course tools: generate labs, grade submissions.")
    commands = parser.add_subparsers(dest="command", required=True)

    labs = commands.add_parser("labs", help="generate labs/ from solutions/ (or check it is up to date)")
    labs.add_argument("--check", action="store_true", help="write nothing; exit 1 if labs/ is out of date")
    labs.add_argument("--root", type=Path, default=None, help="course repository (default: found from cwd)")

    grade = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument("solution", type=Path, help="the solution notebook, e.g. solutions/01_penalties.ipynb")
    grade.add_argument("submissions", type=Path, help="folder with one submitted file per student")
    grade.add_argument("--out", type=Path, required=True, help="the CSV grade sheet to write")
    grade.add_argument("--feedback-dir", type=Path, default=None,
                       help="where to write one HTML feedback file per student (default: feedback/ beside --out)")
    grade.add_argument("--timeout", type=_positive_float, default=600.0,
                       help="seconds a whole notebook may run (default 600)")
    grade.add_argument("--cell-timeout", type=_positive_float, default=60.0,
                       help="seconds one cell may run before it is interrupted (default 60; the longest "
                            "cell of a solved Lab 1 takes seconds in fast mode)")
    grade.add_argument("--jobs", type=_positive_int, default=1,
                       help="submissions graded at once, each in its own process and kernel (default 1)")
    grade.add_argument("--full", action="store_true",
                       help="run at full size (default: REGOPT_FAST=1, as the tests hold at any size)")
    grade.add_argument("--max-output", type=_positive_int, default=1_000_000,
                       help="bytes of output one cell may print before it is flagged (default 1000000)")
    grade.add_argument("--check-solution", action="store_true",
                       help="also grade the solution itself first and exit 1 if it misses any point")
    grade.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def _labs(args: argparse.Namespace) -> int:
    from . import labs

    if args.check:
        problems = labs.stale_labs(args.root)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("Run `regopt labs` to regenerate labs/ from solutions/.", file=sys.stderr)
            return EXIT_FAILED_CHECK
        print("labs/ is up to date.")
        return EXIT_OK
    for path in labs.generate_labs(args.root):
        print(f"wrote {path}")
    return EXIT_OK


def _grade(args: argparse.Namespace) -> int:
    from . import grading

    lab = grading.load_solution(args.solution)  # fail early, before any kernel starts
    if args.out.exists() and args.out.is_dir():
        raise grading.InstructorError(f"--out {str(args.out)!r} is a folder; expected a CSV file name.")
    feedback_dir = args.feedback_dir or args.out.parent / "feedback"
    options = dict(cell_timeout=args.cell_timeout, timeout=args.timeout, jobs=args.jobs, full=args.full,
                   max_output_bytes=args.max_output)

    if args.check_solution:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "solution.ipynb"
            copy.write_bytes(args.solution.read_bytes())
            [own] = grading.grade_folder(args.solution, tmp, **options)
        if own.total < own.max_points or own.status not in ("ok",):
            print(f"error: the solution scores {own.total} / {own.max_points} on its own tests "
                  f"(status {own.status}: {own.reason}); fix it or raise the time limits.", file=sys.stderr)
            return EXIT_FAILED_CHECK

    started = time.monotonic()

    def progress(result: grading.GradeResult, done: int, total: int) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {result.file}: {grading._number(result.total)} / "
                  f"{grading._number(result.max_points)} ({result.status})", flush=True)

    results = grading.grade_folder(args.solution, args.submissions, progress=progress, **options)
    grading.write_csv(results, lab, args.out)
    grading.write_feedback(results, lab, feedback_dir)
    elapsed = time.monotonic() - started
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"Graded {len(results)} file(s) in {elapsed:.0f} s ({summary}); wrote {args.out} and "
          f"{feedback_dir}/.")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``regopt`` console script; returns the exit status."""
    if "jsonschema" not in sys.modules:
        # nbformat imports jsonschema, which imports rfc3987_syntax when it can, only to check
        # "iri" formats that notebooks never use; building its grammar costs seconds per command.
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from .grading import InstructorError
    from .labs import LabError

    args = _parser().parse_args(argv)
    try:
        if args.command == "labs":
            return _labs(args)
        return _grade(args)
    except (InstructorError, LabError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INSTRUCTOR_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
