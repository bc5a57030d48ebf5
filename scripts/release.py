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


def main(argv: list[str]) -> int:
    if argv == ["--restore-tags"]:
        made = restore_tags()
        print("restored: " + " ".join(made) if made else "every release commit has its tag")
        return 0
    if len(argv) != 1:
        print("usage: make release VERSION=MAJOR.MINOR.PATCH   (or: scripts/release.py --restore-tags)", file=sys.stderr)
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
