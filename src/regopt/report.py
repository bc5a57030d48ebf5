"""Putting computed numbers into a chapter's prose: ``glue`` and Markdown tables.

On the website, :func:`glue` is myst-nb's: a value glued in a code cell is
written into the text with ``{glue:text}`name:.3f``` and never typed by hand.
In Colab or plain Jupyter myst-nb is usually absent; :func:`glue` then keeps
the value in :data:`GLUED` (and shows it when ``display=True``), so the same
notebook runs everywhere.
"""

from __future__ import annotations

import math
import re
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


_NUMBER = re.compile(r"[-+\u2212]?(\d[\d,]*\.?\d*|\.\d+)([eE][-+\u2212]?\d+)?%?|\u2014"
                     r"|\$[-+]?\d+(\.\d+)?\s*\\times\s*10\^\{[-+]?\d+\}\$")  # or typeset: $7.89 \times 10^{30}$


def _cell(value: object, fmt: str) -> tuple[str, bool]:
    """A table cell as Markdown text, and whether it is a number (numbers align right)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)), False
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "—", True
        return format(float(value), fmt), True
    if isinstance(value, (int, np.integer)):
        return str(int(value)), True
    text = " ".join(str(value).split())  # a newline would end the table row
    # A bare "|" would split the cell; Markdown (GFM and MyST alike) reads "\|" as the character.
    # Numbers the caller formatted itself ("0.0215", "1.4e-13", "12.5%", "$7.89 \\times 10^{30}$")
    # still align as numbers.
    return text.replace("|", "\\|"), bool(_NUMBER.fullmatch(text))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], fmt: str = ".3f") -> str:
    """A Markdown (pipe) table: ``header`` then ``rows``; floats formatted with ``fmt``.

    NaN prints as an em dash; ``|`` inside a cell is escaped; columns holding
    only numbers are right-aligned. Math in cells (``$\\lambda$``) is typeset on
    the website, which renders Markdown outputs with MyST (``_config.yml``:
    ``nb_render_markdown_format: myst``), and in Colab and Jupyter alike.
    Display it with ``IPython.display.Markdown`` or glue it
    (``glue("name", Markdown(text))`` then ``{glue:figure}`` in the prose).
    """
    from tabulate import tabulate

    if isinstance(header, str):
        raise ValueError(f"header={header!r} is a string; expected a sequence of column names.")
    header = [_cell(h, fmt)[0] for h in header]
    if not header:
        raise ValueError("header is empty; expected at least one column name.")
    body: list[list[str]] = []
    numeric = [True] * len(header)
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"rows[{i}] has {len(row)} cells but the header has {len(header)}; they must match.")
        cells = [_cell(value, fmt) for value in row]
        body.append([text for text, _ in cells])
        numeric = [was and is_number for was, (_, is_number) in zip(numeric, cells)]
    align = ["right" if number and body else "left" for number in numeric]
    return tabulate(body, headers=header, tablefmt="pipe", disable_numparse=True, colalign=align)
