"""A submitted file, read without trusting it: unreadable files get their status, never an exception."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = ["Submission", "read_submission"]


@dataclass
class Submission:
    """A submitted file: who, where, and its notebook (``None`` when unreadable)."""

    path: Path
    student: str
    nb: NotebookNode | None = None
    status: str = "ok"
    reason: str = ""


def read_submission(path: str | Path) -> Submission:
    """Read a submitted file; unreadable files get their status here (never an exception)."""
    path = Path(path)
    submission = Submission(path=path, student=path.stem)
    try:
        raw = path.read_bytes()
    except OSError as error:
        submission.status, submission.reason = "not-a-notebook", f"the file cannot be read: {error}"
        return submission
    if not raw.strip():
        submission.status, submission.reason = "empty-file", "the file is empty"
        return submission
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        if path.suffix.lower() != ".ipynb":
            submission.status = "not-a-notebook"
            submission.reason = f"a {path.suffix or 'suffix-less'} file, not a notebook (.ipynb)"
        else:
            submission.status = "invalid-json"
            submission.reason = f"not valid JSON ({str(error).splitlines()[0][:120]})"
        return submission
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        submission.status, submission.reason = "not-a-notebook", "JSON without a list of notebook cells"
        return submission
    if data.get("nbformat") != 4:
        submission.status = "not-a-notebook"
        submission.reason = f"nbformat {data.get('nbformat')!r}; expected a version 4 notebook"
        return submission
    cells = []
    for raw_cell in data["cells"]:
        if not isinstance(raw_cell, dict) or raw_cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        source = raw_cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        metadata = raw_cell.get("metadata") if isinstance(raw_cell.get("metadata"), dict) else {}
        cells.append(nbformat.from_dict({"cell_type": raw_cell["cell_type"], "source": str(source),
                                         "metadata": metadata}))
    submission.nb = nbformat.from_dict({"cells": cells, "metadata": data.get("metadata") or {}})
    return submission
