"""Helpers for the course *Regularization and Optimization for Deep Learning*.

The package hides boilerplate only (data loading, training loops, plotting,
widgets); what the course teaches (penalties, update rules, attacks) stays
visible in the notebooks. The instructor tooling (labs, grading, the ``regopt``
command) lives in :mod:`regopt.instructor`.

The top level is lazy (PEP 562): ``import regopt`` costs nothing, and torch is
imported the first time a name that needs it is used (``regopt.fit``,
``regopt.data``...), so that the instructor's commands never pay for it.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("regopt")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

#: Submodules, imported on first access as ``regopt.NAME``.
_SUBMODULES = {
    "config", "data", "experiments", "hessian", "models", "optim", "penalties", "plots",
    "report", "train", "widgets", "instructor",
}
#: Names re-exported at the top level, with the submodule that defines them.
_EXPORTS = {
    "pick": "config",
    "Dataset": "data",
    "load_mnist": "data",
    "MLP": "models",
    "ConvNet": "models",
    "History": "train",
    "evaluate": "train",
    "fit": "train",
    "set_seed": "train",
}

__all__ = ["config", "data", "models", "penalties", "train", *_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
    elif name in _EXPORTS:
        module = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = module  # later look-ups skip this function
    return module


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_EXPORTS))
