"""Endless input streams that resume where they stopped: a dataset read from a checkpointed position.

An exact resume needs every input stream to continue with the element it would have given next.
`tf.data` iterators can be checkpointed, but not the distributed ones, and a checkpoint then
holds their prefetch buffers (about 19 MB for a CIFAR-10 stream). The streams here are instead
*positioned*: each element depends only on its number (the datasets key their shuffles and
augmentation on `(seed, element number)`, `data.image_pipeline`), so a stream is a factory
`start -> dataset from element start on` plus an int64 counter of the elements read, which the
run's checkpoint holds like any other variable. After the checkpoint is restored, `start()`
opens the dataset at the counter.

The counter moves where the element is taken: in eager code or inside a compiled step (the
controller's update reads its reward batches in the graph), on one device or in the
cross-replica context of a distributed step.
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf


class ResumableStream:
    """An endless iterator over `make_dataset(start)`, with its position in a checkpoint.

    Args:
        make_dataset: `start -> tf.data.Dataset` of the elements from number `start` on.
        name: names the position variable (`<name>_position`) in checkpoints.
        wrap: applied to the dataset before iterating, e.g. distributing it over replicas.

    Attributes:
        position: int64 variable, the number of elements read so far (what a checkpoint holds).
    """

    def __init__(self, make_dataset: Callable[[int], tf.data.Dataset], name: str = "stream",
                 wrap: Callable[[tf.data.Dataset], Any] | None = None):
        # Not a tf.Module: the checkpoint must hold the position only, never the iterator's own state.
        self.name = name
        self._make_dataset = make_dataset
        self._wrap = wrap
        self._iterator = None
        # Written once per element also from a replica context: only the first replica's add counts.
        self.position = tf.Variable(0, dtype=tf.int64, trainable=False, name=f"{name}_position",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def start(self) -> "ResumableStream":
        """Opens the dataset at `position` (call it after the checkpoint is restored)."""
        dataset = self._make_dataset(int(self.position.numpy()))
        self._iterator = iter(dataset if self._wrap is None else self._wrap(dataset))
        return self

    def __iter__(self) -> "ResumableStream":
        return self

    def __next__(self):
        if self._iterator is None:
            raise RuntimeError(f"The stream {self.name!r} was not started: call start() once its position is restored.")
        self.position.assign_add(1)
        return next(self._iterator)
