"""Grading a folder: one submission at a time or several at once, never stopped by one of them."""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from .. import runner, sandbox
from .checks import add_harness, check_code
from .matching import build_graded_notebook, graded_notebook
from .scoring import GradeResult, finish, test_outcomes
from .solution import InstructorError, SolutionLab, load_solution
from .submission import read_submission

__all__ = ["list_submissions", "student_of", "grade_submission", "grade_folder"]


#: Moodle's "download all submissions": one folder per student, "Full Name_12345_assignsubmission_file_".
_MOODLE = re.compile(r"^(?P<who>.+?)_(?P<id>\d+)_assign(?:submission|feedback)_\w*?_?$")


def student_of(path: Path, root: Path | None = None) -> str:
    """Who handed ``path`` in: its stem, or its folder's name when it sits in a per-student folder."""
    if root is not None and path.parent != root and path.parent.parent == root:
        match = _MOODLE.match(path.parent.name)
        return f"{match['who']}_{match['id']}" if match else path.parent.name
    return path.stem


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name != "__MACOSX"


def list_submissions(*places: str | Path) -> list[Path]:
    """The submitted files: regular files of each folder (not hidden, sorted), or the files named.

    A folder may hold one subfolder per student (a learning platform's download, Moodle's
    layout): each subfolder's notebook (``.ipynb``; else its only file) is that student's.
    """
    files: list[Path] = []
    for place in places:
        place = Path(place)
        if place.is_file():
            files.append(place)
            continue
        if not place.is_dir():
            raise InstructorError(f"Submissions {str(place)!r} does not exist or is not a folder (or a file).")
        found = sorted(p for p in place.iterdir() if p.is_file() and _visible(p))
        for folder in sorted(p for p in place.iterdir() if p.is_dir() and _visible(p)):
            inside = sorted(p for p in folder.iterdir() if p.is_file() and _visible(p))
            notebooks = [p for p in inside if p.suffix.lower() == ".ipynb"]
            found += notebooks or inside[:1]
        if not found:
            raise InstructorError(f"Submissions folder {str(place)!r} holds no file to grade.")
        files += found
    if not files:
        raise InstructorError("No submission given: expected a folder or files.")
    return files


def grade_submission(lab: SolutionLab, path: Path, options: runner.RunOptions, scratch: Path,
                     student: str | None = None) -> GradeResult:
    """Grade one file; every failure of the submission ends up in the result, not raised."""
    started = time.monotonic()
    submission = read_submission(path)
    if student:
        submission.student = student
    if submission.nb is None:
        return finish(lab, submission, None, None)
    alignment = build_graded_notebook(lab, submission)
    if "wrong-notebook" in alignment.problems:
        return finish(lab, submission, alignment, None)
    check_code(lab, alignment)
    add_harness(lab, alignment)
    text = nbformat.writes(graded_notebook(alignment))
    state = runner.run_notebook(text, len(alignment.cells), options, scratch, label=_safe_name(path.name))
    return finish(lab, submission, alignment, state, time.monotonic() - started)


def _check_options(options: runner.RunOptions) -> None:
    for name in ("cell_timeout", "timeout"):
        value = getattr(options, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise InstructorError(f"{name}={value!r} is invalid; expected a positive number of seconds.")
    if isinstance(options.jobs, bool) or not isinstance(options.jobs, int) or options.jobs < 1:
        raise InstructorError(f"jobs={options.jobs!r} is invalid; expected a positive integer.")
    if options.isolation not in ("auto", "bwrap", "unshare", "none"):
        raise InstructorError(f"isolation={options.isolation!r} is invalid; expected auto, bwrap, unshare or none.")


def grade_folder(solution: str | Path, submissions: str | Path | list, *,
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
    places = submissions if isinstance(submissions, (list, tuple)) else [submissions]
    files = list_submissions(*places)
    folders = [Path(p) for p in places if Path(p).is_dir()]
    roots = [next((d for d in folders if f.parent.parent == d), None) for f in files]
    students = [student_of(f, root) for f, root in zip(files, roots)]
    # In per-student folders, files often share a name: the sheet says which folder.
    names = [str(f.relative_to(root)) if root is not None else f.name for f, root in zip(files, roots)]
    message = runner.isolation_notice(sandbox.isolation(run_options.isolation))
    if message:
        (notice or (lambda line: print(line, file=sys.stderr)))(message)
    results: list[GradeResult | None] = [None] * len(files)
    with tempfile.TemporaryDirectory(prefix="regopt-grade-") as scratch:
        def one(i: int) -> None:
            try:
                result = grade_submission(lab, files[i], run_options, Path(scratch), students[i])
            except Exception as error:  # a grader bug must not lose the batch, nor blame the student
                result = GradeResult(students[i], names[i], "grader-error",
                                     f"grader-error: {type(error).__name__}: {error}",
                                     test_outcomes(lab, None, None), lab.max_points, lab=lab.path.stem)
            result.file = names[i]
            results[i] = result
            if progress is not None:
                progress(result, sum(r is not None for r in results), len(files))

        with ThreadPoolExecutor(max_workers=run_options.jobs) as pool:
            list(pool.map(one, range(len(files))))
    return [r for r in results if r is not None]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "submission"
