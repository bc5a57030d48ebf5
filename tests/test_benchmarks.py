"""The benchmarks' shared bookkeeping (benchmarks/_results.py): load, roofline, summary."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _results  # noqa: E402


def test_a_run_above_the_quiet_load_is_marked_and_never_judged():
    quiet = _results.Machine(0.4, 0.9)
    busy = _results.Machine(0.5, 1.7)
    assert not quiet.loaded and busy.loaded
    assert "loaded: not used for the target" in busy.label() and "loaded" not in quiet.label()
    assert "load 0.5 → 1.7" in busy.label()
    # A benchmark's own workers raise the load after it: only load beyond them counts.
    assert not _results.Machine(0.8, 2.0, own=2).loaded
    assert _results.Machine(0.8, 3.5, own=2).loaded and _results.Machine(1.4, 1.0, own=2).loaded
    summary = _results.Summary("b", "1.00", "<= 1.05", met=True, loaded=True, load="0.5 → 1.7")
    assert summary.verdict == "not judged (machine loaded)"
    assert _results.Summary("b", "1.2", "<= 1.05", met=False, loaded=False, load="0.1 → 0.2").verdict == "NOT met"


def test_gemm_throughput_is_measured_and_bad_sizes_are_refused():
    gflops = _results.gemm_gflops(64, 64, 64, seconds=0.05)
    assert 0.01 < gflops < 1e5
    with pytest.raises(ValueError, match=r"\(0, 4, 4\)"):
        _results.gemm_gflops(0, 4, 4)


def test_summaries_round_trip_and_the_table_lists_them(tmp_path, capsys, monkeypatch):
    import summary

    rows = [_results.Summary("bench_a", "ratio 0.98", "<= 1.05", True, False, "0.3 → 0.4", "5 of 50 GFLOP/s"),
            _results.Summary("bench_b", "700 s", "<= 600 s", False, False, "0.2 → 0.8")]
    for row in rows:
        _results.write_summary(row, tmp_path)
    assert _results.read_summaries(tmp_path) == rows
    monkeypatch.setattr(summary, "read_summaries", lambda: _results.read_summaries(tmp_path))
    assert summary.main() == 0
    out = capsys.readouterr().out
    assert "| bench_a" in out and "met" in out and "NOT met" in out and "5 of 50 GFLOP/s" in out


def test_record_row_appends_to_its_own_section(tmp_path):
    results = tmp_path / "results.md"
    _results.record_row("## a", "| x | y |", "| 1 | 2 |", results)
    _results.record_row("## b", "| x |", "| 3 |", results)
    _results.record_row("## a", "| x | y |", "| 4 | 5 |", results)
    text = results.read_text()
    assert text.index("| 1 | 2 |") < text.index("| 4 | 5 |") < text.index("## b")
