"""What one benchmark run measures: `BenchConfig`, the presets of each space, the script's values.

Every hyperparameter of a benchmarked network, trainer and controller comes from one original
script, the named preset of `enas_tf2.configs.presets`, through the same `resolve` the programs
use (`resolve_image`, `resolve_language_model`); the bench times what a run of that script
builds, and a change to a script's values reaches the bench without touching it. A
`BenchConfig` therefore names its script and says only what differs: the shape (smaller for a
smoke run; None keeps the script's value) and how much to time.

A final network needs an architecture of its shape: the script's own when it fits, else a seeded
random one (`arcs`); targets set for the script's architecture then no longer apply.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from enas_tf2 import arch
from enas_tf2.bench import arcs
from enas_tf2.configs import image as image_config
from enas_tf2.configs import language_model as lm_config
from enas_tf2.configs.presets import PRESETS
from enas_tf2.errors import FlagError

#: `--output_dir` of the resolved run configs: required by `resolve`, never written by the bench.
UNUSED_OUTPUT_DIR = "unused-by-the-benchmark"

#: Per space, each shape field of `BenchConfig` and the script flag it overrides.
SHAPE_FLAGS: Mapping[str, Mapping[str, str]] = {
    "macro": dict(num_layers="child_num_layers", out_filters="child_out_filters", batch_size="batch_size",
                  num_aggregate="controller_num_aggregate"),
    "micro": dict(num_layers="child_num_layers", out_filters="child_out_filters", batch_size="batch_size",
                  num_blocks="child_num_cells", num_aggregate="controller_num_aggregate"),
    "ptb": dict(batch_size="batch_size", hidden_size="child_lstm_hidden_size", num_nodes="child_rhn_depth",
                bptt="child_bptt_steps", num_aggregate="controller_num_aggregate"),
}
SPACES = tuple(SHAPE_FLAGS)
#: The timing fields every space reads.
TIMING_FIELDS = ("steps", "num_arcs", "num_static_arcs", "controller_steps", "seed")


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What to measure; presets fill it, flags override single fields.

    Attributes:
        script: the preset of `configs.presets` whose values build everything (e.g.
            "cifar10_macro_search"); a search script gives the search benches, a final one the
            final network's.
        steps: timed steps of each measured step function (search: at least `num_arcs`
            sampled steps, and this many supernet/static pairs).
        num_arcs: sampled steps must cover at least this many architectures.
        num_static_arcs: sampled architectures built statically for the supernet/static ratio.
        controller_steps: timed controller updates.
        seed: seed of weights, data, dropout and the controller's sampler.
        num_layers, out_filters, batch_size, num_blocks, num_aggregate, hidden_size, num_nodes,
            bptt: the shape, where it differs from the script's (`SHAPE_FLAGS` says which
            flag each replaces and which space reads it); None keeps the script's.
        fixed_arc: a final network's architecture instead of the script's.
        precision: the child's `--precision` ("float32", "mixed_bfloat16", "mixed_float16").
        grappler: `--grappler` ("auto": as the program would for the script's mode, "on", "off").
    """

    script: str
    steps: int
    num_arcs: int = 20
    num_static_arcs: int = 3
    controller_steps: int = 2
    seed: int = 0
    num_layers: int | None = None
    out_filters: int | None = None
    batch_size: int | None = None
    num_blocks: int | None = None
    num_aggregate: int | None = None
    hidden_size: int | None = None
    num_nodes: int | None = None
    bptt: int | None = None
    fixed_arc: str | None = None
    precision: str = "float32"
    grappler: str = "auto"

    @property
    def space(self) -> str:
        """"macro", "micro" or "ptb": the space the script searches or trains."""
        return space_of_script(self.script)


#: Macro: `cifar10_macro_search.sh`'s child and controller, `cifar10_macro_final.sh`'s network
#: (ENAS_SPEC.md 1.1); `small` is the search script at a quick smoke size (under 2 minutes).
MACRO_PRESETS: Mapping[str, BenchConfig] = {
    "small": BenchConfig("cifar10_macro_search", steps=20, controller_steps=1, num_layers=6, out_filters=16,
                         batch_size=32),
    "search": BenchConfig("cifar10_macro_search", steps=30, controller_steps=3),
    "final": BenchConfig("cifar10_macro_final", steps=3),
}
#: Micro: `cifar10_micro_search.sh`'s child and controller, `cifar10_micro_final.sh`'s network.
MICRO_PRESETS: Mapping[str, BenchConfig] = {
    "small": BenchConfig("cifar10_micro_search", steps=10, num_arcs=10, controller_steps=1, num_layers=1,
                         out_filters=8, batch_size=32, num_blocks=3),
    "search": BenchConfig("cifar10_micro_search", steps=20, num_arcs=20, controller_steps=2),
    "final": BenchConfig("cifar10_micro_final", steps=3),
}
#: PTB: `scripts/ptb_search.sh`'s (enas_lm) supernet and controller; `original_search` the original
#: `ptb_search.sh`'s 289 M-parameter supernet; `final` `scripts/ptb_final.sh` on enas_lm's README
#: cell (the cell that script's header names); `small` the enas_lm search at a smoke size.
PTB_PRESETS: Mapping[str, BenchConfig] = {
    "small": BenchConfig("ptb_search", steps=8, num_arcs=8, controller_steps=1, num_static_arcs=2, batch_size=16,
                         hidden_size=32, num_nodes=5, num_aggregate=4),
    "search": BenchConfig("ptb_search", steps=20, num_arcs=20, controller_steps=2),
    "original_search": BenchConfig("ptb_search_original", steps=10, num_arcs=10, controller_steps=1,
                                   num_static_arcs=2),
    "final": BenchConfig("ptb_final", steps=5, fixed_arc=arch.PTB_ENAS_LM_ARC),
}
#: Presets per space.
PRESETS_BY_SPACE: Mapping[str, Mapping[str, BenchConfig]] = {
    "macro": MACRO_PRESETS, "micro": MICRO_PRESETS, "ptb": PTB_PRESETS,
}


def space_of_script(script: str) -> str:
    """The space of a preset of `configs.presets` ("ptb" for the PTB program's)."""
    preset = PRESETS[script]
    if preset.program == "ptb_main":
        return "ptb"
    return image_config.space_of(preset.flags["search_for"])


def config_from_flags(space: str, preset: str, overrides: Mapping[str, int | None]) -> BenchConfig:
    """The preset's config with the given non-None fields replaced.

    Raises:
        FlagError: an unknown preset for the space, a non-positive override (any seed is fine), or a shape
            override the space does not read (e.g. `--hidden_size` for macro).
    """
    presets = PRESETS_BY_SPACE[space]
    if preset not in presets:
        raise FlagError(f"--preset={preset!r} is not a preset of --space={space}; expected one of {', '.join(presets)}.")
    given = {name: value for name, value in overrides.items() if value is not None}
    for name, value in given.items():
        if name != "seed" and value < 1:
            raise FlagError(f"--{name} must be a positive integer. Received: --{name}={value}")
        if name not in TIMING_FIELDS and name not in SHAPE_FLAGS[space]:
            readers = [other for other, fields in SHAPE_FLAGS.items() if name in fields]
            raise FlagError(f"--{name} sets the shape of --space={'|'.join(readers)}, not of --space={space}.")
    return dataclasses.replace(presets[preset], **given)


def script_values(config: BenchConfig) -> dict[str, Any]:
    """The script's flag values with the bench's shape, seed and final architecture: `resolve`'s input."""
    space = config.space
    values = dict(PRESETS[config.script].flags)
    values.update(output_dir=UNUSED_OUTPUT_DIR, seed=config.seed, precision=config.precision)
    for field, flag in SHAPE_FLAGS[space].items():
        if getattr(config, field) is not None:
            values[flag] = getattr(config, field)
    if config.fixed_arc is not None:
        values["child_fixed_arc"] = config.fixed_arc
    if values.get("child_fixed_arc") is not None:
        values["child_fixed_arc"] = _fitting_arc(space, values, config.seed)
    return values


def _fitting_arc(space: str, values: Mapping[str, Any], seed: int) -> str:
    """`values["child_fixed_arc"]` if it fits the shape in `values`, else a seeded random arc that does."""
    text = values["child_fixed_arc"]
    if space == "ptb":
        cell, depth = arch.PtbArc.parse(text), values.get("child_rhn_depth")
        if depth is None or cell.num_nodes == depth:
            return text
        return arcs.random_ptb_arc(depth, seed).format(arch.ptb_arc_format_of(text))
    shape = image_config.child_config({**values, "child_fixed_arc": None})
    if space == "micro":
        if arch.MicroArc.parse(text).num_blocks == shape.num_blocks:
            return text
        return str(arcs.random_micro_arc(shape.num_blocks, seed))
    if arch.MacroArc.parse(text).num_layers == shape.num_layers:
        return text
    return str(arcs.random_macro_arc(shape.num_layers, shape.num_branches, seed))


def resolve_image(config: BenchConfig) -> image_config.ImageClassificationConfig:
    """The image-classification run config of `config` (macro or micro), as the program resolves it."""
    return image_config.resolve(script_values(config))


def resolve_language_model(config: BenchConfig) -> lm_config.LanguageModelConfig:
    """The language-model run config of `config` (PTB), as the program resolves it."""
    return lm_config.resolve(script_values(config))


def uses_script_arc(config: BenchConfig) -> bool:
    """A final config trains its script's own architecture (not a stand-in of another shape)."""
    script_arc = PRESETS[config.script].flags.get("child_fixed_arc")
    return script_arc is not None and script_values(config)["child_fixed_arc"] == script_arc


def recorded_fields(config: BenchConfig) -> dict[str, Any]:
    """The config as the results record it: the timing fields and the resolved shape and hyperparameters."""
    fields: dict[str, Any] = dict(script=config.script, precision=config.precision, grappler=config.grappler,
                                  **{name: getattr(config, name) for name in TIMING_FIELDS})
    if config.space == "ptb":
        resolved = resolve_language_model(config)
        controller = resolved.controller
        return dict(
            fields, mode="search" if resolved.search else "final", batch_size=resolved.batch_size,
            hidden_size=resolved.hidden_size, num_nodes=resolved.num_nodes, bptt=resolved.bptt,
            ptb_impl=resolved.ptb_impl, num_aggregate=None if controller is None else controller.num_aggregate,
        )
    resolved = resolve_image(config)
    child, controller = resolved.child, resolved.controller
    return dict(
        fields, mode="search" if resolved.search else "final", num_layers=child.num_layers,
        out_filters=child.out_filters, batch_size=resolved.data.batch_size, keep_prob=child.keep_prob,
        l2_reg=resolved.training.l2_reg, num_branches=child.num_branches, num_blocks=child.num_blocks,
        use_aux_heads=child.use_aux_heads, drop_path_keep_prob=child.drop_path_keep_prob,
        num_aggregate=None if controller is None else controller.num_aggregate,
    )


def script_fields(script: str) -> dict[str, Any]:
    """`recorded_fields` of the script at its own size (what the targets compare a run with)."""
    return recorded_fields(BenchConfig(script, steps=1))
