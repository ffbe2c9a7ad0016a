"""`--compare`: the bench's figures beside the original's JSON line, with ratios, and clear errors."""

from __future__ import annotations

import json

import pytest

from enas_tf2.bench import compare
from enas_tf2.errors import FlagError

ORIGINAL = {"script": "cifar10_macro_search_fixed", "batch_size": 128, "child_median_s": 3.4, "units": 60.0,
            "first_child_step_s": 170.0, "ctrl_median_s": 0.78, "peak_rss_mib": 12800.0}
OURS = {"config": {"script": "cifar10_macro_search", "mode": "search", "batch_size": 128}, "child_step_s": 0.85,
        "child_step_units": 15.0, "child_trace_s": 23.0, "controller_sample_s": 0.195, "peak_rss_mib": 3200.0}


def test_ratios_are_original_over_ours_and_the_table_shows_them(tmp_path):
    path = tmp_path / "orig.json"
    path.write_text("some log line\n" + json.dumps(ORIGINAL) + "\n")
    rows = compare.compare(OURS, compare.read_original(str(path)))
    assert rows["step_speedup"] == pytest.approx(4.0)
    assert rows["controller_speedup"] == pytest.approx(4.0)
    assert "warning" not in rows
    table = compare.format_comparison(rows)
    step_row = next(line for line in table.splitlines() if line.startswith("step (s)"))
    assert step_row.split()[-1] == "4" and "0.85" in step_row
    assert "peak RSS (MiB)" in table and "first step" in table


def test_another_script_or_batch_is_refused_or_flagged(tmp_path):
    with pytest.raises(FlagError, match="the original timed 'cifar10_micro_final'.*time the same script"):
        compare.compare(OURS, {**ORIGINAL, "script": "cifar10_micro_final"})
    rows = compare.compare(OURS, {**ORIGINAL, "batch_size": 100})
    assert "batch sizes differ" in rows["warning"]
    with pytest.raises(FlagError, match="cannot read it"):
        compare.read_original(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(FlagError, match="not the JSON line"):
        compare.read_original(str(tmp_path / "bad.json"))
