"""The macro search network: every op of every layer, the architecture an int32 tensor.

`MacroSupernet` holds every branch of every layer; the architecture is an int32 tensor in the
original flat encoding (`arch.MacroArc.to_array()`), so one traced step serves every
architecture. Each layer picks its op with `OpChoice` and adds its skips with `add_selected`.
Given `static_arc` instead, it builds only the chosen branches with the same layers: the "same
network built statically" that the benchmark compares against.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.arch import MACRO_OPS
from enas_tf2.layers.batch_norm import BatchNorm
from enas_tf2.layers.input_choice import add_selected
from enas_tf2.layers.op_choice import OpChoice
from enas_tf2.spaces.macro.base import MacroBase


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroSearchLayer(keras.layers.Layer):
    """One supernet layer: all candidate ops, then `BN(op_out + sum of skips)`.

    The op is chosen with `tf.switch_case` on the arc tensor; each skip is added
    under a `tf.cond` on its bit, so neither depends on Python values of the arc.
    For `layer_id > 0` the BN is applied even when no skip bit is on (spec 4.2).

    Args:
        layer_id: 0-based layer index `l` (it has `l` skip candidates).
        filters: channels F (constant in search, Q-4).
        num_branches: 4, 5 or 6 candidate ops.
        static_op: build only this op (static network); None = all branches.
        static_skips: node indices added as skips when `static_op` is given.
        compat_branch_bug: reproduce Q-2, the original's late-binding bug: the
            output is always the last branch, whatever op the controller chose.

    Call arguments:
        inputs: the previous node `[batch, h, w, F]`.
        candidates: the `layer_id` earlier nodes (node 0 = stem).
        arc: int32 `[L + L(L-1)/2]` flat architecture (ignored when static).
        training: Python bool.
    """

    def __init__(
        self,
        layer_id: int,
        filters: int,
        num_branches: int = 6,
        static_op: int | None = None,
        static_skips: Sequence[int] = (),
        compat_branch_bug: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.layer_id = layer_id
        self.filters = filters
        self.num_branches = num_branches
        self.static_op = static_op
        self.static_skips = tuple(static_skips)
        self.compat_branch_bug = compat_branch_bug
        self.offset = arch.macro_layer_offset(layer_id)
        op_ids = range(num_branches) if static_op is None else [static_op]
        self.choice = OpChoice(
            [MACRO_OPS.build(op_id, filters, fixed=False, name=f"branch_{op_id}") for op_id in op_ids],
            name="choice",
        )
        self.skip_bn = BatchNorm(name="skip_bn") if layer_id > 0 else None

    def build(self, input_shape):
        self.choice.build(input_shape)
        if self.skip_bn is not None:
            self.skip_bn.build(input_shape)

    def call(self, inputs, candidates, arc=None, training=None):
        if self.static_op is not None:
            out = self.choice(inputs, op_id=0, training=training)
        elif self.compat_branch_bug:
            out = self.choice(inputs, op_id=self.num_branches - 1, training=training)
        else:
            out = self.choice(inputs, op_id=arc[self.offset], training=training)
        if self.layer_id == 0:
            return out
        if self.static_op is not None:
            out = tf.add_n([out] + [candidates[j] for j in self.static_skips])
        else:
            skip_mask = arc[self.offset + 1 : self.offset + 1 + self.layer_id]
            out = add_selected(out, candidates, skip_mask)
        return self.skip_bn(out, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroSupernet(MacroBase):
    """The macro search network (spec 4.1, 4.2): F constant, all branches shared.

    Args:
        num_layers: L.
        out_filters: F (times `child_out_filters_scale`).
        num_branches: 4, 5 or 6 candidate ops per layer.
        keep_prob: dropout keep probability before the classifier.
        num_classes: 10 for CIFAR-10.
        static_arc: an `arch.MacroArc`: build only its ops (no `switch_case`);
            the call then ignores its `arc` argument.
        compat_branch_bug: reproduce the original's Q-2 bug (see MacroSearchLayer).

    Call arguments:
        images: `[batch, 32, 32, 3]` float32, normalised.
        arc: int32 `[L + L(L-1)/2]`, the flat encoding.
        training: Python bool.

    Returns:
        logits `[batch, num_classes]`.

    Example:
        >>> net = MacroSupernet(num_layers=3, out_filters=4)
        >>> net(tf.zeros([2, 32, 32, 3]), arc=tf.zeros([6], tf.int32)).shape
        TensorShape([2, 10])
    """

    def __init__(
        self,
        num_layers: int,
        out_filters: int,
        num_branches: int = 6,
        keep_prob: float = 1.0,
        num_classes: int = 10,
        static_arc: arch.MacroArc | None = None,
        compat_branch_bug: bool = False,
        **kwargs,
    ):
        super().__init__(num_layers, out_filters, keep_prob, num_classes, **kwargs)
        if static_arc is not None:
            static_arc.validate(num_branches)
            if static_arc.num_layers != num_layers:
                raise ValueError(
                    f"static_arc has {static_arc.num_layers} layers; the supernet has num_layers={num_layers}"
                )
        self.num_branches = num_branches
        self.static_arc = static_arc
        self.compat_branch_bug = compat_branch_bug
        self.macro_layers = [
            MacroSearchLayer(
                layer_id,
                out_filters,
                num_branches,
                static_op=None if static_arc is None else static_arc.ops[layer_id],
                static_skips=() if static_arc is None else static_arc.skip_sources(layer_id),
                compat_branch_bug=compat_branch_bug,
                name=f"layer_{layer_id}",
            )
            for layer_id in range(num_layers)
        ]
        self.reductions = self._make_reductions([out_filters, out_filters])

    def _call_layer(self, layer, nodes, arc, training):
        return layer(nodes[-1], nodes[:-1], arc=arc, training=training)
