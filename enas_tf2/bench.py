"""Step-time benchmark of the search and final networks, in machine-independent units.

    python -m enas_tf2.bench --space=macro|micro|ptb --preset=small|search|final

Every step time is also given in *units*: the step's seconds divided by the
median seconds of a 2048x2048 float32 NumPy matmul measured in the same process
(`reference_seconds`), so that runs on different machines compare. The
reference is measured at the start and at the end of the run; both are
reported (their ratio shows how much the machine's load changed) and units use
their mean.

For the macro space the search presets measure:

* the supernet's training step with an architecture sampled by the controller
  *inside* the compiled step, over at least `--num_arcs` different
  architectures, with the number of traces (target: exactly one);
* the supernet against the same architectures built statically (only the
  chosen ops, no `switch_case`), steps interleaved pair by pair so that load
  from other processes hits both alike (target at search size: ratio <= 1.10);
* the controller phase per sample: one controller update is `num_aggregate`
  samples, each scored by the supernet's inference on one minibatch;
* peak resident memory.

The `final` preset times the training step of the 24-layer final network
(target: <= 130 units; the original TF1 code took about 162 on the 2-core
machine where the targets were set).

The micro space measures the same figures for `cifar10_micro_search.sh`'s
supernet and controller (targets: supernet/static <= 1.15, one trace, <= 35
units per child step, peak RSS <= 6 GiB; the original took about 105 units and
19 GiB) and `cifar10_micro_final.sh`'s network (target <= 150 units; the
original about 196).

The PTB space (`--space=ptb`) measures `scripts/ptb_search.sh`'s supernet step in tokens/s over
enas_lm's random window lengths (target: one trace), the supernet against the fixed network of
the same cells on the same windows (target: <= 1.2x), the controller phase per sample and peak
RSS (target: well under the original's 14 GiB); `--preset=original_search` the original's
289 M-parameter supernet, `--preset=final` `scripts/ptb_final.sh`'s network.

Spaces are a registry (`BENCHES`, `PRESETS`, `TABLE_ROWS`): a new space adds
its bench function, its presets and the rows of its table. The results are
printed to stdout as an aligned table, then as one line `BENCH_JSON {...}`
for scripts (`--json_out` also writes that JSON to a file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import statistics
import sys
import time
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from enas_tf2 import arch
from enas_tf2.controllers.macro import MacroController
from enas_tf2.controllers.micro import MicroController
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.errors import FlagError
from enas_tf2.spaces.macro import MacroNetwork, MacroSupernet, macro_pool_layers
from enas_tf2.spaces.micro import MicroNetwork, MicroSupernet
from enas_tf2.train.child import ChildTrainer
from enas_tf2.train.optimizers import MomentumSGD

#: Side of the square float32 matmul that defines one unit.
REF_MATMUL_SIZE = 2048
#: Timed repeats of the reference matmul (after one warm-up); the median is used.
REF_MATMUL_REPEATS = 10
#: Untimed steps before timing a step function: the first one traces.
WARMUP_STEPS = 2
#: Prefix of the machine-readable result line.
JSON_PREFIX = "BENCH_JSON "
#: Child learning rate (`--child_lr_max` of the scripts; the value does not change the timing).
CHILD_LR = 0.05
#: Issue targets: supernet / static step-time ratio at search size.
RATIO_TARGET = 1.10
#: Issue targets: units per training step of the macro final network (the TF1 original: about 162).
FINAL_UNITS_TARGET = 130.0
#: Issue targets: traces of the sampled child step, whatever the number of architectures.
TRACE_TARGET = 1
#: Micro targets (issue #3): supernet / static ratio, units per search child step, peak RSS
#: of a search-size run, units per final step (the TF1 original: about 105, 19 GiB and 196).
MICRO_RATIO_TARGET = 1.15
MICRO_SEARCH_UNITS_TARGET = 35.0
MICRO_SEARCH_RSS_TARGET_MIB = 6 * 1024.0
MICRO_FINAL_UNITS_TARGET = 150.0


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What to measure; presets fill it, flags override single fields.

    Attributes:
        mode: "search" (supernet, static comparison, controller phase) or
            "final" (the final network's training step only).
        num_layers: `--child_num_layers`, L.
        out_filters: `--child_out_filters`, F.
        batch_size: child batch size, also the controller's reward minibatch.
        steps: timed steps of each measured step function (search: at least
            `num_arcs` sampled steps, and this many supernet/static pairs).
        num_arcs: sampled steps must cover at least this many architectures.
        keep_prob: `--child_keep_prob`.
        l2_reg: `--child_l2_reg`.
        num_branches: `--child_num_branches`.
        num_static_arcs: sampled architectures built statically for the ratio.
        controller_steps: timed controller updates.
        num_aggregate: `--controller_num_aggregate`, samples per controller update.
        seed: seed of weights, data and the controller's sampler.
        num_blocks: micro: `--child_num_cells`, blocks per cell.
        use_aux_heads: micro: build the auxiliary head.
        drop_path_keep_prob: micro final: `--child_drop_path_keep_prob`.
        hidden_size: PTB: `H`.
        num_nodes: PTB: cell nodes `N`, node 0 included.
        bptt: PTB: window length (search steps draw enas_lm's random lengths around it).
        ptb_impl: PTB: "enas_lm" or "original".
    """

    mode: str
    num_layers: int
    out_filters: int
    batch_size: int
    steps: int
    num_arcs: int = 20
    keep_prob: float = 0.9
    l2_reg: float = 2.5e-4
    num_branches: int = 6
    num_static_arcs: int = 3
    controller_steps: int = 2
    num_aggregate: int = 20
    seed: int = 0
    num_blocks: int = 5
    use_aux_heads: bool = False
    drop_path_keep_prob: float = 1.0
    hidden_size: int = 200
    num_nodes: int = 10
    bptt: int = 35
    ptb_impl: str = "enas_lm"


#: Macro presets: `search` is `cifar10_macro_search.sh`'s child and controller, `final`
#: its final network (ENAS_SPEC.md 1.1); `small` is a quick smoke run (under 2 minutes).
MACRO_PRESETS: dict[str, BenchConfig] = {
    "small": BenchConfig(mode="search", num_layers=6, out_filters=16, batch_size=32, steps=20, controller_steps=1),
    "search": BenchConfig(mode="search", num_layers=12, out_filters=36, batch_size=128, steps=30, controller_steps=3),
    "final": BenchConfig(mode="final", num_layers=24, out_filters=96, batch_size=100, steps=3, keep_prob=0.5, l2_reg=2e-4),
}


#: Micro presets: `cifar10_micro_search.sh`'s child and controller and `cifar10_micro_final.sh`'s
#: network (ENAS_SPEC.md 1.1); `small` is a quick smoke run.
MICRO_PRESETS: dict[str, BenchConfig] = {
    "small": BenchConfig(
        mode="search", num_layers=1, out_filters=8, batch_size=32, steps=10, num_arcs=10, num_branches=5,
        l2_reg=1e-4, num_blocks=3, use_aux_heads=True, num_aggregate=10, controller_steps=1,
    ),
    "search": BenchConfig(
        mode="search", num_layers=6, out_filters=20, batch_size=160, steps=20, num_arcs=20, num_branches=5,
        l2_reg=1e-4, num_blocks=5, use_aux_heads=True, num_aggregate=10, controller_steps=2,
    ),
    "final": BenchConfig(
        mode="final", num_layers=15, out_filters=36, batch_size=144, steps=3, keep_prob=0.8, num_branches=5,
        l2_reg=2e-4, num_blocks=5, use_aux_heads=True, drop_path_keep_prob=0.6,
    ),
}


def reference_seconds(size: int = REF_MATMUL_SIZE, repeats: int = REF_MATMUL_REPEATS) -> float:
    """Median seconds of a `size x size` float32 NumPy matmul: one unit.

    Args:
        size: side of the square matrices.
        repeats: timed repeats after one untimed warm-up.

    Returns:
        The median wall time in seconds.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (`ru_maxrss` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _timed_step(step: Callable[..., dict[str, tf.Tensor]], *args) -> tuple[float, dict[str, tf.Tensor]]:
    """Runs one step and waits for it (`.numpy()` on the loss); returns (seconds, logs)."""
    start = time.perf_counter()
    logs = step(*args)
    logs["loss"].numpy()
    return time.perf_counter() - start, logs


def _warm_up(step: Callable[..., dict[str, tf.Tensor]], *args) -> float:
    """Runs `WARMUP_STEPS` untimed steps; returns the seconds of the first (the trace)."""
    trace_seconds, _ = _timed_step(step, *args)
    for _ in range(WARMUP_STEPS - 1):
        _timed_step(step, *args)
    return trace_seconds


def _synthetic_batch(batch_size: int, seed: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Normalised-looking images `[batch, 32, 32, 3]` float32 and int32 labels in 0..9."""
    images = tf.random.stateless_normal([batch_size, 32, 32, 3], seed=[seed, 1])
    labels = tf.random.stateless_uniform([batch_size], seed=[seed, 2], minval=0, maxval=10, dtype=tf.int32)
    return images, labels


def _child_trainer(model: keras.Model, config: BenchConfig, sample_arc=None) -> ChildTrainer:
    """Builds `model` and its Nesterov-SGD trainer as the search and final loops do."""
    model.build((None, 32, 32, 3))
    optimizer = MomentumSGD(CHILD_LR, momentum=0.9, nesterov=True)
    return ChildTrainer(model, optimizer, config.l2_reg, sample_arc=sample_arc)


def _median(times: list[float]) -> float:
    return float(statistics.median(times))


def macro_search_controller(config: BenchConfig) -> tuple[MacroController, dict[str, Any]]:
    """`cifar10_macro_search.sh`'s controller and its trainer's settings (ENAS_SPEC.md 1.1)."""
    controller = MacroController(
        num_layers=config.num_layers,
        num_branches=config.num_branches,
        tanh_constant=1.5,
        skip_target=0.4,
        skip_weight=0.8,
    )
    return controller, dict(learning_rate=0.001, entropy_weight=1e-4, num_aggregate=config.num_aggregate, seed=config.seed)


def micro_search_controller(config: BenchConfig) -> tuple[MicroController, dict[str, Any]]:
    """`cifar10_micro_search.sh`'s controller and its trainer's settings (ENAS_SPEC.md 1.1)."""
    controller = MicroController(num_cells=config.num_blocks, tanh_constant=1.10, op_tanh_reduce=2.5)
    return controller, dict(learning_rate=0.0035, entropy_weight=1e-4, num_aggregate=config.num_aggregate, seed=config.seed)


def macro_supernet(config: BenchConfig) -> MacroSupernet:
    return MacroSupernet(config.num_layers, config.out_filters, config.num_branches, config.keep_prob)


def micro_supernet(config: BenchConfig) -> MicroSupernet:
    return MicroSupernet(config.num_layers, config.num_blocks, config.out_filters, config.keep_prob, config.use_aux_heads)


def _controller_trainer(build_controller, config: BenchConfig, reward_fn) -> ControllerTrainer:
    controller, settings = build_controller(config)
    return ControllerTrainer(controller, reward_fn, **settings)


def bench_macro(config: BenchConfig) -> dict[str, Any]:
    """Measures the macro space as `config.mode` says; returns the figures (seconds, counts).

    Units, targets and machine information are added by `run`.

    Args:
        config: what to measure.

    Returns:
        A flat dict of JSON-serialisable figures.
    """
    if config.mode == "final":
        return _bench_macro_final(config)
    return _bench_macro_search(config)


def _bench_macro_search(config: BenchConfig) -> dict[str, Any]:
    """Sampled supernet steps, supernet vs static pairs, controller phase."""
    return _bench_search(
        config,
        macro_supernet(config),
        lambda arc: MacroSupernet(
            config.num_layers,
            config.out_filters,
            config.num_branches,
            config.keep_prob,
            static_arc=arch.MacroArc.from_flat(arc, config.num_branches),
        ),
        lambda reward_fn: _controller_trainer(macro_search_controller, config, reward_fn),
    )


def _bench_search(
    config: BenchConfig,
    supernet: keras.Model,
    build_static: Callable[[np.ndarray], keras.Model],
    build_controller_trainer: Callable[[Callable[[tf.Tensor], tf.Tensor]], ControllerTrainer],
) -> dict[str, Any]:
    """Sampled supernet steps, supernet vs static pairs, controller phase (any space)."""
    batch = _synthetic_batch(config.batch_size, config.seed)
    reward_batch = _synthetic_batch(config.batch_size, config.seed + 1)
    # `given` takes the arc as an argument: it scores the controller's samples (inference on one
    # minibatch, as the real controller phase) and is the supernet side of the static comparison.
    given = _child_trainer(supernet, config)
    controller = build_controller_trainer(lambda arc: given.score_arc(*reward_batch, arc))
    sampled = _child_trainer(
        supernet, config, sample_arc=lambda: controller.controller.sample(controller.rng)["arc"]
    )
    figures: dict[str, Any] = {}

    # 1. The search step: a fresh architecture sampled inside every compiled step.
    logging.info("Tracing the sampled supernet step (L=%d, F=%d).", config.num_layers, config.out_filters)
    figures["child_trace_s"] = _warm_up(sampled.train_step, batch)
    times, arcs = [], []
    for _ in range(max(config.num_arcs, config.steps)):
        seconds, logs = _timed_step(sampled.train_step, batch)
        times.append(seconds)
        arcs.append(logs["arc"].numpy())
    figures["child_step_s"] = _median(times)
    figures["child_steps_timed"] = len(times)
    figures["distinct_arcs"] = len({tuple(arc.tolist()) for arc in arcs})
    figures["child_trace_count"] = sampled.train_step.experimental_get_tracing_count()
    logging.info("Sampled supernet step: median %.4f s over %d steps.", figures["child_step_s"], len(times))

    # 2. Supernet vs the same architectures built statically, interleaved pair by pair.
    static_arcs = list({tuple(arc.tolist()): arc for arc in arcs}.values())[: config.num_static_arcs]
    statics = [(tf.constant(arc, tf.int32), _child_trainer(build_static(arc), config)) for arc in static_arcs]
    logging.info("Tracing the given-arc supernet step and %d static networks.", len(statics))
    for arc, static in statics:
        _warm_up(given.train_step, batch, arc)
        _warm_up(static.train_step, batch)
    supernet_times, static_times, pair_ratios = [], [], []
    for pair in range(config.steps):
        arc, static = statics[pair % len(statics)]
        if pair % 2 == 0:
            supernet_s, _ = _timed_step(given.train_step, batch, arc)
            static_s, _ = _timed_step(static.train_step, batch)
        else:
            static_s, _ = _timed_step(static.train_step, batch)
            supernet_s, _ = _timed_step(given.train_step, batch, arc)
        supernet_times.append(supernet_s)
        static_times.append(static_s)
        pair_ratios.append(supernet_s / static_s)
    figures["supernet_same_arcs_step_s"] = _median(supernet_times)
    figures["static_step_s"] = _median(static_times)
    figures["supernet_static_ratio"] = figures["supernet_same_arcs_step_s"] / figures["static_step_s"]
    figures["supernet_static_ratio_pairwise"] = _median(pair_ratios)
    figures["static_arcs"] = len(statics)
    figures["given_arc_trace_count"] = given.train_step.experimental_get_tracing_count()
    logging.info("Supernet / static: %.3f over %d pairs.", figures["supernet_static_ratio"], config.steps)

    # 3. The controller phase: num_aggregate samples, each scored on one minibatch, per update.
    logging.info("Tracing the controller step (num_aggregate=%d).", config.num_aggregate)
    figures["controller_trace_s"] = _timed_step(controller.train_step)[0]
    times = [_timed_step(controller.train_step)[0] for _ in range(config.controller_steps)]
    figures["controller_step_s"] = _median(times)
    figures["controller_sample_s"] = figures["controller_step_s"] / config.num_aggregate
    figures["controller_trace_count"] = controller.train_step.experimental_get_tracing_count()
    return figures


def _random_macro_arc(num_layers: int, num_branches: int, seed: int) -> arch.MacroArc:
    """A seeded random macro arc (for a final network of a non-standard depth)."""
    rng = np.random.default_rng(seed)
    flat = []
    for layer in range(num_layers):
        flat.append(int(rng.integers(num_branches)))
        flat.extend(int(bit) for bit in rng.integers(2, size=layer))
    return arch.MacroArc.from_flat(flat, num_branches)


def macro_network_forward_flops(final_arc: arch.MacroArc, out_filters: int, image_size: int = 32) -> int:
    """Multiply-add FLOPs (2 per MAC) of one image through a `MacroNetwork`'s convs and classifier.

    Counts what dominates a step (convolutions, factorized reductions, the dense
    layer; not BN, ReLU or pooling). A training step costs about 3x this per
    image (forward, input gradient, weight gradient), so `3 * flops * batch`
    divided by the reference matmul's `2 * n^3` FLOPs is the step time in units
    that convolutions running exactly as fast as the reference matmul would give:
    a floor for any direct (non-Winograd, non-FFT) convolution algorithm.
    """
    filters, size = out_filters, image_size
    flops = size * size * 3 * 3 * 3 * filters * 2  # stem
    pool_layers = macro_pool_layers(final_arc.num_layers)
    for layer_id, op_id in enumerate(final_arc.ops):
        flops += size * size * filters * filters * 2  # 1x1 input conv
        if op_id < 4:
            kernel = 3 if op_id in (0, 1) else 5
            flops += size * size * kernel * kernel * filters * filters * 2
        if layer_id > 0:
            concat = len(final_arc.skip_sources(layer_id)) + 1
            flops += size * size * concat * filters * filters * 2
        if layer_id in pool_layers:
            # Every node so far (stem + layers 0..layer_id) is reduced to 2F at half size.
            flops += (layer_id + 2) * (size // 2) ** 2 * filters * (2 * filters) * 2
            filters, size = 2 * filters, size // 2
    return flops + filters * 10 * 2


def _bench_macro_final(config: BenchConfig) -> dict[str, Any]:
    """The final network's training step: the original's final arc at L=24, else a random arc."""
    final_arc = arch.MacroArc.parse(arch.MACRO_FINAL_ARC)
    if config.num_layers != final_arc.num_layers:
        final_arc = _random_macro_arc(config.num_layers, config.num_branches, config.seed)
    batch = _synthetic_batch(config.batch_size, config.seed)
    model = MacroNetwork(final_arc, out_filters=config.out_filters, keep_prob=config.keep_prob)
    trainer = _child_trainer(model, config)
    logging.info("Tracing the final network's step (L=%d, F=%d).", config.num_layers, config.out_filters)
    figures: dict[str, Any] = {"final_trace_s": _warm_up(trainer.train_step, batch)}
    times = [_timed_step(trainer.train_step, batch)[0] for _ in range(config.steps)]
    figures["final_step_s"] = _median(times)
    figures["final_steps_timed"] = len(times)
    figures["final_trace_count"] = trainer.train_step.experimental_get_tracing_count()
    figures["final_params"] = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    figures["final_arc_is_original"] = str(final_arc) == str(arch.MacroArc.parse(arch.MACRO_FINAL_ARC))
    figures["final_step_gflop"] = 3 * macro_network_forward_flops(final_arc, config.out_filters) * config.batch_size / 1e9
    return figures


def bench_micro(config: BenchConfig) -> dict[str, Any]:
    """Measures the micro space as `config.mode` says; returns the figures (seconds, counts)."""
    if config.mode == "final":
        return _bench_micro_final(config)
    return _bench_search(
        config,
        micro_supernet(config),
        lambda arc: MicroSupernet(
            config.num_layers,
            config.num_blocks,
            config.out_filters,
            config.keep_prob,
            config.use_aux_heads,
            static_arc=arch.MicroArc.from_flat(arc),
        ),
        lambda reward_fn: _controller_trainer(micro_search_controller, config, reward_fn),
    )


def _random_micro_arc(num_blocks: int, seed: int) -> arch.MicroArc:
    """A seeded random micro arc (for a final network with a non-standard block count)."""
    rng = np.random.default_rng(seed)
    flat = []
    for _ in range(2):
        for block in range(num_blocks):
            for _ in range(2):
                flat += [int(rng.integers(block + 2)), int(rng.integers(5))]
    return arch.MicroArc.from_flat(flat)


def _bench_micro_final(config: BenchConfig) -> dict[str, Any]:
    """The final network's training step: the original's final arc at B=5, else a random arc."""
    final_arc = arch.MicroArc.parse(arch.MICRO_FINAL_ARC)
    if config.num_blocks != final_arc.num_blocks:
        final_arc = _random_micro_arc(config.num_blocks, config.seed)
    batch = _synthetic_batch(config.batch_size, config.seed)
    model = MicroNetwork(
        final_arc,
        config.num_layers,
        config.out_filters,
        keep_prob=config.keep_prob,
        drop_path_keep_prob=config.drop_path_keep_prob,
        total_steps=630 * 348,
        use_aux_heads=config.use_aux_heads,
    )
    trainer = _child_trainer(model, config)
    logging.info("Tracing the final network's step (L=%d, F=%d).", config.num_layers, config.out_filters)
    figures: dict[str, Any] = {"final_trace_s": _warm_up(trainer.train_step, batch)}
    times = [_timed_step(trainer.train_step, batch)[0] for _ in range(config.steps)]
    figures["final_step_s"] = _median(times)
    figures["final_steps_timed"] = len(times)
    figures["final_trace_count"] = trainer.train_step.experimental_get_tracing_count()
    figures["final_params"] = int(sum(np.prod(v.shape) for v in model.optimized_variables))
    figures["final_arc_is_original"] = str(final_arc) == arch.MICRO_FINAL_ARC
    return figures



# ---------------------------------------------------------------------------------------------
# PTB (issue #4): tokens/s of the supernet vs the fixed cell, traces over varying window lengths.
# ---------------------------------------------------------------------------------------------

#: PTB presets: `search` is `scripts/ptb_search.sh`'s (enas_lm) child and controller, `final`
#: `scripts/ptb_final.sh` with enas_lm's README cell, `original_search` the original
#: `ptb_search.sh`'s 289 M-parameter supernet; `small` is a quick smoke run.
PTB_PRESETS: dict[str, BenchConfig] = {
    "small": BenchConfig(mode="search", num_layers=1, out_filters=1, batch_size=16, steps=8, num_arcs=8,
                         hidden_size=32, num_nodes=5, num_aggregate=4, controller_steps=1, num_static_arcs=2),
    "search": BenchConfig(mode="search", num_layers=1, out_filters=1, batch_size=128, steps=20, num_arcs=20,
                          hidden_size=200, num_nodes=10, num_aggregate=10, controller_steps=2),
    "original_search": BenchConfig(mode="search", num_layers=1, out_filters=1, batch_size=20, steps=10, num_arcs=10,
                                   hidden_size=720, num_nodes=12, num_aggregate=10, controller_steps=1,
                                   ptb_impl="original", num_static_arcs=2),
    "final": BenchConfig(mode="final", num_layers=1, out_filters=1, batch_size=64, steps=5, hidden_size=800,
                         num_nodes=9),
}
#: Issue #4: supernet tokens/s within 1.2x of the fixed cell's at search size, one trace.
PTB_RATIO_TARGET = 1.2
#: The original's PTB search peaked at 14 GiB; ours must stay well under it.
PTB_RSS_TARGET_MIB = 14 * 1024.0
#: Vocabulary of the synthetic stream (PTB's).
PTB_BENCH_VOCAB = 10000


def _ptb_stream(config: BenchConfig) -> np.ndarray:
    """A synthetic `[B, 40 * bptt]` token stream (timings do not depend on the token values)."""
    rng = np.random.default_rng(config.seed)
    return rng.integers(0, PTB_BENCH_VOCAB, size=(config.batch_size, 40 * config.bptt)).astype(np.int32)


def _ptb_trainer(model: keras.Model, config: BenchConfig, sample_arc=None, search: bool = True):
    """The child step of `ptb_main` for `config.ptb_impl` (search or fixed hyperparameters)."""
    from enas_tf2.train.ptb_trainer import PtbTrainConfig, PtbTrainer  # pylint: disable=g-import-not-at-top

    enas_lm = config.ptb_impl == "enas_lm"
    train_config = PtbTrainConfig(
        ptb_impl=config.ptb_impl, batch_size=config.batch_size, bptt=config.bptt,
        learning_rate=20.0 if enas_lm else 0.25, scale_lr_by_length=enas_lm, grad_bound=0.1 if enas_lm else 10.0,
        weight_decay=8e-7 if enas_lm else 1e-7, activation_reg=0.0 if search else 0.7,
        slowness_reg=1.0 if (search and enas_lm) else 0.0, average_weights=not search and enas_lm,
    )
    model.build()
    return PtbTrainer(model, train_config, sample_arc=sample_arc, arc_format=config.ptb_impl if sample_arc else None,
                      seed=config.seed)


def _ptb_step_tokens(trainer, x, y) -> tuple[float, int]:
    seconds, logs = _timed_step(trainer.train_step, x, y)
    return seconds, int(x.shape[0] * x.shape[1])


def bench_ptb(config: BenchConfig) -> dict[str, Any]:
    """Measures the PTB space as `config.mode` says; returns the figures (seconds, counts)."""
    from enas_tf2.controllers.ptb import PtbController  # pylint: disable=g-import-not-at-top
    from enas_tf2.data import ptb as ptb_data  # pylint: disable=g-import-not-at-top
    from enas_tf2.spaces.rnn import PtbNetwork, PtbSupernet  # pylint: disable=g-import-not-at-top

    stream = _ptb_stream(config)
    fixed_windows = list(ptb_data.make_window_dataset(stream, config.bptt))
    if config.mode == "final":
        cell = arch.PtbArc.parse(arch.PTB_ENAS_LM_ARC)
        if cell.num_nodes != config.num_nodes:
            cell = _random_ptb_arc(config.num_nodes, config.seed)
        model = PtbNetwork(cell, PTB_BENCH_VOCAB, config.hidden_size, ptb_impl=config.ptb_impl)
        trainer = _ptb_trainer(model, config, search=False)
        figures: dict[str, Any] = {"ptb_final_trace_s": _warm_up(trainer.train_step, *fixed_windows[0])}
        times = [_timed_step(trainer.train_step, *fixed_windows[i % len(fixed_windows)])[0] for i in range(config.steps)]
        figures["ptb_final_step_s"] = _median(times)
        figures["ptb_final_tokens_per_s"] = config.batch_size * config.bptt / figures["ptb_final_step_s"]
        figures["ptb_final_params"] = int(sum(np.prod(v.shape) for v in model.trainable_variables))
        figures["ptb_final_trace_count"] = trainer.train_step.experimental_get_tracing_count()
        return figures

    supernet = PtbSupernet(PTB_BENCH_VOCAB, config.hidden_size, config.num_nodes, ptb_impl=config.ptb_impl)
    controller = PtbController(config.num_nodes, ptb_impl=config.ptb_impl,
                               tanh_constant=2.25 if config.ptb_impl == "enas_lm" else 2.5, temperature=5.0)
    rng = tf.random.Generator.from_seed(config.seed)
    sampled = _ptb_trainer(supernet, config, sample_arc=lambda: controller.sample(rng)["arc"])
    figures = {}

    # 1. The search step: a fresh cell sampled inside every step, enas_lm's random window lengths.
    random_windows = list(ptb_data.make_window_dataset(stream, config.bptt, random_len=True, seed=config.seed))
    logging.info("Tracing the sampled PTB supernet step (H=%d, N=%d).", config.hidden_size, config.num_nodes)
    figures["child_trace_s"] = _warm_up(sampled.train_step, *random_windows[0])
    rates, arcs, lengths = [], [], set()
    for i in range(max(config.num_arcs, config.steps)):
        x, y = random_windows[i % len(random_windows)]
        seconds, logs = _timed_step(sampled.train_step, x, y)
        rates.append(int(x.shape[0] * x.shape[1]) / seconds)
        arcs.append(logs["arc"].numpy())
        lengths.add(int(x.shape[1]))
    figures["child_tokens_per_s"] = _median(rates)
    figures["child_steps_timed"] = len(rates)
    figures["distinct_arcs"] = len({tuple(arc.tolist()) for arc in arcs})
    figures["distinct_window_lengths"] = len(lengths)
    figures["child_trace_count"] = sampled.train_step.experimental_get_tracing_count()

    # 2. Supernet with a given cell vs the fixed network of that cell, same windows, interleaved.
    arc_var = tf.Variable(tf.constant(arcs[0], tf.int32), trainable=False)
    given = _ptb_trainer(supernet, config, sample_arc=lambda: tf.convert_to_tensor(arc_var))
    static_arcs = list({tuple(arc.tolist()): arc for arc in arcs}.values())[: config.num_static_arcs]
    fixed = []
    for arc in static_arcs:
        cell = arch.PtbArc.parse(arc, arc_format=config.ptb_impl)
        network = PtbNetwork(cell, PTB_BENCH_VOCAB, config.hidden_size, ptb_impl=config.ptb_impl,
                             cell_output=supernet.cell.cell_output, drop_e=supernet.dropout_rates["drop_e"],
                             drop_i=supernet.dropout_rates["drop_i"], drop_x=supernet.dropout_rates["drop_x"],
                             drop_l=supernet.dropout_rates["drop_l"], drop_o=supernet.dropout_rates["drop_o"])
        fixed.append((arc, _ptb_trainer(network, config, search=True)))
    logging.info("Tracing the given-cell supernet step and %d fixed networks.", len(fixed))
    for arc, trainer in fixed:
        arc_var.assign(arc)
        _warm_up(given.train_step, *fixed_windows[0])
        _warm_up(trainer.train_step, *fixed_windows[0])
    supernet_times, fixed_times, pair_ratios = [], [], []
    for pair in range(config.steps):
        arc, trainer = fixed[pair % len(fixed)]
        arc_var.assign(arc)
        x, y = fixed_windows[pair % len(fixed_windows)]
        if pair % 2 == 0:
            supernet_s = _timed_step(given.train_step, x, y)[0]
            fixed_s = _timed_step(trainer.train_step, x, y)[0]
        else:
            fixed_s = _timed_step(trainer.train_step, x, y)[0]
            supernet_s = _timed_step(given.train_step, x, y)[0]
        supernet_times.append(supernet_s)
        fixed_times.append(fixed_s)
        pair_ratios.append(supernet_s / fixed_s)
    tokens = config.batch_size * config.bptt
    figures["supernet_same_arcs_step_s"] = _median(supernet_times)
    figures["static_step_s"] = _median(fixed_times)
    figures["supernet_tokens_per_s"] = tokens / figures["supernet_same_arcs_step_s"]
    figures["fixed_tokens_per_s"] = tokens / figures["static_step_s"]
    figures["supernet_static_ratio"] = figures["supernet_same_arcs_step_s"] / figures["static_step_s"]
    figures["supernet_static_ratio_pairwise"] = _median(pair_ratios)
    figures["static_arcs"] = len(fixed)
    figures["given_arc_trace_count"] = given.train_step.experimental_get_tracing_count()

    # 3. The controller phase: num_aggregate samples, each scored (80 / ppl) on one window.
    reward_window = fixed_windows[1 % len(fixed_windows)]
    controller_trainer = ControllerTrainer(
        controller, lambda arc: sampled.score_window(*reward_window, arc),
        learning_rate=5e-5, entropy_weight=1e-5, bl_dec=0.999, num_aggregate=config.num_aggregate, seed=config.seed,
    )
    figures["controller_trace_s"] = _timed_step(controller_trainer.train_step)[0]
    times = [_timed_step(controller_trainer.train_step)[0] for _ in range(config.controller_steps)]
    figures["controller_step_s"] = _median(times)
    figures["controller_sample_s"] = figures["controller_step_s"] / config.num_aggregate
    figures["controller_trace_count"] = controller_trainer.train_step.experimental_get_tracing_count()
    figures["supernet_params"] = int(sum(np.prod(v.shape) for v in supernet.trainable_variables))
    return figures


def _random_ptb_arc(num_nodes: int, seed: int) -> arch.PtbArc:
    """A seeded random cell with tanh at node 0 (valid for both implementations)."""
    rng = np.random.default_rng(seed)
    predecessors = (-1,) + tuple(int(rng.integers(l)) for l in range(1, num_nodes))
    activations = (0,) + tuple(int(rng.integers(4)) for _ in range(1, num_nodes))
    return arch.PtbArc(activations=activations, predecessors=predecessors)


#: Bench function per `--space`: `config -> figures`, seconds under keys ending in `_s`.
BENCHES: dict[str, Callable[[BenchConfig], dict[str, Any]]] = {
    "macro": bench_macro, "micro": bench_micro, "ptb": bench_ptb,
}
#: Presets per space.
PRESETS: dict[str, dict[str, BenchConfig]] = {"macro": MACRO_PRESETS, "micro": MICRO_PRESETS, "ptb": PTB_PRESETS}
#: Figures (seconds) that `run` also reports in units, as `<key without _s>_units`.
UNIT_KEYS = (
    "child_step_s",
    "supernet_same_arcs_step_s",
    "static_step_s",
    "controller_sample_s",
    "final_step_s",
    "ptb_final_step_s",
)
#: Table rows: (figure key, label, unit); a row is shown when its key is in the results.
TABLE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("ref_start_s", "reference matmul, start", "s"),
    ("ref_end_s", "reference matmul, end", "s"),
    ("child_trace_s", "child step: first call (trace)", "s"),
    ("child_step_s", "child step, sampled arcs: median", "s"),
    ("child_step_units", "child step, sampled arcs: median", "units"),
    ("images_per_s", "child step, sampled arcs", "images/s"),
    ("child_tokens_per_s", "child step, sampled cells, random lengths", "tokens/s"),
    ("distinct_window_lengths", "distinct window lengths in timed steps", "lengths"),
    ("child_trace_count", "child step traces", "traces"),
    ("distinct_arcs", "distinct arcs in timed steps", "arcs"),
    ("supernet_same_arcs_step_s", "supernet step, given arcs: median", "s"),
    ("supernet_same_arcs_step_units", "supernet step, given arcs: median", "units"),
    ("static_step_s", "static network step, same arcs: median", "s"),
    ("static_step_units", "static network step, same arcs: median", "units"),
    ("static_images_per_s", "static network step", "images/s"),
    ("supernet_tokens_per_s", "supernet step, given cells", "tokens/s"),
    ("fixed_tokens_per_s", "fixed-cell network step, same cells", "tokens/s"),
    ("supernet_static_ratio", "supernet / static (medians)", "ratio"),
    ("supernet_static_ratio_pairwise", "supernet / static (median of pairs)", "ratio"),
    ("given_arc_trace_count", "given-arc supernet step traces", "traces"),
    ("controller_trace_s", "controller step: first call (trace)", "s"),
    ("controller_sample_s", "controller phase per sample", "s"),
    ("controller_sample_units", "controller phase per sample", "units"),
    ("controller_trace_count", "controller step traces", "traces"),
    ("final_trace_s", "final net step: first call (trace)", "s"),
    ("final_step_s", "final net step: median", "s"),
    ("final_step_units", "final net step: median", "units"),
    ("final_images_per_s", "final net step", "images/s"),
    ("final_trace_count", "final net step traces", "traces"),
    ("final_params", "final net trainable parameters", "params"),
    ("final_step_gflop", "final net step, conv FLOPs (3x forward)", "GFLOP"),
    ("final_flop_floor_units", "same FLOPs at the reference matmul's rate", "units"),
    ("supernet_params", "supernet trainable parameters", "params"),
    ("ptb_final_trace_s", "final LM step: first call (trace)", "s"),
    ("ptb_final_step_s", "final LM step (B x 35 tokens): median", "s"),
    ("ptb_final_step_units", "final LM step: median", "units"),
    ("ptb_final_tokens_per_s", "final LM step", "tokens/s"),
    ("ptb_final_trace_count", "final LM step traces", "traces"),
    ("ptb_final_params", "final LM trainable parameters", "params"),
    ("peak_rss_mib", "peak RSS", "MiB"),
    ("total_s", "benchmark wall time", "s"),
)


def _trace_target(config: BenchConfig, figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One trace of the sampled child step over at least `num_arcs` architectures (every space)."""
    if "child_trace_count" not in figures:
        return {}
    met = figures["child_trace_count"] == TRACE_TARGET and figures["distinct_arcs"] >= config.num_arcs
    return {"child_trace_count": dict(target=f"=={TRACE_TARGET} over >={config.num_arcs} arcs", met=met)}


def _at_most(figures: dict[str, Any], key: str, limit: float) -> dict[str, dict[str, Any]]:
    """The target `figures[key] <= limit`."""
    return {key: dict(target=f"<={limit:g}", met=figures[key] <= limit)}


def _macro_targets(config: BenchConfig, figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets that apply to this run, keyed by the figure they judge."""
    targets = _trace_target(config, figures)
    search = MACRO_PRESETS["search"]
    search_shape = (search.num_layers, search.out_filters, search.batch_size)
    if "supernet_static_ratio" in figures and (config.num_layers, config.out_filters, config.batch_size) == search_shape:
        targets.update(_at_most(figures, "supernet_static_ratio", RATIO_TARGET))
    final = MACRO_PRESETS["final"]
    if (
        figures.get("final_arc_is_original")
        and (config.out_filters, config.batch_size) == (final.out_filters, final.batch_size)
    ):
        targets.update(_at_most(figures, "final_step_units", FINAL_UNITS_TARGET))
    return targets


def _micro_targets(config: BenchConfig, figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue #3's targets that apply to this run, keyed by the figure they judge."""
    targets = _trace_target(config, figures)
    search = MICRO_PRESETS["search"]
    shape = (config.num_layers, config.num_blocks, config.out_filters, config.batch_size)
    if "child_step_units" in figures and shape == (
        search.num_layers, search.num_blocks, search.out_filters, search.batch_size
    ):
        targets.update(_at_most(figures, "supernet_static_ratio", MICRO_RATIO_TARGET))
        targets.update(_at_most(figures, "child_step_units", MICRO_SEARCH_UNITS_TARGET))
        targets.update(_at_most(figures, "peak_rss_mib", MICRO_SEARCH_RSS_TARGET_MIB))
    final = MICRO_PRESETS["final"]
    if figures.get("final_arc_is_original") and (config.num_layers, config.out_filters, config.batch_size) == (
        final.num_layers, final.out_filters, final.batch_size
    ):
        targets.update(_at_most(figures, "final_step_units", MICRO_FINAL_UNITS_TARGET))
    return targets


def _ptb_targets(config: BenchConfig, figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue #4's targets: at search size, supernet/fixed <= 1.2, one trace, RSS under 14 GiB."""
    targets = _trace_target(config, figures)
    search = PTB_PRESETS["search"]
    shape = (config.hidden_size, config.num_nodes, config.batch_size, config.ptb_impl)
    if "supernet_static_ratio" in figures and shape == (
        search.hidden_size, search.num_nodes, search.batch_size, search.ptb_impl
    ):
        targets.update(_at_most(figures, "supernet_static_ratio", PTB_RATIO_TARGET))
    if "child_trace_count" in figures:
        targets.update(_at_most(figures, "peak_rss_mib", PTB_RSS_TARGET_MIB))
    return targets


#: Targets per space: `(config, figures with units) -> {figure key: {"target": str, "met": bool}}`.
TARGETS: dict[str, Callable[[BenchConfig, dict[str, Any]], dict[str, dict[str, Any]]]] = {
    "macro": _macro_targets,
    "micro": _micro_targets,
    "ptb": _ptb_targets,
}


def run(space: str, preset: str, config: BenchConfig, ref_size: int = REF_MATMUL_SIZE) -> dict[str, Any]:
    """Runs one space's benchmark between two reference measurements.

    Args:
        space: a key of `BENCHES`.
        preset: the preset's name (recorded in the results only).
        config: what to measure.
        ref_size: side of the reference matmul; anything but the default gives
            units that do not compare with other runs (for smoke tests only).

    Returns:
        Every figure, JSON-serialisable: machine and versions, the config, both
        reference times, step seconds and units, traces, targets and whether
        all of them were met.
    """
    start = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    logging.info("Reference: median of %d %dx%d float32 NumPy matmuls.", REF_MATMUL_REPEATS, ref_size, ref_size)
    ref_start = reference_seconds(ref_size)
    figures = BENCHES[space](config)
    ref_end = reference_seconds(ref_size)
    ref = (ref_start + ref_end) / 2.0
    results: dict[str, Any] = dict(
        space=space,
        preset=preset,
        tf_version=tf.__version__,
        keras_version=keras.__version__,
        numpy_version=np.__version__,
        cpu_count=os.cpu_count(),
        # oneDNN kernels change CPU step times by 1.3-1.5x (enas_tf2/__init__.py turns them on).
        tf_enable_onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        config=_config_fields(space, config),
        ref_size=ref_size,
        ref_start_s=ref_start,
        ref_end_s=ref_end,
        ref_s=ref,
        ref_drift=ref_end / ref_start,
    )
    results.update(figures)
    for key in UNIT_KEYS:
        if key in figures:
            results[key.removesuffix("_s") + "_units"] = figures[key] / ref
    if "child_step_s" in figures:
        results["images_per_s"] = config.batch_size / figures["child_step_s"]
    if "static_step_s" in figures and space != "ptb":
        results["static_images_per_s"] = config.batch_size / figures["static_step_s"]
    if "final_step_s" in figures:
        results["final_images_per_s"] = config.batch_size / figures["final_step_s"]
    if "final_step_gflop" in figures:
        reference_gflop = 2 * ref_size**3 / 1e9
        results["final_flop_floor_units"] = figures["final_step_gflop"] / reference_gflop
    results["peak_rss_mib"] = peak_rss_mib()
    results["targets"] = TARGETS[space](config, results)
    results["targets_met"] = all(t["met"] for t in results["targets"].values())
    results["total_s"] = time.perf_counter() - start
    return results


#: BenchConfig fields that mean something for PTB (the others are the CIFAR spaces').
PTB_CONFIG_FIELDS = ("mode", "batch_size", "steps", "num_arcs", "num_static_arcs", "controller_steps",
                     "num_aggregate", "seed", "hidden_size", "num_nodes", "bptt", "ptb_impl")
#: ... and the PTB-only fields, which the CIFAR spaces do not read.
_PTB_ONLY_FIELDS = ("hidden_size", "num_nodes", "bptt", "ptb_impl")


def _config_fields(space: str, config: BenchConfig) -> dict[str, Any]:
    """The config as recorded in the results: only the fields the space reads."""
    fields = dataclasses.asdict(config)
    if space == "ptb":
        return {name: fields[name] for name in PTB_CONFIG_FIELDS}
    return {name: value for name, value in fields.items() if name not in _PTB_ONLY_FIELDS}


def _format_value(value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def format_table(
    results: dict[str, Any], table_rows: tuple[tuple[str, str, str], ...] = TABLE_ROWS, title: str | None = None
) -> str:
    """Aligned text table: metric, value, unit, target and PASS/FAIL where a target applies.

    `table_rows` and `title` let other benchmarks (`bench_replicas`) print their figures alike.
    """
    header = ("metric", "value", "unit", "target", "status")
    rows = [header]
    for key, label, unit in table_rows:
        if key not in results:
            continue
        target = results.get("targets", {}).get(key)
        rows.append((
            label,
            _format_value(results[key]),
            unit,
            target["target"] if target else "",
            ("PASS" if target["met"] else "FAIL") if target else "",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:<{widths[3]}}  {row[4]}".rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    title = title or f"enas_tf2 bench: space={results['space']} preset={results['preset']} config={results['config']}"
    return "\n".join([title] + lines)


def config_from_flags(space: str, preset: str, overrides: dict[str, int | None]) -> BenchConfig:
    """The preset's config with the given non-None fields replaced.

    Raises:
        FlagError: an unknown preset for the space, or a non-positive override.
    """
    presets = PRESETS[space]
    if preset not in presets:
        raise FlagError(f"--preset={preset!r} is not a preset of --space={space}; expected one of {', '.join(presets)}.")
    for name, value in overrides.items():
        if value is not None and value < 1:
            raise FlagError(f"--{name} must be a positive integer. Received: --{name}={value}")
    return dataclasses.replace(presets[preset], **{k: v for k, v in overrides.items() if v is not None})


#: Integer flags that override a preset field of the same name.
_OVERRIDE_FLAGS = (
    ("steps", "timed steps of each step function (search: also the supernet/static pairs)"),
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
    flags.DEFINE_enum("space", "macro", sorted(BENCHES), "Search space to benchmark.")
    flags.DEFINE_string("preset", "small", "Preset of the space (small, search, final).")
    flags.DEFINE_integer("num_arcs", 20, "Sampled child steps must cover at least this many architectures.")
    flags.DEFINE_integer("seed", 0, "Seed of weights, synthetic data and the controller.")
    flags.DEFINE_string("json_out", None, "Also write the JSON results to this file.")
    flags.DEFINE_integer("ref_size", REF_MATMUL_SIZE, "Side of the reference matmul. Change it only for smoke "
                         "tests: units are then not comparable with other runs.")
    for name, help_text in _OVERRIDE_FLAGS:
        flags.DEFINE_integer(name, None, f"Overrides the preset: {help_text}.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    overrides = {name: values[name].value for name, _ in _OVERRIDE_FLAGS}
    overrides["num_arcs"] = values.num_arcs
    config = config_from_flags(values.space, values.preset, overrides)
    config = dataclasses.replace(config, seed=values.seed)
    results = run(values.space, values.preset, config, values.ref_size)
    line = json.dumps(results, sort_keys=True)
    # Results are the program's output (stdout), not log events: scripts grep the JSON line.
    print(format_table(results), flush=True)
    print(JSON_PREFIX + line, flush=True)
    if values.json_out:
        with open(values.json_out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    define_flags()
    app.run(main)
