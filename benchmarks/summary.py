"""The closing table of ``make bench``: each benchmark's figure, its target, met or not.

Reads what the benchmarks of this run wrote to ``_build/bench/`` (``_results.write_summary``).
A benchmark measured on a loaded machine is listed as not judged.
"""

from __future__ import annotations

import sys

from _results import QUIET_LOAD, SUMMARIES, read_summaries


def main() -> int:
    summaries = read_summaries()
    if not summaries:
        print(f"no benchmark results in {SUMMARIES}; run `make bench` first.")
        return 1
    rows = [("benchmark", "figure", "target", "verdict", "load", "roofline")]
    rows += [(s.benchmark, s.figure, s.target, s.verdict, s.load, s.roofline) for s in summaries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
        if number == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    print(f"(a run is judged only when the 1-minute load average stayed at or below {QUIET_LOAD} "
          "before and after it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
