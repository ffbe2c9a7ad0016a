"""Tests of the PTB language models: the ENAS cell, dropout, state carry, parameter counts, averaging.

References: ENAS_PTB_SPEC.md 1.4-1.6, 2.1-2.4, 3.2 (enas_lm and the original) and ENAS_SPEC.md 8
(the original's PTB child). Shapes are tiny (H <= 8, V <= 50, T <= 6), except the parameter-count
tests, which only build the reference-size models without running them.
"""

from __future__ import annotations

import doctest
import math
import zlib

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.configs.language_model import default_init_range
from enas_tf2.configs.presets import PTB_DROPOUT_PRESETS
from enas_tf2.errors import ArcError
from enas_tf2.train.weight_average import WeightAverage
from enas_tf2.layers import dropout as dropout_lib
from enas_tf2.spaces.rnn import arc_tensor, cells, models, ops
from enas_tf2.spaces.rnn import (
    PtbBatchNorm,
    PtbFixedCell,
    PtbSearchCell,
    output_weights,
    ptb_arc_rows,
    ptb_arc_rows_from_flat,
)
from enas_tf2.spaces.rnn import (
    PTB_VOCAB_SIZE,
    PtbNetwork,
    PtbSupernet,
    activation_regularizer,
    ptb_num_params,
    ptb_train_loss,
    slowness_regularizer,
    token_cross_entropy,
)

IMPLS = ("enas_lm", "original")
VOCAB, HIDDEN, BATCH = 23, 5, 4
#: A 3-node cell (original encoding): node 1 reads node 0 with ReLU, node 2 reads node 1 with
#: sigmoid, so "mean_all" averages nodes {1, 2} and "loose_ends" only {2}.
ARC_3 = "0 0 1 1 3"
#: Other 3-node cells for the supernet: every activation, and (original only) node 0 not tanh.
ARCS_3 = ("0 0 1 1 3", "0 0 2 0 0", "0 0 3 1 2")
ARC_3_NODE0_RELU = "1 0 2 1 3"


def count(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def randomize(model, rng: np.random.Generator, scale: float = 0.6) -> None:
    """Non-trivial values for every trainable weight (BN scale around 1)."""
    for v in model.trainable_variables:
        value = rng.uniform(-scale, scale, v.shape)
        if "scale" in v.path:
            value = 1.0 + 0.3 * value
        v.assign(value.astype(np.float32))


# --- a float64 NumPy reference of the cell (ENAS_PTB_SPEC.md 1.4, ENAS_SPEC.md 8.2) ------------

NP_ACTIVATIONS = (np.tanh, lambda a: np.maximum(a, 0.0), lambda a: a, lambda a: 1.0 / (1.0 + np.exp(-a)))


def np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def np_batch_norm(x, gamma, beta, epsilon=1.0):
    """The original's training-mode PTB BN: biased batch variance, eps inside the sqrt."""
    mean, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mean) / np.sqrt(epsilon + var) + beta


def np_cell(x, h0, w_prev, w_nodes, arc, cell_output, m_x=None, m_l=None, bns=None, node0_activation=None):
    """`(all_s [B, T, H], h_T)` of the ENAS cell, float64, written from the spec's equations."""
    x, h = np.asarray(x, np.float64), np.asarray(h0, np.float64)
    m_x = 1.0 if m_x is None else m_x
    m_l = 1.0 if m_l is None else m_l
    act0 = arc.activations[0] if node0_activation is None else node0_activation
    chosen = range(1, arc.num_nodes) if cell_output == "mean_all" else arc.loose_ends()

    def highway(pre, carry, act):
        a, r = pre[:, : pre.shape[1] // 2], pre[:, pre.shape[1] // 2 :]
        c = np_sigmoid(r)
        return c * NP_ACTIVATIONS[act](a) + (1.0 - c) * carry

    outputs = []
    for t in range(x.shape[1]):
        pre = np.concatenate([x[:, t] * m_x, h * m_l], axis=1) @ w_prev
        if bns is not None:
            pre = np_batch_norm(pre, *bns[0][0])
        nodes = [highway(pre, h, act0)]
        for l in range(1, arc.num_nodes):
            carry = nodes[arc.predecessors[l]]
            pre = (carry * m_l) @ w_nodes[l - 1]
            if bns is not None:
                pre = np_batch_norm(pre, *bns[0][l])
            nodes.append(highway(pre, carry, arc.activations[l]))
        h = sum(nodes[node] for node in chosen) / len(chosen)
        if bns is not None:
            h = np_batch_norm(h, *bns[1])
        outputs.append(h)
    return np.stack(outputs, axis=1), h


def np_selected_weights(cell, arc: arch.PtbArc):
    """The cell's `(W_0, [W_l])` for `arc`, sliced from the stored weights with NumPy."""
    hidden = cell.hidden_size
    w_prev = cell.w_prev.numpy().astype(np.float64)
    stored = [w.numpy().astype(np.float64) for w in cell.w_nodes]
    if isinstance(cell, PtbFixedCell):
        return w_prev, stored
    if cell.ptb_impl == "enas_lm":
        return w_prev, [
            stored[l - 1][arch.ENAS_LM_ACTIVATION_IDS[arc.activations[l]], arc.predecessors[l]]
            for l in range(1, arc.num_nodes)
        ]
    f0 = arc.activations[0]
    w_prev = w_prev[f0 * 2 * hidden : (f0 + 1) * 2 * hidden]
    nodes = []
    for l in range(1, arc.num_nodes):
        start = (arc.predecessors[l] * 4 + arc.activations[l]) * hidden
        nodes.append(stored[l - 1][start : start + hidden])
    return w_prev, nodes


def np_bns(cell):
    if not isinstance(cell, PtbSearchCell) or cell.ptb_impl != "original":
        return None
    nodes = [(bn.gamma.numpy(), bn.beta.numpy()) for bn in cell.node_bns]
    return nodes, (cell.output_bn.gamma.numpy(), cell.output_bn.beta.numpy())


def reference_settings(impl: str, search: bool) -> dict:
    """The dropout and init range a run of this reference resolves (`configs`), which the tests use."""
    preset = {("enas_lm", True): "enas_lm_search", ("enas_lm", False): "enas_lm_fixed",
              ("original", True): "original_search", ("original", False): "original_final"}[impl, search]
    return dict(PTB_DROPOUT_PRESETS[preset], init_range=default_init_range(impl, HIDDEN, search))


def make_model(kind: str, impl: str, arc: str = ARC_3, **kwargs):
    kwargs = {**reference_settings(impl, kind == "supernet"), **kwargs}
    if kind == "supernet":
        model = PtbSupernet(VOCAB, HIDDEN, num_nodes=arch.PtbArc.parse(arc).num_nodes, ptb_impl=impl, **kwargs)
    else:
        model = PtbNetwork(arc, VOCAB, HIDDEN, ptb_impl=impl, **kwargs)
    model.build()
    return model


def arc_kwargs(model, arc: str) -> dict:
    return {"arc": tf.constant(model.arc_rows(arc))} if isinstance(model, PtbSupernet) else {}


def random_tokens(rng, batch=BATCH, steps=6):
    return tf.constant(rng.integers(0, VOCAB, (batch, steps)), tf.int32)


# --- dropout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_model_masks_are_locked_over_time(impl):
    model = make_model("fixed", impl)
    masks = model.sample_masks(random_tokens(np.random.default_rng(0)))
    hidden = HIDDEN
    for key in ("input", "recurrent"):
        assert masks[key].shape == (BATCH, hidden)
    assert masks["output"].shape == (BATCH, 1, hidden)
    if impl == "enas_lm":
        assert masks["embedding_rows"].shape == (VOCAB,)
        assert masks["embedding"].shape == (BATCH, 1, hidden)
        assert "words" not in masks
    else:
        assert masks["words"].shape == (BATCH, 6)
        assert "embedding" not in masks and "embedding_rows" not in masks
    assert "weight_prev" not in masks  # drop_w = 0 in every preset


# --- arc tensors ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [arch.PTB_FINAL_ARC, arch.PTB_ENAS_LM_ARC, arch.PTB_DARTS_ARC, "1 0 2 1 3"])
def test_arc_rows_from_flat_matches_python_conversion(text):
    arc = arch.PtbArc.parse(text)
    rows = ptb_arc_rows(arc)
    assert rows.shape == (arc.num_nodes, 2) and rows[0, 0] == -1
    for arc_format in ("original", "enas_lm") if arc.activations[0] == 0 else ("original",):
        converted = ptb_arc_rows_from_flat(tf.constant(arc.to_array(arc_format)), arc_format)
        np.testing.assert_array_equal(converted.numpy(), rows)


def test_output_weights_average_loose_ends_or_all_nodes():
    rows = tf.constant(ptb_arc_rows(arch.PtbArc.parse(arch.PTB_FINAL_ARC)))
    loose = output_weights(rows, 12, "loose_ends").numpy()
    np.testing.assert_allclose(np.nonzero(loose)[0], [3, 4, 7, 9, 10, 11])
    np.testing.assert_allclose(loose.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(output_weights(rows, 12, "mean_all").numpy(), [0.0] + [1 / 11] * 11, rtol=1e-6)


# --- the cell against the NumPy reference -------------------------------------------------------


CELL_CASES = [
    (kind, impl, arc, cell_output, training)
    for kind in ("supernet", "fixed")
    for impl in IMPLS
    for arc in ((ARCS_3 + (ARC_3_NODE0_RELU,) if impl == "original" else ARCS_3) if kind == "supernet" else (ARC_3,))
    for cell_output in ("mean_all", "loose_ends")
    for training in (False, True)
    if not (kind == "supernet" and arc != ARC_3 and (cell_output == "mean_all" or not training))
]


@pytest.mark.parametrize("kind,impl,text,cell_output,training", CELL_CASES)
def test_cell_matches_numpy_reference(kind, impl, text, cell_output, training):
    rng = np.random.default_rng(zlib.crc32(repr((kind, impl, text, cell_output, training)).encode()))
    arc = arch.PtbArc.parse(text)
    if kind == "supernet":
        cell = PtbSearchCell(HIDDEN, arc.num_nodes, ptb_impl=impl, cell_output=cell_output)
        arc_tensor = {"arc": tf.constant(ptb_arc_rows(arc))}
    else:
        cell = PtbFixedCell(arc, HIDDEN, ptb_impl=impl, cell_output=cell_output)
        arc_tensor = {}
    cell.build()
    randomize(cell, rng)
    x = rng.normal(size=(BATCH, 6, HIDDEN)).astype(np.float32)
    h0 = rng.normal(size=(BATCH, HIDDEN)).astype(np.float32)
    masks = {}
    if training:
        masks = {
            "input": dropout_lib.dropout_mask([BATCH, HIDDEN], 0.5, tf.constant([1, 1])),
            "recurrent": dropout_lib.dropout_mask([BATCH, HIDDEN], 0.25, tf.constant([2, 2])),
        }
    all_s, state = cell(tf.constant(x), tf.constant(h0), masks=masks, training=training, **arc_tensor)

    w_prev, w_nodes = np_selected_weights(cell, arc)
    bns = np_bns(cell)
    if bns is not None and not training:
        expected_all, expected_state = np_cell_inference_bn(x, h0, w_prev, w_nodes, arc, cell_output, bns)
    else:
        expected_all, expected_state = np_cell(
            x,
            h0,
            w_prev,
            w_nodes,
            arc,
            cell_output,
            m_x=masks["input"].numpy() if training else None,
            m_l=masks["recurrent"].numpy() if training else None,
            bns=bns,
            node0_activation=0 if impl == "enas_lm" else None,
        )
    np.testing.assert_allclose(all_s.numpy(), expected_all, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state.numpy(), expected_state, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(all_s.numpy()[:, -1], state.numpy(), rtol=1e-6)


def np_cell_inference_bn(x, h0, w_prev, w_nodes, arc, cell_output, bns):
    """The original search cell in inference mode with fresh moving stats (mean 0, variance 1).

    With eps 1 the BN is `gamma * x / sqrt(2) + beta`.
    """
    node_bns = [(gamma / np.sqrt(2.0), beta) for gamma, beta in bns[0]]
    out_bn = (bns[1][0] / np.sqrt(2.0), bns[1][1])
    h = np.asarray(h0, np.float64)
    chosen = range(1, arc.num_nodes) if cell_output == "mean_all" else arc.loose_ends()

    def highway(pre, carry, act):
        half = pre.shape[1] // 2
        c = np_sigmoid(pre[:, half:])
        return c * NP_ACTIVATIONS[act](pre[:, :half]) + (1.0 - c) * carry

    outputs = []
    for t in range(x.shape[1]):
        pre = np.concatenate([x[:, t], h], axis=1) @ w_prev
        nodes = [highway(node_bns[0][0] * pre + node_bns[0][1], h, arc.activations[0])]
        for l in range(1, arc.num_nodes):
            carry = nodes[arc.predecessors[l]]
            pre = carry @ w_nodes[l - 1]
            nodes.append(highway(node_bns[l][0] * pre + node_bns[l][1], carry, arc.activations[l]))
        h = sum(nodes[node] for node in chosen) / len(chosen)
        h = out_bn[0] * h + out_bn[1]
        outputs.append(h)
    return np.stack(outputs, axis=1), h


@pytest.mark.parametrize("cell_output", ("mean_all", "loose_ends"))
def test_enas_lm_supernet_equals_fixed_cell_with_the_same_weights(cell_output):
    rng = np.random.default_rng(5)
    arc = arch.PtbArc.parse(ARC_3)
    fixed = PtbFixedCell(arc, HIDDEN, ptb_impl="enas_lm", cell_output=cell_output)
    search = PtbSearchCell(HIDDEN, 3, ptb_impl="enas_lm", cell_output=cell_output)
    fixed.build()
    search.build()
    randomize(fixed, rng)
    randomize(search, rng)
    search.w_prev.assign(fixed.w_prev)
    for l in range(1, 3):
        stored = search.w_nodes[l - 1].numpy()
        stored[arch.ENAS_LM_ACTIVATION_IDS[arc.activations[l]], arc.predecessors[l]] = fixed.w_nodes[l - 1].numpy()
        search.w_nodes[l - 1].assign(stored)
    x = tf.constant(rng.normal(size=(BATCH, 5, HIDDEN)), tf.float32)
    h0 = tf.constant(rng.normal(size=(BATCH, HIDDEN)), tf.float32)
    fixed_out = fixed(x, h0)
    search_out = search(x, h0, arc=tf.constant(ptb_arc_rows(arc)))
    for got, want in zip(search_out, fixed_out):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


def test_original_batch_norm_moving_statistics_are_zero_debiased():
    bn = PtbBatchNorm()
    bn.build((None, 3))
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3)]
    biased_mean = np.zeros(3)
    for k, batch in enumerate(batches, start=1):
        out = bn(tf.constant(batch), training=True).numpy()
        np.testing.assert_allclose(out, np_batch_norm(batch, 1.0, 0.0), rtol=1e-5, atol=1e-6)
        biased_mean += (batch.mean(axis=0) - biased_mean) * (1 - 0.999)
        np.testing.assert_allclose(bn.moving_mean.numpy(), biased_mean / (1 - 0.999**k), rtol=1e-4)
        if k == 1:  # the initial moving values (0 and 1) are forgotten after one update
            np.testing.assert_allclose(bn.moving_mean.numpy(), batch.mean(0), rtol=1e-4)
            np.testing.assert_allclose(bn.moving_variance.numpy(), batch.var(0), rtol=1e-4)
    plain = PtbBatchNorm(zero_debias=False)
    plain.build((None, 3))
    plain(tf.constant(batches[0]), training=True)
    np.testing.assert_allclose(plain.moving_variance.numpy(), 0.999 + 0.001 * batches[0].var(0), rtol=1e-5)


def test_original_search_bn_updates_once_per_time_step():
    model = make_model("supernet", "original")
    tokens = random_tokens(np.random.default_rng(2), steps=5)
    model(tokens, model.initial_state(BATCH), training=True, **arc_kwargs(model, ARC_3))
    assert float(model.cell.output_bn.num_updates.numpy()) == 5.0
    assert all(float(bn.num_updates.numpy()) == 5.0 for bn in model.cell.node_bns)


# --- the language model -------------------------------------------------------------------------


@pytest.mark.parametrize("kind,impl", [("supernet", "enas_lm"), ("fixed", "original"), ("fixed", "enas_lm")])
def test_model_dropout_placement_matches_numpy(kind, impl):
    rng = np.random.default_rng(9)
    model = make_model(kind, impl)
    randomize(model, rng)
    tokens = random_tokens(rng, steps=5)
    tf.random.set_seed(3)
    masks = model.sample_masks(tokens)
    logits, state, outputs = model(
        tokens, model.initial_state(BATCH), training=True, masks=masks, return_outputs=True, **arc_kwargs(model, ARC_3)
    )
    m = {key: value.numpy().astype(np.float64) for key, value in masks.items()}
    emb = model.embedding.numpy().astype(np.float64)
    tok = tokens.numpy()
    x = emb[tok]
    if impl == "enas_lm":
        x = x * m["embedding_rows"][tok][..., None] * m["embedding"]
    else:
        x = x * m["words"][..., None]
    arc = arch.PtbArc.parse(ARC_3)
    w_prev, w_nodes = np_selected_weights(model.cell, arc)
    h0 = np.zeros((BATCH, HIDDEN))
    all_s, h = np_cell(x, h0, w_prev, w_nodes, arc, model.cell.cell_output, m["input"], m["recurrent"])
    top_s = all_s * m["output"]
    np.testing.assert_allclose(outputs["all_s"].numpy(), all_s, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs["top_s"].numpy(), top_s, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state.numpy(), h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits.numpy(), top_s @ emb.T, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ("supernet", "fixed"))
@pytest.mark.parametrize("impl", IMPLS)
def test_state_carry_two_halves_equal_one_window_and_reset(kind, impl):
    rng = np.random.default_rng(4)
    model = make_model(kind, impl)
    randomize(model, rng)
    tokens = random_tokens(rng, steps=6)
    zeros = model.initial_state(BATCH)
    kwargs = arc_kwargs(model, ARC_3)
    full, full_state = model(tokens, zeros, **kwargs)
    first, carried = model(tokens[:, :3], zeros, **kwargs)
    second, final = model(tokens[:, 3:], carried, **kwargs)
    np.testing.assert_allclose(tf.concat([first, second], 1).numpy(), full.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(final.numpy(), full_state.numpy(), rtol=1e-5, atol=1e-6)
    # Reset: the zero state reproduces the first window; the carried one does not.
    again, _ = model(tokens[:, :3], model.initial_state(BATCH), **kwargs)
    np.testing.assert_allclose(again.numpy(), first.numpy(), rtol=1e-6)
    other, _ = model(tokens[:, :3], final, **kwargs)
    assert not np.allclose(other.numpy(), first.numpy())


def test_state_carry_holds_in_training_with_the_same_locked_masks():
    rng = np.random.default_rng(6)
    model = make_model("supernet", "enas_lm")
    randomize(model, rng)
    tokens = random_tokens(rng, steps=6)
    masks = model.sample_masks(tokens)
    kwargs = dict(training=True, masks=masks, **arc_kwargs(model, ARC_3))
    full, full_state = model(tokens, model.initial_state(BATCH), **kwargs)
    first, carried = model(tokens[:, :3], model.initial_state(BATCH), **kwargs)
    second, final = model(tokens[:, 3:], carried, **kwargs)
    np.testing.assert_allclose(tf.concat([first, second], 1).numpy(), full.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(final.numpy(), full_state.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_one_trace_serves_every_arc_and_window_length(impl):
    rng = np.random.default_rng(8)
    model = make_model("supernet", impl)
    optimizer_vars = model.trainable_variables

    @tf.function(
        input_signature=[
            tf.TensorSpec([BATCH, None], tf.int32),
            tf.TensorSpec([BATCH, HIDDEN], tf.float32),
            tf.TensorSpec([3, 2], tf.int32),
        ]
    )
    def step(tokens, state, arc):
        with tf.GradientTape() as tape:
            logits, new_state, outputs = model(tokens, state, arc=arc, training=True, return_outputs=True)
            loss = ptb_train_loss(logits, tokens, impl) + slowness_regularizer(outputs, impl)
        grads = tape.gradient(loss, optimizer_vars)
        return loss, tf.stop_gradient(new_state), tf.linalg.global_norm(grads)

    state = model.initial_state(BATCH)
    arcs = ARCS_3 + ((ARC_3_NODE0_RELU,) if impl == "original" else ())
    for steps, text in zip((2, 6, 3, 5), arcs * 2):
        loss, state, norm = step(random_tokens(rng, steps=steps), state, tf.constant(model.arc_rows(text)))
        assert np.isfinite(loss.numpy()) and norm.numpy() > 0
    assert step.experimental_get_tracing_count() == 1


def test_enas_lm_supernet_gradient_reaches_only_the_selected_slabs():
    rng = np.random.default_rng(10)
    model = make_model("supernet", "enas_lm")
    arc = arch.PtbArc.parse(ARC_3)
    tokens = random_tokens(rng, steps=4)
    with tf.GradientTape() as tape:
        logits, _ = model(tokens, model.initial_state(BATCH), arc=tf.constant(model.arc_rows(arc)))
        loss = ptb_train_loss(logits, tokens, "enas_lm")
    grads = tape.gradient(loss, model.cell.w_nodes)
    for l, grad in enumerate(grads, start=1):
        grad = tf.convert_to_tensor(grad).numpy()
        f, p = arch.ENAS_LM_ACTIVATION_IDS[arc.activations[l]], arc.predecessors[l]
        assert np.abs(grad[f, p]).sum() > 0
        grad[f, p] = 0.0
        assert not grad.any()


@pytest.mark.parametrize("kind", ("supernet", "fixed"))
@pytest.mark.parametrize("impl", IMPLS)
def test_uniform_model_has_perplexity_equal_to_the_vocabulary_size(kind, impl):
    model = make_model(kind, impl)
    model.embedding.assign(tf.zeros_like(model.embedding))  # tied softmax: every logit is 0
    tokens = random_tokens(np.random.default_rng(3), steps=6)
    logits, _ = model(tokens, model.initial_state(BATCH), **arc_kwargs(model, ARC_3))
    token_ce = token_cross_entropy(logits, tokens)
    np.testing.assert_allclose(math.exp(float(tf.reduce_mean(token_ce))), VOCAB, rtol=1e-5)
    per_token = 1.0 if impl == "enas_lm" else 6.0  # the original sums CE over T, means over B
    np.testing.assert_allclose(float(ptb_train_loss(logits, tokens, impl)), per_token * math.log(VOCAB), rtol=1e-6)


def test_regularizers_follow_each_implementation():
    rng = np.random.default_rng(12)
    all_s = rng.normal(size=(3, 4, 2))
    top_s = all_s * rng.integers(0, 2, size=(3, 1, 2)) * 4.0
    outputs = {"all_s": tf.constant(all_s, tf.float32), "top_s": tf.constant(top_s, tf.float32)}
    np.testing.assert_allclose(float(activation_regularizer(outputs, "enas_lm")), np.mean(all_s**2), rtol=1e-5)
    np.testing.assert_allclose(float(activation_regularizer(outputs, "original")), np.sum(top_s**2) / 3, rtol=1e-5)
    diff = lambda v: (v[:, 1:] - v[:, :-1]) ** 2  # noqa: E731
    np.testing.assert_allclose(float(slowness_regularizer(outputs, "enas_lm")), diff(all_s).mean(), rtol=1e-5)
    np.testing.assert_allclose(float(slowness_regularizer(outputs, "original")), diff(top_s).sum() / 3, rtol=1e-5)
    one_step = {"all_s": outputs["all_s"][:, :1], "top_s": outputs["top_s"][:, :1]}
    assert float(slowness_regularizer(one_step, "enas_lm")) == 0.0


def test_enas_lm_search_weight_penalty_keeps_the_fourth_power_quirk():
    rng = np.random.default_rng(13)
    text = "0 0 1 1 3 1 0"  # 4 nodes: nodes 2 and 3 are penalised, node 1 is not
    model = make_model("supernet", "enas_lm", arc=text)
    randomize(model, rng)
    arc = arch.PtbArc.parse(text)
    rows = tf.constant(model.arc_rows(arc))
    w_prev, w_nodes = np_selected_weights(model.cell, arc)
    expected = 0.5 * sum(np.sum(w**4) for w in [w_prev] + w_nodes[1:])
    np.testing.assert_allclose(float(model.weight_penalty(rows)), expected, rtol=1e-5)
    fixed = sum(np.sum(w**2) for w in [w_prev] + w_nodes)
    np.testing.assert_allclose(float(model.weight_penalty(rows, fix_quirk=True)), fixed, rtol=1e-5)
    network = make_model("fixed", "enas_lm")
    all_squares = sum(np.sum(v.numpy().astype(np.float64) ** 2) for v in network.trainable_variables)
    np.testing.assert_allclose(float(network.weight_penalty()), all_squares, rtol=1e-5)


# --- parameter counts (ENAS_PTB_SPEC.md 3.2) ----------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("search", (True, False))
def test_small_parameter_counts_match_the_formula(impl, search):
    text = "0 0 1 1 3 1 0"
    model = make_model("supernet" if search else "fixed", impl, arc=text)
    assert count(model.trainable_variables) == ptb_num_params(VOCAB, HIDDEN, 4, impl, search)


def test_reference_parameter_counts_from_the_formula():
    assert ptb_num_params(PTB_VOCAB_SIZE, 748, 12, "original", search=False) == 22_027_104
    assert ptb_num_params(PTB_VOCAB_SIZE, 720, 12, "original", search=True) == 289_245_600
    assert ptb_num_params(PTB_VOCAB_SIZE, 200, 10, "enas_lm", search=True) == 16_560_000
    assert ptb_num_params(PTB_VOCAB_SIZE, 200, 10, "enas_lm", search=False) == 2_880_000  # one child
    assert ptb_num_params(PTB_VOCAB_SIZE, 800, 9, "enas_lm", search=False) == 20_800_000
    assert ptb_num_params(PTB_VOCAB_SIZE, 850, 9, "enas_lm", search=False) == 22_950_000


@pytest.mark.parametrize(
    "factory,expected",
    [
        (lambda: PtbNetwork(arch.PTB_FINAL_ARC, PTB_VOCAB_SIZE, 748, ptb_impl="original"), 22_027_104),
        (lambda: PtbNetwork(arch.PTB_ENAS_LM_ARC, PTB_VOCAB_SIZE, 800, ptb_impl="enas_lm"), 20_800_000),
        (lambda: PtbSupernet(PTB_VOCAB_SIZE, 200, num_nodes=10, ptb_impl="enas_lm"), 16_560_000),
    ],
    ids=["original_final_h748", "enas_lm_fixed_h800", "enas_lm_supernet_h200_l9"],
)
def test_reference_size_models_have_the_reference_parameter_counts(factory, expected):
    model = factory()
    model.build()  # weights only; never run at this size here
    assert count(model.trainable_variables) == expected
    del model


# --- configuration and errors -----------------------------------------------------------------


def test_models_take_resolved_values_and_rebuild_from_their_config():
    net = PtbNetwork(arch.PTB_ENAS_LM_ARC, VOCAB, HIDDEN)
    # Models resolve nothing: no dropout unless asked (the configs resolve each reference's rates).
    assert set(net.dropout_rates.values()) == {0.0} and net.cell.cell_output == "mean_all"
    sup = PtbSupernet(VOCAB, HIDDEN, num_nodes=3, ptb_impl="original", drop_o=0.5)
    assert sup.dropout_rates["drop_o"] == 0.5 and sup.cell.cell_output == "loose_ends"
    rebuilt = PtbNetwork.from_config(PtbNetwork(ARC_3, VOCAB, HIDDEN, ptb_impl="original").get_config())
    assert rebuilt.fixed_arc == arch.PtbArc.parse(ARC_3) and rebuilt.ptb_impl == "original"
    again = PtbSupernet.from_config(sup.get_config())
    assert again.get_config() == sup.get_config()


def test_bad_arcs_and_settings_raise():
    with pytest.raises(ArcError, match="always uses tanh"):
        PtbNetwork(ARC_3_NODE0_RELU, VOCAB, HIDDEN, ptb_impl="enas_lm")
    supernet = PtbSupernet(VOCAB, HIDDEN, num_nodes=3)
    with pytest.raises(ArcError, match="num_nodes=3"):
        supernet.arc_rows(arch.PTB_ENAS_LM_ARC)
    with pytest.raises(ArcError, match="tanh"):
        supernet.arc_rows(ARC_3_NODE0_RELU)
    with pytest.raises(ValueError, match="drop_i"):
        PtbNetwork(ARC_3, VOCAB, HIDDEN, ptb_impl="original", drop_i=0.2)
    with pytest.raises(ValueError, match="ptb_impl"):
        PtbSupernet(VOCAB, HIDDEN, num_nodes=3, ptb_impl="awd")
    with pytest.raises(ValueError, match="drop_x"):
        PtbSupernet(VOCAB, HIDDEN, num_nodes=3, drop_x=1.0)


def test_weight_drop_masks_only_the_recurrent_half_of_w_prev():
    model = make_model("fixed", "enas_lm", drop_w=0.5)
    masks = model.sample_masks(random_tokens(np.random.default_rng(1)))
    assert masks["weight_prev"].shape == (HIDDEN, 2 * HIDDEN)
    assert masks["weight_nodes"].shape == (2, HIDDEN, 2 * HIDDEN)
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(BATCH, 1, HIDDEN)), tf.float32)
    zero_recurrent = {
        "weight_prev": tf.zeros([HIDDEN, 2 * HIDDEN]),
        "weight_nodes": tf.ones([2, HIDDEN, 2 * HIDDEN]),
    }
    h0 = tf.constant(rng.normal(size=(BATCH, HIDDEN)), tf.float32)
    dropped, _ = model.cell(x, h0, masks=zero_recurrent)
    arc = arch.PtbArc.parse(ARC_3)
    w_prev, w_nodes = np_selected_weights(model.cell, arc)
    w_prev[HIDDEN:] = 0.0
    expected, _ = np_cell(x.numpy(), h0.numpy(), w_prev, w_nodes, arc, "mean_all")
    np.testing.assert_allclose(dropped.numpy(), expected, rtol=1e-4, atol=1e-5)


# --- weight averaging (ENAS_PTB_SPEC.md 2.4) ----------------------------------------------------


def test_weight_average_of_a_model_evaluates_with_the_averaged_weights():
    model = make_model("fixed", "enas_lm")
    average = WeightAverage(model.trainable_variables)
    snapshots = []
    for seed in range(2):
        randomize(model, np.random.default_rng(seed))
        snapshots.append([v.numpy() for v in model.trainable_variables])
        average.update()
    with average.averaged():
        for v, first, second in zip(model.trainable_variables, *snapshots):
            np.testing.assert_allclose(v.numpy(), (first + second) / 2, rtol=1e-6, atol=1e-7)
    for v, last in zip(model.trainable_variables, snapshots[-1]):
        np.testing.assert_array_equal(v.numpy(), last)


# --- docstring examples -------------------------------------------------------------------------


@pytest.mark.parametrize("module", [dropout_lib, arc_tensor, cells, models, ops], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0
