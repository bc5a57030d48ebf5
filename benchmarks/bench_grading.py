"""Grading throughput: 100 Lab 1 submissions with ``regopt grade --jobs 2``.

Target (issue 4): within 10 minutes on 2 cores. The batch mimics a class: the
19 deliberately broken submissions of ``tests/submissions/lab01`` (one infinite
loop, costing one per-cell time limit, one dying kernel, huge output,
unreadable files...) and 81 students who solved some exercises and left the
others as stubs (drawn with a fixed seed), a tenth of them with their nbgrader
metadata stripped by their editor. Grading runs with the command's default
limits (60 s per cell, 600 s per notebook), in fast mode as ``regopt grade``
does by default.

    python benchmarks/bench_grading.py [--jobs 2] [--n 100] [--keep DIR]

It prints the wall-clock time, the time per submission and the statuses.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None, help="keep the batch, sheet and feedback here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-grading-")) if args.keep is None else args.keep
    submissions = work / "submissions"
    submissions.mkdir(parents=True, exist_ok=True)
    make_batch(submissions, args.n)
    regopt = Path(sys.executable).parent / "regopt"
    command = [str(regopt) if regopt.exists() else sys.executable, *([] if regopt.exists() else ["-m", "regopt.instructor.cli"]),
               "grade", str(SOLUTION), str(submissions), "--out", str(work / "grades.csv"),
               "--jobs", str(args.jobs), "--quiet"]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if run.returncode != 0:
        print(run.stdout, run.stderr, sep="\n")
        return run.returncode
    with open(work / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    statuses = Counter(row["status"] for row in rows)
    print(f"graded {len(rows)} submissions of Lab 1 with --jobs {args.jobs} in {elapsed:.0f} s "
          f"({elapsed / 60:.1f} min; {elapsed * args.jobs / len(rows):.1f} s of a worker per submission)")
    print("statuses:", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print("target: 100 submissions within 600 s on 2 cores:", "met" if elapsed * 100 / len(rows) <= 600 else "NOT met")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
