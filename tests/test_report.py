"""Tests of regopt.report: glue with and without myst-nb, Markdown tables."""

import sys

import pytest

from regopt import report
from regopt.report import markdown_table


def test_markdown_table():
    text = markdown_table(["λ", "ours", "theirs"], [[0.001, 0.0626, float("nan")], ["mean", 1, 2.0]])
    lines = text.splitlines()
    assert lines[0] == "| λ | ours | theirs |"
    assert lines[2] == "| 0.001 | 0.063 | — |"
    assert lines[3] == "| mean | 1 | 2.000 |"
    with pytest.raises(ValueError, match="rows\\[0\\] has 2 cells"):
        markdown_table(["a", "b", "c"], [[1, 2]])


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
