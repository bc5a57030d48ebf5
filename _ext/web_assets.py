"""The website's JavaScript from the npm registry, served by the site itself.

MathJax 3 (typesetting), RequireJS and ``@jupyter-widgets/html-manager``
(interactive widgets) normally come from public CDNs, so a classroom without
internet sees raw TeX. Here they are fetched once with ``npm pack`` (at install
time: ``make`` runs ``python _ext/web_assets.py``; or at the first build) into
the course's cache folder and copied into the site's ``_static/vendor``. Online
readers see the same files, from the site instead of a CDN.

Run ``python _ext/web_assets.py`` to fetch them (exit 1, one line, when npm or
the registry is unreachable); it prints the folder they live in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# npm package -> (version, folder name under vendor/, files and folders kept from "package/")
PACKAGES = {
    "mathjax": (
        "3.2.2",
        "mathjax",
        # The combined TeX+MathML component, the TeX/MathML extensions it autoloads, its
        # CHTML fonts, the menu and the accessibility components the menu loads on demand.
        ["es5/tex-mml-chtml.js", "es5/input/tex", "es5/input/mml", "es5/output/chtml",
         "es5/ui", "es5/a11y", "LICENSE"],
    ),
    "requirejs": ("2.3.8", "requirejs", ["require.js", "README.md"]),
    "@jupyter-widgets/html-manager": (
        "1.0.15",
        "html-manager",
        ["dist/embed-amd.js", "dist/*.woff", "dist/*.woff2", "dist/*.ttf",
         "dist/*.eot", "dist/*.svg", "dist/embed.js.LICENSE.txt", "LICENSE"],
    ),
}

#: Paths, relative to the site's ``_static`` folder, of what the pages load.
MATHJAX_PATH = "vendor/mathjax/es5/tex-mml-chtml.js"
REQUIRE_PATH = "vendor/requirejs/require.js"
WIDGETS_PATH = "vendor/html-manager/dist/embed-amd.js"


def cache_root() -> Path:
    """Where the unpacked packages are kept: ``<regopt cache>/web``."""
    override = os.environ.get("REGOPT_WEB_ASSETS", "").strip()
    if override:
        return Path(override).expanduser()
    try:
        from regopt.config import cache_dir
    except ImportError:  # regopt not installed: the same default as regopt.config
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("regopt")) / "web"
    return cache_dir() / "web"


def vendor_dir() -> Path:
    """The folder to add to ``html_static_path``: it holds ``vendor/<name>/...``."""
    versions = "-".join(version for version, _, _ in PACKAGES.values())
    return cache_root() / f"static-{versions}"


def is_complete(root: Path | None = None) -> bool:
    root = root or vendor_dir()
    return all((root / path).is_file() for path in (MATHJAX_PATH, REQUIRE_PATH, WIDGETS_PATH))


def _keep(member: str, patterns: list[str]) -> bool:
    from fnmatch import fnmatch

    relative = member.removeprefix("package/")
    return any(relative == p or relative.startswith(p.rstrip("/") + "/") or fnmatch(relative, p)
               for p in patterns)


def fetch(root: Path | None = None) -> Path:
    """Fetch and unpack every package into ``root`` (default :func:`vendor_dir`); return it.

    Raises RuntimeError with one line when npm is missing or the registry does not answer.
    """
    root = root or vendor_dir()
    if is_complete(root):
        return root
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm was not found; install Node.js (npm) to serve MathJax and the "
                           "widget manager from the site, or build online (pages then use CDNs)")
    staging = Path(tempfile.mkdtemp(prefix="web-", dir=root.parent if root.parent.exists() else None))
    try:
        for name, (version, folder, patterns) in PACKAGES.items():
            done = subprocess.run([npm, "pack", f"{name}@{version}", "--silent"], cwd=staging,
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise RuntimeError(f"npm pack {name}@{version} failed: {reason}")
            tarball = staging / done.stdout.strip().splitlines()[-1]
            with tarfile.open(tarball) as archive:
                members = [m for m in archive.getmembers()
                           if m.isfile() and _keep(m.name, patterns)]
                for member in members:
                    target = staging / "vendor" / folder / member.name.removeprefix("package/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.extractfile(member) as source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out)
            tarball.unlink()
        if not is_complete(staging):
            raise RuntimeError(f"the npm packages lack an expected file ({MATHJAX_PATH}, ...)")
        root.parent.mkdir(parents=True, exist_ok=True)
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        (staging / "vendor").rename(root / "vendor")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


if __name__ == "__main__":
    try:
        print(fetch())
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"web assets not fetched: {exc}", file=sys.stderr)
        sys.exit(1)
