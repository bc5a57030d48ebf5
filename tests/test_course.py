import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from regopt.instructor import course

ROOT = Path(__file__).resolve().parents[1]


def test_repository_url_and_ref_come_from_config():
    info = course.course_info(ROOT)
    assert info.url.startswith("https://github.com/") and info.ref
    assert course.colab_url("labs/01_x.ipynb", info) == (
        f"https://colab.research.google.com/github/{info.owner_repo}/blob/{info.ref}/labs/01_x.ipynb")


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_install_ref_is_a_release_of_this_repository():
    """The ref the set-up cells pin is made by ``make release``: a commit ``Release vX.Y.Z`` on this
    branch whose ``pyproject.toml`` says ``X.Y.Z``. Where the tag itself is in the clone it must point
    at that commit. (Tags do not travel with every clone: ``--no-tags``, or a branch pushed alone;
    ``scripts/release.py --restore-tags`` recreates them.)"""
    info = course.course_info(ROOT)
    match = re.fullmatch(r"v(\d+\.\d+\.\d+)", info.ref)
    if match is None:  # a branch (a fork before its first release): it must exist here
        found = _git("rev-parse", "--verify", "--quiet", info.ref).returncode == 0 or \
            _git("rev-parse", "--verify", "--quiet", f"origin/{info.ref}").returncode == 0
        assert found, f"repository.branch={info.ref!r} is neither a release tag vX.Y.Z nor a branch here"
        return
    commits = _git("log", "--format=%H", "--fixed-strings", f"--grep=Release {info.ref}:", "HEAD").stdout.split()
    if not commits and _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        # A shallow clone lacks the history to find the release commit: the version this tree
        # carries must at least have reached the pinned one.
        current = re.search(r'^version = "(\d+)\.(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text(), re.M)
        assert current, "pyproject.toml has no version = \"X.Y.Z\""
        pinned = tuple(int(part) for part in match.group(1).split("."))
        assert tuple(int(part) for part in current.groups()) >= pinned, (
            f"repository.branch={info.ref!r} is newer than this tree's version {'.'.join(current.groups())}")
        return
    assert len(commits) == 1, (f"repository.branch={info.ref!r}: expected one commit 'Release {info.ref}: ...' "
                               f"on this branch (made by `make release`), found {len(commits)}")
    pyproject = _git("show", f"{commits[0]}:pyproject.toml").stdout
    assert f'version = "{match.group(1)}"' in pyproject, f"{commits[0][:10]} does not set version {match.group(1)}"
    tagged = _git("rev-parse", "--verify", "--quiet", f"refs/tags/{info.ref}^{{commit}}")
    if tagged.returncode == 0:
        assert tagged.stdout.strip() == commits[0], f"tag {info.ref} does not point at its release commit"


def test_setup_cell_installs_only_in_colab():
    source = course.setup_cell_source(course.course_info(ROOT))
    namespace = {"get_ipython": lambda: pytest.fail("must not run outside Colab")}
    exec(compile(source, "setup", "exec"), namespace)  # outside Colab: does nothing
    assert 'if "google.colab" in sys.modules:' in source
    assert "regopt @ git+https://github.com/" in source


def make_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, path)
    return path


def test_sync_inserts_then_is_idempotent(tmp_path):
    (tmp_path / "_config.yml").write_text((ROOT / "_config.yml").read_text())
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "book").mkdir()
    path = make_notebook(tmp_path / "book" / "01_x.ipynb")
    assert course.sync_notebook(path) is True
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].metadata["tags"] == ["colab-setup", "remove-cell"]
    assert course.sync_notebook(path) is False
    nb.cells[1].source = "stale"
    nbformat.write(nb, path)
    assert course.sync_notebook(path, write=False) is True


def test_lab_setup_cell_is_visible_and_locked(tmp_path):
    (tmp_path / "_config.yml").write_text((ROOT / "_config.yml").read_text())
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "solutions").mkdir()
    path = make_notebook(tmp_path / "solutions" / "01_x.ipynb")
    course.sync_notebook(path)
    cell = nbformat.read(path, as_version=4).cells[1]
    assert cell.metadata["tags"] == ["colab-setup"] and cell.metadata["nbgrader"]["locked"] is True


def test_every_course_notebook_is_in_sync():
    stale = [str(p.relative_to(ROOT)) for p in course.notebooks_to_sync(ROOT)
             if course.sync_notebook(p, write=False)]
    assert not stale, f"run `python -m regopt.instructor.course sync`: stale set-up cell in {stale}"


def test_missing_config_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No _config.yml and _toc.yml"):
        course.find_root(tmp_path)
