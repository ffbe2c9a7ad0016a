"""The Penn Treebank recurrent-cell space: language models for search (supernet) and final training.

A PTB child is a one-layer recurrent language model (ENAS_PTB_SPEC.md 1.4, ENAS_SPEC.md 8.1):
embedding `E [V, H]` -> the ENAS cell over the window (`cells`) -> logits
`h_t . E^T` (weight tying, no bias, no separate softmax matrix). Two implementations sit behind
`ptb_impl` (ENAS_PTB_SPEC.md 5.1):

* "enas_lm" — the authors' corrected code (google-research `enas_lm`, GPU semantics): node 0
  always tanh; word dropout on embedding rows (`drop_e`, `[V]`) plus locked embedding dropout
  (`drop_i`, `[B, 1, H]`); locked `drop_x`, `drop_l` inside the cell; locked `drop_o` on the
  outputs; optional weight drop (`drop_w`, 0 in every preset). Cell output "mean_all".
* "original" — `melodyguan/enas` `src/ptb`: word dropout per (row, position) with repeats of a
  dropped word dropped too (`drop_e = 1 - child_lstm_e_keep`), locked `drop_x`, `drop_l`
  (`= 1 - h_keep`) and `drop_o`; no `drop_i` / `drop_w`; batch norm in the search cell. Cell
  output "loose_ends".

`PtbSupernet` takes the architecture as an int32 `[N, 2]` tensor of arc rows
(`arc_tensor.ptb_arc_rows`), so one traced step serves every architecture and (with a `None` time
dimension in its signature) every window length. `PtbNetwork` is built for one `arch.PtbArc` and
holds only its weights.

Both models are called as `model(tokens, state, arc=None, training=False)` and return
`(logits [B, T, V], new_state [B, H])`; the carried state is explicit so the trainer decides
where it lives (a non-trainable variable written after each window with gradients stopped,
ENAS_PTB_SPEC.md 1.9) and when it is zeroed. With `return_outputs=True` they also return the
cell outputs the regularisers need: `"all_s"` (before output dropout) and `"top_s"` (after).
The losses and regularisers of each implementation are the functions at the end of this
module, and `WeightAverage` is enas_lm's evaluation-time weight average (ENAS_PTB_SPEC.md 2.4).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.errors import ArcError
from enas_tf2.layers import dropout as dropout_lib
from enas_tf2.spaces.rnn.arc_tensor import ptb_arc_rows
from enas_tf2.spaces.rnn.batch_norm import PTB_BN_EPSILON, PTB_BN_MOMENTUM
from enas_tf2.spaces.rnn.cells import NUM_PTB_ACTIVATIONS, PtbFixedCell, PtbSearchCell, check_ptb_impl

#: PTB vocabulary size, hard-wired in both references.
PTB_VOCAB_SIZE = 10000

_DROP_NAMES = ("drop_e", "drop_i", "drop_x", "drop_l", "drop_o", "drop_w")


def ptb_num_params(vocab_size: int, hidden_size: int, num_nodes: int, ptb_impl: str, search: bool) -> int:
    """Trainable parameters of a PTB child (ENAS_PTB_SPEC.md 3.2), computed from the storage layout.

    Fixed (both): `V H + 4 H^2 + (N - 1) 2 H^2`. enas_lm search: `V H + 4 H^2 + sum_l 4 l 2 H^2`.
    Original search: `V H + 4 * 4 H^2 + sum_l 4 l 2 H^2` plus BN scale/offset `N * 2 * 2H + 2H`.
    `N` counts node 0.

    Example:
        >>> ptb_num_params(10000, 748, 12, "original", search=False)
        22027104
    """
    check_ptb_impl(ptb_impl)
    v, h, n = vocab_size, hidden_size, num_nodes
    if not search:
        return v * h + 4 * h * h + (n - 1) * 2 * h * h
    nodes = sum(NUM_PTB_ACTIVATIONS * l * h * 2 * h for l in range(1, n))
    if ptb_impl == "enas_lm":
        return v * h + 4 * h * h + nodes
    return v * h + NUM_PTB_ACTIVATIONS * 4 * h * h + nodes + n * 2 * 2 * h + 2 * h


class _PtbLanguageModel(keras.Model):
    """Embedding -> ENAS cell over the window -> tied softmax, with the implementation's dropout.

    Call arguments:
        tokens: int32 `[B, T]` word ids; `T` may be dynamic.
        state: float32 `[B, H]`, the carried `h` (zeros at the start of an epoch / evaluation;
            `initial_state(B)`).
        arc: int32 `[N, 2]` arc rows (`PtbSupernet` only).
        training: Python bool: dropout (and the original search BN's batch statistics).
        masks: optional dict of dropout masks (`sample_masks`); by default `training` draws
            fresh ones. Passing them makes a step reproducible (tests, split windows).
        return_outputs: also return `{"all_s": [B, T, H] cell outputs before output dropout,
            "top_s": the same after it}` for the regularisers.

    Returns:
        `(logits [B, T, V], new_state [B, H])`, plus the outputs dict with `return_outputs`.
        `new_state` is `h_T` without dropout and without a gradient stop.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        ptb_impl: str,
        init_range: float,
        dropout: dict[str, float],
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_ptb_impl(ptb_impl)
        if vocab_size <= 0 or hidden_size <= 0:
            raise ValueError(
                f"A PTB model expects positive vocab_size and hidden_size. Received: vocab_size={vocab_size}, "
                f"hidden_size={hidden_size}"
            )
        for name in _DROP_NAMES:
            dropout_lib._check_rate(dropout[name], name)
        if ptb_impl == "original" and (dropout["drop_i"] or dropout["drop_w"]):
            raise ValueError(
                "ptb_impl='original' has no embedding-feature (drop_i) or weight (drop_w) dropout; set both to 0. "
                f"Received: drop_i={dropout['drop_i']}, drop_w={dropout['drop_w']}"
            )
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.ptb_impl = ptb_impl
        self.init_range = init_range
        self.dropout_rates = dict(dropout)
        self.cell = None  # set by subclasses

    def build(self, input_shape=None):
        if self.built:
            return
        self.embedding = self.add_weight(
            name="embedding",
            shape=(self.vocab_size, self.hidden_size),
            initializer=keras.initializers.RandomUniform(-self.init_range, self.init_range),
        )
        self.cell.build((None, None, self.hidden_size))
        self.built = True

    @property
    def num_nodes(self) -> int:
        return self.cell.num_nodes

    def initial_state(self, batch_size: int) -> tf.Tensor:
        """Zeros `[batch_size, H]`: the state at the start of an epoch or an evaluation pass.

        The references start from a random U(-r, r) value before the first reset; the spec's
        port advice (ENAS_PTB_SPEC.md 5.5) is zeros.
        """
        return tf.zeros([batch_size, self.hidden_size], tf.float32)

    def sample_masks(self, tokens: tf.Tensor, seed: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """Fresh dropout masks for one training window of `tokens` (int32 `[B, T]`).

        `seed` (int64 `[2]`) makes them stateless: each mask gets its own seed split from it, so
        a trainer that draws the seed from a checkpointed generator resumes with the same masks.
        Without it, TensorFlow's global stateful generator draws them.

        Keys (only those whose rate is positive): enas_lm `"embedding_rows"` `[V]`,
        `"embedding"` `[B, 1, H]`; original `"words"` `[B, T]`; both `"input"` `[B, H]`,
        `"recurrent"` `[B, H]`, `"output"` `[B, 1, H]`; enas_lm weight drop `"weight_prev"`
        `[H, 2H]` and `"weight_nodes"` `[N-1, H, 2H]`. Every mask except `"words"` is the same
        at every time step of the window.
        """
        rates, hidden = self.dropout_rates, self.hidden_size
        batch = tf.shape(tokens)[0]
        seeds = iter([None] * 7 if seed is None else tf.unstack(tf.random.experimental.stateless_split(seed, 7)))
        masks = {}
        if rates["drop_e"] > 0:
            if self.ptb_impl == "enas_lm":
                masks["embedding_rows"] = dropout_lib.embedding_row_mask(self.vocab_size, rates["drop_e"], next(seeds))
            else:
                masks["words"] = dropout_lib.word_dropout_mask(tokens, rates["drop_e"], next(seeds))
        if rates["drop_i"] > 0:
            masks["embedding"] = dropout_lib.locked_dropout_mask(batch, hidden, rates["drop_i"], next(seeds))
        if rates["drop_x"] > 0:
            masks["input"] = dropout_lib.locked_dropout_mask(batch, hidden, rates["drop_x"], next(seeds))[:, 0]
        if rates["drop_l"] > 0:
            masks["recurrent"] = dropout_lib.locked_dropout_mask(batch, hidden, rates["drop_l"], next(seeds))[:, 0]
        if rates["drop_o"] > 0:
            masks["output"] = dropout_lib.locked_dropout_mask(batch, hidden, rates["drop_o"], next(seeds))
        if rates["drop_w"] > 0:
            masks["weight_prev"] = dropout_lib.dropout_mask([hidden, 2 * hidden], rates["drop_w"], next(seeds))
            masks["weight_nodes"] = dropout_lib.dropout_mask(
                [max(self.num_nodes - 1, 0), hidden, 2 * hidden], rates["drop_w"], next(seeds)
            )
        return masks

    def call(self, tokens, state, arc=None, training=None, masks=None, return_outputs=False):
        training = bool(training)
        tokens = tf.cast(tokens, tf.int32)
        embedding = tf.convert_to_tensor(self.embedding)  # the compute dtype under a mixed policy
        x = tf.gather(embedding, tokens)
        if embedding.dtype != tf.float32 and masks:
            masks = {key: tf.cast(value, embedding.dtype) for key, value in masks.items()}
        if training and masks is None:
            masks = self.sample_masks(tokens)
        masks = masks if training else {}
        if "embedding_rows" in masks:  # == looking up in E * row_mask[:, None]
            x = x * tf.gather(masks["embedding_rows"], tokens)[..., None]
        if "words" in masks:
            x = x * masks["words"][..., None]
        if "embedding" in masks:
            x = x * masks["embedding"]
        cell_masks = {key: masks[key] for key in ("input", "recurrent", "weight_prev", "weight_nodes") if key in masks}
        all_s, new_state = self.cell(x, state, arc=arc, masks=cell_masks, training=training)
        top_s = all_s * masks["output"] if "output" in masks else all_s
        shape = tf.shape(top_s)
        # The tied softmax reads the undropped embedding (ENAS_PTB_SPEC.md 1.5).
        logits = tf.matmul(tf.reshape(top_s, [-1, self.hidden_size]), embedding, transpose_b=True)
        logits = tf.reshape(logits, tf.stack([shape[0], shape[1], self.vocab_size]))
        if logits.dtype != tf.float32:  # a mixed policy: loss, regularisers and exports read float32
            logits, new_state, all_s, top_s = (tf.cast(value, tf.float32) for value in (logits, new_state, all_s, top_s))
        if return_outputs:
            return logits, new_state, {"all_s": all_s, "top_s": top_s}
        return logits, new_state

    def compute_output_spec(self, tokens, state, arc=None, training=None, masks=None, return_outputs=False):
        batch, steps = tokens.shape[0], tokens.shape[1]
        logits = keras.KerasTensor((batch, steps, self.vocab_size), dtype="float32")
        new_state = keras.KerasTensor((batch, self.hidden_size), dtype="float32")
        if return_outputs:
            outputs = keras.KerasTensor((batch, steps, self.hidden_size), dtype="float32")
            return logits, new_state, {"all_s": outputs, "top_s": outputs}
        return logits, new_state

    def _config(self) -> dict:
        config = {"name": self.name, "vocab_size": self.vocab_size, "hidden_size": self.hidden_size}
        config.update(ptb_impl=self.ptb_impl, init_range=self.init_range, cell_output=self.cell.cell_output)
        config.update(self.dropout_rates)
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class PtbSupernet(_PtbLanguageModel):
    """The PTB search child: every cell weight; the architecture is an int32 `[N, 2]` tensor.

    Storage (ENAS_PTB_SPEC.md 1.4 / 3.2, ENAS_SPEC.md 8.2, Q-16): enas_lm `W_0 [2H, 2H]` and
    `[4, l, H, 2H]` per node; original `[4 * 2H, 2H]` and `[4 * l * H, 2H]` per node plus
    batch norm (eps 1.0, decay 0.999) on every node and on the cell output. At the reference
    sizes: enas_lm H 200, N 10 (L 9) -> 16,560,000 parameters (2,880,000 used by one child);
    original H 720, N 12 -> 289,245,600 (`ptb_num_params`).

    Args:
        vocab_size: `V` (10,000 for PTB).
        hidden_size: `H` = embedding size.
        num_nodes: `N`, node 0 included (original `--child_rhn_depth`, enas_lm
            `--controller_num_layers + 1`).
        ptb_impl: "enas_lm" or "original".
        cell_output: "mean_all" / "loose_ends"; None: the implementation's default.
        init_range: `U(-r, r)` init (each reference's: `configs.language_model.default_init_range`).
        drop_e, drop_i, drop_x, drop_l, drop_o, drop_w: drop rates (ENAS_PTB_SPEC.md 1.5; for
            the original `1 - child_lstm_*_keep`); 0 by default: the references' values are
            resolved by the configs (`configs.presets.PTB_DROPOUT_PRESETS`).
        bn_momentum, bn_epsilon, bn_zero_debias: the original's search BN (`PtbBatchNorm`).

    Example:
        >>> net = PtbSupernet(vocab_size=20, hidden_size=4, num_nodes=3)
        >>> net.build()
        >>> rows = net.arc_rows(arch.PtbArc.parse("0 0 0 1 3"))
        >>> logits, state = net(tf.zeros([2, 5], tf.int32), net.initial_state(2), arc=tf.constant(rows))
        >>> logits.shape, state.shape
        (TensorShape([2, 5, 20]), TensorShape([2, 4]))
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        num_nodes: int,
        ptb_impl: str = "enas_lm",
        cell_output: str | None = None,
        init_range: float = 0.1,
        drop_e: float = 0.0,
        drop_i: float = 0.0,
        drop_x: float = 0.0,
        drop_l: float = 0.0,
        drop_o: float = 0.0,
        drop_w: float = 0.0,
        bn_momentum: float = PTB_BN_MOMENTUM,
        bn_epsilon: float = PTB_BN_EPSILON,
        bn_zero_debias: bool = True,
        **kwargs,
    ):
        dropout = dict(drop_e=drop_e, drop_i=drop_i, drop_x=drop_x, drop_l=drop_l, drop_o=drop_o, drop_w=drop_w)
        super().__init__(vocab_size, hidden_size, ptb_impl, init_range, dropout, **kwargs)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.bn_zero_debias = bn_zero_debias
        self.cell = PtbSearchCell(
            hidden_size,
            num_nodes,
            ptb_impl=ptb_impl,
            cell_output=cell_output,
            init_range=init_range,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            bn_zero_debias=bn_zero_debias,
            name="cell",
        )

    def arc_rows(self, arc: arch.PtbArc | str) -> np.ndarray:
        """The int32 `[N, 2]` arc tensor for `arc`, checked against this supernet.

        Raises:
            ArcError: `arc` has another node count, or (enas_lm) a node 0 that is not tanh.
        """
        if isinstance(arc, str):
            arc = arch.PtbArc.parse(arc)
        if arc.num_nodes != self.num_nodes:
            raise ArcError(
                f"PTB arc has {arc.num_nodes} nodes; this supernet has num_nodes={self.num_nodes} (node 0 "
                "included). Pass an arc of that size or rebuild the supernet."
            )
        if self.ptb_impl == "enas_lm" and arc.activations[0] != 0:
            raise ArcError(
                f"PTB arc node 0 uses {arc.activation_names[0]}; ptb_impl='enas_lm' always uses tanh there."
            )
        return ptb_arc_rows(arc)

    def call(self, tokens, state, arc=None, training=None, masks=None, return_outputs=False):
        if arc is None:
            raise ArcError("PtbSupernet needs arc, an int32 [num_nodes, 2] tensor (PtbSupernet.arc_rows).")
        return super().call(tokens, state, arc=arc, training=training, masks=masks, return_outputs=return_outputs)

    def selected_weights(self, arc: tf.Tensor) -> list[tf.Tensor]:
        """`[W_0, W_1, ..., W_{N-1}]`: the slabs the architecture uses (one child's cell weights)."""
        w_prev, nodes = self.cell.select_weights(arc)
        return [w_prev] + nodes

    def weight_penalty(self, arc: tf.Tensor, masks: dict | None = None, fix_quirk: bool = False) -> tf.Tensor:
        """The search weight regulariser, before its coefficient (`8e-7` enas_lm, `1e-7` original).

        enas_lm (ENAS_PTB_SPEC.md 1.6, kept by default per 5.5): `R_w = sum_W 1/2 sum W^4` over
        `W_0` (weight-dropped when `masks` holds `"weight_prev"`, as the reference) and the
        selected slabs of nodes `2..L` — node 1's slab and the embedding are not included.
        `fix_quirk=True`: `sum W^2` over all selected slabs (node 1 included). The original:
        `sum w^2` over every trainable variable of the child (ENAS_SPEC.md 8.4).
        """
        if self.ptb_impl == "original":
            return tf.add_n([tf.reduce_sum(tf.square(v)) for v in self.trainable_variables])
        weights = self.selected_weights(arc)
        if fix_quirk:
            return tf.add_n([tf.reduce_sum(tf.square(w)) for w in weights])
        w_prev = weights[0]
        if masks and "weight_prev" in masks:
            hidden = self.hidden_size
            w_prev = tf.concat([w_prev[:hidden], w_prev[hidden:] * masks["weight_prev"]], axis=0)
        penalised = [w_prev] + weights[2:]
        if masks and "weight_nodes" in masks:
            penalised = [w_prev] + [w * masks["weight_nodes"][i] for i, w in enumerate(weights[2:], start=1)]
        return tf.add_n([0.5 * tf.reduce_sum(tf.square(tf.square(w))) for w in penalised])

    def get_config(self):
        config = self._config()
        config.update(
            num_nodes=self.num_nodes,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
            bn_zero_debias=self.bn_zero_debias,
        )
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class PtbNetwork(_PtbLanguageModel):
    """The PTB final-training model for one architecture: only its weights, no batch norm.

    Parameters (ENAS_PTB_SPEC.md 3.2): `V H + 4 H^2 + (N - 1) 2 H^2`: the original's
    `ptb_final.sh` (H 748, the 12-node `arch.PTB_FINAL_ARC`) has 22,027,104; enas_lm's README
    cell (`arch.PTB_ENAS_LM_ARC`, 8 nodes after node 0) has 20,800,000 at H 800 and 22,950,000
    at H 850.

    Args:
        fixed_arc: the `arch.PtbArc`, or its string in either encoding (parsed with "auto":
            odd length = original, even = enas_lm).
        vocab_size: `V`.
        hidden_size: `H` (enas_lm fixed 800, original final 748).
        ptb_impl: "enas_lm" or "original".
        cell_output: "mean_all" / "loose_ends"; None: the implementation's default.
        init_range: `U(-r, r)` init (each reference's: `configs.language_model.default_init_range`).
        drop_e, drop_i, drop_x, drop_l, drop_o, drop_w: drop rates, 0 by default (the configs
            resolve the references' values).

    Example:
        >>> net = PtbNetwork("0 2 1 0", vocab_size=20, hidden_size=4)
        >>> net.build()
        >>> net(tf.zeros([2, 5], tf.int32), net.initial_state(2))[0].shape
        TensorShape([2, 5, 20])
    """

    def __init__(
        self,
        fixed_arc: arch.PtbArc | str,
        vocab_size: int,
        hidden_size: int,
        ptb_impl: str = "enas_lm",
        cell_output: str | None = None,
        init_range: float = 0.1,
        drop_e: float = 0.0,
        drop_i: float = 0.0,
        drop_x: float = 0.0,
        drop_l: float = 0.0,
        drop_o: float = 0.0,
        drop_w: float = 0.0,
        **kwargs,
    ):
        if isinstance(fixed_arc, str):
            fixed_arc = arch.PtbArc.parse(fixed_arc)
        dropout = dict(drop_e=drop_e, drop_i=drop_i, drop_x=drop_x, drop_l=drop_l, drop_o=drop_o, drop_w=drop_w)
        super().__init__(vocab_size, hidden_size, ptb_impl, init_range, dropout, **kwargs)
        self.fixed_arc = fixed_arc
        self.cell = PtbFixedCell(
            fixed_arc, hidden_size, ptb_impl=ptb_impl, cell_output=cell_output, init_range=init_range, name="cell"
        )

    def weight_penalty(self, arc=None, masks=None, fix_quirk: bool = False) -> tf.Tensor:
        """`sum w^2` over every trainable variable, embedding included (both implementations)."""
        return tf.add_n([tf.reduce_sum(tf.square(v)) for v in self.trainable_variables])

    def get_config(self):
        config = self._config()
        config.update(fixed_arc=str(self.fixed_arc))
        return config
