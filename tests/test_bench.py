"""Tests of the step-time benchmark on tiny configs (the real presets are far too slow for tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from enas_tf2 import arch, bench
from enas_tf2.errors import FlagError

#: Keys every macro search-mode run reports.
SEARCH_KEYS = (
    "space", "preset", "tf_version", "cpu_count", "tf_enable_onednn_opts", "config", "ref_start_s", "ref_end_s", "ref_s",
    "child_trace_s", "child_step_s", "child_step_units", "images_per_s", "child_trace_count",
    "distinct_arcs", "supernet_same_arcs_step_s", "static_step_s", "supernet_static_ratio",
    "controller_sample_s", "controller_sample_units", "controller_trace_count", "peak_rss_mib",
    "targets", "targets_met",
)
TINY_FLAGS = (
    "--num_layers=3", "--out_filters=4", "--batch_size=4", "--steps=3", "--num_arcs=3",
    "--num_static_arcs=1", "--controller_steps=1", "--num_aggregate=2", "--ref_size=256",
)


def test_cli_prints_table_and_json_line(tmp_path):
    json_out = tmp_path / "bench.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", "enas_tf2.bench", "--space=macro", "--preset=small", *TINY_FLAGS,
               f"--json_out={json_out}"]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith(bench.JSON_PREFIX)]
    assert len(lines) == 1, completed.stdout
    results = json.loads(lines[0][len(bench.JSON_PREFIX):])
    for key in SEARCH_KEYS:
        assert key in results, key
    assert results["config"]["num_layers"] == 3 and results["ref_size"] == 256
    assert results["child_trace_count"] == 1
    assert results["given_arc_trace_count"] == 1
    assert results["controller_trace_count"] == 1
    assert results["child_steps_timed"] == 3
    assert results["targets"]["child_trace_count"]["met"] == (results["distinct_arcs"] >= 3)
    assert "supernet_static_ratio" not in results["targets"]  # only judged at search size
    assert json.loads(json_out.read_text()) == results
    assert "child step traces" in completed.stdout


def test_final_mode_times_a_fixed_network():
    config = bench.BenchConfig(mode="final", num_layers=3, out_filters=4, batch_size=4, steps=1)
    figures = bench.bench_macro(config)
    assert figures["final_trace_count"] == 1
    assert figures["final_step_s"] > 0
    assert not figures["final_arc_is_original"]
    figures["final_step_units"] = 1.0
    assert bench.TARGETS["macro"](config, figures) == {}


@pytest.mark.slow
def test_micro_search_bench_on_a_tiny_supernet():
    config = bench.BenchConfig(
        mode="search", num_layers=1, out_filters=4, batch_size=4, steps=2, num_arcs=2, num_branches=5,
        num_static_arcs=1, controller_steps=1, num_aggregate=2, num_blocks=2, use_aux_heads=True,
    )
    results = bench.run("micro", "small", config, ref_size=256)
    assert results["child_trace_count"] == 1 and results["given_arc_trace_count"] == 1
    assert results["controller_trace_count"] == 1
    assert results["supernet_static_ratio"] > 0
    # Only the trace target applies away from the search size.
    assert set(results["targets"]) == {"child_trace_count"}


def test_micro_final_bench_counts_trained_parameters():
    config = bench.BenchConfig(
        mode="final", num_layers=3, out_filters=4, batch_size=4, steps=1, num_branches=5, num_blocks=5,
        use_aux_heads=True, drop_path_keep_prob=0.6,
    )
    figures = bench.bench_micro(config)
    assert figures["final_trace_count"] == 1 and figures["final_arc_is_original"]
    figures["final_step_units"] = 1.0
    assert bench.TARGETS["micro"](config, figures) == {}  # the final target needs the script's size


def test_format_table_marks_targets():
    results = dict(
        space="macro", preset="x", config={}, child_trace_count=2, peak_rss_mib=100.0,
        targets={"child_trace_count": {"target": "==1", "met": False}},
    )
    table = bench.format_table(results)
    assert "FAIL" in table and "peak RSS" in table


@pytest.mark.parametrize("preset, overrides, message", [
    ("huge", {}, "not a preset"),
    ("small", {"steps": 0}, "--steps must be a positive integer"),
])
def test_bad_flags_raise(preset, overrides, message):
    with pytest.raises(FlagError, match=message):
        bench.config_from_flags("macro", preset, overrides)


def test_overrides_replace_preset_fields():
    config = bench.config_from_flags("macro", "search", {"batch_size": 8, "steps": None})
    assert (config.num_layers, config.out_filters, config.batch_size) == (12, 36, 8)
    assert config.steps == bench.MACRO_PRESETS["search"].steps


def test_final_network_flops_counted_by_hand():
    # L=3: pool layers [0, 1]. Arc: layer 0 conv3x3; layer 1 conv5x5 + skip from the stem; layer 2 max pool.
    final_arc = arch.MacroArc.parse("0 2 1 5 0 0")
    f, s = 4, 32
    expected = s * s * 27 * f * 2  # stem
    expected += s * s * f * f * 2 + s * s * 9 * f * f * 2  # layer 0: 1x1 + 3x3
    expected += 2 * (s // 2) ** 2 * f * 2 * f * 2  # pool after layer 0: stem + layer 0 reduced to 2F
    f, s = 2 * f, s // 2
    expected += s * s * f * f * 2 + s * s * 25 * f * f * 2 + s * s * 2 * f * f * 2  # layer 1 + concat(stem, op) 1x1
    expected += 3 * (s // 2) ** 2 * f * 2 * f * 2  # pool after layer 1: 3 nodes
    f, s = 2 * f, s // 2
    expected += s * s * f * f * 2 + s * s * f * f * 2  # layer 2: 1x1 + skip 1x1 (no skips), pool has no FLOPs here
    expected += f * 10 * 2
    assert bench.macro_network_forward_flops(final_arc, 4) == expected


@pytest.mark.slow
def test_ptb_search_bench_on_a_tiny_supernet():
    config = bench.BenchConfig(
        mode="search", num_layers=1, out_filters=1, batch_size=4, steps=3, num_arcs=3, num_static_arcs=1,
        controller_steps=1, num_aggregate=2, hidden_size=8, num_nodes=3,
    )
    results = bench.run("ptb", "small", config, ref_size=256)
    assert results["child_trace_count"] == 1 and results["given_arc_trace_count"] == 1
    assert results["distinct_window_lengths"] > 1  # one trace over several window lengths
    assert results["controller_trace_count"] == 1
    assert results["supernet_static_ratio"] > 0 and results["fixed_tokens_per_s"] > 0
    assert set(results["config"]) == set(bench.PTB_CONFIG_FIELDS)
    # Away from the search size only the trace and memory targets apply.
    assert set(results["targets"]) == {"child_trace_count", "peak_rss_mib"}


def test_ptb_final_bench_counts_parameters():
    config = bench.BenchConfig(mode="final", num_layers=1, out_filters=1, batch_size=2, steps=1, hidden_size=8,
                               num_nodes=9, bptt=4)
    figures = bench.bench_ptb(config)
    # enas_lm's README cell (8 nodes after node 0): V H + 4 H^2 + 8 * 2 H^2.
    assert figures["ptb_final_params"] == 10000 * 8 + 4 * 64 + 8 * 2 * 64
    assert figures["ptb_final_trace_count"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--replicas=1"], "--replicas must be at least 2"),
        (["--preset=final"], "is a final preset"),
        (["--space=ptb"], "value should be one of"),
    ],
)
def test_bench_replicas_rejects_what_it_cannot_measure(args, message):
    """`enas_tf2.bench_replicas` (1 device vs N replicas) fails fast with the reason; its figures are in the #6 note."""
    result = subprocess.run(
        [sys.executable, "-m", "enas_tf2.bench_replicas", *args], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
