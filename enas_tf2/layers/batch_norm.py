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

Under a `tf.distribute` strategy with several replicas, training-mode statistics
are those of the *global* batch (sums all-reduced across replicas), so a
distributed step normalises exactly as one device with the whole batch would.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2.collectives import cross_replica_sum, replica_local_statistics_active

#: The original's BN decay and epsilon (ENAS_SPEC.md, conventions).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
#: Input dtypes of the fused kernel (statistics, scale and offset stay float32): --precision's three.
FUSED_DTYPES = (tf.float32, tf.bfloat16, tf.float16)


#: oneDNN's 16-bit batch norm is fast only when the channels fill whole vectors of this many.
FAST_16BIT_CHANNEL_MULTIPLE = 16


def normalise_16bit_in_float32(channels: int) -> bool:
    """Whether 16-bit inputs of `channels` channels go through the float32 kernel (cast in and out).

    On a CPU, oneDNN's bfloat16 fused batch norm (forward + backward) is 5-15x slower than its
    float32 kernel unless the channels are a multiple of 16 (AMX Xeon, batch 144: 36 channels at
    32x32 9.9 ms float32, 67.3 ms bfloat16, 15.3 ms cast to float32 and back; 72 channels at 16x16
    5.3, 27.2, 7.4 ms; with 32, 64, 96 or 144 channels bfloat16 is as fast as float32 and the casts
    only cost). GPUs' 16-bit kernels are fast, so with a GPU the input's dtype is kept. Read at
    trace time.
    """
    return channels % FAST_16BIT_CHANNEL_MULTIPLE != 0 and not tf.config.list_logical_devices("GPU")


@keras.saving.register_keras_serializable(package="enas_tf2")
class BatchNorm(keras.layers.BatchNormalization):
    """`BatchNormalization` with the original's defaults on the fused kernel.

    Args:
        momentum: decay of the moving averages, `m <- momentum * m + (1 - momentum) * batch_stat`.
        epsilon: added to the variance; the original uses 1e-5 (1e-3 for the
            macro search's "masked" BN).
        **kwargs: passed to `keras.layers.BatchNormalization`.

    Call arguments:
        inputs: `[batch, height, width, channels]` float32, bfloat16 or float16 (the
            fused kernel keeps statistics, scale and offset in float32 for 16-bit inputs;
            on a CPU with a channel count oneDNN's 16-bit kernel is slow on, by the float32
            kernel: `normalise_16bit_in_float32`;
            other ranks fall back to the Keras implementation). The output has the input's dtype.
        training: batch statistics and moving-average updates when True.

    Example:
        >>> bn = BatchNorm()
        >>> bn(tf.ones([2, 4, 4, 3]), training=True).shape
        TensorShape([2, 4, 4, 3])
    """

    def __init__(self, momentum: float = BN_MOMENTUM, epsilon: float = BN_EPSILON, **kwargs):
        super().__init__(momentum=momentum, epsilon=epsilon, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if inputs.shape.rank != 4 or self.axis not in (-1, 3) or inputs.dtype not in FUSED_DTYPES:
            return super().call(inputs, training=training, mask=mask)
        if inputs.dtype != tf.float32 and normalise_16bit_in_float32(inputs.shape[-1]):
            return tf.cast(self.call(tf.cast(inputs, tf.float32), training=training), inputs.dtype)
        if training and self.trainable:
            replica_context = distributed_replica_context()
            if replica_context is not None:
                return self._synchronized_training_call(inputs, replica_context)
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
            self._update_moving_statistics(mean, variance)
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

    def _update_moving_statistics(self, mean: tf.Tensor, unbiased_variance: tf.Tensor) -> None:
        decay = 1.0 - self.momentum
        self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
        self.moving_variance.assign_sub((self.moving_variance - unbiased_variance) * decay)

    def _synchronized_training_call(self, inputs: tf.Tensor, replica_context) -> tf.Tensor:
        outputs, mean, variance, count = global_batch_norm(
            inputs, self.gamma, self.beta, self.epsilon, replica_context
        )
        unbiased = variance * count / tf.maximum(count - 1.0, 1.0)
        self._update_moving_statistics(tf.stop_gradient(mean), tf.stop_gradient(unbiased))
        return outputs


def distributed_replica_context():
    """The replica context when batch statistics span several replicas, else None.

    None on one device, in a cross-replica context, and inside `replica_local_statistics()`
    (each replica scoring its own architecture in the controller phase).
    """
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1 and not replica_local_statistics_active():
        return context
    return None


def global_batch_norm(inputs: tf.Tensor, gamma, beta, epsilon: float, replica_context):
    """NHWC batch norm with the statistics of the global batch: per-channel sums all-reduced.

    Returns `(outputs, mean, biased variance, number of values per channel)`; the all-reduce
    carries gradients, so the backward pass is that of one big batch too.
    """
    input_dtype = inputs.dtype
    inputs = tf.cast(inputs, tf.float32)  # 16-bit inputs (--precision): sums and moments in float32
    gamma, beta = tf.cast(gamma, tf.float32), tf.cast(beta, tf.float32)
    count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), tf.float32)
    local = [tf.reduce_sum(inputs, axis=[0, 1, 2]), tf.reduce_sum(tf.square(inputs), axis=[0, 1, 2]), count]
    total_sum, total_square, total_count = cross_replica_sum(local)
    mean = total_sum / total_count
    variance = tf.maximum(total_square / total_count - tf.square(mean), 0.0)
    outputs = tf.nn.batch_normalization(inputs, mean, variance, beta, gamma, epsilon)
    return tf.cast(outputs, input_dtype), mean, variance, total_count
