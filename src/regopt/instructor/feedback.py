"""What grading writes: the CSV grade sheet, one HTML feedback page per student, a class summary.

The grade sheet has one row per file: ``student``, ``file``, ``lab`` (the solution's
file stem), for each test cell its points and its maximum (``ex1-tests``,
``ex1-tests max``), ``total``, ``max``, ``status``, ``review`` (``yes`` when a human
should look) and ``reason``, so that the sheets of several labs can be stacked.

The summary (``grades.html`` beside ``grades.csv``) shows the class at a glance: per
exercise, a histogram of the scores and the share of full marks; and a table of
statuses with their meaning.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from pathlib import Path

from .grading import FOR_STUDENTS, STATUSES, GradeResult, SolutionLab
from .grading.redaction import Redactor

__all__ = ["format_points", "sheet_header", "write_csv", "read_sheet", "merge_results", "SheetError",
           "page_lab", "feedback_html", "write_feedback", "summary_html", "write_summary"]


class SheetError(ValueError):
    """An existing grade sheet that is not this lab's (or not a grade sheet at all)."""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; } td, th { border: 1px solid #999; padding: .3em .8em; }
.passed { color: #009E73; } .failed { color: #D55E00; font-weight: bold; } .not-run { color: #555; }
pre { background: #f4f4f4; padding: .6em; overflow-x: auto; }
"""


def format_points(value: float) -> str:
    """Points as the sheet shows them: ``2`` or ``1.50``."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def sheet_header(lab: SolutionLab) -> list[str]:
    """The columns of a lab's grade sheet."""
    header = ["student", "file", "lab"]
    for test in lab.graded:
        header += [test.key, f"{test.key} max"]
    by_hand = ["by hand"] if lab.written else []  # written answers still to be graded by a person
    return header + ["total", "max", *by_hand, "status", "review", "redacted", "reason"]


def read_sheet(path: str | Path, lab: SolutionLab) -> list[GradeResult]:
    """The rows of an existing grade sheet of ``lab`` as results (points, status, reason).

    :class:`SheetError` when the file is not a grade sheet of this lab (another lab's, an
    older layout, not a CSV), so that it is never overwritten by mistake.
    """
    from .grading import TestOutcome

    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header, rows = reader.fieldnames or [], list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SheetError(f"{path} exists and is not a readable grade sheet ({error})") from None
    labs = {row.get("lab") for row in rows}
    if "lab" not in header or "status" not in header:
        raise SheetError(f"{path} exists and is not a grade sheet (its columns: "
                         f"{', '.join(header[:6]) or 'none'}{', ...' if len(header) > 6 else ''})")
    if header != sheet_header(lab) or labs - {lab.path.stem}:
        other = ", ".join(sorted(str(x) for x in labs - {lab.path.stem})) or "other columns"
        raise SheetError(f"{path} exists and holds a different grade sheet ({other}; expected the columns "
                         f"of {lab.path.stem})")
    results = []
    for row in rows:
        outcomes = [TestOutcome(t.key, float(row[t.key] or 0), t.points, pending=row[t.key] == "")
                    for t in lab.graded]
        results.append(GradeResult(row["student"], row["file"], row["status"], row["reason"], outcomes,
                                   float(row["max"]), lab=row["lab"], redacted=int(row["redacted"] or 0)))
    return results


def merge_results(old: list[GradeResult], new: list[GradeResult]) -> tuple[list[GradeResult], int, int]:
    """``old`` with the rows of the files in ``new`` replaced or added: (rows, updated, added)."""
    by_file = {r.file: r for r in old}
    updated = sum(r.file in by_file for r in new)
    by_file.update({r.file: r for r in new})
    return sorted(by_file.values(), key=lambda r: r.file), updated, len(new) - updated


def write_csv(results: list[GradeResult], lab: SolutionLab, path: str | Path) -> None:
    """The grade sheet (see the module documentation for its columns)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = sheet_header(lab)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in results:
            points = {o.grade_id: ("" if o.pending else format_points(o.points)) for o in r.outcomes}
            row = [r.student, r.file, lab.path.stem]
            for test in lab.graded:
                row += [points.get(test.key, "0"), format_points(test.points)]
            row += [format_points(r.total), format_points(r.max_points)]
            if lab.written:
                row.append(", ".join(f"{o.grade_id} ({format_points(o.max_points)})" for o in r.by_hand))
            row += [r.status, "yes" if r.review else "", str(r.redacted), r.reason]
            writer.writerow(row)


def _feedback_name(result: GradeResult, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", result.student) or "submission"
    if name in taken:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", result.file)
    taken.add(name)
    return name + ".html"


def _titles(lab: SolutionLab) -> dict[str, str]:
    """Test grade id -> the exercise's title as the student reads it (the id when there is none)."""
    return {t.key: t.title or t.key for t in lab.graded}


def _outcome_rows(result: GradeResult, lab: SolutionLab) -> str:
    e, titles = html.escape, _titles(lab)
    return "".join(
        f"<tr><td>{e(titles.get(o.grade_id, o.grade_id))}</td>"
        f"<td>{'to be graded' if o.pending else format_points(o.points)} / {format_points(o.max_points)}</td>"
        f"<td class='{o.visible.replace(' ', '-')}'>{e(o.visible)}</td>"
        f"<td class='{o.hidden.replace(' ', '-')}'>{e(o.hidden)}</td></tr>" for o in result.outcomes)


def _details(result: GradeResult, lab: SolutionLab) -> str:
    e, titles = html.escape, _titles(lab)
    parts = []
    for o in result.outcomes:
        if o.errors:
            items = "".join(f"<pre>{e(_ANSI.sub('', text))}</pre>" for text in o.errors)
            parts.append(f"<h3>{e(titles.get(o.grade_id, o.grade_id))}</h3>{items}")
    if result.cell_errors:
        items = "".join(f"<pre>{e(_ANSI.sub('', text))}</pre>" for text in result.cell_errors)
        parts.append(f"<h3>Errors in your cells</h3>{items}")
    return ("<h2>What failed</h2>" + "".join(parts)) if parts else ""


def written_region(grade_id: str, body: str) -> str:
    """The part of a page that merging a written answer's points replaces (see grading.written)."""
    return f"<!--written:{grade_id}-->{body}<!--/written:{grade_id}-->"


def _written(result: GradeResult, lab: SolutionLab) -> str:
    if not lab.written:
        return ""
    parts = []
    for w in lab.written:
        answer = result.written.get(w.key, "")
        shown = f"<pre>{html.escape(answer)}</pre>" if answer else "<p>(no answer)</p>"
        parts.append(f"<h3>{html.escape(w.title or w.key)}</h3>{shown}" + written_region(
            w.key, f"<p>To be graded by your instructor ({format_points(w.points)} points).</p>"))
    return "<h2>Written answers</h2>" + "".join(parts)


def _noticed(result: GradeResult) -> str:
    """The problems found, once each, in the student's words (the reason column is the instructor's)."""
    found = [s for s in STATUSES if s != "ok" and (s == result.status or f"{s}: " in result.reason)]
    if not found:
        return ""
    words = {s: FOR_STUDENTS.get(s, STATUSES[s]) for s in found}
    deaths = [part[len("kernel-died: "):] for part in result.reason.split("; ") if part.startswith("kernel-died: ")]
    if deaths:  # which exercise stopped Python: the student's own words already
        words["kernel-died"] = "; ".join(deaths).replace("your cells", "your cells")
    items = "".join(f"<li>{html.escape(words[s])}</li>" for s in found)
    return f"<h2>What the grader noticed</h2><ul>{items}</ul>"


def feedback_html(result: GradeResult, lab: SolutionLab) -> str:
    """A self-contained HTML page telling one student what passed and what failed.

    It never contains hidden test code: hidden failures show the exception only,
    and every line that quotes hidden code is redacted (see :mod:`.grading.redaction`).
    Exercises go by their titles, cells by the student's own numbers, problems in the
    student's words (:data:`~regopt.instructor.grading.FOR_STUDENTS`); the grader's
    reasons, meant for the instructor, stay in the grade sheet.
    """
    e = html.escape
    status_line = e(FOR_STUDENTS.get(result.status, result.status))
    review = ("<p><strong>Your instructor will look at this submission</strong> (see the details).</p>"
              if result.review else "")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="regopt-lab" content="{e(lab.path.stem)}">
<title>{e(lab.title)}: feedback for {e(result.student)}</title>
<style>{_STYLE}</style></head><body>
<h1>{e(lab.title)}: feedback for {e(result.student)}</h1>
<p><strong>Score: {format_points(result.total)} / {format_points(result.max_points)}</strong></p>
<p>Status: {status_line}</p>
{review}
<p>Your answers were run in a fresh Python kernel, from top to bottom, with the lab's own test cells
(your copies of the test cells are not used). Cells are numbered from the top of your notebook, 1 for
the first. Each test cell earns its points when its visible checks and
its hidden checks (run on inputs you have not seen) all pass.</p>
<table><tr><th>exercise</th><th>points</th><th>visible checks</th><th>hidden checks</th></tr>
{_outcome_rows(result, lab)}
</table>
{_noticed(result)}
{_written(result, lab)}
{_details(result, lab)}
</body></html>
"""
    # The last check before the page leaves the grader: no line of hidden test code in it.
    redactor = result.redactor or Redactor(lab.hidden_lines, lab.public_texts)
    before = redactor.count
    page = redactor.page(page)
    result.redacted += redactor.count - before
    return page


_PAGE_LAB = re.compile(r'<meta name="regopt-lab" content="([^"]*)">')


def page_lab(path: str | Path) -> str | None:
    """The lab a feedback page was written for (None: not a page of the grader's)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            match = _PAGE_LAB.search(f.read(4096))
    except OSError:
        return None
    return html.unescape(match.group(1)) if match else None


def feedback_name(result: GradeResult) -> str:
    """The file name of a student's feedback page."""
    return _feedback_name(result, set())


def write_feedback(results: list[GradeResult], lab: SolutionLab, folder: str | Path) -> list[Path]:
    """One HTML feedback file per result (named after the student); return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    written = []
    for result in results:
        path = folder / _feedback_name(result, taken)
        path.write_text(feedback_html(result, lab), encoding="utf-8")
        written.append(path)
    return written


def _histograms_png(results: list[GradeResult], lab: SolutionLab) -> bytes:
    """One small histogram of scores per test cell, in one PNG."""
    import matplotlib

    matplotlib.use("agg", force=False)
    from matplotlib.figure import Figure

    tests = lab.tests
    columns = min(3, max(1, len(tests)))
    rows = -(-len(tests) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows), layout="constrained")
    for number, test in enumerate(tests):
        ax = figure.add_subplot(rows, columns, number + 1)
        scores = [next((o.points for o in r.outcomes if o.grade_id == test.key), 0.0) for r in results]
        edges = [x - 0.5 for x in range(int(test.points) + 2)] if float(test.points).is_integer() else 10
        ax.hist(scores, bins=edges, color="#0072B2", edgecolor="white")  # Okabe-Ito blue
        full = sum(s >= test.points for s in scores)
        ax.set_title(f"{test.key}: {full}/{len(scores)} full marks", fontsize=9)
        ax.set_xlabel(f"points (of {format_points(test.points)})", fontsize=8)
        ax.set_ylabel("submissions", fontsize=8)
        ax.tick_params(labelsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def summary_html(results: list[GradeResult], lab: SolutionLab) -> str:
    """The class at a glance: score histograms per exercise and a table of statuses."""
    e = html.escape
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    status_rows = "".join(f"<tr><td>{e(s)}</td><td>{counts[s]}</td><td>{e(STATUSES.get(s, ''))}</td></tr>"
                          for s in STATUSES if s in counts)
    review = [r.file for r in results if r.review]
    image = base64.b64encode(_histograms_png(results, lab)).decode() if results and lab.tests else ""
    totals = sorted(r.total for r in results)
    median = format_points(totals[len(totals) // 2]) if totals else "-"
    alt = "Histograms of the points each submission scored, one panel per test cell"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(lab.title)}: class summary</title>
<style>{_STYLE}</style></head><body>
<h1>{e(lab.title)}: class summary</h1>
<p>{len(results)} file(s); median total {median} / {format_points(lab.max_points)}.</p>
<h2>Scores per exercise</h2>
{f'<img src="data:image/png;base64,{image}" alt="{alt}">' if image else "<p>No scores.</p>"}
<h2>Statuses</h2>
<table><tr><th>status</th><th>files</th><th>meaning</th></tr>{status_rows}</table>
<h2>To look at</h2>
<p>{e(", ".join(review)) if review else "No submission is marked for review."}</p>
</body></html>
"""


def write_summary(results: list[GradeResult], lab: SolutionLab, path: str | Path) -> Path:
    """Write :func:`summary_html` to ``path``; return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary_html(results, lab), encoding="utf-8")
    return path
