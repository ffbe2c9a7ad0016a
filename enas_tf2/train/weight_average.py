"""enas_lm's evaluation-time weight average (ENAS_PTB_SPEC.md 2.4)."""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import tensorflow as tf


class WeightAverage(tf.Module):
    """A uniform (Polyak) average of the weights since averaging started, swappable for evaluation.

    enas_lm's "ASGD" is plain SGD plus bookkeeping: after the trigger, after every step
    `k = 1, 2, ...`, `avg <- avg + (w - avg) / k` for every trainable variable (`avg` and `k`
    start at 0 — the reference's counter starts at a random Glorot value, a quirk the spec says
    to fix). Evaluation backs the weights up, copies the averages in, evaluates and restores.
    The trainer decides when to `start()` (GPU: the non-monotone trigger; TPU: step 2000, with
    `update()` before that step's SGD update). A `tf.Module`, so a `tf.train.Checkpoint` saves
    the averages, the counter and the `started` flag.

    Args:
        variables: the variables to average (the model's `trainable_variables`).

    Example:
        >>> w = tf.Variable([1.0])
        >>> average = WeightAverage([w])
        >>> for value in (1.0, 2.0, 6.0):
        ...     _ = w.assign([value]); average.update()
        >>> with average.averaged():
        ...     float(w.numpy()[0])
        3.0
        >>> float(w.numpy()[0])
        6.0
    """

    def __init__(self, variables: Sequence[tf.Variable], name: str = "weight_average"):
        super().__init__(name=name)
        self._variables = list(variables)
        if not self._variables:
            raise ValueError("WeightAverage needs at least one variable. Received: variables=[]")
        with self.name_scope:
            self.averages = [
                tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f"average_{i}")
                for i, v in enumerate(self._variables)
            ]
            self.backups = [
                tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f"backup_{i}")
                for i, v in enumerate(self._variables)
            ]
            self.count = tf.Variable(0.0, trainable=False, name="count")
            self.started = tf.Variable(False, trainable=False, name="started")
        self._swapped = False

    def start(self) -> None:
        """Marks averaging as started (the trainer then calls `update` after every step)."""
        self.started.assign(True)

    def update(self) -> None:
        """`k += 1; avg += (w - avg) / k` for every variable (callable inside a `tf.function`)."""
        count = self.count.assign_add(1.0)
        for variable, average in zip(self._variables, self.averages):
            average.assign_add((tf.convert_to_tensor(variable) - average) / count)

    def swap_in(self) -> None:
        """Backs the weights up and replaces them by their averages."""
        if self._swapped:
            raise RuntimeError("WeightAverage.swap_in called twice without swap_out; the backup would be lost.")
        for variable, average, backup in zip(self._variables, self.averages, self.backups):
            backup.assign(variable)
            variable.assign(average)
        self._swapped = True

    def swap_out(self) -> None:
        """Restores the weights saved by `swap_in`."""
        if not self._swapped:
            raise RuntimeError("WeightAverage.swap_out called without swap_in.")
        for variable, backup in zip(self._variables, self.backups):
            variable.assign(backup)
        self._swapped = False

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """Evaluates inside the block with the averaged weights; restores them afterwards."""
        self.swap_in()
        try:
            yield
        finally:
            self.swap_out()

    def reset(self) -> None:
        """Clears the averages, the counter and the `started` flag."""
        for average in self.averages:
            average.assign(tf.zeros_like(average))
        self.count.assign(0.0)
        self.started.assign(False)
