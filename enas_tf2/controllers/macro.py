"""The macro (CIFAR "general" space) controller, whole-channels mode (ENAS_SPEC.md 6.2).

An LSTM that, for each of the `L` child layers, picks an op and then the layer's
skip connections, producing the original flat encoding `[op_0, op_1, s_0,
op_2, s_0, s_1, ...]` (spec 2.1.1). Everything happens on tensors: `sample()`
runs inside one `tf.function` trace (the Python loop over the static `L` layers
unrolls at trace time) and the arc stays an int32 tensor that feeds the child's
step directly. The `l` skip decisions of layer `l` are scored and sampled at
once against the stacked anchors, as the original does.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2 import arch

from enas_tf2.controllers import reinforce
from enas_tf2.controllers.attention import ControllerAttention
from enas_tf2.controllers.lstm import ControllerLSTMCell, controller_initializer
from enas_tf2.errors import EnasError, FlagError

#: Values of `search_for` (the original's `--search_for`): "macro" and "branch"
#: sample ops and skips; "connection" keeps every op at 0 and samples skips only.
SEARCH_FOR_VALUES = ("macro", "branch", "connection")


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroController(keras.Model):
    """Samples macro architectures and scores them for REINFORCE (spec 6.2).

    Per layer `l` (state starts at zeros, first input `g_emb`):

    1. `h = LSTM(input)`; op logits `post(h . W_soft)`; sample `op_l`.
    2. `h = LSTM(E_op[op_l])`; this `h` is layer `l`'s anchor.
    3. If `l > 0`: `q_j = u_j(h)` against the cached `anchor_j . W_1` of every
       earlier layer, logits `post([-q_j, +q_j])` (class 1 = skip on), sample all
       `l` bits at once; next input = `(sum_j s_j anchor_j) / (1 + sum_j s_j)`.
       Else the next input is `g_emb` again.

    The controller's anchor `j` is layer `j`'s LSTM state, while the child reads
    skip bit `j` as node `j` (the stem for `j = 0`); the arc keeps the child's
    meaning (Q-24).

    All weights are created in `__init__` (uniform(-0.1, 0.1), spec 6.1), so
    nothing is created lazily inside a `tf.function`. Parameters: LSTM
    `[2n, 4n]`, `g_emb [1, n]`, op embedding `[num_branches, n]`, op softmax
    `[n, num_branches]` (no bias), attention `W_1, W_2 [n, n]`, `v [n, 1]`.
    The original's `controller_op_tanh_reduce` is not used here (Q-6).

    Args:
        num_layers: `L`, the child's layer count (`--child_num_layers`).
        num_branches: ops per layer (6, or 4 without the pools).
        lstm_size: hidden size `n` (64 in every script).
        tanh_constant: `C` of the logit post-processing, or None.
        temperature: logit temperature, or None.
        skip_target: target skip probability of the KL penalty (0.8 in the original).
        skip_weight: weight of the skip penalty in the loss (the trainer uses it
            unless told otherwise); 0 for none.
        search_for: "macro" / "branch" (sample ops and skips) or "connection"
            (ops fixed to 0, only skips sampled).
        search_whole_channels: must be True; the non-whole-channels mode of
            spec 2.1.2 is not supported yet.

    Raises:
        FlagError: for an unsupported mode or an out-of-range argument.

    Example:
        >>> controller = MacroController(num_layers=3)
        >>> out = controller.sample(tf.random.Generator.from_seed(0))
        >>> out["arc"].shape
        TensorShape([6])
    """

    def __init__(
        self,
        num_layers: int,
        num_branches: int = len(arch.MACRO_OPS),
        lstm_size: int = 64,
        tanh_constant: float | None = None,
        temperature: float | None = None,
        skip_target: float = 0.8,
        skip_weight: float = 0.0,
        search_for: str = "macro",
        search_whole_channels: bool = True,
        name: str = "macro_controller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not search_whole_channels:
            raise FlagError(
                "The macro controller's non-whole-channels mode (--controller_search_whole_channels=False, "
                "ENAS_SPEC.md 2.1.2) is not supported yet; every original script uses whole channels. "
                "Set --controller_search_whole_channels=True."
            )
        if search_for not in SEARCH_FOR_VALUES:
            raise FlagError(
                f"Unknown --controller_search_for={search_for!r}; expected one of {', '.join(SEARCH_FOR_VALUES)}."
            )
        for arg_name, value in (("num_layers", num_layers), ("num_branches", num_branches), ("lstm_size", lstm_size)):
            if not isinstance(value, int) or value <= 0:
                raise FlagError(
                    f"MacroController expected a positive integer {arg_name}. Received: {arg_name}={value!r}"
                )
        if not 0.0 < skip_target < 1.0:
            raise FlagError(
                f"MacroController expected skip_target strictly between 0 and 1 (the KL penalty takes "
                f"log(1 - skip_target)). Received: skip_target={skip_target!r}"
            )
        self.num_layers = num_layers
        self.num_branches = num_branches
        self.lstm_size = lstm_size
        self.tanh_constant = tanh_constant
        self.temperature = temperature
        self.skip_target = float(skip_target)
        self.skip_weight = float(skip_weight or 0.0)
        self.search_for = search_for
        self.search_whole_channels = search_whole_channels
        self.arc_length = arch.macro_arc_length(num_layers)

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
        self.built = True

    def _post(self, logits: tf.Tensor) -> tf.Tensor:
        return reinforce.logit_postprocess(logits, self.temperature, self.tanh_constant)

    def choice_counts(self) -> list[int]:
        """The number of values each arc position can take: per layer its op, then one bit per earlier layer.

        With `search_for="connection"` the op is always 0 (one value). The random search policy
        samples each position uniformly from these (`controllers.uniform`).
        """
        op_choices = 1 if self.search_for == "connection" else self.num_branches
        return [count for layer in range(self.num_layers) for count in [op_choices] + [2] * layer]

    def skip_positions(self) -> list[int]:
        """The arc positions that are skip bits (for the skip rate of a uniform sample)."""
        return [arch.macro_layer_offset(layer) + 1 + j for layer in range(self.num_layers) for j in range(layer)]

    def sample(
        self, rng: tf.random.Generator | None = None, forced_arc: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """Samples one architecture (or scores `forced_arc`) with its REINFORCE terms.

        Args:
            rng: the generator the seeds of every decision are drawn from; may be
                None only when `forced_arc` is given.
            forced_arc: optional int32 `[L + L(L-1)/2]` arc; if given, its actions
                replace the sampled ones (teacher forcing) and the same log-prob,
                entropy and penalty are computed for it. With
                `search_for="connection"` its ops are ignored (always 0).

        Returns:
            A dict of tensors:
            `arc` int32 `[L + L(L-1)/2]` in the original flat encoding;
            `log_prob` float32 scalar, `sum log pi` of every decision (= -NLL;
            with "connection" the fixed op 0 still counts, as in the original);
            `entropy` float32 scalar, sum of `-p(a) log p(a)` of the taken
            actions (Q-12), stop-gradiented;
            `skip_penalty` float32 scalar, the mean over layers `1..L-1` of the
            summed KL(Bern(sigmoid(z_1)) || Bern(skip_target)) (Q-7: sigmoid of
            the logit, not the sampling probability sigmoid(2 z_1));
            `skip_count` float32 scalar and `skip_rate = skip_count / (L(L-1)/2)`.

        Raises:
            EnasError: if neither `rng` nor `forced_arc` is given.
            ArcError: if `forced_arc` has a static length other than `L + L(L-1)/2`.
        """
        if forced_arc is None and rng is None:
            raise EnasError("MacroController.sample needs an rng to sample with, or a forced_arc to score.")
        if forced_arc is not None:
            forced_arc = reinforce.check_forced_arc(
                forced_arc, self.arc_length, f"L + L(L-1)/2 for L={self.num_layers} layers"
            )

        skip_targets = tf.constant([1.0 - self.skip_target, self.skip_target], dtype=tf.float32)
        state = self.lstm.zero_state(1)
        inputs = self.g_emb
        anchors: list[tf.Tensor] = []
        anchor_keys: list[tf.Tensor] = []
        arc_parts: list[tf.Tensor] = []
        nlls: list[tf.Tensor] = []
        entropies: list[tf.Tensor] = []
        penalties: list[tf.Tensor] = []
        skip_counts: list[tf.Tensor] = []
        offset = 0
        for layer_id in range(self.num_layers):
            # Op decision.
            h, state = self.lstm(inputs, state)
            logits = self._post(tf.matmul(h, self.op_softmax))
            if self.search_for == "connection":
                op = tf.zeros([1], dtype=tf.int32)
            elif forced_arc is not None:
                op = forced_arc[offset : offset + 1]
            else:
                op = reinforce.sample_categorical(logits, rng)
            nll = reinforce.decision_nll(logits, op)
            nlls.append(tf.reduce_sum(nll))
            entropies.append(tf.reduce_sum(reinforce.sampled_entropy(nll)))
            arc_parts.append(op)

            # The state after feeding the chosen op is this layer's anchor.
            h, state = self.lstm(tf.gather(self.op_embedding, op), state)

            if layer_id > 0:
                # All `layer_id` skip decisions at once, against the stacked anchors.
                query = self.attention(tf.concat(anchor_keys, axis=0), h)[:, None]
                logits = self._post(tf.concat([-query, query], axis=1))
                if forced_arc is not None:
                    skip = forced_arc[offset + 1 : offset + 1 + layer_id]
                else:
                    skip = reinforce.sample_categorical(logits, rng)
                nll = reinforce.decision_nll(logits, skip)
                nlls.append(tf.reduce_sum(nll))
                entropies.append(tf.reduce_sum(reinforce.sampled_entropy(nll)))
                arc_parts.append(skip)

                # sigmoid of each logit, not the softmax over the pair.
                skip_prob = tf.sigmoid(logits)
                penalties.append(tf.reduce_sum(skip_prob * tf.math.log(skip_prob / skip_targets)))

                skip_mask = tf.cast(skip, tf.float32)[None, :]
                num_skips = tf.reduce_sum(skip_mask)
                skip_counts.append(num_skips)
                inputs = tf.matmul(skip_mask, tf.concat(anchors, axis=0)) / (1.0 + num_skips)
            else:
                inputs = self.g_emb

            anchors.append(h)
            anchor_keys.append(self.attention.anchor_key(h))
            offset += 1 + layer_id

        num_skip_slots = self.num_layers * (self.num_layers - 1) // 2
        zero = tf.constant(0.0, dtype=tf.float32)
        skip_count = tf.add_n(skip_counts) if skip_counts else zero
        return {
            "arc": tf.concat(arc_parts, axis=0),
            "log_prob": -tf.add_n(nlls),
            "entropy": tf.add_n(entropies),
            "skip_penalty": tf.reduce_mean(tf.stack(penalties)) if penalties else zero,
            "skip_count": skip_count,
            "skip_rate": skip_count / float(max(num_skip_slots, 1)),
        }

    def call(self, forced_arc):
        """Scores a known arc: `sample(forced_arc=...)` (the Keras forward pass)."""
        return self.sample(forced_arc=forced_arc)

    def get_config(self):
        return {
            "name": self.name,
            "num_layers": self.num_layers,
            "num_branches": self.num_branches,
            "lstm_size": self.lstm_size,
            "tanh_constant": self.tanh_constant,
            "temperature": self.temperature,
            "skip_target": self.skip_target,
            "skip_weight": self.skip_weight,
            "search_for": self.search_for,
            "search_whole_channels": self.search_whole_channels,
        }
