"""Labs are generated from their solutions, up to date, complete, and never leak a solution."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from regopt.instructor import course, labs
from regopt.instructor.cli import main

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = labs.solution_paths(ROOT)
LEAK_MARKERS = [labs.SOLUTION_BEGIN, labs.SOLUTION_END, labs.HIDDEN_BEGIN, labs.HIDDEN_END,
                "BEGIN SOLUTION", "BEGIN HIDDEN TESTS"]


def lab_of(solution: Path) -> Path:
    return ROOT / "labs" / solution.name


def secret_lines(solution: Path) -> set[str]:
    """Lines that occur in the solution only inside solution or hidden-test regions."""
    inside, outside = set(), set()
    for cell in nbformat.read(solution, as_version=4).cells:
        region = False
        for line in cell.source.splitlines():
            text = line.strip()
            if labs.SOLUTION_BEGIN in line or labs.HIDDEN_BEGIN in line:
                region = True
            elif labs.SOLUTION_END in line or labs.HIDDEN_END in line:
                region = False
            elif len(text) >= 12 and not text.startswith("#"):
                (inside if region else outside).add(text)
    return inside - outside


def test_there_is_a_lab():
    assert SOLUTIONS, "no solutions/NN_topic.ipynb found"


def test_labs_are_up_to_date():
    problems = labs.stale_labs(ROOT)
    assert not problems, "; ".join(problems) + " (run `regopt labs`)"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_no_solution_or_hidden_test_reaches_the_lab(solution):
    text = lab_of(solution).read_text(encoding="utf-8")
    for marker in LEAK_MARKERS:
        assert marker not in text, f"labs/{solution.name} contains {marker!r}"
    secrets = secret_lines(solution)
    assert secrets, "the solution should have solution and hidden-test code to protect"
    lab_lines = {line.strip() for cell in nbformat.reads(text, as_version=4).cells
                 for line in cell.source.splitlines()}
    leaked = sorted(secrets & lab_lines)
    assert not leaked, f"labs/{solution.name} contains solution or hidden-test lines: {leaked[:5]}"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_every_lab_has_its_header(solution):
    info = course.course_info(ROOT)
    nb = nbformat.read(lab_of(solution), as_version=4)
    title = nb.cells[0]
    assert title.cell_type == "markdown" and re.match(r"# Lab \d+: \S", title.source), title.source
    header = nb.cells[:5]
    badges = [c for c in header if c.cell_type == "markdown"
              and c.source.strip() == course.colab_badge_markdown(f"labs/{solution.name}", info)]
    assert badges, "the 'Open in Colab' badge of this very lab is missing from the header"
    setups = [c for c in header if c.cell_type == "code" and course.SETUP_TAG in c.metadata.get("tags", [])]
    assert len(setups) == 1 and setups[0].source == course.setup_cell_source(info)
    assert 'if "google.colab" in sys.modules' in setups[0].source, "the set-up cell must do nothing outside Colab"
    goals = [c for c in header if c.cell_type == "markdown" and "Learning goals" in c.source]
    assert goals and "Estimated time" in goals[0].source and "- " in goals[0].source


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_answers_are_stubs_and_tests_are_locked(solution):
    nb = nbformat.read(lab_of(solution), as_version=4)
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]  # a written answer is graded and editable
    assert answers and tests
    for cell in answers:
        if cell.cell_type == "markdown":  # a written answer: nbgrader's placeholder, no rubric
            assert cell.source.strip() == "YOUR ANSWER HERE", cell.source[:200]
            assert "rubric" not in cell.metadata.get("regopt", {}), "the rubric stays with the instructor"
        else:
            assert "raise NotImplementedError()" in cell.source
    for cell in tests:
        assert cell.metadata.get("editable") is False and cell.metadata.get("deletable") is False
        assert cell.metadata["nbgrader"]["points"] > 0
        assert cell.metadata["nbgrader"].get("checksum"), "nbgrader's checksum is recorded"
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_lab_keeps_every_cell_of_its_solution(solution):
    lab = nbformat.read(lab_of(solution), as_version=4)
    sol = nbformat.read(solution, as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in lab.cells]
    assert ids == [ids[0], labs.BADGE_GRADE_ID] + [c.metadata.get("nbgrader", {}).get("grade_id")
                                                   for c in sol.cells[1:]]


def copy_course(tmp_path: Path) -> Path:
    """A minimal course repository: config, toc, solutions, labs."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("solutions", "labs"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_repository_ref_comes_from_config_only(tmp_path):
    root = copy_course(tmp_path)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/someone/fork"
    config["repository"]["branch"] = "v2.0"
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    assert labs.stale_labs(root), "a new ref must make every lab stale"
    for path in labs.generate_labs(root):
        text = path.read_text()
        assert "github/someone/fork/blob/v2.0/labs/" + path.name in text
        assert "git+https://github.com/someone/fork@v2.0" in text
    assert labs.stale_labs(root) == []


def test_cli_labs_check_and_regenerate(tmp_path, capsys):
    root = copy_course(tmp_path)
    assert main(["labs", "--check", "--root", str(root)]) == 0
    lab = root / "labs" / SOLUTIONS[0].name
    nb = nbformat.read(lab, as_version=4)
    nb.cells[0].source += " (edited by hand)"
    nbformat.write(nb, lab)
    (root / "labs" / "99_orphan.ipynb").write_text(lab.read_text())
    assert main(["labs", "--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"labs/{lab.name} is out of date" in err and "99_orphan.ipynb has no solutions/" in err
    assert main(["labs", "--root", str(root)]) == 0
    (root / "labs" / "99_orphan.ipynb").unlink()
    assert main(["labs", "--check", "--root", str(root)]) == 0


def solution_notebook(cells: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lab 9: Broken")] + cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def nbgrader_cell(source: str, grade_id: str, *, grade=False, solution=False, points=None):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "grade_id": grade_id, "locked": not solution,
                                 "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        cell.metadata["nbgrader"]["points"] = points
    return cell


GOOD_ANSWER = nbgrader_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", "a", solution=True)
GOOD_TEST = nbgrader_cell("assert f() == 1", "t", grade=True, points=1)


@pytest.mark.parametrize("cells, message", [
    ([nbgrader_cell("def f():\n    ### BEGIN SOLUTION\n    return 1", "a", solution=True), GOOD_TEST],
     "never closes it"),
    ([GOOD_ANSWER, nbgrader_cell("assert f() == 1", "a", grade=True, points=1)], "Duplicate grade id"),
    ([GOOD_ANSWER, nbgrader_cell("### BEGIN HIDDEN TESTS\nassert f()\n### END HIDDEN TESTS", "c")],
     "is not a test cell"),
    ([GOOD_ANSWER, nbgrader_cell("assert f() == 1", "t", grade=True, points=0)], "expected a positive number"),
    ([GOOD_ANSWER], "no test cell"),
    ([nbgrader_cell("def f():\n    raise NotImplementedError()", "a", solution=False), GOOD_TEST],
     "no answer cell"),
    ([nbgrader_cell("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION", "c"), GOOD_ANSWER, GOOD_TEST],
     "is not an answer cell"),
])
def test_a_malformed_solution_gets_a_clear_error(tmp_path, cells, message):
    path = tmp_path / "09_broken.ipynb"
    nbformat.write(solution_notebook(cells), path)
    with pytest.raises(labs.LabError, match=message) as error:
        labs.read_solution(path)
    assert str(path) in str(error.value), "the error names the file"


def test_a_missing_solution_gets_a_clear_error(tmp_path):
    with pytest.raises(labs.LabError, match="does not exist"):
        labs.read_solution(tmp_path / "nothing.ipynb")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_solved_lab_is_the_lab_with_the_solutions_answers(solution):
    solved = labs.solved_lab(solution)
    lab = nbformat.read(lab_of(solution), as_version=4)
    assert [c.get("id") for c in solved.cells] == [c.get("id") for c in lab.cells]
    for filled, blank in zip(solved.cells, lab.cells):
        if blank.metadata.get("nbgrader", {}).get("solution"):
            assert "NotImplementedError" not in filled.source and "### " not in filled.source
        else:
            assert filled.source == blank.source


@pytest.mark.parametrize("config, message", [
    ("repository: [unclosed\n", "is not valid YAML"),
    ("- a list\n", "expected a mapping"),
    ("title: x\n", "must define repository.url and repository.branch"),
])
def test_cli_bad_config_exits_2_with_one_line(tmp_path, capsys, config, message):
    root = copy_course(tmp_path)
    (root / "_config.yml").write_text(config)
    assert main(["labs", "--check", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert message in err and "_config.yml" in err and len(err.strip().splitlines()) == 1, err


def test_cli_version_and_short_jobs_option(capsys):
    import regopt

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"regopt {regopt.__version__}"
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", "--help"])
    assert exit_info.value.code == 0 and "-j JOBS, --jobs JOBS" in capsys.readouterr().out


def test_the_instructor_commands_never_import_torch():
    code = ("import sys\nfrom regopt.instructor.cli import main\n"
            "for argv in (['grade', '--help'], ['labs', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "main(['labs', '--check'])\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr


def test_the_student_library_is_lazy():
    code = ("import sys\nimport regopt\nassert 'torch' not in sys.modules\n"
            "assert regopt.pick(1, 2) in (1, 2) and 'torch' not in sys.modules\n"
            "regopt.MLP\nassert 'torch' in sys.modules and 'regopt.models' in sys.modules\n"
            "assert callable(regopt.fit) and regopt.Dataset\n"
            "try:\n    regopt.nothing\nexcept AttributeError as e:\n    assert 'nothing' in str(e)\n"
            "else:\n    raise SystemExit('no AttributeError')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


def test_a_missing_extra_is_named_in_one_line():
    code = ("import sys\nsys.modules['nbgrader'] = None\nsys.modules['nbformat'] = None\n"
            "from regopt.instructor.cli import main\nraise SystemExit(main(['labs', '--check']))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 2, run.stderr
    assert "instructor" in run.stderr and "pip install" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
