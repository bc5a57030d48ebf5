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


# --- verdicts from seeds (report.compare_seeds, ordering, value_range) ---

def test_compare_seeds_helps_hurts_and_noise():
    from regopt.report import compare_seeds

    helps = compare_seeds([0.10, 0.11, 0.12], [0.05, 0.06, 0.05], treatment="dropout")
    assert helps.verdict == "helps" and helps.helps and helps.gain == pytest.approx(0.11 - 0.16 / 3)
    assert "Dropout lowers the test error from 0.110 to 0.053" in helps.sentence
    hurts = compare_seeds([0.05, 0.06, 0.05], [0.10, 0.11, 0.12])
    assert hurts.verdict == "hurts" and hurts.gain < 0 and "a loss" in hurts.sentence
    noise = compare_seeds([0.10, 0.12, 0.11], [0.105, 0.115, 0.11])
    assert noise.verdict == "within the seed-to-seed spread" and "within" in noise.sentence
    accuracy = compare_seeds([0.90, 0.91], [0.95, 0.96], quantity="accuracy", lower_is_better=False)
    assert accuracy.helps and "raises the accuracy" in accuracy.sentence


def test_compare_seeds_threshold_is_in_pooled_standard_deviations():
    import numpy as np

    from regopt.report import compare_seeds

    base, treated = [1.0, 3.0], [0.0, 2.0]  # gain 1, pooled sd sqrt(2)
    result = compare_seeds(base, treated, threshold=0.5)
    assert result.spread == pytest.approx(np.sqrt(2)) and result.ratio == pytest.approx(1 / np.sqrt(2))
    assert result.helps
    assert not compare_seeds(base, treated, threshold=1.0).helps


def test_compare_seeds_rejects_bad_input_with_the_value():
    from regopt.report import compare_seeds

    with pytest.raises(ValueError, match="at least two seeds"):
        compare_seeds([0.1], [0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        compare_seeds([0.1, float("nan")], [0.2, 0.3])
    with pytest.raises(ValueError, match="threshold=0"):
        compare_seeds([0.1, 0.2], [0.2, 0.3], threshold=0)


def test_ordering_and_value_range_never_claim_what_the_digits_do_not_show():
    from regopt.report import ordering, value_range

    assert ordering({"SGD": 0.3, "Adam": 0.1, "momentum": 0.2}) == "Adam (0.100) < momentum (0.200) < SGD (0.300)"
    assert ordering({"a": 0.2581, "b": 0.2579}) == "b (0.258) = a (0.258)"
    assert ordering({"a": 1.0, "b": 2.0}, ascending=False) == "b (2.000) > a (1.000)"
    assert value_range([0.2581, 0.2579]) == "0.258 every time"
    assert value_range([0.251, 0.262], unit=" %") == "between 0.251 % and 0.262 %"
    with pytest.raises(ValueError):
        ordering({})
