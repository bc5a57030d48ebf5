"""Sphinx extension loaded by _config.yml: how the course website is built.

- Marks the build as non-interactive (``REGOPT_STATIC=1``): notebook kernels
  inherit the build's environment, so every ``jupyter-book build`` (through the
  Makefile or not) renders widgets as static figures and hides progress bars.
- Serves MathJax 3, RequireJS and the widget manager from the site itself
  (``web_assets.py``: fetched once from the npm registry into the course's cache),
  and the labs' "Open in Colab" badge from ``_static``, so that a reader without
  internet sees typeset math and every image. When the files cannot be fetched
  (no npm, no registry), the build says so in one line and the pages load them
  from the usual CDNs instead.
- Numbers a glued table as a table: a ``{glue:figure}`` whose ``:name:`` starts
  with ``tab-`` shows a notebook's table, so its caption reads "Table N", counted
  apart from the figures, instead of "Fig. N".
- Shows one search field, in the sidebar: pydata-sphinx-theme adds another in a
  header bar of its own unless ``navbar_persistent`` is set, which jupyter-book does not.
- Keeps the execution cache honest: jupyter-cache keys a notebook by its code
  cells only, so a change to the ``regopt`` package, to ``constraints.txt``, to
  the data or to ``REGOPT_FAST``/``REGOPT_DATA`` would otherwise reuse stale
  outputs. Their fingerprint is kept beside the cache, which is emptied when it
  changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

from docutils import nodes
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

sys.path.insert(0, str(Path(__file__).resolve().parent))
import web_assets  # noqa: E402  (beside this file)

logger = logging.getLogger(__name__)

COLAB_BADGE_URL = "https://colab.research.google.com/assets/colab-badge.svg"
#: The same badge, served by the site (``_static/colab-badge.svg``).
COLAB_BADGE_LOCAL = "/_static/colab-badge.svg"
FINGERPRINT_FILE = "regopt-fingerprint.txt"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_SCRIPTS = {web_assets.REQUIRE_PATH, web_assets.WIDGETS_PATH,
                  "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js",
                  "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js"}


class LocalColabBadge(SphinxTransform):
    """Point the labs' "Open in Colab" badge image at the site's own copy."""

    default_priority = 200

    def apply(self, **kwargs) -> None:
        for image in self.document.findall(nodes.image):
            if image.get("uri") == COLAB_BADGE_URL:
                image["uri"] = COLAB_BADGE_LOCAL
                if "candidates" in image:
                    del image["candidates"]


class glued_table(nodes.figure):  # noqa: N801  (docutils names nodes in lower case)
    """A ``{glue:figure}`` that holds a table; numbered with the tables (``numfig_format``)."""


#: The ``:name:`` prefix that marks a glued figure as a table.
TABLE_LABEL_PREFIX = "tab-"


class GluedTablesAreTables(SphinxTransform):
    """Turn each figure labelled ``tab-...`` into a :class:`glued_table`.

    Runs while the document is read, before Sphinx numbers its enumerable nodes.
    """

    default_priority = 210

    def apply(self, **kwargs) -> None:
        for figure in list(self.document.findall(nodes.figure)):
            if type(figure) is nodes.figure and any(i.startswith(TABLE_LABEL_PREFIX) for i in figure["ids"]):
                table = glued_table(figure.rawsource, *figure.children, **figure.attributes)
                table["classes"] = [*figure["classes"], "glued-table"]
                figure.replace_self(table)
                for node_id in table["ids"]:  # cross-references look the node up here
                    self.document.ids[node_id] = table


def _visit_glued_table(translator, node) -> None:
    translator.visit_figure(node)


def _depart_glued_table(translator, node) -> None:
    translator.depart_figure(node)


def _code_digest(path: Path) -> bytes:
    """A Python file's code without its docstrings and comments (they change no output)."""
    import ast

    try:
        tree = ast.parse(path.read_bytes())
    except SyntaxError:
        return path.read_bytes()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            body[0] = ast.Pass()
    return ast.dump(tree).encode()


def execution_fingerprint(confdir: Path, package: Path | None = None) -> str:
    """A hash of everything besides a notebook's code that its outputs depend on.

    The student library's code (docstrings and comments aside; the instructor
    tooling, which no chapter runs, left out), the data shipped with it,
    ``constraints.txt``, the variables that change what a chapter computes, and Python's version.
    """
    if package is None:
        try:
            import regopt

            package = Path(regopt.__file__).resolve().parent
        except ImportError:
            package = None
    digest = hashlib.sha256()
    files = []
    if package is not None:
        files = [(p, p.relative_to(package).as_posix()) for p in sorted(package.rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts and "instructor" not in p.parts
                 and p.suffix != ".pyc"]
    files.append((confdir / "constraints.txt", "constraints.txt"))
    for path, name in files:
        if path.is_file():
            digest.update(f"{name}\n".encode())
            digest.update(_code_digest(path) if path.suffix == ".py" else path.read_bytes())
    from regopt import config as regopt_config

    for name in (regopt_config.FAST_ENV, regopt_config.NO_MNIST_ENV):
        digest.update(f"{name}={os.environ.get(name, '')}\n".encode())
    # Which data REGOPT_DATA holds, not where (CI's fresh clones see it at different paths):
    # the loader accepts only files of known MD5s, and their names and sizes tell those apart.
    data = os.environ.get("REGOPT_DATA", "").strip()
    raw = Path(data).expanduser() / "MNIST" / "raw" if data else None
    if raw is not None and raw.is_dir():
        for path in sorted(raw.iterdir()):
            digest.update(f"data {path.name} {path.stat().st_size}\n".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def invalidate_stale_cache(app, config) -> None:
    if config.nb_execution_mode != "cache":
        return
    # CI keeps the cache outside its fresh clone (.ci/run), so that it outlives the clone.
    if os.environ.get("REGOPT_BOOK_CACHE", "").strip() and not config.nb_execution_cache_path:
        config.nb_execution_cache_path = str(Path(os.environ["REGOPT_BOOK_CACHE"]).expanduser())
    cache = Path(config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache")
    stamp = cache / FINGERPRINT_FILE
    fingerprint = execution_fingerprint(Path(app.confdir))
    if cache.is_dir() and (not stamp.is_file() or stamp.read_text().strip() != fingerprint):
        logger.info(f"regopt: the package, constraints or data changed since {cache} was filled; "
                    "emptying it so that every chapter is executed again")
        shutil.rmtree(cache)
        # Sphinx would not even re-read the notebooks it read before: forget its environment too.
        (Path(app.doctreedir) / "environment.pickle").unlink(missing_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint + "\n")


def one_search_field(app, config) -> None:
    # sphinx-book-theme puts the search field in the sidebar; an empty header bar holding a second one
    # is pydata-sphinx-theme's default when the option is missing from html_theme_options.
    config.html_theme_options.setdefault("navbar_persistent", [])


def serve_assets_locally(app, config) -> None:
    static = Path(app.confdir) / "_static"
    if static.is_dir() and "_static" not in config.html_static_path and str(static) not in config.html_static_path:
        config.html_static_path.append(str(static))
    try:
        root = web_assets.fetch()
    except (RuntimeError, OSError) as exc:
        logger.info(f"regopt: MathJax and the widget manager come from CDNs ({exc})")
        return
    config.html_static_path.append(str(root))
    config.mathjax_path = web_assets.MATHJAX_PATH
    dist = Path(web_assets.WIDGETS_PATH).parent.as_posix()
    # RequireJS reads a global ``require`` as its configuration: the widget manager's AMD
    # modules (and the fonts it finds beside them) live in _static, not beside the page.
    require_config = (
        "var require = {paths: {'@jupyter-widgets/html-manager/dist': new URL("
        f"(document.documentElement.dataset.content_root || '') + '_static/{dist}', "
        "document.baseURI).href}};"
    )
    # ipywidgets typesets widget labels with MathJax 2's MathJax.Hub.Queue; the site runs
    # MathJax 3 (loaded "defer", so in place by DOMContentLoaded): give it that one call.
    mathjax2_shim = (
        "document.addEventListener('DOMContentLoaded', function () {"
        " if (window.MathJax && !window.MathJax.Hub) { window.MathJax.Hub = {Queue: function (job) {"
        " var el = job && job[2]; if (el && window.MathJax.typesetPromise) window.MathJax.typesetPromise([el]);"
        " }}; } });"
    )
    config.nb_ipywidgets_js = {
        "": {"body": require_config + " " + mathjax2_shim},  # inline, loaded before RequireJS
        web_assets.REQUIRE_PATH: {},
        # Widgets other than ipywidgets' own would be looked up here (online only).
        web_assets.WIDGETS_PATH: {"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"},
    }


def accessible_bibliography(app, pagename, templatename, context, doctree) -> None:
    """Give the bibliography's entries a role a screen reader's list accepts.

    docutils writes the citation list as ``role="list"`` whose entries carry
    ``role="doc-biblioentry"``, a role that ARIA 1.2 deprecates and that is not a
    list item: axe-core reports the list as missing its items (critical,
    ``aria-required-children``). ``listitem`` is what the entries are.
    """
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def quiet_console(app, pagename, templatename, context, doctree) -> None:
    """Keep the browser console free of the themes' own errors.

    - pydata-sphinx-theme logs "invalid theme mode" on a reader's first visit
      unless a default mode is set; "auto" (the system's choice) is what it
      falls back to anyway.
    - sphinx-thebe registers its inline configuration twice, and the second
      copy throws "Identifier 'THEBE_JS_URL' has already been declared": load
      each script once.
    """
    context.setdefault("default_mode", "auto")
    scripts = context.get("script_files")
    if not scripts:
        return
    # A notebook that created widgets but displays none (the book renders their static
    # figures) still carries their state: skip the widget manager (3.5 MB) on its page.
    no_widgets = WIDGET_VIEW_MIME not in context.get("body", "")
    seen, unique = set(), []
    for script in scripts:
        filename = getattr(script, "filename", None) or ""
        attributes = getattr(script, "attributes", {})
        if no_widgets and (filename.removeprefix("_static/") in WIDGET_SCRIPTS
                           or attributes.get("type") == WIDGET_STATE_MIME
                           or "@jupyter-widgets/html-manager" in (attributes.get("body") or "")):
            continue
        # The same inline script is registered once with filename None, once with "".
        key = (filename, attributes.get("body"))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: handlers after this one add to the same list


def setup(app):
    from regopt import config as regopt_config

    os.environ[regopt_config.STATIC_ENV] = "1"
    app.connect("config-inited", invalidate_stale_cache)
    app.connect("config-inited", serve_assets_locally)
    app.connect("config-inited", one_search_field)
    app.connect("html-page-context", quiet_console, priority=999)
    app.connect("html-page-context", accessible_bibliography)
    app.add_transform(LocalColabBadge)
    app.add_enumerable_node(glued_table, "table", html=(_visit_glued_table, _depart_glued_table))
    app.add_transform(GluedTablesAreTables)
    app.add_css_file("regopt.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
