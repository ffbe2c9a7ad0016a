"""The Penn Treebank recurrent-cell controller, in both reference versions.

One LSTM samples, node by node, which earlier node each node of the recurrent
cell reads (its predecessor) and which activation it applies (its function).
The two reference implementations share that loop, the attention over earlier
nodes, the recency prior `-(l - j)^2 / 6` and the distance damping
`1 / (0.1 + l - p)`, but differ in what they encode and in a few sizes, so one
class runs either, chosen by `ptb_impl`:

* "enas_lm" (google-research `enas_lm/src/controller.py`, ENAS_PTB_SPEC.md 1.3,
  1.10): node 0 is implicit (always tanh, never sampled; a zero vector stands
  for it as predecessor input and as attention key), `L = N - 1` nodes of two
  decisions each, 4 functions whose logits are tied to the function embedding,
  LSTM size 64, init U(-0.01, 0.01). Arc `[p_1, f_1, ..., p_L, f_L]`, function
  ids 0 tanh, 1 ReLU, 2 sigmoid, 3 identity.
* "original" (`melodyguan/enas` `src/ptb/ptb_controller.py`, ENAS_SPEC.md 6.4):
  node 0 is sampled too (its function only), a separate function softmax,
  2 functions, LSTM size 100, init U(-0.1, 0.1). Arc
  `[f_0, p_1, f_1, ..., p_{N-1}, f_{N-1}]`, function ids 0 tanh, 1 ReLU.

As in the CIFAR controllers, everything happens on tensors: `sample()` runs
inside one `tf.function` trace (the Python loop over the static `N` nodes
unrolls at trace time, and node `l`'s predecessor logits have the static length
`l`), the chosen node's hidden state is read with `tf.gather`, and the arc stays
an int32 tensor that feeds the child's step directly.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.controllers import reinforce
from enas_tf2.controllers.attention import ControllerAttention
from enas_tf2.controllers.lstm import ControllerLSTMCell
from enas_tf2.errors import ArcError, EnasError, FlagError

#: Values of `ptb_impl`; each is also the arc encoding the controller emits (`arch.PtbArc`).
PTB_IMPLS: tuple[str, ...] = ("enas_lm", "original")

#: What `None` means for `lstm_size`, `num_functions` and `init_range`, per implementation:
#: the hard-coded values of enas_lm (ENAS_PTB_SPEC.md 1.3) and of the original's PTB controller
#: and search script (ENAS_SPEC.md 6.1, 6.4; ENAS_PTB_SPEC.md 3.2).
IMPL_DEFAULTS: dict[str, dict[str, float]] = {
    "enas_lm": {"lstm_size": 64, "num_functions": 4, "init_range": 0.01},
    "original": {"lstm_size": 100, "num_functions": 2, "init_range": 0.1},
}

#: Activation functions a PTB node can apply (`arch.PTB_ACTIVATIONS`); the controller may
#: sample the first `num_functions` ids of its encoding.
MAX_NUM_FUNCTIONS = len(arch.PTB_ACTIVATIONS)

#: The recency prior subtracts `(l - j)^2 / RECENCY_PRIOR_DIVISOR` from the (post-processed)
#: logit of predecessor `j` at node `l`, so near nodes are preferred at the start of the search.
#: Both versions use 6 (the original used 12 before its commit `2d0cd4b`, ENAS_PTB_SPEC.md 3.3).
RECENCY_PRIOR_DIVISOR = 6.0

#: The chosen predecessor's hidden state is fed back divided by `DAMPING_OFFSET + (l - p)`:
#: far predecessors give a weaker input (the offset keeps the adjacent one at 1 / 1.1).
DAMPING_OFFSET = 0.1


@keras.saving.register_keras_serializable(package="enas_tf2")
class PtbControllerAttention(ControllerAttention):
    """`ControllerAttention` with its weights drawn from U(-init_range, init_range).

    The shared layer hard-codes the CIFAR controllers' U(-0.1, 0.1); enas_lm
    initialises every controller weight with U(-0.01, 0.01) (ENAS_PTB_SPEC.md
    1.3). The score is the same: `tanh(h_j . W_1 + h . W_2) . v`.

    Args:
        units: hidden size `n`.
        init_range: half-width of the uniform initialiser.
    """

    def __init__(self, units: int, init_range: float = 0.1, **kwargs):
        super().__init__(units, **kwargs)
        self.init_range = float(init_range)

    def build(self, input_shape=None):
        n = self.units
        init = keras.initializers.RandomUniform(-self.init_range, self.init_range)
        self.w_1 = self.add_weight(name="w_1", shape=(n, n), initializer=init)
        self.w_2 = self.add_weight(name="w_2", shape=(n, n), initializer=init)
        self.v = self.add_weight(name="v", shape=(n, 1), initializer=init)
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.update({"init_range": self.init_range})
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class PtbController(keras.Model):
    """Samples PTB recurrent cells and scores them for REINFORCE.

    Per node `l` (state starts at zeros, first input `g_emb`; enas_lm starts at
    `l = 1` with a zero hidden state and a zero key standing for node 0, the
    original at `l = 0`):

    1. `h = LSTM(input)`; `h` becomes node `l`'s candidate state and
       `h . W_1` its attention key.
    2. If `l > 0`: logits `z_j = post(tanh(h_j . W_1 + h . W_2) . v) - (l - j)^2 / 6`
       over the *earlier* nodes `j = 0..l-1` (the prior is added after the
       post-processing, so the tanh cap does not bound it); sample `p_l`; next
       input `h_{p_l} / (0.1 + l - p_l)`. Else (original, node 0) the next
       input is `g_emb` again.
    3. `h = LSTM(input)`; function logits `post(h . F_emb^T)` (enas_lm, tied to
       the function embedding) or `post(h . W_soft)` (original); sample `f_l`;
       next input `F_emb[f_l]`.

    `post` is `z / temperature` then `tanh_constant * tanh(z)`, each only if set.
    All weights are created in `__init__`, uniform(-init_range, init_range), so
    nothing is created lazily inside a `tf.function`. Parameters: LSTM
    `[2n, 4n]` (no bias), `g_emb [1, n]`, function embedding
    `[num_functions, n]`, attention `W_1, W_2 [n, n]`, `v [n, 1]`, and in the
    original a function softmax `[n, num_functions]` (no bias): 41,344 for
    enas_lm's defaults, 100,600 for the original's.

    Args:
        num_nodes: `N`, the cell's nodes **including node 0** (the original's
            `--child_rhn_depth`; enas_lm's `--controller_num_layers` is `N - 1`).
        ptb_impl: "enas_lm" (the authors' corrected implementation) or
            "original"; also the arc encoding emitted (`arch.PtbArc`).
        lstm_size: hidden size `n`; None takes the implementation's (64 / 100).
        num_functions: activations the controller may choose, the first ids of
            the encoding (1..4); None takes the implementation's (4 / 2).
        tanh_constant: `C` of the logit post-processing, or None for none
            (enas_lm 2.25, original search script 2.5).
        temperature: logit temperature, or None for none (5.0 in both).
        init_range: half-width of the uniform initialiser; None takes the
            implementation's (0.01 / 0.1).

    Raises:
        FlagError: for an unknown `ptb_impl` or an out-of-range argument.

    Example:
        >>> controller = PtbController(num_nodes=3)
        >>> out = controller.sample(tf.random.Generator.from_seed(0))
        >>> out["arc"].shape
        TensorShape([4])
    """

    def __init__(
        self,
        num_nodes: int,
        ptb_impl: str = "enas_lm",
        lstm_size: int | None = None,
        num_functions: int | None = None,
        tanh_constant: float | None = None,
        temperature: float | None = None,
        init_range: float | None = None,
        name: str = "ptb_controller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if ptb_impl not in PTB_IMPLS:
            raise FlagError(
                f"Unknown ptb_impl={ptb_impl!r}; expected one of {', '.join(repr(impl) for impl in PTB_IMPLS)} "
                "('enas_lm' is the authors' corrected controller, 'original' the melodyguan/enas one)."
            )
        defaults = IMPL_DEFAULTS[ptb_impl]
        lstm_size = defaults["lstm_size"] if lstm_size is None else lstm_size
        num_functions = defaults["num_functions"] if num_functions is None else num_functions
        init_range = defaults["init_range"] if init_range is None else init_range
        if not _is_int(num_nodes) or num_nodes < 2:
            raise FlagError(
                f"PtbController expected an integer num_nodes >= 2 (node 0 included, so at least one "
                f"node with a predecessor to choose; the original's --child_rhn_depth, enas_lm's "
                f"--controller_num_layers + 1). Received: num_nodes={num_nodes!r}"
            )
        if not _is_int(lstm_size) or lstm_size <= 0:
            raise FlagError(f"PtbController expected a positive integer lstm_size. Received: lstm_size={lstm_size!r}")
        if not _is_int(num_functions) or not 1 <= num_functions <= MAX_NUM_FUNCTIONS:
            raise FlagError(
                f"PtbController expected num_functions in 1..{MAX_NUM_FUNCTIONS} (the activations of the "
                f"{ptb_impl} encoding: {', '.join(_function_names(ptb_impl))}). "
                f"Received: num_functions={num_functions!r}"
            )
        if not init_range or init_range <= 0:
            raise FlagError(f"PtbController expected a positive init_range. Received: init_range={init_range!r}")
        if temperature is not None and temperature <= 0:
            raise FlagError(
                f"--controller_temperature must be positive or unset (logits are divided by it). "
                f"Received: temperature={temperature!r}"
            )
        self.num_nodes = num_nodes
        self.ptb_impl = ptb_impl
        self.lstm_size = lstm_size
        self.num_functions = num_functions
        self.tanh_constant = tanh_constant
        self.temperature = temperature
        self.init_range = float(init_range)
        # No skip penalty for PTB; the trainer reads this default.
        self.skip_weight = 0.0
        self.arc_length = arch.ptb_arc_length(num_nodes, ptb_impl)

        n = lstm_size

        def init():
            return keras.initializers.RandomUniform(-self.init_range, self.init_range)

        self.lstm = ControllerLSTMCell(n, kernel_initializer=init(), name="lstm")
        self.lstm.build((1, n))
        self.attention = PtbControllerAttention(n, init_range=self.init_range, name="attention")
        self.attention.build(None)
        self.g_emb = self.add_weight(name="g_emb", shape=(1, n), initializer=init())
        self.function_embedding = self.add_weight(
            name="function_embedding", shape=(num_functions, n), initializer=init()
        )
        if ptb_impl == "original":
            self.function_softmax = self.add_weight(
                name="function_softmax", shape=(n, num_functions), initializer=init()
            )
        else:
            # enas_lm ties the function logits to the embedding: `h . F_emb^T`.
            self.function_softmax = None
        self.built = True

    @property
    def arc_format(self) -> str:
        """The `arch.PtbArc` encoding of the emitted arcs: "enas_lm" or "original"."""
        return self.ptb_impl

    def _post(self, logits: tf.Tensor) -> tf.Tensor:
        return reinforce.logit_postprocess(logits, self.temperature, self.tanh_constant)

    def choice_counts(self) -> list[int]:
        """The number of values each arc position can take, in this controller's encoding.

        Node `l >= 1` reads one of the `l` earlier nodes and applies one of `num_functions`
        activations; the original encoding starts with node 0's activation, enas_lm's fixes it to
        tanh. The random search policy samples each position uniformly from these.
        """
        first = [self.num_functions] if self.ptb_impl == "original" else []
        return first + [count for node in range(1, self.num_nodes) for count in (node, self.num_functions)]

    def _predecessor_logits(self, keys: list[tf.Tensor], h: tf.Tensor, node_id: int) -> tf.Tensor:
        """`[1, node_id]` logits over nodes `0..node_id-1`: attention, post-processing, then the prior."""
        scores = tf.reshape(self.attention(tf.concat(keys, axis=0), h), [1, node_id])
        prior = [[-float((node_id - j) ** 2) / RECENCY_PRIOR_DIVISOR for j in range(node_id)]]
        return self._post(scores) + tf.constant(prior, dtype=scores.dtype)

    def _function_logits(self, h: tf.Tensor) -> tf.Tensor:
        """`[1, num_functions]` logits: tied to the embedding (enas_lm) or a separate softmax (original)."""
        if self.function_softmax is None:
            logits = tf.matmul(h, self.function_embedding, transpose_b=True)
        else:
            logits = tf.matmul(h, self.function_softmax)
        return self._post(logits)

    def _check_forced_values(self, forced_arc: tf.Tensor) -> None:
        """Eagerly rejects out-of-range tokens with a message naming them, before `tf.gather` would fail."""
        values = forced_arc.numpy().tolist()
        arch.PtbArc.parse(values, arc_format=self.arc_format, num_nodes=self.num_nodes)
        first_function = 0 if self.ptb_impl == "original" else 1
        for index in range(first_function, len(values), 2):
            if values[index] >= self.num_functions:
                raise ArcError(
                    f"forced_arc token {index} ({values[index]}) is a function id, but this controller samples "
                    f"only {self.num_functions} functions (0..{self.num_functions - 1}: "
                    f"{', '.join(_function_names(self.ptb_impl)[: self.num_functions])}); "
                    f"raise num_functions or score another arc."
                )

    def sample(
        self, rng: tf.random.Generator | None = None, forced_arc: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """Samples one cell (or scores `forced_arc`) with its REINFORCE terms.

        Args:
            rng: the generator the seeds of every decision are drawn from; may be
                None only when `forced_arc` is given.
            forced_arc: optional int32 `[arc_length]` arc in this controller's
                encoding; if given, its actions replace the sampled ones
                (teacher forcing) and the same log-prob and entropy are computed
                for it. Outside a `tf.function` its values are checked too;
                inside one, out-of-range values are the caller's responsibility.

        Returns:
            A dict of tensors:
            `arc` int32 `[arc_length]` (`2(N-1)` for enas_lm, `2N-1` for the
            original) in the `arc_format` encoding;
            `log_prob` float32 scalar, `sum log pi` of every decision (= -NLL);
            `entropy` float32 scalar, sum of `-p(a) log p(a)` of the taken
            actions (not the full distribution entropy, as both references do),
            stop-gradiented;
            `skip_penalty`, `skip_count`, `skip_rate` float32 zeros (PTB has no
            skip penalty; kept for the trainer's interface).

        Raises:
            EnasError: if neither `rng` nor `forced_arc` is given.
            ArcError: if `forced_arc` has a static length other than
                `arc_length`, or (eagerly) holds a token out of range.
        """
        if forced_arc is None and rng is None:
            raise EnasError("PtbController.sample needs an rng to sample with, or a forced_arc to score.")
        if forced_arc is not None:
            layout = (
                f"2(N-1) = p_l f_l for l = 1..{self.num_nodes - 1}, enas_lm encoding, N={self.num_nodes}"
                if self.ptb_impl == "enas_lm"
                else f"2N-1 = f_0 then p_l f_l for l = 1..{self.num_nodes - 1}, original encoding, N={self.num_nodes}"
            )
            forced_arc = reinforce.check_forced_arc(forced_arc, self.arc_length, layout)
            if tf.executing_eagerly():
                self._check_forced_values(forced_arc)

        def decide(logits: tf.Tensor, position: int) -> tf.Tensor:
            if forced_arc is not None:
                action = forced_arc[position : position + 1]
            else:
                action = reinforce.sample_categorical(logits, rng)
            nll = tf.reduce_sum(reinforce.decision_nll(logits, action))
            nlls.append(nll)
            entropies.append(reinforce.sampled_entropy(nll))
            arc_parts.append(action)
            return action

        dtype = self.g_emb.dtype
        state = self.lstm.zero_state(1)
        if self.ptb_impl == "enas_lm":
            # Node 0 is not sampled: a zero vector is its hidden state and its attention key.
            zeros = tf.zeros([1, self.lstm_size], dtype=dtype)
            hiddens, keys = [zeros], [zeros]
            first_node, position_shift = 1, 1
        else:
            hiddens, keys = [], []
            first_node, position_shift = 0, 0
        arc_parts: list[tf.Tensor] = []
        nlls: list[tf.Tensor] = []
        entropies: list[tf.Tensor] = []
        inputs = self.g_emb
        for node_id in range(first_node, self.num_nodes):
            # Node l's predecessor is token 2l - 1 and its function token 2l (original); one less in enas_lm.
            function_position = 2 * node_id - position_shift
            h, state = self.lstm(inputs, state)
            # Candidates for this node are the earlier entries only: read them before appending.
            candidates = hiddens[:node_id]
            candidate_keys = keys[:node_id]
            hiddens.append(h)
            keys.append(self.attention.anchor_key(h))
            if node_id > 0:
                logits = self._predecessor_logits(candidate_keys, h, node_id)
                predecessor = decide(logits, function_position - 1)
                distance = tf.cast(node_id - predecessor, dtype)[:, None]
                inputs = tf.gather(tf.concat(candidates, axis=0), predecessor) / (DAMPING_OFFSET + distance)
            else:
                inputs = self.g_emb
            h, state = self.lstm(inputs, state)
            function = decide(self._function_logits(h), function_position)
            inputs = tf.gather(self.function_embedding, function)

        return reinforce.sample_without_skips(arc_parts, nlls, entropies)

    def call(self, forced_arc):
        """Scores a known arc: `sample(forced_arc=...)` (the Keras forward pass)."""
        return self.sample(forced_arc=forced_arc)

    def get_config(self):
        return {
            "name": self.name,
            "num_nodes": self.num_nodes,
            "ptb_impl": self.ptb_impl,
            "lstm_size": self.lstm_size,
            "num_functions": self.num_functions,
            "tanh_constant": self.tanh_constant,
            "temperature": self.temperature,
            "init_range": self.init_range,
        }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _function_names(ptb_impl: str) -> tuple[str, ...]:
    """Activation names in the id order of `ptb_impl`'s encoding."""
    return arch.PTB_ENAS_LM_ACTIVATION_NAMES if ptb_impl == "enas_lm" else arch.PTB_ACTIVATION_NAMES
