"""Grading throughput: 100 Lab 1 submissions with ``regopt grade --jobs 2``.

Target (issue 4): within 10 minutes on 2 cores. The batch mimics a class: the
19 deliberately broken submissions of ``tests/submissions/lab01`` (one infinite
loop, costing one per-cell time limit, one dying kernel, huge output,
unreadable files...) and 81 students who solved some exercises and left the
others as stubs (drawn with a fixed seed), a tenth of them with their nbgrader
metadata stripped by their editor. Grading runs with the command's default
limits (60 s per cell, 600 s per notebook), in fast mode as ``regopt grade``
does by default.

    python benchmarks/bench_grading.py [--jobs 2] [--n 100] [--keep DIR] [--baseline SRC]

It prints the wall-clock time, the CPU time of the grading processes, the time per
submission and the statuses. ``--baseline SRC`` grades the same batch first with
the grader of another source tree (``SRC/regopt``, run as ``python -m regopt.cli``
or ``regopt.instructor.cli``) and prints the ratio new/old of wall and CPU time, both
measured in this run. To compare with the grader before the sandbox (commit 8ed255a),
with today's student library in both:

    mkdir -p /tmp/old/src && cp -r src/regopt /tmp/old/src/ && rm -r /tmp/old/src/regopt/instructor
    for f in grading _grading_worker cli labs course; do
        git show 8ed255a:src/regopt/$f.py > /tmp/old/src/regopt/$f.py; done
    python benchmarks/bench_grading.py --n 100 --baseline /tmp/old/src
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import _results
import nbformat
from _results import Summary, record_row, today, write_summary

from regopt.instructor import labs

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_penalties.ipynb"
BROKEN = ROOT / "tests" / "submissions" / "lab01"


def make_batch(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` submissions in ``folder``: the broken set, then partly solved labs."""
    rng = random.Random(seed)
    broken = sorted(p for p in BROKEN.iterdir() if p.is_file())[:n]
    for path in broken:
        shutil.copy(path, folder / path.name)
    solved = labs.solved_lab(SOLUTION)
    stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in labs.generate_lab(SOLUTION).cells
             if c.metadata.get("nbgrader", {}).get("solution")}
    for i in range(n - len(broken)):
        nb = nbformat.from_dict(nbformat.reads(nbformat.writes(solved), as_version=4))
        unanswered = rng.sample(sorted(stubs), k=rng.choice([0, 0, 0, 1, 1, 2, 3, 6]))
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in unanswered:
                cell.source = stubs[grade_id]
        if i % 10 == 0:
            for cell in nb.cells:
                cell.metadata = {}
        nbformat.write(nb, folder / f"student_{i:03d}.ipynb")


def grade(command: list[str], jobs: list[str], submissions: Path, out: Path, env: dict[str, str]) -> dict:
    """Run one grading command; wall and CPU seconds (of it and its children), and the sheet."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    run = subprocess.run([*command, "grade", str(SOLUTION), str(submissions), "--out", str(out), "--quiet", *jobs],
                         capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode not in (0, 1):
        raise SystemExit(f"{command} failed:\n{run.stdout}\n{run.stderr}")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": elapsed, "cpu": cpu, "rows": rows, "stderr": run.stderr}


SECTION = "## bench_grading.py: grading 100 Lab 1 submissions with --jobs 2"
TABLE_HEADER = "| date | machine | submissions | wall s | CPU s | note |"


def report(label: str, result: dict, jobs: int) -> None:
    rows, elapsed = result["rows"], result["wall"]
    statuses = Counter(row["status"] for row in rows)
    print(f"{label}: graded {len(rows)} submissions of Lab 1 with --jobs {jobs} in {elapsed:.0f} s wall, "
          f"{result['cpu']:.0f} s CPU ({elapsed / 60:.1f} min; {elapsed * jobs / len(rows):.1f} s of a worker "
          f"per submission)")
    print("  statuses:", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None, help="keep the batch, sheet and feedback here")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a source folder holding another regopt whose grader to compare with")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-grading-")) if args.keep is None else args.keep
    submissions = work / "submissions"
    submissions.mkdir(parents=True, exist_ok=True)
    make_batch(submissions, args.n)
    jobs = ["--jobs", str(args.jobs)]
    state = _results.start(own=args.jobs)
    results = {}
    if args.baseline is not None:
        old_cli = "regopt.instructor.cli" if (args.baseline / "regopt" / "instructor").is_dir() else "regopt.cli"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(args.baseline.resolve()),
                                                          os.environ.get("PYTHONPATH", "")]))
        results["baseline"] = grade([sys.executable, "-m", old_cli], jobs, submissions,
                                    work / "grades-baseline.csv", env)
    new = grade([sys.executable, "-m", "regopt.instructor.cli"], jobs, submissions, work / "grades.csv",
                dict(os.environ))
    results["this tree"] = new
    for label, result in results.items():
        report(label, result, args.jobs)
    if "baseline" in results:
        old = results["baseline"]
        print(f"ratio this tree / baseline: wall {new['wall'] / old['wall']:.2f}, CPU {new['cpu'] / old['cpu']:.2f}")
    print("note: CPU counts reaped descendants only; kernels in a bubblewrap PID namespace are not reaped by "
          "the grader, so compare wall times (measured in this run, on the same batch).")
    state.finish()
    full = len(new["rows"]) >= 100
    met = new["wall"] <= 600
    print(f"machine: {state.label()}")
    if full:
        print("target: 100 submissions within 600 s on 2 cores:",
              "not judged (machine loaded)" if state.loaded else "met" if met else "NOT met")
    record_row(SECTION, TABLE_HEADER,
               f"| {today()} | {state.label()} | {len(new['rows'])} | {new['wall']:.0f} | — "
               f"| `--jobs {args.jobs}`{'' if full else '; a partial batch: no target claimed'} |")
    write_summary(Summary("bench_grading", f"{len(new['rows'])} submissions in {new['wall']:.0f} s",
                          "100 in <= 600 s", full and met, state.loaded or not full,
                          f"{state.load_before:.1f} → {state.load_after:.1f}"))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
