"""scripts/book_pdf.py's pieces that need no browser (tests/test_browser.py prints the book)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import book_pdf  # noqa: E402


def test_the_landing_pages_pdf_link_is_revealed_once_a_pdf_exists(tmp_path):
    landing = tmp_path / "index.html"
    landing.write_text('<main><p id="book-pdf" hidden><a href="../_static/book.pdf">PDF</a></p></main>')
    assert book_pdf.reveal_link(landing) is True
    assert '<p id="book-pdf">' in landing.read_text() and "hidden" not in landing.read_text()
    assert book_pdf.reveal_link(landing) is False  # nothing left to reveal
    assert book_pdf.reveal_link(tmp_path / "missing.html") is False


def test_the_source_says_the_link_is_hidden_until_make_pdf():
    source = (ROOT / "book" / "index.md").read_text()
    assert '<p id="book-pdf" hidden>' in source and "../_static/book.pdf" in source


def test_titles_match_across_the_pdfs_line_breaks():
    assert book_pdf._squash("Chapter 1: Pen\nalties 12") == book_pdf._squash("Chapter 1: Penalties12")
