"""Where a submission's kernel runs: Linux namespaces when the OS offers them, rlimits always.

The kernel runs code written by someone who may want points it did not earn. On
Linux it is started inside a sandbox, tried in this order:

``bwrap`` (bubblewrap, Debian's ``bubblewrap`` package)
    New user, PID, network, IPC and UTS namespaces: no network, its own PID space
    (it cannot see or signal the grader), a read-only view of only what Python
    needs (system folders, the Python installation, this package, the data
    folder), an empty private home and ``/tmp``; it dies with its parent.
``unshare`` (util-linux)
    New user, PID and network namespaces (no network, cannot see or signal the
    grader), but the whole file system stays visible: a partial isolation.
``none``
    No namespaces (macOS, a host that forbids user namespaces): the grader says so
    once and runs the kernel with the limits below only.

In every case the kernel gets an allow-listed environment (no tokens of the
instructor's), an empty working directory, and resource limits (memory as address
space, processes, file size, CPU time) set by :data:`LIMITER` just before the
kernel starts; it receives SIGKILL when the grader's worker dies.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import config

__all__ = ["Limits", "isolation", "kernel_prefix", "kernel_env", "LIMITER"]

#: Run as ``python -c LIMITER LIMITS_JSON COMMAND...``: set the limits, die with the parent, exec COMMAND.
LIMITER = r"""
import ctypes, json, os, resource, signal, sys
limits = json.loads(sys.argv[1])
for name, value in limits.items():
    if value is not None:
        resource.setrlimit(getattr(resource, name), (value, value))
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
# In its own PID space the kernel's parent is not the worker: ipykernel would take it for dead.
os.environ.pop("JPY_PARENT_PID", None)
os.execvp(sys.argv[2], sys.argv[2:])
"""

_MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of one kernel (``None``: not limited)."""

    memory_mb: int | None = 8192  # address space: torch alone reserves about 3.5 GB of it
    processes: int | None = 512  # processes and threads of the user account (root is exempt)
    file_size_mb: int | None = 256
    cpu_seconds: int | None = None  # default: set by the grader from the notebook's time limit

    def rlimits(self) -> dict[str, int | None]:
        return {
            "RLIMIT_AS": self.memory_mb * _MB if self.memory_mb else None,
            "RLIMIT_NPROC": self.processes,
            "RLIMIT_FSIZE": self.file_size_mb * _MB if self.file_size_mb else None,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_CORE": 0,
        }

    def as_dict(self) -> dict:
        return asdict(self)


def _probe(argv: list[str]) -> bool:
    try:
        return subprocess.run([*argv, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=None)
def isolation(wanted: str = "auto") -> str:
    """The sandbox this machine offers: ``"bwrap"``, ``"unshare"`` or ``"none"``.

    ``wanted`` is ``"auto"`` (the best available) or one of the three (``"none"``
    always works; another one that does not work here gives ``"none"``).
    """
    if not sys.platform.startswith("linux") or wanted == "none":
        return "none"
    bwrap, unshare = shutil.which("bwrap"), shutil.which("unshare")
    if wanted in ("auto", "bwrap") and bwrap:
        with tempfile.TemporaryDirectory() as tmp:
            if _probe(_bwrap_argv(bwrap, Path(tmp), Path(tmp), _readable_paths([]))):
                return "bwrap"
    if wanted in ("auto", "unshare") and unshare and _probe(_unshare_argv(unshare)):
        return "unshare"
    return "none"


_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _readable_paths(extra: list[Path]) -> list[Path]:
    """What the kernel must read: system folders, the Python installation, this package, data."""
    candidates = [Path(p) for p in ("/usr", "/etc", *_SYSTEM_LINKS) if not os.path.islink(p)]
    candidates += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                   Path(os.path.realpath(sys.executable)).parent.parent]
    candidates += [Path(p) for p in sys.path if p and Path(p).is_dir()]
    candidates += [Path(__file__).resolve().parents[2], *extra]
    kept: list[Path] = []
    for path in sorted({p.resolve() for p in candidates if p.exists()}, key=lambda p: len(p.parts)):
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return kept


def _bwrap_argv(bwrap: str, home: Path, ipc_dir: Path, readable: list[Path]) -> list[str]:
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    # The private /tmp comes first: bwrap mounts in order, and a later tmpfs would hide what is
    # bound below it (a course checked out under /tmp, with its .venv, is common: CI, mktemp -d).
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in readable:
        argv += ["--ro-bind", str(path), str(path)]
    for name in _SYSTEM_LINKS:  # /bin -> usr/bin on merged-/usr systems
        if os.path.islink(name):
            argv += ["--symlink", os.readlink(name), name]
    for path in dict.fromkeys((home, ipc_dir)):
        argv += ["--bind", str(path), str(path)]
    return argv + ["--chdir", str(home), "--"]


def _unshare_argv(unshare: str) -> list[str]:
    return [unshare, "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--net", "--mount-proc"]


def kernel_prefix(kind: str, limits: Limits, *, home: Path, ipc_dir: Path, readable: list[Path]) -> list[str]:
    """The argv to put before the kernel's own command (sandbox, then the limiter)."""
    limiter = [sys.executable, "-c", LIMITER, json.dumps(limits.rlimits())]
    if kind == "bwrap":
        return [*_bwrap_argv(shutil.which("bwrap") or "bwrap", home, ipc_dir, _readable_paths(readable)),
                *limiter]
    if kind == "unshare":
        # The limiter goes first here: unshare gets SIGKILL when the worker dies, and kills its child.
        return [*limiter, *_unshare_argv(shutil.which("unshare") or "unshare")]
    return limiter


#: Environment variables a kernel may inherit, beside the ones the grader sets.
_PASSED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", config.DATA_ENV, "SSL_CERT_FILE")


def kernel_env(*, full: bool, threads: int, home: Path, tmp: Path, extra_path: str) -> dict[str, str]:
    """The kernel's whole environment: an allow-list, never the instructor's tokens."""
    env = {name: os.environ[name] for name in _PASSED if os.environ.get(name)}
    env.update({config.FAST_ENV: "0" if full else "1", config.STATIC_ENV: "1", "MPLBACKEND": "agg",
                "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1",
                "HOME": str(home), "TMPDIR": str(tmp), "MPLCONFIGDIR": str(home / ".matplotlib"),
                "IPYTHONDIR": str(home / ".ipython"), "JUPYTER_PLATFORM_DIRS": "1",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1", config.CACHE_ENV: str(home / ".cache")})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH", "")) if p)
    return env
