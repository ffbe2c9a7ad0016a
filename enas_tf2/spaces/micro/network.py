"""The micro final-training network for one architecture (ENAS_SPEC.md 5.1, 5.3-5.5).

Only the chosen ops (the fixed forms of `arch.MICRO_OPS`), stride-2 ops in reduction cells,
loose ends concatenated, drop path and the auxiliary head.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.arch import MICRO_OPS
from enas_tf2.layers.conv import ConvBN
from enas_tf2.layers.drop_path import drop_path, drop_path_keep_prob
from enas_tf2.layers.reduction import FactorizedReduction
from enas_tf2.spaces.micro.base import CellInputs, MicroBase, feature_shape
from enas_tf2.spaces.micro.ops import Shape


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
        drop_path_seed: the drop-path masks are stateless, keyed on `(seed, step, cell, op)`, so a
            resumed run draws the same masks as an uninterrupted one.
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
        drop_path_seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.drop_path_seed = int(drop_path_seed)
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
                self.ops.append(MICRO_OPS.build(op_id, filters, strides=strides, name=f"block_{block}_slot_{slot}"))
        # Drop path skips the identity ops (spec 5.4).
        self.drops_path = [MICRO_OPS.name_of(values[2 * slot + 1]) != "identity"
                           for values in cell.blocks for slot in range(2)]
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
        node_shape = feature_shape((self.size, self.filters))
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
            step = tf.zeros([], tf.int64) if step is None else tf.cast(step, tf.int64)
            keep_prob = drop_path_keep_prob(self.cell_index, self.num_cells, step, self.total_steps,
                                            self.drop_path_keep_prob)
            # Each replica of a distributed step drops its own examples' paths.
            replica = tf.distribute.get_replica_context()
            replica_id = 0 if replica is None else replica.replica_id_in_sync_group
            cell_seed = tf.random.experimental.stateless_fold_in(
                tf.stack([tf.constant(self.drop_path_seed, tf.int64), step]),
                tf.cast(replica_id, tf.int64) * 1000 + self.cell_index,
            )
        for block, values in enumerate(self.cell.blocks):
            outputs = []
            for slot in range(2):
                layer = self.ops[2 * block + slot]
                x = layer(nodes[values[2 * slot]], training=training)
                if use_drop_path and self.drops_path[2 * block + slot]:
                    x = drop_path(x, keep_prob, seed=tf.random.experimental.stateless_fold_in(cell_seed, 2 * block + slot))
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


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroNetwork(MicroBase):
    """The micro final-training network for one architecture (spec 5.1, 5.3-5.5).

    For the flags and `fixed_arc` of `cifar10_micro_final.sh` this has the
    original's 3,894,372 trainable parameters outside the aux head and 494,848
    in it.

    Args:
        fixed_arc: the `arch.MicroArc` to build.
        num_layers: `--child_num_layers` (cells = num_layers + 2).
        out_filters: `F` of the first cells.
        keep_prob: dropout keep probability before the classifier.
        drop_path_seed: key of the stateless drop-path masks (`MicroFixedCell`).
        drop_path_keep_prob: keep probability the last cell reaches at the end
            of training (1.0: no drop path).
        total_steps: `S = num_epochs * num_train_batches` of the schedule.
        use_aux_heads: build the auxiliary head.
        num_classes: 10 for CIFAR-10.
        image_size: side of the square input images (a multiple of 4; 32 for CIFAR-10).

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
        image_size: int = 32,
        drop_path_seed: int = 0,
        **kwargs,
    ):
        fixed_arc.validate()
        super().__init__(
            num_layers, fixed_arc.num_blocks, out_filters, keep_prob, use_aux_heads, num_classes, image_size,
            **kwargs,
        )
        if not 0.0 < drop_path_keep_prob <= 1.0:
            raise ValueError(f"drop_path_keep_prob must be in (0, 1]. Received: {drop_path_keep_prob}")
        self.fixed_arc = fixed_arc
        self.drop_path_keep_prob = drop_path_keep_prob
        self.total_steps = total_steps
        filters = out_filters
        prev_prev = prev = (image_size, 3 * out_filters)
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
                drop_path_seed=drop_path_seed,
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
            "image_size": self.image_size,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["fixed_arc"] = arch.MicroArc.parse(config["fixed_arc"])
        return cls(**config)
