"""Run-time switches of the course, read from the environment in this one place.

``REGOPT_FAST=1``
    Shrinks sizes and epochs so that every notebook runs in seconds. Used by the
    test suite only; the website is always built at full fidelity.
``REGOPT_STATIC=1``
    Non-interactive rendering: progress bars are off and widgets render a static
    figure. The book build sets it (see ``_ext/regopt_build.py``) so that the
    website shows figures, not dead sliders or progress bars.
``REGOPT_DATA``
    A folder holding datasets in torchvision's layout (``MNIST/raw/...``),
    searched after an explicit ``root`` and before the cache.
``REGOPT_CACHE``
    Where downloads go (default: the platform's user cache folder from ``platformdirs``,
    ``~/.cache/regopt`` on Linux).
``REGOPT_NO_MNIST=1``
    Skip every MNIST source, as on a machine without the data: the loader falls back
    to scikit-learn's digits (tests of that fallback use it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: The environment variables the course reads, named once here (tools that set them import these).
FAST_ENV = "REGOPT_FAST"
STATIC_ENV = "REGOPT_STATIC"
DATA_ENV = "REGOPT_DATA"
CACHE_ENV = "REGOPT_CACHE"
NO_MNIST_ENV = "REGOPT_NO_MNIST"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(
        f"Environment variable {name}={os.environ[name]!r} is not a boolean; "
        f"expected one of {sorted(_TRUE | _FALSE - {''})}."
    )


def fast() -> bool:
    """True when ``REGOPT_FAST`` asks for the shrunken test-mode sizes."""
    return _flag(FAST_ENV)


def no_mnist() -> bool:
    """True when ``REGOPT_NO_MNIST`` asks the loader to skip every MNIST source (the digits fallback)."""
    return _flag(NO_MNIST_ENV)


def static() -> bool:
    """True when rendering for a non-interactive target (the website build)."""
    return _flag(STATIC_ENV)


def pick(full: T, fast_value: T) -> T:
    """Return ``fast_value`` under ``REGOPT_FAST=1``, else ``full``.

    Notebooks write ``epochs = pick(50, 2)``: the full value is what the reader
    sees and the website runs; the fast value keeps the test suite quick.
    """
    return fast_value if fast() else full


def data_dir() -> Path | None:
    """The folder named by ``REGOPT_DATA``, or None when it is unset."""
    raw = os.environ.get(DATA_ENV, "").strip()
    return Path(raw).expanduser() if raw else None


def cache_dir() -> Path:
    """Where downloaded datasets are kept."""
    raw = os.environ.get(CACHE_ENV, "").strip()
    if raw:
        return Path(raw).expanduser()
    from platformdirs import user_cache_path

    # The platform's own place: ~/.cache/regopt (or $XDG_CACHE_HOME/regopt) on Linux,
    # ~/Library/Caches/regopt on macOS, %LOCALAPPDATA%\regopt\Cache on Windows.
    return user_cache_path("regopt", appauthor=False)
