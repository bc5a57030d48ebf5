"""Shared by the benchmarks: one table per benchmark in ``benchmarks/results.md``."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")


def machine() -> str:
    """The row label: the machine (host, cores) and its load when the row was measured."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.node()}, {os.cpu_count()} cores, load {load:.1f}"


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
