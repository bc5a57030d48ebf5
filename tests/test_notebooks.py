"""Static checks of the committed notebooks (their execution is nbval's job)."""

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for folder in ("book", "labs", "solutions") for p in (ROOT / folder).glob("*.ipynb"))


def toc_entries() -> set[str]:
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("file", "root"):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_starts_with_a_title(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# ")


def test_every_chapter_and_lab_is_published_and_no_solution_is():
    entries = toc_entries()
    for path in NOTEBOOKS:
        relative = str(path.relative_to(ROOT).with_suffix(""))
        if path.parent.name == "solutions":
            assert relative not in entries, f"{relative} must never be on the website"
        else:
            assert relative in entries, f"{relative} exists but is not in _toc.yml"
    for entry in entries:
        assert any((ROOT / f"{entry}{s}").is_file() for s in (".md", ".ipynb")), f"_toc.yml names a missing {entry}"


def test_every_solution_has_its_lab():
    for solution in (ROOT / "solutions").glob("*.ipynb"):
        assert (ROOT / "labs" / solution.name).is_file(), f"labs/{solution.name} missing: run `regopt labs`"
