"""Runs one graded notebook in its own worker process and sandboxed kernel; trusts nothing it can touch.

The trust boundary: the grader (this process) starts a worker
(``_grading_worker.py``), which starts the kernel behind the sandbox and the
limiter of :mod:`regopt.instructor.sandbox`. Results come back over a pipe that
only this process and the worker hold (the kernel never inherits it and, in a
sandbox, cannot see the worker). The only processes this process ever signals
are the workers it started, through their own process group, before they are
reaped; the kernel dies with its worker. Reading the pipe is bounded in bytes and
in time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from . import sandbox

__all__ = ["RunOptions", "run_notebook", "isolation_notice"]

#: The script that runs one graded notebook in a kernel (standalone: it never imports regopt).
WORKER = Path(__file__).with_name("_grading_worker.py")
#: The most the grader reads from one worker: cell results are small; anything beyond is an attack or a bug.
MAX_CHANNEL_BYTES = 16 << 20


@dataclass
class RunOptions:
    """How every submission of a batch is run."""

    cell_timeout: float = 60.0
    timeout: float = 600.0
    max_output_bytes: int = 1_000_000
    full: bool = False
    jobs: int = 1
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    isolation: str = "auto"
    keep_workdir: Path | None = None

    @property
    def threads(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.jobs)

    def effective_limits(self) -> sandbox.Limits:
        if self.limits.cpu_seconds is not None:
            return self.limits
        cpu = int(self.timeout * self.threads + 60)  # the kernel may keep its threads busy all along
        return sandbox.Limits(self.limits.memory_mb, self.limits.processes, self.limits.file_size_mb, cpu)


def isolation_notice(kind: str) -> str | None:
    """One plain line when the kernels cannot be fully isolated here, else None."""
    if kind == "none":
        return ("notice: no sandbox is available here (Linux with bubblewrap, or unshare with user namespaces); "
                "kernels run with resource limits only, so a submission can read what you can read and "
                "signal your processes. Grade untrusted submissions on a machine that has bubblewrap.")
    if kind == "unshare":
        return ("notice: partial isolation (unshare): kernels have no network and cannot see the grader's "
                "processes, but can read your files; install bubblewrap (Debian: apt-get install bubblewrap) "
                "for a private view of the file system.")
    return None


class _Reader(threading.Thread):
    """Reads the worker's JSON lines from the pipe, bounded in bytes."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.messages, self.overflow, self.raw = fd, [], False, bytearray()

    def run(self) -> None:
        with os.fdopen(self.fd, "rb") as pipe:
            while chunk := pipe.read1(1 << 16):
                if len(self.raw) + len(chunk) > MAX_CHANNEL_BYTES:
                    self.overflow = True
                    continue  # keep draining, so the worker never blocks on a full pipe
                self.raw += chunk

    def state(self, n_cells: int) -> dict:
        cells: list[dict] = [{"status": "not-run"} for _ in range(n_cells)]
        state: dict = {"cells": cells}
        for line in bytes(self.raw).splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            index = message.get("cell") if isinstance(message, dict) else None
            if isinstance(index, int) and 0 <= index < n_cells and isinstance(message.get("result"), dict):
                cells[index] = message["result"]
            elif isinstance(message, dict) and isinstance(message.get("state"), dict):
                state.update({k: v for k, v in message["state"].items() if k != "cells"})
        return state


def _folders(scratch: Path) -> dict[str, Path]:
    root = Path(tempfile.mkdtemp(prefix="grade-", dir=scratch))
    folders = {"root": root}
    for name in ("worker", "home", "ipc"):
        folders[name] = root / name
        folders[name].mkdir(mode=0o700)
    (folders["home"] / "tmp").mkdir()
    return folders


def _command(notebook: Path, fd: int, options: RunOptions, folders: dict[str, Path], kind: str) -> list[str]:
    home = folders["home"]
    data = config.data_dir()
    prefix = sandbox.kernel_prefix(kind, options.effective_limits(), home=home, ipc_dir=folders["ipc"],
                                   readable=[data] if data and data.is_dir() else [])
    # Run by path, not as ``-m regopt...``: importing the package is not needed by the worker.
    return [sys.executable, str(WORKER), str(notebook), "--result-fd", str(fd),
            "--cell-timeout", str(options.cell_timeout), "--timeout", str(options.timeout),
            "--max-output-bytes", str(options.max_output_bytes), "--kernel-home", str(home),
            "--ipc-dir", str(folders["ipc"]), "--kernel-prefix", json.dumps(prefix)]


def _env(options: RunOptions, folders: dict[str, Path], kind: str) -> dict[str, str]:
    package_root = str(Path(__file__).resolve().parents[2])  # the worker's kernel imports this very package
    tmp = Path("/tmp") if kind == "bwrap" else folders["home"] / "tmp"
    return sandbox.kernel_env(full=options.full, threads=options.threads, home=folders["home"], tmp=tmp,
                              extra_path=package_root)


def run_notebook(nb_text: str, n_cells: int, options: RunOptions, scratch: Path, label: str) -> dict:
    """Run a graded notebook (its JSON text); the state the worker reported, never an exception
    caused by the submission. ``worker_error`` says when the grader itself failed."""
    kind = sandbox.isolation(options.isolation)
    folders = _folders(scratch)
    notebook = folders["worker"] / "graded.ipynb"
    notebook.write_text(nb_text, encoding="utf-8")
    read_fd, write_fd = os.pipe()
    reader = _Reader(read_fd)
    log_path = folders["worker"] / "worker.log"
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(_command(notebook, write_fd, options, folders, kind),
                                       cwd=folders["worker"], env=_env(options, folders, kind), stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True, pass_fds=(write_fd,))
        os.close(write_fd)
        write_fd = -1
        reader.start()
        killed = _wait(process, options.timeout + 120)
        reader.join(timeout=30)
        state = reader.state(n_cells)
        state["isolation"] = kind
        if killed:
            state["timed_out"] = True
        if reader.overflow:
            state["worker_error"] = f"the worker sent more than {MAX_CHANNEL_BYTES} bytes of results"
        elif not state.get("finished") and not killed:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip()
            state["worker_error"] = tail.splitlines()[-1][:500] if tail else f"exit {process.returncode}"
        return state
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        _keep_or_remove(folders, options.keep_workdir, label, nb_text)


def _wait(process: subprocess.Popen, limit: float) -> bool:
    """Wait for the worker; past ``limit``, kill its process group (our own child's). True if killed."""
    try:
        process.wait(timeout=limit)
        return False
    except subprocess.TimeoutExpired:
        # The worker leads its own session; it is not reaped yet, so its id cannot have been reused.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        return True


def _keep_or_remove(folders: dict[str, Path], keep: Path | None, label: str, nb_text: str) -> None:
    """With ``--keep-workdir``: the graded notebook, the worker's log, what the kernel wrote."""
    if keep is not None:
        target = keep / label
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        (target / "graded.ipynb").write_text(nb_text, encoding="utf-8")
        log = folders["worker"] / "worker.log"
        if log.is_file():
            shutil.copy(log, target / "worker.log")
        shutil.copytree(folders["home"], target / "kernel-home", symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipython", ".matplotlib", ".cache"))
    shutil.rmtree(folders["root"], ignore_errors=True)
