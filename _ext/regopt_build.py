"""Sphinx extension loaded by _config.yml: marks the build as non-interactive.

Notebook kernels inherit the environment of the build, so setting these here
makes every `jupyter-book build` (through the Makefile or not) render widgets
as static figures and hide progress bars.
"""

import os


def setup(app):
    os.environ["REGOPT_STATIC"] = "1"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
