"""The grader under attack: submissions that try to forge a score, stop the batch or read the tests.

Every attacking submission answers exercise 2 wrongly (``cube`` returns 0) and then attacks;
one honest submission is graded in the same batch. Each attack must earn no point it did
not earn honestly, or be marked for review; the batch must finish, and the honest
student's grade must be intact. One ``regopt grade`` run (a subprocess, as an instructor
runs it) grades them all with ``--jobs 2`` on the small lab of ``tests/minilab.py``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import minilab
import nbformat
import pytest

from regopt.instructor import grading, runner, sandbox

ROOT = Path(__file__).resolve().parents[1]
WRONG = "def cube(x):\n    return 0"
TOKEN = "regopt-test-token-1b2f"  # stands for the instructor's credentials in the environment
ISOLATION = sandbox.isolation("auto")

#: name -> (cells added after the wrong answer, checks on the row and the kept work folder)
ATTACKS = {
    "forge_result_file": [
        "import json, os\n"
        "for name in ('result.json', '../result.json', '../worker/result.json'):\n"
        "    try:\n"
        "        open(name, 'w').write(json.dumps({'cells': [{'status': 'ok'}] * 99, 'finished': True}))\n"
        "    except OSError:\n"
        "        pass\n"
        "os.kill(os.getppid(), 9)",
    ],
    "kill_the_grader": [
        "import os, signal\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    try:\n"
        "        line = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
        "    except OSError:\n"
        "        continue\n"
        "    if b'regopt' in line and b'grade' in line or b'_grading_worker' in line:\n"
        "        os.kill(int(pid), signal.SIGKILL)",
    ],
    "steal_tests_and_tokens": [
        "import os\n"
        "found = [f'{k}={v}' for k, v in os.environ.items()]\n"
        "for top in ('/tmp', os.path.expanduser('~'), '..', '../..', os.environ.get('TMPDIR', '/tmp')):\n"
        "    for folder, _, files in os.walk(top):\n"
        "        for name in files:\n"
        "            if name.endswith('.ipynb'):\n"
        "                try:\n"
        "                    found.append(open(os.path.join(folder, name)).read())\n"
        "                except OSError:\n"
        "                    pass\n"
        "open('loot.txt', 'w').write('\\n'.join(found))",
    ],
    "remove_asserts": [
        "import ast\n"
        "class NoAsserts(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n"
        "        return ast.Pass()\n"
        "get_ipython().ast_transformers.append(NoAsserts())",
    ],
    "patch_builtins": ["import builtins\nbuiltins.AssertionError = KeyboardInterrupt\nbuiltins.abs = lambda x: 0"],
    "patch_library": ["import math\nmath.isclose = lambda *args, **kwargs: True"],
    "rebind_lab_helper": ["check = lambda value, expected: None"],
    "swallow_errors": [
        "ip = get_ipython()\n"
        "ip.events.register('post_run_cell', lambda result: setattr(result, 'error_in_exec', None))\n"
        "type(ip).showtraceback = lambda self, *a, **k: None",
    ],
    "trace_function": [
        "import sys\n"
        "def tracer(frame, event, arg):\n"
        "    return None\n"
        "sys.settrace(tracer)",
    ],
    "eat_memory": ["hog = bytearray(64 * 2**30)"],
    "huge_file": ["open('big.bin', 'wb').write(b'0' * (8 * 2**20))"],
    "answer_raises": [],  # cube raises: the feedback must show its exception (see below)
    # Issue 26: plain module-level re-binding of the names the tests look up (no machinery).
    "rebind_module": ["class Lenient:\n    isclose = staticmethod(lambda *args, **kwargs: True)\n\n\n"
                      "math = Lenient()"],
    "shadow_builtins": ["def abs(x):\n    return 0\n\n\nfloat = len = lambda *args: 0"],
    # Issue 26: the harness switched off by its old importable name, or found in sys.modules.
    "harness_by_name": ["import _regopt_harness\n_regopt_harness.reset = lambda: None"],
    "harness_in_sys_modules": [
        "import sys\n"
        "for module in list(sys.modules.values()):\n"
        "    if hasattr(module, 'reset') and hasattr(module, 'snapshot'):\n"
        "        module.reset = lambda: None"],
    # builtins reached through a builtin's __self__, read with operator.attrgetter (no getattr, no vars)
    "harness_sneaky": ["class Lenient:\n    isclose = staticmethod(lambda *args, **kwargs: True)\n\n\n"
                       "math = Lenient()",
        "import operator\n"
        "home = abs.__self__\n"
        "for name in dir(home):\n"
        "    value = operator.attrgetter(name)(home)\n"
        "    if hasattr(value, 'reset'):\n"
        "        value.reset = lambda: None"],
    # Issue 26: the hidden source read through the caller's frame, or IPython's history, then raised.
    "history_leak": ["raise RuntimeError('\\n'.join(In))"],
}

#: Attacks on exercise 1, whose hidden test holds minilab.HIDDEN_LINE: (answer, cells added after it).
FRAME_LEAK = (
    "def root(x):\n"
    "    try:\n"
    "        raise RuntimeError\n"
    "    except RuntimeError as error:\n"
    "        frame = error.__traceback__.tb_frame.f_back\n"
    "    import linecache\n"
    "    source = ''.join(linecache.getlines(frame.f_code.co_filename))\n"
    "    raise ValueError(source)")
EX1_ATTACKS = {
    "frame_leak": (FRAME_LEAK, []),
    # re-indented and on one line: the redaction compares without whitespace
    "frame_leak_squeezed": (FRAME_LEAK.replace("raise ValueError(source)",
                                               "raise ValueError(' '.join(source.split()))"), []),
    "frame_overwrite": (
        "def root(x):\n"
        "    try:\n"
        "        raise RuntimeError\n"
        "    except RuntimeError as error:\n"
        "        caller = error.__traceback__.tb_frame.f_back\n"
        "    caller.f_globals['abs'] = lambda value: 0\n"
        "    return x", []),
    "rebind_for_exercise_1": ("def root(x):\n    return x",
                              ["def abs(x):\n    return 0\n\n\nclass Lenient:\n"
                               "    isclose = staticmethod(lambda *args, **kwargs: True)\n\n\nmath = Lenient()"]),
}


if ISOLATION == "none":
    # Without a PID namespace nothing stops a kernel from killing the grader (the grader says so
    # in its notice); the battery still runs every other attack.
    del ATTACKS["kill_the_grader"]


def _notebooks(solved: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    books = {"honest": minilab.submission(solved, {})}
    for name, added in ATTACKS.items():
        answer = "def cube(x):\n    raise ValueError('cube is not written yet')\n\ncube(1)" \
            if name == "answer_raises" else WRONG
        nb = minilab.submission(solved, {"ex2-solution": answer})
        position = next(i for i, c in enumerate(nb.cells)
                        if c.metadata.get("nbgrader", {}).get("grade_id") == "ex2-solution")
        for offset, source in enumerate(added):
            nb.cells.insert(position + 1 + offset, nbformat.v4.new_code_cell(source))
        books[name] = nb
    for name, (answer, added) in EX1_ATTACKS.items():
        nb = minilab.submission(solved, {"ex1-solution": answer, "ex2-solution": WRONG})
        position = next(i for i, c in enumerate(nb.cells)
                        if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1-solution")
        for offset, source in enumerate(added):
            nb.cells.insert(position + 1 + offset, nbformat.v4.new_code_cell(source))
        books[name] = nb
    return books


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    solution, solved = minilab.write_solution(folder)
    submissions = folder / "submissions"
    submissions.mkdir()
    for name, nb in _notebooks(solved).items():
        nbformat.write(nb, submissions / f"{name}.ipynb")
    out, keep = folder / "grades.csv", folder / "kept"
    env = dict(os.environ, REGOPT_TEST_SECRET=TOKEN)
    script = Path(sys.executable).parent / "regopt"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "regopt.instructor.cli"]
    run = subprocess.run([*command, "grade", str(solution), str(submissions), "--out", str(out), "-j", "2",
                          "--cell-timeout", "30", "--timeout", "120", "--memory", "2048",
                          "--max-file-size", "4", "--keep-workdir", str(keep), "--quiet"],
                         capture_output=True, text=True, env=env, timeout=900)
    rows = {}
    if out.is_file():
        with open(out, newline="", encoding="utf-8") as f:
            rows = {row["student"]: row for row in csv.DictReader(f)}
    return {"run": run, "rows": rows, "keep": keep, "folder": folder}


def test_the_batch_finishes_and_the_honest_grade_is_intact(attacked):
    run, rows = attacked["run"], attacked["rows"]
    assert run.returncode == 0, run.stderr
    assert set(rows) == {"honest", *ATTACKS, *EX1_ATTACKS}
    honest = rows["honest"]
    assert (honest["status"], honest["total"], honest["review"]) == ("ok", "3", ""), honest["reason"]


@pytest.mark.parametrize("name", sorted([*ATTACKS, *EX1_ATTACKS]))
def test_an_attack_earns_nothing_it_did_not_earn(attacked, name):
    row = attacked["rows"][name]
    assert row["ex2-tests"] == "0", f"{name} scored exercise 2 with a wrong answer: {row['reason']}"
    assert row["ex1-tests"] in (("0",) if name in EX1_ATTACKS else ("2", "0")), row


@pytest.mark.parametrize("name", sorted([*ATTACKS, *EX1_ATTACKS]))
def test_no_attack_gets_hidden_code_into_its_feedback(attacked, name):
    page = (attacked["folder"] / "feedback" / "98_roots" / f"{name}.html").read_text(encoding="utf-8")
    squeezed = "".join(page.split())
    assert "".join(minilab.HIDDEN_LINE.split()) not in squeezed, f"{name} leaked the hidden test"


def test_a_leak_is_redacted_counted_and_marked(attacked):
    for name in ("frame_leak", "frame_leak_squeezed"):
        row = attacked["rows"][name]
        page = (attacked["folder"] / "feedback" / "98_roots" / f"{name}.html").read_text(encoding="utf-8")
        assert int(row["redacted"]) >= 1 and "[hidden test code]" in page, row
        assert "hidden test code reached the feedback" in row["reason"], row["reason"]
    assert attacked["rows"]["honest"]["redacted"] == "0"


@pytest.mark.parametrize("name", [name for name in ATTACKS if name in {
    "remove_asserts", "patch_builtins", "patch_library", "rebind_lab_helper", "swallow_errors", "trace_function",
    "kill_the_grader", "forge_result_file", "rebind_module", "shadow_builtins", "harness_by_name",
    "harness_in_sys_modules", "harness_sneaky", "history_leak", *EX1_ATTACKS}])
def test_tampering_is_marked_for_review_with_its_reason(attacked, name):
    row = attacked["rows"][name]
    assert row["review"] == "yes" and "needs-review: " in row["reason"], row


@pytest.mark.parametrize("name, words", [
    ("rebind_module", ["re-binds math", "the lab's math"]),
    ("shadow_builtins", ["shadows the builtin abs", "shadows the builtin float", "the builtin len"]),
    ("harness_by_name", ["_regopt_harness"]),
    ("harness_sneaky", ["__self__", "operator.attrgetter"]),
    ("frame_leak", ["tb_frame", "f_back", "linecache"]),
    ("frame_overwrite", ["f_globals"]),
    ("history_leak", ["uses In"]),
])
def test_the_reason_names_what_was_rebound_or_read(attacked, name, words):
    reason = attacked["rows"][name]["reason"]
    for word in words:
        assert word in reason, (word, reason)


def test_no_kernel_reads_the_environment_or_when_sandboxed_the_hidden_tests(attacked):
    loot = attacked["keep"] / "steal_tests_and_tokens.ipynb" / "kernel-home" / "loot.txt"
    assert loot.is_file(), "the attack ran and wrote what it found in its own folder"
    text = loot.read_text(encoding="utf-8", errors="replace")
    assert TOKEN not in text, "the kernel inherited the instructor's environment"
    if ISOLATION == "bwrap":
        assert minilab.HIDDEN_LINE not in text, "the kernel could read the hidden tests"


def test_limits_stop_a_memory_hog_and_a_huge_file(attacked):
    page = (attacked["folder"] / "feedback" / "98_roots" / "eat_memory.html").read_text(encoding="utf-8")
    assert "MemoryError" in page or attacked["rows"]["eat_memory"]["status"] == "kernel-died"
    big = attacked["keep"] / "huge_file.ipynb" / "kernel-home" / "big.bin"
    assert not big.exists() or big.stat().st_size <= 4 * 2**20


def test_an_exception_in_an_answer_is_in_the_feedback(attacked):
    page = (attacked["folder"] / "feedback" / "98_roots" / "answer_raises.html").read_text(encoding="utf-8")
    assert "ValueError: cube is not written yet" in page


def test_kept_workdir_holds_what_is_needed_to_debug(attacked):
    kept = attacked["keep"] / "honest.ipynb"
    assert (kept / "graded.ipynb").is_file() and (kept / "worker.log").is_file()


def test_a_grader_failure_has_its_own_status_and_blames_no_one(tmp_path, monkeypatch):
    solution, solved = minilab.write_solution(tmp_path)
    (tmp_path / "subs").mkdir()
    nbformat.write(solved, tmp_path / "subs" / "alice.ipynb")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runner, "run_notebook", broken)
    [result] = grading.grade_folder(solution, tmp_path / "subs")
    assert result.status == "grader-error" and "disk full" in result.reason
    assert not grading.was_graded(result)


def test_the_exit_status_says_when_nothing_could_be_graded(tmp_path):
    solution, _ = minilab.write_solution(tmp_path)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "empty.ipynb").write_text("")
    from regopt.instructor.cli import main

    assert main(["grade", str(solution), str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"),
                 "--quiet"]) == 1


def test_only_the_labs_public_names_are_kept_by_the_harness(tmp_path):
    """IPython rebinds _ after every cell: keeping it would mark honest work for review."""
    nb = minilab.mini_solution()
    nb.cells[1].source += "\n_ = check\n_scratch = 1"
    path = tmp_path / "98_roots.ipynb"
    nbformat.write(nb, path)
    lab = grading.load_solution(path)
    submission = tmp_path / "alice.ipynb"
    nbformat.write(nb, submission)
    alignment = grading.build_graded_notebook(lab, grading.read_submission(submission))
    grading.add_harness(lab, alignment)
    kept = [c.source for c in alignment.cells if c.role == "harness" and "_keep(" in c.source]
    assert kept == [f"{alignment.harness_name}_keep(['check', 'math', 'operator'])"], kept


def test_without_a_sandbox_the_grader_says_so_once_and_still_grades(tmp_path):
    solution, solved = minilab.write_solution(tmp_path)
    (tmp_path / "subs").mkdir()
    for name in ("alice", "bob"):
        nbformat.write(solved, tmp_path / "subs" / f"{name}.ipynb")
    notices: list[str] = []
    results = grading.grade_folder(solution, tmp_path / "subs", isolation="none", jobs=2, notice=notices.append)
    assert len(notices) == 1 and "no sandbox" in notices[0] and "bubblewrap" in notices[0]
    assert [(r.status, r.total) for r in results] == [("ok", 3.0), ("ok", 3.0)]


@pytest.mark.skipif(sandbox.isolation("auto") != "bwrap", reason="bubblewrap is not available here")
def test_the_sandbox_sees_a_course_checked_out_under_tmp(tmp_path):
    # CI and `mktemp -d` clones live under /tmp; the sandbox's private /tmp must not hide them.
    checkout = Path("/tmp") / f"regopt-sandbox-{os.getpid()}"
    checkout.mkdir()
    try:
        (checkout / "marker.txt").write_text("visible")
        home = tmp_path / "home"
        home.mkdir()
        prefix = sandbox.kernel_prefix("bwrap", sandbox.Limits(), home=home, ipc_dir=home, readable=[checkout])
        result = subprocess.run([*prefix, sys.executable, "-c",
                                 f"print(open({str(checkout / 'marker.txt')!r}).read())"],
                                capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == "visible", result.stderr
    finally:
        (checkout / "marker.txt").unlink()
        checkout.rmdir()
