"""The macro final-training network for one architecture (ENAS_SPEC.md 4.1, 4.3).

Its structure differs from the search network as in the original (Q-3, Q-4): ReLU-conv-BN order,
regular (not separable) convs for ops 1 and 3, concat + 1x1 skips, and channels doubling at the
pool layers.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.arch import MACRO_OPS
from enas_tf2.layers.conv import ConvBN
from enas_tf2.spaces.macro.base import MacroBase


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroFixedLayer(keras.layers.Layer):
    """One final-network layer (spec 4.3): the chosen op, then concat-skips and 1x1.

    For `layer_id > 0`: `concat([skip nodes ascending..., op_out]) -> ReLU ->
    1x1 conv -> F -> BN`, also when there is no skip.

    Args:
        layer_id: 0-based layer index.
        filters: channels F at this layer.
        op_id: the chosen op.
        skip_sources: node indices (ascending) concatenated before the op output.
    """

    def __init__(self, layer_id: int, filters: int, op_id: int, skip_sources: Sequence[int] = (), **kwargs):
        super().__init__(**kwargs)
        self.layer_id = layer_id
        self.filters = filters
        self.op_id = op_id
        self.skip_sources = tuple(skip_sources)
        self.branch = MACRO_OPS.build(op_id, filters, fixed=True, name=f"branch_{op_id}")
        self.skip_conv = ConvBN(filters, 1, relu_before=True, name="skip_conv") if layer_id > 0 else None

    def build(self, input_shape):
        self.branch.build(input_shape)
        if self.skip_conv is not None:
            concat_channels = (len(self.skip_sources) + 1) * self.filters
            self.skip_conv.build(tuple(input_shape[:-1]) + (concat_channels,))

    def call(self, inputs, candidates, training=None):
        out = self.branch(inputs, training=training)
        if self.skip_conv is None:
            return out
        if self.skip_sources:
            out = tf.concat([candidates[j] for j in self.skip_sources] + [out], axis=-1)
        return self.skip_conv(out, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            layer_id=self.layer_id, filters=self.filters, op_id=self.op_id, skip_sources=self.skip_sources
        )
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroNetwork(MacroBase):
    """The macro final-training network for one architecture (spec 4.1, 4.3).

    Channels double at each pool layer (Q-4) and every node is reduced to the
    new width. For the flags and `fixed_arc` of `cifar10_macro_final.sh` this
    has exactly the original's 42,559,392 trainable parameters.

    Args:
        fixed_arc: the `arch.MacroArc` to build.
        out_filters: F at the stem.
        keep_prob: dropout keep probability before the classifier.
        num_classes: 10 for CIFAR-10.

    Example:
        >>> net = MacroNetwork(arch.MacroArc.parse("0 1 0 4 1 1"), out_filters=4)
        >>> net(tf.zeros([2, 32, 32, 3])).shape
        TensorShape([2, 10])
    """

    def __init__(self, fixed_arc: arch.MacroArc, out_filters: int, keep_prob: float = 1.0, num_classes: int = 10, **kwargs):
        super().__init__(fixed_arc.num_layers, out_filters, keep_prob, num_classes, **kwargs)
        fixed_arc.validate(6)
        self.fixed_arc = fixed_arc
        filters = out_filters
        self.macro_layers = []
        filters_after_pool = []
        for layer_id in range(self.num_layers):
            self.macro_layers.append(
                MacroFixedLayer(
                    layer_id,
                    filters,
                    fixed_arc.ops[layer_id],
                    fixed_arc.skip_sources(layer_id),
                    name=f"layer_{layer_id}",
                )
            )
            if layer_id in self.pool_layers:
                filters *= 2
                filters_after_pool.append(filters)
        self.reductions = self._make_reductions(filters_after_pool)

    def _call_layer(self, layer, nodes, arc, training):
        return layer(nodes[-1], nodes[:-1], training=training)
