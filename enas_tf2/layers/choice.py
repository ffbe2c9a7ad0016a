"""Choice layers of a supernet: pick one op, or a subset of inputs, by a tensor.

The sampled architecture is an int32 tensor inside a `tf.function`, so these
layers must choose with graph ops (`tf.switch_case`, masks), never Python
control flow on its values: then one trace serves every architecture.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="enas_tf2")
class OpChoice(keras.layers.Layer):
    """Runs exactly one of its candidate ops, selected by an int32 scalar.

    Every branch's weights are created in `build()`: weights first created inside
    a `switch_case` branch at trace time are not tracked reliably. Inside a
    `tf.function` the unselected branches get zero gradients and their batch-norm
    statistics are not updated (only the taken branch runs).

    Args:
        branches: candidate layers, in op-id order; all map the same input shape
            to the same output shape.

    Call arguments:
        inputs: the tensor every candidate is applied to.
        op_id: int32 scalar tensor (or Python int) in `[0, len(branches))`.
        training: forwarded to the branches.

    Example:
        >>> choice = OpChoice([keras.layers.Identity(), keras.layers.ReLU()])
        >>> choice(tf.constant([[-1.0]]), tf.constant(1)).numpy()
        array([[0.]], dtype=float32)
    """

    def __init__(self, branches: Sequence[keras.layers.Layer], **kwargs):
        super().__init__(**kwargs)
        if not branches:
            raise ValueError("OpChoice needs at least one branch. Received: branches=[]")
        self.branches = list(branches)

    def build(self, input_shape):
        for branch in self.branches:
            branch.build(input_shape)

    def call(self, inputs, op_id, training=None):
        if isinstance(op_id, int):
            return self.branches[op_id](inputs, training=training)
        branch_fns = [
            (lambda branch=branch: branch(inputs, training=training)) for branch in self.branches
        ]
        return tf.switch_case(tf.cast(op_id, tf.int32), branch_fns)

    def compute_output_shape(self, input_shape):
        return self.branches[0].compute_output_shape(input_shape)


def add_selected(base: tf.Tensor, candidates: Sequence[tf.Tensor], mask: tf.Tensor) -> tf.Tensor:
    """`base + sum_j mask[j] * candidates[j]` for a 0/1 tensor mask of static length.

    Each candidate is added under a `tf.cond` on its mask bit instead of being
    multiplied by it: an unselected candidate then costs nothing in the forward
    or the backward pass, where a masked multiply would read and write a full
    activation twice per candidate (about 15% of a 12-layer macro search step).

    Args:
        base: the tensor the selected candidates are added to.
        candidates: tensors of `base`'s shape.
        mask: int tensor `[len(candidates)]` of 0/1 (graph values, not Python).

    Returns:
        `base` plus the selected candidates.
    """
    total = base
    for j, candidate in enumerate(candidates):
        total = tf.cond(
            mask[j] > 0,
            lambda total=total, candidate=candidate: total + candidate,
            lambda total=total: tf.identity(total),
        )
    return total
