"""Tests of the step-time benchmark (`enas_tf2.bench`) on tiny configs: the real presets are far too slow here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from enas_tf2 import arch
from enas_tf2.bench import config, flops, report, timing
from enas_tf2.configs.presets import PRESETS
from enas_tf2.errors import FlagError

#: Keys every macro search-mode run reports.
SEARCH_KEYS = (
    "space", "preset", "tf_version", "cpu_count", "tf_enable_onednn_opts", "config", "ref_start_s", "ref_end_s", "ref_s",
    "child_trace_s", "child_tracing_s", "child_first_run_s", "controller_tracing_s", "grappler", "child_step_s", "child_step_units", "images_per_s", "child_trace_count",
    "distinct_arcs", "supernet_same_arcs_step_s", "static_step_s", "supernet_static_ratio",
    "controller_sample_s", "controller_sample_units", "controller_trace_count", "peak_rss_mib",
    "targets", "targets_met",
)
TINY_FLAGS = (
    "--num_layers=3", "--out_filters=4", "--batch_size=4", "--steps=3", "--num_arcs=3",
    "--num_static_arcs=1", "--controller_steps=1", "--num_aggregate=2", "--ref_size=256",
)
#: Bench fields and script flags that are not hyperparameters of the script.
_NOT_SCRIPT_VALUES = {"output_dir", "seed", "child_fixed_arc"}


def _run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), check=False,
    )


# -- the presets read the original scripts' values ----------------------------------------------


@pytest.mark.parametrize("space, preset", [(s, p) for s, presets in config.PRESETS_BY_SPACE.items() for p in presets])
def test_every_value_comes_from_the_script_except_the_bench_shape(space, preset):
    bench = config.PRESETS_BY_SPACE[space][preset]
    assert bench.space == space
    values = config.script_values(bench)
    overridden = {config.SHAPE_FLAGS[space][f] for f in config.SHAPE_FLAGS[space] if getattr(bench, f) is not None}
    script = PRESETS[bench.script].flags
    for flag, value in script.items():
        if flag not in overridden | _NOT_SCRIPT_VALUES:
            assert values[flag] == value, flag
    assert values["seed"] == bench.seed


def test_search_preset_records_the_scripts_hyperparameters():
    fields = config.recorded_fields(config.MACRO_PRESETS["search"])
    script = PRESETS["cifar10_macro_search"].flags
    assert (fields["num_layers"], fields["out_filters"], fields["batch_size"]) == (
        script["child_num_layers"], script["child_out_filters"], script["batch_size"])
    assert (fields["keep_prob"], fields["l2_reg"], fields["num_aggregate"]) == (
        script["child_keep_prob"], script["child_l2_reg"], script["controller_num_aggregate"])
    ptb = config.recorded_fields(config.PTB_PRESETS["original_search"])
    original = PRESETS["ptb_search_original"].flags
    assert (ptb["ptb_impl"], ptb["hidden_size"], ptb["num_nodes"]) == (
        "original", original["child_lstm_hidden_size"], original["child_rhn_depth"])


def test_final_network_keeps_the_scripts_arc_only_when_it_fits():
    final = config.MACRO_PRESETS["final"]
    assert config.uses_script_arc(final)
    shallow = config.config_from_flags("macro", "final", {"num_layers": 3})
    assert not config.uses_script_arc(shallow)
    assert config.resolve_image(shallow).child.fixed_arc.num_layers == 3
    # Micro arcs depend on the blocks per cell, not on the layers.
    assert config.uses_script_arc(config.config_from_flags("micro", "final", {"num_layers": 3}))
    cell = config.resolve_language_model(config.config_from_flags("ptb", "final", {"num_nodes": 4})).fixed_arc
    assert cell.num_nodes == 4 and cell.activations[0] == arch.PTB_ACTIVATIONS.id_of("tanh")


@pytest.mark.parametrize("space, preset, overrides, message", [
    ("macro", "huge", {}, "not a preset"),
    ("macro", "small", {"steps": 0}, "--steps must be a positive integer"),
    ("macro", "small", {"hidden_size": 8}, "--hidden_size sets the shape of --space=ptb"),
    ("ptb", "small", {"num_layers": 2}, "--num_layers sets the shape of --space=macro|micro"),
])
def test_bad_flags_raise(space, preset, overrides, message):
    with pytest.raises(FlagError, match=re.escape(message)):
        config.config_from_flags(space, preset, overrides)


def test_overrides_replace_preset_fields():
    bench = config.config_from_flags("macro", "search", {"batch_size": 8, "steps": None, "seed": 0})
    fields = config.recorded_fields(bench)
    assert (fields["num_layers"], fields["out_filters"], fields["batch_size"]) == (12, 36, 8)
    assert bench.steps == config.MACRO_PRESETS["search"].steps


# -- timing and report (no network) -------------------------------------------------------------


def test_alternate_swaps_the_order_every_pair():
    calls = []
    first, second = timing.alternate(lambda i: calls.append(("a", i)) or 1.0, lambda i: calls.append(("b", i)) or 2.0, 3)
    assert calls == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2)]
    assert (first, second) == ([1.0] * 3, [2.0] * 3)


def test_warm_up_parts_traces_once_then_runs():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    runs = []

    @tf.function
    def step(x):
        runs.append("traced")
        return {"loss": x * 2.0}

    tracing, first_run = timing.warm_up_parts(step, tf.constant(1.0))
    assert tracing > 0 and first_run > 0
    assert step.experimental_get_tracing_count() == 1 and runs == ["traced"]
    assert timing.warm_up_parts(lambda x: {"loss": x}, tf.constant(1.0))[0] == 0.0  # nothing to trace


def test_units_divide_by_the_mean_reference():
    (value, references) = timing.between_references(lambda: 7, size=64)
    assert value == 7 and references.size == 64 and references.mean_s > 0
    refs = timing.References(start_s=1.0, end_s=3.0)
    assert (refs.mean_s, refs.drift) == (2.0, 3.0)
    assert timing.units({"child_step_s": 4.0, "other": 1.0}, ("child_step_s", "final_step_s"), refs.mean_s) == {
        "child_step_units": 2.0}


def _results(preset: config.BenchConfig, **figures) -> dict:
    return dict(space=preset.space, preset="x", config=config.recorded_fields(preset), **figures)


def test_targets_apply_only_at_the_scripts_size():
    search = _results(config.MACRO_PRESETS["search"], child_trace_count=1, distinct_arcs=20, supernet_static_ratio=1.2,
                      supernet_static_ratio_pairwise=1.04, child_trace_s=14.0, controller_trace_s=16.0)
    assert report.targets("macro", search) == {  # #17's search targets, each where its figure was measured
        "child_trace_count": {"target": "==1 over >=20 arcs", "met": True},
        "supernet_static_ratio": {"target": "<=1.05", "met": False},
        "supernet_static_ratio_pairwise": {"target": "<=1.05", "met": True},
        "child_trace_s": {"target": "<=30", "met": True},
        "controller_trace_s": {"target": "<=15", "met": False},
    }
    micro = _results(config.MICRO_PRESETS["search"], peak_rss_mib=4000.0)
    assert report.targets("micro", micro) == {"peak_rss_mib": {"target": "<=4096", "met": True}}
    original_ptb = _results(config.PTB_PRESETS["original_search"], supernet_static_ratio=1.25)
    assert report.targets("ptb", original_ptb)["supernet_static_ratio"] == {"target": "<=1.3", "met": True}
    small = _results(config.MACRO_PRESETS["small"], child_trace_count=2, distinct_arcs=20, supernet_static_ratio=1.2)
    assert report.targets("macro", small) == {"child_trace_count": {"target": "==1 over >=20 arcs", "met": False}}
    final = _results(config.MICRO_PRESETS["final"], final_step_units=100.0, final_arc_is_original=True)
    assert report.targets("micro", final) == {"final_step_units": {"target": "<=150", "met": True}}
    final["final_arc_is_original"] = False
    assert report.targets("micro", final) == {}
    ptb = _results(config.PTB_PRESETS["small"], child_trace_count=1, distinct_arcs=8, supernet_static_ratio=3.0,
                   peak_rss_mib=100.0)
    assert set(report.targets("ptb", ptb)) == {"child_trace_count", "peak_rss_mib"}


def test_format_table_marks_targets_and_json_line_round_trips():
    results = dict(
        space="macro", preset="x", config={}, child_trace_count=2, peak_rss_mib=100.0,
        targets={"child_trace_count": {"target": "==1", "met": False}},
    )
    table = report.format_table(results)
    assert "FAIL" in table and "peak RSS" in table and "distinct arcs" not in table
    line = report.json_line(results)
    assert line.startswith(timing.JSON_PREFIX) and json.loads(line[len(timing.JSON_PREFIX):]) == results


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
    assert flops.macro_network_forward_flops(final_arc, 4) == expected


# -- the benches on tiny networks -----------------------------------------------------------------


def test_macro_final_bench_times_a_stand_in_arc():
    from enas_tf2.bench import images  # pylint: disable=import-outside-toplevel

    bench = config.config_from_flags("macro", "final", {"num_layers": 3, "out_filters": 4, "batch_size": 4,
                                                        "steps": 1})
    figures = images.bench_images(bench)
    assert figures["final_trace_count"] == 1 and figures["final_step_s"] > 0
    assert not figures["final_arc_is_original"] and figures["final_step_gflop"] > 0
    results = _results(bench, final_step_units=1.0, **figures)
    assert report.targets("macro", results) == {}  # the final target needs the script's arc


def test_micro_final_bench_counts_trained_parameters():
    from enas_tf2.bench import images  # pylint: disable=import-outside-toplevel

    bench = config.config_from_flags("micro", "final", {"num_layers": 1, "out_filters": 4, "batch_size": 4,
                                                        "steps": 1})
    figures = images.bench_images(bench)
    assert figures["final_trace_count"] == 1 and figures["final_arc_is_original"]
    assert figures["final_params"] > 0
    results = _results(bench, final_step_units=1.0, **figures)
    assert report.targets("micro", results) == {}  # the final target needs the script's size


def test_ptb_final_bench_counts_parameters():
    from enas_tf2.bench import language_model  # pylint: disable=import-outside-toplevel
    from enas_tf2.data.ptb import PTB_VOCAB_SIZE  # pylint: disable=import-outside-toplevel

    bench = config.config_from_flags("ptb", "final", {"batch_size": 2, "steps": 1, "hidden_size": 8, "bptt": 4})
    figures = language_model.bench_ptb(bench)
    # enas_lm's README cell (8 nodes after node 0): V H + 4 H^2 + 8 * 2 H^2.
    assert figures["ptb_final_params"] == PTB_VOCAB_SIZE * 8 + 4 * 64 + 8 * 2 * 64
    assert figures["ptb_final_trace_count"] == 1


@pytest.mark.slow
def test_cli_prints_table_and_json_line(tmp_path):
    json_out = tmp_path / "bench.json"
    completed = _run_module("enas_tf2.bench", "--space=macro", "--preset=small", *TINY_FLAGS, f"--json_out={json_out}")
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith(timing.JSON_PREFIX)]
    assert len(lines) == 1, completed.stdout
    results = json.loads(lines[0][len(timing.JSON_PREFIX):])
    for key in SEARCH_KEYS:
        assert key in results, key
    assert results["config"]["num_layers"] == 3 and results["ref_size"] == 256
    assert results["config"]["script"] == "cifar10_macro_search"
    assert results["child_trace_count"] == 1
    assert results["given_arc_trace_count"] == 1
    assert results["controller_trace_count"] == 1
    assert results["child_steps_timed"] == 3
    # The first call, split: tracing it (one trace, reused by the call) and its first run.
    assert results["child_trace_s"] == pytest.approx(results["child_tracing_s"] + results["child_first_run_s"])
    assert results["child_tracing_s"] > 0 and results["controller_first_run_s"] > 0
    assert results["grappler"] == "off" and results["config"]["grappler"] == "auto"  # a search preset
    assert results["targets"]["child_trace_count"]["met"] == (results["distinct_arcs"] >= 3)
    assert "supernet_static_ratio" not in results["targets"]  # only judged at search size
    assert json.loads(json_out.read_text()) == results
    assert "child step traces" in completed.stdout


@pytest.mark.slow
def test_micro_search_bench_on_a_tiny_supernet():
    from enas_tf2.bench import runner  # pylint: disable=import-outside-toplevel

    bench = config.config_from_flags("micro", "small", dict(
        num_layers=1, num_blocks=2, out_filters=4, batch_size=4, steps=2, num_arcs=2, num_static_arcs=1, controller_steps=1,
        num_aggregate=2,
    ))
    results = runner.run(bench, "small", ref_size=256)
    assert results["child_trace_count"] == 1 and results["given_arc_trace_count"] == 1
    assert results["controller_trace_count"] == 1
    assert results["supernet_static_ratio"] > 0
    # Only the trace target applies away from the search size.
    assert set(results["targets"]) == {"child_trace_count"}


@pytest.mark.slow
def test_ptb_search_bench_on_a_tiny_supernet():
    from enas_tf2.bench import runner  # pylint: disable=import-outside-toplevel

    bench = config.config_from_flags("ptb", "small", dict(
        batch_size=4, steps=3, num_arcs=3, num_static_arcs=1, controller_steps=1, num_aggregate=2, hidden_size=8,
        num_nodes=3,
    ))
    results = runner.run(bench, "small", ref_size=256)
    assert results["child_trace_count"] == 1 and results["given_arc_trace_count"] == 1
    assert results["distinct_window_lengths"] > 1  # one trace over several window lengths
    assert results["controller_trace_count"] == 1
    assert results["supernet_static_ratio"] > 0 and results["fixed_tokens_per_s"] > 0
    assert results["config"]["ptb_impl"] == "enas_lm" and "num_layers" not in results["config"]
    # Away from the search size only the trace and memory targets apply.
    assert set(results["targets"]) == {"child_trace_count", "peak_rss_mib"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--replicas=1"], "--replicas must be at least 2"),
        (["--preset=final"], "is a final preset"),
        (["--space=ptb"], "value should be one of"),
    ],
)
def test_bench_replicas_rejects_what_it_cannot_measure(args, message):
    """`python -m enas_tf2.bench.replicas` (1 device vs N replicas) fails fast with the reason."""
    result = _run_module("enas_tf2.bench.replicas", *args)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
