"""The ENAS recurrent cell of the PTB space, as a supernet cell and as a fixed cell.

One step of the cell (ENAS_PTB_SPEC.md 1.4, ENAS_SPEC.md 8.2) turns `x_t` and `h_{t-1}` into
`h_t` through `N` highway nodes. Each node computes a pre-activation pair `[a ; r]` (2H) by one
matrix product and mixes its carry input `q` with an activation of `a`:

    node 0:  [a ; r] = [x_t * m_x , h_{t-1} * m_l] . W_0        q = h_{t-1}
    node l:  [a ; r] = (s_{p_l} * m_l) . W_l                    q = s_{p_l}
             s_l = q + sigmoid(r) * (g_l(a) - q)                 (= c * g(a) + (1 - c) * q)

The carry uses the unmasked `q`; `m_x`, `m_l` are locked dropout masks (training only). The
cell output `h_t`, which is also the carried state, averages either all nodes `1..N-1`
("mean_all", enas_lm's GPU code) or the loose ends, the nodes no node reads ("loose_ends", the
original and enas_lm's TPU code).

The two implementations store the weights differently (ENAS_PTB_SPEC.md 3.2):

| | enas_lm (`ptb_impl="enas_lm"`) | original (`ptb_impl="original"`) |
|---|---|---|
| node 0 activation | always tanh | from the arc |
| search W_0 | one `[2H, 2H]` | `[4 * 2H, 2H]`, the `2H`-row slab of `f_0` |
| search node l | `[4, l, H, 2H]`, slab `[f, p]` (enas_lm function ids) | `[4 * l * H, 2H]`, rows `(p * 4 + f) * H` |
| search BN | none | per node on `[a ; r]`, and on `h_t`; eps 1.0, decay 0.999 |
| fixed | `W_0 [2H, 2H]`, `W_l [H, 2H]`, no BN | same |

So in both, every (node, predecessor, function) triple of the search cell owns its own
`H x 2H` matrix. Every weight is drawn from `U(-init_range, init_range)`.

Architecture tensor ("arc rows"). The supernet cell reads the architecture as an int32
`[N, 2]` tensor, one row `(predecessor, activation)` per node with canonical activation ids
(`arch.PTB_ACTIVATION_NAMES`: 0 tanh, 1 relu, 2 identity, 3 sigmoid) and row 0 =
`(-1, f_0)`. `ptb_arc_rows(PtbArc)` builds it from Python data; `ptb_arc_rows_from_flat`
converts either reference's flat controller sample inside a graph. Inside the time loop a node
reads its predecessor from a `NodeArray` by tensor index and its activation is a
`tf.switch_case`, so one trace serves every architecture; the weight slabs are selected once
per window, before the loop. The time dimension is dynamic (`tf.while_loop`), so one trace also
serves every window length.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.errors import ArcError
from enas_tf2.layers.input_choice import NodeArray
from enas_tf2.spaces.rnn.arc_tensor import output_weights, ptb_arc_rows  # noqa: F401 (the examples use it)
from enas_tf2.spaces.rnn.batch_norm import PTB_BN_EPSILON, PTB_BN_MOMENTUM, PtbBatchNorm
from enas_tf2.spaces.rnn.ops import activation, switch_activation

#: `ptb_impl` values: the authors' corrected LM (google-research `enas_lm`) and `melodyguan/enas`.
PTB_IMPLS: tuple[str, ...] = ("enas_lm", "original")
#: `cell_output` values: mean of nodes `1..N-1`, or mean of the loose ends.
PTB_CELL_OUTPUTS: tuple[str, ...] = ("mean_all", "loose_ends")
NUM_PTB_ACTIVATIONS = len(arch.PTB_ACTIVATIONS)


def default_cell_output(ptb_impl: str) -> str:
    """ "mean_all" for enas_lm (its GPU code), "loose_ends" for the original (ENAS_PTB_SPEC.md 5.3)."""
    check_ptb_impl(ptb_impl)
    return "mean_all" if ptb_impl == "enas_lm" else "loose_ends"


def check_ptb_impl(ptb_impl: str) -> None:
    """Raises ValueError unless `ptb_impl` is "enas_lm" or "original"."""
    if ptb_impl not in PTB_IMPLS:
        raise ValueError(f"ptb_impl must be one of {PTB_IMPLS}. Received: ptb_impl={ptb_impl!r}")


def _check_cell_output(cell_output: str, num_nodes: int) -> None:
    if cell_output not in PTB_CELL_OUTPUTS:
        raise ValueError(f"cell_output must be one of {PTB_CELL_OUTPUTS}. Received: cell_output={cell_output!r}")
    if cell_output == "mean_all" and num_nodes < 2:
        raise ValueError(
            "cell_output='mean_all' averages nodes 1..N-1 and needs num_nodes >= 2. "
            f"Received: num_nodes={num_nodes}"
        )


def _uniform_init(init_range: float) -> keras.initializers.Initializer:
    return keras.initializers.RandomUniform(-init_range, init_range)


class _PtbCell(keras.layers.Layer):
    """The time loop shared by the search and the fixed cell; subclasses provide the nodes.

    Call arguments:
        inputs: float32 `[B, T, H]`, the (dropped-out) embeddings; `T` may be dynamic.
        state: float32 `[B, H]`, `h_{t-1}` before the first step (the carried state).
        arc: int32 `[N, 2]` arc rows (search cell only).
        masks: optional dict of training masks: `"input"` `[B, H]` (`m_x`), `"recurrent"`
            `[B, H]` (`m_l`), and with weight drop `"weight_prev"` `[H, 2H]` (recurrent half of
            W_0) and `"weight_nodes"` `[N-1, H, 2H]`. Missing entries mean no dropout there.
        training: Python bool (the original's search batch norm).

    Returns:
        `(all_s, final_state)`: `[B, T, H]` cell outputs `h_1..h_T` and `[B, H]` `h_T`.
    """

    def __init__(
        self,
        hidden_size: int,
        num_nodes: int,
        ptb_impl: str = "enas_lm",
        cell_output: str | None = None,
        init_range: float = 0.04,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_ptb_impl(ptb_impl)
        if hidden_size <= 0 or num_nodes <= 0 or init_range <= 0:
            raise ValueError(
                "A PTB cell expects positive hidden_size, num_nodes and init_range. Received: "
                f"hidden_size={hidden_size}, num_nodes={num_nodes}, init_range={init_range}"
            )
        cell_output = default_cell_output(ptb_impl) if cell_output is None else cell_output
        _check_cell_output(cell_output, num_nodes)
        self.hidden_size = hidden_size
        self.num_nodes = num_nodes
        self.ptb_impl = ptb_impl
        self.cell_output = cell_output
        self.init_range = init_range

    # Subclass hooks -------------------------------------------------------------------------

    def select_weights(self, arc: tf.Tensor | None) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """`(W_0 [2H, 2H], [W_l [H, 2H] for l = 1..N-1])` used by the architecture."""
        raise NotImplementedError

    def _node_plan(self, arc):
        """Per node `l >= 1`: `(predecessor, activation)` as Python ints or scalar tensors."""
        raise NotImplementedError

    def _node0_activation(self, arc):
        raise NotImplementedError

    def _output_weights(self, arc) -> tf.Tensor | list[float]:
        raise NotImplementedError

    def _batch_norms(self, training: bool):
        """`(per-node BNs, output BN)` or `(None, None)`."""
        return None, None

    # The loop --------------------------------------------------------------------------------

    def call(self, inputs, state, arc=None, masks=None, training=None):
        training = bool(training)
        masks = masks or {}
        hidden = self.hidden_size
        w_prev, w_nodes = self.select_weights(arc)
        if "weight_prev" in masks:  # enas_lm weight drop: recurrent half of W_0 only.
            w_prev = tf.concat([w_prev[:hidden], w_prev[hidden:] * masks["weight_prev"]], axis=0)
        if "weight_nodes" in masks:
            w_nodes = [w * masks["weight_nodes"][i] for i, w in enumerate(w_nodes)]
        w_x, w_h = w_prev[:hidden], w_prev[hidden:]
        input_mask = masks.get("input")
        recurrent_mask = masks.get("recurrent")

        # Under a mixed policy (--precision) Keras hands the weights, inputs and state in the compute
        # dtype (the model casts the masks); the loop's arrays follow them.
        dtype = w_x.dtype
        x = inputs if input_mask is None else inputs * input_mask[:, None, :]
        shape = tf.shape(x)
        batch, steps = shape[0], shape[1]
        # x_t's half of node 0 for every step at once (the mask is the same at every step).
        x_proj = tf.reshape(tf.matmul(tf.reshape(x, [-1, hidden]), w_x), tf.stack([batch, steps, 2 * hidden]))
        x_proj = tf.TensorArray(dtype, size=steps, element_shape=[None, 2 * hidden]).unstack(
            tf.transpose(x_proj, [1, 0, 2])
        )
        plan = self._node_plan(arc)
        act0 = self._node0_activation(arc)
        weights = self._output_weights(arc)
        node_bns, out_bn = self._batch_norms(training)

        def highway(pre, carry, act):
            a, r = tf.split(pre, 2, axis=1)
            g = activation(a, act) if isinstance(act, int) else switch_activation(a, act)
            return carry + tf.sigmoid(r) * (g - carry)

        def mask(value):
            return value if recurrent_mask is None else value * recurrent_mask

        def step(t, h_prev, outputs):
            pre = x_proj.read(t) + tf.matmul(mask(h_prev), w_h)
            if node_bns is not None:
                pre = node_bns[0].normalize(pre, training)
            nodes = [highway(pre, h_prev, act0)]
            array = None if all(isinstance(p, int) for p, _ in plan) else NodeArray(nodes)
            for l, (pred, act) in enumerate(plan, start=1):
                carry = nodes[pred] if array is None else array.read(pred)
                pre = tf.matmul(mask(carry), w_nodes[l - 1])
                if node_bns is not None:
                    pre = node_bns[l].normalize(pre, training)
                node = highway(pre, carry, act)
                nodes.append(node)
                if array is not None:
                    array.append(node)
            h = tf.add_n([tf.cast(weights[l], dtype) * nodes[l] for l in range(self.num_nodes)
                          if _maybe_used(weights, l)])
            if out_bn is not None:
                h = out_bn.normalize(h, training)
            h.set_shape(h_prev.shape)
            return t + 1, h, outputs.write(t, h)

        outputs = tf.TensorArray(dtype, size=steps, element_shape=[None, hidden])
        _, final_state, outputs = tf.while_loop(
            lambda t, *_: t < steps,
            step,
            [tf.constant(0, tf.int32), state, outputs],
            # The original's BN updates its moving statistics at every step: keep them in order.
            parallel_iterations=1 if node_bns is not None else 10,
        )
        all_s = tf.transpose(outputs.stack(), [1, 0, 2])
        all_s.set_shape([inputs.shape[0], inputs.shape[1], hidden])
        return all_s, final_state

    def compute_output_shape(self, input_shape, state_shape=None):
        return input_shape, (input_shape[0], self.hidden_size)


def _maybe_used(weights, node: int) -> bool:
    """False only for a node whose output weight is a Python 0 (static "mean_all" / fixed cells)."""
    return not (isinstance(weights[node], float) and weights[node] == 0.0)


@keras.saving.register_keras_serializable(package="enas_tf2")
class PtbSearchCell(_PtbCell):
    """The supernet cell: every (node, predecessor, activation) weight; the arc is a tensor.

    See the module docstring for the storage of each implementation. The arc rows' slabs are
    selected once per window with tensor slicing (the loss gradient of the other slabs is
    zero, so plain SGD leaves them in place, as in both references); inside the time loop each
    node reads its predecessor from a `NodeArray` and picks its activation with
    `tf.switch_case`. In enas_lm node 0 is always tanh and the arc's row-0 activation is
    ignored (enas_lm's controller never samples it); the original's node 0 uses it, with its
    own `W_0` slab. The original also applies `PtbBatchNorm` to every node's `[a ; r]` (one BN
    per node, shared by every predecessor and activation) and to the averaged output, which is
    then both `h_t` and the carried state.

    Args:
        hidden_size: `H` (= embedding size).
        num_nodes: `N`, node 0 included (original `--child_rhn_depth`; enas_lm
            `--controller_num_layers + 1`).
        ptb_impl: "enas_lm" or "original".
        cell_output: "mean_all" or "loose_ends"; None picks the implementation's default.
        init_range: weights ~ U(-init_range, init_range).
        bn_momentum, bn_epsilon, bn_zero_debias: the original's search BN (`PtbBatchNorm`).

    Example:
        >>> cell = PtbSearchCell(hidden_size=4, num_nodes=3)
        >>> cell.build()
        >>> rows = ptb_arc_rows(arch.PtbArc.parse("0 0 0 1 3"))
        >>> all_s, h = cell(tf.zeros([2, 5, 4]), tf.zeros([2, 4]), arc=tf.constant(rows))
        >>> all_s.shape, h.shape
        (TensorShape([2, 5, 4]), TensorShape([2, 4]))
    """

    def __init__(
        self,
        hidden_size: int,
        num_nodes: int,
        ptb_impl: str = "enas_lm",
        cell_output: str | None = None,
        init_range: float = 0.04,
        bn_momentum: float = PTB_BN_MOMENTUM,
        bn_epsilon: float = PTB_BN_EPSILON,
        bn_zero_debias: bool = True,
        **kwargs,
    ):
        super().__init__(hidden_size, num_nodes, ptb_impl, cell_output, init_range, **kwargs)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.bn_zero_debias = bn_zero_debias
        if ptb_impl == "original":
            bn = dict(momentum=bn_momentum, epsilon=bn_epsilon, zero_debias=bn_zero_debias)
            self.node_bns = [PtbBatchNorm(**bn, name=f"node_{l}_bn") for l in range(num_nodes)]
            self.output_bn = PtbBatchNorm(**bn, name="output_bn")
        else:
            self.node_bns, self.output_bn = [], None

    def build(self, input_shape=None):
        hidden, init = self.hidden_size, _uniform_init(self.init_range)
        functions = NUM_PTB_ACTIVATIONS
        if self.ptb_impl == "enas_lm":
            self.w_prev = self.add_weight(name="w_prev", shape=(2 * hidden, 2 * hidden), initializer=init)
            self.w_nodes = [
                self.add_weight(name=f"node_{l}_w", shape=(functions, l, hidden, 2 * hidden), initializer=init)
                for l in range(1, self.num_nodes)
            ]
        else:
            self.w_prev = self.add_weight(
                name="w_prev", shape=(functions * 2 * hidden, 2 * hidden), initializer=init
            )
            self.w_nodes = [
                self.add_weight(name=f"node_{l}_w", shape=(functions * l * hidden, 2 * hidden), initializer=init)
                for l in range(1, self.num_nodes)
            ]
            for bn in self.node_bns:
                bn.build((None, 2 * hidden))
            self.output_bn.build((None, hidden))
        self.built = True

    def select_weights(self, arc):
        if arc is None:
            raise ArcError("PtbSearchCell needs arc, an int32 [num_nodes, 2] tensor (see ptb_arc_rows).")
        arc = tf.cast(arc, tf.int32)
        hidden = self.hidden_size
        if self.ptb_impl == "enas_lm":
            lm_ids = tf.constant(arch.ENAS_LM_ACTIVATION_IDS, tf.int32)
            # Gathers on the variable (not slices of its value), so the gradient is IndexedSlices of
            # one function's rows and SGD touches only those, instead of a dense zero-filled tensor
            # of every slab (which cost ~15 % of a search step at H = 200).
            nodes = [
                tf.gather(tf.gather(w, lm_ids[arc[l, 1]]), arc[l, 0]) for l, w in enumerate(self.w_nodes, start=1)
            ]
            return tf.convert_to_tensor(self.w_prev), nodes
        w_prev = tf.slice(self.w_prev, tf.stack([arc[0, 1] * 2 * hidden, 0]), [2 * hidden, 2 * hidden])
        nodes = [
            tf.slice(w, tf.stack([(arc[l, 0] * NUM_PTB_ACTIVATIONS + arc[l, 1]) * hidden, 0]), [hidden, 2 * hidden])
            for l, w in enumerate(self.w_nodes, start=1)
        ]
        return w_prev, nodes

    def _node_plan(self, arc):
        arc = tf.cast(arc, tf.int32)
        return [(arc[l, 0], arc[l, 1]) for l in range(1, self.num_nodes)]

    def _node0_activation(self, arc):
        return 0 if self.ptb_impl == "enas_lm" else tf.cast(arc, tf.int32)[0, 1]

    def _output_weights(self, arc):
        if self.cell_output == "mean_all":
            return [0.0] + [1.0 / (self.num_nodes - 1)] * (self.num_nodes - 1)
        weights = output_weights(tf.cast(arc, tf.int32), self.num_nodes, self.cell_output)
        return [weights[l] for l in range(self.num_nodes)]

    def _batch_norms(self, training):
        if self.ptb_impl == "original":
            return self.node_bns, self.output_bn
        return None, None

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_nodes=self.num_nodes,
            ptb_impl=self.ptb_impl,
            cell_output=self.cell_output,
            init_range=self.init_range,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
            bn_zero_debias=self.bn_zero_debias,
        )
        return config


@keras.saving.register_keras_serializable(package="enas_tf2")
class PtbFixedCell(_PtbCell):
    """The final-training cell: one `W_0 [2H, 2H]` and one `W_l [H, 2H]` per node, no BN.

    The same for both implementations (ENAS_PTB_SPEC.md 2.2, ENAS_SPEC.md 8.2 fixed mode); they
    differ only in node 0 (enas_lm: always tanh, so an arc whose node 0 is not tanh is
    rejected) and in the default output rule.

    Args:
        fixed_arc: the `arch.PtbArc` (or its string, either encoding, parsed with "auto").
        hidden_size: `H`.
        ptb_impl: "enas_lm" or "original".
        cell_output: "mean_all" or "loose_ends"; None picks the implementation's default.
        init_range: weights ~ U(-init_range, init_range).

    Example:
        >>> cell = PtbFixedCell("0 0 0 1 3", hidden_size=4, ptb_impl="original")
        >>> cell.build()
        >>> cell(tf.zeros([2, 5, 4]), tf.zeros([2, 4]))[0].shape
        TensorShape([2, 5, 4])
    """

    def __init__(
        self,
        fixed_arc: arch.PtbArc | str,
        hidden_size: int,
        ptb_impl: str = "enas_lm",
        cell_output: str | None = None,
        init_range: float = 0.05,
        **kwargs,
    ):
        if isinstance(fixed_arc, str):
            fixed_arc = arch.PtbArc.parse(fixed_arc)
        fixed_arc.validate()
        super().__init__(hidden_size, fixed_arc.num_nodes, ptb_impl, cell_output, init_range, **kwargs)
        if ptb_impl == "enas_lm" and fixed_arc.activations[0] != 0:
            raise ArcError(
                f"PTB cell node 0 uses {fixed_arc.activation_names[0]}, but ptb_impl='enas_lm' always "
                "uses tanh at node 0; use ptb_impl='original' for this arc."
            )
        self.fixed_arc = fixed_arc

    def build(self, input_shape=None):
        hidden, init = self.hidden_size, _uniform_init(self.init_range)
        self.w_prev = self.add_weight(name="w_prev", shape=(2 * hidden, 2 * hidden), initializer=init)
        self.w_nodes = [
            self.add_weight(name=f"node_{l}_w", shape=(hidden, 2 * hidden), initializer=init)
            for l in range(1, self.num_nodes)
        ]
        self.built = True

    def select_weights(self, arc=None):
        return tf.convert_to_tensor(self.w_prev), [tf.convert_to_tensor(w) for w in self.w_nodes]

    def _node_plan(self, arc):
        arc = self.fixed_arc
        return [(arc.predecessors[l], arc.activations[l]) for l in range(1, self.num_nodes)]

    def _node0_activation(self, arc):
        return self.fixed_arc.activations[0]

    def _output_weights(self, arc):
        if self.cell_output == "mean_all":
            chosen = range(1, self.num_nodes)
        else:
            chosen = self.fixed_arc.loose_ends()
        return [1.0 / len(chosen) if node in chosen else 0.0 for node in range(self.num_nodes)]

    def get_config(self):
        config = super().get_config()
        config.update(
            fixed_arc=str(self.fixed_arc),
            hidden_size=self.hidden_size,
            ptb_impl=self.ptb_impl,
            cell_output=self.cell_output,
            init_range=self.init_range,
        )
        return config
