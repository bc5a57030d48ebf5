"""Shared by the benchmarks: the machine's state, its roofline, and where results go.

Every benchmark run

- reads the load average before and after (``os.getloadavg``, 1-minute figure);
  a run whose load exceeds :data:`QUIET_LOAD` at either end is *loaded*: its row
  says so and it never counts towards a target (a busy machine slows the many
  small operations of one variant more than another's, so ratios drift);
- measures the roofline it is compared with: the float32 GEMM throughput
  (GFLOP/s) of this machine at the benchmark's own matrix sizes, in the same
  process, just before the benchmark;
- adds a row to its table in ``benchmarks/results.md`` (the history: rows are
  never rewritten) and writes its figure, target and verdict to
  ``_build/bench/<name>.json``, which ``benchmarks/summary.py`` (the last step
  of ``make bench``) prints as one table.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
SUMMARIES = Path(__file__).resolve().parents[1] / "_build" / "bench"
#: Above this 1-minute load average (before the run; after it, on top of the benchmark's own
#: tasks) a run is marked loaded and claims no target.
QUIET_LOAD = 1.0


def load_average() -> float:
    """The 1-minute load average (NaN where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def gemm_gflops(m: int, k: int, n: int, threads: int | None = None, seconds: float = 1.0) -> float:
    """Measured float32 GEMM throughput, in GFLOP/s, of an ``(m, k) @ (k, n)`` product.

    The best of repeated timings over about ``seconds`` (``2 m k n`` flops each),
    with ``threads`` torch threads (default: torch's current setting).
    """
    import torch

    if min(m, k, n) < 1:
        raise ValueError(f"GEMM size ({m}, {k}, {n}) must be positive in every dimension.")
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        a = torch.randn(m, k)
        b = torch.randn(k, n)
        out = torch.empty(m, n)
        for _ in range(3):  # warm-up: thread pool, caches
            torch.mm(a, b, out=out)
        best = float("inf")
        deadline = time.perf_counter() + seconds
        repeats = 0
        while time.perf_counter() < deadline or repeats < 5:
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            best = min(best, time.perf_counter() - start)
            repeats += 1
        return 2.0 * m * k * n / best / 1e9
    finally:
        torch.set_num_threads(previous)


@dataclass
class Machine:
    """The state of the machine around one run."""

    load_before: float
    load_after: float = float("nan")
    #: Runnable tasks the benchmark itself adds (its worker processes or threads): the load
    #: after a run includes them, so only what exceeds them counts as other work.
    own: int = 0

    @property
    def loaded(self) -> bool:
        return self.load_before > QUIET_LOAD or self.load_after > QUIET_LOAD + self.own

    def finish(self) -> Machine:
        self.load_after = load_average()
        return self

    def label(self) -> str:
        state = " (loaded: not used for the target)" if self.loaded else ""
        return (f"{platform.node()}, {os.cpu_count()} cores, "
                f"load {self.load_before:.1f} → {self.load_after:.1f}{state}")


def start(own: int = 0) -> Machine:
    """Call before a benchmark's timed work: reads the load average.

    ``own``: how many runnable tasks the benchmark itself keeps busy (``--jobs``,
    torch threads), which the load after the run is allowed to include.
    """
    return Machine(load_average(), own=own)


def today() -> str:
    return datetime.date.today().isoformat()


def record_row(section: str, header: str, row: str, results: Path = RESULTS) -> None:
    """Add ``row`` as the last row of the table under ``section`` (created with ``header`` if missing)."""
    lines = results.read_text().splitlines() if results.exists() else ["# Benchmark results", ""]
    if section not in lines:
        separator = "|" + "|".join(" --- " for _ in header.strip("|").split("|")) + "|"
        lines += ["", section, "", header, separator]
    end = lines.index(section) + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    last_row = max(i for i in range(lines.index(section), end) if lines[i].startswith("|"))
    lines.insert(last_row + 1, row)
    results.write_text("\n".join(lines) + "\n")


@dataclass
class Summary:
    """One benchmark's outcome, as ``make bench``'s closing table shows it."""

    benchmark: str
    figure: str
    target: str
    met: bool
    loaded: bool
    load: str
    roofline: str = "n/a"

    @property
    def verdict(self) -> str:
        if self.loaded:
            return "not judged (machine loaded)"
        return "met" if self.met else "NOT met"


def write_summary(summary: Summary, folder: Path = SUMMARIES) -> Path:
    """Write ``summary`` for ``benchmarks/summary.py``; returns the file written."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{summary.benchmark}.json"
    path.write_text(json.dumps(asdict(summary), indent=1))
    return path


def read_summaries(folder: Path = SUMMARIES) -> list[Summary]:
    return [Summary(**json.loads(path.read_text())) for path in sorted(folder.glob("*.json"))]
