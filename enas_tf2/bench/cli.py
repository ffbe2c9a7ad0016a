"""`python -m enas_tf2.bench`: the flags, and main (one run, its table and its JSON line).

    python -m enas_tf2.bench --space=macro|micro|ptb --preset=small|search|final [--steps=N ...]

`--preset` picks a bench preset of the space (`config.PRESETS_BY_SPACE`; PTB also has
`original_search`); the integer flags override single fields of it.
"""

from __future__ import annotations

import dataclasses

from absl import app, flags

from enas_tf2.bench import config as bench_config
from enas_tf2.bench import compare, report, runner, timing
from enas_tf2.configs.run import GRAPPLER_SETTINGS, PRECISIONS

#: Integer flags that override a preset field of the same name (None: the preset's).
OVERRIDE_FLAGS = (
    ("steps", "timed steps of each step function (search: also the supernet/static pairs)"),
    ("num_arcs", "sampled child steps must cover at least this many architectures"),
    ("num_layers", "L, the child's layer count"),
    ("out_filters", "F, the child's base channel count"),
    ("batch_size", "child batch size, also the controller's reward minibatch"),
    ("num_static_arcs", "sampled arcs built statically for the supernet/static ratio"),
    ("controller_steps", "timed controller updates"),
    ("num_aggregate", "samples per controller update (--controller_num_aggregate)"),
    ("hidden_size", "PTB: H"),
    ("num_nodes", "PTB: cell nodes N, node 0 included"),
    ("bptt", "PTB: window length"),
)


def define_flags() -> None:
    """Defines the bench's own flags (only when run as a program)."""
    flags.DEFINE_enum("space", "macro", list(bench_config.SPACES), "Search space to benchmark.")
    flags.DEFINE_string("preset", "small", "Preset of the space (small, search, final; ptb also original_search).")
    flags.DEFINE_integer("seed", 0, "Seed of weights, synthetic data and the controller.")
    flags.DEFINE_string("json_out", None, "Also write the JSON results to this file.")
    flags.DEFINE_enum("precision", "float32", list(PRECISIONS), "The child's "
                      "--precision. A mixed final preset also times the float32 network, step by step alternately, "
                      "and reports the speed-up.")
    flags.DEFINE_enum("grappler", "auto", list(GRAPPLER_SETTINGS), "The programs' --grappler (auto: off for "
                      "search presets, on for final ones).")
    flags.DEFINE_string("compare", None, "The JSON file time_original.py wrote (--out) for the same script on this "
                        "machine, just before or after: adds a side-by-side table and the ratios (JSON key compare).")
    flags.DEFINE_integer("ref_size", timing.REF_MATMUL_SIZE, "Side of the reference matmul. Change it only for "
                         "smoke tests: units are then not comparable with other runs.")
    for name, help_text in OVERRIDE_FLAGS:
        flags.DEFINE_integer(name, None, f"Overrides the preset: {help_text}.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    overrides = {name: values[name].value for name, _ in OVERRIDE_FLAGS}
    overrides["seed"] = values.seed
    config = dataclasses.replace(bench_config.config_from_flags(values.space, values.preset, overrides),
                                 precision=values.precision, grappler=values.grappler)
    original = compare.read_original(values.compare) if values.compare else None  # a bad path fails first
    results = runner.run(config, values.preset, values.ref_size)
    # Results are the program's output (stdout), not log events: scripts grep the JSON line.
    print(report.format_table(results), flush=True)
    if original is not None:
        results["compare"] = compare.compare(results, original)
        print(compare.format_comparison(results["compare"]), flush=True)
    line = report.json_line(results)
    print(line, flush=True)
    if values.json_out:
        with open(values.json_out, "w") as f:
            f.write(line.removeprefix(timing.JSON_PREFIX) + "\n")


def run_program() -> None:
    define_flags()
    app.run(main)
