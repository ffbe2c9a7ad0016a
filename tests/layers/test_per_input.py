"""The micro search's per-input separable conv and batch norm (ENAS_SPEC.md 5.2, Q-23)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.layers.per_input import (
    ColumnBlocks, PerInputSepConv, per_input_batch_norm, select_rows, sep_conv_columns,
)


def test_per_input_sep_conv_uses_the_row_of_the_chosen_input():
    layer = PerInputSepConv(filters=3, kernel_size=3, num_inputs=4)
    layer.build()
    layer.gamma.assign(np.arange(12, dtype=np.float32).reshape(4, 3) + 1.0)
    layer.beta.assign(-np.arange(12, dtype=np.float32).reshape(4, 3))
    x = tf.random.normal([4, 5, 5, 3])
    for index in range(4):
        out = layer(x, index=tf.constant(index)).numpy()
        depthwise = layer.depthwise.numpy()[index].reshape(3, 3, 3, 1)
        pointwise = layer.pointwise.numpy()[index].reshape(1, 1, 3, 3)
        conv = tf.nn.separable_conv2d(tf.nn.relu(x), depthwise, pointwise, [1, 1, 1, 1], "SAME").numpy()
        mean, var = conv.mean(axis=(0, 1, 2)), conv.var(axis=(0, 1, 2))
        expected = (conv - mean) / np.sqrt(var + 1e-5) * layer.gamma.numpy()[index] + layer.beta.numpy()[index]
        np.testing.assert_allclose(out, expected, atol=1e-4)
        # Static (Python int) selection is the same computation.
        np.testing.assert_allclose(layer(x, index=index).numpy(), out, atol=1e-6)


def test_per_input_sep_conv_stores_stacked_weights_with_tiny_fan_in():
    """Q-23: He-normal over `[n, k*k*F]` has fan_in = n, so stddev sqrt(2 / n)."""
    keras.utils.set_random_seed(0)  # the bounds below are 4 standard errors of 800 draws, but fixed draws
    layer = PerInputSepConv(filters=16, kernel_size=5, num_inputs=2)
    layer.build()
    assert tuple(layer.depthwise.shape) == (2, 5 * 5 * 16)
    assert tuple(layer.pointwise.shape) == (2, 16 * 16)
    assert tuple(layer.gamma.shape) == (2, 16) and tuple(layer.beta.shape) == (2, 16)
    assert layer.non_trainable_variables == []  # no moving statistics
    std = np.std(layer.depthwise.numpy())
    # Keras' truncated He-normal rescales so the drawn std is sqrt(2 / fan_in) = 1 here (fan_in = k*k*F
    # would give 0.07).
    assert 0.9 < std < 1.1, std


def test_per_input_batch_norm_always_uses_batch_statistics():
    x = tf.random.normal([8, 4, 4, 2]) * 3.0 + 5.0
    out = per_input_batch_norm(x, tf.ones([2]), tf.zeros([2])).numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_select_rows_reads_one_row_of_every_stack_with_a_dense_gradient():
    a = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2))
    b = tf.Variable(100 + np.arange(9, dtype=np.float32).reshape(3, 3))
    with tf.GradientTape() as tape:
        row = select_rows([a, b], tf.constant(2))
        loss = tf.reduce_sum(row * tf.range(1.0, 6.0))
    np.testing.assert_array_equal(row.numpy(), [4, 5, 106, 107, 108])
    np.testing.assert_array_equal(select_rows([a, b], 2).numpy(), row.numpy())
    grad_a, grad_b = tape.gradient(loss, [a, b])
    np.testing.assert_array_equal(grad_a.numpy(), [[0, 0], [0, 0], [1, 2]])
    np.testing.assert_array_equal(grad_b.numpy(), [[0, 0, 0], [0, 0, 0], [3, 4, 5]])


def test_column_blocks_initialise_each_stack_as_stored_apart():
    """One `[n, sum widths]` weight: a He-normal block keeps fan-in n (Q-23), BN blocks ones and zeros."""
    keras.utils.set_random_seed(0)
    initializer = ColumnBlocks(sep_conv_columns(kernel_size=5, filters=16))
    assert initializer.width == 25 * 16 + 16 * 16 + 16 + 16
    value = np.asarray(initializer((2, initializer.width)))
    depthwise, pointwise, gamma, beta = np.split(value, [400, 656, 672], axis=1)
    # Truncated He-normal with fan_in = n = 2 draws std sqrt(2 / 2) = 1 (4 standard errors of 800, 512 draws).
    assert 0.9 < depthwise.std() < 1.1 and 0.87 < pointwise.std() < 1.13
    np.testing.assert_array_equal(gamma, 1.0)
    np.testing.assert_array_equal(beta, 0.0)
    restored = ColumnBlocks.from_config(initializer.get_config())
    assert [w for w, _ in restored.blocks] == [400, 256, 16, 16]
    with pytest.raises(ValueError, match="covers 688 columns"):
        initializer((2, 10))
    with pytest.raises(ValueError, match="positive widths"):
        ColumnBlocks([(0, "zeros")])
