"""The CIFAR-10 macro search space: the supernet (search) and fixed network (final).

A macro network is a stem, `L` layers and a classifier (ENAS_SPEC.md 4). Layer
`l` applies one of six ops to the previous node and may add skip connections
from any earlier node (bit `j` refers to node `j`: the stem for `j = 0`, the
output of layer `j - 1` otherwise). After the two pool layers every node is
halved in resolution by its own factorized reduction.

* `MacroSupernet` holds every branch of every layer; the architecture is an
  int32 tensor in the original flat encoding (`arch.MacroArc.to_array()`), so
  one traced step serves every architecture. Given `static_arc` instead, it
  builds only the chosen branches with the same layers: the "same network built
  statically" that the benchmark compares against.
* `MacroNetwork` is the final-training network of spec 4.3, whose structure
  differs from the search network as in the original (Q-3, Q-4): ReLU-conv-BN
  order, regular (not separable) convs for ops 1 and 3, concat + 1x1 skips, and
  channels doubling at the pool layers.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.layers.batch_norm import BatchNorm
from enas_tf2.layers.choice import OpChoice, add_selected
from enas_tf2.layers.conv import ConvBN
from enas_tf2.layers.initializers import he_normal
from enas_tf2.layers.reduction import FactorizedReduction

#: The macro search's "masked" BN after the k x k conv uses epsilon 1e-3 (spec 3.1).
MASKED_BN_EPSILON = 1e-3
#: Kernel size and separability of the four conv ops, by op id (spec 2.1.1).
_CONV_OPS = {0: (3, False), 1: (3, True), 2: (5, False), 3: (5, True)}
_POOL_OPS = {4: "avg", 5: "max"}


def macro_pool_layers(num_layers: int) -> tuple[int, int]:
    """Layers after which every node is reduced: `[L//3 - 1, 2*(L//3) - 1]` (spec 4.1)."""
    return (num_layers // 3 - 1, 2 * (num_layers // 3) - 1)


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroBranch(keras.layers.Layer):
    """One candidate op of a macro layer, in its search or fixed form.

    Search (spec 4.2): `1x1 conv -> BN -> ReLU`, then either a `k x k` conv or
    separable conv `-> BN(eps 1e-3) -> ReLU` (ops 0-3), or a 3x3 stride-1 pool
    (ops 4, 5). Fixed (spec 4.3): `ReLU -> 1x1 conv -> BN -> ReLU -> k x k conv -> BN`
    with *regular* convs for ops 1 and 3 too (Q-3). The original cannot build ops
    4/5 in fixed mode; here they are `ReLU -> 1x1 conv -> BN -> pool`, the spec's
    recommendation.

    Args:
        op_id: op index, `arch.MACRO_OP_NAMES[op_id]`.
        filters: output channels.
        fixed: build the fixed-network form.
    """

    def __init__(self, op_id: int, filters: int, fixed: bool = False, **kwargs):
        super().__init__(**kwargs)
        if op_id not in _CONV_OPS and op_id not in _POOL_OPS:
            raise ValueError(f"MacroBranch op_id must be in 0..5. Received: op_id={op_id}")
        self.op_id = op_id
        self.filters = filters
        self.fixed = fixed
        self.inp_conv = ConvBN(filters, 1, relu_before=fixed, relu_after=not fixed, name="inp_conv")
        self.out_conv = None
        self.pool = None
        if op_id in _CONV_OPS:
            kernel_size, separable = _CONV_OPS[op_id]
            if fixed:
                self.out_conv = ConvBN(filters, kernel_size, relu_before=True, name="out_conv")
            else:
                self.out_conv = ConvBN(
                    filters,
                    kernel_size,
                    separable=separable,
                    relu_after=True,
                    bn_epsilon=MASKED_BN_EPSILON,
                    name="out_conv",
                )
        else:
            pool_cls = keras.layers.AveragePooling2D if _POOL_OPS[op_id] == "avg" else keras.layers.MaxPooling2D
            self.pool = pool_cls(pool_size=3, strides=1, padding="same", name="pool")

    def build(self, input_shape):
        self.inp_conv.build(input_shape)
        hidden_shape = self.inp_conv.compute_output_shape(input_shape)
        if self.out_conv is not None:
            self.out_conv.build(hidden_shape)

    def call(self, inputs, training=None):
        x = self.inp_conv(inputs, training=training)
        if self.out_conv is not None:
            return self.out_conv(x, training=training)
        return self.pool(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(op_id=self.op_id, filters=self.filters, fixed=self.fixed)
        return config


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
            [MacroBranch(op_id, filters, name=f"branch_{op_id}") for op_id in op_ids], name="choice"
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
        self.branch = MacroBranch(op_id, filters, fixed=True, name=f"branch_{op_id}")
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


class _MacroBase(keras.Model):
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


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroSupernet(_MacroBase):
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


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroNetwork(_MacroBase):
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
