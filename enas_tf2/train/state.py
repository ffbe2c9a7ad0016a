"""Checkpointing and resuming of everything a run needs to continue exactly.

One `tf.train.Checkpoint` holds the child, the controller, both optimizers, the
baseline, the epoch/step counters and the `tf.random.Generator` states, under a
`tf.train.CheckpointManager` in `<output_dir>/checkpoints`. The manager writes a
checkpoint's files first and only then updates its index file, so a process
killed mid-save leaves the previous checkpoint as the latest valid one.

Keras 3 keeps sublayers held in Python lists and dicts in its own containers,
which `tf.train.Checkpoint` does not walk (keras-team/keras#18398, back with
Keras 3.15 / TF 2.21): a checkpoint of a model alone would miss every weight of
its layer lists (the optimizer happens to save the trainable ones, but batch-norm
statistics and seed states would be lost). `with_all_weights` therefore adds
each Keras object's full `variables` list, in its deterministic creation order,
next to the object itself.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import keras
import tensorflow as tf
from absl import logging

from enas_tf2.errors import FlagError

CHECKPOINT_SUBDIR = "checkpoints"


def prepare_output_dir(output_dir: str, reset: bool) -> None:
    """Creates `output_dir`; with `reset`, deletes it first (the original's `--reset_output_dir`).

    Raises:
        FlagError: if `output_dir` is empty or is an existing file.
    """
    if not output_dir:
        raise FlagError("--output_dir is required: give a folder for checkpoints, logs and TensorBoard events.")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise FlagError(f"--output_dir={output_dir} exists and is not a folder; give a folder path.")
    if reset and os.path.isdir(output_dir):
        logging.info("Deleting %s (--reset_output_dir)", output_dir)
        shutil.rmtree(output_dir)
    os.makedirs(output_dir, exist_ok=True)


#: Suffix of the entry that holds a Keras object's full variable list.
ALL_WEIGHTS_SUFFIX = "_all_weights"


def with_all_weights(trackables: dict[str, Any]) -> dict[str, Any]:
    """`trackables` plus, for each Keras layer or model, `<name>_all_weights`: its `variables` list."""
    items = dict(trackables)
    for name, value in trackables.items():
        if isinstance(value, keras.layers.Layer):
            items[name + ALL_WEIGHTS_SUFFIX] = list(value.variables)
    return items


class RunState:
    """Counters and checkpoint of one run (search or final).

    Args:
        output_dir: the run's folder; checkpoints go to `output_dir/checkpoints`.
        max_to_keep: newest checkpoints kept (the original kept 2 for CIFAR).
        restore_dir: the run folder to resume from, if not `output_dir` (a non-chief
            worker saves into its own temporary folder and resumes from the chief's).
        **trackables: everything else to save (models, optimizers, variables,
            generators), by name.
    """

    def __init__(self, output_dir: str, max_to_keep: int = 2, restore_dir: str | None = None, **trackables: Any):
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(
            epoch=self.epoch, global_step=self.global_step, **with_all_weights(trackables)
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(output_dir, CHECKPOINT_SUBDIR), max_to_keep=max_to_keep
        )
        # Non-chief workers save into a temporary folder but resume from the chief's checkpoints.
        self.restore_dir = os.path.join(restore_dir or output_dir, CHECKPOINT_SUBDIR)

    def restore_latest(self) -> bool:
        """Restores the newest checkpoint if there is one; returns whether it did."""
        latest = tf.train.latest_checkpoint(self.restore_dir)
        if latest is None:
            return False
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        logging.info("Resumed from %s at epoch %d, step %d", latest, int(self.epoch), int(self.global_step))
        return True

    def save(self) -> str:
        """Writes a checkpoint numbered by the global step."""
        path = self.manager.save(checkpoint_number=int(self.global_step))
        logging.info("Saved checkpoint %s", path)
        return path
