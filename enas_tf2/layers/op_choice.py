"""`OpChoice`: run exactly one candidate op, chosen by an architecture tensor (NNI's `LayerChoice`).

The sampled architecture is an int32 tensor inside a `tf.function`, so the choice is a
`tf.switch_case`, never Python control flow on its value: one trace serves every architecture.
Every supernet picks its ops through this layer (the macro layers, the micro slots) or, for
plain functions, through `switch_op` (the PTB cell's activations).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import tensorflow as tf


def switch_op(op_id: tf.Tensor | int, branch_fns: Sequence[Callable[[], tf.Tensor]]) -> tf.Tensor:
    """`branch_fns[op_id]()`: a Python int picks statically, a tensor through `tf.switch_case`.

    Inside a `tf.function` only the taken branch runs; the others get zero gradients and
    their state (batch-norm statistics) does not move.
    """
    if isinstance(op_id, int):
        return branch_fns[op_id]()
    return tf.switch_case(tf.cast(op_id, tf.int32), list(branch_fns))


@keras.saving.register_keras_serializable(package="enas_tf2")
class OpChoice(keras.layers.Layer):
    """Runs exactly one of its candidate ops, selected by an int32 scalar.

    Every branch's weights are created in `build()`: weights first created inside
    a `switch_case` branch at trace time are not tracked reliably. Inside a
    `tf.function` the unselected branches get zero gradients and their batch-norm
    statistics are not updated (only the taken branch runs).

    Branches whose weights depend on something else the architecture chose (the micro
    search's separable convs keep one weight row per input node) get those weights read by the
    caller *before* the switch: `selections[i]` reaches branch `i`'s call as `selected=`.
    Reading variables outside the switch keeps the graph small (inside the branches it doubled
    the micro step's size), and one tensor per branch keeps the switch's gradient small: each
    branch's gradient function returns a (zero) gradient for every tensor any branch captures.

    Args:
        branches: candidate layers, in op-id order; all map the same input shape
            to the same output shape.

    Call arguments:
        inputs: the tensor every candidate is applied to.
        op_id: int32 scalar tensor (or Python int) in `[0, len(branches))`.
        training: forwarded to the branches.
        selections: one tensor (or None) per branch, passed to it as `selected=` (None: the
            branches take no `selected`).

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

    def call(self, inputs, op_id, training=None, selections: Sequence[Any] | None = None):
        if selections is None:
            return switch_op(op_id, [
                (lambda branch=branch: branch(inputs, training=training)) for branch in self.branches
            ])
        if len(selections) != len(self.branches):
            raise ValueError(f"OpChoice has {len(self.branches)} branches but got {len(selections)} selections.")
        return switch_op(op_id, [
            (lambda branch=branch, selected=selected: branch(inputs, selected=selected, training=training))
            for branch, selected in zip(self.branches, selections)
        ])

    def compute_output_shape(self, input_shape):
        return self.branches[0].compute_output_shape(input_shape)
