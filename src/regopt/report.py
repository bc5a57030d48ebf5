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

__all__ = ["glue", "GLUED", "markdown_table", "SeedComparison", "compare_seeds", "ordering", "value_range"]

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


class SeedComparison:
    """The outcome of comparing a treatment with a baseline over several seeds.

    Attributes: ``baseline`` and ``treated`` (the means), ``gain`` (how much
    better the treatment is, positive when it helps: ``baseline - treated`` when
    lower is better), ``spread`` (the seed-to-seed standard deviation, pooled over
    both arms), ``ratio`` (``gain / spread``), ``verdict`` (``"helps"``,
    ``"hurts"`` or ``"within the seed-to-seed spread"``) and ``sentence``, a
    sentence for the prose that reports all of them.
    """

    def __init__(self, baseline, treated, gain, spread, ratio, verdict, sentence):
        self.baseline, self.treated, self.gain = baseline, treated, gain
        self.spread, self.ratio, self.verdict, self.sentence = spread, ratio, verdict, sentence

    @property
    def helps(self) -> bool:
        return self.verdict == "helps"

    @property
    def hurts(self) -> bool:
        return self.verdict == "hurts"

    def __repr__(self) -> str:
        return f"SeedComparison(verdict={self.verdict!r}, gain={self.gain:.4g}, spread={self.spread:.4g})"


def _as_values(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise ValueError(f"{name} is empty; expected one value per seed.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}={array.tolist()} holds a NaN or an infinity; expected finite values.")
    return array


def compare_seeds(baseline: Sequence[float], treated: Sequence[float], *, treatment: str = "the treatment",
                  quantity: str = "test error", lower_is_better: bool = True, threshold: float = 2.0,
                  fmt: str = ".3f") -> SeedComparison:
    """Compare a treatment's results with a baseline's, one value per seed each.

    The gain counts as real when it exceeds ``threshold`` seed-to-seed standard
    deviations (pooled over both arms, each with ``ddof=1``); otherwise the
    verdict is that the difference lies within the seed-to-seed spread. With one
    seed per arm there is no spread to compare with, and the verdict says so
    (``ValueError``: run at least two seeds).

    >>> compare_seeds([0.10, 0.11, 0.12], [0.05, 0.06, 0.05], treatment="dropout").verdict
    'helps'
    """
    base = _as_values("baseline", baseline)
    treat = _as_values("treated", treated)
    if base.size < 2 or treat.size < 2:
        raise ValueError(f"baseline has {base.size} value(s) and treated {treat.size}; "
                         "a seed-to-seed spread needs at least two seeds in each.")
    if not threshold > 0:
        raise ValueError(f"threshold={threshold!r}; expected a positive number of standard deviations.")
    base_mean, treat_mean = float(base.mean()), float(treat.mean())
    gain = base_mean - treat_mean if lower_is_better else treat_mean - base_mean
    spread = float(np.sqrt((base.var(ddof=1) + treat.var(ddof=1)) / 2))
    ratio = gain / spread if spread > 0 else math.copysign(math.inf, gain) if gain else 0.0
    if ratio > threshold:
        verdict = "helps"
    elif ratio < -threshold:
        verdict = "hurts"
    else:
        verdict = "within the seed-to-seed spread"
    direction = "lowers" if treat_mean < base_mean else "raises"
    change = f"{treatment} {direction} the {quantity} from {base_mean:{fmt}} to {treat_mean:{fmt}}"
    if math.isinf(ratio):
        size = "with no seed-to-seed spread at all"
    else:
        size = f"{abs(ratio):.1f} seed standard deviations ({spread:{fmt}})"
    if verdict == "within the seed-to-seed spread":
        sentence = f"{change[0].upper()}{change[1:]}, a difference of {size}: within the seed-to-seed spread."
    else:
        word = "a gain" if verdict == "helps" else "a loss"
        sentence = f"{change[0].upper()}{change[1:]}, {word} of {size}."
    return SeedComparison(base_mean, treat_mean, gain, spread, ratio, verdict, sentence)


def ordering(values: dict[str, float], *, fmt: str = ".3f", ascending: bool = True) -> str:
    """Names sorted by their values, as ``"A (0.1) < B (0.2) < C (0.3)"``.

    Ties print ``=`` (at the precision of ``fmt``), so the sentence never claims
    an order the printed numbers do not show.
    """
    if not values:
        raise ValueError("values is empty; expected a mapping of names to numbers.")
    items = sorted(values.items(), key=lambda item: item[1], reverse=not ascending)
    parts = [f"{items[0][0]} ({items[0][1]:{fmt}})"]
    for (_, previous), (name, value) in zip(items, items[1:]):
        same = format(previous, fmt) == format(value, fmt)
        parts.append(("= " if same else ("< " if ascending else "> ")) + f"{name} ({value:{fmt}})")
    return " ".join(parts)


def value_range(values: Sequence[float], *, fmt: str = ".3f", unit: str = "") -> str:
    """``"between 0.251 and 0.262"``, or ``"0.258 every time"`` when both ends print the same."""
    array = _as_values("values", values)
    low, high = format(float(array.min()), fmt), format(float(array.max()), fmt)
    if low == high:
        return f"{low}{unit} every time" if array.size > 1 else f"{low}{unit}"
    return f"between {low}{unit} and {high}{unit}"
