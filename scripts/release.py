"""Make a release: the git tag that the labs' Colab set-up cells install ``regopt`` from.

    make release VERSION=0.2.0        (or: python scripts/release.py 0.2.0)

Steps, each checked, stopping at the first failure with one line saying why:

1. ``VERSION`` is ``MAJOR.MINOR.PATCH``; the tag ``vVERSION`` does not exist yet;
   no tracked file has uncommitted changes.
2. ``pyproject.toml``'s version becomes ``VERSION``; ``_config.yml``'s
   ``repository.branch`` (the one place the ref is defined) becomes the tag.
3. The Colab set-up cells and badges are refreshed everywhere: chapters and
   solutions (``python -m regopt.instructor.course sync``), then the labs,
   regenerated from the solutions (``regopt labs``), and the grader's test submissions
   made from them (``tests/submissions/make_lab01.py``).
4. Checks: every set-up cell pins the tag (``course check``), the labs agree
   with their solutions (``regopt labs --check``).
5. One commit, ``Release vVERSION``, and an annotated tag on it. Nothing is pushed:
   the script prints the push command (the tag must reach the repository that
   ``repository.url`` names before students open the labs).

Tags do not travel with every copy of the repository (``git clone --no-tags``, a branch
pushed alone). ``python scripts/release.py --restore-tags`` puts back, on each commit
``Release vX.Y.Z: ...`` of the current branch, the tag ``vX.Y.Z`` that is missing.

A fork points the course at itself by editing ``repository.url`` in
``_config.yml`` and running this script (see README.md, "Teaching from a fork").

The student edition
-------------------
``python scripts/release.py --student-edition DIR`` (``make student-edition DIR=...``) writes
into the empty folder ``DIR`` the repository students see: the committed tree without
``solutions/``, without the grader's test submissions and the tests that hold answers or
hidden tests, and without any other file in which a line of a solution's answers or hidden
tests is found (each one left out is listed). ``repository.url`` in ``_config.yml`` is
the student repository (the badges, the set-up cells and the website's buttons point there);
push ``DIR`` there, and keep this repository, with its solutions, private.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = re.compile(r"^\d+\.\d+\.\d+$")


class ReleaseError(RuntimeError):
    pass


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if check and done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
        raise ReleaseError(f"`{' '.join(command)}` failed: " + " | ".join(output))
    return done


def set_project_version(text: str, version: str) -> str:
    new, count = re.subn(r'(?m)^(version\s*=\s*)"[^"]*"', rf'\g<1>"{version}"', text, count=1)
    if count != 1:
        raise ReleaseError('pyproject.toml has no `version = "..."` line to update')
    return new


def set_config_ref(text: str, ref: str) -> str:
    new, count = re.subn(r"(?m)^(repository:\n(?:[ \t]+.*\n)*?[ \t]+branch:[ \t]*)\S+", rf"\g<1>{ref}", text,
                         count=1)
    if count != 1:
        raise ReleaseError("_config.yml has no `branch:` under `repository:` to update")
    return new


def release(version: str) -> str:
    if not VERSION.match(version or ""):
        raise ReleaseError(f"VERSION={version!r} is invalid; expected MAJOR.MINOR.PATCH, e.g. 0.2.0")
    tag = f"v{version}"
    if run("git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}", check=False).returncode == 0:
        raise ReleaseError(f"the tag {tag} exists already; choose a new VERSION")
    if run("git", "log", "--format=%h", "--fixed-strings", f"--grep=Release {tag}:", "HEAD").stdout.strip():
        raise ReleaseError(f"{tag} was released already (its tag is missing here: `release.py --restore-tags`); "
                           "choose a new VERSION")
    dirty = run("git", "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if dirty:
        raise ReleaseError("tracked files have uncommitted changes; commit them first:\n" + dirty)

    pyproject, config = ROOT / "pyproject.toml", ROOT / "_config.yml"
    pyproject.write_text(set_project_version(pyproject.read_text(), version))
    config.write_text(set_config_ref(config.read_text(), tag))

    python = sys.executable
    run(python, "-m", "regopt.instructor.course", "sync")
    run(python, "-m", "regopt.instructor.cli", "labs")
    # The grader's test submissions are made from the lab: they must carry the new set-up cell too.
    run(python, "tests/submissions/make_lab01.py")
    run(python, "tests/submissions/make_attacks.py")
    run(python, "-m", "regopt.instructor.course", "check")
    run(python, "-m", "regopt.instructor.cli", "labs", "--check")
    stale = [p for p in sorted(ROOT.glob("labs/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))
             + sorted(ROOT.glob("book/*.ipynb")) if "@main" in p.read_text() or f"@{tag}" not in p.read_text()]
    if stale:
        raise ReleaseError("these notebooks do not pin " + tag + ": " + ", ".join(map(str, stale)))

    paths = ["pyproject.toml", "_config.yml", "book", "solutions", "labs", "tests/submissions"]
    run("git", "add", "--", *paths)
    run("git", "commit", "-q", "-m", f"Release {tag}: Colab set-up cells install regopt at {tag}", "--", *paths)
    run("git", "tag", "-a", tag, "-m", f"regopt {version}")
    return tag


def restore_tags() -> list[str]:
    """Tag every ``Release vX.Y.Z: ...`` commit of HEAD's history whose tag is missing; return the tags made."""
    log = run("git", "log", "--format=%H %s", "--extended-regexp", "--grep=^Release v[0-9]+[.][0-9]+[.][0-9]+:",
              "HEAD").stdout
    made = []
    for line in log.splitlines():
        commit, subject = line.split(" ", 1)
        tag = subject.split(":", 1)[0].removeprefix("Release ")
        if run("git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}", check=False).returncode != 0:
            run("git", "tag", "-a", tag, commit, "-m", f"regopt {tag[1:]}")
            made.append(tag)
    return made


#: Never in the student edition: the solutions, and the instructor's tests and submissions made from them.
PRIVATE = ("solutions/", "tests/submissions/", "tests/test_grading", "tests/minilab.py", "tests/test_lab",
           "tests/labexec.py", "benchmarks/bench_grading.py")


def _squeeze(line: str) -> str:
    return "".join(line.split())


def _cell_texts(path: Path) -> str:
    """A file's text as a reader sees it (a notebook's cell sources, not its JSON escapes)."""
    import json

    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        try:
            return "\n".join("".join(c.get("source", "")) if isinstance(c.get("source"), list) else
                             str(c.get("source", "")) for c in json.loads(raw).get("cells", []))
        except (ValueError, AttributeError):
            return raw
    return raw


def secret_lines(root: Path = ROOT) -> set[str]:
    """Lines of the solutions' answers and hidden tests (whitespace removed) that students never see."""
    sys.path.insert(0, str(root / "src"))
    from regopt.instructor import labs

    secret: set[str] = set()
    for solution in sorted((root / "solutions").glob("*.ipynb")):
        inside = False
        for line in _cell_texts(solution).splitlines():
            if labs.SOLUTION_BEGIN in line or labs.HIDDEN_BEGIN in line:
                inside = True
            elif labs.SOLUTION_END in line or labs.HIDDEN_END in line:
                inside = False
            elif inside and len(_squeeze(line)) >= 12:
                secret.add(_squeeze(line))
    return secret - public_lines(root)


def public_lines(root: Path = ROOT) -> set[str]:
    """What students get anyway: the labs, the chapters and the package (whose tested functions the
    hidden tests compare with); a line of a solution found only elsewhere is a secret."""
    shown = [*(root / "labs").glob("*.ipynb"), *(root / "book").glob("*.ipynb"), *(root / "src").rglob("*.py")]
    return {_squeeze(line) for path in shown for line in _cell_texts(path).splitlines()}


def student_edition(target: Path, root: Path = ROOT) -> tuple[list[str], list[str]]:
    """Write the student edition of the committed tree into ``target``; (files written, files left out)."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise ReleaseError(f"{target} is not empty; the student edition goes into a new folder.")
    files = run("git", "-C", str(root), "ls-files", "-z").stdout.split("\0")
    secret = secret_lines(root)
    written, left_out = [], []
    for name in sorted(f for f in files if f):
        source = root / name
        if name.startswith(PRIVATE) or not source.is_file():
            left_out.append(name) if source.is_file() else None
            continue
        try:
            text = _cell_texts(source)
        except UnicodeDecodeError:
            text = ""
        if any(_squeeze(line) in secret for line in text.splitlines()):
            left_out.append(name)
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(source.read_bytes())
        written.append(name)
    return written, left_out


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--student-edition":
        try:
            written, left_out = student_edition(Path(argv[1]))
        except ReleaseError as error:
            print(f"release: {error}", file=sys.stderr)
            return 1
        print(f"Wrote the student edition to {argv[1]}: {len(written)} files; left out {len(left_out)} "
              f"(solutions, hidden tests, the grader's tests): " + ", ".join(left_out))
        return 0
    if argv == ["--restore-tags"]:
        made = restore_tags()
        print("restored: " + " ".join(made) if made else "every release commit has its tag")
        return 0
    if len(argv) != 1:
        print("usage: make release VERSION=MAJOR.MINOR.PATCH   (or: scripts/release.py --restore-tags, "
              "scripts/release.py --student-edition DIR)", file=sys.stderr)
        return 2
    try:
        tag = release(argv[0])
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    print(f"Tagged {tag}. Publish it where _config.yml's repository.url points:\n"
          f"    git push origin HEAD {tag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
