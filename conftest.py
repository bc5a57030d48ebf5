"""pytest set-up shared by the unit tests and the notebook runs.

nbval (``--nbval-lax``) executes every notebook in ``book/`` and ``solutions/``
once, in fast mode. This plugin keeps the outputs nbval saw and writes the
executed notebooks to ``_build/test-site/executed/``; the website test
(``tests/test_website.py``, run last) then builds the site from them with
``-W -n``, so a broken cross-reference, a missing glue key or any Sphinx warning
fails ``make test`` without executing any notebook twice.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
EXECUTED_DIR = ROOT / "_build" / "test-site" / "executed"

# Notebook kernels inherit this environment. Tests always run in fast mode and
# render like the website (static widgets, no progress bars).
from regopt import config as regopt_config  # noqa: E402 (lazy: no torch here)

os.environ.setdefault(regopt_config.FAST_ENV, "1")
os.environ.setdefault(regopt_config.STATIC_ENV, "1")

_executed: dict[Path, dict] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "website: builds the website; runs after every notebook")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    # The website test consumes the notebooks' outputs, so it must run after them.
    items.sort(key=lambda item: item.get_closest_marker("website") is not None)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Only the chapters and the solutions are executed as notebooks; labs stop at
    # unfinished exercises and tests/ holds deliberately broken submissions.
    if collection_path.suffix == ".ipynb":
        return collection_path.resolve().parent not in (ROOT / "book", ROOT / "solutions")
    if collection_path.name in {".ipynb_checkpoints", "_build", ".venv"}:
        return True
    return None


def _is_nbval_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell_num")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if call.when != "call" or not _is_nbval_cell(item):
        return
    report = outcome.get_result()
    path = Path(str(item.parent.fspath)).resolve()
    # nbval reads each notebook once (item.parent.nb); item.cell is one of its
    # code cells and item.cell_num its index among the code cells.
    state = _executed.setdefault(path, {"nb": item.parent.nb, "failed": False, "outputs": {}})
    state["failed"] = state["failed"] or report.failed
    state["outputs"][item.cell_num] = list(item.test_outputs or [])


def _write_executed(path: Path, state: dict) -> Path | None:
    """Write the notebook with the outputs nbval captured; None if a cell failed."""
    import nbformat

    if state["failed"]:
        return None
    nb = copy.deepcopy(state["nb"])
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    count = 0
    for number, cell in enumerate(code_cells):
        outputs = state["outputs"].get(number)
        if outputs is None:  # skipped by nbval (e.g. tagged nbval-skip)
            cell.outputs, cell.execution_count = [], None
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = []
        for output in outputs:
            output = nbformat.from_dict(copy.deepcopy(dict(output)))
            if output.get("output_type") == "execute_result":
                output["execution_count"] = count
            else:
                output.pop("execution_count", None)
            cell.outputs.append(output)
    target = EXECUTED_DIR / path.relative_to(ROOT)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def pytest_runtest_logfinish(nodeid: str, location) -> None:
    # Write each notebook as soon as its last code cell has run, so that the
    # website test (ordered after every notebook) finds it.
    for path, state in _executed.items():
        if state.get("written"):
            continue
        n_code = sum(1 for cell in state["nb"].cells if cell.cell_type == "code")
        if len(state["outputs"]) >= n_code:
            state["written"] = _write_executed(path, state) or "failed"


@pytest.fixture(scope="session")
def executed_notebooks() -> dict[Path, dict]:
    """Notebook path -> nbval state, for the notebooks this session executed."""
    return _executed


@pytest.fixture(autouse=True)
def _torch_global_state_is_restored():
    """Fail a test that leaves torch's default dtype changed: the tests after it would run on float64.

    (A lab sets float64 globally; run in-process, it once hid a float32 overflow that another
    test relies on.)
    """
    import torch

    before = torch.get_default_dtype()
    yield
    after = torch.get_default_dtype()
    if after != before:
        torch.set_default_dtype(before)
        pytest.fail(f"this test changed torch's default dtype from {before} to {after}; restore it when done")
