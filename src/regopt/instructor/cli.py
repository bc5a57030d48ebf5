"""The ``regopt`` command: generate the labs, grade submissions.

``regopt labs``
    Write ``labs/NN_topic.ipynb`` from every ``solutions/NN_topic.ipynb``.
``regopt merge-written SOLUTION --out grades/lab01.csv``
    Put the points and comments given to the written answers into the grade sheet and
    the feedback pages (:mod:`regopt.instructor.written`).
``regopt gradebook grades/*.csv --roster roster.csv --out grades/gradebook.csv [--canvas FILE]``
    One table per student across the labs (:mod:`regopt.instructor.gradebook`).
``regopt labs --check``
    Exit 1 (and say which) if a lab is missing or differs from what its solution
    generates; nothing is written.
``regopt grade SOLUTION SUBMISSIONS... --out grades/lab01.csv``
    Grade every file of a folder (or the files named; see :mod:`regopt.instructor.grading`):
    one CSV row per file, one HTML feedback page per student in ``feedback/LAB/`` beside
    the sheet, and a one-page summary of the class beside the CSV. An existing sheet of
    the same lab is updated (the rows of the files graded now replaced or added, the
    others kept); another lab's sheet or pages are never overwritten without ``--replace``.
    Every run says what it wrote.

Exit status: 0 when the command did its job (for ``grade``: it graded the files it
could, whatever the submissions contained); 1 when ``labs --check`` finds stale
labs, when the solution does not score full marks on itself (``--check-solution``),
or when not a single submission could be graded; 2 for an instructor's mistake (a
missing or malformed solution, a bad ``_config.yml``, a bad path or option, a
missing extra), with one line saying what to fix.

Arguments are parsed before anything heavy is imported: ``regopt grade --help``
and ``regopt labs`` never import torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED_CHECK = 1
EXIT_INSTRUCTOR_ERROR = 2
#: Modules of the ``instructor`` extra, named in the message when one is missing.
_EXTRA_MODULES = {"nbformat", "nbclient", "nbgrader", "yaml", "jupyter_client", "ipykernel", "matplotlib"}


def _number(kind: type, minimum: float, unit: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {unit}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected {unit} of at least {minimum}")
        return value
    return parse


_seconds = _number(float, 1e-9, "a positive number of seconds")
_count = _number(int, 1, "a positive integer")
_megabytes = _number(int, 1, "a positive number of megabytes")


def _version() -> str:
    from regopt import __version__

    return f"regopt {__version__}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regopt", description="Course tools: generate labs, grade submissions.")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)

    labs = commands.add_parser("labs", help="generate labs/ from solutions/ (or check it is up to date)")
    labs.add_argument("--check", action="store_true", help="write nothing; exit 1 if labs/ is out of date")
    labs.add_argument("--root", type=Path, default=None, help="course repository (default: found from cwd)")

    grade = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    grade.add_argument("solution", type=Path, help="the solution notebook, e.g. solutions/01_penalties.ipynb")
    grade.add_argument("submissions", type=Path, nargs="+",
                       help="a folder with one submitted file (or one subfolder, as Moodle downloads) per "
                            "student, or the files to (re)grade")
    grade.add_argument("--out", type=Path, required=True,
                       help="the CSV grade sheet to write or update (the class summary goes beside it)")
    grade.add_argument("--feedback-dir", type=Path, default=None,
                       help="where to write one HTML feedback file per student "
                            "(default: feedback/LAB/ beside --out, LAB the solution's name)")
    grade.add_argument("--replace", action="store_true",
                       help="rewrite --out with these files only, and overwrite another lab's sheet or pages "
                            "(default: update the rows of these files, keep the others, refuse another lab's)")
    grade.add_argument("--timeout", type=_seconds, default=600.0,
                       help="seconds a whole notebook may run (default 600)")
    grade.add_argument("--cell-timeout", type=_seconds, default=60.0,
                       help="seconds one cell may run before it is interrupted (default 60)")
    grade.add_argument("-j", "--jobs", type=_count, default=1,
                       help="submissions graded at once, each in its own process and kernel (default 1)")
    grade.add_argument("--full", action="store_true",
                       help="run at full size (default: REGOPT_FAST=1, as the tests hold at any size)")
    grade.add_argument("--max-output", type=_count, default=1_000_000,
                       help="bytes of output one cell may print before it is flagged (default 1000000)")
    limits = grade.add_argument_group("limits of each kernel")
    limits.add_argument("--memory", type=_megabytes, default=8192,
                        help="address space in MB (default 8192; torch alone reserves about 3500)")
    limits.add_argument("--max-processes", type=_count, default=512,
                        help="processes and threads of your user account (default 512; not enforced for root)")
    limits.add_argument("--max-file-size", type=_megabytes, default=256, help="largest file in MB (default 256)")
    limits.add_argument("--cpu-time", type=_count, default=None,
                        help="CPU seconds (default: the notebook's time limit times its threads, plus 60)")
    limits.add_argument("--isolation", choices=["auto", "bwrap", "unshare", "none"], default="auto",
                        help="sandbox for the kernels (default auto: bubblewrap, else unshare, else none)")
    grade.add_argument("--keep-workdir", type=Path, default=None, metavar="DIR",
                       help="keep, per submission, the graded notebook, the worker's log and what the "
                            "kernel wrote, under DIR/<file>/ (to debug one submission)")
    grade.add_argument("--check-solution", action="store_true",
                       help="also grade the solution itself first and exit 1 if it misses any point")
    grade.add_argument("--quiet", action="store_true", help="no progress lines")

    merge = commands.add_parser("merge-written", help="put the points and comments of the written answers' "
                                                      "sheets into the grade sheet and the feedback pages")
    merge.add_argument("solution", type=Path, help="the solution notebook")
    merge.add_argument("--out", type=Path, required=True, help="the lab's grade sheet (written by regopt grade)")
    merge.add_argument("--feedback-dir", type=Path, default=None,
                       help="the lab's feedback pages (default: feedback/LAB/ beside --out)")

    book = commands.add_parser("gradebook", help="one table per student across the labs' grade sheets")
    book.add_argument("sheets", type=Path, nargs="+", help="the labs' grade sheets (grades/lab01.csv ...)")
    book.add_argument("--roster", type=Path, default=None,
                      help="CSV with the columns student (or file) and id; name, login, section, canvas_id")
    book.add_argument("--out", type=Path, required=True, help="the gradebook CSV to write (keyed by student ID)")
    book.add_argument("--canvas", type=Path, default=None, help="also write Canvas's gradebook import CSV here")
    book.add_argument("--canvas-assignment", action="append", default=[], metavar="LAB=NAME",
                      help="the Canvas column of a lab, e.g. '01_penalties=Lab 1 (1234)' (repeatable)")
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


def _options(args: argparse.Namespace) -> dict:
    from .sandbox import Limits

    return dict(cell_timeout=args.cell_timeout, timeout=args.timeout, jobs=args.jobs, full=args.full,
                max_output_bytes=args.max_output, isolation=args.isolation, keep_workdir=args.keep_workdir,
                limits=Limits(args.memory, args.max_processes, args.max_file_size, args.cpu_time))


def _check_solution(args: argparse.Namespace, options: dict) -> bool:
    import tempfile

    from . import grading

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "solution.ipynb").write_bytes(args.solution.read_bytes())
        [own] = grading.grade_folder(args.solution, tmp, notice=lambda line: None, **options)
    if own.total + sum(o.max_points for o in own.by_hand) < own.max_points or own.status != "ok":
        print(f"error: the solution scores {own.total} / {own.max_points} on its own tests "
              f"(status {own.status}: {own.reason}); fix it or raise the time limits.", file=sys.stderr)
        return False
    return True


def _existing_rows(args: argparse.Namespace, lab, feedback_dir: Path) -> list:
    """The rows of ``--out`` to keep; refuses (InstructorError) to overwrite another lab's work."""
    from . import feedback, grading

    if args.out.exists() and args.out.is_dir():
        raise grading.InstructorError(f"--out {str(args.out)!r} is a folder; expected a CSV file name.")
    others = sorted({str(p) for p in feedback_dir.glob("*.html")
                     if feedback.page_lab(p) not in (None, lab.path.stem)}) if feedback_dir.is_dir() else []
    if others and not args.replace:
        raise grading.InstructorError(
            f"{feedback_dir} holds feedback pages of another lab ({others[0]}...); give this lab its own "
            "--feedback-dir, or pass --replace to overwrite them.")
    if not args.out.exists():
        return []
    try:
        rows = feedback.read_sheet(args.out, lab)
    except feedback.SheetError as error:
        if not args.replace:
            raise grading.InstructorError(f"{error}; choose another --out, or pass --replace to overwrite it.") from None
        return []
    return [] if args.replace else rows


def _grade(args: argparse.Namespace) -> int:
    from . import feedback, grading

    lab = grading.load_solution(args.solution)  # fail early, before any kernel starts
    feedback_dir = args.feedback_dir or args.out.parent / "feedback" / lab.path.stem
    kept = _existing_rows(args, lab, feedback_dir)
    replaced_rows = 0
    if args.replace and args.out.is_file():
        with open(args.out, encoding="utf-8", errors="replace") as f:
            replaced_rows = max(0, sum(1 for _ in f) - 1)
    grading.list_submissions(*args.submissions)
    options = _options(args)
    if args.check_solution and not _check_solution(args, options):
        return EXIT_FAILED_CHECK

    started = time.monotonic()

    def progress(result: grading.GradeResult, done: int, total: int) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {result.file}: {feedback.format_points(result.total)} / "
                  f"{feedback.format_points(result.max_points)} ({result.status})", flush=True)

    results = grading.grade_folder(args.solution, list(args.submissions), progress=progress,
                                   notice=lambda line: print(line, file=sys.stderr), **options)
    pages_before = {p.name for p in feedback_dir.glob("*.html")} if feedback_dir.is_dir() else set()
    pages = feedback.write_feedback(results, lab, feedback_dir)  # first: its last check counts redactions
    if lab.written:
        from . import written

        review = written.write_review(results, lab, written.written_dir(args.out, lab))
        print(f"Wrote {len(review) // 2} written question(s) to grade by hand: "
              + ", ".join(str(p) for p in review) + "; fill the .csv, then run regopt merge-written.")
    rows, updated, added = feedback.merge_results(kept, results)
    feedback.write_csv(rows, lab, args.out)
    summary_path = feedback.write_summary(rows, lab, args.out.with_suffix(".html"))
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"Graded {len(results)} file(s) in {time.monotonic() - started:.0f} s ({summary}).")
    if args.replace and replaced_rows:
        print(f"Replaced {args.out} ({replaced_rows} row(s) before) with {len(rows)} row(s).")
    else:
        print(f"Wrote {args.out}: {added} new row(s), {updated} updated, {len(rows) - added - updated} kept.")
    replaced_pages = sum(p.name in pages_before for p in pages)
    print(f"Wrote {summary_path} (the class summary, {len(rows)} file(s)) and {len(pages)} feedback page(s) in "
          f"{feedback_dir}/ ({replaced_pages} of them replacing the same student's earlier page).")
    if not any(grading.was_graded(result) for result in results):
        print("error: not a single submission could be graded; see the reason column.", file=sys.stderr)
        return EXIT_FAILED_CHECK
    return EXIT_OK


def _merge_written(args: argparse.Namespace) -> int:
    from . import grading, written

    lab = grading.load_solution(args.solution)
    if not lab.written:
        raise grading.InstructorError(f"{args.solution} has no written answer to merge.")
    if not args.out.is_file():
        raise grading.InstructorError(f"--out {str(args.out)!r} does not exist; run regopt grade first.")
    feedback_dir = args.feedback_dir or args.out.parent / "feedback" / lab.path.stem
    merged, pages, missing, unknown = written.merge(lab, args.out, feedback_dir)
    if unknown:
        print(f"{len(unknown)} row(s) of the written sheets name a file that {args.out} does not hold (ignored; "
              "grade that file first, or correct its name): " + ", ".join(unknown), file=sys.stderr)
    print(f"Merged {merged} written answer(s) into {args.out} and its summary; updated {pages} feedback page(s) "
          f"in {feedback_dir}/.")
    if missing:
        print(f"{len(missing)} answer(s) still to grade by hand (no points in the sheet): " + ", ".join(missing))
    return EXIT_OK


def _gradebook(args: argparse.Namespace) -> int:
    from . import gradebook

    names = {}
    for item in args.canvas_assignment:
        lab, _, name = item.partition("=")
        if not name:
            raise gradebook.GradebookError(f"--canvas-assignment {item!r} is invalid; expected LAB=NAME.")
        names[lab.strip()] = name.strip()
    targets = {"--out": args.out, **({"--canvas": args.canvas} if args.canvas else {})}
    replaced = {flag: gradebook.check_target(path, flag, [*args.sheets, *([args.roster] if args.roster else [])],
                                             canvas=flag == "--canvas")
                for flag, path in targets.items()}
    if args.canvas and args.canvas.resolve() == args.out.resolve():
        raise gradebook.GradebookError(f"--out and --canvas are the same file ({args.out}); give them two names.")
    book = gradebook.build(args.sheets, args.roster)
    gradebook.write_plain(book, args.out)
    print(f"Wrote {args.out}{' (replacing the earlier gradebook)' if replaced['--out'] else ''}: "
          f"{len(book.students)} student(s), {len(book.labs)} lab(s) ({', '.join(book.labs)}).")
    if args.canvas:
        gradebook.write_canvas(book, args.canvas, names)
        print(f"Wrote {args.canvas}{' (replacing the earlier Canvas file)' if replaced['--canvas'] else ''} "
              f"(Canvas gradebook import: {sum(s.known for s in book.students)} student(s)).")
    pending = [f"{s.name or s.id} ({', '.join(s.by_hand)})" for s in book.students if s.by_hand]
    if pending:
        print(f"{len(pending)} student(s) with written answers still to grade by hand (their totals lack those "
              f"points; run regopt merge-written, then this again): " + "; ".join(pending), file=sys.stderr)
    if book.unknown:
        print(f"{len(book.unknown)} file(s) the roster does not know (kept in {args.out} without an ID, left out "
              f"of the Canvas file): " + ", ".join(book.unknown), file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``regopt`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    if "jsonschema" not in sys.modules:
        # nbformat imports jsonschema, which imports rfc3987_syntax when it can, only to check
        # "iri" formats that notebooks never use; building its grammar costs seconds per command.
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    try:
        from .course import ConfigError
        from .grading import InstructorError
        from .labs import LabError

        try:
            return {"labs": _labs, "grade": _grade, "gradebook": _gradebook,
                    "merge-written": _merge_written}[args.command](args)
        except (InstructorError, LabError, ConfigError, FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_INSTRUCTOR_ERROR
    except ImportError as error:  # an extra imported where it is used, missing here
        if (error.name or "").split(".")[0] not in _EXTRA_MODULES:
            raise
        print(f"error: `regopt {args.command}` needs the 'instructor' extra ({error.name} is missing): "
              'pip install "regopt[instructor]"', file=sys.stderr)
        return EXIT_INSTRUCTOR_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
