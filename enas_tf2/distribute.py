"""`--distribution=none|mirrored|multi_worker`: which `tf.distribute` strategy a run uses, and who writes.

* `none`: TensorFlow's default strategy (one device); the runs behave exactly as
  without distribution.
* `mirrored`: `tf.distribute.MirroredStrategy` over the GPUs of this machine (on a
  machine without GPUs, `--cpu_replicas=N` splits the CPU into N logical devices,
  which is how the tests exercise it).
* `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy` over the hosts that
  `TF_CONFIG` lists; every host runs the same command.

Only the chief writes checkpoints, TensorBoard events and result files. Other
workers must still take part in every collective a save performs, so they save
into a temporary folder of their own (`worker_output_dir`) that is deleted at the
end, as the `tf.distribute` guide recommends.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2.errors import FlagError

DISTRIBUTIONS = ("none", "mirrored", "multi_worker")


def split_cpu(num_devices: int) -> None:
    """Splits the first CPU into `num_devices` logical devices (before TensorFlow initialises them).

    Raises:
        FlagError: TensorFlow has already initialised its devices, so the split cannot take effect.
    """
    cpus = tf.config.list_physical_devices("CPU")
    configured = tf.config.get_logical_device_configuration(cpus[0])
    if configured is not None and len(configured) == num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as error:
        raise FlagError(f"--cpu_replicas={num_devices} must take effect before TensorFlow starts: {error}") from None


def make_strategy(distribution: str, cpu_replicas: int = 0) -> tf.distribute.Strategy:
    """The strategy for `--distribution` (call before building any model or variable).

    Raises:
        FlagError: an unknown distribution, `multi_worker` without `TF_CONFIG`, or `--cpu_replicas`
            with GPUs present or with `none`.
    """
    if distribution not in DISTRIBUTIONS:
        raise FlagError(f"--distribution={distribution!r} is unknown; expected one of {', '.join(DISTRIBUTIONS)}.")
    if cpu_replicas and distribution == "none":
        raise FlagError("--cpu_replicas splits the CPU for --distribution=mirrored or multi_worker; drop it.")
    if cpu_replicas and tf.config.list_physical_devices("GPU"):
        raise FlagError("--cpu_replicas is for machines without GPUs; with GPUs, each GPU is a replica. Drop it.")
    if distribution == "none":
        return tf.distribute.get_strategy()
    if distribution == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise FlagError(
                "--distribution=multi_worker needs TF_CONFIG naming every worker and this one's index, e.g. "
                "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                "\"task\": {\"type\": \"worker\", \"index\": 0}}' on the first host (see BUILD.md)."
            )
        if cpu_replicas:
            split_cpu(cpu_replicas)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if cpu_replicas > 1:
        split_cpu(cpu_replicas)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas)])
    return tf.distribute.MirroredStrategy()


def task_info() -> tuple[str | None, int]:
    """This process's (task type, index) from `TF_CONFIG`, or (None, 0) without it."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    return task.get("type"), int(task.get("index", 0))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (always, except on non-chief workers)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_index = task_info()
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    if "chief" in cluster:
        return task_type == "chief"
    return task_type in (None, "worker") and task_index == 0


def worker_output_dir(output_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this process saves: `output_dir` for the chief, a temporary folder beside it for other workers."""
    if is_chief(strategy):
        return output_dir
    task_type, task_index = task_info()
    # Beside, not inside, the run folder: the chief may reset that folder while this one starts.
    return f"{output_dir.rstrip(os.sep)}.{task_type}_{task_index}_tmp"


def remove_worker_output_dir(output_dir: str, strategy: tf.distribute.Strategy) -> None:
    """Deletes a non-chief worker's temporary folder (nothing for the chief)."""
    folder = worker_output_dir(output_dir, strategy)
    if folder != output_dir:
        shutil.rmtree(folder, ignore_errors=True)


def num_replicas(strategy: tf.distribute.Strategy) -> int:
    return int(strategy.num_replicas_in_sync)


def from_first_replica(context: tf.distribute.ReplicaContext, value: tf.Tensor) -> tf.Tensor:
    """Replica 0's `value` on every replica, by one all-reduce.

    Each worker samples architectures with its own generator; they agree when the workers share
    a seed, and this makes the step's architecture the first replica's even if they did not.
    """
    first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), value.dtype)
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value * first)


def any_worker(strategy: tf.distribute.Strategy) -> Callable[[Sequence[bool]], list[bool]]:
    """A function of flags that returns, for each, whether it is true on any worker (one all-reduce).

    Under `multi_worker` the workers must save and stop at the same step (`train.interrupt`);
    this is how they agree. Every worker must call it at the same points, like any collective.
    """

    @tf.function
    def combine(flags: tf.Tensor) -> tf.Tensor:
        # SUM, not MAX: the collective all-reduce implements SUM and MEAN only. (A replica
        # context's all_reduce of a value that is not per-replica fails here: "destinations can
        # not be empty".)
        per_replica = strategy.run(tf.identity, args=(flags,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def any_true(flags: Sequence[bool]) -> list[bool]:
        return [bool(value > 0) for value in combine(tf.constant([float(f) for f in flags], tf.float32)).numpy()]

    return any_true


def weights_digest(variables) -> str:
    """A short SHA-256 of the variables' bytes: equal on every worker when they are in sync."""
    digest = hashlib.sha256()
    for variable in variables:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()[:16]


def log_weights_digest(*models) -> None:
    """Logs this process's `weights_digest` of the models: on several workers, equal digests show they ended in sync."""
    task_type, task_index = task_info()
    digest = weights_digest([v for model in models for v in model.variables])
    logging.info("Weights digest (%s %d): %s", task_type or "local", task_index, digest)


def distributed_dataset(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """`dataset` (of global batches) split over the replicas; unchanged with one replica.

    Each worker takes its share of every element (`AutoShardPolicy.DATA`): the workers all run the
    same seeded pipeline, so sharding by files, which the default policy tries first, would not apply.
    """
    if num_replicas(strategy) == 1:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def log_replicas(strategy: tf.distribute.Strategy, distribution: str, batch_size: int, batch_unit: str,
                 jit_compile: bool) -> None:
    """With several replicas: how the global batch is split, and that `--jit_compile` is not used."""
    replicas = num_replicas(strategy)
    if replicas == 1:
        return
    logging.info("Distribution: %s, %d replicas in sync, global batch %d %s (%d per replica)%s", distribution,
                 replicas, batch_size, batch_unit, batch_size // replicas, "" if is_chief(strategy) else "; not the chief")
    if jit_compile:
        logging.warning("--jit_compile is not used for the distributed training step.")
