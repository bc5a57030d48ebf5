"""Interactive figures: ipywidgets controls over a pure plotting function.

A chapter writes the figure once, as ``plot(ax, **params)``, and calls::

    interactive_figure(plot,
                       controls={"lam": log_slider(-3, 1, value=0.1, description="λ")},
                       static={"lam": [0.0, 0.1, 1.0, 10.0]})

In Colab or Jupyter this shows the sliders and redraws on every change. In a
non-interactive run (the website build, which sets ``REGOPT_STATIC=1``, or
plain Python) it draws one panel per combination of the ``static`` values
instead, so the page shows a real figure rather than a dead slider. Only
ipywidgets features present in both 7.x (Colab) and 8.x are used.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from . import config

__all__ = ["slider", "log_slider", "dropdown", "interactive_figure", "is_interactive"]


def slider(min: float, max: float, step: float | None = None, value: float | None = None,
           description: str = "") -> Any:
    """A float slider (``ipywidgets.FloatSlider``) from ``min`` to ``max``."""
    import ipywidgets as widgets

    if not min < max:
        raise ValueError(f"slider bounds min={min!r}, max={max!r} are invalid; expected min < max.")
    step = (max - min) / 100 if step is None else step
    value = min if value is None else value
    if not min <= value <= max:
        raise ValueError(f"value={value!r} lies outside [{min}, {max}]; expected a value in range.")
    return widgets.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                               continuous_update=False)


def log_slider(min_exponent: float, max_exponent: float, value: float | None = None,
               description: str = "", base: float = 10.0, step: float = 0.1) -> Any:
    """A slider over ``base**min_exponent … base**max_exponent`` (``FloatLogSlider``)."""
    import ipywidgets as widgets

    if not min_exponent < max_exponent:
        raise ValueError(
            f"min_exponent={min_exponent!r}, max_exponent={max_exponent!r} are invalid; "
            "expected min_exponent < max_exponent."
        )
    value = base ** ((min_exponent + max_exponent) / 2) if value is None else value
    if value <= 0 or not min_exponent - 1e-9 <= math.log(value, base) <= max_exponent + 1e-9:
        raise ValueError(
            f"value={value!r} lies outside [{base}^{min_exponent}, {base}^{max_exponent}]."
        )
    return widgets.FloatLogSlider(value=value, base=base, min=min_exponent, max=max_exponent,
                                  step=step, description=description, continuous_update=False)


def dropdown(options: Sequence[Any], value: Any = None, description: str = "") -> Any:
    """A drop-down menu over ``options``."""
    import ipywidgets as widgets

    options = list(options)
    if not options:
        raise ValueError("dropdown needs at least one option; got an empty list.")
    value = options[0] if value is None else value
    if value not in options:
        raise ValueError(f"value={value!r} is not among the options {options}.")
    return widgets.Dropdown(options=options, value=value, description=description)


def is_interactive() -> bool:
    """True inside a Jupyter kernel that is not rendering for the website."""
    if config.static():
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _label(name: str, value: Any, controls: Mapping[str, Any]) -> str:
    control = controls.get(name)
    shown = getattr(control, "description", "") or name
    if isinstance(value, float):
        return f"{shown} = {value:.3g}"
    return f"{shown} = {value}"


def interactive_figure(
    plot: Callable[..., Any],
    controls: Mapping[str, Any],
    static: Mapping[str, Sequence[Any]] | None = None,
    figsize: tuple[float, float] = (5.0, 3.6),
    ncols: int | None = None,
) -> Any:
    """Show ``plot(ax, **params)`` under widget ``controls``, or as static panels.

    Parameters
    ----------
    plot:
        Draws on the given axes; must not create figures itself.
    controls:
        Parameter name -> ipywidgets control (see :func:`slider`,
        :func:`log_slider`, :func:`dropdown`).
    static:
        Parameter name -> values for the static figure; the panels are the
        Cartesian product of these lists, other parameters take their control's
        current value.
    figsize:
        Size of one panel.

    Returns the widget box when interactive, else the static figure.
    """
    if not callable(plot):
        raise TypeError(f"plot is a {type(plot).__name__}; expected a function plot(ax, **params).")
    if not controls:
        raise ValueError("controls is empty; give at least one widget, e.g. {'lam': slider(0, 1)}.")
    static = dict(static or {})
    unknown = sorted(set(static) - set(controls))
    if unknown:
        raise ValueError(f"static names {unknown} that have no control; expected names among {sorted(controls)}.")
    for name, values in static.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"static[{name!r}]={values!r} is invalid; expected a non-empty list of values.")

    if is_interactive():
        import ipywidgets as widgets
        from IPython.display import display

        def redraw(**params: Any) -> None:
            fig, ax = plt.subplots(figsize=figsize)
            plot(ax, **params)
            plt.show()

        output = widgets.interactive_output(redraw, dict(controls))
        box = widgets.VBox([widgets.HBox(list(controls.values())), output])
        display(box)
        return box

    defaults = {name: control.value for name, control in controls.items()}
    names = list(static)
    combos = list(itertools.product(*(static[n] for n in names))) or [()]
    ncols = ncols or min(len(combos), 4)
    nrows = math.ceil(len(combos) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(figsize[0] * ncols, figsize[1] * nrows),
                             squeeze=False)
    for ax, combo in zip(axes.flat, combos):
        params = {**defaults, **dict(zip(names, combo))}
        plot(ax, **params)
        if names:
            ax.set_title(", ".join(_label(n, params[n], controls) for n in names))
    for ax in list(axes.flat)[len(combos):]:
        ax.set_visible(False)
    return fig
