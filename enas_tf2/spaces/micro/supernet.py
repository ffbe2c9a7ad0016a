"""The micro search network for any architecture of its size (ENAS_SPEC.md 5.1, 5.2).

`MicroSupernet` owns every candidate op of every slot. The architecture is the int32 flat
encoding (`arch.MicroArc.to_array()`: normal cell then reduction cell); each slot picks its
input node from the cell's `NodeArray` and its op with `OpChoice`, so one traced step serves
every architecture. Separable convs keep one set of weights per possible input node, stored
stacked as the original does (`layers.per_input`). Given `static_arc`, the same classes build
only the chosen ops: the statically built network the benchmark compares against.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.arch import MICRO_OPS
from enas_tf2.layers.batch_norm import BatchNorm
from enas_tf2.layers.initializers import he_normal
from enas_tf2.layers.input_choice import NodeArray, add_selected
from enas_tf2.layers.op_choice import OpChoice
from enas_tf2.layers.per_input import ColumnBlocks, select_rows
from enas_tf2.layers.reduction import FactorizedReduction
from enas_tf2.spaces.micro.base import CellInputs, MicroBase
from enas_tf2.spaces.micro.ops import Shape


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroSearchSlot(keras.layers.Layer):
    """One slot of a supernet block: one of the five ops on the chosen input node (spec 5.2).

    The op is an `OpChoice` over the search forms of `arch.MICRO_OPS` (`ops`); the cell reads
    the input node from its `NodeArray`. Only the chosen op runs, which the spec allows (the
    original computes all five and keeps one; the others get no loss gradient and have no
    state).

    The per-input stacks of all the slot's ops (`[num_inputs, width]` each, as the original
    stores them: depthwise, pointwise, BN gamma and beta of each separable conv) are the column
    blocks of one weight, `per_input_weights` `[num_inputs, sum of widths]`, each block
    initialised as its stack (`per_input.ColumnBlocks`). The chosen input's row is read before the
    switch with one matmul (`per_input.select_rows`) and split per op (`OpChoice`'s
    `selections`); `columns(op_id)` says which columns are an op's. One weight per slot instead of
    sixteen: the update's per-weight ops (L2, norm, momentum, all-reduce) were most of a micro
    search step's graph.

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
        op_ids = range(len(MICRO_OPS)) if static_op is None else (static_op,)
        self.choice = OpChoice(
            [MICRO_OPS.build(op_id, filters, num_inputs=num_inputs, name=MICRO_OPS.name_of(op_id)) for op_id in op_ids],
            name="choice",
        )

    def build(self, input_shape=None):
        self.choice.build(input_shape)
        blocks = [block for branch in self.choice.branches for block in branch.per_input_columns()]
        self.per_input_weights = None
        if blocks:
            initializer = ColumnBlocks(blocks)
            self.per_input_weights = self.add_weight(
                name="per_input_weights", shape=(self.num_inputs, initializer.width), initializer=initializer
            )
        self.built = True

    def _branch_widths(self) -> list[int]:
        return [sum(width for width, _ in branch.per_input_columns()) for branch in self.choice.branches]

    def columns(self, op_id: int) -> slice:
        """The columns of `per_input_weights` that are op `op_id`'s stacks (empty for an op without weights)."""
        op_ids = list(range(len(MICRO_OPS))) if self.static_op is None else [self.static_op]
        if op_id not in op_ids:
            raise ValueError(f"Op {op_id} is not built in this slot (ops {op_ids}).")
        position = op_ids.index(op_id)
        widths = self._branch_widths()
        start = sum(widths[:position])
        return slice(start, start + widths[position])

    def call(self, x, index, op):
        widths = self._branch_widths()
        selections = [None] * len(widths)
        if self.per_input_weights is not None:
            row = select_rows([self.per_input_weights], index)
            pieces = iter(tf.split(row, [width for width in widths if width]))
            selections = [next(pieces) if width else None for width in widths]
        op_id = 0 if self.static_op is not None else op
        return self.choice(x, op_id=op_id, selections=selections)

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
            # Concatenating all nodes and masking the kernel rows would convolve every node;
            # `add_selected` convolves only the loose ends.
            terms = [(lambda node=node: contribution(node)) for node in range(num_nodes)]
            out = add_selected(tf.zeros_like(nodes[0]), terms, loose_end_mask(cell_arc, num_nodes))
        return self.out_bn(out, training=training)

    def get_config(self):
        raise NotImplementedError("MicroSearchCell is built by MicroSupernet; serialise the network instead.")


def loose_end_mask(cell_arc: tf.Tensor, num_nodes: int) -> tf.Tensor:
    """float32 `[num_nodes]`: 1 for nodes no block of the cell reads, from its int32 `[4B]` arc."""
    indices = tf.reshape(tf.reshape(cell_arc, [-1, 4])[:, 0::2], [-1])
    used = tf.reduce_max(tf.one_hot(indices, num_nodes, dtype=tf.float32), axis=0)
    return 1.0 - used


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroSupernet(MicroBase):
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
        image_size: side of the square input images (a multiple of 4; 32 for CIFAR-10).
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
        image_size: int = 32,
        **kwargs,
    ):
        super().__init__(
            num_layers, num_blocks, out_filters, keep_prob, use_aux_heads, num_classes, image_size, **kwargs
        )
        if static_arc is not None:
            static_arc.validate()
            if static_arc.num_blocks != num_blocks:
                raise ValueError(f"static_arc has {static_arc.num_blocks} blocks; the supernet has {num_blocks}.")
        self.static_arc = static_arc
        self.search_training_mode = search_training_mode
        filters = out_filters
        prev_prev = prev = (image_size, 3 * out_filters)
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
            "image_size": self.image_size,
        }
