"""The website as a reader's browser shows it: headless Chromium, offline, every chapter and lab.

The site is the one ``tests/test_website.py`` builds from the notebooks' fast-mode
outputs (or the folder named by ``REGOPT_SITE_HTML``, e.g. ``_build/html`` after
``make book``). It is served on 127.0.0.1 and every request to another host is
refused and recorded (``scripts/site_browser.py``), so a page that needs the
internet fails here even on a machine that has it.

Skipped, with one line, where no chromium is installed (a reader's laptop);
``.ci/run`` installs Debian's chromium first, so CI always runs it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import book_pdf  # noqa: E402
import code_budget  # noqa: E402
import site_browser  # noqa: E402

if site_browser.chromium_path() is None:
    pytest.skip("no chromium installed: the in-browser checks of the website are skipped "
                "(apt-get install chromium to run them)", allow_module_level=True)
pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[dev]')")

from test_website import build_site, source_of, toc_files  # noqa: E402

pytestmark = pytest.mark.website

TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
PAGES = [entry for entry in toc_files(TOC) if source_of(entry).suffix == ".ipynb"]
# A pipe table's rule line, "|---|:--:|", as Markdown outputs carry them.
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)
GLUE_REFERENCE = re.compile(r"\{glue(?::\w+)?\}\s*`?([A-Za-z_][\w.-]*)")
GENERIC_ALT = {"", "png", "image", "img", "figure", "output", "alt", "none"}
# Raw TeX delimiters that MathJax would have replaced, outside code.
RAW_MATH = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$")
SEARCH_TERM, SEARCH_PAGE = "Nesterov", "book/06_momentum_adam"


@pytest.fixture(scope="module")
def html_dir(executed_notebooks) -> Path:
    override = os.environ.get("REGOPT_SITE_HTML", "").strip()
    if override:
        path = Path(override).resolve()
        assert (path / "index.html").is_file(), f"REGOPT_SITE_HTML={override} holds no built site"
        return path
    site = build_site(TOC, executed_notebooks)
    assert site["result"].returncode == 0, "the site did not build (see test_website.py)"
    return site["html"]


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the whole file: Playwright's sync API allows one at a time."""
    with site_browser.browser() as instance:
        yield instance


@pytest.fixture(scope="module")
def site_url(html_dir):
    with site_browser.serve(html_dir) as base:
        yield base


def _browser(chromium, base, color_scheme):
    """Visit a page (path relative to the site) once; reports are kept for every test."""
    reports: dict[str, site_browser.PageReport] = {}

    def visit(path: str) -> site_browser.PageReport:
        if path not in reports:
            # axe-core runs on the toc's pages only (search.html is a form, checked by its own test).
            reports[path] = site_browser.visit(chromium, base + path, color_scheme=color_scheme,
                                               axe="?" not in path)
        return reports[path]

    return visit


@pytest.fixture(scope="module")
def browse(site_url, chromium):
    """The site as a reader with a light system theme meets it (the theme follows the system)."""
    return _browser(chromium, site_url, "light")


@pytest.fixture(scope="module")
def browse_dark(site_url, chromium):
    """The same pages in the theme's dark mode."""
    return _browser(chromium, site_url, "dark")


def expected_tables(entry: str, html_dir: Path) -> int:
    """How many Markdown tables the executed notebook shows on its page."""
    import nbformat

    executed = ROOT / "_build" / "test-site" / "src" / f"{entry}.ipynb"
    if "REGOPT_SITE_HTML" in os.environ or not executed.is_file() or entry.startswith("labs/"):
        executed = ROOT / f"{entry}.ipynb"  # labs are shown unexecuted
    nb = nbformat.read(executed, as_version=4)
    glued, shown = {}, 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        hidden = {"remove-output", "remove-cell"} & set(cell.metadata.get("tags", []))
        for output in cell.get("outputs", []):
            markdown = output.get("data", {}).get("text/markdown")
            if markdown is None:
                continue
            count = len(TABLE_RULE.findall("".join(markdown)))
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                glued[scrap.get("name")] = count
            elif not hidden:
                shown += count
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            shown += sum(glued.get(name, 0) for name in GLUE_REFERENCE.findall(cell.source))
    return shown


@pytest.mark.parametrize("entry", PAGES)
def test_page_loads_offline_without_errors(browse, entry):
    report = browse(f"{entry}.html")
    assert report.status == 200, f"{entry}.html answered {report.status}"
    assert not report.foreign_requests, f"{entry} asks other hosts than the site: {report.foreign_requests[:5]}"
    assert not report.failed_requests, f"{entry} has broken links to its own files: {report.failed_requests[:5]}"
    assert not report.console_errors, f"{entry} logs errors in the console: {report.console_errors[:5]}"


@pytest.mark.parametrize("entry", PAGES)
def test_math_is_typeset(browse, entry):
    report = browse(f"{entry}.html")
    assert report.math_typeset >= report.math_sources, (
        f"{entry}: MathJax typeset {report.math_typeset} of {report.math_sources} formulas")
    raw = sorted(set(RAW_MATH.findall(report.prose_text)))
    assert not raw, f"{entry} shows raw TeX delimiters {raw} in its text"


@pytest.mark.parametrize("entry", PAGES)
def test_tables_are_real_tables_with_headers(browse, html_dir, entry):
    report = browse(f"{entry}.html")
    assert not TABLE_RULE.search(report.prose_text), f"{entry} shows a Markdown table as raw text"
    expected = expected_tables(entry, html_dir)
    assert len(report.tables) >= expected, (
        f"{entry}: the notebook shows {expected} tables but the page has {len(report.tables)} <table>s")
    for table in report.tables:
        assert table["header"] and all(table["header"]), f"{entry}: a table has no (or an empty) header row"
        assert table["rows"] >= 1, f"{entry}: the table headed {table['header']} has no rows"


@pytest.mark.parametrize("entry", toc_files(TOC))
def test_nothing_is_wider_than_its_column(browse, entry):
    # At a desktop width (1280 px) no equation, table or code line needs a sideways scroll.
    report = browse(f"{entry}.html")
    assert not report.too_wide, f"{entry}: {report.too_wide}"


CHAPTERS = [entry for entry in PAGES if entry.startswith("book/")]


@pytest.mark.parametrize("entry", CHAPTERS)
def test_visible_code_is_the_lesson_within_the_reading_budget(browse, entry):
    # Issue 24: what a reader sees of the code is short cells of the lesson; the plumbing
    # (glue, verdicts, assertions, timing) is removed and plot code collapsed.
    cells = browse(f"{entry}.html").code_cells
    lines = [line for cell in cells for line in cell]
    assert not [line for line in lines if "glue(" in line], f"{entry} shows glue( calls in its code"
    long_cells = [(len(cell), cell[0][:50]) for cell in cells if len(cell) > code_budget.MAX_CELL_LINES]
    assert not long_cells, f"{entry}: visible code cells over {code_budget.MAX_CELL_LINES} lines: {long_cells}"
    long_lines = [line for line in lines if len(line) > code_budget.MAX_LINE_LENGTH]
    assert not long_lines, (f"{entry}: {len(long_lines)} visible code lines over "
                            f"{code_budget.MAX_LINE_LENGTH} characters, e.g. {long_lines[0]!r}")
    assert len(lines) <= code_budget.MAX_CHAPTER_LINES, (
        f"{entry} shows {len(lines)} lines of code (budget {code_budget.MAX_CHAPTER_LINES})")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("entry", toc_files(TOC))
def test_no_serious_accessibility_violation(browse, browse_dark, entry, scheme):
    # axe-core 4.12 (contrast included) in both of the theme's colour modes; the rules not run
    # are named, with their reason, in site_browser.AXE_DISABLED.
    report = (browse if scheme == "light" else browse_dark)(f"{entry}.html")
    serious = [v for v in report.axe_violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{entry} ({scheme}): " + "; ".join(
        f"{v['impact']} {v['id']} ({v['help']}): {v['nodes'][:2]}" for v in serious)


@pytest.mark.parametrize("entry", PAGES)
def test_math_is_readable_by_a_screen_reader_and_the_page_by_keyboard(browse, entry):
    report = browse(f"{entry}.html")
    assert report.assistive_math >= report.math_typeset, (
        f"{entry}: {report.math_typeset} formulas typeset, {report.assistive_math} with assistive MathML")
    assert report.skip_link, f"{entry} has no skip link to its main content"


def test_keyboard_focus_is_visible_and_starts_at_the_skip_link(site_url, chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(site_url + "book/01_penalties.html", wait_until="load")
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const e = document.activeElement; const s = getComputedStyle(e);
            return {text: e.textContent.trim(), href: e.getAttribute('href'),
                    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
                    shadow: s.boxShadow !== 'none', visible: e.getBoundingClientRect().height > 0}; }""")
        assert focused["href"] == "#main-content" and focused["visible"], focused
        assert focused["outline"] or focused["shadow"], f"the focused skip link shows no focus ring: {focused}"
    finally:
        context.close()


def test_the_book_prints_as_one_pdf(html_dir, chromium, executed_notebooks):
    # `make pdf` on the test site: singlehtml from the same executed notebooks, then Chromium.
    import subprocess

    from test_website import SITE, build_site

    if os.environ.get("REGOPT_SITE_HTML", "").strip():
        pytest.skip("REGOPT_SITE_HTML names a built site; `make pdf` checks its own PDF")
    staging = build_site(TOC, executed_notebooks)["staging"]
    output = SITE / "single"
    built = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(staging),
                            "--builder", "singlehtml", "--path-output", str(output), "-W", "-n", "--keep-going"],
                           capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    report = book_pdf.build_pdf(output / "_build" / "singlehtml", SITE / "pdf" / "book.pdf", instance=chromium)
    assert not report.problems, report.problems
    documents = [entry for entry in toc_files(TOC) if entry != TOC["root"]]  # the landing page opens it
    assert len(report.chapters) == len(documents), (report.chapters, documents)
    assert all(report.chapter_pages) and report.chapter_pages == sorted(report.chapter_pages), report.chapter_pages
    assert report.chapter_pages[0] >= 3, "a title page and a table of contents come first"
    assert report.pages >= 2 * len(documents)
    assert len(report.glued_sample) >= 10, "the check found too few glued numbers to sample"
    # The table of contents lists every chapter with the page it starts on.
    first_pages = " ".join(book_pdf.pdf_text_pages(report.path)[:3])
    for title, page in zip(report.chapters, report.chapter_pages):
        assert book_pdf._squash(f"{title}{page}") in book_pdf._squash(first_pages), (title, page)


@pytest.mark.parametrize("entry", PAGES)
def test_images_load_and_have_real_alt_text(browse, entry):
    report = browse(f"{entry}.html")
    for image in report.images:
        if not image["in_article"]:
            continue
        assert image["width"] > 0, f"{entry}: image {image['src']} did not load"
        alt = image["alt"].strip().lower()
        assert alt not in GENERIC_ALT and not alt.endswith((".png", ".svg")), (
            f"{entry}: image {image['src']} has no real alt text ({image['alt']!r})")


@pytest.mark.parametrize("entry", PAGES)
def test_interactive_figures_render(browse, entry):
    report = browse(f"{entry}.html")
    if report.widget_views:
        assert report.widget_state, f"{entry} embeds widgets without their state"
        assert report.widgets_rendered >= report.widget_views, (
            f"{entry}: {report.widget_views} widgets embedded, {report.widgets_rendered} drawn")
    # The static fallback (the book is built with REGOPT_STATIC=1) is a figure; the test above
    # checks that every image loaded. Either way no dead widget placeholder is left:
    assert "Error displaying widget" not in report.text and "Loading widget..." not in report.text, (
        f"{entry} shows a widget that did not render")


@pytest.mark.parametrize("entry", PAGES)
def test_colab_link_opens_a_notebook_of_the_repository(browse, entry):
    try:
        from regopt.instructor.course import course_info
    except ImportError:  # before the instructor tooling moved into its subpackage
        from regopt.course import course_info

    info = course_info(ROOT)
    prefix = f"/github/{info.owner_repo}/blob/{info.ref}/"
    report = browse(f"{entry}.html")
    targets = {urlsplit(link).path for link in report.links
               if urlsplit(link).hostname == "colab.research.google.com"}
    assert targets, f"{entry} has no link to Colab"
    for path in targets:
        assert path.startswith(prefix), f"{entry}: Colab link {path} is not at {prefix}"
        notebook = path[len(prefix):]
        assert (ROOT / notebook).is_file(), f"{entry}: Colab link to {notebook}, which is not in the repository"


def test_search_finds_a_term_of_chapter_6(browse):
    if SEARCH_PAGE not in toc_files(TOC):
        pytest.skip(f"{SEARCH_PAGE} is not in _toc.yml")
    report = browse(f"search.html?q={SEARCH_TERM}")
    assert not report.console_errors, report.console_errors[:5]
    hits = [urlsplit(link).path for link in report.search_results]
    assert any(path.endswith(f"{SEARCH_PAGE}.html") for path in hits), (
        f"searching {SEARCH_TERM!r} found {hits}, not {SEARCH_PAGE}")


@pytest.mark.slow
def test_a_live_widget_renders_offline_from_the_sites_own_widget_manager(tmp_path, chromium):
    """The book shows static figures, so no chapter exercises the widget manager: a one-page
    site with a real ipywidgets slider does (MathJax 3 in the label, no CDN)."""
    import shutil
    import subprocess

    import nbformat

    for name in ("_ext", "_static"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Widget\n\nThe penalty $\\lambda$."),
                nbformat.v4.new_code_cell("import ipywidgets\nipywidgets.FloatSlider(value=0.3, max=1.0, "
                                          "description=r'\\(\\lambda\\)')")]
    nbformat.write(nb, tmp_path / "widget.ipynb")
    # Executed in a subprocess: the kernel client's asyncio loop stays out of this process,
    # where Playwright's sync API is already running (the `chromium` fixture).
    executed = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                               str(tmp_path / "widget.ipynb")], capture_output=True, text=True, timeout=300)
    assert executed.returncode == 0, executed.stderr[-2000:]
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: widget\n")
    (tmp_path / "_config.yml").write_text("title: widget\nexecute:\n  execute_notebooks: 'off'\n"
                                          "sphinx:\n  local_extensions:\n    regopt_build: _ext\n")
    built = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(tmp_path), "-W"],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    with site_browser.serve(tmp_path / "_build" / "html") as base:
        report = site_browser.visit(chromium, base + "widget.html")
        # The slider is reachable with the keyboard alone: Tab until it has the focus.
        context = chromium.new_context()
        try:
            page = context.new_page()
            page.goto(base + "widget.html", wait_until="load")
            page.wait_for_selector(".widget-slider", timeout=60_000)
            reached = False
            for _ in range(60):
                page.keyboard.press("Tab")
                if page.evaluate("() => !!document.activeElement.closest('.widget-slider')"):
                    reached = True
                    break
        finally:
            context.close()
    assert report.widget_views == 1 and report.widgets_rendered >= 1, report
    assert not report.foreign_requests and not report.failed_requests, report
    assert not report.console_errors, report.console_errors
    assert reached, "the slider cannot be reached with the Tab key"
