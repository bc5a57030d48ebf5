"""Grading: the solution scores full marks, the lab zero, broken submissions their status.

One ``regopt grade`` run per lab (module-scoped fixture, ``--jobs 2``) grades a
folder holding the solution itself, the generated lab and, for Lab 1, the
deliberately broken submissions of ``tests/submissions/lab01`` (made by
``tests/submissions/make_lab01.py``, which says what each one breaks); every
assertion below reads that one run's grade sheet and feedback files.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from regopt.instructor import grading, labs
from regopt.instructor.cli import main

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "tests" / "submissions"
SOLUTIONS = labs.solution_paths(ROOT)
LAB01 = ROOT / "solutions" / "01_penalties.ipynb"
EXPECTED01 = json.loads((SUBMISSIONS / "lab01_expected.json").read_text())


def expected_statuses(solution: Path) -> dict:
    """The broken submissions of a lab (``tests/submissions/labNN/``) and what each must get."""
    path = SUBMISSIONS / f"lab{solution.name[:2]}_expected.json"
    return json.loads(path.read_text()) if path.is_file() else {}


#: (solution, file) for every deliberately broken submission of every lab that has some.
BROKEN = [pytest.param(solution, name, id=f"{solution.stem}-{name}")
          for solution in SOLUTIONS for name in sorted(expected_statuses(solution))]
# Generous per-cell limit: this machine is shared; the infinite loop costs one limit.
LIMITS = ["--jobs", "2", "--cell-timeout", "40", "--timeout", "400"]


def regopt_command() -> list[str]:
    script = Path(sys.executable).parent / "regopt"
    return [str(script)] if script.exists() else [sys.executable, "-m", "regopt.instructor.cli"]


def run_regopt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*regopt_command(), *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=1800)


#: solution -> its graded folder. Tests parametrized indirectly (one per broken submission) get a
#: fixture instance each; this keeps it to one `regopt grade` run per lab.
_GRADED: dict[Path, dict] = {}


@pytest.fixture(scope="module", params=SOLUTIONS, ids=lambda p: p.stem)
def graded(request, tmp_path_factory):
    """Grade (solution + generated lab + broken submissions) once; return sheet, feedback, run."""
    solution: Path = request.param
    if solution not in _GRADED:
        _GRADED[solution] = grade_lab_folder(solution, tmp_path_factory)
    return _GRADED[solution]


def grade_lab_folder(solution: Path, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp(f"submissions-{solution.stem}")
    lab = ROOT / "labs" / solution.name
    if not lab.is_file():
        pytest.fail(f"labs/{solution.name} is missing: run `regopt labs`")
    shutil.copy(solution, folder / "the_solution.ipynb")
    shutil.copy(lab, folder / "the_lab.ipynb")
    broken = SUBMISSIONS / f"lab{solution.name[:2]}"
    if broken.is_dir():
        for path in broken.iterdir():
            shutil.copy(path, folder / path.name)
    out = folder.parent / f"grades-{solution.stem}" / "grades.csv"
    feedback = folder.parent / f"feedback-{solution.stem}"
    run = run_regopt("grade", str(solution), str(folder), "--out", str(out), "--feedback-dir", str(feedback),
                     "--quiet", *LIMITS)
    assert run.returncode == 0, run.stderr
    with open(out, newline="", encoding="utf-8") as f:
        rows = {row["file"]: row for row in csv.DictReader(f)}
    return {"solution": solution, "rows": rows, "feedback": feedback, "folder": folder, "run": run,
            "lab": grading.load_solution(solution), "out": out}


def test_one_row_per_file_with_points_per_question(graded):
    lab = graded["lab"]
    files = {p.name for p in graded["folder"].iterdir()}
    assert set(graded["rows"]) == files
    for row in graded["rows"].values():
        assert row["student"] == Path(row["file"]).stem
        assert row["lab"] == graded["solution"].stem, "sheets of several labs can be stacked"
        assert float(row["max"]) == lab.max_points
        assert [float(row[f"{t.key} max"]) for t in lab.tests] == [t.points for t in lab.tests]
        points = [float(row[t.key]) for t in lab.tests]
        assert all(0 <= p <= t.points for p, t in zip(points, lab.tests))
        assert (row["review"] == "yes") == any(f"{s}: " in row["reason"] or row["status"] == s
                                               for s in grading.REVIEW)
        assert float(row["total"]) == pytest.approx(sum(points))
        assert row["status"] in grading.STATUSES
        problems = [part for part in row["reason"].split("; ") if part and not part.startswith("note: ")]
        assert (row["status"] == "ok") == (not problems), row


def test_the_solution_scores_full_marks(graded):
    row = graded["rows"]["the_solution.ipynb"]
    by_hand = sum(w.points for w in graded["lab"].written)  # written answers wait for a person's points
    assert (row["status"], float(row["total"])) == ("ok", graded["lab"].max_points - by_hand), row["reason"]


def test_the_generated_lab_scores_zero_not_attempted(graded):
    row = graded["rows"]["the_lab.ipynb"]
    assert (row["status"], float(row["total"])) == ("not-attempted", 0.0), row["reason"]


def test_the_class_summary_shows_every_exercise_and_status(graded):
    page = graded["out"].with_suffix(".html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page, "the score histograms are embedded"
    for status in {row["status"] for row in graded["rows"].values()}:
        assert f"<td>{status}</td>" in page
    assert f"{len(graded['rows'])} file(s)" in page


@pytest.mark.parametrize("graded, name", BROKEN, indirect=["graded"])
def test_broken_submission_gets_its_status_and_points(graded, name):
    expected = expected_statuses(graded["solution"])[name]
    row = graded["rows"][name]
    lab = graded["lab"]
    assert row["status"] == expected["status"], f"{name}: {row['reason']}"
    for status in expected["also"]:
        assert f"{status}: " in row["reason"], f"{name}: {status} missing from {row['reason']!r}"
    lost = expected["lost"]
    for test in lab.tests:
        if lost == "all":
            want = 0.0
        else:
            want = test.points - lost.get(test.key, 0)
        assert float(row[test.key]) == want, f"{name}: {test.key} scored {row[test.key]}, expected {want}"


def test_every_status_but_internal_ones_is_exercised():
    exercised = {e["status"] for e in EXPECTED01.values()} | {s for e in EXPECTED01.values() for s in e["also"]}
    # timeout: test_the_notebook_time_limit; forbidden-name, needs-review: test_grading_forbidden.py
    # and test_grading_attacks.py; grader-error: test_grading_attacks.py
    untested = set(grading.STATUSES) - exercised - {"timeout", "forbidden-name", "needs-review", "grader-error"}
    assert not untested, f"no broken submission exercises {sorted(untested)}"


def test_one_feedback_file_per_student_without_hidden_tests(graded):
    lab = graded["lab"]
    pages = {p.stem: p.read_text(encoding="utf-8") for p in graded["feedback"].glob("*.html")}
    assert set(pages) == {Path(f).stem for f in graded["rows"]}
    # A hidden line that the lab also shows (a `with torch.no_grad():`) is no secret.
    public = {"".join(line.split()) for text in lab.public_texts for line in text.splitlines()}
    hidden = {line for line in lab.hidden_lines if len(line) >= 12 and "".join(line.split()) not in public}
    for student, page in pages.items():
        assert "BEGIN HIDDEN TESTS" not in page
        leaked = [line for line in hidden if line in page]
        assert not leaked, f"feedback for {student} shows hidden test code: {leaked[:3]}"
        row = graded["rows"][next(f for f in graded["rows"] if Path(f).stem == student)]
        assert f"Score: {row['total']} / {row['max']}" in page
    assert "NotImplementedError" in pages["the_lab"], "feedback says why the unanswered lab failed"


@pytest.mark.parametrize("graded", [LAB01], indirect=True)
def test_feedback_separates_visible_and_hidden_failures(graded):
    page = (graded["feedback"] / "hardcoded.html").read_text()
    assert "hidden tests: AssertionError" in page
    assert grading.FOR_STUDENTS["passes-visible-only"] in page
    assert "passes-visible-only" not in page and "hard-coded" not in page, "no grader internals, no accusation"
    assert "Exercise 1: the L2 penalty without the biases" in page and "ex1-tests" not in page
    assert "Cell In[" not in page


def test_the_notebook_time_limit_stops_the_run_and_keeps_what_ran(tmp_path):
    nb = nbformat.read(SUBMISSIONS / "lab01" / "solved.ipynb", as_version=4)
    nb.cells.insert(answer_index(nb, "ex1-tests") + 1, nbformat.v4.new_code_cell("import time\ntime.sleep(600)"))
    (tmp_path / "subs").mkdir()
    nbformat.write(nb, tmp_path / "subs" / "slow.ipynb")
    started = time.monotonic()
    [result] = grading.grade_folder(LAB01, tmp_path / "subs", cell_timeout=300, timeout=40)
    assert time.monotonic() - started < 200
    assert result.status == "timeout", result.reason
    points = {o.grade_id: o.points for o in result.outcomes}
    assert points["ex1-tests"] == 2 and points["ex2-tests"] == 0


# ----------------------------------------------------------------- matching, without kernels


def lab01_submission(nb: nbformat.NotebookNode, tmp_path: Path) -> grading.Submission:
    path = tmp_path / "student.ipynb"
    nbformat.write(nb, path)
    return grading.read_submission(path)


def test_answers_are_found_without_metadata_even_when_moved_between_scratch_cells(tmp_path):
    lab = grading.load_solution(LAB01)
    nb = nbformat.read(SUBMISSIONS / "lab01" / "solved.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata = {}
    answer = next(i for i, c in enumerate(nb.cells) if c.source.startswith("def proximal_l1_step_"))
    nb.cells.insert(answer, nbformat.v4.new_code_cell("scratch = 1"))
    nb.cells.insert(answer + 2, nbformat.v4.new_code_cell("print(scratch)"))
    alignment = grading.build_graded_notebook(lab, lab01_submission(nb, tmp_path))
    answers = {c.grade_id: c.source for c in alignment.cells if c.role == "answer"}
    assert answers["ex3-solution"].startswith("def proximal_l1_step_")
    assert len(answers) == sum(c.role == "answer" for c in lab.cells)
    extras = [c.source for c in alignment.cells if c.role == "extra"]
    assert extras == ["scratch = 1", "print(scratch)"]
    assert set(alignment.problems) == {"metadata-stripped"}


def answer_index(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_an_answer_written_in_a_cell_of_the_students_own_still_counts(tmp_path):
    lab = grading.load_solution(LAB01)
    nb = nbformat.read(SUBMISSIONS / "lab01" / "solved.ipynb", as_version=4)
    answer = answer_index(nb, "ex2-solution")
    source = nb.cells[answer].source
    del nb.cells[answer]
    nb.cells.insert(answer - 1, nbformat.v4.new_code_cell("# my version, above the prompt\n" + source))
    alignment = grading.build_graded_notebook(lab, lab01_submission(nb, tmp_path))
    roles = [(c.role, c.grade_id) for c in alignment.cells]
    assert ("stub", "ex2-solution") not in roles, "no stub may override the student's definition"
    assert roles.index(("extra", None)) < roles.index(("test", "ex2-tests"))
    assert "missing-answer" not in alignment.problems


def test_a_deleted_answer_is_replaced_by_its_stub(tmp_path):
    lab = grading.load_solution(LAB01)
    nb = nbformat.read(SUBMISSIONS / "lab01" / "solved.ipynb", as_version=4)
    del nb.cells[answer_index(nb, "ex4-solution")]
    alignment = grading.build_graded_notebook(lab, lab01_submission(nb, tmp_path))
    roles = [(c.role, c.grade_id) for c in alignment.cells]
    assert roles.index(("stub", "ex4-solution")) < roles.index(("test", "ex4-tests"))
    assert "missing-answer" in alignment.problems


def test_another_lab_with_the_same_grade_ids_is_the_wrong_notebook(tmp_path):
    lab = grading.load_solution(LAB01)
    nb = nbformat.read(SUBMISSIONS / "lab01" / "solved.ipynb", as_version=4)
    for number, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = f"Lab 2, part {number}"  # ids like ex1-solution recur from lab to lab
    alignment = grading.build_graded_notebook(lab, lab01_submission(nb, tmp_path))
    assert set(alignment.problems) == {"wrong-notebook"} and not alignment.cells


def test_matching_a_huge_cell_stays_quick(tmp_path):
    """Texts are cut before difflib compares them: a megabyte cell cannot stall the grader."""
    lab = grading.load_solution(LAB01)
    nb = nbformat.read(SUBMISSIONS / "lab01" / "solved.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata = {}  # every answer is searched by content
    # Commented-out copies of a test cell: difflib's worst case (about 20 s per comparison uncut).
    copies = "\n".join("# " + line for line in lab.tests[0].lab_source.splitlines())
    huge = "x = 1\n" + "\n".join([copies] * (2_000_000 // len(copies)))
    nb.cells.insert(answer_index_by_text(nb, "def "), nbformat.v4.new_code_cell(huge))
    started = time.monotonic()
    alignment = grading.build_graded_notebook(lab, lab01_submission(nb, tmp_path))
    assert time.monotonic() - started < 120, "generous: an unbounded comparison takes hours"
    assert "wrong-notebook" not in alignment.problems


def answer_index_by_text(nb, start: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(start))


def test_hidden_tests_run_apart_from_visible_tests(tmp_path):
    lab = grading.load_solution(LAB01)
    nb = nbformat.read(SUBMISSIONS / "lab01" / "unanswered.ipynb", as_version=4)
    alignment = grading.build_graded_notebook(lab, lab01_submission(nb, tmp_path))
    parts = [c for c in alignment.cells if c.role == "test" and c.grade_id == "ex1-tests"]
    assert [c.hidden for c in parts] == [False, True]
    assert all(labs.HIDDEN_BEGIN not in c.source for c in parts)


# ----------------------------------------------------------------- the instructor's mistakes


def test_cli_instructor_mistakes_exit_2_with_a_clear_message(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    out = str(tmp_path / "grades.csv")
    cases = [
        (["grade", str(tmp_path / "missing.ipynb"), str(subs), "--out", out], "does not exist"),
        (["grade", str(LAB01), str(tmp_path / "nowhere"), "--out", out], "does not exist or is not a folder"),
        (["grade", str(LAB01), str(subs), "--out", out], "holds no file to grade"),
        (["grade", str(ROOT / "labs" / LAB01.name), str(subs), "--out", out], "student's lab instead of"),
    ]
    for argv, message in cases:
        run = run_regopt(*argv)
        assert run.returncode == 2, (argv, run.stdout, run.stderr)
        assert message in run.stderr, (argv, run.stderr)
        assert "Traceback" not in run.stderr
    assert not (tmp_path / "grades.csv").exists()


@pytest.mark.parametrize("option", [["--jobs", "0"], ["--timeout", "-1"], ["--cell-timeout", "soon"]])
def test_cli_rejects_bad_options(tmp_path, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", str(LAB01), str(tmp_path), "--out", str(tmp_path / "g.csv"), *option])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert option[0] in err and ("invalid" in err or "is not" in err), err


def test_grade_folder_rejects_bad_limits():
    with pytest.raises(grading.InstructorError, match="jobs=0 is invalid"):
        grading.grade_folder(LAB01, SUBMISSIONS / "lab01", jobs=0)


def test_the_instructors_page_documents_every_status_and_shows_no_delimiter():
    page = (ROOT / "book" / "instructors.md").read_text(encoding="utf-8")
    for status in grading.STATUSES:
        assert f"| `{status}` |" in page, f"book/instructors.md does not explain the status {status!r}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in page, "the website must never show a delimiter (tests/test_website.py)"
    for command in ("regopt labs", "regopt grade", "--jobs", "--feedback-dir", "--check-solution"):
        assert command in page
