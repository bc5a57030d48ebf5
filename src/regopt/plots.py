"""One figure style for the whole course, and the figures several chapters share.

Colours are the Okabe–Ito palette, distinguishable under the common forms of
colour-blindness; line styles and markers vary with colour so figures also
read in grey scale. Every function labels its axes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from cycler import cycler

from .train import History

__all__ = [
    "OKABE_ITO",
    "COLORS",
    "use_style",
    "plot_history",
    "plot_vs_lambda",
    "plot_decision_boundary",
    "plot_contours",
]

#: The Okabe–Ito palette (Okabe and Ito, 2008), without its black.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
#: The order used for successive lines (yellow last: it is faint on white).
COLORS = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky_blue", "black", "yellow")]
_LINESTYLES = ["-", "--", "-.", ":", "-", "--", "-.", ":"]
#: A sequential colour map that is perceptually uniform and colour-blind safe.
SEQUENTIAL_CMAP = "viridis"
#: A diverging colour map for signed quantities (weights, decision functions).
DIVERGING_CMAP = "PuOr"


def use_style() -> None:
    """Apply the course's matplotlib style (call once at the top of a notebook)."""
    mpl.rcParams.update(
        {
            "axes.prop_cycle": cycler(color=COLORS) + cycler(linestyle=_LINESTYLES),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "figure.figsize": (6.4, 3.8),
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "figure.constrained_layout.use": True,
            "image.cmap": SEQUENTIAL_CMAP,
        }
    )


def _axes(ax: plt.Axes | None, figsize: tuple[float, float] | None = None) -> plt.Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


_METRICS = {
    "error": ("train_error", "test_error", "error rate"),
    "loss": ("train_loss", "test_loss", "loss"),
}


def plot_history(
    histories: History | Mapping[str, History],
    metric: str = "error",
    ax: plt.Axes | None = None,
    train: bool = True,
    test: bool = True,
    logy: bool = False,
) -> plt.Axes:
    """Train (dashed) and test (solid) curves over epochs, one colour per run.

    ``histories`` is one :class:`~regopt.train.History` or a mapping from a
    label (e.g. ``"λ = 1e-3"``) to one.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric={metric!r} is unknown; expected one of {sorted(_METRICS)}.")
    if not (train or test):
        raise ValueError("train and test are both False: nothing to plot.")
    if isinstance(histories, History):
        histories = {"": histories}
    ax = _axes(ax)
    train_key, test_key, ylabel = _METRICS[metric]
    for i, (label, history) in enumerate(histories.items()):
        color = COLORS[i % len(COLORS)]
        epochs = np.asarray(history.epoch)
        if train:
            ax.plot(epochs, getattr(history, train_key), color=color, linestyle="--",
                    label=f"{label} train".strip())
        if test:
            values = np.asarray(getattr(history, test_key), dtype=float)
            keep = np.isfinite(values)
            ax.plot(epochs[keep], values[keep], color=color, linestyle="-",
                    label=f"{label} test".strip())
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend(ncol=2 if len(histories) > 3 else 1)
    return ax


def plot_vs_lambda(
    lambdas: Sequence[float],
    series: Mapping[str, Sequence[float] | np.ndarray],
    ax: plt.Axes | None = None,
    ylabel: str = "error rate",
    xlabel: str = "penalty strength λ",
    logx: bool = True,
) -> plt.Axes:
    """Curves of a quantity against λ, with a symmetric-log axis so λ = 0 shows.

    A value of ``series`` may be 2-D (seeds × λ): the mean is drawn with a band
    of ± one sample standard deviation over seeds (``ddof=1``, the convention of
    :meth:`regopt.experiments.SweepResult.std`).
    """
    lambdas = np.asarray(lambdas, dtype=float)
    ax = _axes(ax)
    markers = "osD^vP*X"
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        if values.shape[-1] != len(lambdas):
            raise ValueError(
                f"series {label!r} has {values.shape[-1]} values per row but there are "
                f"{len(lambdas)} λ values; they must match."
            )
        color = COLORS[i % len(COLORS)]
        mean = values.mean(axis=0) if values.ndim == 2 else values
        ax.plot(lambdas, mean, marker=markers[i % len(markers)], color=color,
                linestyle=_LINESTYLES[i % len(_LINESTYLES)], label=label)
        if values.ndim == 2 and values.shape[0] > 1:
            std = values.std(axis=0, ddof=1)
            ax.fill_between(lambdas, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    if logx:
        positive = lambdas[lambdas > 0]
        ax.set_xscale("symlog", linthresh=positive.min() if positive.size else 1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def plot_decision_boundary(
    predict: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    ax: plt.Axes | None = None,
    resolution: int = 200,
    margin: float = 0.2,
    title: str | None = None,
) -> plt.Axes:
    """A 2-D binary classifier's probability map, its 0.5 contour and the points.

    ``predict`` maps an ``(n, 2)`` tensor to ``(n,)`` probabilities of class 1.
    Class 0 points are drawn as circles, class 1 as triangles, so the figure does
    not rely on colour alone.
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (n, 2).")
    ax = _axes(ax, figsize=(4, 4))
    lo = x.min(dim=0).values - margin
    hi = x.max(dim=0).values + margin
    g0, g1 = torch.meshgrid(
        torch.linspace(float(lo[0]), float(hi[0]), resolution),
        torch.linspace(float(lo[1]), float(hi[1]), resolution),
        indexing="xy",
    )
    grid = torch.stack([g0.reshape(-1), g1.reshape(-1)], dim=1)
    with torch.no_grad():
        proba = predict(grid).reshape(resolution, resolution).numpy()
    ax.contourf(g0.numpy(), g1.numpy(), proba, levels=np.linspace(0, 1, 11), cmap=DIVERGING_CMAP, alpha=0.6)
    ax.contour(g0.numpy(), g1.numpy(), proba, levels=[0.5], colors="k", linewidths=1.5)
    for label, marker, color in ((0, "o", OKABE_ITO["orange"]), (1, "^", OKABE_ITO["blue"])):
        keep = (y == label).numpy()
        ax.scatter(x[keep, 0], x[keep, 1], marker=marker, s=18, color=color, edgecolor="k",
                   linewidth=0.4, label=f"class {label}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def plot_contours(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    ax: plt.Axes | None = None,
    paths: Mapping[str, np.ndarray | torch.Tensor] | None = None,
    levels: int | Sequence[float] = 30,
    resolution: int = 300,
    log_levels: bool = False,
) -> plt.Axes:
    """Contours of a 2-D function with optional optimization paths on top.

    ``f(X, Y)`` is evaluated on a mesh (NumPy arrays in, array out). Each path is
    an ``(steps, 2)`` array of iterates, drawn as a line with a marker per step
    and a star at its end.
    """
    ax = _axes(ax, figsize=(5, 4.2))
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    X, Y = np.meshgrid(xs, ys)
    Z = np.asarray(f(X, Y), dtype=float)
    if log_levels and isinstance(levels, int):
        zmin = max(np.nanmin(Z[Z > 0]) if np.any(Z > 0) else 1e-3, 1e-8)
        levels = np.geomspace(zmin, np.nanmax(Z), levels)
    ax.contour(X, Y, Z, levels=levels, cmap=SEQUENTIAL_CMAP, linewidths=0.8)
    markers = "osD^vP*X"
    for i, (label, path) in enumerate((paths or {}).items()):
        path = np.asarray(path.detach() if isinstance(path, torch.Tensor) else path, dtype=float)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"path {label!r} has shape {path.shape}; expected (steps, 2).")
        color = COLORS[i % len(COLORS)]
        ax.plot(path[:, 0], path[:, 1], color=color, marker=markers[i % len(markers)], markersize=3,
                linewidth=1.2, linestyle=_LINESTYLES[i % len(_LINESTYLES)], label=label)
        ax.plot(path[-1, 0], path[-1, 1], marker="*", markersize=12, color=color, markeredgecolor="k")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    if paths:
        ax.legend(loc="best")
    return ax
