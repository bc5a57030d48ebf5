"""Issue 27 item 1: the student edition holds no solution and no hidden test, and still installs.

``python scripts/release.py --student-edition DIR`` writes the repository students see (see the
script's documentation); this builds it in a temporary folder and checks it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from regopt.instructor import course, grading, labs

ROOT = Path(__file__).resolve().parents[1]


def _release():
    spec = importlib.util.spec_from_file_location("release", ROOT / "scripts" / "release.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    target = tmp_path_factory.mktemp("edition") / "student"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "release.py"), "--student-edition", str(target)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "left out" in run.stdout, "the command says what it left out"
    return target


def test_no_solution_no_hidden_test_no_grader_submission(edition):
    assert not (edition / "solutions").exists() and not (edition / "tests" / "submissions").exists()
    assert not list((edition / "tests").glob("test_grading*.py"))
    hidden = {"".join(line.split()) for path in labs.solution_paths(ROOT)
              for line in grading.load_solution(path).hidden_lines}
    secret = _release().secret_lines(ROOT)
    hidden = {line for line in hidden - _release().public_lines(ROOT) if len(line) >= 12}
    assert secret and hidden, "the check has something to look for"
    for path in edition.rglob("*"):
        if path.is_file():
            try:
                text = _release()._cell_texts(path)
            except UnicodeDecodeError:
                continue
            lines = {"".join(line.split()) for line in text.splitlines()}
            found = (lines & secret) | (lines & hidden)
            assert not found, f"{path.relative_to(edition)} holds solution or hidden-test text: {sorted(found)[:2]}"


def test_the_labs_and_the_book_are_all_there_and_point_at_the_student_repository(edition):
    info = course.course_info(edition)
    assert info.url == course.course_info(ROOT).url, "repository.url is the student repository"
    for lab in (ROOT / "labs").glob("*.ipynb"):
        copy = edition / "labs" / lab.name
        assert copy.is_file(), f"labs/{lab.name} is missing"
        text = json.dumps(json.loads(copy.read_text()))
        assert info.url.split("//")[1] in text or info.owner_repo() in text, "badge and set-up cell"
    toc = yaml.safe_load((edition / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}])
                             for c in part.get("chapters", [])]
    for name in files:
        assert list(edition.glob(name + ".*")), f"the book's {name} is missing"


def test_the_package_builds_and_installs_from_the_edition(edition, tmp_path):
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          str(edition), "-w", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    [wheel] = tmp_path.glob("regopt-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "regopt/__init__.py" in names and "regopt/penalties.py" in names
