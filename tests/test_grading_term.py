"""Issue 27: the bookkeeping of a term (nothing lost, nothing leaked) on the small lab of minilab.py.

One lab graded as an instructor would with the documented layout (``--out grades/lab98.csv``):
a second lab never overwrites the first's pages, regrading one file updates its row and page
and keeps the others, another lab's sheet is refused without ``--replace``, and Moodle's
per-student folders are read.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import minilab
import nbformat
import pytest

from regopt.instructor import grading
from regopt.instructor.cli import main

ROOT = Path(__file__).resolve().parents[1]
LIMITS = ["--jobs", "2", "--cell-timeout", "30", "--timeout", "120", "--quiet"]


def rows(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """A class of three graded once: alice right, bob with exercise 2 wrong, carol blank."""
    base = tmp_path_factory.mktemp("term")
    solution, solved = minilab.write_solution(base)
    subs = base / "submissions" / "lab98"
    subs.mkdir(parents=True)
    nbformat.write(solved, subs / "alice.ipynb")
    nbformat.write(minilab.submission(solved, {"ex2-solution": "def cube(x):\n    return 0"}), subs / "bob.ipynb")
    nbformat.write(minilab.submission(solved, {}), subs / "carol.ipynb")
    out = base / "grades" / "lab98.csv"
    assert main(["grade", str(solution), str(subs), "--out", str(out), *LIMITS]) == 0
    return {"base": base, "solution": solution, "solved": solved, "subs": subs, "out": out}


def test_each_labs_pages_live_in_their_own_folder(term):
    pages = term["out"].parent / "feedback" / "98_roots"
    assert sorted(p.name for p in pages.iterdir()) == ["alice.html", "bob.html", "carol.html"]


def test_regrading_one_file_updates_its_row_and_page_and_keeps_the_rest(term, capsys):
    fixed = term["base"] / "fixed"
    fixed.mkdir()
    nbformat.write(term["solved"], fixed / "bob.ipynb")  # bob's corrected notebook
    before = rows(term["out"])
    page = term["out"].parent / "feedback" / "98_roots" / "bob.html"
    assert "Score: 2 / 3" in page.read_text()
    capsys.readouterr()
    assert main(["grade", str(term["solution"]), str(fixed / "bob.ipynb"), "--out", str(term["out"]), *LIMITS]) == 0
    said = capsys.readouterr().out
    after = rows(term["out"])
    assert set(after) == set(before), "the sheet never shrinks"
    assert after["bob.ipynb"]["total"] == "3" and after["alice.ipynb"] == before["alice.ipynb"]
    assert "Score: 3 / 3" in page.read_text()
    assert "0 new row(s), 1 updated, 2 kept" in said and "1 of them replacing" in said, said
    assert "3 file(s)" in term["out"].with_suffix(".html").read_text(), "the summary counts the whole class"


def test_another_labs_sheet_or_pages_are_refused_without_replace(term, tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_text("student,file,lab,total\nzoe,zoe.ipynb,01_penalties,3\n")
    argv = ["grade", str(term["solution"]), str(term["subs"] / "alice.ipynb"), *LIMITS]
    assert main([*argv, "--out", str(other)]) == 2
    assert "--replace" in capsys.readouterr().err and "01_penalties" in other.read_text()
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "zoe.html").write_text('<html><head><meta name="regopt-lab" content="01_penalties">')
    assert main([*argv, "--out", str(tmp_path / "new.csv"), "--feedback-dir", str(pages)]) == 2
    assert "another lab" in capsys.readouterr().err
    assert main([*argv, "--out", str(other), "--replace"]) == 0
    assert list(rows(other)) == ["alice.ipynb"]
    assert "Replaced" in capsys.readouterr().out


def test_moodle_per_student_folders_are_read(term, tmp_path):
    download = tmp_path / "moodle"
    for who, number in (("Alice Smith", 101), ("Bob Jones", 102)):
        folder = download / f"{who}_{number}_assignsubmission_file_"
        folder.mkdir(parents=True)
        shutil.copy(term["subs"] / "alice.ipynb", folder / "lab98.ipynb")
    (download / "Bob Jones_102_assignsubmission_file_" / "notes.txt").write_text("my notes")
    files = grading.list_submissions(download)
    assert [f.parent.name[:5] for f in files] == ["Alice", "Bob J"] and all(f.suffix == ".ipynb" for f in files)
    results = grading.grade_folder(term["solution"], download, jobs=2, cell_timeout=30, timeout=120)
    assert [(r.student, r.total) for r in results] == [("Alice Smith_101", 3.0), ("Bob Jones_102", 3.0)]
    assert results[0].file == "Alice Smith_101_assignsubmission_file_/lab98.ipynb"


def test_student_work_and_grades_are_ignored_by_git():
    for path in ("submissions/lab01/alice.ipynb", "grades/lab01.csv", "grades/feedback/01_penalties/a.html"):
        check = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert check.returncode == 0, f"{path} is not ignored by git"
    assert subprocess.run(["git", "check-ignore", "-q", "tests/submissions/make_lab01.py"], cwd=ROOT).returncode == 1


# ----------------------------------------------------------------- a kernel that dies (issue 27 item 4)

DEATHS = {
    # What the kernel's OOM killer does to a process that exhausts memory: SIGKILL.
    "oom_killed": "def cube(x):\n    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)",
    "exits": "def cube(x):\n    import os\n    os._exit(3)",
    # exhausts the memory: a MemoryError under the kernel's limit, or the kernel's death without one
    "exhausts_memory": "def cube(x):\n    hog = [bytearray(2**20) for _ in range(2**16)]\n    return x ** 3",
    # the same in a cell of the student's own, before exercise 2's answer
    "dies_in_added_cell": None,
}


@pytest.fixture(scope="module")
def deaths(tmp_path_factory):
    base = tmp_path_factory.mktemp("deaths")
    solution, solved = minilab.write_solution(base, minilab.three_exercises())
    subs = base / "subs"
    subs.mkdir()
    for name, answer in DEATHS.items():
        if answer is None:
            nb = minilab.submission(solved, {}, {"ex2-solution": ["hog = [bytearray(2**20) for _ in range(2**14)]"]})
        else:
            nb = minilab.submission(solved, {"ex2-solution": answer})
        nbformat.write(nb, subs / f"{name}.ipynb")
    # 1 GB of address space: the list of 16 GB in the added cell hits the limit (MemoryError, or the
    # kernel dies); either way exercise 3 must earn its point.
    results = grading.grade_folder(solution, subs, jobs=2, cell_timeout=60, timeout=200,
                                   limits=grading_limits(1024))
    return {r.student: r for r in results}, grading.load_solution(solution)


def grading_limits(memory_mb: int):
    from regopt.instructor import sandbox

    return sandbox.Limits(memory_mb=memory_mb)


@pytest.mark.parametrize("name", ["oom_killed", "exits"])
def test_a_dead_kernel_costs_its_exercise_only(deaths, name):
    results, lab = deaths
    result = results[name]
    points = {o.grade_id: o.points for o in result.outcomes}
    assert points == {"ex1-tests": 2, "ex2-tests": 0, "ex3-tests": 1}, result.reason
    assert "kernel-died: the kernel died during Exercise 2" in result.reason, result.reason
    from regopt.instructor import feedback

    page = feedback.feedback_html(result, lab)
    assert "during Exercise 2" in page and "Python stopped during this exercise" in page


@pytest.mark.parametrize("name", ["exhausts_memory", "dies_in_added_cell"])
def test_exercise_2_exhausting_memory_still_earns_exercise_3(deaths, name):
    results, _ = deaths
    result = results[name]
    points = {o.grade_id: o.points for o in result.outcomes}
    assert points == {"ex1-tests": 2, "ex2-tests": 0 if name == "exhausts_memory" else 1, "ex3-tests": 1}, \
        result.reason


# ----------------------------------------------------------------- the gradebook (issue 27 item 3)

#: Canvas's documented gradebook CSV (Instructure's guide "How do I import grades in the Gradebook?"):
#: the identity columns Student, ID, SIS User ID, SIS Login ID, Section, then one column per
#: assignment; an optional second row "Points Possible" under the assignment columns.
CANVAS_DOCUMENTED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def test_the_gradebook_joins_labs_by_student_id_and_exports_canvas(term, tmp_path, capsys):
    lab2 = tmp_path / "lab99.csv"
    lab2.write_text("student,file,lab,ex1-tests,ex1-tests max,total,max,status,review,redacted,reason\n"
                    "alice,alice.ipynb,99_other,4,5,4,5,ok,,0,\n"
                    "dave,dave.ipynb,99_other,5,5,5,5,ok,,0,\n")
    roster = tmp_path / "roster.csv"
    roster.write_text("file,id,name,section\nalice.ipynb,S001,\"Smith, Alice\",A\nbob.ipynb,S002,Bob Jones,A\n"
                      "carol.ipynb,S003,Carol Wu,B\nerin.ipynb,S004,Erin Ko,B\n")
    out, canvas = tmp_path / "gradebook.csv", tmp_path / "canvas.csv"
    argv = ["gradebook", str(term["out"]), str(lab2), "--roster", str(roster), "--out", str(out),
            "--canvas", str(canvas), "--canvas-assignment", "98_roots=Lab 98 (1234)"]
    assert main(argv) == 0
    said = capsys.readouterr()
    assert "dave.ipynb (99_other)" in said.err, "a file the roster does not know is listed"
    book = list(csv.DictReader(open(out, newline="", encoding="utf-8")))
    by_id = {row["id"]: row for row in book}
    assert by_id["S001"]["98_roots"] == "3" and by_id["S001"]["99_other"] == "4" and by_id["S001"]["total"] == "7"
    assert by_id["S004"]["98_roots"] == "" and by_id["S004"]["name"] == "Erin Ko", "no submission: empty"
    assert any(row["name"] == "dave" and row["id"] == "" for row in book), "unknown files are never dropped"
    with open(canvas, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:5] == CANVAS_DOCUMENTED and rows[0][5:] == ["Lab 98 (1234)", "99_other"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5:] == ["3", "5"]
    alice = next(r for r in rows[2:] if r[2] == "S001")
    assert alice == ["Smith, Alice", "", "S001", "", "A", "3", "4"]
    assert not any(r[0] == "dave" for r in rows), "Canvas matches by ID: unknown files are left out"
    assert all(len(r) == len(rows[0]) for r in rows)


def test_a_bad_roster_is_the_instructors_error(term, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("who,email\nalice,a@x\n")
    assert main(["gradebook", str(term["out"]), "--roster", str(roster), "--out", str(tmp_path / "g.csv")]) == 2
    assert "expected 'student' (or 'file') and 'id'" in capsys.readouterr().err


def test_the_gradebook_never_overwrites_a_grade_sheet_the_roster_or_another_file(term, tmp_path, capsys):
    sheet = term["out"]
    before = sheet.read_bytes()
    assert main(["gradebook", str(sheet), "--out", str(sheet)]) == 2
    assert "is one of the files read" in capsys.readouterr().err
    lab2 = tmp_path / "lab99.csv"
    lab2.write_bytes(before)
    assert main(["gradebook", str(sheet), "--out", str(lab2)]) == 2, "another lab's sheet is not a gradebook"
    assert f"--out {lab2} exists and is not a gradebook" in capsys.readouterr().err
    assert lab2.read_bytes() == before and sheet.read_bytes() == before
    notes = tmp_path / "notes.csv"
    notes.write_text("my,own\nnotes,here\n")
    assert main(["gradebook", str(sheet), "--out", str(tmp_path / "g.csv"), "--canvas", str(notes)]) == 2
    assert notes.read_text() == "my,own\nnotes,here\n" and not (tmp_path / "g.csv").exists()
    # Its own earlier outputs are rebuilt from the sheets, and it says so.
    out, canvas = tmp_path / "gradebook.csv", tmp_path / "canvas.csv"
    assert main(["gradebook", str(sheet), "--out", str(out), "--canvas", str(canvas)]) == 0
    capsys.readouterr()
    assert main(["gradebook", str(sheet), "--out", str(out), "--canvas", str(canvas)]) == 0
    said = capsys.readouterr().out
    assert "replacing the earlier gradebook" in said and "replacing the earlier Canvas file" in said


def test_the_gradebook_says_which_written_answers_are_still_to_grade(term, tmp_path, capsys):
    sheet = tmp_path / "lab97.csv"
    sheet.write_text("student,file,lab,ex1-tests,ex1-tests max,ex2-written,ex2-written max,total,max,by hand,"
                     "status,review,redacted,reason\n"
                     "alice,alice.ipynb,97_why,3,3,,2,3,5,ex2-written (2),ok,,0,\n"
                     "bob,bob.ipynb,97_why,3,3,1,2,4,5,,ok,,0,\n")
    out = tmp_path / "gradebook.csv"
    assert main(["gradebook", str(sheet), "--out", str(out)]) == 0
    said = capsys.readouterr().err
    assert "alice (97_why)" in said and "bob (97_why)" not in said
    by_name = {row["name"]: row for row in csv.DictReader(open(out, newline="", encoding="utf-8"))}
    assert by_name["alice"]["problems"] == "97_why: to grade by hand: ex2-written (2)"
    assert by_name["bob"]["problems"] == ""


# ----------------------------------------------------------------- written answers (issue 27 item 2)

WRITTEN_PROMPT = "## Exercise 3: why\nWhy does `root` need `x >= 0`? Answer in a sentence or two."


def written_lab() -> nbformat.NotebookNode:
    """The small lab with a written answer (nbgrader's manually graded markdown cell) after exercise 2."""
    nb = minilab.mini_solution()
    answer = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nA negative number has no real square root: "
                                           "x ** 0.5 is complex there.\n### END SOLUTION")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "ex3-written", "points": 2,
                                   "locked": False, "schema_version": 3, "task": False}
    answer.metadata["regopt"] = {"rubric": "1 point: no real root for x < 0. 1 point: ** 0.5 gives a complex."}
    nb.cells += [nbformat.v4.new_markdown_cell(WRITTEN_PROMPT), answer]
    return nb


def test_written_answers_are_collected_reviewed_and_merged(tmp_path, capsys):
    solution, solved = minilab.write_solution(tmp_path, written_lab())
    lab = grading.load_solution(solution)
    assert [w.key for w in lab.written] == ["ex3-written"] and lab.max_points == 5
    position = next(i for i, c in enumerate(solved.cells) if c.metadata.get("nbgrader", {}).get("grade_id")
                    == "ex3-written")
    from regopt.instructor import course, labs

    student_lab = labs.generate_lab(solution, course.course_info(ROOT))
    assert "YOUR ANSWER HERE" in student_lab.cells[position].source, "the lab holds the stub"
    assert "no real square root" not in nbformat.writes(student_lab), "and never the model answer"
    subs = tmp_path / "subs"
    subs.mkdir()
    alice = nbformat.from_dict(json.loads(nbformat.writes(solved)))
    alice.cells[position].source = "Because sqrt of a negative is not real."
    nbformat.write(alice, subs / "alice.ipynb")
    bob = nbformat.from_dict(json.loads(nbformat.writes(solved)))
    for cell in bob.cells:
        cell.metadata = {}  # Colab lost the metadata: the answer is found by position
    bob.cells[position].source = "Roots of negatives are complex."
    nbformat.write(bob, subs / "bob.ipynb")
    out = tmp_path / "grades" / "lab98.csv"
    assert main(["grade", str(solution), str(subs), "--out", str(out), *LIMITS]) == 0
    said = capsys.readouterr().out
    assert "regopt merge-written" in said
    sheet = rows(out)
    assert sheet["alice.ipynb"]["ex3-written"] == "" and sheet["alice.ipynb"]["by hand"] == "ex3-written (2)"
    assert sheet["alice.ipynb"]["total"] == "3" and sheet["alice.ipynb"]["max"] == "5"
    folder = out.parent / "written" / "98_roots"
    page = (folder / "ex3-written.html").read_text()
    assert "sqrt of a negative is not real" in page and "Roots of negatives are complex" in page
    assert "1 point: no real root" in page, "the rubric beside the answers"
    review = list(csv.DictReader(open(folder / "ex3-written.csv", newline="", encoding="utf-8")))
    assert [r["file"] for r in review] == ["alice.ipynb", "bob.ipynb"] and all(r["points"] == "" for r in review)
    for r in review:
        r["points"], r["comment"] = ("2", "Right.") if r["file"] == "alice.ipynb" else ("", "")
    with open(folder / "ex3-written.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(review[0]))
        writer.writeheader()
        writer.writerows(review)
    assert main(["merge-written", str(solution), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "Merged 1 written answer(s)" in said and "1 answer(s) still to grade" in said
    sheet = rows(out)
    assert sheet["alice.ipynb"]["ex3-written"] == "2" and sheet["alice.ipynb"]["total"] == "5"
    assert sheet["alice.ipynb"]["by hand"] == "" and sheet["bob.ipynb"]["by hand"] == "ex3-written (2)"
    alice_page = (out.parent / "feedback" / "98_roots" / "alice.html").read_text()
    assert "Right." in alice_page and "Score: 5 / 5" in alice_page
    assert main(["merge-written", str(solution), "--out", str(out)]) == 0  # merging twice changes nothing
    assert rows(out)["alice.ipynb"]["total"] == "5"


def test_a_written_point_out_of_range_is_the_instructors_error(tmp_path, capsys):
    solution, solved = minilab.write_solution(tmp_path, written_lab())
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(solved, subs / "alice.ipynb")
    out = tmp_path / "g.csv"
    assert main(["grade", str(solution), str(subs), "--out", str(out), *LIMITS]) == 0
    sheet = tmp_path / "written" / "98_roots" / "ex3-written.csv"
    sheet.write_text(sheet.read_text().replace("alice.ipynb,,2", "alice.ipynb,3,2"))
    capsys.readouterr()
    assert main(["merge-written", str(solution), "--out", str(out)]) == 2
    assert "points='3'" in capsys.readouterr().err


def test_merge_written_names_every_bad_row_and_writes_nothing_until_all_are_right(tmp_path, capsys):
    solution, solved = minilab.write_solution(tmp_path, written_lab())
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(solved, subs / "alice.ipynb")
    nbformat.write(solved, subs / "bob.ipynb")
    out = tmp_path / "g.csv"
    assert main(["grade", str(solution), str(subs), "--out", str(out), *LIMITS]) == 0
    sheet = tmp_path / "written" / "98_roots" / "ex3-written.csv"
    header = sheet.read_text().splitlines()[0]
    sheet.write_text(f"{header}\nalice,alice.ipynb,2,2,fine,\nbob,bob.ipynb,many,2,,\nzed,zed.ipynb,1,2,,\n")
    page = tmp_path / "feedback" / "98_roots" / "alice.html"
    before_page, before_sheet = page.read_text(), out.read_text()
    capsys.readouterr()
    assert main(["merge-written", str(solution), "--out", str(out)]) == 2
    said = capsys.readouterr().err
    assert "bob.ipynb has points='many'" in said and "Nothing was merged" in said
    assert page.read_text() == before_page and out.read_text() == before_sheet, "nothing merged on an error"
    sheet.write_text(f"{header}\nalice,alice.ipynb,2,2,fine,\nzed,zed.ipynb,1,2,,\n")
    assert main(["merge-written", str(solution), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "ex3-written: bob.ipynb" in said.out, "bob's answer, absent from the filled sheet, is still to grade"
    assert "zed.ipynb" in said.err and "fine" in page.read_text()
