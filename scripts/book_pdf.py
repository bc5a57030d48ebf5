"""The whole book as one PDF, printed by headless Chromium from Jupyter Book's single-page build.

``make pdf`` builds the book with Sphinx's ``singlehtml`` builder (the executed
notebooks come from the same execution cache as ``make book``), then this script

1. serves that page on 127.0.0.1 (no other host is reached) and opens it in
   Debian's ``chromium`` with the print stylesheet below, waits until MathJax has
   typeset every formula, and adds a title page and a table of contents;
2. prints it with ``page.pdf()`` (A4, page numbers in the footer) twice: the first
   print tells on which page each chapter starts (read back with ``pypdf``), the
   second fills those numbers into the table of contents;
3. checks the result (:func:`check_pdf`): every chapter's title, a sample of the
   numbers glued into the prose, no raw TeX (``\\(``, ``$$``) and no ``glue(``;
4. copies it next to the website (``_build/html/_static/book.pdf``), which the
   landing page links.

    python scripts/book_pdf.py [SINGLEHTML_DIR] [PDF]    # defaults: _build/singlehtml, _build/pdf/book.pdf

jupyter-book's own ``pdfhtml`` builder would download a browser; no TeX is needed here either.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import random
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_browser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# What the printed page leaves out (the website's chrome) and how code and figures break.
PRINT_CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm; }
html, body { background: white !important; color: black !important; }
.bd-header, .bd-header-announcement, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer,
.bd-footer-article, .bd-footer-content, .header-article, .header-article-items, .prev-next-area,
.skip-link, .search-button-field, .toctree-wrapper > p.caption, .theme-switch-button, .dropdown-download-buttons,
.headerlink, .copybtn, .toggle-details__summary, details.hide.above-input > summary,
.bd-search, #pst-back-to-top, #jb-print-docs-body, .article-header-buttons, nav.bd-links, .sidebar-toggle { display: none !important; }
.bd-container, .bd-container__inner, .bd-main, .bd-content, .bd-article-container,
.bd-article, main { max-width: 100% !important; width: 100% !important; margin: 0 !important;
  padding: 0 !important; display: block !important; }
pre, .highlight pre { white-space: pre-wrap !important; word-break: break-word !important;
  overflow: visible !important; font-size: 8.5pt !important; }
div.cell, figure, table, mjx-container[display="true"], .admonition { break-inside: avoid; }
img { max-width: 100% !important; height: auto !important; }
h1, h2, h3 { break-after: avoid; }
section.regopt-chapter { break-before: page; }
mjx-container[display="true"] { overflow: visible !important; }
#regopt-title { height: 220mm; display: flex; flex-direction: column; justify-content: center;
  text-align: center; break-after: page; }
#regopt-title .book-title { font-size: 28pt; font-weight: 600; margin-bottom: 10mm; color: black; }
#regopt-toc { break-after: page; }
#regopt-toc ol { list-style: none; padding: 0; }
#regopt-toc li { display: flex; margin: 2.5mm 0; font-size: 12pt; }
#regopt-toc li .fill { flex: 1; border-bottom: 1px dotted #555; margin: 0 2mm 1.2mm 2mm; }
"""

# Marks each document of the single page as a chapter (a page break before it), reads the titles.
_CHAPTERS = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const titles = [];
  // Each document of the book is a section of the toctree's wrapper in the single page.
  article.querySelectorAll('.toctree-wrapper > section').forEach(section => {
    const h1 = section.querySelector(':scope > h1, :scope > h2');
    if (!h1) return;
    section.classList.add('regopt-chapter');
    titles.push(h1.textContent.replace(/[#¶]/g, '').replace(/\\s+/g, ' ').trim());
  });
  return titles;
}"""

# The title page and the table of contents, placed before the first chapter.
_FRONT_MATTER = """([title, subtitle, chapters, pages]) => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  document.querySelectorAll('#regopt-title, #regopt-toc').forEach(e => e.remove());
  const front = document.createElement('div');
  const esc = s => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  front.innerHTML = `<div id="regopt-title"><p class="book-title" role="heading" aria-level="1">${esc(title)}</p><p>${esc(subtitle)}</p></div>`
    + `<nav id="regopt-toc" aria-label="Contents"><h2>Contents</h2><ol>`
    + chapters.map((c, i) => `<li><span>${esc(c)}</span><span class="fill"></span>`
      + `<span>${pages[i] || '000'}</span></li>`).join('') + `</ol></nav>`;
  article.prepend(...front.children);
}"""

_PASTED_NUMBERS = """() => Array.from(document.querySelectorAll('.pasted-text'))
  .map(e => e.textContent.trim()).filter(t => /^-?[0-9][0-9,]*\\.?[0-9]*%?$/.test(t) && t.length >= 3)"""


@dataclass
class PdfReport:
    """What was printed and what the check found."""

    path: Path
    pages: int = 0
    chapters: list[str] = field(default_factory=list)
    chapter_pages: list[int] = field(default_factory=list)
    glued_sample: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _title() -> tuple[str, str]:
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    version = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    subtitle = f"{config.get('author', '')} · version {version.group(1) if version else '?'} · " \
               f"printed {datetime.date.today().isoformat()}"
    return config["title"], subtitle


def pdf_text_pages(path: Path) -> list[str]:
    """The text of each page of ``path`` (pypdf)."""
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(str(path)).pages]


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _squash(text: str) -> str:
    """Without any whitespace: a PDF's text breaks lines (and bookmark titles) where it wraps."""
    return re.sub(r"\s+", "", text)


def chapter_start_pages(path: Path, chapters: list[str]) -> list[int]:
    """The 1-based page on which each chapter starts, from the PDF's outline (its bookmarks).

    Chromium writes one bookmark per heading (``page.pdf(outline=True)``); a
    chapter's is the first bookmark with its title. 0 where none is found.
    """
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    marks: list[tuple[str, int]] = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                marks.append((_squash(item.title), reader.get_destination_page_number(item) + 1))

    walk(reader.outline)
    pages, position = [], 0
    for chapter in chapters:  # in order: the landing page's own headings may repeat a title
        wanted = _squash(chapter)
        found = next((i for i in range(position, len(marks)) if marks[i][0].startswith(wanted)), None)
        pages.append(marks[found][1] if found is not None else 0)
        position = found + 1 if found is not None else position
    return pages


def check_pdf(texts: list[str], chapters: list[str], chapter_pages: list[int], glued: list[str]) -> list[str]:
    """Problems of the printed book, from its pages' text and its chapters' bookmarked pages:
    missing chapters or glued numbers, raw TeX, visible glue calls."""
    whole = _normal(" ".join(texts))
    squashed = _squash(whole)
    problems = [f"no bookmark for chapter {c!r}" for c, p in zip(chapters, chapter_pages) if not p]
    if len(texts) < 2 * max(1, len(chapters)):
        problems.append(f"only {len(texts)} pages for {len(chapters)} chapters")
    problems += [f"chapter title not found: {c!r}" for c in chapters if _squash(c) not in squashed]
    problems += [f"glued number not found: {g!r}" for g in glued if _squash(g) not in squashed]
    for pattern, what in ((r"\\\(", "raw \\( (untypeset math)"), (r"\$\$", "raw $$ (untypeset math)"),
                          (r"\bglue\(", "a glue( call")):
        hits = len(re.findall(pattern, whole))
        if hits:
            problems.append(f"{hits} × {what} in the text")
    return problems


def entry_page(html_dir: Path) -> str:
    """The single page, at the folder's root (its links to _static/ and _images/ are relative to it)."""
    nested = html_dir / "book" / "index.html"
    if nested.is_file() and "http-equiv" not in nested.read_text(encoding="utf-8")[:500]:
        # jupyter-book writes the root document's path (book/index.html) but links as if at the top.
        shutil.copy2(nested, html_dir / "print.html")
        return "print.html"
    return "index.html"


def build_pdf(html_dir: Path, out: Path, sample: int = 25, instance=None) -> PdfReport:
    """Print the single page of ``html_dir`` to ``out``; check it; return the report.

    ``instance``: a running Playwright browser to use (one is started otherwise).
    """
    with contextlib.ExitStack() as stack:
        if instance is None:
            instance = stack.enter_context(site_browser.browser())
        return _print(html_dir, out, sample, instance)


def _print(html_dir: Path, out: Path, sample: int, instance) -> PdfReport:
    report = PdfReport(out)
    title, subtitle = _title()
    out.parent.mkdir(parents=True, exist_ok=True)
    with site_browser.serve(html_dir) as base:
        context = instance.new_context(color_scheme="light", service_workers="block")
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith((base, "data:", "blob:")) else route.abort())
        context.set_default_timeout(300_000)
        # Sphinx adds MathJax's configuration only to pages with math of their own, and the
        # single page is the landing page's (none): the same configuration as every chapter's.
        context.add_init_script("window.MathJax = {options: {processHtmlClass: "
                                "'tex2jax_process|mathjax_process|math|output_area'}};")
        page = context.new_page()
        page.goto(base + entry_page(html_dir), wait_until="load")
        page.evaluate(site_browser._MATHJAX_DONE)
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
        page.emulate_media(media="print")
        page.add_style_tag(content=PRINT_CSS)
        # Light theme for print, whatever the reader's setting.
        page.evaluate("() => { document.documentElement.dataset.theme = 'light';"
                      " document.documentElement.dataset.mode = 'light'; }")
        report.chapters = page.evaluate(_CHAPTERS)
        numbers = sorted(set(page.evaluate(_PASTED_NUMBERS)))
        report.glued_sample = random.Random(0).sample(numbers, min(sample, len(numbers)))
        footer = ('<div style="font-size:9px;width:100%;text-align:center;color:#444">'
                  '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
        options = dict(path=str(out), format="A4", print_background=True, display_header_footer=True,
                       outline=True, tagged=True,
                       header_template="<span></span>", footer_template=footer,
                       margin={"top": "18mm", "bottom": "20mm", "left": "16mm", "right": "16mm"})
        page.evaluate(_FRONT_MATTER, [title, subtitle, report.chapters, []])
        page.pdf(**options)
        report.chapter_pages = chapter_start_pages(out, report.chapters)
        page.evaluate(_FRONT_MATTER, [title, subtitle, report.chapters, report.chapter_pages])
        page.pdf(**options)
        context.close()
    texts = pdf_text_pages(out)
    report.pages = len(texts)
    again = chapter_start_pages(out, report.chapters)
    if again != report.chapter_pages:
        report.problems.append(f"chapter pages moved between prints: {report.chapter_pages} → {again}")
    report.problems += check_pdf(texts, report.chapters, again, report.glued_sample)
    return report


def reveal_link(landing: Path) -> bool:
    """Show the landing page's link to the PDF (hidden until a PDF sits beside the site)."""
    if not landing.is_file():
        return False
    html = landing.read_text(encoding="utf-8")
    shown = html.replace('<p id="book-pdf" hidden>', '<p id="book-pdf">')
    landing.write_text(shown, encoding="utf-8")
    return shown != html


def main(argv: list[str]) -> int:
    html_dir = Path(argv[0]) if argv else ROOT / "_build" / "singlehtml"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "_build" / "pdf" / "book.pdf"
    if not (html_dir / "index.html").is_file() and not (html_dir / "book" / "index.html").is_file():
        print(f"{html_dir} holds no single-page build (no index.html); run `make pdf`, which builds it.")
        return 1
    if site_browser.chromium_path() is None:
        print("no chromium found; install Debian's chromium (apt-get install chromium) to print the book.")
        return 1
    report = build_pdf(html_dir, out)
    print(f"wrote {out}: {report.pages} pages, {len(report.chapters)} chapters "
          f"(starting on pages {', '.join(map(str, report.chapter_pages))}), "
          f"{len(report.glued_sample)} glued numbers checked")
    site = ROOT / "_build" / "html"
    if (site / "_static").is_dir() and not report.problems:
        shutil.copy2(out, site / "_static" / "book.pdf")
        reveal_link(site / "book" / "index.html")
        print(f"copied to {site / '_static' / 'book.pdf'}; the landing page now links it")
    (out.with_suffix(".json")).write_text(json.dumps(
        {"pages": report.pages, "chapters": report.chapters, "chapter_pages": report.chapter_pages,
         "glued_sample": report.glued_sample, "problems": report.problems}, indent=1))
    for problem in report.problems:
        print(f"    problem: {problem}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
