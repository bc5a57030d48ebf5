"""Written answers, graded by a person: a review page and a sheet per question, and merging them back.

A lab's written answer is a markdown answer cell of the solution with nbgrader's
``"solution": true, "grade": true`` and its ``"points"``, the model answer in a solution
region, and the rubric as cell metadata ``"regopt": {"rubric": "..."}``. ``regopt grade``
collects every student's answer and writes, beside the grade sheet, under
``written/LAB/``:

``GRADE_ID.html``
    The question, its rubric and model answer, then every student's answer side by side.
``GRADE_ID.csv``
    The sheet to fill: ``student``, ``file``, ``points`` (empty until given), ``max``,
    ``comment``, and the ``answer`` for reference. Regrading keeps what was filled in.

Until the sheets are merged, the grade sheet leaves the written columns empty and its
``by hand`` column lists the points still to give. ``regopt merge-written SOLUTION --out
grades/lab01.csv`` puts the given points in the grade sheet (and its totals, and the
class summary) and each comment in the student's feedback page.
"""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

from .grading import GradeResult, InstructorError, SolutionLab

__all__ = ["written_dir", "write_review", "merge"]

SHEET_COLUMNS = ["student", "file", "points", "max", "comment", "answer"]
_SCORE = re.compile(r"<strong>Score: [^<]*</strong>")


def written_dir(out: Path, lab: SolutionLab) -> Path:
    return out.parent / "written" / lab.path.stem


def _read(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def write_review(results: list[GradeResult], lab: SolutionLab, folder: Path) -> list[Path]:
    """A review page and a sheet per written question; points and comments already filled are kept."""
    from .feedback import format_points

    written = []
    folder.mkdir(parents=True, exist_ok=True)
    e = html.escape
    for w in lab.written:
        sheet = folder / f"{w.key}.csv"
        rows = _read(sheet)
        for r in results:
            old = rows.get(r.file, {})
            rows[r.file] = {"student": r.student, "file": r.file, "points": old.get("points", ""),
                            "max": format_points(w.points), "comment": old.get("comment", ""),
                            "answer": r.written.get(w.key, "")}
        with open(sheet, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, SHEET_COLUMNS)
            writer.writeheader()
            writer.writerows(rows[k] for k in sorted(rows))
        answers = "".join(
            f"<tr><td>{e(row['student'])}</td><td><pre>{e(row['answer']) or '(no answer)'}</pre></td>"
            f"<td>{e(row['points'])}</td><td>{e(row['comment'])}</td></tr>" for _, row in sorted(rows.items()))
        page = folder / f"{w.key}.html"
        page.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(lab.title)}: {e(w.title or w.key)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2em; }} td, th {{ border: 1px solid #999;
padding: .3em .6em; vertical-align: top; }} table {{ border-collapse: collapse; }}
pre {{ white-space: pre-wrap; max-width: 50em; }}</style></head><body>
<h1>{e(lab.title)}: {e(w.title or w.key)} ({format_points(w.points)} points)</h1>
<h2>Rubric</h2><pre>{e(w.rubric) or '(none given)'}</pre>
<h2>Model answer</h2><pre>{e(w.source)}</pre>
<h2>{len(rows)} answer(s)</h2>
<p>Give the points and a comment in <code>{e(sheet.name)}</code>, then run
<code>regopt merge-written</code>.</p>
<table><tr><th>student</th><th>answer</th><th>points</th><th>comment</th></tr>{answers}</table>
</body></html>
""", encoding="utf-8")
        written += [page, sheet]
    return written


def merge(lab: SolutionLab, out: Path, feedback_dir: Path) -> tuple[int, int, list[str], list[str]]:
    """Put the filled sheets' points in ``out`` and comments in the feedback pages.

    Returns (points merged, pages updated, answers still to grade, rows of the filled
    sheets whose file is not in ``out``). Every point outside [0, max] or not a number
    is the instructor's error, all named with their rows, before anything is written.
    """
    from . import feedback

    results = feedback.read_sheet(out, lab)
    by_file = {r.file: r for r in results}
    folder = written_dir(out, lab)
    filled, errors, unknown = [], [], []
    for w in lab.written:
        sheet = folder / f"{w.key}.csv"
        for file, row in _read(sheet).items():
            text = (row.get("points") or "").strip()
            if file not in by_file:
                unknown.append(f"{sheet}: {file}")
                continue
            if not text:
                continue
            try:
                points = float(text)
            except ValueError:
                points = -1.0
            if not 0 <= points <= w.points:
                errors.append(f"{sheet}: {file} has points={text!r}; expected a number "
                              f"from 0 to {feedback.format_points(w.points)}")
                continue
            filled.append((w, by_file[file], points, row.get("comment") or ""))
    if errors:
        raise InstructorError("; ".join(errors) + ". Nothing was merged: correct the sheet(s) and run again.")
    merged, pages = 0, 0
    for w, result, points, comment in filled:
        outcome = next(o for o in result.outcomes if o.grade_id == w.key)
        outcome.points, outcome.pending = points, False
        merged += 1
        page = feedback_dir / feedback.feedback_name(result)
        if page.is_file():
            start, end = f"<!--written:{w.key}-->", f"<!--/written:{w.key}-->"
            content = page.read_text(encoding="utf-8")
            if start in content and end in content:
                body = (f"<p><strong>{feedback.format_points(points)} / {feedback.format_points(w.points)}"
                        f"</strong> {html.escape(comment)}</p>")
                before, rest = content.split(start, 1)
                content = before + feedback.written_region(w.key, body) + rest.split(end, 1)[1]
                content = _SCORE.sub(f"<strong>Score: {feedback.format_points(result.total)} / "
                                     f"{feedback.format_points(result.max_points)}</strong>", content, count=1)
                page.write_text(content, encoding="utf-8")
                pages += 1
    # Still to grade: what the grade sheet itself lacks, whatever rows the filled sheets hold.
    missing = [f"{o.grade_id}: {r.file}" for r in results for o in r.outcomes
               if o.pending and any(o.grade_id == w.key for w in lab.written)]
    feedback.write_csv(results, lab, out)
    feedback.write_summary(results, lab, out.with_suffix(".html"))
    return merged, pages, missing, unknown
