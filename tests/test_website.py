"""The website builds strictly, from the outputs nbval produced, and shows what it should.

The real site (``make book``) executes every chapter at full fidelity. Here the
chapters' fast-mode outputs, captured while nbval ran them (see
``conftest.py``), are built with execution switched off and ``-W -n``, so every
Sphinx warning, broken reference or missing glue key fails the test suite
without running any notebook twice. A notebook nbval did not run in this session
(for example when this file is run alone) is executed here instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from regopt.instructor.course import course_info

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "test-site"
EXECUTED = SITE / "executed"

pytestmark = pytest.mark.website


def toc_files(toc: dict) -> list[str]:
    """Every ``file`` entry of a Jupyter Book toc, root first, in reading order."""
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def source_of(entry: str) -> Path:
    for suffix in (".ipynb", ".md"):
        candidate = ROOT / f"{entry}{suffix}"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"_toc.yml names {entry!r} but neither {entry}.ipynb nor {entry}.md exists")


def execute_fast(path: Path, target: Path) -> None:
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


@pytest.fixture(scope="module")
def toc() -> dict:
    return yaml.safe_load((ROOT / "_toc.yml").read_text())


_BUILT: dict[str, dict] = {}


@pytest.fixture(scope="module")
def site(toc, executed_notebooks) -> dict:
    """Stage the book with executed notebooks, build it strictly, return the result."""
    return build_site(toc, executed_notebooks)


def build_site(toc: dict, executed_notebooks: dict) -> dict:
    """Build the test site once per session (``tests/test_browser.py`` reads it too)."""
    if "site" not in _BUILT:
        _BUILT["site"] = _build_site(toc, executed_notebooks)
    return _BUILT["site"]


def _build_site(toc: dict, executed_notebooks: dict) -> dict:
    staging = SITE / "src"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in ("_toc.yml", "_ext", "_static"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, staging / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, staging / name)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (staging / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    # Everything in book/ and labs/ except notebooks, which come executed.
    for folder in ("book", "labs"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, staging / folder,
                            ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__"))
    executed_here = []
    for entry in toc_files(toc):
        source = source_of(entry)
        if source.suffix != ".ipynb":
            continue
        target = staging / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.parent.name == "labs":
            shutil.copy2(source, target)  # shown as students receive them, not executed
            continue
        state = executed_notebooks.get(source.resolve())
        if state is not None:
            if state.get("written") in (None, "failed"):
                pytest.fail(f"{source.name} failed under nbval; the website cannot be built from it.")
            shutil.copy2(state["written"], target)
        else:
            execute_fast(source, target)
            executed_here.append(source.name)
    output = SITE / "out"
    if output.exists():
        shutil.rmtree(output)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(staging),
         "--path-output", str(output), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=1800,
    )
    return {"result": result, "html": output / "_build" / "html", "executed_here": executed_here,
            "staging": staging}


def test_site_builds_without_warnings(site):
    result = site["result"]
    log = result.stdout + result.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0 and not warnings, (
        "jupyter-book build -W -n failed:\n" + "\n".join(warnings or log.splitlines()[-40:])
    )


def test_every_toc_page_is_built(site, toc):
    for entry in toc_files(toc):
        assert (site["html"] / f"{entry}.html").is_file(), f"{entry} is in _toc.yml but was not built"


def test_notebook_pages_have_a_colab_button(site, toc):
    info = course_info(ROOT)
    for entry in toc_files(toc):
        if source_of(entry).suffix != ".ipynb":
            continue
        html = (site["html"] / f"{entry}.html").read_text(encoding="utf-8")
        expected = f"colab.research.google.com/github/{info.owner_repo}/blob/{info.ref}/{entry}.ipynb"
        assert expected in html, f"{entry}.html has no Colab launch button to {expected}"


def test_solutions_and_hidden_tests_never_reach_the_website(site):
    html_root = site["html"]
    assert not list(html_root.rglob("solutions")), "a solutions folder was published"
    leaked = []
    for page in html_root.rglob("*"):
        if page.is_file() and page.suffix in {".html", ".ipynb", ".md", ".txt", ".js"}:
            text = page.read_text(encoding="utf-8", errors="replace")
            for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
                if marker in text:
                    leaked.append(f"{page.relative_to(html_root)}: {marker}")
    assert not leaked, "solution or hidden-test text on the website:\n" + "\n".join(leaked)


def test_website_shows_figures_not_widgets_or_progress_bars(site):
    for page in site["html"].rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "application/vnd.jupyter.widget-view+json" not in text, f"{page.name} shows a dead widget"
        assert not re.search(r"\d+it/s\]|\d+/\d+ \[\d\d:\d\d<", text), f"{page.name} shows a progress bar"


def test_every_figure_has_a_caption_and_alt_text(site, toc):
    import nbformat

    problems = []
    for entry in toc_files(toc):
        path = site["staging"] / f"{entry}.ipynb"
        if not path.is_file() or "labs/" in entry:
            continue
        nb = nbformat.read(path, as_version=4)
        for number, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})
                      and "scrapbook" not in o.get("metadata", {})]
            if not images:
                continue
            mystnb = cell.metadata.get("mystnb", {})
            caption = mystnb.get("figure", {}).get("caption", "").strip()
            alt = mystnb.get("image", {}).get("alt", "").strip()
            if not caption or not alt:
                problems.append(f"{entry} cell {number}: caption={bool(caption)} alt={bool(alt)}")
    assert not problems, "figures without caption or alt text:\n" + "\n".join(problems)


def test_glued_tables_are_numbered_as_tables(site):
    """A ``{glue:figure}`` named ``tab-...`` holds a table: its caption says "Table N", not "Fig. N"."""
    tables, problems = 0, []
    for page in site["html"].rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r'<figure class="([^"]*)" id="(tab-[^"]*)">(.*?)</figure>', text, flags=re.S):
            classes, label, body = match.groups()
            tables += 1
            number = re.search(r'<span class="caption-number">([^<]*)</span>', body)
            if "glued-table" not in classes.split() or not number or not number.group(1).startswith("Table"):
                problems.append(f"{page.name}#{label}: {number.group(1) if number else 'no number'}")
    assert tables, "no glued table (a {glue:figure} named tab-...) on the website"
    assert not problems, "glued tables not numbered as tables:\n" + "\n".join(problems)


def test_each_page_has_one_search_field(site, toc):
    for entry in toc_files(toc):
        html = (site["html"] / f"{entry}.html").read_text(encoding="utf-8")
        fields = html.count('class="btn search-button-field')
        assert fields == 1, f"{entry}.html shows {fields} search fields (one belongs in the sidebar)"


def test_bibliography_lists_every_source(site):
    html = (site["html"] / "book" / "bibliography.html").read_text(encoding="utf-8")
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    entries = re.findall(r"@\w+\{([^,]+),(.*?)\n\}", bib, flags=re.S)
    assert entries, "book/references.bib has no entry"
    missing = []
    for key, body in entries:
        author = re.search(r"author\s*=\s*\{+([^,}]+)", body)
        surname = re.sub(r"[{}\\]", "", author.group(1)).split()[-1] if author else None
        if surname and surname.isalpha() and surname not in html:
            missing.append(f"{key} ({surname})")
    assert not missing, "bibliography page lacks: " + ", ".join(missing)


def test_execution_cache_is_emptied_by_code_changes_only(tmp_path, monkeypatch):
    """jupyter-cache keys notebooks by their cells only; _ext adds what else their outputs depend on."""
    sys.path.insert(0, str(ROOT / "_ext"))
    import regopt_build

    package = tmp_path / "regopt"
    (package / "instructor").mkdir(parents=True)
    module = package / "train.py"
    module.write_text('"""Training."""\n\ndef fit(x):\n    return x + 1\n')
    (package / "instructor" / "grading.py").write_text("MARKS = 1\n")
    monkeypatch.delenv("REGOPT_FAST", raising=False)
    monkeypatch.delenv("REGOPT_DATA", raising=False)

    def fingerprint():
        return regopt_build.execution_fingerprint(tmp_path, package)

    first = fingerprint()
    assert fingerprint() == first
    module.write_text('"""Training, reworded."""\n\ndef fit(x):\n    # a comment\n    return x + 1\n')
    (package / "instructor" / "grading.py").write_text("MARKS = 2\n")
    assert fingerprint() == first, "docstrings, comments and instructor tooling change no chapter output"
    module.write_text('"""Training."""\n\ndef fit(x):\n    return x + 2\n')
    changed = fingerprint()
    assert changed != first, "a change to the library's code must re-execute the chapters"
    for where in ("a", "b"):  # the same data seen from two clones: same outputs
        raw = tmp_path / where / "MNIST" / "raw"
        raw.mkdir(parents=True)
        (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes(10008))
    monkeypatch.setenv("REGOPT_DATA", str(tmp_path / "a"))
    with_data = fingerprint()
    monkeypatch.setenv("REGOPT_DATA", str(tmp_path / "b"))
    assert fingerprint() == with_data != changed
    monkeypatch.setenv("REGOPT_FAST", "1")
    assert fingerprint() != with_data, "fast-mode outputs must never be reused at full fidelity"
    (tmp_path / "constraints.txt").write_text("torch==2.14.1\n")
    assert fingerprint() not in {first, changed, with_data}
