"""Facts about the course repository, read from ``_config.yml``, and the Colab set-up cell.

The repository URL and branch are defined once, in ``_config.yml``
(``repository.url``, ``repository.branch``). From them come the website's
launch buttons (Jupyter Book reads them itself), the labs' "Open in Colab"
badges, and the set-up cell every notebook needs in Colab, where ``regopt`` is
not installed.

``python -m regopt.instructor.course sync [NOTEBOOK ...]`` inserts or refreshes that cell
(right after the first markdown cell) in every chapter and solution notebook;
``python -m regopt.instructor.course check`` fails if one is missing or stale. The labs
get theirs from their solution when generated (``regopt labs``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ConfigError",
    "CourseInfo",
    "find_root",
    "course_info",
    "colab_url",
    "colab_badge_markdown",
    "setup_cell_source",
    "sync_notebook",
    "notebooks_to_sync",
    "main",
]

class ConfigError(ValueError):
    """``_config.yml`` is missing a setting or is not valid YAML (the message says which)."""


SETUP_TAG = "colab-setup"
BADGE_TAG = "colab-badge"


@dataclass(frozen=True)
class CourseInfo:
    """Where the course lives: ``url`` like ``https://github.com/OWNER/REPO`` and a git ``ref``."""

    root: Path
    url: str
    ref: str

    @property
    def owner_repo(self) -> str:
        prefix = "https://github.com/"
        if not self.url.startswith(prefix):
            raise ConfigError(
                f"repository.url={self.url!r} in _config.yml is not a GitHub URL; expected "
                "'https://github.com/OWNER/REPO' (Colab opens notebooks from GitHub)."
            )
        return self.url[len(prefix):].strip("/").removesuffix(".git")


def find_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``_config.yml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "_toc.yml").is_file():
            return folder
    raise FileNotFoundError(
        f"No _config.yml and _toc.yml found in {here} or its parents; run this from inside the "
        "course repository (or pass its root)."
    )


def course_info(root: str | Path | None = None) -> CourseInfo:
    """Read ``repository.url`` and ``repository.branch`` from ``_config.yml``."""
    from . import require

    yaml = require("yaml")
    root = find_root(root)
    try:
        config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"{root / '_config.yml'} is not valid YAML{line}: "
                          f"{getattr(error, 'problem', None) or error}; fix the file.") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{root / '_config.yml'} holds a {type(config).__name__}; expected a mapping of settings.")
    repository = config.get("repository") or {}
    if not isinstance(repository, dict):
        raise ConfigError(f"repository={repository!r} in {root / '_config.yml'} is not a mapping; expected "
                          "'repository:' with 'url:' and 'branch:' under it.")
    url = str(repository.get("url", "")).rstrip("/")
    ref = str(repository.get("branch", "")).strip()
    if not url or not ref:
        raise ConfigError(
            f"{root / '_config.yml'} must define repository.url and repository.branch "
            f"(found url={url!r}, branch={ref!r})."
        )
    return CourseInfo(root=root, url=url, ref=ref)


def colab_url(notebook_relpath: str | Path, info: CourseInfo | None = None) -> str:
    """The Colab address that opens ``notebook_relpath`` (relative to the repo root) from GitHub."""
    info = info or course_info()
    path = Path(notebook_relpath).as_posix().lstrip("/")
    if not path.endswith(".ipynb"):
        raise ValueError(f"notebook_relpath={str(notebook_relpath)!r} is not a .ipynb path.")
    return f"https://colab.research.google.com/github/{info.owner_repo}/blob/{info.ref}/{path}"


def colab_badge_markdown(notebook_relpath: str | Path, info: CourseInfo | None = None) -> str:
    """Markdown for the standard "Open in Colab" badge linking to ``notebook_relpath``."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook_relpath, info)})"
    )


def setup_cell_source(info: CourseInfo | None = None) -> str:
    """Code of the set-up cell: in Colab only, install ``regopt`` at the course's git ref.

    Only regopt itself is installed; its requirements (torch, torchvision,
    numpy, matplotlib, ipywidgets, scikit-learn, tqdm) are already in Colab and
    pip leaves them as they are. Outside Colab the cell does nothing.
    """
    info = info or course_info()
    return (
        "# Set-up: in Google Colab, install the course's helper package; elsewhere, nothing to do.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    get_ipython().run_line_magic("pip", "install --quiet \\"regopt @ git+{info.url}@{info.ref}\\"")'
    )


def _new_code_cell(source: str, tags: list[str], extra_metadata: dict | None = None) -> dict:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = tags
    cell.metadata.update(extra_metadata or {})
    cell.pop("id", None)
    return cell


def sync_notebook(path: str | Path, kind: str | None = None, info: CourseInfo | None = None,
                  write: bool = True) -> bool:
    """Insert or refresh the Colab set-up cell of one notebook; return True if it changed.

    ``kind`` is ``"chapter"`` (the cell is tagged ``remove-cell``: readers of the
    website need not see it) or ``"lab"`` (students see it); by default it is
    guessed from the folder (``book/`` is a chapter). In a lab or solution the cell
    is a locked nbgrader cell so that grading keeps it as it is.
    """
    import nbformat

    path = Path(path)
    info = info or course_info(path.parent)
    if kind is None:
        kind = "chapter" if path.parent.name == "book" else "lab"
    if kind not in ("chapter", "lab"):
        raise ValueError(f"kind={kind!r} is invalid; expected 'chapter' or 'lab'.")
    nb = nbformat.read(path, as_version=4)
    tags = [SETUP_TAG, "remove-cell"] if kind == "chapter" else [SETUP_TAG]
    extra = {}
    if kind == "lab":
        extra["nbgrader"] = {"grade": False, "grade_id": "colab-setup", "locked": True,
                             "schema_version": 3, "solution": False, "task": False}
    wanted = _new_code_cell(setup_cell_source(info), tags, extra)

    existing = [i for i, c in enumerate(nb.cells) if SETUP_TAG in c.get("metadata", {}).get("tags", [])]
    changed = False
    if existing:
        index = existing[0]
        cell = nb.cells[index]
        if (cell.cell_type != "code" or cell.source != wanted.source
                or cell.metadata.get("tags") != tags
                or cell.metadata.get("nbgrader") != extra.get("nbgrader")):
            cell_id = cell.get("id")
            nb.cells[index] = wanted
            if cell_id:
                nb.cells[index]["id"] = cell_id
            changed = True
        for extra_index in reversed(existing[1:]):
            del nb.cells[extra_index]
            changed = True
    else:
        first_markdown = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), None)
        if first_markdown is None:
            raise ValueError(f"{path} has no markdown cell; a notebook must start with its title.")
        wanted["id"] = "colab-setup"
        nb.cells.insert(first_markdown + 1, wanted)
        changed = True
    if changed and write:
        nbformat.validate(nb)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def notebooks_to_sync(root: str | Path | None = None) -> list[Path]:
    """Every chapter (``book/*.ipynb``) and solution (``solutions/*.ipynb``) notebook."""
    root = find_root(root)
    return sorted((root / "book").glob("*.ipynb")) + sorted((root / "solutions").glob("*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m regopt.instructor.course",
        description="Keep the Colab set-up cell of the course notebooks in step with _config.yml.",
    )
    parser.add_argument("action", choices=["sync", "check"],
                        help="sync: insert/refresh the cell; check: exit 1 if any is missing or stale")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to process (default: book/*.ipynb and solutions/*.ipynb)")
    args = parser.parse_args(argv)
    paths = args.notebooks or notebooks_to_sync()
    stale = []
    for path in paths:
        if not path.is_file():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
        if sync_notebook(path, write=args.action == "sync"):
            stale.append(path)
    verb = "updated" if args.action == "sync" else "out of date"
    for path in stale:
        print(f"{verb}: {path}")
    if args.action == "check" and stale:
        print("Run `python -m regopt.instructor.course sync` to fix.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
