"""Search step times on one device against N replicas of a `MirroredStrategy`, in one process.

    python -m enas_tf2.bench_replicas --space=macro|micro --preset=small|search --replicas=2

The CPU (or, on a GPU machine, each GPU) gives the replicas: without GPUs the CPU is split
into `--replicas` logical devices, as `--cpu_replicas` does for a run. Both sides are built
from the same preset as `enas_tf2.bench` and measured alternately in one process, so load from
other processes hits both alike; what is compared is

* the child's search step (an architecture sampled inside the step) on the same **global**
  batch: one device takes it whole, each replica takes `batch / N` and the gradient is
  all-reduced (issue #6's "step time of 1 vs 2 replicas");
* one controller update of `num_aggregate` samples: one device scores them one after the
  other, the replicas share them (`ControllerTrainer._distributed_train_step`).

Ratios (one device / N replicas; above 1 means the replicas are faster) are the figures to
quote; absolute seconds are also given in units of the reference matmul (`enas_tf2.bench`).
On a 2-core CPU the replicas share the same two cores, so no speed-up is to be expected there:
the figures measure what distribution costs, not what it gains on GPUs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import keras
import tensorflow as tf
from absl import app, flags, logging

from enas_tf2 import bench, distribute
from enas_tf2.controllers.trainer import ControllerTrainer, ReplicaRewards
from enas_tf2.errors import FlagError
from enas_tf2.train.child import ChildTrainer
from enas_tf2.train.optimizers import MomentumSGD

#: Per space: (supernet builder, controller builder) from `enas_tf2.bench`.
SPACES = {
    "macro": (bench.macro_supernet, bench.macro_search_controller),
    "micro": (bench.micro_supernet, bench.micro_search_controller),
}
#: Figures reported in units too.
UNIT_KEYS = ("child_step_1_s", "child_step_n_s", "controller_step_1_s", "controller_step_n_s")


@dataclasses.dataclass
class _Side:
    """One side of the comparison: its compiled steps and their inputs."""

    child: ChildTrainer
    controller: ControllerTrainer
    train_batches: Any


def _global_batches(dataset: tf.data.Dataset, global_batch: int, strategy: tf.distribute.Strategy):
    """An endless iterator of global batches, split over the strategy's replicas if it has several."""
    return iter(distribute.distributed_dataset(strategy, dataset.repeat().batch(global_batch, drop_remainder=True)))


def _build_side(space: str, config: bench.BenchConfig, strategy: tf.distribute.Strategy, initial) -> _Side:
    """The supernet, its trainer and the controller's trainer under `strategy`, from `initial` weights."""
    build_supernet, build_controller = SPACES[space]
    replicas = strategy.num_replicas_in_sync
    images, labels = bench._synthetic_batch(config.batch_size, config.seed)  # pylint: disable=protected-access
    reward_images, reward_labels = bench._synthetic_batch(config.batch_size, config.seed + 1)  # pylint: disable=protected-access
    reward_slices = tf.data.Dataset.from_tensor_slices((reward_images, reward_labels))
    with strategy.scope():
        keras.utils.set_random_seed(config.seed)
        supernet = build_supernet(config)
        supernet.build((None, 32, 32, 3))
        controller, settings = build_controller(config)
        if initial is not None:
            for variable, value in zip(supernet.variables + controller.variables, initial):
                variable.assign(value)
        rewards = _global_batches(reward_slices, config.batch_size * replicas, strategy)
        controller_trainer = ControllerTrainer(
            controller,
            reward_fn=(lambda arc: child.score_next(rewards, arc)) if replicas == 1 else None,
            replica_rewards=ReplicaRewards(rewards, lambda *args: child.score_batch(*args)) if replicas > 1 else None,
            strategy=strategy,
            **settings,
        )
        child = ChildTrainer(
            supernet,
            MomentumSGD(bench.CHILD_LR, momentum=0.9, nesterov=True),
            config.l2_reg,
            sample_arc=controller_trainer.sample_arc_tensor,
            strategy=strategy,
        )
    train_batches = _global_batches(tf.data.Dataset.from_tensor_slices((images, labels)), config.batch_size, strategy)
    return _Side(child, controller_trainer, train_batches)


def measure(space: str, config: bench.BenchConfig, strategy: tf.distribute.Strategy) -> dict[str, Any]:
    """Traces both sides, then times their child steps and controller updates alternately."""
    one = _build_side(space, config, tf.distribute.get_strategy(), None)
    initial = [v.numpy() for v in one.child.model.variables + one.controller.controller.variables]
    many = _build_side(space, config, strategy, initial)
    figures: dict[str, Any] = {}
    for name, side in (("1", one), ("n", many)):
        logging.info("Tracing the %s side's child step and controller update.", name)
        figures[f"child_trace_{name}_s"] = bench._warm_up(side.child.train_step, side.train_batches)  # pylint: disable=protected-access
        figures[f"controller_trace_{name}_s"] = bench._timed_step(side.controller.train_step)[0]  # pylint: disable=protected-access
    times: dict[str, list[float]] = {}
    timed = (("child_step", lambda side: side.child.train_step(side.train_batches), config.steps),
             ("controller_step", lambda side: side.controller.train_step(), config.controller_steps))
    for figure, step_of, count in timed:
        for step in range(count):
            # Alternate which side goes first, so a change of machine load hits both alike.
            for name, side in (("1", one), ("n", many))[:: 1 if step % 2 == 0 else -1]:
                times.setdefault(f"{figure}_{name}_s", []).append(bench._timed_step(lambda: step_of(side))[0])  # pylint: disable=protected-access
    figures.update({key: bench._median(values) for key, values in times.items()})  # pylint: disable=protected-access
    figures["child_speedup"] = figures["child_step_1_s"] / figures["child_step_n_s"]
    figures["controller_speedup"] = figures["controller_step_1_s"] / figures["controller_step_n_s"]
    figures["child_trace_count_n"] = many.child.train_step.experimental_get_tracing_count()
    figures["controller_trace_count_n"] = many.controller.train_step.experimental_get_tracing_count()
    return figures


TABLE_ROWS = (
    ("ref_start_s", "reference matmul, start", "s"),
    ("ref_end_s", "reference matmul, end", "s"),
    ("child_trace_1_s", "child step, 1 device: first call (trace)", "s"),
    ("child_trace_n_s", "child step, N replicas: first call (trace)", "s"),
    ("child_step_1_s", "child step, 1 device: median", "s"),
    ("child_step_n_s", "child step, N replicas: median", "s"),
    ("child_step_1_units", "child step, 1 device: median", "units"),
    ("child_step_n_units", "child step, N replicas: median", "units"),
    ("child_speedup", "child step: 1 device / N replicas", "ratio"),
    ("child_trace_count_n", "child step traces, N replicas", "traces"),
    ("controller_trace_1_s", "controller update, 1 device: first call", "s"),
    ("controller_trace_n_s", "controller update, N replicas: first call", "s"),
    ("controller_step_1_s", "controller update, 1 device: median", "s"),
    ("controller_step_n_s", "controller update, N replicas: median", "s"),
    ("controller_speedup", "controller update: 1 device / N replicas", "ratio"),
    ("controller_trace_count_n", "controller update traces, N replicas", "traces"),
    ("peak_rss_mib", "peak RSS", "MiB"),
    ("total_s", "benchmark wall time", "s"),
)


def run(space: str, preset: str, config: bench.BenchConfig, replicas: int) -> dict[str, Any]:
    """Both sides between two reference measurements; every figure, JSON-serialisable."""
    start = time.perf_counter()
    strategy = distribute.make_strategy("mirrored", 0 if tf.config.list_physical_devices("GPU") else replicas)
    if strategy.num_replicas_in_sync != replicas:
        raise FlagError(f"--replicas={replicas}, but the strategy has {strategy.num_replicas_in_sync} replicas "
                        "(one per GPU): pass the number of GPUs.")
    ref_start = bench.reference_seconds()
    figures = measure(space, config, strategy)
    ref_end = bench.reference_seconds()
    ref = (ref_start + ref_end) / 2.0
    results: dict[str, Any] = dict(
        space=space, preset=preset, replicas=replicas, devices=[str(d) for d in strategy.extended.worker_devices],
        tf_version=tf.__version__, config=dataclasses.asdict(config), ref_start_s=ref_start, ref_end_s=ref_end,
    )
    results.update(figures)
    for key in UNIT_KEYS:
        results[key.removesuffix("_s") + "_units"] = figures[key] / ref
    results["peak_rss_mib"] = bench.peak_rss_mib()
    results["total_s"] = time.perf_counter() - start
    return results


def format_table(results: dict[str, Any]) -> str:
    replicas = f"{results['replicas']} replicas"
    rows = tuple((key, label.replace("N replicas", replicas), unit) for key, label, unit in TABLE_ROWS)
    title = (f"enas_tf2 bench_replicas: space={results['space']} preset={results['preset']} "
             f"replicas={results['replicas']} devices={results['devices']}")
    return bench.format_table(results, rows, title)


def define_flags() -> None:
    flags.DEFINE_enum("space", "macro", sorted(SPACES), "Search space to benchmark.")
    flags.DEFINE_string("preset", "small", "Search preset of `enas_tf2.bench` (small or search).")
    flags.DEFINE_integer("replicas", 2, "Replicas of the mirrored side (logical CPUs, or the GPU count).")
    flags.DEFINE_integer("steps", None, "Overrides the preset's timed child steps per side.")
    flags.DEFINE_integer("controller_steps", None, "Overrides the preset's timed controller updates per side.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    if values.replicas < 2:
        raise FlagError(f"--replicas must be at least 2. Received: {values.replicas}")
    config = bench.config_from_flags(
        values.space, values.preset, {"steps": values.steps, "controller_steps": values.controller_steps}
    )
    if config.mode != "search":
        raise FlagError(f"--preset={values.preset} is a final preset; this benchmark times search steps.")
    if config.batch_size % values.replicas:
        raise FlagError(f"The preset's batch {config.batch_size} does not split over {values.replicas} replicas.")
    results = run(values.space, values.preset, config, values.replicas)
    print(format_table(results), flush=True)
    print(bench.JSON_PREFIX + json.dumps(results, sort_keys=True), flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
