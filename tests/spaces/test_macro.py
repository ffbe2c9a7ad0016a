"""Tests of the macro search space: supernet, fixed network and their building blocks.

Every expected value is recomputed in the test from ENAS_SPEC.md (3, 4, 7.1, Q-2..Q-4):
the supernet output by calling only the chosen branches by hand, parameter counts by
the spec's formulas, factorized reduction and batch norm by small NumPy references, and
the optimiser's effect on unselected branches by the Nesterov-SGD update rule. Shapes
are tiny (8x8 or 16x16 images, F = 4, L = 3..6) so the file runs in seconds.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.spaces.macro import (
    MacroFixedLayer,
    MacroNetwork,
    MacroSearchLayer,
    MacroSupernet,
    macro_pool_layers,
)
from enas_tf2.tasks.image_trainer import ImageChildTrainer

FILTERS = 4
NUM_LAYERS = 4
BATCH = 2
SIZE = 8
#: Op ids -> (kernel size, separable in search) of the conv ops (spec 2.1.1).
CONV_OPS = {0: (3, False), 1: (3, True), 2: (5, False), 3: (5, True)}
POOL_OPS = (4, 5)
#: Nesterov momentum of the child optimiser (spec 7.1).
MOMENTUM = 0.9


# ---------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------


def spec_pool_layers(num_layers: int) -> list[int]:
    """`[L//3 - 1, 2*(L//3) - 1]`, written from spec 4.1."""
    return [num_layers // 3 - 1, 2 * (num_layers // 3) - 1]


def num_params(variables) -> int:
    return sum(int(np.prod(v.shape)) for v in variables)


def images(seed: int = 0, batch: int = BATCH, size: int = SIZE) -> tf.Tensor:
    return tf.constant(np.random.RandomState(seed).randn(batch, size, size, 3).astype(np.float32))


def random_arc(rng: np.random.RandomState, num_layers: int, num_branches: int = 6) -> arch.MacroArc:
    ops = tuple(int(rng.randint(num_branches)) for _ in range(num_layers))
    skips = tuple(tuple(int(b) for b in rng.randint(2, size=layer)) for layer in range(num_layers))
    return arch.MacroArc(ops=ops, skips=skips)


def randomize_weights(model: keras.layers.Layer, seed: int = 0) -> None:
    """Random BN affine parameters and moving statistics, so inference BN is not ~identity."""
    rng = np.random.RandomState(seed)
    for v in model.weights:
        shape = tuple(v.shape)
        name = v.name
        if name == "gamma":
            v.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        elif name == "beta":
            v.assign(rng.normal(0.0, 0.2, shape).astype(np.float32))
        elif name == "moving_mean":
            v.assign(rng.normal(0.0, 0.2, shape).astype(np.float32))
        elif name == "moving_variance":
            v.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))


def build_supernet(num_layers=NUM_LAYERS, filters=FILTERS, size=SIZE, seed=0, **kwargs) -> MacroSupernet:
    keras.utils.set_random_seed(seed)
    model = MacroSupernet(num_layers=num_layers, out_filters=filters, **kwargs)
    model.build((None, size, size, 3))
    return model


def manual_supernet_logits(model: MacroSupernet, x: tf.Tensor, arc: arch.MacroArc, training: bool):
    """Spec 4.1/4.2 by hand: only the chosen branch of each layer, skips summed, then skip BN."""
    pool_layers = spec_pool_layers(model.num_layers)
    nodes = [model.stem(x, training=training)]
    for layer_id, layer in enumerate(model.macro_layers):
        out = layer.choice.branches[arc.ops[layer_id]](nodes[-1], training=training)
        if layer_id > 0:
            for node_id, bit in enumerate(arc.skips[layer_id]):
                if bit:
                    out = out + nodes[node_id]
            out = layer.skip_bn(out, training=training)
        nodes.append(out)
        if layer_id in pool_layers:
            reductions = model.reductions[pool_layers.index(layer_id)]
            assert len(reductions) == len(nodes)
            nodes = [reduce(node, training=training) for reduce, node in zip(reductions, nodes)]
    pooled = tf.reduce_mean(nodes[-1], axis=[1, 2])
    return tf.matmul(pooled, model.classifier.kernel)


def bn_inference(x, bn):
    return (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()


def bn_train(x, bn):
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()


def conv_same(x, kernel):
    return tf.nn.conv2d(x, kernel, strides=1, padding="SAME").numpy()


# ---------------------------------------------------------------------------------------------
# 1. Supernet output = chosen branches only.
# ---------------------------------------------------------------------------------------------


def test_pool_layers_follow_spec():
    for num_layers in (3, 4, 6, 12, 24):
        assert list(macro_pool_layers(num_layers)) == spec_pool_layers(num_layers)
    assert list(macro_pool_layers(12)) == [3, 7]
    assert list(macro_pool_layers(24)) == [7, 15]


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_supernet_output_equals_chosen_branches_by_hand(training):
    model = build_supernet()
    randomize_weights(model)
    x = images()
    arcs = [
        arch.MacroArc.parse("0  3 1  5 0 1  1 1 1 1"),  # every layer has skips but layer 0
        arch.MacroArc.parse("2  4 0  1 1 0  3 0 1 1"),
    ]
    call = tf.function(lambda images, arc: model(images, arc=arc, training=training))
    for arc in arcs:
        expected = manual_supernet_logits(model, x, arc, training).numpy()
        eager = model(x, arc=tf.constant(arc.to_array()), training=training).numpy()
        traced = call(x, tf.constant(arc.to_array())).numpy()
        np.testing.assert_allclose(eager, expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(traced, expected, rtol=1e-4, atol=1e-5)
    assert call.experimental_get_tracing_count() == 1
    # The check can fail: a different op in one layer changes the logits.
    other = manual_supernet_logits(model, x, arch.MacroArc.parse("0  3 1  5 0 1  0 1 1 1"), training)
    assert not np.allclose(other.numpy(), expected, atol=1e-4)


def test_static_supernet_equals_dynamic_supernet():
    arc = arch.MacroArc.parse("1  3 1  4 0 1  2 1 0 1")
    dynamic = build_supernet()
    randomize_weights(dynamic)
    static = build_supernet(static_arc=arc)
    for layer_id, (d_layer, s_layer) in enumerate(zip(dynamic.macro_layers, static.macro_layers)):
        assert len(s_layer.choice.branches) == 1
        s_layer.choice.branches[0].set_weights(d_layer.choice.branches[arc.ops[layer_id]].get_weights())
        if layer_id > 0:
            s_layer.skip_bn.set_weights(d_layer.skip_bn.get_weights())
    static.stem.set_weights(dynamic.stem.get_weights())
    static.classifier.set_weights(dynamic.classifier.get_weights())
    for d_pool, s_pool in zip(dynamic.reductions, static.reductions):
        for d_red, s_red in zip(d_pool, s_pool):
            s_red.set_weights(d_red.get_weights())
    x = images(1)
    np.testing.assert_allclose(
        static(x, training=False).numpy(),
        dynamic(x, arc=tf.constant(arc.to_array()), training=False).numpy(),
        rtol=1e-4,
        atol=1e-5,
    )


# ---------------------------------------------------------------------------------------------
# 2. One trace serves many architectures.
# ---------------------------------------------------------------------------------------------


def test_one_trace_serves_many_arcs_in_inference():
    model = build_supernet()
    arc_len = arch.macro_arc_length(NUM_LAYERS)
    call = tf.function(
        lambda images, arc: model(images, arc=arc, training=False),
        input_signature=[
            tf.TensorSpec([BATCH, SIZE, SIZE, 3], tf.float32),
            tf.TensorSpec([arc_len], tf.int32),
        ],
    )
    rng = np.random.RandomState(0)
    x = images()
    outputs = set()
    for _ in range(20):
        logits = call(x, tf.constant(random_arc(rng, NUM_LAYERS).to_array()))
        outputs.add(logits.numpy().tobytes())
    assert call.experimental_get_tracing_count() == 1
    assert len(outputs) > 1  # the arcs really changed the computation


# ---------------------------------------------------------------------------------------------
# 3. Unselected branches in search training (spec 4.2, 7.1).
# ---------------------------------------------------------------------------------------------


def _snapshot(layer):
    return {v.path: v.numpy().copy() for v in layer.weights}


def _trainable_paths(layer):
    return {v.path for v in layer.trainable_weights}


#: Trainer tests use 3 layers: tracing a train step dominates the run time.
TRAIN_LAYERS = 3
L2_REG = 0.05
LR = 0.1


def _make_trainer(l2_reg, lr=LR, seed=0):
    model = build_supernet(num_layers=TRAIN_LAYERS, seed=seed)
    optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=MOMENTUM, nesterov=True)
    return model, ImageChildTrainer(model, optimizer, l2_reg=l2_reg)


@pytest.fixture(scope="module")
def l2_trainer():
    """One traced search-mode trainer with L2 > 0, shared to trace the step only once."""
    return _make_trainer(l2_reg=L2_REG)


def _reset_momentum(optimizer):
    for momentum in optimizer.momentums:
        momentum.assign(tf.zeros_like(momentum))


BATCH_LABELS = np.array([3, 5], np.int32)


def test_unselected_branch_weights_do_not_move_without_l2():
    model, trainer = _make_trainer(l2_reg=0.0)
    arc_1 = arch.MacroArc.parse("0  1 1  3 0 1")
    arc_2 = arch.MacroArc.parse("4  5 1  0 0 1")  # every layer picks another op
    before = [[_snapshot(b) for b in layer.choice.branches] for layer in model.macro_layers]
    trainer.train_step((images(), tf.constant(BATCH_LABELS)), tf.constant(arc_1.to_array()))
    after_1 = [[_snapshot(b) for b in layer.choice.branches] for layer in model.macro_layers]

    for layer_id, layer in enumerate(model.macro_layers):
        for op_id, branch in enumerate(layer.choice.branches):
            old, new = before[layer_id][op_id], after_1[layer_id][op_id]
            moved = {path for path in old if not np.array_equal(old[path], new[path])}
            if op_id == arc_1.ops[layer_id]:
                # Kernels, gamma/beta and both moving statistics of the taken branch moved.
                assert _trainable_paths(branch) <= moved, (layer_id, op_id)
                moving = {v.path for v in branch.non_trainable_weights}
                assert moving and moving <= moved, (layer_id, op_id)
            else:
                assert not moved, (layer_id, op_id, moved)

    # Step 2 picks other ops: with zero L2 the step-1 branches still move by momentum alone,
    # by exactly 0.9 * (0.9 * m_1) with m_1 = delta_1 / 1.9 (Keras Nesterov SGD from zero).
    trainer.train_step((images(1), tf.constant(BATCH_LABELS)), tf.constant(arc_2.to_array()))
    for layer_id, layer in enumerate(model.macro_layers):
        branch = layer.choice.branches[arc_1.ops[layer_id]]
        for v in branch.trainable_weights:
            delta_1 = after_1[layer_id][arc_1.ops[layer_id]][v.path] - before[layer_id][arc_1.ops[layer_id]][v.path]
            delta_2 = v.numpy() - after_1[layer_id][arc_1.ops[layer_id]][v.path]
            assert np.any(delta_2 != 0.0), v.path
            np.testing.assert_allclose(
                delta_2, MOMENTUM * MOMENTUM * delta_1 / (1.0 + MOMENTUM), rtol=1e-3, atol=1e-7
            )
        # Moving statistics have no momentum: unchanged when the branch is not taken.
        for v in branch.non_trainable_weights:
            np.testing.assert_array_equal(v.numpy(), after_1[layer_id][arc_1.ops[layer_id]][v.path])


def test_unselected_branch_kernels_decay_by_nesterov_l2_update(l2_trainer):
    lr, l2_reg = LR, L2_REG
    model, trainer = l2_trainer
    _reset_momentum(trainer.optimizer)  # the rule below starts from zero momentum
    randomize_weights(model)  # gamma != 1, beta != 0 so every weight has an L2 gradient
    arc = arch.MacroArc.parse("0  1 1  3 0 1")
    before = [[_snapshot(b) for b in layer.choice.branches] for layer in model.macro_layers]
    trainer.train_step((images(), tf.constant(BATCH_LABELS)), tf.constant(arc.to_array()))
    for layer_id, layer in enumerate(model.macro_layers):
        for op_id, branch in enumerate(layer.choice.branches):
            old = before[layer_id][op_id]
            for v in branch.trainable_weights:
                w = old[v.path]
                grad = 2.0 * l2_reg * w
                # m = -lr * g; w += 0.9 * m - lr * g (Keras SGD, nesterov) from zero momentum.
                momentum = -lr * grad
                expected = w + MOMENTUM * momentum - lr * grad
                if op_id == arc.ops[layer_id]:
                    assert not np.allclose(v.numpy(), expected, rtol=1e-6, atol=1e-7), v.path
                else:
                    np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-8, err_msg=v.path)
                    np.testing.assert_allclose(v.numpy() - w, -1.9 * lr * grad, rtol=1e-3, atol=1e-8)
            for v in branch.non_trainable_weights:
                if op_id != arc.ops[layer_id]:
                    np.testing.assert_array_equal(v.numpy(), old[v.path])


def test_one_trace_serves_many_arcs_in_train_step(l2_trainer):
    model, trainer = l2_trainer
    rng = np.random.RandomState(1)
    batch = (images(), tf.constant([1, 7], tf.int32))
    losses = set()
    for _ in range(20):
        arc = random_arc(rng, TRAIN_LAYERS).to_array()
        logs = trainer.train_step(batch, tf.constant(arc))
        np.testing.assert_array_equal(logs["arc"].numpy(), arc)
        assert np.isfinite(logs["loss"].numpy())
        losses.add(float(logs["loss"]))
    assert trainer.train_step.experimental_get_tracing_count() == 1
    assert len(losses) > 1


# ---------------------------------------------------------------------------------------------
# 4./5. Parameter counts by hand (spec 4.1-4.3).
# ---------------------------------------------------------------------------------------------


def fixed_param_count_by_hand(arc: arch.MacroArc, filters: int, num_classes: int = 10) -> int:
    """Spec 4.1 + 4.3, one term at a time."""
    pool_layers = spec_pool_layers(arc.num_layers)
    f = filters
    total = 3 * 3 * 3 * f + 2 * f  # stem conv + BN
    for layer_id, op in enumerate(arc.ops):
        total += f * f + 2 * f  # 1x1 conv + BN (ops 0-5)
        if op in CONV_OPS:
            k = CONV_OPS[op][0]
            total += k * k * f * f + 2 * f  # regular k x k conv (ops 1/3 too, Q-3) + BN
        if layer_id > 0:
            num_skips = sum(arc.skips[layer_id])
            total += (num_skips + 1) * f * f + 2 * f  # concat -> 1x1 conv + BN
        if layer_id in pool_layers:
            f_new = 2 * f
            num_nodes = layer_id + 2
            total += num_nodes * (f * f_new + 2 * f_new)  # two 1x1 halves f -> f_new/2, BN f_new
            f = f_new
    return total + f * num_classes


def supernet_param_count_by_hand(num_layers: int, filters: int, num_branches: int, num_classes: int = 10) -> int:
    """Spec 4.1 + 4.2 with F constant (Q-4)."""
    f = filters
    total = 3 * 3 * 3 * f + 2 * f
    for layer_id in range(num_layers):
        for op in range(num_branches):
            total += f * f + 2 * f  # 1x1 conv + BN
            if op in CONV_OPS:
                k, separable = CONV_OPS[op]
                if separable:
                    total += k * k * f + f * f  # depthwise + pointwise
                else:
                    total += k * k * f * f
                total += 2 * f  # masked BN
        if layer_id > 0:
            total += 2 * f  # skip BN
    for pool_layer in spec_pool_layers(num_layers):
        total += (pool_layer + 2) * (f * f + 2 * f)
    return total + f * num_classes


@pytest.mark.parametrize(
    "arc_str",
    [
        "0  1 1  2 0 1  3 1 0 0  4 0 1 1 1  5 1 0 0 1 0",
        "5  4 0  3 1 1  2 0 0 0  1 1 1 1 1  0 0 0 0 0 0",
        "1  3 1  4 0 0",
    ],
    ids=["L6_ops_0_to_5", "L6_ops_5_to_0", "L3"],
)
def test_fixed_param_count_matches_spec_by_hand(arc_str):
    arc = arch.MacroArc.parse(arc_str)
    model = MacroNetwork(arc, out_filters=FILTERS)
    model.build((None, 16, 16, 3))
    assert num_params(model.trainable_variables) == fixed_param_count_by_hand(arc, FILTERS)


@pytest.mark.parametrize("num_branches", [4, 5, 6])
@pytest.mark.parametrize("num_layers", [3, 4])
def test_supernet_param_count_matches_spec_by_hand(num_layers, num_branches):
    model = build_supernet(num_layers=num_layers, num_branches=num_branches)
    assert num_params(model.trainable_variables) == supernet_param_count_by_hand(num_layers, FILTERS, num_branches)


def test_param_count_matches_original_macro_final():
    """The original's measured count for cifar10_macro_final.sh (spec 4.4)."""
    arc = arch.MacroArc.parse(arch.MACRO_FINAL_ARC)
    model = MacroNetwork(arc, out_filters=96, keep_prob=0.5)
    model.build((None, 32, 32, 3))
    assert num_params(model.trainable_variables) == 42_559_392
    assert fixed_param_count_by_hand(arc, 96) == 42_559_392


# ---------------------------------------------------------------------------------------------
# 6. compat_branch_bug.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_branches", [4, 6])
def test_compat_branch_bug_always_returns_last_branch(num_branches):
    buggy = build_supernet(num_layers=3, num_branches=num_branches, compat_branch_bug=True, seed=3)
    randomize_weights(buggy)
    fixed = build_supernet(num_layers=3, num_branches=num_branches, seed=4)
    fixed.set_weights(buggy.get_weights())
    x = images(2)
    skips = "  {} 1  {} 1 1"
    arc_a = arch.MacroArc.parse("0" + skips.format(1, 2))
    arc_b = arch.MacroArc.parse("2" + skips.format(0, 3))
    last = num_branches - 1
    arc_last = arch.MacroArc.parse(str(last) + skips.format(last, last))

    def logits(model, arc):
        return model(x, arc=tf.constant(arc.to_array()), training=False).numpy()

    np.testing.assert_array_equal(logits(buggy, arc_a), logits(buggy, arc_b))
    np.testing.assert_allclose(logits(buggy, arc_a), logits(fixed, arc_last), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        logits(buggy, arc_a), manual_supernet_logits(buggy, x, arc_last, False).numpy(), rtol=1e-4, atol=1e-5
    )
    # Without the bug the op ids matter.
    assert not np.allclose(logits(fixed, arc_a), logits(fixed, arc_b), atol=1e-4)
    # Skips still matter with the bug.
    arc_no_skips = arch.MacroArc.parse("0  1 0  2 0 0")
    assert not np.allclose(logits(buggy, arc_a), logits(buggy, arc_no_skips), atol=1e-4)


# ---------------------------------------------------------------------------------------------
# 7. Layer structure and ordering: fixed vs. search.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op_id", [0, 1, 2, 3])
def test_fixed_conv_ops_are_regular_and_search_sep_ops_separable(op_id):
    k, separable = CONV_OPS[op_id]
    fixed = MacroFixedLayer(1, FILTERS, op_id, skip_sources=(0,))
    fixed.build((None, SIZE, SIZE, FILTERS))
    conv = fixed.branch.out_conv.conv
    assert type(conv) is keras.layers.Conv2D
    assert tuple(conv.kernel.shape) == (k, k, FILTERS, FILTERS)

    search = MacroSearchLayer(1, FILTERS)
    search.build((None, SIZE, SIZE, FILTERS))
    conv = search.choice.branches[op_id].out_conv.conv
    if separable:
        assert type(conv) is keras.layers.SeparableConv2D
        assert tuple(conv.depthwise_kernel.shape) == (k, k, FILTERS, 1)
        assert tuple(conv.pointwise_kernel.shape) == (1, 1, FILTERS, FILTERS)
    else:
        assert type(conv) is keras.layers.Conv2D
        assert tuple(conv.kernel.shape) == (k, k, FILTERS, FILTERS)
    assert search.choice.branches[op_id].out_conv.bn.epsilon == pytest.approx(1e-3)
    assert search.choice.branches[op_id].inp_conv.bn.epsilon == pytest.approx(1e-5)


@pytest.mark.parametrize("op_id", [0, 1, 2, 3])
def test_fixed_layer_is_relu_conv_bn_then_concat_skips_in_ascending_order(op_id):
    keras.utils.set_random_seed(5)
    skip_sources = (0, 2)
    layer = MacroFixedLayer(3, FILTERS, op_id, skip_sources=skip_sources)
    layer.build((BATCH, SIZE, SIZE, FILTERS))
    randomize_weights(layer, seed=6)
    rng = np.random.RandomState(7)
    inputs = rng.randn(BATCH, SIZE, SIZE, FILTERS).astype(np.float32)
    candidates = [rng.randn(BATCH, SIZE, SIZE, FILTERS).astype(np.float32) for _ in range(3)]
    out = layer(tf.constant(inputs), [tf.constant(c) for c in candidates], training=False).numpy()

    relu = lambda t: np.maximum(t, 0.0)  # noqa: E731
    branch = layer.branch
    # Spec 4.3: ReLU -> 1x1 conv -> BN -> ReLU -> k x k conv -> BN.
    hidden = bn_inference(conv_same(relu(inputs), branch.inp_conv.conv.kernel), branch.inp_conv.bn)
    op_out = bn_inference(conv_same(relu(hidden), branch.out_conv.conv.kernel), branch.out_conv.bn)
    concat = np.concatenate([candidates[0], candidates[2], op_out], axis=-1)
    expected = bn_inference(conv_same(relu(concat), layer.skip_conv.conv.kernel), layer.skip_conv.bn)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)

    # The order matters, so the check above can fail.
    wrong = np.concatenate([op_out, candidates[0], candidates[2]], axis=-1)
    wrong = bn_inference(conv_same(relu(wrong), layer.skip_conv.conv.kernel), layer.skip_conv.bn)
    assert not np.allclose(out, wrong, atol=1e-4)


def test_fixed_layer_without_skips_still_applies_skip_conv():
    keras.utils.set_random_seed(8)
    layer = MacroFixedLayer(2, FILTERS, 4, skip_sources=())
    layer.build((BATCH, SIZE, SIZE, FILTERS))
    randomize_weights(layer, seed=9)
    rng = np.random.RandomState(10)
    inputs = rng.randn(BATCH, SIZE, SIZE, FILTERS).astype(np.float32)
    candidates = [tf.constant(rng.randn(BATCH, SIZE, SIZE, FILTERS).astype(np.float32)) for _ in range(2)]
    out = layer(tf.constant(inputs), candidates, training=False).numpy()
    branch = layer.branch
    # Pool op in fixed mode (spec recommendation): ReLU -> 1x1 conv -> BN -> avg pool 3x3.
    hidden = bn_inference(conv_same(np.maximum(inputs, 0), branch.inp_conv.conv.kernel), branch.inp_conv.bn)
    pooled = tf.nn.avg_pool2d(hidden, 3, 1, "SAME").numpy()
    expected = bn_inference(conv_same(np.maximum(pooled, 0), layer.skip_conv.conv.kernel), layer.skip_conv.bn)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert tuple(layer.skip_conv.conv.kernel.shape) == (1, 1, FILTERS, FILTERS)


def test_search_layer_is_conv_bn_relu_then_sum_skips_then_bn():
    keras.utils.set_random_seed(11)
    layer = MacroSearchLayer(2, FILTERS)
    layer.build((BATCH, SIZE, SIZE, FILTERS))
    randomize_weights(layer, seed=12)
    rng = np.random.RandomState(13)
    inputs = rng.randn(BATCH, SIZE, SIZE, FILTERS).astype(np.float32)
    candidates = [rng.randn(BATCH, SIZE, SIZE, FILTERS).astype(np.float32) for _ in range(2)]
    arc = np.zeros(arch.macro_arc_length(3), np.int32)
    offset = arch.macro_layer_offset(2)
    arc[offset : offset + 3] = [0, 0, 1]  # op 0 (conv 3x3), skip from node 1 only
    out = layer(tf.constant(inputs), [tf.constant(c) for c in candidates], arc=tf.constant(arc), training=False)

    relu = lambda t: np.maximum(t, 0.0)  # noqa: E731
    branch = layer.choice.branches[0]
    hidden = relu(bn_inference(conv_same(inputs, branch.inp_conv.conv.kernel), branch.inp_conv.bn))
    op_out = relu(bn_inference(conv_same(hidden, branch.out_conv.conv.kernel), branch.out_conv.bn))
    expected = bn_inference(op_out + candidates[1], layer.skip_bn)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# 8. Fixed-mode shapes (spec 4.4).
# ---------------------------------------------------------------------------------------------


def test_fixed_network_channels_double_and_resolution_halves_at_pool_layers(monkeypatch):
    arc = arch.MacroArc.parse("0  1 1  2 0 1  3 1 0 0  4 0 1 1 1  5 1 0 0 1 0")
    size = 16
    model = MacroNetwork(arc, out_filters=FILTERS)
    model.build((None, size, size, 3))
    records = []
    original = MacroNetwork._call_layer

    def recording(self, layer, nodes, arc_, training):
        out = original(self, layer, nodes, arc_, training)
        records.append(([tuple(n.shape) for n in nodes], tuple(out.shape)))
        return out

    monkeypatch.setattr(MacroNetwork, "_call_layer", recording)
    logits = model(images(size=size), training=False)
    assert tuple(logits.shape) == (BATCH, 10)
    assert len(records) == arc.num_layers

    pool_layers = spec_pool_layers(arc.num_layers)  # [1, 3]
    f, s = FILTERS, size
    for layer_id, (node_shapes, out_shape) in enumerate(records):
        # Every node this layer sees (stem included) has the layer's resolution and width.
        assert len(node_shapes) == layer_id + 1
        assert all(shape == (BATCH, s, s, f) for shape in node_shapes), (layer_id, node_shapes)
        assert out_shape == (BATCH, s, s, f)
        if layer_id in pool_layers:
            f, s = 2 * f, s // 2
    assert (f, s) == (4 * FILTERS, size // 4)
    assert tuple(model.classifier.kernel.shape) == (4 * FILTERS, 10)
    assert [layer.filters for layer in model.macro_layers] == [4, 4, 8, 8, 16, 16]


def test_supernet_keeps_filters_constant():
    model = build_supernet(num_layers=6)
    assert all(layer.filters == FILTERS for layer in model.macro_layers)
    assert tuple(model.classifier.kernel.shape) == (FILTERS, 10)
    for pool in model.reductions:
        for reduction in pool:
            assert reduction.filters == FILTERS
