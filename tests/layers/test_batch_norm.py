"""Batch norm on the fused kernel: Keras' numbers, the original's statistics (ENAS_SPEC.md 3.1, conventions)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.layers.batch_norm import BatchNorm


def bn_inference(x, bn):
    return (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()


def bn_train(x, bn):
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()


# ---------------------------------------------------------------------------------------------
# 10. Batch norm on the fused kernel (spec 3.1, conventions).
# ---------------------------------------------------------------------------------------------


def _bn_pair(x_shape, seed):
    rng = np.random.RandomState(seed)
    ours = BatchNorm()
    reference = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    ours.build(x_shape)
    reference.build(x_shape)
    gamma = rng.uniform(0.5, 1.5, x_shape[-1]).astype(np.float32)
    beta = rng.normal(0.0, 0.3, x_shape[-1]).astype(np.float32)
    mean = rng.normal(0.0, 0.3, x_shape[-1]).astype(np.float32)
    var = rng.uniform(0.5, 1.5, x_shape[-1]).astype(np.float32)
    for layer in (ours, reference):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(var)
    return ours, reference, mean, var


def test_batch_norm_training_matches_keras_and_updates_with_unbiased_variance():
    x_shape = (3, 4, 5, 6)
    x = (np.random.RandomState(17).randn(*x_shape) * 2.0 + 0.5).astype(np.float32)
    ours, reference, mean_0, var_0 = _bn_pair(x_shape, seed=18)
    out = ours(tf.constant(x), training=True).numpy()
    np.testing.assert_allclose(out, reference(tf.constant(x), training=True).numpy(), atol=1e-5)
    np.testing.assert_allclose(out, bn_train(x, ours), atol=1e-5)

    n = x_shape[0] * x_shape[1] * x_shape[2]
    batch_mean = x.mean(axis=(0, 1, 2))
    unbiased_var = x.var(axis=(0, 1, 2)) * n / (n - 1)
    np.testing.assert_allclose(ours.moving_mean.numpy(), 0.9 * mean_0 + 0.1 * batch_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.moving_variance.numpy(), 0.9 * var_0 + 0.1 * unbiased_var, rtol=1e-5, atol=1e-6)
    biased = 0.9 * var_0 + 0.1 * x.var(axis=(0, 1, 2))
    assert not np.allclose(ours.moving_variance.numpy(), biased, rtol=1e-4, atol=0)


def test_batch_norm_training_inside_tf_function():
    x_shape = (2, 3, 3, 4)
    x = np.random.RandomState(19).randn(*x_shape).astype(np.float32)
    ours, _, mean_0, var_0 = _bn_pair(x_shape, seed=20)
    out = tf.function(lambda t: ours(t, training=True))(tf.constant(x)).numpy()
    np.testing.assert_allclose(out, bn_train(x, ours), atol=1e-5)
    n = 2 * 3 * 3
    np.testing.assert_allclose(
        ours.moving_variance.numpy(), 0.9 * var_0 + 0.1 * x.var(axis=(0, 1, 2)) * n / (n - 1), rtol=1e-5
    )


def test_batch_norm_inference_uses_moving_statistics():
    x_shape = (2, 4, 4, 3)
    x = np.random.RandomState(21).randn(*x_shape).astype(np.float32)
    ours, reference, mean_0, var_0 = _bn_pair(x_shape, seed=22)
    out = ours(tf.constant(x), training=False).numpy()
    np.testing.assert_allclose(out, bn_inference(x, ours), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, reference(tf.constant(x), training=False).numpy(), atol=1e-5)
    np.testing.assert_array_equal(ours.moving_mean.numpy(), mean_0)
    np.testing.assert_array_equal(ours.moving_variance.numpy(), var_0)


def test_batch_norm_defaults_are_the_originals():
    bn = BatchNorm()
    assert bn.momentum == pytest.approx(0.9)
    assert bn.epsilon == pytest.approx(1e-5)
