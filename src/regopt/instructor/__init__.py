"""Instructor tooling: generate the student labs, grade submitted notebooks, the ``regopt`` command.

Students and chapters never import this subpackage; it needs the ``instructor`` extra
(``pip install "regopt[instructor]"``: nbformat, nbclient, nbgrader, PyYAML).

``course``
    Facts about the course repository (``_config.yml``) and the Colab set-up cell
    (``python -m regopt.instructor.course sync|check``).
``labs``
    ``solutions/NN_topic.ipynb`` -> ``labs/NN_topic.ipynb`` (``regopt labs``).
``grading``
    Grades a folder of submitted notebooks against the solution (``regopt grade``).
``cli``
    The ``regopt`` console script.

Nothing here is imported until it is used, so that ``regopt --help`` starts in a fraction of a
second and never imports torch.
"""

from __future__ import annotations

import importlib

__all__ = ["course", "labs", "grading", "cli", "require"]


def require(module: str, extra: str = "instructor"):
    """Import ``module`` or exit with one line naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if error.name is None or error.name.split(".")[0] != module.split(".")[0]:
            raise
        raise MissingExtraError(
            f"{module} is not installed; install the {extra!r} extra: pip install \"regopt[{extra}]\""
        ) from None


class MissingExtraError(ImportError):
    """An optional dependency of the instructor tooling is missing (the message names the extra)."""


def __getattr__(name: str):
    if name in ("course", "labs", "grading", "cli"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
