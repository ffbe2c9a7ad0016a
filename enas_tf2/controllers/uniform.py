"""The random search policy: every arc position drawn uniformly (random search with weight sharing).

Li & Talwalkar (2019) and Sciuto et al. (2020) made this the baseline an ENAS controller has to
beat: the same supernet, trained on uniformly sampled architectures, and the final architecture
derived by the same procedure from uniform samples. `UniformPolicy` stands in for a space's
controller (`--search_policy=random`): it has the controller's `sample()` interface and arc
layout (from the controller's `choice_counts()`), no weights, and is never trained. Each
position is independent and uniform over its values, which is exactly the distribution of the
controller's own sampler when every logit is zero (a skip bit: sigmoid(0) = 1/2).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from enas_tf2.controllers import reinforce
from enas_tf2.errors import FlagError

#: Values of `--search_policy`.
SEARCH_POLICIES = ("controller", "random")


class UniformPolicy(tf.Module):
    """Samples arcs uniformly, position by position, in a controller's encoding.

    Args:
        choice_counts: how many values each arc position takes (`controller.choice_counts()`).
        skip_positions: the positions that are skip bits (macro), for `skip_rate`.

    Raises:
        FlagError: a count below 1.
    """

    skip_weight = 0.0

    def __init__(self, choice_counts: Sequence[int], skip_positions: Sequence[int] = (), name: str = "uniform_policy"):
        super().__init__(name=name)
        counts = np.asarray(list(choice_counts), dtype=np.int64)
        if counts.ndim != 1 or counts.size == 0 or (counts < 1).any():
            raise FlagError(f"A uniform policy needs a positive number of choices per arc position; got {counts.tolist()}.")
        self.arc_length = int(counts.size)
        self._counts = tf.constant(counts, dtype=tf.float32)
        mask = np.zeros(counts.size, np.float32)
        mask[list(skip_positions)] = 1.0
        self._skip_mask = tf.constant(mask)
        self._num_skips = float(max(mask.sum(), 1.0))
        # -log pi(a) of every arc: the same for all of them.
        self._nll = float(np.log(counts.astype(np.float64)).sum())

    @classmethod
    def like(cls, controller) -> UniformPolicy:
        """The uniform policy over `controller`'s space (its `choice_counts()` and skip positions)."""
        skips = controller.skip_positions() if hasattr(controller, "skip_positions") else ()
        return cls(controller.choice_counts(), skips)

    @property
    def trainable_variables(self) -> tuple:
        return ()

    def sample(self, rng: tf.random.Generator | None = None, forced_arc: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """A uniform arc (or `forced_arc`), with the controller's fields: log-prob and entropy are constant."""
        if forced_arc is not None:
            arc = reinforce.check_forced_arc(forced_arc, self.arc_length, "the controller's arc length")
        else:
            if rng is None:
                raise FlagError("UniformPolicy.sample needs an rng, or a forced_arc.")
            draws = rng.uniform([self.arc_length], dtype=tf.float32)
            arc = tf.cast(tf.minimum(tf.floor(draws * self._counts), self._counts - 1.0), tf.int32)
        skip_count = tf.reduce_sum(tf.cast(arc, tf.float32) * self._skip_mask)
        return {
            "arc": arc,
            "log_prob": tf.constant(-self._nll, tf.float32),
            "entropy": tf.constant(self._nll, tf.float32),
            "skip_penalty": tf.constant(0.0, tf.float32),
            "skip_count": skip_count,
            "skip_rate": skip_count / self._num_skips,
        }
