"""The controllers' hand-written LSTM cell (ENAS_SPEC.md 6.1).

Keras' `LSTMCell` has biases, separate input and recurrent kernels and the gate
order `i, f, c, o`; the original controllers use one bias-free kernel applied to
`[x, h_prev]` with the gate order `i, f, o, g`. Writing the cell by hand keeps
the parameter count (`2n x 4n`) and the weight layout of the original, so a
checkpoint's numbers mean the same thing as the TF1 variables.
"""

from __future__ import annotations

import keras
import tensorflow as tf

#: All controller weights are initialised uniform(-0.1, 0.1) (ENAS_SPEC.md 6.1).
CONTROLLER_INIT_RANGE = 0.1


def controller_initializer() -> keras.initializers.Initializer:
    """uniform(-0.1, 0.1), the initialiser of every controller weight (spec 6.1)."""
    return keras.initializers.RandomUniform(-CONTROLLER_INIT_RANGE, CONTROLLER_INIT_RANGE)


@keras.saving.register_keras_serializable(package="enas_tf2")
class ControllerLSTMCell(keras.layers.Layer):
    """One-layer LSTM step without bias: `[i f o g] = [x, h_prev] . W`.

    `i, f, o = sigmoid(.)`, `g = tanh(.)`, `c = i*g + f*c_prev`,
    `h = o*tanh(c)`. There is no forget-gate bias and no dropout, as in the
    original's `stack_lstm` with one layer.

    Args:
        units: hidden size `n` (64 for the CIFAR controllers, 100 for PTB).
        kernel_initializer: initialiser of `W [input_dim + n, 4n]`; default
            uniform(-0.1, 0.1).

    Call arguments:
        inputs: `[batch, input_dim]` float32 (the controllers use batch 1 and
            `input_dim = n`, so `W` is `[2n, 4n]`).
        states: tuple `(c_prev, h_prev)`, each `[batch, n]`.

    Returns:
        `(h, (c, h))`: the new hidden state and the new state tuple.

    Example:
        >>> cell = ControllerLSTMCell(4)
        >>> zeros = tf.zeros([1, 4])
        >>> cell(zeros, (zeros, zeros))[0].shape
        TensorShape([1, 4])
    """

    def __init__(self, units: int, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"ControllerLSTMCell expected a positive integer units. Received: units={units!r}")
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer or controller_initializer())

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim + self.units, 4 * self.units),
            initializer=self.kernel_initializer,
        )
        self.built = True

    def call(self, inputs, states):
        c_prev, h_prev = states
        gates = tf.matmul(tf.concat([inputs, h_prev], axis=-1), self.kernel)
        i, f, o, g = tf.split(gates, 4, axis=-1)
        c = tf.sigmoid(i) * tf.tanh(g) + tf.sigmoid(f) * c_prev
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, (c, h)

    def zero_state(self, batch_size: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
        """The all-zeros `(c, h)` every controller starts from (spec 6.1)."""
        zeros = tf.zeros([batch_size, self.units], dtype=self.compute_dtype)
        return zeros, zeros

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
