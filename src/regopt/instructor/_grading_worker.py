"""Runs one graded notebook in a fresh kernel; started by :mod:`regopt.instructor.runner` only.

``python _grading_worker.py NOTEBOOK --result-fd N --cell-timeout S --timeout S
--max-output-bytes N --kernel-home DIR --ipc-dir DIR --kernel-prefix JSON``

It is run by path in its own process, so it imports nothing from ``regopt``
(seconds this process does not need). It reports over the file descriptor
``--result-fd``, a pipe that only the grader and this process hold: the kernel
never inherits it, and in a sandbox it cannot see this process at all. One JSON
object per line: ``{"cell": i, "result": {...}}`` after every cell (``status``
"ok", "error", "kernel-died", with ``ename``, ``evalue``, ``traceback`` for
errors), then ``{"state": {...}}`` with ``kernel_died``, ``timed_out``,
``huge_output_cells``, ``finished``. Nothing the kernel writes to a file is read.

The kernel is started with ``--kernel-prefix`` before its own command (the
sandbox and the resource limiter of :mod:`regopt.instructor.sandbox`), talks to
this process over Unix sockets in ``--ipc-dir`` (it may have no network), and
runs in the empty folder ``--kernel-home``. The graded notebook, with its hidden
tests, stays in this process's own folder.

Limits: each cell may run ``cell_timeout`` seconds (then the kernel is
interrupted, the cell counts as failed with ``CellTimeoutError``, and the run
goes on); the notebook may run ``timeout`` seconds in all (then the run stops).
Outputs are counted, never kept: grading needs only the execute replies.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Channel:
    """Writes one JSON line per message to the pipe the grader reads."""

    def __init__(self, fd: int) -> None:
        os.set_inheritable(fd, False)  # never passed on to the kernel
        self.fd = fd

    def send(self, message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data):]


def _kernel_manager(prefix: list[str], ipc_dir: Path):
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        """Starts the kernel behind ``prefix`` (sandbox and limits), on Unix sockets."""

        def format_kernel_cmd(self, extra_arguments=None):
            return [*prefix, *super().format_kernel_cmd(extra_arguments)]

    km = SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(ipc_dir / "kernel"),
                                connection_file=str(ipc_dir / "kernel.json"))
    # A signal to the sandbox's process group never reaches the kernel inside: interrupt by message.
    km.kernel_spec.interrupt_mode = "message"
    return km


def _cell_result(reply: dict, started: float, output_bytes: int) -> dict:
    result = {"status": "ok" if reply.get("status", "ok") == "ok" else "error",
              "seconds": round(time.monotonic() - started, 3), "output_bytes": output_bytes}
    if isinstance(reply.get("execution_count"), int):
        result["execution_count"] = reply["execution_count"]  # tracebacks say "Cell In[N]"
    if result["status"] == "error":
        result["ename"] = str(reply.get("ename", "Error"))[:200]
        result["evalue"] = str(reply.get("evalue", ""))[:2000]
        result["traceback"] = [_ANSI.sub("", str(line))[:2000] for line in reply.get("traceback", [])][-60:]
    return result


#: Kernels started again after one died, at most, per notebook.
MAX_RESTARTS = 3


def _role(cell) -> dict:
    return cell.metadata.get("regopt") or {}


def _replayable(cell) -> bool:
    """Re-run after a kernel died: set-up, answers, the student's cells and the harness's records."""
    meta = _role(cell)
    return meta.get("role") in ("context", "answer", "stub", "extra") or (
        meta.get("role") == "harness" and not meta.get("grade_id"))


def _next_exercise(nb, died: int) -> int | None:
    """The first cell after the exercise during which cell ``died`` ran (None: it was the last one)."""
    cells = nb.cells
    for index in range(died, len(cells)):
        meta = _role(cells[index])
        if meta.get("role") == "test" or (meta.get("role") == "harness" and meta.get("grade_id")):
            grade_id = meta.get("grade_id")
            end = index
            while end + 1 < len(cells) and _role(cells[end + 1]).get("grade_id") == grade_id \
                    and _role(cells[end + 1]).get("role") in ("test", "harness"):
                end += 1
            return end + 1 if end + 1 < len(cells) else None
    return None


def _run_segment(client, nb, start, replay, dead, replies, output_bytes, state, channel, args, deadline,
                 DeadKernelError) -> int | None:
    """Run ``replay`` (silently), then cells from ``start``; the index of a cell the kernel died in."""
    try:
        with client.setup_kernel(cleanup_kc=True):  # shut the kernel down (we passed our own km)
            for index in replay:
                try:
                    history = _role(nb.cells[index]).get("history", True)
                    client.execute_cell(nb.cells[index], index, store_history=bool(history))
                except DeadKernelError:
                    channel.send({"cell": index, "result": {"status": "kernel-died"}})
                    return index
                replies.pop(index, None)
            for index in range(start, len(nb.cells)):
                cell = nb.cells[index]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    state["timed_out"] = True
                    return None
                started = time.monotonic()
                try:
                    history = _role(cell).get("history", True)
                    client.execute_cell(cell, index, store_history=bool(history))
                except DeadKernelError:
                    channel.send({"cell": index, "result": {"status": "kernel-died"}})
                    return index
                result = _cell_result(replies.pop(index, {}), started, output_bytes[index])
                if result.get("ename") == "CellTimeoutError" and remaining < args.cell_timeout:
                    state["timed_out"] = True  # the notebook's limit, not the cell's
                channel.send({"cell": index, "result": result})
                if state["timed_out"]:
                    return None
    except DeadKernelError:  # while starting or shutting down a kernel
        return start if start < len(nb.cells) and start not in dead else None
    return None


def run(notebook: Path, channel: Channel, args: argparse.Namespace) -> int:
    # nbformat imports jsonschema, which imports rfc3987_syntax when it can, only to check "iri"
    # formats that notebooks never use; building its grammar costs seconds of CPU per submission.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    notebook.unlink()  # the hidden tests stay in this process only, out of the kernel's reach
    output_bytes = [0] * len(nb.cells)
    state = {"kernel_died": False, "timed_out": False, "huge_output_cells": [], "finished": False}

    class Client(NotebookClient):
        """Counts each cell's output and discards it."""

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            output_bytes[cell_index] += len(json.dumps(content.get("data", content.get("text", ""))))
            if output_bytes[cell_index] > args.max_output_bytes and cell_index not in state["huge_output_cells"]:
                state["huge_output_cells"].append(cell_index)
            return None

    replies: dict[int, dict] = {}

    def new_client():
        client = Client(
            nb, km=_kernel_manager(json.loads(args.kernel_prefix), args.ipc_dir),
            timeout=int(max(1, args.cell_timeout)), allow_errors=True,
            interrupt_on_timeout=True, shutdown_kernel="immediate", record_timing=False,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell ran past the time limit",
                              "traceback": []},
            resources={"metadata": {"path": str(args.kernel_home)}},
            on_cell_executed=lambda cell, cell_index, execute_reply: replies.__setitem__(
                cell_index, execute_reply.get("content", {})),
            extra_arguments=["--HistoryManager.hist_file=:memory:"],  # as nbgrader: no shared history file
        )
        client.timeout_func = lambda cell: max(1.0, min(args.cell_timeout, deadline - time.monotonic()))
        return client

    deadline = time.monotonic() + args.timeout
    state["deaths"] = []  # the cells during which a kernel died
    dead: set[int] = set()
    start, replay = 0, []
    while True:
        died = _run_segment(new_client(), nb, start, replay, dead, replies, output_bytes, state, channel,
                            args, deadline, DeadKernelError)
        if died is None or state["timed_out"]:
            break
        state["kernel_died"] = True
        state["deaths"].append(died)
        dead.add(died)
        resume = _next_exercise(nb, died)
        resume = None if resume is None else max(resume, start)
        if resume is None or len(state["deaths"]) >= MAX_RESTARTS:
            break
        # A new kernel: the lab's set-up and the student's cells up to the next exercise, without
        # the cells that killed a kernel and without tests; then grading goes on from there.
        replay = [i for i in range(resume) if i not in dead and _replayable(nb.cells[i])]
        start = resume
    state["finished"] = True
    channel.send({"state": state})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="_grading_worker.py")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--result-fd", type=int, required=True)
    parser.add_argument("--cell-timeout", type=float, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--max-output-bytes", type=int, required=True)
    parser.add_argument("--kernel-home", type=Path, required=True)
    parser.add_argument("--ipc-dir", type=Path, required=True)
    parser.add_argument("--kernel-prefix", default="[]")
    args = parser.parse_args(argv)
    channel = Channel(args.result_fd)
    return run(args.notebook, channel, args)


if __name__ == "__main__":
    sys.exit(main())
