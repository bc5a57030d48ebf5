"""make release: one scripted step bumps the pinned ref everywhere, checks labs against solutions, tags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.org"}


def release(clone: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/release.py", *args], cwd=clone, capture_output=True,
                          text=True, env={**os.environ, **GIT_IDENTITY}, timeout=600)


@pytest.fixture
def clone(tmp_path) -> Path:
    target = tmp_path / "course"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    return target


@pytest.mark.slow
def test_release_pins_the_new_tag_everywhere_and_tags_it(clone):
    done = release(clone, "9.9.9")
    assert done.returncode == 0, done.stderr
    git = lambda *a: subprocess.run(["git", *a], cwd=clone, capture_output=True, text=True).stdout  # noqa: E731
    assert "v9.9.9" in git("tag").split()
    assert git("status", "--porcelain", "--untracked-files=no") == "", "the release left files uncommitted"
    assert yaml.safe_load((clone / "_config.yml").read_text())["repository"]["branch"] == "v9.9.9"
    assert 'version = "9.9.9"' in (clone / "pyproject.toml").read_text()
    notebooks = sorted(clone.glob("labs/*.ipynb")) + sorted(clone.glob("solutions/*.ipynb"))
    assert notebooks
    for notebook in notebooks:
        text = notebook.read_text()
        assert "@v9.9.9" in text and "/blob/v9.9.9/" in text or notebook.parent.name == "solutions", notebook
        assert "@main" not in text, f"{notebook.name} still installs regopt from main"
    # The tagged commit is the one that pins the tag.
    assert git("rev-parse", "v9.9.9^{commit}") == git("rev-parse", "HEAD")


def test_release_refuses_a_bad_version_or_an_existing_tag(clone):
    done = release(clone, "1.0")
    assert done.returncode == 1 and "VERSION='1.0' is invalid" in done.stderr
    subprocess.run(["git", "tag", "v0.0.1"], cwd=clone, check=True, env={**os.environ, **GIT_IDENTITY})
    done = release(clone, "0.0.1")
    assert done.returncode == 1 and "the tag v0.0.1 exists already" in done.stderr


def test_a_clone_without_tags_gets_them_back_and_cannot_release_a_version_twice(tmp_path):
    target = tmp_path / "course"
    subprocess.run(["git", "clone", "-q", "--no-tags", str(ROOT), str(target)], check=True)
    git = lambda *a: subprocess.run(["git", *a], cwd=target, capture_output=True, text=True).stdout  # noqa: E731
    released = git("log", "--format=%H %s", "--extended-regexp", "--grep=^Release v[0-9.]+:").splitlines()
    assert released, "no release commit on this branch"
    assert git("tag") == ""
    done = release(target, released[0].split()[2].rstrip(":")[1:])
    assert done.returncode == 1 and "was released already" in done.stderr
    done = release(target, "--restore-tags")
    assert done.returncode == 0, done.stderr
    for line in released:
        commit, tag = line.split()[0], line.split()[2].rstrip(":")
        assert git("rev-parse", f"{tag}^{{commit}}").strip() == commit
    assert "every release commit has its tag" in release(target, "--restore-tags").stdout
