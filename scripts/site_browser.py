"""Read the built website as a reader does: in headless Chromium, offline.

Used by ``tests/test_browser.py`` (the checks) and by ``make screenshots``
(``python scripts/site_browser.py [HTML_DIR] [OUT_DIR]``: a full-page PNG of
every page, for a person to look at).

The site is served on 127.0.0.1 by Python's own HTTP server; every request to
any other host is refused and recorded, so a page that would need the internet
(a CDN script, a remote image) is caught even on a machine that is online.
Playwright drives Debian's ``chromium`` by its executable path (Playwright's
own browser download is not needed).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Headless Chromium on a machine without a display or network of its own (running as root in CI).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
LOOPBACK = "127.0.0.1"


def chromium_path() -> str | None:
    """Debian's chromium (or ``$REGOPT_CHROMIUM``), or None when none is installed."""
    for candidate in (os.environ.get("REGOPT_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serve(html_dir: Path):
    """Serve ``html_dir`` on 127.0.0.1 (a free port); yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser():
    """A headless Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no chromium found; install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class PageReport:
    """What a reader's browser met on one page."""

    url: str
    status: int | None = None
    foreign_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    math_sources: int = 0          # math elements Sphinx wrote (\(...\), \[...\])
    math_typeset: int = 0          # <mjx-container> elements MathJax made of them
    text: str = ""                 # the article's visible text
    prose_text: str = ""           # the same without code blocks and typeset math
    search_results: list[str] = field(default_factory=list)  # on search.html: result links
    tables: list[dict] = field(default_factory=list)   # {"header": [...], "rows": n}
    images: list[dict] = field(default_factory=list)   # {"src", "alt", "width"}
    links: list[str] = field(default_factory=list)
    widget_state: bool = False
    widget_views: int = 0          # widget outputs the page embeds
    widgets_rendered: int = 0      # widgets the widget manager drew
    too_wide: list[str] = field(default_factory=list)  # equations, tables, code wider than their column
    code_cells: list[list[str]] = field(default_factory=list)  # visible code cells' lines
    assistive_math: int = 0        # typeset formulas that carry MathML for screen readers
    skip_link: bool = False        # a "skip to main content" link is the first focusable element
    axe_violations: list[dict] = field(default_factory=list)  # {"id", "impact", "nodes", "help"}


_COLLECT = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const cells = (row) => Array.from(row.querySelectorAll('th, td')).map(c => c.innerText.trim());
  return {
    math_sources: article.querySelectorAll('.math, span.math, div.math').length,
    math_typeset: article.querySelectorAll('mjx-container').length,
    text: article.innerText,
    prose_text: (() => {
      const copy = article.cloneNode(true);
      copy.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
      return copy.textContent;
    })(),
    search_results: Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href),
    tables: Array.from(article.querySelectorAll('table')).map(t => ({
      header: Array.from(t.querySelectorAll('thead tr')).flatMap(cells),
      rows: t.querySelectorAll('tbody tr').length,
    })),
    images: Array.from(document.querySelectorAll('img')).map(i => ({
      src: i.getAttribute('src'), alt: (i.getAttribute('alt') || '').trim(),
      width: i.naturalWidth, in_article: article.contains(i)})),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    widget_state: !!document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]'),
    widget_views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgets_rendered: document.querySelectorAll('.jupyter-widgets.widget-container, .jupyter-widgets.widget-inline-hbox, .jupyter-widgets.widget-inline-vbox, .widget-box').length,
    // What a reader could only see by scrolling sideways: a display equation clipped by its box,
    // a table wider than the text column, a code block with an over-long line.
    // Code cells a reader sees: not removed (absent) and not collapsed (hide-input, hide-cell).
    code_cells: Array.from(article.querySelectorAll('div.cell'))
      .filter(c => !c.matches('.tag_hide-input, .tag_hide-cell, .tag_remove-input'))
      .map(c => c.querySelector('.cell_input pre'))
      .filter(pre => pre)
      .map(pre => pre.textContent.replace(/\\n+$/, '').split('\\n')),
    assistive_math: Array.from(article.querySelectorAll('mjx-container'))
      .filter(c => c.querySelector('mjx-assistive-mml math') || c.getAttribute('aria-label')).length,
    skip_link: !!document.querySelector('a.skip-link[href], a[href="#main-content"]'),
    too_wide: (() => {
      const column = article.getBoundingClientRect().width;
      return Array.from(article.querySelectorAll('mjx-container[display="true"], table, pre'))
        .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().width > column + 1)
        .map(e => `${e.tagName.toLowerCase()} ${Math.round(Math.max(e.scrollWidth, e.getBoundingClientRect().width))}px `
                  + `in a ${Math.round(Math.min(e.clientWidth || column, column))}px column: `
                  + (e.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 70));
    })(),
  };
}"""


_MATHJAX_DONE = """async () => {
  for (let i = 0; i < 100 && window.MathJax && !(MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 100));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
}"""


def axe_script() -> str:
    """axe-core's source (4.12, bundled by the ``axe-playwright-python`` package)."""
    from importlib.resources import files

    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


#: axe-core rules not run, each with the reason (none at present).
AXE_DISABLED: dict[str, str] = {}


def run_axe(page) -> list[dict]:
    """axe-core's violations on the loaded ``page``: id, impact, help and the offending nodes."""
    page.evaluate(axe_script())
    # preload=False: axe would fetch every stylesheet again to build its CSSOM, resolving the
    # theme's @import against the page's URL (a 404 for /basic.css that is axe's, not the site's).
    options = {"resultTypes": ["violations"], "preload": False,
               "rules": {rule: {"enabled": False} for rule in AXE_DISABLED}}
    results = page.evaluate("(options) => axe.run(document, options)", options)
    return [{"id": v["id"], "impact": v.get("impact"), "help": v.get("help", ""),
             "nodes": [" ".join(n.get("target", [""])[:1]) + ": " + (n.get("failureSummary") or "")[:160]
                       for n in v.get("nodes", [])][:5]}
            for v in results["violations"]]


def visit(instance, url: str, screenshot: Path | None = None, viewport=(1280, 900),
          color_scheme: str = "light", axe: bool = False) -> PageReport:
    """Load ``url`` with every non-loopback request refused; report what the page showed.

    ``color_scheme`` ("light" or "dark") is the reader's system setting, which the
    theme follows; ``axe`` runs axe-core on the page (``PageReport.axe_violations``).
    """
    report = PageReport(url=url)
    context = instance.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                   service_workers="block", color_scheme=color_scheme)

    def route(request_route):
        host = urlsplit(request_route.request.url).hostname
        if request_route.request.url.startswith(("data:", "blob:", "about:")) or host == LOOPBACK:
            request_route.continue_()
        else:
            report.foreign_requests.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    context.set_default_timeout(120_000)  # a loaded CI machine is slow, not broken
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and report.console_errors.append(
        f"{message.text} ({message.location.get('url', '')})"))
    page.on("pageerror", lambda error: report.console_errors.append(f"uncaught: {error}"))
    page.on("response", lambda response: response.status >= 400 and report.failed_requests.append(
        f"{response.status} {response.url}"))
    try:
        response = page.goto(url, wait_until="load", timeout=120_000)
        report.status = response.status if response else None
        for attempt in range(3):  # the root index.html redirects: wait for the page it lands on
            try:
                try:  # a short settle; what matters is checked below (math typeset, images complete)
                    page.wait_for_load_state("networkidle", timeout=10_000)
                except Exception as exc:  # noqa: BLE001 (Playwright's TimeoutError)
                    if "Timeout" not in str(exc):
                        raise
                # Wait for MathJax's first typesetting pass (when the page loads MathJax at all).
                page.evaluate(_MATHJAX_DONE)
                try:
                    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)",
                                           timeout=120_000)
                except Exception as exc:  # noqa: BLE001 (Playwright's TimeoutError: reported, not fatal)
                    if "Timeout" not in str(exc):
                        raise
                    report.console_errors.append("images were still loading after 120 s")
                break
            except Exception as exc:  # noqa: BLE001 (Playwright's Error: "Execution context was destroyed")
                if "context was destroyed" not in str(exc) or attempt == 2:
                    raise
        report.url = page.url
        if "search.html?" in url:  # Sphinx's search runs after load
            try:
                page.wait_for_selector("#search-results ul.search li", timeout=30_000)
            except Exception:  # noqa: BLE001 (no result: the report says so)
                pass
        for key, value in page.evaluate(_COLLECT).items():
            setattr(report, key, value)
        if axe:
            # What axe itself requests is not the reader's page: keep the page's own record.
            failed_before = list(report.failed_requests)
            report.axe_violations = run_axe(page)
            report.failed_requests = failed_before
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    return report


def pages(html_dir: Path) -> list[Path]:
    """Every HTML page of the site, relative to ``html_dir`` (Sphinx's own index pages aside)."""
    skip = {"genindex.html", "py-modindex.html"}
    return sorted(p.relative_to(html_dir) for p in html_dir.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)


def screenshots(html_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``out_dir/<page>.png`` (light theme) and ``out_dir/dark/<page>.png`` for every page.

    Prints one line per page and theme, with what a reader would meet there (axe-core's
    serious and critical violations included).
    """
    written = []
    with serve(html_dir) as base, browser() as instance:
        for relative in pages(html_dir):
            for scheme, folder in (("light", out_dir), ("dark", out_dir / "dark")):
                target = folder / relative.with_suffix(".png")
                report = visit(instance, base + relative.as_posix(), screenshot=target,
                               color_scheme=scheme, axe=True)
                serious = [f"axe {v['impact']}: {v['id']} ({v['help']})" for v in report.axe_violations
                           if v["impact"] in ("serious", "critical")]
                problems = (report.foreign_requests + report.console_errors + report.failed_requests
                            + report.too_wide + serious)
                print(f"{target}  ({report.math_typeset} formulas, {len(report.tables)} tables, "
                      f"{len(report.images)} images, {len(problems)} problems)", flush=True)
                for line in problems:
                    print(f"    {line}")
                written.append(target)
    return written


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    html = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "_build" / "html"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "_build" / "screenshots"
    if not (html / "index.html").is_file():
        sys.exit(f"{html} holds no built site (no index.html); run `make book` first.")
    if chromium_path() is None:
        sys.exit("no chromium found; install Debian's chromium (apt-get install chromium) to take screenshots.")
    screenshots(html, out)
