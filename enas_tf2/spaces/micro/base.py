"""What the micro supernet and fixed network share: the stem, the cells' input calibration, the head.

A micro network is a stem, `num_layers + 2` cells and a classifier (ENAS_SPEC.md 5). Every cell
reads the outputs of the two cells before it (nodes 0 and 1) and adds `B` blocks; block `k`
(node `k + 2`) sums two ops, each applied to any earlier node. Cells at the two pool positions
are reduction cells, where the channel count `F` doubles and the resolution halves.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.layers.aux_head import AuxHead
from enas_tf2.layers.conv import ConvBN
from enas_tf2.layers.initializers import he_normal
from enas_tf2.layers.reduction import FactorizedReduction
from enas_tf2.spaces.micro.ops import Shape


def micro_pool_layers(num_layers: int) -> tuple[int, int]:
    """Indices of the two reduction cells, `[P, 2P + 1]` with `P = num_layers // 3` (spec 5.1)."""
    pool_distance = num_layers // 3
    return (pool_distance, 2 * pool_distance + 1)


def feature_shape(shape: Shape) -> tuple:
    """`(None, size, size, channels)` for a `(size, channels)` cell input."""
    size, channels = shape
    return (None, size, size, channels)


@keras.saving.register_keras_serializable(package="enas_tf2")
class CellInputs(keras.layers.Layer):
    """Brings a cell's two inputs to `F` channels at the resolution of `prev` (spec 5.1).

    `prev_prev` twice as large as `prev` -> ReLU -> factorized reduction; else
    with `!= F` channels -> ReLU -> 1x1 conv -> BN. `prev` with `!= F` channels
    -> ReLU -> 1x1 conv -> BN. Which of these exist is known at construction
    from the shapes, so the layer holds only the ops it uses.

    Args:
        filters: `F`.
        prev_prev_shape: `(size, channels)` of the cell two back.
        prev_shape: `(size, channels)` of the previous cell.
    """

    def __init__(self, filters: int, prev_prev_shape: Shape, prev_shape: Shape, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.prev_prev_shape = tuple(prev_prev_shape)
        self.prev_shape = tuple(prev_shape)
        (pp_size, pp_channels), (p_size, p_channels) = self.prev_prev_shape, self.prev_shape
        self.reduce_prev_prev = pp_size == 2 * p_size
        if not self.reduce_prev_prev and pp_size != p_size:
            raise ValueError(f"CellInputs cannot match a {pp_size}x{pp_size} prev_prev to a {p_size}x{p_size} prev.")
        if self.reduce_prev_prev:
            self.prev_prev_op = FactorizedReduction(filters, name="prev_prev_reduce")
        elif pp_channels != filters:
            self.prev_prev_op = ConvBN(filters, 1, relu_before=True, name="prev_prev_conv")
        else:
            self.prev_prev_op = None
        self.prev_op = ConvBN(filters, 1, relu_before=True, name="prev_conv") if p_channels != filters else None

    def build(self, input_shape=None):
        if self.prev_prev_op is not None:
            self.prev_prev_op.build(feature_shape(self.prev_prev_shape))
        if self.prev_op is not None:
            self.prev_op.build(feature_shape(self.prev_shape))
        self.built = True

    def call(self, prev_prev, prev, training=None):
        if self.reduce_prev_prev:
            prev_prev = self.prev_prev_op(tf.nn.relu(prev_prev), training=training)
        elif self.prev_prev_op is not None:
            prev_prev = self.prev_prev_op(prev_prev, training=training)
        if self.prev_op is not None:
            prev = self.prev_op(prev, training=training)
        return prev_prev, prev

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, prev_prev_shape=self.prev_prev_shape, prev_shape=self.prev_shape)
        return config


class MicroBase(keras.Model):
    """Stem -> cells -> ReLU -> GAP -> dropout -> dense, plus the optional aux head (spec 5.1).

    Call arguments:
        images: `[batch, image_size, image_size, channels]` float32, normalised.
        arc: the supernet's int32 `[8B]` arc (unused by the final network).
        training: Python bool.
        step: completed updates before this one, for drop path (final network).
        return_aux: also return the auxiliary logits (None without aux head,
            or when not training).

    Returns:
        logits `[batch, num_classes]`, or `(logits, aux_logits)` with `return_aux`.
    """

    def __init__(
        self,
        num_layers: int,
        num_blocks: int,
        out_filters: int,
        keep_prob: float,
        use_aux_heads: bool,
        num_classes: int,
        image_size: int = 32,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_layers < 1 or num_blocks < 1 or out_filters < 2 or out_filters % 2:
            raise ValueError(
                "A micro network needs num_layers >= 1, num_blocks >= 1 and an even out_filters. Received: "
                f"num_layers={num_layers}, num_blocks={num_blocks}, out_filters={out_filters}"
            )
        if image_size < 4 or image_size % 4:
            raise ValueError(
                "A micro network halves the image twice (factorized reductions need even sizes), so image_size "
                f"must be a multiple of 4. Received: image_size={image_size}"
            )
        self.image_size = image_size
        self.num_layers = num_layers
        self.num_blocks = num_blocks
        self.out_filters = out_filters
        self.keep_prob = keep_prob
        self.use_aux_heads = use_aux_heads
        self.num_classes = num_classes
        self.pool_layers = micro_pool_layers(num_layers)
        self.num_cells = num_layers + 2
        self.aux_cell = self.pool_layers[1] + 1
        self.stem = ConvBN(3 * out_filters, 3, name="stem")
        self.dropout = keras.layers.Dropout(1.0 - keep_prob, name="dropout") if keep_prob < 1.0 else None
        self.classifier = keras.layers.Dense(
            num_classes, use_bias=False, kernel_initializer=he_normal(), name="classifier"
        )
        self.aux_head = AuxHead(num_classes, name="aux_head") if use_aux_heads else None

    @property
    def optimized_variables(self) -> list[tf.Variable]:
        """Trainable weights without the aux head's: the original's optimiser list (Q-10)."""
        if self.aux_head is None:
            return list(self.trainable_variables)
        aux = {id(v) for v in self.aux_head.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in aux]

    def _cells_forward(self, stem, arc, training, step):
        raise NotImplementedError

    def call(self, images, arc=None, training=None, step=None, return_aux=False):
        training = self._effective_training(training)
        stem = self.stem(images, training=training)
        out, aux_input = self._cells_forward(stem, arc, training, step)
        x = tf.reduce_mean(tf.nn.relu(out), axis=[1, 2])
        if self.dropout is not None:
            x = self.dropout(x, training=training)
        logits = self.classifier(x)
        if not return_aux:
            return logits
        aux_logits = None
        if self.aux_head is not None and training:
            aux_logits = self.aux_head(aux_input, training=training)
        return logits, aux_logits

    def _effective_training(self, training):
        return bool(training)

    def build(self, input_shape):
        """Creates every weight (all candidate ops too) by one eager pass on zeros."""
        if self.built:
            return
        images = tf.zeros((1,) + tuple(input_shape[1:]), tf.float32)
        self.call(
            images,
            arc=tf.zeros([arch.micro_arc_length(self.num_blocks)], tf.int32),
            training=False,
        )
        if self.aux_head is not None and not self.aux_head.built:
            self.aux_head.build((None,) + self._aux_input_shape)
        self.built = True
