"""The term's gradebook: every lab's grade sheet in one table per student, and exports.

``regopt gradebook grades/*.csv --roster roster.csv --out grades/gradebook.csv --canvas grades/canvas.csv``
reads the grade sheets that ``regopt grade`` wrote (one per lab; regrading a file updates
its row there, so rebuilding the gradebook updates the student's row), maps each sheet's
``student`` (the file name's stem, or a Moodle folder's name) to a student ID and name with
the roster, and writes:

``--out``
    One row per student: ``id``, ``name``, ``files`` (the names the student handed in under),
    per lab its total, then ``total``, ``max``, ``review`` (the labs a person should look at)
    and ``problems`` (each lab's status when it is not ``ok``, and its written answers still
    to grade by hand). A plain CSV keyed by ID.
``--canvas``
    Canvas's gradebook import format: the columns ``Student``, ``ID``, ``SIS User ID``,
    ``SIS Login ID``, ``Section``, then one column per lab (named ``LAB`` or, with a
    ``--canvas-assignment LAB=NAME (ID)`` option, as the Canvas assignment), and a second row
    ``Points Possible`` giving each lab's maximum. A blank cell leaves Canvas's grade alone.

The roster is a CSV with a column ``student`` (or ``file``: a file name, whose stem is used)
and ``id``; ``name``, ``login``, ``section`` and ``canvas_id`` are used when present. Files
that the roster does not know are listed (and kept in the gradebook under their file name),
never dropped; students of the roster without a submission get empty cells.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CANVAS_COLUMNS", "Student", "Gradebook", "build", "check_target", "write_plain", "write_canvas", "GradebookError"]

#: The identity columns of Canvas's gradebook CSV, in its order (Canvas's "Export"/"Import" format).
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"


class GradebookError(ValueError):
    """A roster or grade sheet that cannot be read: the message says which and why."""


@dataclass
class Student:
    id: str
    name: str = ""
    login: str = ""
    section: str = ""
    canvas_id: str = ""
    files: list[str] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    review: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)  # labs with written answers still to grade
    known: bool = True


@dataclass
class Gradebook:
    labs: dict[str, float]  # lab -> maximum
    students: list[Student]
    unknown: list[str]  # files the roster does not know


def _read_csv(path: Path, what: str) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise GradebookError(f"{what} {str(path)!r} cannot be read: {error}") from None


def read_roster(path: str | Path) -> dict[str, Student]:
    """The roster: student key (file stem) -> Student."""
    rows = _read_csv(Path(path), "roster")
    if not rows or not ({"student", "file"} & set(rows[0])) or "id" not in rows[0]:
        raise GradebookError(f"roster {str(path)!r} has the columns {sorted(rows[0]) if rows else []}; expected "
                             "'student' (or 'file') and 'id', and optionally 'name', 'login', 'section', 'canvas_id'.")
    roster = {}
    for row in rows:
        key = (row.get("student") or Path(row.get("file") or "").stem).strip()
        if key:
            roster[key] = Student(id=row["id"].strip(), name=(row.get("name") or "").strip(),
                                  login=(row.get("login") or "").strip(), section=(row.get("section") or "").strip(),
                                  canvas_id=(row.get("canvas_id") or "").strip())
    return roster


def check_target(path: Path, flag: str, inputs: list[Path], *, canvas: bool = False) -> bool:
    """Whether ``path`` holds an earlier output of ours (replaced); GradebookError if it holds anything else.

    A gradebook is rebuilt from the labs' sheets, so an earlier one may be replaced; a grade
    sheet, the roster or any other file is never overwritten.
    """
    path = Path(path)
    if any(path.resolve() == Path(i).resolve() for i in inputs):
        raise GradebookError(f"{flag} {path} is one of the files read (a grade sheet or the roster); "
                             "name a new file, such as grades/gradebook.csv or grades/canvas.csv.")
    if not path.exists():
        return False
    expected = CANVAS_COLUMNS[0] if canvas else "id"
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        first = []
    ours = bool(first) and first[0] == expected and (canvas or first[:3] == ["id", "name", "files"])
    if path.is_dir() or not ours:
        raise GradebookError(f"{flag} {path} exists and is not a {'Canvas file' if canvas else 'gradebook'} "
                             "this command wrote; it is left as it is: name a new file.")
    return True


def build(sheets: list[str | Path], roster: str | Path | None = None) -> Gradebook:
    """One row per student across the labs of ``sheets`` (grade sheets of ``regopt grade``)."""
    known = read_roster(roster) if roster else {}
    by_id: dict[str, Student] = {}
    for student in known.values():
        by_id.setdefault(student.id, student)
    labs: dict[str, float] = {}
    unknown: list[str] = []
    for sheet in sheets:
        rows = _read_csv(Path(sheet), "grade sheet")
        if rows and not {"student", "file", "lab", "total", "max", "status"} <= set(rows[0]):
            raise GradebookError(f"{sheet} is not a grade sheet of `regopt grade` (columns {sorted(rows[0])}).")
        for row in rows:
            lab = row["lab"]
            labs[lab] = float(row["max"])
            student = known.get(row["student"])
            if student is None:
                unknown.append(f"{row['file']} ({lab})")
                student = by_id.setdefault(f"?{row['student']}", Student(id="", name=row["student"], known=False))
            student = by_id.get(student.id, student) if student.known else student
            if row["file"] not in student.files:
                student.files.append(row["file"])
            student.totals[lab] = float(row["total"])
            if row.get("review") == "yes":
                student.review.append(lab)
            if row.get("by hand"):
                student.by_hand.append(lab)
                student.problems.append(f"{lab}: to grade by hand: {row['by hand']}")
            if row["status"] != "ok":
                student.problems.append(f"{lab}: {row['status']}")
    labs = dict(sorted(labs.items()))
    students = sorted(by_id.values(), key=lambda s: (not s.known, s.id, s.name))
    return Gradebook(labs, students, unknown)


def _points(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def write_plain(book: Gradebook, path: str | Path) -> Path:
    """The plain gradebook CSV (see the module documentation)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "name", "files", *book.labs, "total", "max", "review", "problems"])
        for s in book.students:
            writer.writerow([s.id, s.name, " ".join(s.files), *(_points(s.totals.get(lab)) for lab in book.labs),
                             _points(sum(s.totals.values())), _points(sum(book.labs.values())),
                             " ".join(s.review), "; ".join(s.problems)])
    return path


def write_canvas(book: Gradebook, path: str | Path, assignments: dict[str, str] | None = None) -> Path:
    """Canvas's gradebook import CSV; ``assignments`` names a lab's column ("Lab 1 (1234)")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [(assignments or {}).get(lab, lab) for lab in book.labs]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*CANVAS_COLUMNS, *names])
        writer.writerow([POINTS_POSSIBLE, "", "", "", "", *(_points(m) for m in book.labs.values())])
        for s in book.students:
            if not s.known:
                continue  # Canvas matches rows by ID: a file the roster does not know cannot be imported
            writer.writerow([s.name, s.canvas_id, s.id, s.login, s.section,
                             *(_points(s.totals.get(lab)) for lab in book.labs)])
    return path
