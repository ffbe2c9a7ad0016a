"""Factorized reduction: halve the resolution without losing half the pixels."""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2.layers.batch_norm import BatchNorm
from enas_tf2.layers.initializers import he_normal
from enas_tf2.precision import convolution_dtype


@keras.saving.register_keras_serializable(package="enas_tf2")
class FactorizedReduction(keras.layers.Layer):
    """Stride-2 reduction by two shifted 1x1 convolutions (ENAS_SPEC.md 3.2).

    A 1x1 stride-2 conv sees only the even pixels; a second path on the input
    shifted one pixel up-left sees the odd ones. The two `filters/2`-channel
    halves are concatenated and batch-normalised. No ReLU inside.

    Args:
        filters: output channels, even.

    Example:
        >>> FactorizedReduction(8)(tf.ones([2, 8, 8, 4]), training=True).shape
        TensorShape([2, 4, 4, 8])
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        if filters <= 0 or filters % 2:
            raise ValueError(
                f"FactorizedReduction needs a positive even number of filters. Received: filters={filters}"
            )
        self.filters = filters
        conv_args = dict(use_bias=False, padding="valid", kernel_initializer=he_normal(), dtype=convolution_dtype())
        self.path1_conv = keras.layers.Conv2D(filters // 2, 1, name="path1_conv", **conv_args)
        self.path2_conv = keras.layers.Conv2D(filters // 2, 1, name="path2_conv", **conv_args)
        self.bn = BatchNorm(name="bn")

    def build(self, input_shape):
        if any(size is not None and size % 2 for size in input_shape[1:3]):
            raise ValueError(
                f"FactorizedReduction needs an even height and width. Received: input_shape={input_shape}"
            )
        self.path1_conv.build(input_shape)
        self.path2_conv.build(input_shape)
        self.bn.build(tuple(input_shape[:-1]) + (self.filters,))

    def call(self, inputs, training=None):
        path1 = self.path1_conv(inputs[:, ::2, ::2, :])
        # Shift up-left by one pixel: drop the first row/column; the zero row and
        # column the original pads at the bottom/right are never sampled by the
        # stride-2 subsampling of an even-sized map, so they need not exist.
        path2 = self.path2_conv(inputs[:, 1::2, 1::2, :])
        return self.bn(tf.concat([path1, path2], axis=-1), training=training)

    def compute_output_shape(self, input_shape):
        height = None if input_shape[1] is None else (input_shape[1] + 1) // 2
        width = None if input_shape[2] is None else (input_shape[2] + 1) // 2
        return (input_shape[0], height, width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters)
        return config
