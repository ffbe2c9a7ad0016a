"""The original's PTB search batch norm (`src/ptb/ptb_ops.py`, ENAS_SPEC.md 8.2 / Q-16)."""

from __future__ import annotations

import keras
import tensorflow as tf

#: The original's PTB-specific batch norm: decay 0.999, epsilon 1.0.
PTB_BN_MOMENTUM = 0.999
PTB_BN_EPSILON = 1.0


@keras.saving.register_keras_serializable(package="enas_tf2")
class PtbBatchNorm(keras.layers.Layer):
    """The original's PTB search batch norm: batch axis only, eps 1.0, decay 0.999 (ENAS_SPEC.md 8.2).

    `src/ptb/ptb_ops.batch_norm`: training normalises with the biased batch variance,
    `gamma * (x - mean) / sqrt(eps + var) + beta`, and moves the moving statistics towards the
    batch's at every call (every time step of the window); inference uses the moving
    statistics. Keras' BatchNormalization differs in epsilon, momentum and the unbiased
    variance update, hence this layer.

    The moving averages use TF1's `assign_moving_average`, whose default `zero_debias=True`
    keeps a 0-initialised biased average `b` and an update count `k` and sets
    `moving = b / (1 - decay^k)`: after the first update the moving mean/variance equal the
    first batch's, and their initial values (0 and 1) are forgotten. `zero_debias=False` gives
    the plain `moving -= (1 - decay) * (moving - batch)`.

    Args:
        momentum: the decay, 0.999.
        epsilon: added to the variance inside the square root, 1.0.
        zero_debias: TF1's debiased moving averages (default, as the original ran).

    Call arguments:
        inputs: `[batch, features]`.
        training: Python bool: batch statistics and moving-average updates.
    """

    def __init__(
        self,
        momentum: float = PTB_BN_MOMENTUM,
        epsilon: float = PTB_BN_EPSILON,
        zero_debias: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= momentum < 1.0 or epsilon <= 0.0:
            raise ValueError(
                f"PtbBatchNorm expects 0 <= momentum < 1 and epsilon > 0. Received: momentum={momentum}, "
                f"epsilon={epsilon}"
            )
        self.momentum = momentum
        self.epsilon = epsilon
        self.zero_debias = zero_debias

    def build(self, input_shape):
        features = int(input_shape[-1])
        self.gamma = self.add_weight(name="scale", shape=(features,), initializer="ones")
        self.beta = self.add_weight(name="offset", shape=(features,), initializer="zeros")
        self.moving_mean = self.add_weight(
            name="moving_mean", shape=(features,), initializer="zeros", trainable=False
        )
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=(features,), initializer="ones", trainable=False
        )
        if self.zero_debias:
            self.biased_mean = self.add_weight(
                name="biased_mean", shape=(features,), initializer="zeros", trainable=False
            )
            self.biased_variance = self.add_weight(
                name="biased_variance", shape=(features,), initializer="zeros", trainable=False
            )
            self.num_updates = self.add_weight(name="num_updates", shape=(), initializer="zeros", trainable=False)
        self.built = True

    def _update_moving(self, mean: tf.Tensor, variance: tf.Tensor) -> None:
        decay = 1.0 - self.momentum
        if not self.zero_debias:
            self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
            self.moving_variance.assign_sub((self.moving_variance - variance) * decay)
            return
        count = self.num_updates.assign_add(1.0)
        debias = 1.0 - tf.pow(tf.constant(self.momentum, tf.float32), count)
        biased_mean = self.biased_mean.assign_sub((self.biased_mean - mean) * decay)
        biased_variance = self.biased_variance.assign_sub((self.biased_variance - variance) * decay)
        self.moving_mean.assign(biased_mean / debias)
        self.moving_variance.assign(biased_variance / debias)

    def normalize(self, inputs: tf.Tensor, training: bool) -> tf.Tensor:
        """The layer's computation, callable inside a `tf.while_loop` body without `__call__`."""
        if training:
            mean, variance = tf.nn.moments(inputs, axes=[0])
            self._update_moving(mean, variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) * tf.math.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def call(self, inputs, training=None):
        return self.normalize(inputs, bool(training))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, epsilon=self.epsilon, zero_debias=self.zero_debias)
        return config
