"""Convolution -> batch norm blocks, the unit every CIFAR child is built from."""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2.layers.batch_norm import BN_EPSILON, BatchNorm
from enas_tf2.layers.initializers import he_normal
from enas_tf2.precision import convolution_dtype


@keras.saving.register_keras_serializable(package="enas_tf2")
class ConvBN(keras.layers.Layer):
    """`[ReLU] -> conv (no bias) -> BN -> [ReLU]`, stride and padding SAME.

    The search and fixed macro networks use the same pieces in a different order
    (ENAS_SPEC.md 4.2 vs 4.3: conv-BN-ReLU in search, ReLU-conv-BN in fixed), so
    both orders are a constructor choice rather than two classes.

    Args:
        filters: output channels.
        kernel_size: square kernel side.
        strides: spatial stride.
        separable: depthwise `k x k` (multiplier 1) then pointwise `1 x 1`, as one
            op with nothing in between (spec 3.3).
        relu_before: apply ReLU to the input first (the fixed networks' order).
        relu_after: apply ReLU to the output (the search networks' order).
        bn_epsilon: 1e-5 normally; 1e-3 for the macro search's "masked" BN.

    Example:
        >>> ConvBN(8, 3)(tf.ones([2, 8, 8, 3]), training=True).shape
        TensorShape([2, 8, 8, 8])
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        separable: bool = False,
        relu_before: bool = False,
        relu_after: bool = False,
        bn_epsilon: float = BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if filters <= 0 or kernel_size <= 0:
            raise ValueError(
                f"ConvBN expects positive filters and kernel_size. Received: "
                f"filters={filters}, kernel_size={kernel_size}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.separable = separable
        self.relu_before = relu_before
        self.relu_after = relu_after
        self.bn_epsilon = bn_epsilon
        # A separable block runs float32 end to end under a mixed policy (one cast in, one out):
        # oneDNN's bf16 depthwise kernels are 3-6x slower than float32 ones for 5x5 or strided convs
        # on CPU (measured on AMX), the pointwise half is too small to gain from 16 bits, and its BN
        # then reads the conv's float32 output as it is.
        self.block_dtype = "float32" if separable and _is_mixed(self.dtype_policy) else None
        if separable:
            self.conv = keras.layers.SeparableConv2D(
                filters,
                kernel_size,
                strides=strides,
                padding="same",
                use_bias=False,
                depthwise_initializer=he_normal(),
                pointwise_initializer=he_normal(),
                name="sep_conv",
                dtype=self.block_dtype,
            )
        else:
            self.conv = keras.layers.Conv2D(
                filters,
                kernel_size,
                strides=strides,
                padding="same",
                use_bias=False,
                kernel_initializer=he_normal(),
                name="conv",
                dtype=convolution_dtype(),
            )
        self.bn = BatchNorm(epsilon=bn_epsilon, name="bn", dtype=self.block_dtype)

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.bn.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = tf.cast(inputs, self.block_dtype) if self.block_dtype else inputs
        x = tf.nn.relu(x) if self.relu_before else x
        x = self.bn(self.conv(x), training=training)
        x = tf.nn.relu(x) if self.relu_after else x
        return tf.cast(x, self.compute_dtype) if x.dtype != self.compute_dtype else x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            separable=self.separable,
            relu_before=self.relu_before,
            relu_after=self.relu_after,
            bn_epsilon=self.bn_epsilon,
        )
        return config


def _is_mixed(policy) -> bool:
    """A Keras mixed policy (16-bit compute, float32 variables)."""
    return policy.compute_dtype != policy.variable_dtype
