"""What the macro supernet and fixed network share: stem, node reductions at the pool layers, head.

A macro network is a stem, `L` layers and a classifier (ENAS_SPEC.md 4). After each of the two
pool layers every node so far is halved in resolution by its own factorized reduction.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.layers.conv import ConvBN
from enas_tf2.layers.initializers import he_normal
from enas_tf2.layers.reduction import FactorizedReduction


def macro_pool_layers(num_layers: int) -> tuple[int, int]:
    """Layers after which every node is reduced: `[L//3 - 1, 2*(L//3) - 1]` (spec 4.1)."""
    return (num_layers // 3 - 1, 2 * (num_layers // 3) - 1)


class MacroBase(keras.Model):
    """Stem -> layers with node reductions at the pool layers -> GAP -> dropout -> dense."""

    def __init__(self, num_layers: int, out_filters: int, keep_prob: float, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 3:
            raise ValueError(f"A macro network needs num_layers >= 3 (two pool layers). Received: {num_layers}")
        self.num_layers = num_layers
        self.out_filters = out_filters
        self.keep_prob = keep_prob
        self.num_classes = num_classes
        self.pool_layers = macro_pool_layers(num_layers)
        self.stem = ConvBN(out_filters, 3, name="stem")
        self.dropout = keras.layers.Dropout(1.0 - keep_prob, name="dropout") if keep_prob < 1.0 else None
        self.classifier = keras.layers.Dense(
            num_classes, use_bias=False, kernel_initializer=he_normal(), name="classifier"
        )

    def _make_reductions(self, filters_after: Sequence[int]) -> list[list[FactorizedReduction]]:
        """One FR per (pool layer, node): `pool_layers[i] + 2` nodes exist at pool i."""
        return [
            [
                FactorizedReduction(filters_after[i], name=f"pool{i}_node{node}_reduce")
                for node in range(pool_layer + 2)
            ]
            for i, pool_layer in enumerate(self.pool_layers)
        ]

    def _call_layer(self, layer, nodes, arc, training):
        raise NotImplementedError

    def call(self, images, arc=None, training=None):
        nodes = [self.stem(images, training=training)]
        for layer_id, layer in enumerate(self.macro_layers):
            nodes.append(self._call_layer(layer, nodes, arc, training))
            if layer_id in self.pool_layers:
                reductions = self.reductions[self.pool_layers.index(layer_id)]
                nodes = [reduce(node, training=training) for reduce, node in zip(reductions, nodes)]
        x = tf.reduce_mean(nodes[-1], axis=[1, 2])
        if self.dropout is not None:
            x = self.dropout(x, training=training)
        return self.classifier(x)

    def build(self, input_shape):
        """Creates every weight (every branch too) by one eager pass on zeros.

        OpChoice builds all its branches in its own `build()`, so a single pass
        with any architecture creates the weights of all of them.
        """
        if self.built:
            return
        images = tf.zeros((1,) + tuple(input_shape[1:]), tf.float32)
        self.call(images, arc=tf.zeros([arch.macro_arc_length(self.num_layers)], tf.int32), training=False)
        self.built = True
