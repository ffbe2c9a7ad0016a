"""Micro-search layers whose weights depend on which node they read (ENAS_SPEC.md 5.2).

In the original micro search every separable conv and its batch norm keep one
set of weights *per possible input node*: the kernels are stored as 2-D stacks
`[num_inputs, ...]` and the row of the node the controller chose is used. This
module keeps that layout, so parameter counts and the He-normal fan-in of the
stacks (Q-23) mean the same thing as the original's. `PerInputSepConv` stores
one conv's four stacks as four weights; a supernet slot stores the stacks of all
its convs side by side in *one* `[num_inputs, sum of widths]` weight
(`ColumnBlocks` initialises each stack's columns as the original initialises the
stack): the row of a node is the original's rows of every stack, concatenated.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from enas_tf2.layers.batch_norm import BN_EPSILON, distributed_replica_context, global_batch_norm
from enas_tf2.layers.initializers import he_normal


def per_input_batch_norm(
    inputs: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float = BN_EPSILON
) -> tf.Tensor:
    """Batch-statistics normalisation with given `gamma`/`beta` and no moving averages.

    The micro search's "per-input" BN (spec 3.1): it normalises with the
    batch's own statistics also at evaluation time and keeps no state. Under a
    strategy with several replicas the statistics are the global batch's.
    """
    replica_context = distributed_replica_context()
    if replica_context is not None:
        return global_batch_norm(inputs, gamma, beta, epsilon, replica_context)[0]
    outputs, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=inputs,
        scale=tf.cast(gamma, tf.float32),  # 16-bit inputs (--precision) keep float32 BN parameters
        offset=tf.cast(beta, tf.float32),
        mean=tf.constant([], tf.float32),
        variance=tf.constant([], tf.float32),
        epsilon=epsilon,
        data_format="NHWC",
        is_training=True,
    )
    return outputs


def select_rows(stacks: Sequence[tf.Tensor], index: tf.Tensor | int) -> tf.Tensor:
    """Row `index` of every `[n, width_i]` stack, concatenated into one flat `[sum width_i]` vector.

    A micro search slot reads the row of its one per-input weight (the stacks of both separable
    convs, both of their convs, kernels and BN parameters, side by side) with one
    `one_hot(index) . weight`; a `PerInputSepConv` reads its four stacks concatenated. Per stack,
    a separate matmul, reshape and their gradients made the graph several thousand ops larger;
    one row per slot also lets each op's branch capture one tensor. The gradient is dense
    (`one_hot^T . g`), exactly zero outside row `index`.

    Args:
        stacks: 2-D weights (or tensors) sharing their first axis `n`.
        index: int32 scalar tensor in `[0, n)`, or a Python int for a static read.
    """
    if isinstance(index, int):
        return tf.concat([stack[index] for stack in stacks], axis=0)
    stacked = tf.concat(list(stacks), axis=1) if len(stacks) > 1 else tf.convert_to_tensor(stacks[0])
    selector = tf.one_hot(index, stacked.shape[0], dtype=stacked.dtype)[None]
    return tf.reshape(tf.matmul(selector, stacked), [-1])


#: The four stacks of one per-input separable conv, in row order, and how the original initialises each.
SEP_CONV_STACKS = ("depthwise", "pointwise", "gamma", "beta")
_SEP_CONV_INITIALIZERS = {"depthwise": he_normal, "pointwise": he_normal,
                          "gamma": lambda: keras.initializers.Ones(), "beta": lambda: keras.initializers.Zeros()}


def sep_conv_stack_widths(kernel_size: int, filters: int) -> tuple[int, int, int, int]:
    """Widths of the depthwise, pointwise, gamma and beta stacks: `k*k*F, F*F, F, F`."""
    return kernel_size * kernel_size * filters, filters * filters, filters, filters


def sep_conv_columns(kernel_size: int, filters: int) -> list[tuple[int, keras.initializers.Initializer]]:
    """`(width, initializer)` of each stack of one per-input separable conv, in row order (`ColumnBlocks`)."""
    widths = sep_conv_stack_widths(kernel_size, filters)
    return [(width, _SEP_CONV_INITIALIZERS[name]()) for name, width in zip(SEP_CONV_STACKS, widths)]


def unpack_sep_conv_row(row: tf.Tensor, kernel_size: int, filters: int) -> tuple[tf.Tensor, ...]:
    """The depthwise `[k, k, F, 1]` and pointwise `[1, 1, F, F]` kernels and BN gamma, beta of one flat row."""
    k, f = kernel_size, filters
    depthwise, pointwise, gamma, beta = tf.split(row, list(sep_conv_stack_widths(k, f)))
    return tf.reshape(depthwise, [k, k, f, 1]), tf.reshape(pointwise, [1, 1, f, f]), gamma, beta


def sep_conv_bn(inputs: tf.Tensor, weights: tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]) -> tf.Tensor:
    """`ReLU -> separable conv -> batch-stat BN` with the weights of `unpack_sep_conv_row`."""
    depthwise, pointwise, gamma, beta = weights
    # In float32 also under a mixed policy: bf16 depthwise kernels are several times slower on
    # CPU (layers/conv.py); the result returns in the input's dtype.
    x = tf.nn.separable_conv2d(tf.nn.relu(tf.cast(inputs, tf.float32)), tf.cast(depthwise, tf.float32),
                               tf.cast(pointwise, tf.float32), strides=[1, 1, 1, 1], padding="SAME")
    return tf.cast(per_input_batch_norm(x, gamma, beta), inputs.dtype)


@keras.saving.register_keras_serializable(package="enas_tf2")
class ColumnBlocks(keras.initializers.Initializer):
    """Initialises a `[n, sum of widths]` weight block of columns by block, each with its own initializer.

    Several per-input stacks `[n, width_i]` stored side by side in one weight start as they would
    stored apart: block `i` is drawn by `initializers[i]` with the shape `[n, width_i]`, so a
    He-normal block has fan-in `n` (Q-23) whatever the other blocks are. One weight instead of
    sixteen per micro search slot removes the per-weight ops of the update (L2, norm, momentum,
    all-reduce), which made up most of a micro search step's graph.

    Args:
        blocks: `(width, initializer)` pairs in column order; an initializer may be anything
            `keras.initializers.get` accepts.
    """

    def __init__(self, blocks):
        self.blocks = [(int(width), keras.initializers.get(init)) for width, init in blocks]
        if not self.blocks or any(width <= 0 for width, _ in self.blocks):
            raise ValueError(f"ColumnBlocks needs positive widths. Received: {[w for w, _ in self.blocks]}")

    @property
    def width(self) -> int:
        return sum(width for width, _ in self.blocks)

    def __call__(self, shape, dtype=None):
        if len(shape) != 2 or shape[1] != self.width:
            raise ValueError(f"ColumnBlocks covers {self.width} columns of a 2-D weight. Received: shape={shape}")
        return keras.ops.concatenate([init((shape[0], width), dtype=dtype) for width, init in self.blocks], axis=1)

    def get_config(self):
        return {"blocks": [[width, keras.initializers.serialize(init)] for width, init in self.blocks]}


@keras.saving.register_keras_serializable(package="enas_tf2")
class PerInputSepConv(keras.layers.Layer):
    """`ReLU -> depthwise kxk -> pointwise 1x1 -> per-input BN`, weights chosen by input node.

    Weights (spec 5.2), for `n = num_inputs` possible input nodes and `F` channels:
    depthwise `[n, k*k*F]`, pointwise `[n, F*F]`, BN `gamma, beta [n, F]`. Row
    `index` of each is reshaped to the kernel the call uses. Keras' He-normal
    takes the fan-in of a 2-D weight from its first axis, so the stacks start
    with stddev `sqrt(2 / n)` exactly as the original's (Q-23).

    Args:
        filters: `F`, input and output channels.
        kernel_size: `k` (3 or 5).
        num_inputs: `n`, number of nodes the owning slot can read (`block + 2`).

    Call arguments:
        inputs: `[batch, h, w, F]`, the selected node.
        index: int32 scalar tensor (or Python int) in `[0, n)`, the node's index.

    Returns:
        `[batch, h, w, F]`.
    """

    def __init__(self, filters: int, kernel_size: int, num_inputs: int, **kwargs):
        super().__init__(**kwargs)
        if filters <= 0 or kernel_size <= 0 or num_inputs <= 0:
            raise ValueError(
                "PerInputSepConv expects positive filters, kernel_size and num_inputs. Received: "
                f"filters={filters}, kernel_size={kernel_size}, num_inputs={num_inputs}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.num_inputs = num_inputs

    def build(self, input_shape=None):
        for name, (width, initializer) in zip(SEP_CONV_STACKS, sep_conv_columns(self.kernel_size, self.filters)):
            setattr(self, name, self.add_weight(name=name, shape=(self.num_inputs, width), initializer=initializer))
        self.built = True

    def stacks(self) -> tuple[tf.Variable, ...]:
        """The per-input weights in row order: depthwise, pointwise, gamma, beta (`select_rows`' input)."""
        return self.depthwise, self.pointwise, self.gamma, self.beta

    def select(self, index: tf.Tensor | int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """The kernels and BN parameters for input node `index` (an int32 scalar tensor or a Python int)."""
        return unpack_sep_conv_row(select_rows(self.stacks(), index), self.kernel_size, self.filters)

    def call(self, inputs, index):
        return sep_conv_bn(inputs, self.select(index))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, num_inputs=self.num_inputs)
        return config
