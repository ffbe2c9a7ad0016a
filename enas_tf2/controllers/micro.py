"""The micro (CIFAR cell space) controller (ENAS_SPEC.md 6.3).

An LSTM that samples the normal cell and then the reduction cell, each as `B`
blocks `(index_1, op_1, index_2, op_2)`, producing the original flat encoding of
`arch.MicroArc` (`8 * B` ints, spec 2.2). One sampler routine runs twice: the
reduction cell continues from the LSTM state the normal cell left, so the two
cells are sampled as one sequence, not independently.

As in the macro controller, everything happens on tensors: `sample()` runs
inside one `tf.function` trace (the Python loops over the static `B` blocks
unroll at trace time), the chosen input node is read from the stacked anchors
with `tf.gather`, and the arc stays an int32 tensor that feeds the child's step
directly.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2 import arch

from enas_tf2.controllers import reinforce
from enas_tf2.controllers.attention import ControllerAttention
from enas_tf2.controllers.lstm import ControllerLSTMCell, controller_initializer
from enas_tf2.errors import EnasError, FlagError

#: Ops per block input: the micro space's (`arch.MICRO_OPS`).
NUM_BRANCHES = len(arch.MICRO_OPS)

#: Initial value of the trainable op-softmax bias `b_soft` (spec 6.3): the two
#: sep-convs start strongly favoured before the tanh squashes the logits.
OP_BIAS_INIT: tuple[float, ...] = (10.0, 10.0, 0.0, 0.0, 0.0)

#: The constant (never trained) bias added to the op logits of the normal cell
#: only, after the tanh (the original's `b_soft_no_learn`, spec 6.3).
NORMAL_CELL_OP_BIAS: tuple[float, ...] = (0.25, 0.25, -0.25, -0.25, -0.25)

#: Index of each decision of a block in the emitted encoding: the controller
#: samples `index_1, index_2, op_1, op_2` but emits `index_1, op_1, index_2, op_2`.
_INDEX_SLOTS = (0, 2)
_OP_SLOTS = (1, 3)


def full_entropy(logits: tf.Tensor) -> tf.Tensor:
    """`H(softmax(z)) = -sum_a p(a) log p(a)` per row of `[batch, classes]` logits, stop-gradiented.

    The micro controller's entropy bonus uses the whole distribution, unlike
    the macro and PTB controllers' `-p(a) log p(a)` of the taken action
    (ENAS_SPEC.md Q-12). It only enters the reward, so it is a constant in the
    loss, as in the original.
    """
    return tf.stop_gradient(
        tf.nn.softmax_cross_entropy_with_logits(labels=tf.nn.softmax(logits), logits=logits)
    )


@keras.saving.register_keras_serializable(package="enas_tf2")
class MicroController(keras.Model):
    """Samples micro architectures and scores them for REINFORCE (spec 6.3).

    Per cell (the normal cell from the zero state with the constant op bias,
    then the reduction cell from the state the normal cell left, without it):

    1. Two steps `h = LSTM(g_emb)` for the cell inputs (nodes 0 and 1): their
       anchors are zero vectors, their keys `h . W_1`.
    2. Per block `k` (node `k + 2`, `m = k + 2` candidates), starting from
       input `g_emb`:
       * twice (index_1, index_2): `h = LSTM(input)`, logits
         `post(u_0(h) .. u_{m-1}(h))` over the cached keys, sample `idx`, next
         input = `anchor[idx]` (a zero vector for the cell inputs);
       * twice (op_1, op_2): `h = LSTM(input)`,
         `z = post_op(h . W_soft + b_soft)` (+ the constant bias in the normal
         cell), sample `op`, next input = `E_op[op]`;
       * `h = LSTM(input)` is node `k + 2`'s anchor (key `h . W_1`), and the
         next block starts from `g_emb` again.

    `post` is `z / T` then `C tanh(z)`; `post_op` is the same with
    `C / op_tanh_reduce`, which keeps the initial op policy near uniform
    (logits within `+-0.44` for `C = 1.1`, `op_tanh_reduce = 2.5`) even though
    `b_soft` starts at `(10, 10, 0, 0, 0)`.

    All weights are created in `__init__` (uniform(-0.1, 0.1), spec 6.1, except
    `b_soft`), so nothing is created lazily inside a `tf.function`. Parameters:
    LSTM `[2n, 4n]`, `g_emb [1, n]`, op embedding `[5, n]`, op softmax `[n, 5]`
    plus its trainable bias `b_soft [1, 5]`, attention `W_1, W_2 [n, n]`,
    `v [n, 1]`. The normal cell's constant bias is not a variable.

    Args:
        num_cells: `B`, the blocks per cell (the original's `--child_num_cells`;
            "cells" there counts the nodes of one cell).
        num_branches: ops per block; must be 5 (`arch.MICRO_OPS`), since the
            two biases are defined for exactly these ops.
        lstm_size: hidden size `n` (64 in every script).
        tanh_constant: `C` of the logit post-processing, or None.
        op_tanh_reduce: the op logits use `C / op_tanh_reduce` (2.5 in the
            search script); ignored when `tanh_constant` is None.
        temperature: logit temperature, or None.

    Raises:
        FlagError: for an unsupported `num_branches` or an out-of-range argument.

    Example:
        >>> controller = MicroController(num_cells=2)
        >>> out = controller.sample(tf.random.Generator.from_seed(0))
        >>> out["arc"].shape
        TensorShape([16])
    """

    def __init__(
        self,
        num_cells: int = 5,
        num_branches: int = NUM_BRANCHES,
        lstm_size: int = 64,
        tanh_constant: float | None = None,
        op_tanh_reduce: float = 1.0,
        temperature: float | None = None,
        name: str = "micro_controller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        for arg_name, value in (("num_cells", num_cells), ("num_branches", num_branches), ("lstm_size", lstm_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise FlagError(
                    f"MicroController expected a positive integer {arg_name}. Received: {arg_name}={value!r}"
                )
        if num_branches != NUM_BRANCHES:
            raise FlagError(
                f"MicroController supports only num_branches={NUM_BRANCHES} (the micro ops "
                f"{', '.join(arch.MICRO_OPS)}; the op biases (10, 10, 0, 0, 0) and "
                f"(0.25, 0.25, -0.25, -0.25, -0.25) are defined for them). Received: num_branches={num_branches!r}"
            )
        if not op_tanh_reduce or op_tanh_reduce <= 0:
            raise FlagError(
                f"--controller_op_tanh_reduce must be positive (op logits use tanh_constant / op_tanh_reduce). "
                f"Received: op_tanh_reduce={op_tanh_reduce!r}"
            )
        if temperature is not None and temperature <= 0:
            raise FlagError(
                f"--controller_temperature must be positive or unset (logits are divided by it). "
                f"Received: temperature={temperature!r}"
            )
        self.num_cells = num_cells
        self.num_branches = num_branches
        self.lstm_size = lstm_size
        self.tanh_constant = tanh_constant
        self.op_tanh_reduce = float(op_tanh_reduce)
        self.temperature = temperature
        # No skip penalty in the micro space; the trainer reads this default.
        self.skip_weight = 0.0
        self.arc_length = arch.micro_arc_length(num_cells)

        n = lstm_size
        self.lstm = ControllerLSTMCell(n, name="lstm")
        self.lstm.build((1, n))
        self.attention = ControllerAttention(n, name="attention")
        self.attention.build(None)
        self.g_emb = self.add_weight(name="g_emb", shape=(1, n), initializer=controller_initializer())
        self.op_embedding = self.add_weight(
            name="op_embedding", shape=(num_branches, n), initializer=controller_initializer()
        )
        self.op_softmax = self.add_weight(
            name="op_softmax", shape=(n, num_branches), initializer=controller_initializer()
        )
        # Keras' Constant initializer takes scalars only: create, then assign the vector.
        self.op_softmax_bias = self.add_weight(name="op_softmax_bias", shape=(1, num_branches), initializer="zeros")
        self.op_softmax_bias.assign([OP_BIAS_INIT])
        self.built = True

    def _post(self, logits: tf.Tensor) -> tf.Tensor:
        return reinforce.logit_postprocess(logits, self.temperature, self.tanh_constant)

    def choice_counts(self) -> list[int]:
        """The number of values each arc position can take (both cells: `x_idx x_op y_idx y_op` per node).

        Node `b` (0-based) reads one of the `b + 2` earlier nodes; each input takes one of the
        `num_branches` ops. The random search policy samples each position uniformly from these.
        """
        cell = [count for block in range(self.num_cells)
                for count in (block + 2, self.num_branches, block + 2, self.num_branches)]
        return cell + cell

    def _op_logits(self, h: tf.Tensor, normal_cell: bool) -> tf.Tensor:
        """`[1, 5]` op logits: `(C / op_tanh_reduce) tanh((h . W_soft + b_soft) / T)` (+ the constant bias)."""
        op_tanh = None if self.tanh_constant is None else self.tanh_constant / self.op_tanh_reduce
        logits = tf.matmul(h, self.op_softmax) + self.op_softmax_bias
        logits = reinforce.logit_postprocess(logits, self.temperature, op_tanh)
        if normal_cell:
            logits = logits + tf.constant([NORMAL_CELL_OP_BIAS], dtype=logits.dtype)
        return logits

    @staticmethod
    def _decide(
        logits: tf.Tensor, rng: tf.random.Generator | None, forced_arc: tf.Tensor | None, position: int
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Samples (or reads `forced_arc[position]`) one action: int32 `[1]`, its NLL and full entropy."""
        if forced_arc is not None:
            action = forced_arc[position : position + 1]
        else:
            action = reinforce.sample_categorical(logits, rng)
        nll = tf.reduce_sum(reinforce.decision_nll(logits, action))
        return action, nll, tf.reduce_sum(full_entropy(logits))

    def _sample_cell(
        self,
        state: tuple[tf.Tensor, tf.Tensor],
        normal_cell: bool,
        offset: int,
        rng: tf.random.Generator | None,
        forced_arc: tf.Tensor | None,
    ) -> tuple[list[tf.Tensor], list[tf.Tensor], list[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
        """One run of the sampler routine of spec 6.3 for one cell.

        Args:
            state: the LSTM `(c, h)` to start from (zeros for the normal cell).
            normal_cell: adds the constant op bias if True.
            offset: position of the cell's first token in the flat arc.
            rng: generator to sample with (unused with `forced_arc`).
            forced_arc: the arc to score, or None to sample.

        Returns:
            `(arc_parts, nlls, entropies, state)`: the cell's `4 * B` actions as
            int32 `[1]` tensors in emitted order, per-decision NLLs and full
            entropies (float32 scalars), and the final LSTM state.
        """
        zeros = tf.zeros([1, self.lstm_size], dtype=self.g_emb.dtype)
        anchors: list[tf.Tensor] = []
        anchor_keys: list[tf.Tensor] = []
        for _ in range(2):
            # The cell inputs' anchors are zero vectors: choosing node 0/1 feeds
            # zeros to the next step; only their keys come from the LSTM.
            h, state = self.lstm(self.g_emb, state)
            anchors.append(zeros)
            anchor_keys.append(self.attention.anchor_key(h))

        arc_parts: list[tf.Tensor] = []
        nlls: list[tf.Tensor] = []
        entropies: list[tf.Tensor] = []
        inputs = self.g_emb
        for block in range(self.num_cells):
            start = offset + 4 * block
            block_actions: dict[int, tf.Tensor] = {}
            stacked_anchors = tf.concat(anchors, axis=0)
            stacked_keys = tf.concat(anchor_keys, axis=0)
            for slot in _INDEX_SLOTS:
                h, state = self.lstm(inputs, state)
                logits = tf.reshape(self._post(self.attention(stacked_keys, h)), [1, block + 2])
                index, nll, entropy = self._decide(logits, rng, forced_arc, start + slot)
                block_actions[slot] = index
                nlls.append(nll)
                entropies.append(entropy)
                inputs = tf.gather(stacked_anchors, index)
            for slot in _OP_SLOTS:
                h, state = self.lstm(inputs, state)
                logits = self._op_logits(h, normal_cell)
                op, nll, entropy = self._decide(logits, rng, forced_arc, start + slot)
                block_actions[slot] = op
                nlls.append(nll)
                entropies.append(entropy)
                inputs = tf.gather(self.op_embedding, op)
            # The state after feeding op_2 is the new node's anchor.
            h, state = self.lstm(inputs, state)
            anchors.append(h)
            anchor_keys.append(self.attention.anchor_key(h))
            inputs = self.g_emb
            arc_parts.extend(block_actions[slot] for slot in range(4))
        return arc_parts, nlls, entropies, state

    def sample(
        self, rng: tf.random.Generator | None = None, forced_arc: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """Samples one architecture (or scores `forced_arc`) with its REINFORCE terms.

        Args:
            rng: the generator the seeds of every decision are drawn from; may be
                None only when `forced_arc` is given.
            forced_arc: optional int32 `[8 * B]` arc (normal cell, then reduction
                cell); if given, its actions replace the sampled ones (teacher
                forcing) and the same log-prob and entropy are computed for it.
                Outside a `tf.function` its values are checked too; inside one,
                out-of-range values are the caller's responsibility.

        Returns:
            A dict of tensors:
            `arc` int32 `[8 * B]` in the original flat encoding;
            `log_prob` float32 scalar, `sum log pi` of all `8 * B` decisions of
            both cells (= -NLL);
            `entropy` float32 scalar, the sum of the full distribution entropy
            of every decision (Q-12), stop-gradiented;
            `skip_penalty`, `skip_count`, `skip_rate` float32 zeros (the micro
            space has no skip penalty; kept for the trainer's interface).

        Raises:
            EnasError: if neither `rng` nor `forced_arc` is given.
            ArcError: if `forced_arc` has a static length other than `8 * B`, or
                (eagerly) holds an index or op id out of range.
        """
        if forced_arc is None and rng is None:
            raise EnasError("MicroController.sample needs an rng to sample with, or a forced_arc to score.")
        if forced_arc is not None:
            forced_arc = reinforce.check_forced_arc(
                forced_arc,
                self.arc_length,
                f"8 * B for B={self.num_cells} blocks per cell: the normal cell's 4 * B ints, then the reduction cell's",
            )
            if tf.executing_eagerly():
                # Concrete values: name the bad token instead of failing inside tf.gather.
                arch.MicroArc.from_flat(forced_arc.numpy())

        cell_length = arch.micro_cell_length(self.num_cells)
        state = self.lstm.zero_state(1)
        arc_parts: list[tf.Tensor] = []
        nlls: list[tf.Tensor] = []
        entropies: list[tf.Tensor] = []
        for cell_index, cell_name in enumerate(arch.MICRO_CELL_NAMES):
            # The reduction cell continues from the state the normal cell left.
            parts, cell_nlls, cell_entropies, state = self._sample_cell(
                state, cell_name == "normal", cell_index * cell_length, rng, forced_arc
            )
            arc_parts.extend(parts)
            nlls.extend(cell_nlls)
            entropies.extend(cell_entropies)

        return reinforce.sample_without_skips(arc_parts, nlls, entropies)

    def call(self, forced_arc):
        """Scores a known arc: `sample(forced_arc=...)` (the Keras forward pass)."""
        return self.sample(forced_arc=forced_arc)

    def get_config(self):
        return {
            "name": self.name,
            "num_cells": self.num_cells,
            "num_branches": self.num_branches,
            "lstm_size": self.lstm_size,
            "tanh_constant": self.tanh_constant,
            "op_tanh_reduce": self.op_tanh_reduce,
            "temperature": self.temperature,
        }
