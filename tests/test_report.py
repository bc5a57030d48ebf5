"""Tests of regopt.report: glue with and without myst-nb, Markdown tables (rendered, as the site does)."""

import sys

import pytest

from regopt import report
from regopt.report import markdown_table


def parse_table(html: str) -> list[list[str]]:
    """Rows of the one table in ``html`` (header row first), as cell texts."""
    from bs4 import BeautifulSoup

    tables = BeautifulSoup(html, "html.parser").find_all("table")
    assert len(tables) == 1, f"expected one <table>, found {len(tables)} in {html!r}"
    return [[cell.get_text() for cell in tr.find_all(["th", "td"])] for tr in tables[0].find_all("tr")]


def render(markdown: str) -> str:
    """Render with the Markdown renderer the website uses (MyST's markdown-it, tables on)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_markdown_table_renders_as_a_table_with_formatted_cells():
    text = markdown_table(["λ", "ours", "theirs"], [[0.001, 0.0626, float("nan")], ["mean", 1, 2.0]])
    rows = parse_table(render(text))
    assert rows == [["λ", "ours", "theirs"], ["0.001", "0.063", "—"], ["mean", "1", "2.000"]]


def test_markdown_table_escapes_pipes_and_newlines_inside_cells():
    rows = parse_table(render(markdown_table(["x | y", "z"], [["a|b\nc", "$|w|$"]])))
    assert rows == [["x | y", "z"], ["a|b c", "$|w|$"]]


def test_markdown_table_right_aligns_numeric_columns_only():
    header_rule = markdown_table(["name", "value"], [["a", 1.0], ["b", 2]]).splitlines()[1]
    left, right = header_rule.strip("|").split("|")
    assert left.startswith(":") and not left.endswith(":")
    assert right.endswith(":") and not right.startswith(":")


def test_numbers_formatted_by_the_caller_align_as_numbers():
    rule = markdown_table(["λ", "k", "name"], [["0.0215", "1.4e-13", "a"], ["10", "−3.5%", "b2"]]).splitlines()[1]
    assert [cell.strip().endswith(":") for cell in rule.strip("|").split("|")] == [True, True, False]
    typeset = [["6,561", "256"], [r"$1.59 \times 10^{10}$", r"$\lambda = 10^{3}$"]]
    rule = markdown_table(["at most", "note"], typeset).splitlines()[1]
    assert [cell.strip().endswith(":") for cell in rule.strip("|").split("|")] == [True, False]


def test_markdown_table_uses_fmt_and_keeps_strings_as_given():
    rows = parse_table(render(markdown_table(["a", "b"], [[0.123456, "0.123456"]], fmt=".1e")))
    assert rows[1] == ["1.2e-01", "0.123456"]


def test_markdown_table_rejects_bad_shapes():
    with pytest.raises(ValueError, match="rows\\[0\\] has 2 cells"):
        markdown_table(["a", "b", "c"], [[1, 2]])
    with pytest.raises(ValueError, match="header is empty"):
        markdown_table([], [])
    with pytest.raises(ValueError, match="header='abc' is a string"):
        markdown_table("abc", [["a", "b", "c"]])


def test_glue_records_values_even_without_myst_nb(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as in Colab
    report.glue("answer", 0.25)
    assert report.GLUED["answer"] == 0.25


def test_glue_uses_myst_nb_when_present(monkeypatch):
    calls = []

    class FakeMystNb:
        @staticmethod
        def glue(name, value, display=True):
            calls.append((name, value, display))

    monkeypatch.setitem(sys.modules, "myst_nb", FakeMystNb)
    report.glue("x", 3)
    assert calls == [("x", 3, False)] and report.GLUED["x"] == 3


def test_glue_rejects_a_bad_name():
    with pytest.raises(ValueError, match="name=''"):
        report.glue("", 1)
