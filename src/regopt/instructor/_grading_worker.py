"""Runs one graded notebook in a fresh kernel; used by :mod:`regopt.instructor.grading` only.

``python _grading_worker.py NOTEBOOK RESULT.json --cell-timeout S --timeout S --max-output-bytes N``

It is run by path in its own process, so it imports nothing from ``regopt``
(whose package imports torch, seconds this process does not need). The result
file is rewritten after every cell, so that whatever ran is known even if this
process is killed: per cell ``status`` ("ok", "error", "not-run",
"kernel-died") with ``ename``, ``evalue`` and ``traceback`` for errors; and
``kernel_died``, ``timed_out``, ``huge_output_cells``, ``kernel_pid``,
``finished`` for the whole run.

Limits: each cell may run ``cell_timeout`` seconds (then the kernel is
interrupted, the cell counts as failed with ``CellTimeoutError``, and the run
goes on); the notebook may run ``timeout`` seconds in all (then the run stops).
Outputs are counted, never kept: grading needs only the execute replies.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run(notebook: Path, result_path: Path, cell_timeout: float, timeout: float, max_output_bytes: int) -> int:
    # nbformat imports jsonschema, which imports rfc3987_syntax when it can, only to check "iri"
    # formats that notebooks never use; building its grammar costs seconds of CPU per submission.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(notebook, as_version=4)
    results: list[dict] = [{"status": "not-run"} for _ in nb.cells]
    state = {"cells": results, "kernel_died": False, "timed_out": False, "output_bytes": 0,
             "huge_output_cells": [], "kernel_pid": None, "finished": False}

    def save() -> None:
        tmp = result_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(result_path)

    class Client(NotebookClient):
        """Counts each cell's output and discards it."""

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            size = len(json.dumps(content.get("data", content.get("text", ""))))
            results[cell_index]["output_bytes"] = results[cell_index].get("output_bytes", 0) + size
            state["output_bytes"] += size
            if results[cell_index]["output_bytes"] > max_output_bytes \
                    and cell_index not in state["huge_output_cells"]:
                state["huge_output_cells"].append(cell_index)
            return None

    replies: dict[int, dict] = {}

    def on_executed(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply.get("content", {})

    client = Client(
        nb, timeout=int(max(1, cell_timeout)), kernel_name="python3", allow_errors=True,
        interrupt_on_timeout=True, shutdown_kernel="immediate", record_timing=False,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell ran past the time limit",
                          "traceback": []},
        resources={"metadata": {"path": str(notebook.parent)}}, on_cell_executed=on_executed,
        extra_arguments=["--HistoryManager.hist_file=:memory:"],  # as nbgrader: no shared history file
    )
    deadline = time.monotonic() + timeout
    client.timeout_func = lambda cell: max(1.0, min(cell_timeout, deadline - time.monotonic()))
    try:
        with client.setup_kernel():
            try:
                state["kernel_pid"] = client.km.provisioner.process.pid
            except AttributeError:
                pass
            save()
            for index, cell in enumerate(nb.cells):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    state["timed_out"] = True
                    break
                started = time.monotonic()
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    results[index] = {"status": "kernel-died"}
                    state["kernel_died"] = True
                    break
                reply = replies.pop(index, {})
                result = {"status": "ok" if reply.get("status", "ok") == "ok" else "error",
                          "seconds": round(time.monotonic() - started, 3),
                          "output_bytes": results[index].get("output_bytes", 0)}
                if result["status"] == "error":
                    result["ename"] = str(reply.get("ename", "Error"))
                    result["evalue"] = str(reply.get("evalue", ""))[:2000]
                    result["traceback"] = [_ANSI.sub("", str(line)) for line in reply.get("traceback", [])][-60:]
                    if result["ename"] == "CellTimeoutError" and remaining < cell_timeout:
                        state["timed_out"] = True  # the notebook's limit, not the cell's
                results[index] = result
                save()
                if state["timed_out"]:
                    break
    except DeadKernelError:
        state["kernel_died"] = True
    state["finished"] = True
    save()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="_grading_worker.py")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--cell-timeout", type=float, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--max-output-bytes", type=int, required=True)
    args = parser.parse_args(argv)
    return run(args.notebook, args.result, args.cell_timeout, args.timeout, args.max_output_bytes)


if __name__ == "__main__":
    sys.exit(main())
