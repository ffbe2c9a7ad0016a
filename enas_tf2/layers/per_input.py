"""Micro-search layers whose weights depend on which node they read (ENAS_SPEC.md 5.2).

In the original micro search every separable conv and its batch norm keep one
set of weights *per possible input node*: the kernels are stored as 2-D stacks
`[num_inputs, ...]` and the row of the node the controller chose is used. This
module stores them the same way, so parameter counts, the He-normal fan-in of
the stacks (Q-23) and checkpoints' shapes mean the same thing as the original's.
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

    A micro search slot reads the rows of all its stacks (both separable convs, both of their
    convs, kernels and BN parameters: sixteen weights) with one `one_hot(index) . concat(stacks)`.
    Per weight, a separate matmul, reshape and their gradients made the graph several thousand
    ops larger; one row per slot also lets each op's branch capture one tensor. The gradient is
    dense (`one_hot^T . g`), exactly zero outside row `index`.

    Args:
        stacks: 2-D weights (or tensors) sharing their first axis `n`.
        index: int32 scalar tensor in `[0, n)`, or a Python int for a static read.
    """
    if isinstance(index, int):
        return tf.concat([stack[index] for stack in stacks], axis=0)
    stacked = tf.concat(list(stacks), axis=1) if len(stacks) > 1 else tf.convert_to_tensor(stacks[0])
    selector = tf.one_hot(index, stacked.shape[0], dtype=stacked.dtype)[None]
    return tf.reshape(tf.matmul(selector, stacked), [-1])


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
        n, k, f = self.num_inputs, self.kernel_size, self.filters
        self.depthwise = self.add_weight(name="depthwise", shape=(n, k * k * f), initializer=he_normal())
        self.pointwise = self.add_weight(name="pointwise", shape=(n, f * f), initializer=he_normal())
        self.gamma = self.add_weight(name="gamma", shape=(n, f), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(n, f), initializer="zeros")
        self.built = True

    def stacks(self) -> tuple[tf.Variable, ...]:
        """The per-input weights in row order: depthwise, pointwise, gamma, beta (`select_rows`' input)."""
        return self.depthwise, self.pointwise, self.gamma, self.beta

    @property
    def row_size(self) -> int:
        """Length of one input node's flat row of `stacks()`: `k*k*F + F*F + 2F`."""
        k, f = self.kernel_size, self.filters
        return k * k * f + f * f + 2 * f

    def unpack(self, row: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """The kernels and BN parameters of one flat row of `stacks()` (from `select_rows`)."""
        k, f = self.kernel_size, self.filters
        depthwise, pointwise, gamma, beta = tf.split(row, [k * k * f, f * f, f, f])
        return tf.reshape(depthwise, [k, k, f, 1]), tf.reshape(pointwise, [1, 1, f, f]), gamma, beta

    def select(self, index: tf.Tensor | int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """The kernels and BN parameters for input node `index` (an int32 scalar tensor or a Python int)."""
        return self.unpack(select_rows(self.stacks(), index))

    @staticmethod
    def apply(inputs: tf.Tensor, weights: tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]) -> tf.Tensor:
        """`ReLU -> separable conv -> batch-stat BN` with weights from `select`."""
        depthwise, pointwise, gamma, beta = weights
        # In float32 also under a mixed policy: bf16 depthwise kernels are several times slower on
        # CPU (layers/conv.py); the result returns in the input's dtype.
        x = tf.nn.separable_conv2d(tf.nn.relu(tf.cast(inputs, tf.float32)), tf.cast(depthwise, tf.float32),
                                   tf.cast(pointwise, tf.float32), strides=[1, 1, 1, 1], padding="SAME")
        return tf.cast(per_input_batch_norm(x, gamma, beta), inputs.dtype)

    def call(self, inputs, index):
        return self.apply(inputs, self.select(index))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, num_inputs=self.num_inputs)
        return config
