"""Issue 26's attacks on real labs (1, 3 and 8, whose tests use different styles).

The submissions are made by ``tests/submissions/make_attacks.py`` from the current labs
(rerun it when they change). Each lab's folder is graded once by ``regopt grade`` with
``--jobs 2``. Every attack answers exercise 1 wrongly and the rest rightly; it must earn
no point of exercise 1 that the honest wrong answer did not earn unless it is marked for
review, keep the points of the other exercises, and leak no hidden test code into a
feedback page (the only file a student receives).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from regopt.instructor import grading

ROOT = Path(__file__).resolve().parents[1]
ATTACKS = ROOT / "tests" / "submissions" / "attacks"
EXPECTED = json.loads((ATTACKS / "attacks_expected.json").read_text())
_GRADED: dict[str, dict] = {}


def grade(lab: str, tmp_path_factory) -> dict:
    if lab not in _GRADED:
        out = tmp_path_factory.mktemp(f"attacks-{lab}") / "grades.csv"
        script = Path(sys.executable).parent / "regopt"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "regopt.instructor.cli"]
        run = subprocess.run([*command, "grade", str(ROOT / "solutions" / f"{lab}.ipynb"),
                              str(ATTACKS / f"lab{lab[:2]}"), "--out", str(out), "--jobs", "2",
                              "--cell-timeout", "120", "--timeout", "600", "--quiet"],
                             capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=1800)
        assert run.returncode == 0, run.stderr
        with open(out, newline="", encoding="utf-8") as f:
            rows = {Path(row["file"]).stem: row for row in csv.DictReader(f)}
        _GRADED[lab] = {"rows": rows, "feedback": out.parent / "feedback" / lab,
                        "lab": grading.load_solution(ROOT / "solutions" / f"{lab}.ipynb")}
    return _GRADED[lab]


CASES = [pytest.param(lab, Path(name).stem, id=f"{lab}-{Path(name).stem}")
         for lab, entry in sorted(EXPECTED.items()) for name in entry["attacks"]]


@pytest.mark.parametrize("lab", sorted(EXPECTED))
def test_the_controls_score_as_honest_students(lab, tmp_path_factory):
    graded = grade(lab, tmp_path_factory)
    solved, wrong = graded["rows"]["solved"], graded["rows"]["wrong_ex1"]
    autograded = sum(t.points for t in graded["lab"].tests)  # written answers wait for a person's points
    assert (solved["status"], float(solved["total"])) == ("ok", autograded), solved["reason"]
    assert wrong["ex1-tests"] == "0" and wrong["review"] == "", wrong
    for test in graded["lab"].tests[1:]:
        assert float(wrong[test.key]) == test.points, (test.key, wrong["reason"])


@pytest.mark.parametrize("lab, name", CASES)
def test_an_attack_earns_nothing_unflagged_and_leaks_nothing(lab, name, tmp_path_factory):
    graded = grade(lab, tmp_path_factory)
    row, wrong = graded["rows"][name], graded["rows"]["wrong_ex1"]
    assert row["review"] == "yes" and "needs-review: " in row["reason"], row
    # frame_overwrite changes the test's own names mid-test, harness_scan replaces the harness through
    # the builtins, global_expected and global_rebind re-bind (with a function's `global`) the test's
    # variables and torch while the test runs, read_expected reads the hidden test's expected value: all
    # are marked for review, none can be undone from inside the kernel the tests share.
    if name not in ("frame_overwrite", "harness_scan", "global_expected", "global_rebind", "read_expected"):
        assert float(row["ex1-tests"]) <= float(wrong["ex1-tests"]), row["reason"]
    # frame_leak and stack_leak make exercise 1's function raise, harness_scan keeps its re-bound names:
    # later exercises that use them may fail (the attack costs its author, never another student).
    if name not in ("frame_leak", "stack_leak", "harness_scan"):
        for test in graded["lab"].tests[1:]:
            assert float(row[test.key]) == test.points, (test.key, row["reason"])
    page = (graded["feedback"] / f"{name}.html").read_text(encoding="utf-8")
    public = {"".join(line.split()) for text in graded["lab"].public_texts for line in text.splitlines()}
    secret = {"".join(line.split()) for line in graded["lab"].hidden_lines} - public
    squeezed = "".join(page.split())
    leaked = [line for line in secret if len(line) >= 12 and line in squeezed]
    assert not leaked, f"{name}: hidden code in the feedback: {leaked[:3]}"


@pytest.mark.parametrize("lab, name, words", [
    (lab, name, words) for lab in sorted(EXPECTED) for name, words in [
        ("frame_leak", ["tb_frame", "linecache"]), ("stack_leak", ["traceback"]),
        ("frame_overwrite", ["f_globals"]), ("history_leak", ["uses In"]),
        ("harness_by_name", ["_regopt_harness"]), ("harness_scan", ["builtins"])]])
def test_the_reason_names_the_route(lab, name, words, tmp_path_factory):
    reason = grade(lab, tmp_path_factory)["rows"][name]["reason"]
    assert all(word in reason for word in words), (words, reason)


@pytest.mark.parametrize("name, words", [
    ("global_expected", ["declares global _expected"]), ("global_rebind", ["declares global torch"]),
    ("read_expected", ["uses _expected, a variable of the hidden tests"]),
    ("main_module", ["__main__.torch"]), ("globals_exec", ["globals()", "exec()"]),
    ("builtins_alias", ["builtins.abs", "the grader restored builtins.abs"]),
    ("generator_frame", ["getattr()"])])
def test_the_reason_names_the_route_of_lab_1s_third_round(name, words, tmp_path_factory):
    reason = grade("01_penalties", tmp_path_factory)["rows"][name]["reason"]
    assert all(word in reason for word in words), (words, reason)


@pytest.mark.parametrize("lab", sorted(EXPECTED))
def test_rebinding_is_undone_before_the_tests_and_named(lab, tmp_path_factory):
    row = grade(lab, tmp_path_factory)["rows"]["rebind_names"]
    rebound = ["np", "list"] if lab.startswith("08") else ["torch", "abs"]
    for name in rebound:
        assert f"the lab's {name}" in row["reason"] or f"the builtin {name}" in row["reason"], row["reason"]
    assert row["ex1-tests"] == "0", row["reason"]
