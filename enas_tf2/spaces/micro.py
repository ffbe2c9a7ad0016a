"""The CIFAR-10 micro (cell) search space: the supernet (search) and fixed network (final).

A micro network is a stem, `num_layers + 2` cells and a classifier (ENAS_SPEC.md
5). Every cell reads the outputs of the two cells before it (nodes 0 and 1) and
adds `B` blocks; block `k` (node `k + 2`) sums two ops, each applied to any
earlier node. Cells at the two pool positions are reduction cells, where the
channel count `F` doubles and the resolution halves.

* `MicroSupernet` owns every candidate op of every slot. The architecture is
  the int32 flat encoding (`arch.MicroArc.to_array()`: normal cell then
  reduction cell); each slot picks its input node and its op with graph ops,
  so one traced step serves every architecture. Separable convs keep one set
  of weights per possible input node, stored stacked as the original does
  (`layers.per_input`). Given `static_arc`, the same classes build only the
  chosen ops: the statically built network the benchmark compares against.
* `MicroNetwork` is the final-training network of spec 5.3: only the chosen
  ops, stride-2 ops in reduction cells, loose ends concatenated, drop path
  and the auxiliary head.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.layers.aux_head import AuxHead
from enas_tf2.layers.batch_norm import BatchNorm
from enas_tf2.layers.conv import ConvBN
from enas_tf2.layers.drop_path import drop_path, drop_path_keep_prob
from enas_tf2.layers.initializers import he_normal
from enas_tf2.layers.per_input import NodeArray, PerInputSepConv
from enas_tf2.layers.reduction import FactorizedReduction

#: Kernel sizes of the two separable-conv ops (op ids 0 and 1, spec 2.2).
SEP_CONV_KERNELS = {0: 3, 1: 5}
AVG_POOL, MAX_POOL, IDENTITY = 2, 3, 4
NUM_OPS = len(arch.MICRO_OP_NAMES)
#: `(spatial size, channels)` of a cell input, known when the network is built.
Shape = tuple[int, int]


def micro_pool_layers(num_layers: int) -> tuple[int, int]:
    """Indices of the two reduction cells, `[P, 2P + 1]` with `P = num_layers // 3` (spec 5.1)."""
    pool_distance = num_layers // 3
    return (pool_distance, 2 * pool_distance + 1)


def _pool(x: tf.Tensor, op_id: int, strides: int = 1) -> tf.Tensor:
    """3x3 average (padding not counted, TF semantics) or max pooling, SAME (spec 3.4)."""
    pool = tf.nn.avg_pool2d if op_id == AVG_POOL else tf.nn.max_pool2d
    return pool(x, ksize=3, strides=strides, padding="SAME")


def _feature_shape(shape: Shape) -> tuple:
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
            self.prev_prev_op.build(_feature_shape(self.prev_prev_shape))
        if self.prev_op is not None:
            self.prev_op.build(_feature_shape(self.prev_shape))
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


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroSearchSlot(keras.layers.Layer):
    """One slot of a supernet block: one of the five ops on the chosen input node (spec 5.2).

    Separable convs are two `PerInputSepConv` in sequence, with weights per
    input index. Pooling and identity have no weights. The op is chosen with
    `tf.switch_case` on the arc's value (the cell reads the input node from its
    `NodeArray`); only the chosen op runs, which the spec allows (the original
    computes all five and keeps one; the others get no loss gradient and have
    no state).

    Args:
        filters: `F`.
        num_inputs: nodes this slot can read, `block + 2`.
        static_op: build only this op (static network); None builds all five.
    """

    def __init__(self, filters: int, num_inputs: int, static_op: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.num_inputs = num_inputs
        self.static_op = static_op
        op_ids = range(NUM_OPS) if static_op is None else (static_op,)
        self.sep_conv_3 = self._sep_stack(0) if 0 in op_ids else []
        self.sep_conv_5 = self._sep_stack(1) if 1 in op_ids else []

    def _sep_stack(self, op_id: int) -> list[PerInputSepConv]:
        kernel = SEP_CONV_KERNELS[op_id]
        return [
            PerInputSepConv(self.filters, kernel, self.num_inputs, name=f"sep_conv_{kernel}x{kernel}_{rep}")
            for rep in range(2)
        ]

    def build(self, input_shape=None):
        for layer in self.sep_conv_3 + self.sep_conv_5:
            layer.build()
        self.built = True

    def _apply(self, x: tf.Tensor, op_id: int, weights: dict) -> tf.Tensor:
        if op_id in SEP_CONV_KERNELS:
            for layer_weights in weights[op_id]:
                x = PerInputSepConv.apply(x, layer_weights)
            return x
        if op_id == IDENTITY:
            return tf.identity(x)
        return _pool(x, op_id)

    def call(self, x, index, op):
        # Kernel rows are picked outside the op switch (see PerInputSepConv.select).
        selector = None if isinstance(index, int) else tf.one_hot(index, self.num_inputs)[None]
        weights = {
            op_id: [layer.select(index, selector) for layer in stack]
            for op_id, stack in ((0, self.sep_conv_3), (1, self.sep_conv_5))
            if stack
        }
        if self.static_op is not None:
            return self._apply(x, self.static_op, weights)
        return tf.switch_case(
            tf.cast(op, tf.int32),
            [(lambda op_id=op_id: self._apply(x, op_id, weights)) for op_id in range(NUM_OPS)],
        )

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, num_inputs=self.num_inputs, static_op=self.static_op)
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroSearchCell(keras.layers.Layer):
    """A supernet cell (spec 5.2): calibrated inputs, `B` blocks, loose ends -> 1x1 conv -> BN.

    The closing 1x1 conv is stored as `[B + 2, F * F]`: row `i` is node `i`'s
    `F x F` block, and the conv of the concatenated loose ends equals the sum
    of `relu(node_i) . W_i` over them. Here the loose ends are a 0/1 mask
    computed from the arc tensor and each node's term is added under a
    `tf.cond` on its bit, so the kernel rows of the other nodes get no loss
    gradient, as in the original's gather of the loose rows.

    Args:
        filters: `F`.
        num_blocks: `B`.
        prev_prev_shape, prev_shape: `(size, channels)` of the two inputs.
        static_cell: an `arch.MicroCell` to build statically (None: all ops).

    Call arguments:
        prev_prev, prev: the two cell inputs.
        cell_arc: int32 `[4B]`, this cell's part of the arc (ignored when static).
        training: Python bool.
    """

    def __init__(
        self,
        filters: int,
        num_blocks: int,
        prev_prev_shape: Shape,
        prev_shape: Shape,
        static_cell: arch.MicroCell | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.num_blocks = num_blocks
        self.static_cell = static_cell
        self.calibrate = CellInputs(filters, prev_prev_shape, prev_shape, name="inputs")
        self.slots = [
            MicroSearchSlot(
                filters,
                block + 2,
                static_op=None if static_cell is None else static_cell.blocks[block][2 * slot + 1],
                name=f"block_{block}_slot_{slot}",
            )
            for block in range(num_blocks)
            for slot in range(2)
        ]
        self.out_bn = BatchNorm(name="out_bn")
        self.size = prev_shape[0]

    def build(self, input_shape=None):
        self.calibrate.build()
        for slot in self.slots:
            slot.build()
        f = self.filters
        self.out_kernel = self.add_weight(
            name="out_kernel", shape=(self.num_blocks + 2, f * f), initializer=he_normal()
        )
        self.out_bn.build((None, self.size, self.size, f))
        self.built = True

    def call(self, prev_prev, prev, cell_arc=None, training=None):
        nodes = NodeArray(self.calibrate(prev_prev, prev, training=training))
        for block in range(self.num_blocks):
            outputs = []
            for slot in range(2):
                layer = self.slots[2 * block + slot]
                if self.static_cell is not None:
                    index, op = self.static_cell.blocks[block][2 * slot], None
                else:
                    offset = 4 * block + 2 * slot
                    index, op = cell_arc[offset], cell_arc[offset + 1]
                outputs.append(layer(nodes.read(index), index=index, op=op))
            nodes.append(outputs[0] + outputs[1])
        f, num_nodes = self.filters, self.num_blocks + 2
        kernel = tf.reshape(self.out_kernel, [num_nodes, 1, 1, f, f])

        def contribution(node: int) -> tf.Tensor:
            return tf.nn.conv2d(tf.nn.relu(nodes[node]), kernel[node], strides=1, padding="SAME")

        if self.static_cell is not None:
            out = tf.add_n([contribution(node) for node in self.static_cell.loose_ends()])
        else:
            # Concatenating all nodes and masking the kernel rows would convolve
            # every node; a cond per node convolves only the loose ends (the
            # masked form cost ~25% of a whole search step).
            loose = loose_end_mask(cell_arc, num_nodes)
            out = tf.zeros_like(nodes[0])
            for node in range(num_nodes):
                out = tf.cond(
                    loose[node] > 0,
                    lambda out=out, node=node: out + contribution(node),
                    lambda out=out: tf.identity(out),
                )
        return self.out_bn(out, training=training)

    def get_config(self):
        raise NotImplementedError("MicroSearchCell is built by MicroSupernet; serialise the network instead.")


def loose_end_mask(cell_arc: tf.Tensor, num_nodes: int) -> tf.Tensor:
    """float32 `[num_nodes]`: 1 for nodes no block of the cell reads, from its int32 `[4B]` arc."""
    indices = tf.reshape(tf.reshape(cell_arc, [-1, 4])[:, 0::2], [-1])
    used = tf.reduce_max(tf.one_hot(indices, num_nodes, dtype=tf.float32), axis=0)
    return 1.0 - used


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroFixedOp(keras.layers.Layer):
    """One chosen op of a final-network slot, with its stride (spec 5.3).

    Separable conv: twice `ReLU -> sep conv kxk -> BN`, the stride on the first.
    Pools: 3x3 with the stride. Identity: a factorized reduction at stride 2.

    Args:
        op_id: the op (`arch.MICRO_OP_NAMES`).
        filters: `F`.
        strides: 2 for inputs 0/1 of a reduction cell, else 1.
    """

    def __init__(self, op_id: int, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= op_id < NUM_OPS:
            raise ValueError(f"MicroFixedOp op_id must be in 0..{NUM_OPS - 1}. Received: op_id={op_id}")
        self.op_id = op_id
        self.filters = filters
        self.strides = strides
        self.layers_ = []
        if op_id in SEP_CONV_KERNELS:
            kernel = SEP_CONV_KERNELS[op_id]
            self.layers_ = [
                ConvBN(filters, kernel, strides=strides, separable=True, relu_before=True, name="sep_conv_0"),
                ConvBN(filters, kernel, separable=True, relu_before=True, name="sep_conv_1"),
            ]
        elif op_id == IDENTITY and strides == 2:
            self.layers_ = [FactorizedReduction(filters, name="reduce")]

    def build(self, input_shape):
        shape = input_shape
        for layer in self.layers_:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        if self.op_id in (AVG_POOL, MAX_POOL):
            return _pool(inputs, self.op_id, self.strides)
        x = inputs
        for layer in self.layers_:
            x = layer(x, training=training)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(op_id=self.op_id, filters=self.filters, strides=self.strides)
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroFixedCell(keras.layers.Layer):
    """A final-network cell (spec 5.3): only the chosen ops, loose ends concatenated.

    After calibration node 1 always gets a `ReLU -> 1x1 -> BN` base conv. In a
    reduction cell, ops reading nodes 0/1 have stride 2 and a loose node 0/1 is
    reduced by its own factorized reduction before the concat. No conv follows
    the concat: the output has `len(loose_ends) * F` channels. Drop path
    applies to the output of every non-identity op while training.

    Args:
        filters: `F`.
        cell: the `arch.MicroCell`.
        reduction: whether this is a reduction cell.
        prev_prev_shape, prev_shape: `(size, channels)` of the two inputs.
        cell_index: `c`, for the drop-path schedule.
        num_cells: `num_layers + 2`.
        drop_path_keep_prob: `--child_drop_path_keep_prob` (1.0: no drop path).
        total_steps: `S` of the drop-path schedule.
    """

    def __init__(
        self,
        filters: int,
        cell: arch.MicroCell,
        reduction: bool,
        prev_prev_shape: Shape,
        prev_shape: Shape,
        cell_index: int = 0,
        num_cells: int = 1,
        drop_path_keep_prob: float = 1.0,
        total_steps: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.cell = cell
        self.reduction = reduction
        self.cell_index = cell_index
        self.num_cells = num_cells
        self.drop_path_keep_prob = drop_path_keep_prob
        self.total_steps = total_steps
        self.size = prev_shape[0]
        self.calibrate = CellInputs(filters, prev_prev_shape, prev_shape, name="inputs")
        self.base_conv = ConvBN(filters, 1, relu_before=True, name="base_conv")
        self.ops = []
        for block, values in enumerate(cell.blocks):
            for slot in range(2):
                index, op_id = values[2 * slot], values[2 * slot + 1]
                strides = 2 if reduction and index in (0, 1) else 1
                self.ops.append(MicroFixedOp(op_id, filters, strides, name=f"block_{block}_slot_{slot}"))
        self.loose_ends = cell.loose_ends()
        self.loose_reductions = [
            FactorizedReduction(filters, name=f"node_{node}_reduce")
            for node in self.loose_ends
            if reduction and node in (0, 1)
        ]

    @property
    def output_shape_(self) -> Shape:
        size = self.size // 2 if self.reduction else self.size
        return (size, len(self.loose_ends) * self.filters)

    def build(self, input_shape=None):
        self.calibrate.build()
        node_shape = _feature_shape((self.size, self.filters))
        self.base_conv.build(node_shape)
        for layer in self.ops:
            layer.build(node_shape)
        for layer in self.loose_reductions:
            layer.build(node_shape)
        self.built = True

    def call(self, prev_prev, prev, training=None, step=None):
        prev_prev, prev = self.calibrate(prev_prev, prev, training=training)
        nodes = [prev_prev, self.base_conv(prev, training=training)]
        use_drop_path = training and self.drop_path_keep_prob < 1.0
        if use_drop_path:
            keep_prob = drop_path_keep_prob(
                self.cell_index,
                self.num_cells,
                tf.zeros([], tf.int64) if step is None else step,
                self.total_steps,
                self.drop_path_keep_prob,
            )
        for block, values in enumerate(self.cell.blocks):
            outputs = []
            for slot in range(2):
                layer = self.ops[2 * block + slot]
                x = layer(nodes[values[2 * slot]], training=training)
                if use_drop_path and layer.op_id != IDENTITY:
                    x = drop_path(x, keep_prob)
                outputs.append(x)
            nodes.append(outputs[0] + outputs[1])
        reductions = iter(self.loose_reductions)
        outputs = []
        for node in self.loose_ends:
            x = nodes[node]
            if self.reduction and node in (0, 1):
                x = next(reductions)(x, training=training)
            outputs.append(x)
        return tf.concat(outputs, axis=-1)

    def get_config(self):
        raise NotImplementedError("MicroFixedCell is built by MicroNetwork; serialise the network instead.")


class _MicroBase(keras.Model):
    """Stem -> cells -> ReLU -> GAP -> dropout -> dense, plus the optional aux head (spec 5.1).

    Call arguments:
        images: `[batch, 32, 32, 3]` float32, normalised.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_layers < 1 or num_blocks < 1 or out_filters < 2 or out_filters % 2:
            raise ValueError(
                "A micro network needs num_layers >= 1, num_blocks >= 1 and an even out_filters. Received: "
                f"num_layers={num_layers}, num_blocks={num_blocks}, out_filters={out_filters}"
            )
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


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroSupernet(_MicroBase):
    """The micro search network (spec 5.1, 5.2) for any architecture of its size.

    As the original (Q-8), it always runs in training mode: every BN uses batch
    statistics and the dropout is active, also for validation, test and the
    controller's rewards; `search_training_mode=False` gives normal inference
    behaviour instead. Drop path is never used in search (Q-9).

    Args:
        num_layers: `--child_num_layers` (cells = num_layers + 2).
        num_blocks: `B`, `--child_num_cells`.
        out_filters: `F` of the first cells.
        keep_prob: dropout keep probability before the classifier.
        use_aux_heads: build the auxiliary head after cell `pool_layers[1] + 1`.
        num_classes: 10 for CIFAR-10.
        static_arc: an `arch.MicroArc` to build statically (only its ops).
        search_training_mode: the original's always-training behaviour (Q-8).

    Example:
        >>> net = MicroSupernet(num_layers=1, num_blocks=2, out_filters=4)
        >>> net(tf.zeros([2, 32, 32, 3]), arc=tf.zeros([16], tf.int32)).shape
        TensorShape([2, 10])
    """

    def __init__(
        self,
        num_layers: int,
        num_blocks: int,
        out_filters: int,
        keep_prob: float = 1.0,
        use_aux_heads: bool = False,
        num_classes: int = 10,
        static_arc: arch.MicroArc | None = None,
        search_training_mode: bool = True,
        **kwargs,
    ):
        super().__init__(num_layers, num_blocks, out_filters, keep_prob, use_aux_heads, num_classes, **kwargs)
        if static_arc is not None:
            static_arc.validate()
            if static_arc.num_blocks != num_blocks:
                raise ValueError(f"static_arc has {static_arc.num_blocks} blocks; the supernet has {num_blocks}.")
        self.static_arc = static_arc
        self.search_training_mode = search_training_mode
        filters = out_filters
        prev_prev = prev = (32, 3 * out_filters)
        self.cells = []
        self.reductions = []
        for cell_index in range(self.num_cells):
            reduction = cell_index in self.pool_layers
            static_cell = None
            if static_arc is not None:
                static_cell = static_arc.reduction if reduction else static_arc.normal
            if reduction:
                filters *= 2
                self.reductions.append(FactorizedReduction(filters, name=f"cell_{cell_index}_reduce"))
                reduced = (prev[0] // 2, filters)
                prev_prev, prev = prev, reduced
            self.cells.append(
                MicroSearchCell(filters, num_blocks, prev_prev, prev, static_cell, name=f"cell_{cell_index}")
            )
            out = (prev[0], filters)
            if reduction:
                # the reduced prev, not the full-resolution one, becomes prev_prev.
                prev_prev, prev = reduced, out
            else:
                prev_prev, prev = prev, out
            if cell_index == self.aux_cell:
                self._aux_input_shape = (out[0], out[0], out[1])

    def _effective_training(self, training):
        return True if self.search_training_mode else bool(training)

    def _cells_forward(self, stem, arc, training, step):
        cell_length = arch.micro_cell_length(self.num_blocks)
        prev_prev = prev = stem
        aux_input = None
        reductions = iter(self.reductions)
        for cell_index, cell in enumerate(self.cells):
            reduction = cell_index in self.pool_layers
            cell_arc = None
            if self.static_arc is None:
                cell_arc = arc[cell_length:] if reduction else arc[:cell_length]
            if reduction:
                reduced = next(reductions)(prev, training=training)
                out = cell(prev, reduced, cell_arc=cell_arc, training=training)
                prev_prev, prev = reduced, out
            else:
                out = cell(prev_prev, prev, cell_arc=cell_arc, training=training)
                prev_prev, prev = prev, out
            if cell_index == self.aux_cell:
                aux_input = out
        return prev, aux_input

    def get_config(self):
        if self.static_arc is not None:
            raise NotImplementedError("A statically built MicroSupernet is a benchmark helper; it has no config.")
        return {
            "name": self.name,
            "num_layers": self.num_layers,
            "num_blocks": self.num_blocks,
            "out_filters": self.out_filters,
            "keep_prob": self.keep_prob,
            "use_aux_heads": self.use_aux_heads,
            "num_classes": self.num_classes,
            "search_training_mode": self.search_training_mode,
        }


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroNetwork(_MicroBase):
    """The micro final-training network for one architecture (spec 5.1, 5.3-5.5).

    For the flags and `fixed_arc` of `cifar10_micro_final.sh` this has the
    original's 3,894,372 trainable parameters outside the aux head and 494,848
    in it.

    Args:
        fixed_arc: the `arch.MicroArc` to build.
        num_layers: `--child_num_layers` (cells = num_layers + 2).
        out_filters: `F` of the first cells.
        keep_prob: dropout keep probability before the classifier.
        drop_path_keep_prob: keep probability the last cell reaches at the end
            of training (1.0: no drop path).
        total_steps: `S = num_epochs * num_train_batches` of the schedule.
        use_aux_heads: build the auxiliary head.
        num_classes: 10 for CIFAR-10.

    Example:
        >>> net = MicroNetwork(arch.MicroArc.parse("0 2 0 0  1 0 1 0"), num_layers=1, out_filters=4)
        >>> net(tf.zeros([2, 32, 32, 3])).shape
        TensorShape([2, 10])
    """

    #: `ChildTrainer` passes the optimizer's step counter (drop-path schedule).
    uses_step_counter = True

    def __init__(
        self,
        fixed_arc: arch.MicroArc,
        num_layers: int,
        out_filters: int,
        keep_prob: float = 1.0,
        drop_path_keep_prob: float = 1.0,
        total_steps: int = 1,
        use_aux_heads: bool = False,
        num_classes: int = 10,
        **kwargs,
    ):
        fixed_arc.validate()
        super().__init__(
            num_layers, fixed_arc.num_blocks, out_filters, keep_prob, use_aux_heads, num_classes, **kwargs
        )
        if not 0.0 < drop_path_keep_prob <= 1.0:
            raise ValueError(f"drop_path_keep_prob must be in (0, 1]. Received: {drop_path_keep_prob}")
        self.fixed_arc = fixed_arc
        self.drop_path_keep_prob = drop_path_keep_prob
        self.total_steps = total_steps
        filters = out_filters
        prev_prev = prev = (32, 3 * out_filters)
        self.cells = []
        for cell_index in range(self.num_cells):
            reduction = cell_index in self.pool_layers
            if reduction:
                filters *= 2
            cell = MicroFixedCell(
                filters,
                fixed_arc.reduction if reduction else fixed_arc.normal,
                reduction,
                prev_prev,
                prev,
                cell_index=cell_index,
                num_cells=self.num_cells,
                drop_path_keep_prob=drop_path_keep_prob,
                total_steps=total_steps,
                name=f"cell_{cell_index}",
            )
            self.cells.append(cell)
            prev_prev, prev = prev, cell.output_shape_
            if cell_index == self.aux_cell:
                self._aux_input_shape = (prev[0], prev[0], prev[1])

    def _cells_forward(self, stem, arc, training, step):
        prev_prev = prev = stem
        aux_input = None
        for cell_index, cell in enumerate(self.cells):
            out = cell(prev_prev, prev, training=training, step=step)
            prev_prev, prev = prev, out
            if cell_index == self.aux_cell:
                aux_input = out
        return prev, aux_input

    def get_config(self):
        return {
            "name": self.name,
            "fixed_arc": str(self.fixed_arc),
            "num_layers": self.num_layers,
            "out_filters": self.out_filters,
            "keep_prob": self.keep_prob,
            "drop_path_keep_prob": self.drop_path_keep_prob,
            "total_steps": self.total_steps,
            "use_aux_heads": self.use_aux_heads,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["fixed_arc"] = arch.MicroArc.parse(config["fixed_arc"])
        return cls(**config)
