"""Batch normalisation on the fused TensorFlow kernel.

Why not plain `keras.layers.BatchNormalization`: on the TensorFlow backend Keras 3
normalises with separate moment/normalise ops, which on this CPU is about twice
as slow as the fused kernel, and a macro child has dozens of BN layers per step.
This subclass keeps Keras' weights, config and checkpoint layout and only swaps
the arithmetic for `FusedBatchNormV3` on 4-D NHWC inputs.

It also reproduces the original's statistics exactly (ENAS_SPEC.md, conventions):
the fused kernel normalises with the biased batch variance but feeds the
unbiased (n / (n - 1)) variance into the moving average, as TF1's
`fused_batch_norm` did.
"""

from __future__ import annotations

import keras
import tensorflow as tf

#: The original's BN decay and epsilon (ENAS_SPEC.md, conventions).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="enas_tf2")
class BatchNorm(keras.layers.BatchNormalization):
    """`BatchNormalization` with the original's defaults on the fused kernel.

    Args:
        momentum: decay of the moving averages, `m <- momentum * m + (1 - momentum) * batch_stat`.
        epsilon: added to the variance; the original uses 1e-5 (1e-3 for the
            macro search's "masked" BN).
        **kwargs: passed to `keras.layers.BatchNormalization`.

    Call arguments:
        inputs: `[batch, height, width, channels]` float32 (other ranks fall back
            to the Keras implementation).
        training: batch statistics and moving-average updates when True.

    Example:
        >>> bn = BatchNorm()
        >>> bn(tf.ones([2, 4, 4, 3]), training=True).shape
        TensorShape([2, 4, 4, 3])
    """

    def __init__(self, momentum: float = BN_MOMENTUM, epsilon: float = BN_EPSILON, **kwargs):
        super().__init__(momentum=momentum, epsilon=epsilon, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if inputs.shape.rank != 4 or self.axis not in (-1, 3) or inputs.dtype != tf.float32:
            return super().call(inputs, training=training, mask=mask)
        if training and self.trainable:
            outputs, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=inputs,
                scale=self.gamma,
                offset=self.beta,
                mean=tf.constant([], tf.float32),
                variance=tf.constant([], tf.float32),
                epsilon=self.epsilon,
                exponential_avg_factor=1.0,
                data_format="NHWC",
                is_training=True,
            )
            decay = 1.0 - self.momentum
            self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
            self.moving_variance.assign_sub((self.moving_variance - variance) * decay)
            return outputs
        outputs, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=inputs,
            scale=self.gamma,
            offset=self.beta,
            mean=self.moving_mean,
            variance=self.moving_variance,
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=False,
        )
        return outputs
