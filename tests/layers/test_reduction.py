"""The factorized reduction (ENAS_SPEC.md 3.2) against a NumPy reference, and its argument checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.layers.reduction import FactorizedReduction

BATCH = 2


def randomize_weights(layer: keras.layers.Layer, seed: int = 0) -> None:
    """Random weights and batch-norm statistics, so the reference comparison is not trivial."""
    rng = np.random.default_rng(seed)
    for variable in layer.variables:
        if "moving_variance" in variable.path:
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype(np.float32))
        else:
            variable.assign(rng.normal(0, 0.5, variable.shape).astype(np.float32))


def bn_inference(x, bn):
    return (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()


def bn_train(x, bn):
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()


# ---------------------------------------------------------------------------------------------
# 9. Factorized reduction (spec 3.2).
# ---------------------------------------------------------------------------------------------


def np_factorized_reduction(x: np.ndarray, w1: np.ndarray, w2: np.ndarray, bn) -> np.ndarray:
    path1 = x[:, ::2, ::2, :] @ w1
    shifted = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:, :]
    path2 = shifted[:, ::2, ::2, :] @ w2
    return bn_train(np.concatenate([path1, path2], axis=-1), bn)


@pytest.mark.parametrize("size", [4, 8])
def test_factorized_reduction_matches_numpy(size):
    keras.utils.set_random_seed(14)
    filters, channels = 6, 3
    layer = FactorizedReduction(filters)
    x = np.random.RandomState(15).randn(BATCH, size, size, channels).astype(np.float32)
    layer.build(x.shape)
    randomize_weights(layer, seed=16)
    out = layer(tf.constant(x), training=True).numpy()
    w1 = layer.path1_conv.kernel.numpy()[0, 0]
    w2 = layer.path2_conv.kernel.numpy()[0, 0]
    assert w1.shape == (channels, filters // 2)
    expected = np_factorized_reduction(x, w1, w2, layer.bn)
    assert out.shape == (BATCH, size // 2, size // 2, filters)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # Path 2 really is the shifted one.
    unshifted = bn_train(np.concatenate([x[:, ::2, ::2] @ w1, x[:, ::2, ::2] @ w2], axis=-1), layer.bn)
    assert not np.allclose(out, unshifted, atol=1e-3)


@pytest.mark.parametrize("shape", [(1, 5, 5, 2), (1, 4, 5, 2), (1, 7, 4, 2)])
def test_factorized_reduction_rejects_odd_sizes(shape):
    with pytest.raises(ValueError, match="even height and width"):
        FactorizedReduction(4)(tf.ones(shape))


@pytest.mark.parametrize("filters", [0, 3, -2])
def test_factorized_reduction_rejects_odd_filters(filters):
    with pytest.raises(ValueError, match="filters"):
        FactorizedReduction(filters)
