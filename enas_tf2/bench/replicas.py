"""Search step times on one device against N replicas of a `MirroredStrategy`, in one process.

    python -m enas_tf2.bench.replicas --space=macro|micro --preset=small|search --replicas=2

The CPU (or, on a GPU machine, each GPU) gives the replicas: without GPUs the CPU is split
into `--replicas` logical devices, as `--cpu_replicas` does for a run. Both sides are built
through the task from the same bench preset as `python -m enas_tf2.bench`, start from the same
weights and are measured alternately in one process, so load from other processes hits both
alike; what is compared is

* the child's search step (an architecture sampled inside the step) on the same **global**
  batch: one device takes it whole, each replica takes `batch / N` and the gradient is
  all-reduced (issue #6's "step time of 1 vs 2 replicas");
* one controller update of `num_aggregate` samples: one device scores them one after the
  other, the replicas share them (`controllers.trainer.ReplicaRewards`).

Ratios (one device / N replicas; above 1 means the replicas are faster) are the figures to
quote; absolute seconds are also given in units of the reference matmul (`timing`). On a 2-core
CPU the replicas share the same two cores, so no speed-up is to be expected there: the figures
measure what distribution costs, not what it gains on GPUs.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import keras
import tensorflow as tf
from absl import app, flags, logging

from enas_tf2 import distribute, graph_optimization
from enas_tf2.bench import config as bench_config
from enas_tf2.bench import images, report, timing
from enas_tf2.controllers.trainer import ControllerTrainer, ReplicaRewards
from enas_tf2.configs.run import GRAPPLER_SETTINGS
from enas_tf2.errors import FlagError
from enas_tf2.tasks.image_trainer import ImageChildTrainer

#: The spaces whose search distributes over replicas in this benchmark.
SPACES = ("macro", "micro")
#: Figures reported in units too.
UNIT_KEYS = ("child_step_1_s", "child_step_n_s", "controller_step_1_s", "controller_step_n_s")


@dataclasses.dataclass
class Side:
    """One side of the comparison: its compiled steps and their inputs."""

    child: ImageChildTrainer
    controller: ControllerTrainer
    train_batches: Any


def _global_batches(dataset: tf.data.Dataset, global_batch: int, strategy: tf.distribute.Strategy):
    """An endless iterator of global batches, split over the strategy's replicas if it has several."""
    return iter(distribute.distributed_dataset(strategy, dataset.repeat().batch(global_batch, drop_remainder=True)))


def build_side(config: bench_config.BenchConfig, strategy: tf.distribute.Strategy, initial: list | None) -> Side:
    """The supernet, its trainer and the controller's trainer under `strategy`, from `initial` weights.

    The task's own reward batches and replica rewards need the data; the bench's are synthetic,
    so the reward side is assembled here the way `enas_tf2.run` assembles it.
    """
    task = images.image_task(config)
    batch_size = task.config.data.batch_size
    replicas = strategy.num_replicas_in_sync
    train_images, train_labels = images.synthetic_batch(task.child_config, batch_size, config.seed)
    reward_images, reward_labels = images.synthetic_batch(task.child_config, batch_size, config.seed + 1)
    reward_slices = tf.data.Dataset.from_tensor_slices((reward_images, reward_labels))
    with strategy.scope():
        keras.utils.set_random_seed(config.seed)
        supernet = task.build_child()
        controller = task.build_controller()
        if initial is not None:
            for variable, value in zip(supernet.variables + controller.variables, initial):
                variable.assign(value)
        rewards = _global_batches(reward_slices, batch_size * replicas, strategy)
        trainer = ControllerTrainer.from_config(
            task.controller_config,
            controller,
            reward_fn=(lambda arc: child.score_batch(*next(rewards), arc)) if replicas == 1 else None,
            seed=config.seed,
            strategy=strategy,
            replica_rewards=ReplicaRewards(rewards, lambda *args: child.score_batch(*args)) if replicas > 1 else None,
        )
        child = task.build_child_trainer(supernet, trainer.sample_arc_tensor, strategy)
    train_batches = _global_batches(tf.data.Dataset.from_tensor_slices((train_images, train_labels)), batch_size,
                                    strategy)
    return Side(child, trainer, train_batches)


def measure(config: bench_config.BenchConfig, strategy: tf.distribute.Strategy) -> dict[str, Any]:
    """Traces both sides, then times their child steps and controller updates alternately."""
    one = build_side(config, tf.distribute.get_strategy(), None)
    initial = [v.numpy() for v in one.child.model.variables + one.controller.controller.variables]
    many = build_side(config, strategy, initial)
    figures: dict[str, Any] = {}
    for name, side in (("1", one), ("n", many)):
        logging.info("Tracing the %s side's child step and controller update.", name)
        figures[f"child_trace_{name}_s"] = timing.warm_up(side.child.train_step, side.train_batches)
        figures[f"controller_trace_{name}_s"] = timing.timed_step(side.controller.train_step)[0]
    for figure, count, step_of in (
        ("child_step", config.steps, lambda side: timing.timed_step(side.child.train_step, side.train_batches)[0]),
        ("controller_step", config.controller_steps, lambda side: timing.timed_step(side.controller.train_step)[0]),
    ):
        # Alternate which side goes first, so a change of machine load hits both alike.
        times_1, times_n = timing.alternate(lambda _: step_of(one), lambda _: step_of(many), count)
        figures[f"{figure}_1_s"] = timing.median(times_1)
        figures[f"{figure}_n_s"] = timing.median(times_n)
    figures["child_speedup"] = figures["child_step_1_s"] / figures["child_step_n_s"]
    figures["controller_speedup"] = figures["controller_step_1_s"] / figures["controller_step_n_s"]
    figures["child_trace_count_n"] = many.child.train_step.experimental_get_tracing_count()
    figures["controller_trace_count_n"] = many.controller.train_step.experimental_get_tracing_count()
    return figures


TABLE_ROWS = (
    ("grappler", "Grappler (--grappler)", ""),
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


def run(config: bench_config.BenchConfig, preset: str, replicas: int) -> dict[str, Any]:
    """Both sides between two reference measurements; every figure, JSON-serialisable.

    Raises:
        FlagError: the strategy does not have `replicas` replicas (a GPU machine has one per GPU).
    """
    start = time.perf_counter()
    fields = bench_config.recorded_fields(config)
    strategy = distribute.make_strategy("mirrored", 0 if tf.config.list_physical_devices("GPU") else replicas)
    if strategy.num_replicas_in_sync != replicas:
        raise FlagError(f"--replicas={replicas}, but the strategy has {strategy.num_replicas_in_sync} replicas "
                        "(one per GPU): pass the number of GPUs.")
    with graph_optimization.configured(config.grappler, search=True) as grappler:  # as a search run
        figures, references = timing.between_references(lambda: measure(config, strategy))
    results: dict[str, Any] = dict(
        space=config.space, preset=preset, replicas=replicas,
        devices=[str(d) for d in strategy.extended.worker_devices], tf_version=tf.__version__, config=fields,
        ref_start_s=references.start_s, ref_end_s=references.end_s, grappler=graph_optimization.state(grappler),
    )
    results.update(figures)
    results.update(timing.units(figures, UNIT_KEYS, references.mean_s))
    results["peak_rss_mib"] = timing.peak_rss_mib()
    results["total_s"] = time.perf_counter() - start
    return results


def format_table(results: dict[str, Any]) -> str:
    """The bench's table with "N replicas" spelled out."""
    replicas = f"{results['replicas']} replicas"
    rows = tuple((key, label.replace("N replicas", replicas), unit) for key, label, unit in TABLE_ROWS)
    title = (f"enas_tf2 bench.replicas: space={results['space']} preset={results['preset']} "
             f"replicas={results['replicas']} devices={results['devices']}")
    return report.format_table(results, rows, title)


def define_flags() -> None:
    flags.DEFINE_enum("space", "macro", list(SPACES), "Search space to benchmark.")
    flags.DEFINE_string("preset", "small", "Search preset of `python -m enas_tf2.bench` (small or search).")
    flags.DEFINE_integer("replicas", 2, "Replicas of the mirrored side (logical CPUs, or the GPU count).")
    flags.DEFINE_integer("steps", None, "Overrides the preset's timed child steps per side.")
    flags.DEFINE_integer("controller_steps", None, "Overrides the preset's timed controller updates per side.")
    flags.DEFINE_enum("grappler", "auto", list(GRAPPLER_SETTINGS), "The programs' --grappler (auto: off, as for "
                      "every search).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flags.FLAGS
    if values.replicas < 2:
        raise FlagError(f"--replicas must be at least 2. Received: {values.replicas}")
    config = dataclasses.replace(bench_config.config_from_flags(
        values.space, values.preset, {"steps": values.steps, "controller_steps": values.controller_steps}
    ), grappler=values.grappler)
    fields = bench_config.recorded_fields(config)
    if fields["mode"] != "search":
        raise FlagError(f"--preset={values.preset} is a final preset; this benchmark times search steps.")
    if fields["batch_size"] % values.replicas:
        raise FlagError(f"The preset's batch {fields['batch_size']} does not split over {values.replicas} replicas.")
    results = run(config, values.preset, values.replicas)
    print(format_table(results), flush=True)
    print(report.json_line(results), flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
