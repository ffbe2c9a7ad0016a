"""Drop path: zero a whole branch for some examples (ENAS_SPEC.md 3.5, 5.4).

Used only by the micro final network, on the output of every non-identity op of
every cell, with a keep probability that falls linearly with training progress
and with the cell's depth: early in training and near the stem almost nothing
is dropped.
"""

from __future__ import annotations

import tensorflow as tf


def drop_path_keep_prob(
    cell_index: int,
    num_cells: int,
    step: tf.Tensor,
    total_steps: int,
    final_keep_prob: float,
) -> tf.Tensor:
    """`k(c, g) = 1 - min(1, (g+1)/S) * (c+1)/num_cells * (1 - final_keep_prob)` (spec 5.4).

    Args:
        cell_index: `c`, 0-based index of the cell among all `num_cells` cells.
        num_cells: `num_layers + 2`, the number of cells of the network.
        step: `g`, the number of completed updates before this one (the
            optimizer's `iterations`), a scalar tensor.
        total_steps: `S = num_epochs * num_train_batches`.
        final_keep_prob: `--child_drop_path_keep_prob`, reached by the last cell
            at the end of training.

    Returns:
        float32 scalar keep probability.
    """
    progress = tf.minimum(1.0, tf.cast(step + 1, tf.float32) / float(max(total_steps, 1)))
    depth = (cell_index + 1) / num_cells
    return 1.0 - progress * depth * (1.0 - final_keep_prob)


def drop_path(inputs: tf.Tensor, keep_prob: tf.Tensor, seed: tf.Tensor | None = None) -> tf.Tensor:
    """`x * m / k` with one `m ~ Bernoulli(k)` per example, drawn as `floor(k + U[0, 1))`.

    Args:
        inputs: `[batch, ...]` float tensor.
        keep_prob: scalar keep probability `k` in (0, 1].
        seed: optional int32/int64 `[2]` stateless seed (tests); default uses the
            global stateful RNG.

    Returns:
        The tensor with dropped examples zeroed and the kept ones scaled by `1/k`.
    """
    keep_prob = tf.cast(keep_prob, inputs.dtype)
    shape = tf.stack([tf.shape(inputs)[0]] + [1] * (inputs.shape.rank - 1))
    if seed is None:
        noise = tf.random.uniform(shape, dtype=inputs.dtype)
    else:
        noise = tf.random.stateless_uniform(shape, seed=seed, dtype=inputs.dtype)
    mask = tf.floor(keep_prob + noise)
    return inputs * (mask / keep_prob)
