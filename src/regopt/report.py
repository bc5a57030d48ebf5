"""Putting computed numbers into a chapter's prose: ``glue`` and Markdown tables.

On the website, :func:`glue` is myst-nb's: a value glued in a code cell is
written into the text with ``{glue:text}`name:.3f``` and never typed by hand.
In Colab or plain Jupyter myst-nb is usually absent; :func:`glue` then keeps
the value in :data:`GLUED` (and shows it when ``display=True``), so the same
notebook runs everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["glue", "GLUED", "markdown_table"]

#: Every value glued in this session, by name (also filled when myst-nb is present).
GLUED: dict[str, Any] = {}


def _plain(value: Any) -> Any:
    """NumPy and 0-d torch scalars as Python numbers: myst-nb formats only those
    (NumPy 2 reprs such as ``np.float64(0.1)`` break its ``{glue:text}`` formats)."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return item()
    return value


def glue(name: str, value: Any, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the website (myst-nb) and in :data:`GLUED`.

    ``display=False`` (the default here, unlike myst-nb's) keeps the value out of
    the cell's visible output: the prose shows it.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} is invalid; expected a non-empty string.")
    value = _plain(value)
    GLUED[name] = value
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab, plain Jupyter: nothing to glue into
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], fmt: str = ".3f") -> str:
    """A Markdown table: ``header`` then ``rows``; floats formatted with ``fmt``.

    NaN prints as an em dash. Display it with ``IPython.display.Markdown`` or
    glue it (``glue("name", Markdown(text), display=False)``).
    """
    header = [str(h) for h in header]
    if not header:
        raise ValueError("header is empty; expected at least one column name.")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"rows[{i}] has {len(row)} cells but the header has {len(header)}; they must match.")
        cells = []
        for value in row:
            if isinstance(value, (float, np.floating)):
                cells.append("—" if math.isnan(value) else format(float(value), fmt))
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
