"""The supernet cell's architecture tensor ("arc rows") and the cell output's node weights.

The supernet cell reads the architecture as an int32 `[N, 2]` tensor, one row
`(predecessor, activation)` per node with canonical activation ids
(`arch.PTB_ACTIVATION_NAMES`: 0 tanh, 1 relu, 2 identity, 3 sigmoid) and row 0 = `(-1, f_0)`.
`ptb_arc_rows(PtbArc)` builds it from Python data; `ptb_arc_rows_from_flat` converts either
reference's flat controller sample inside a graph.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.errors import ArcError


def ptb_arc_rows(arc: arch.PtbArc) -> np.ndarray:
    """The supernet's arc tensor for `arc`: int32 `[N, 2]` rows `(predecessor, activation)`.

    Row 0 is `(-1, f_0)`; activations use the canonical ids of `arch.PTB_ACTIVATION_NAMES`.

    Raises:
        ArcError: `arc` is invalid.

    Example:
        >>> ptb_arc_rows(arch.PtbArc.parse("0 0 0 1 3")).tolist()
        [[-1, 0], [0, 0], [1, 3]]
    """
    arc.validate()
    return np.stack([np.asarray(arc.predecessors), np.asarray(arc.activations)], axis=1).astype(np.int32)


def ptb_arc_rows_from_flat(flat: tf.Tensor, arc_format: str) -> tf.Tensor:
    """Converts a flat int32 arc (a controller's sample) to `[N, 2]` arc rows, in graph ops.

    Args:
        flat: int32 `[2N - 1]` ("original": `f_0, p_1, f_1, ...`) or `[2L]` ("enas_lm":
            `p_1, f_1, ...` with enas_lm function ids, node 0 implicit tanh; `N = L + 1`).
        arc_format: "original" or "enas_lm" (no "auto": the length is static per model).

    Returns:
        int32 `[N, 2]`. Values are not validated (a traced step cannot raise); validate arcs
        from users with `arch.PtbArc.parse` first.
    """
    flat = tf.cast(tf.convert_to_tensor(flat), tf.int32)
    if arc_format == "original":
        head = tf.stack([tf.constant(arch.PTB_CELL_INPUT, tf.int32), flat[0]])[None]
        pairs = tf.reshape(flat[1:], [-1, 2])
    elif arc_format == "enas_lm":
        head = tf.constant([[arch.PTB_CELL_INPUT, 0]], tf.int32)
        pairs = tf.reshape(flat, [-1, 2])
        functions = tf.gather(tf.constant(arch.ENAS_LM_ACTIVATION_IDS, tf.int32), pairs[:, 1])
        pairs = tf.stack([pairs[:, 0], functions], axis=1)
    else:
        raise ArcError(f"arc_format must be 'original' or 'enas_lm' here. Received: {arc_format!r}")
    return tf.concat([head, pairs], axis=0)


def output_weights(arc_rows: tf.Tensor, num_nodes: int, cell_output: str) -> tf.Tensor:
    """float32 `[N]`: each node's weight in the cell output (an average over nodes).

    "mean_all": `1 / (N - 1)` for nodes `1..N-1`, 0 for node 0. "loose_ends": `1 / k` for the
    `k` nodes no row names as predecessor (node 0 counts in the bookkeeping, as in both
    references, but node 1 always reads it when `N >= 2`).
    """
    if cell_output == "mean_all":
        return tf.constant([0.0] + [1.0 / (num_nodes - 1)] * (num_nodes - 1), tf.float32)
    predecessors = arc_rows[1:, 0]
    used = tf.reduce_max(tf.one_hot(predecessors, num_nodes, dtype=tf.float32), axis=0)
    loose = 1.0 - used if num_nodes > 1 else tf.ones([1], tf.float32)
    return loose / tf.reduce_sum(loose)
