"""The micro space's five ops (`arch.MICRO_OPS`), in their search and fixed forms (ENAS_SPEC.md 5.2, 5.3).

Search form (a supernet slot that can read any of `num_inputs` nodes): a separable conv is two
per-input separable convs in sequence, whose weights are stacked per input node as the original
stores them; the stacks of every op of a slot are columns of the slot's one weight
(`per_input_columns()`), the slot reads the chosen node's row *before* its `OpChoice` switch
(`layers.per_input.select_rows`), and `call(x, selected=row)` applies this op's part. Pools and
identity have no weights (no columns).

Fixed form (one op of a final cell, stride 2 when a reduction cell's op reads node 0 or 1):
separable conv is twice `ReLU -> sep conv kxk -> BN`, the stride on the first; pools are 3x3
with the stride; identity is a factorized reduction at stride 2.

A builder takes `(filters, num_inputs=None, strides=1, name=None)`: with `num_inputs` it makes
the search form, else the fixed form.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from enas_tf2.arch import MICRO_OPS
from enas_tf2.layers.conv import ConvBN
from enas_tf2.layers.per_input import sep_conv_bn, sep_conv_columns, unpack_sep_conv_row
from enas_tf2.layers.reduction import FactorizedReduction

#: `(spatial size, channels)` of a cell input, known when the network is built.
Shape = tuple[int, int]


def pool(x: tf.Tensor, kind: str, strides: int = 1) -> tf.Tensor:
    """3x3 average (padding not counted, TF semantics) or max pooling, SAME (spec 3.4)."""
    pool_fn = tf.nn.avg_pool2d if kind == "avg" else tf.nn.max_pool2d
    return pool_fn(x, ksize=3, strides=strides, padding="SAME")


@keras.saving.register_keras_serializable(package="enas_tf2")
class PerInputSepConvOp(keras.layers.Layer):
    """Search form of a separable conv: `ReLU -> sep conv -> per-input BN`, twice, weights per input node.

    It owns no weights: its eight stacks (`per_input_columns`: depthwise, pointwise, gamma and
    beta of each conv, `[num_inputs, width]` each) are columns of the owning slot's one
    per-input weight, which reads the chosen node's row before its switch and passes this op
    its part (`call(x, selected=row)`).

    Args:
        filters: `F`.
        kernel_size: `k` (3 or 5).
        num_inputs: nodes the owning slot can read.
    """

    #: Separable convs in sequence.
    REPEATS = 2

    def __init__(self, filters: int, kernel_size: int, num_inputs: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.num_inputs = num_inputs

    def build(self, input_shape=None):
        self.built = True

    def per_input_columns(self) -> list[tuple[int, keras.initializers.Initializer]]:
        """`(width, initializer)` of both convs' stacks, in the order `call` reads its row."""
        return sep_conv_columns(self.kernel_size, self.filters) * self.REPEATS

    def call(self, inputs, selected: tf.Tensor):
        """`selected`: this op's flat row of `per_input_columns()` for the chosen input node."""
        x = inputs
        for row in tf.split(selected, self.REPEATS):
            x = sep_conv_bn(x, unpack_sep_conv_row(row, self.kernel_size, self.filters))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, num_inputs=self.num_inputs)
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class SepConvOp(keras.layers.Layer):
    """Fixed form of a separable conv: twice `ReLU -> sep conv kxk -> BN`, the stride on the first.

    Args:
        filters: `F`.
        kernel_size: `k`.
        strides: 2 for inputs 0/1 of a reduction cell, else 1.
    """

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.layers_ = [
            ConvBN(filters, kernel_size, strides=strides, separable=True, relu_before=True, name="sep_conv_0"),
            ConvBN(filters, kernel_size, separable=True, relu_before=True, name="sep_conv_1"),
        ]

    def build(self, input_shape):
        shape = input_shape
        for layer in self.layers_:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.layers_:
            x = layer(x, training=training)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides)
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class PoolOp(keras.layers.Layer):
    """3x3 average or max pooling (both forms; no weights).

    Args:
        kind: "avg" or "max".
        strides: 2 for inputs 0/1 of a final reduction cell, else 1.
    """

    def __init__(self, kind: str, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("avg", "max"):
            raise ValueError(f"PoolOp kind must be 'avg' or 'max'. Received: kind={kind!r}")
        self.kind = kind
        self.strides = strides

    def per_input_columns(self) -> list:
        return []

    def call(self, inputs, selected: Any = None):
        return pool(inputs, self.kind, self.strides)

    def get_config(self):
        config = super().get_config()
        config.update(kind=self.kind, strides=self.strides)
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class IdentityOp(keras.layers.Layer):
    """The identity (both forms), a factorized reduction at stride 2 (spec 5.3).

    Args:
        filters: `F` (used at stride 2).
        strides: 2 for inputs 0/1 of a final reduction cell, else 1.
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides
        self.layers_ = [FactorizedReduction(filters, name="reduce")] if strides == 2 else []

    def build(self, input_shape=None):
        for layer in self.layers_:
            layer.build(input_shape)
        self.built = True

    def per_input_columns(self) -> list:
        return []

    def call(self, inputs, selected: Any = None, training=None):
        if self.layers_:
            return self.layers_[0](inputs, training=training)
        return tf.identity(inputs)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides)
        return config


def _sep_conv(kernel_size: int):
    def build(filters: int, num_inputs: int | None = None, strides: int = 1, name: str | None = None):
        if num_inputs is not None:
            return PerInputSepConvOp(filters, kernel_size, num_inputs, name=name)
        return SepConvOp(filters, kernel_size, strides, name=name)

    return build


def _pool(kind: str):
    def build(filters: int, num_inputs: int | None = None, strides: int = 1, name: str | None = None):
        return PoolOp(kind, strides, name=name)

    return build


def _identity(filters: int, num_inputs: int | None = None, strides: int = 1, name: str | None = None):
    return IdentityOp(filters, strides, name=name)


MICRO_OPS.register("sep_conv_3x3")(_sep_conv(3))
MICRO_OPS.register("sep_conv_5x5")(_sep_conv(5))
MICRO_OPS.register("avg_pool_3x3")(_pool("avg"))
MICRO_OPS.register("max_pool_3x3")(_pool("max"))
MICRO_OPS.register("identity")(_identity)
