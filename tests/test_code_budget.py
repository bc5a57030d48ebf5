"""What a reader sees of each chapter's code stays within the reading budget (issue 24).

Counted from the notebooks' cell tags (``scripts/code_budget.py``), so it runs without a
browser; ``tests/test_browser.py`` measures the same on the built pages.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import code_budget  # noqa: E402

CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_visible_code_is_within_the_reading_budget(path):
    report = code_budget.budget(path)
    assert not report["problems"], f"{path.name}: " + "; ".join(report["problems"][:5])


def test_the_budget_counts_only_visible_cells(tmp_path):
    import json

    def cell(source, tags=()):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source,
                "outputs": [], "execution_count": None}

    notebook = {"cells": [cell("x = 1\nglue('x', x)\n"), cell("glue('y', 2)", ["remove-cell"]),
                          cell("plt.plot(" + "1, " * 40 + ")", ["hide-input"]),
                          cell("\n".join(f"y{i} = {i}" for i in range(31)))],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(notebook))
    report = code_budget.budget(path)
    assert (report["cells"], report["lines"], report["glue_calls"], report["longest_cell"]) == (2, 33, 1, 31)
    assert report["long_lines"] == 0 and len(report["problems"]) == 2
