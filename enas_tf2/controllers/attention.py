"""The additive attention that scores earlier controller steps (ENAS_SPEC.md 6.1).

All three controllers pick earlier steps (macro skip connections, micro block
inputs, PTB predecessors) with the same score
`u_j = v^T tanh(W_1^T h_j + W_2^T h)`, in row-vector form
`tanh(h_j . W_1 + h . W_2) . v`. `h_j . W_1` does not depend on the current
step, so the original caches it when step `j` is produced ("anchors_w_1");
this layer splits the score the same way: `anchor_key(h_j)` once per step,
`call(keys, h)` for all candidates at once.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2.controllers.lstm import controller_initializer


@keras.saving.register_keras_serializable(package="enas_tf2")
class ControllerAttention(keras.layers.Layer):
    """Scores `m` cached anchor keys against the current hidden state.

    Args:
        units: hidden size `n`; `W_1, W_2` are `[n, n]` and `v` is `[n, 1]`,
            all bias-free, initialised uniform(-0.1, 0.1) (spec 6.1).

    Call arguments:
        anchor_keys: `[m, n]` float32, the stacked `h_j . W_1` of the candidates
            (from `anchor_key`).
        query: `[1, n]` float32, the current hidden state `h`.

    Returns:
        `[m]` float32 scores `u_j` (raw: logit post-processing is the caller's).

    Example:
        >>> attention = ControllerAttention(4)
        >>> attention.build(None)
        >>> keys = attention.anchor_key(tf.ones([3, 4]))
        >>> attention(keys, tf.zeros([1, 4])).shape
        TensorShape([3])
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"ControllerAttention expected a positive integer units. Received: units={units!r}")
        self.units = units

    def build(self, input_shape=None):
        # The weight shapes depend only on `units`, so `build` ignores the input
        # shape and can be called up front: nothing is created inside a trace.
        n = self.units
        self.w_1 = self.add_weight(name="w_1", shape=(n, n), initializer=controller_initializer())
        self.w_2 = self.add_weight(name="w_2", shape=(n, n), initializer=controller_initializer())
        self.v = self.add_weight(name="v", shape=(n, 1), initializer=controller_initializer())
        self.built = True

    def anchor_key(self, h: tf.Tensor) -> tf.Tensor:
        """`h . W_1` (`[k, n]` -> `[k, n]`), cached when a step becomes a candidate."""
        return tf.matmul(h, self.w_1)

    def call(self, anchor_keys, query):
        scores = tf.matmul(tf.tanh(anchor_keys + tf.matmul(query, self.w_2)), self.v)
        return tf.reshape(scores, [-1])

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
