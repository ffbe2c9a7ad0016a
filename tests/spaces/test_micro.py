"""Tests of the micro search space: supernet, fixed network and their layers (ENAS_SPEC.md 5)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.spaces.micro import MicroNetwork, MicroSupernet, loose_end_mask, micro_pool_layers
from enas_tf2.tasks.image_trainer import ImageChildTrainer

IMAGE_SHAPE = (None, 32, 32, 3)


def count(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def static_slot_sources(supernet, static):
    """`(static variable, supernet value)` pairs: by path, a static slot's per-input weight from its op's columns."""
    by_path = {v.path: v for v in supernet.variables}
    per_input = {}
    for cell, static_cell in zip(supernet.cells, static.cells):
        for slot, static_slot in zip(cell.slots, static_cell.slots):
            if static_slot.per_input_weights is not None:
                per_input[static_slot.per_input_weights.path] = slot.columns(static_slot.static_op)
    return [(variable, by_path[variable.path][:, per_input[variable.path]] if variable.path in per_input
             else by_path[variable.path]) for variable in static.variables], per_input


def copy_to_static(supernet, static) -> None:
    for variable, value in static_slot_sources(supernet, static)[0]:
        variable.assign(value)


def random_micro_arc(rng: np.random.Generator, num_blocks: int) -> np.ndarray:
    values = []
    for _ in range(2):
        for block in range(num_blocks):
            for _ in range(2):
                values += [rng.integers(0, block + 2), rng.integers(0, 5)]
    return np.asarray(values, np.int32)


# --- layers ---------------------------------------------------------------------------------------


def test_micro_pool_layers():
    assert micro_pool_layers(6) == (2, 5)
    assert micro_pool_layers(15) == (5, 11)


def test_loose_end_mask_matches_micro_cell():
    rng = np.random.default_rng(3)
    for _ in range(20):
        arc = arch.MicroArc.from_flat(random_micro_arc(rng, 4))
        for cell in arc.cells:
            mask = loose_end_mask(tf.constant(cell.to_flat(), tf.int32), 6).numpy()
            assert tuple(np.flatnonzero(mask)) == cell.loose_ends()


# --- fixed network --------------------------------------------------------------------------------

SMALL_ARC = arch.MicroArc.parse("0 0 1 4   0 2 1 1")


def test_small_fixed_network_parameter_count_by_hand():
    """num_layers=3 (cells N R N R N), B=1, F=4; normal block sep3(0)+id(1), reduction avg(0)+sep5(1).

    stem 3*3*3*12 + 24 = 348
    cell 0 (N, F=4): pp 1x1 12->4 (48+8), p 1x1 12->4 (48+8), base 16+8, sep3 x2 (36+16+8)*2   = 256
    cell 1 (R, F=8): pp 1x1 12->8 (96+16), p 1x1 4->8 (32+16), base 64+16, sep5 x2 (200+64+16)*2 = 800
    cell 2 (N, F=8): pp FR 4->8 (16+16+16), base 80, sep3 x2 (72+64+16)*2                      = 432
    cell 3 (R, F=16): pp 8->16 (128+32), p 8->16 (128+32), base 256+32, sep5 x2 (400+256+32)*2 = 1984
    cell 4 (N, F=16): pp FR 8->16 (64+64+32), base 288, sep3 x2 (144+256+32)*2                 = 1312
    dense 16*10 = 160                                                      total = 5292
    """
    net = MicroNetwork(SMALL_ARC, num_layers=3, out_filters=4, use_aux_heads=True)
    net.build(IMAGE_SHAPE)
    assert count(net.optimized_variables) == 5292
    aux = 16 * 128 + 256 + 2 * 2 * 128 * 768 + 1536 + 768 * 10
    assert count(net.aux_head.trainable_variables) == aux
    assert count(net.trainable_variables) == 5292 + aux
    assert [cell.output_shape_ for cell in net.cells] == [(32, 4), (16, 8), (16, 8), (8, 16), (8, 16)]


def test_final_script_network_has_the_original_parameter_count():
    """`cifar10_micro_final.sh`: 3,894,372 trained parameters, 494,848 in the aux head (spec 5.3)."""
    net = MicroNetwork(
        arch.MicroArc.parse(arch.MICRO_FINAL_ARC), num_layers=15, out_filters=36, keep_prob=0.8,
        drop_path_keep_prob=0.6, total_steps=630 * 348, use_aux_heads=True,
    )
    net.build(IMAGE_SHAPE)
    assert count(net.optimized_variables) == 3_894_372
    assert count(net.aux_head.trainable_variables) == 494_848
    expected = [180] * 5 + [288] + [360] * 5 + [576] + [720] * 5
    assert [channels for _, channels in (cell.output_shape_ for cell in net.cells)] == expected


def test_reduction_cell_reduces_loose_inputs():
    arc = arch.MicroArc.parse("0 0 0 1   0 4 0 4")  # reduction: node 1 is loose
    net = MicroNetwork(arc, num_layers=3, out_filters=4)
    net.build(IMAGE_SHAPE)
    reduction_cell = net.cells[1]
    assert reduction_cell.loose_ends == (1, 2)
    assert len(reduction_cell.loose_reductions) == 1
    assert reduction_cell.output_shape_ == (16, 16)
    assert net(tf.zeros([2, 32, 32, 3])).shape == (2, 10)


def test_fixed_network_drop_path_only_in_training():
    net = MicroNetwork(SMALL_ARC, num_layers=3, out_filters=4, drop_path_keep_prob=0.1, total_steps=1)
    net.build(IMAGE_SHAPE)
    x = tf.random.normal([16, 32, 32, 3])
    np.testing.assert_allclose(net(x, training=False).numpy(), net(x, training=False).numpy())
    # The masks are stateless, keyed on the step (a resumed run draws the same ones): new masks at each step.
    step = tf.constant(10, tf.int64)
    a, b = net(x, training=True, step=step).numpy(), net(x, training=True, step=step).numpy()
    np.testing.assert_array_equal(a, b)
    c = net(x, training=True, step=step + 1).numpy()
    assert not np.allclose(a, c), "drop path should draw new masks at every step"


def test_fixed_network_rejects_bad_drop_path():
    with pytest.raises(ValueError, match="drop_path_keep_prob"):
        MicroNetwork(SMALL_ARC, num_layers=3, out_filters=4, drop_path_keep_prob=0.0)


# --- supernet -------------------------------------------------------------------------------------

NUM_LAYERS, NUM_BLOCKS, FILTERS = 1, 2, 4


@pytest.fixture(scope="module")
def supernet():
    net = MicroSupernet(NUM_LAYERS, NUM_BLOCKS, FILTERS, use_aux_heads=True, name="child")
    net.build(IMAGE_SHAPE)
    return net


def test_supernet_always_runs_in_training_mode(supernet):
    """Q-8: eval calls use batch statistics too, so training=False changes nothing."""
    x = tf.random.normal([4, 32, 32, 3])
    arc = tf.constant(random_micro_arc(np.random.default_rng(0), NUM_BLOCKS))
    np.testing.assert_allclose(
        supernet(x, arc=arc, training=False).numpy(), supernet(x, arc=arc, training=True).numpy(), atol=1e-5
    )


def test_supernet_equals_static_network_with_the_same_weights(supernet):
    rng = np.random.default_rng(1)
    x = tf.random.normal([4, 32, 32, 3])
    for _ in range(2):
        values = random_micro_arc(rng, NUM_BLOCKS)
        static = MicroSupernet(
            NUM_LAYERS, NUM_BLOCKS, FILTERS, static_arc=arch.MicroArc.from_flat(values), name="child"
        )
        static.build(IMAGE_SHAPE)
        copy_to_static(supernet, static)
        assert count(static.trainable_variables) < count(supernet.trainable_variables)
        np.testing.assert_allclose(
            supernet(x, arc=tf.constant(values)).numpy(), static(x).numpy(), atol=1e-4, rtol=1e-4
        )


def test_supernet_search_script_shapes():
    """micro_search: F=20, 8 cells N N R N N R N N; aux head on cell 6 (8x8x80); dense 80 -> 10."""
    net = MicroSupernet(6, 5, 20, keep_prob=0.9, use_aux_heads=True)
    assert [cell.filters for cell in net.cells] == [20, 20, 40, 40, 40, 80, 80, 80]
    assert net.aux_cell == 6 and net._aux_input_shape == (8, 8, 80)
    assert [layer.filters for layer in net.reductions] == [40, 80]
    # Stacked weights as the original: block k has k + 2 rows, the 1x1 closing conv B + 2 rows.
    cell = net.cells[0]
    cell.build()
    assert [slot.num_inputs for slot in cell.slots] == [2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    # Each slot's per-input stacks side by side: per sep conv kxk, twice depthwise k*k*F + pointwise
    # F*F + gamma F + beta F; the pools and the identity have none.
    sep_3, sep_5 = 2 * (9 * 20 + 400 + 40), 2 * (25 * 20 + 400 + 40)
    assert [tuple(slot.per_input_weights.shape) for slot in cell.slots] == [
        (block + 2, sep_3 + sep_5) for block in range(5) for _ in range(2)]
    assert (cell.slots[0].columns(0), cell.slots[0].columns(1)) == (slice(0, sep_3), slice(sep_3, sep_3 + sep_5))
    assert cell.slots[0].columns(2) == slice(sep_3 + sep_5, sep_3 + sep_5)
    assert tuple(cell.out_kernel.shape) == (7, 400)


@pytest.fixture(scope="module")
def search_trainer(supernet):
    optimizer = keras.optimizers.SGD(0.1)
    return ImageChildTrainer(supernet, optimizer, l2_reg=0.0, variables=supernet.optimized_variables)


def test_search_step_traces_once_and_moves_only_the_chosen_weights(supernet, search_trainer):
    rng = np.random.default_rng(2)
    x = tf.random.normal([8, 32, 32, 3])
    y = tf.constant(np.arange(8) % 10, tf.int32)
    aux_before = [v.numpy().copy() for v in supernet.aux_head.trainable_variables]
    for _ in range(3):
        search_trainer.train_step((x, y), arc=tf.constant(random_micro_arc(rng, NUM_BLOCKS)))
    assert search_trainer.train_step.experimental_get_tracing_count() == 1
    # the aux head's weights are not optimised.
    for before, variable in zip(aux_before, supernet.aux_head.trainable_variables):
        np.testing.assert_array_equal(before, variable.numpy())

    # Normal cell: block 0 = sep3(node 1) + max_pool(node 0); block 1 = identity(2) + sep5(0).
    values = np.array([1, 0, 0, 3, 2, 4, 0, 1] + [0, 2, 1, 2, 0, 4, 1, 4], np.int32)
    cell = supernet.cells[0]  # a normal cell (pool layers are 0 and 1 only when num_layers < 3)
    if 0 in supernet.pool_layers:
        cell = supernet.cells[2]
    before = {v.path: v.numpy().copy() for v in cell.trainable_variables}
    search_trainer.train_step((x, y), arc=tf.constant(values))
    moved = {v.path for v in cell.trainable_variables if not np.array_equal(before[v.path], v.numpy())}
    slot_00 = cell.slots[0]
    weights = slot_00.per_input_weights
    assert weights.path in moved
    delta = np.abs(weights.numpy() - before[weights.path])
    # The chosen sep3 stacks moved, only in row 1 (its input node): both convs' kernels.
    sep_conv_3 = delta[:, slot_00.columns(0)]
    assert not sep_conv_3[0].any()
    depthwise_3, pointwise_3 = 3 * 3 * FILTERS, FILTERS * FILTERS
    second_conv = sep_conv_3.shape[1] // 2
    for offset in (0, second_conv):
        assert sep_conv_3[1, offset:offset + depthwise_3].any()
        assert sep_conv_3[1, offset + depthwise_3:offset + depthwise_3 + pointwise_3].any()
    # The unchosen sep5 stacks of the same slot did not move.
    assert not delta[:, slot_00.columns(1)].any()
    # The closing 1x1 kernel moved only in the loose-end rows (nodes 3; 0, 1, 2 are used).
    delta = np.abs(cell.out_kernel.numpy() - before[cell.out_kernel.path]).sum(axis=1)
    assert delta[3] > 0 and not delta[:3].any()
    assert search_trainer.train_step.experimental_get_tracing_count() == 1


def test_supernet_gradients_equal_the_static_networks(supernet):
    """The TensorArray input reads, op switches and loose-end conds route gradients like static code."""
    values = random_micro_arc(np.random.default_rng(7), NUM_BLOCKS)
    static = MicroSupernet(
        NUM_LAYERS, NUM_BLOCKS, FILTERS, use_aux_heads=True, static_arc=arch.MicroArc.from_flat(values), name="child"
    )
    static.build(IMAGE_SHAPE)
    copy_to_static(supernet, static)
    columns = static_slot_sources(supernet, static)[1]
    x = tf.random.normal([8, 32, 32, 3])
    y = tf.constant(np.arange(8) % 10)

    def gradients(model, arc):
        with tf.GradientTape() as tape:
            logits = model(x, arc=arc, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        return dict(zip((v.path for v in model.trainable_variables), tape.gradient(loss, model.trainable_variables)))

    dynamic_grads = tf.function(gradients)(supernet, tf.constant(values))
    static_grads = tf.function(gradients)(static, tf.constant(values))
    for path, grad in static_grads.items():
        if "aux_head" in path:
            continue  # the aux head is not called without return_aux
        expected = tf.convert_to_tensor(grad).numpy()
        got = tf.convert_to_tensor(dynamic_grads[path]).numpy()
        if path in columns:  # a static slot's per-input weight is its op's columns of the supernet's
            got = got[:, columns[path]]
        np.testing.assert_allclose(got, expected, atol=1e-5 * (np.abs(expected).max() + 1e-6), err_msg=path)
