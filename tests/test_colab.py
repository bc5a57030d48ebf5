"""Every solved lab runs as a student runs it in Google Colab, from its own set-up cell.

Colab is not reachable from CI, so this builds what matters of it:

- a separate virtual environment with what Colab ships and nothing of the course: torch,
  torchvision, numpy, matplotlib, scikit-learn, tqdm, **ipywidgets 7.x**, and no myst-nb,
  nbgrader or regopt;
- a stand-in ``google.colab`` module, imported when the kernel starts (as in Colab), so the
  set-up cell takes its Colab branch;
- git's URL rewriting (``url.<base>.insteadOf``), so that the set-up cell's
  ``pip install "regopt @ git+https://github.com/OWNER/REPO@REF"`` clones a local snapshot of
  this working tree's package, tagged with the ref that ``_config.yml`` pins.

Each solution notebook is then executed top to bottom at full size (no ``REGOPT_FAST``, no
``REGOPT_STATIC``) in that environment's kernel, within the 5-minute budget the labs promise
(a free Colab CPU is about as fast as the 2-core machines this runs on; the test measures the
CPU seconds the lab uses, which do not depend on the machine's load, and stops a run that takes
three times the budget in wall-clock time). The environment is
kept in ``_build/colab-env`` between runs and rebuilt when this file's package list changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regopt.instructor.course import course_info

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build" / "colab-env"
LAB_BUDGET_SECONDS = 300
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

pytestmark = pytest.mark.slow


def colab_packages() -> list[str]:
    """What Colab ships that the labs use, at this machine's torch (a local wheel), ipywidgets 7."""
    import torch
    import torchvision

    torch_version = torch.__version__.split("+")[0]
    vision_version = torchvision.__version__.split("+")[0]
    return [f"torch=={torch_version}", f"torchvision=={vision_version}", "numpy", "matplotlib",
            "scikit-learn", "tqdm", "ipywidgets>=7.7,<8", "ipykernel", "nbclient", "nbformat"]


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} … failed ({result.returncode}):\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def colab_python() -> Path:
    """The Colab-like environment's Python, built once and reused while the package list is the same."""
    packages = colab_packages()
    stamp = hashlib.sha256(json.dumps(packages).encode()).hexdigest()[:16]
    python = BUILD / "venv" / "bin" / "python"
    stamp_file = BUILD / "venv" / ".colab-stamp"
    if not (python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp):
        shutil.rmtree(BUILD / "venv", ignore_errors=True)
        BUILD.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "venv", str(BUILD / "venv")])
        _run([str(python), "-m", "pip", "install", "--quiet", *packages], timeout=1800)
        stamp_file.write_text(stamp)
    probe = _run([str(python), "-c", "import importlib.util as u, ipywidgets; "
                  "print(ipywidgets.__version__, u.find_spec('myst_nb') is None, u.find_spec('regopt') is None)"])
    version, no_myst, no_regopt = probe.stdout.split()
    assert version.startswith("7.") and no_myst == "True", f"not Colab-like: ipywidgets {version}, myst-nb absent {no_myst}"
    return python


def package_snapshot(destination: Path, ref: str) -> Path:
    """A git repository holding this working tree's package, with ``ref`` as a tag (or branch) at its head."""
    destination.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, destination / name)
    shutil.copytree(ROOT / "src", destination / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    git = ["git", "-C", str(destination), "-c", "user.name=ci", "-c", "user.email=ci@localhost"]
    _run(git + ["init", "--quiet", "--initial-branch=snapshot"])
    _run(git + ["add", "."])
    _run(git + ["commit", "--quiet", "-m", "snapshot of the working tree's package"])
    _run(git + ["tag", ref] if ref != "snapshot" else git + ["status"])
    return destination


@pytest.fixture(scope="module")
def colab_environment(colab_python: Path, tmp_path_factory) -> dict[str, str]:
    """Environment variables of a Colab-like kernel: google.colab imported, GitHub rewritten to a snapshot."""
    info = course_info(ROOT)
    work = tmp_path_factory.mktemp("colab")
    snapshot = package_snapshot(work / "regopt-snapshot", info.ref)
    git_config = work / "gitconfig"
    git_config.write_text(f'[url "{snapshot.as_uri()}"]\n\tinsteadOf = {info.url}\n'
                          f'[safe]\n\tdirectory = *\n')
    stub = work / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""A stand-in for Colab\'s google.colab module (tests only)."""\n')
    startup = work / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # Colab imports it before any cell runs\n")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("REGOPT_FAST", "REGOPT_STATIC", "PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update({
        "PATH": f"{colab_python.parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(work / "stub"),
        "IPYTHONDIR": str(work / "ipython"),
        "GIT_CONFIG_GLOBAL": str(git_config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    })
    return env


RUNNER = r"""
import sys, time, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}})
client.execute()
print(f"SECONDS {time.perf_counter() - start:.1f}")
setup = next(c for c in nb.cells if "colab-setup" in c.metadata.get("tags", []))
print("SETUP-OUTPUT", repr("".join(o.get("text", "") for o in setup.outputs))[:400])
"""


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_solved_lab_runs_in_a_colab_like_runtime(solution, colab_python, colab_environment, tmp_path):
    # The lab runs from a folder of its own, as an uploaded notebook does in Colab.
    notebook = tmp_path / solution.name
    shutil.copy2(solution, notebook)
    # Each lab's own set-up cell must install regopt: start from a runtime without it.
    subprocess.run([str(colab_python), "-m", "pip", "uninstall", "--yes", "--quiet", "regopt"],
                   env=colab_environment, capture_output=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([str(colab_python), "-c", RUNNER, str(notebook), str(tmp_path)],
                            env=colab_environment, capture_output=True, text=True, timeout=3 * LAB_BUDGET_SECONDS)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the runner and its kernel (waited-for descendants): unlike wall-clock time,
    # they do not grow when other jobs share the machine.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"{solution.name}: {cpu:.0f} s CPU, {wall:.0f} s wall")
    assert result.returncode == 0, f"{solution.name} failed in the Colab-like runtime:\n{result.stderr[-4000:]}"
    # The set-up cell really installed regopt from git (the kernel had none before).
    check = subprocess.run([str(colab_python), "-m", "pip", "show", "regopt"], env=colab_environment,
                           capture_output=True, text=True)
    assert "Location:" in check.stdout, "the set-up cell did not install regopt"
    assert cpu < LAB_BUDGET_SECONDS, (f"{solution.name} used {cpu:.0f} s of CPU; the 5-minute budget holds "
                                      f"even on one of Colab's two cores only below {LAB_BUDGET_SECONDS} s")
