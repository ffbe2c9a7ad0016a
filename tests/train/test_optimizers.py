"""The fused momentum SGD gives exactly Keras' SGD updates."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.tasks.image_trainer import add_l2_gradients, l2_penalty
from enas_tf2.train.optimizers import MomentumSGD


@pytest.mark.parametrize("nesterov", [True, False])
def test_momentum_sgd_matches_keras_sgd(nesterov):
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((5,)).astype(np.float32)]
    grads = [[rng.standard_normal(w.shape).astype(np.float32) for w in init] for _ in range(4)]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.05, 0.01])
    results = []
    for cls in (keras.optimizers.SGD, MomentumSGD):
        variables = [keras.Variable(w) for w in init]
        optimizer = cls(learning_rate=schedule, momentum=0.9, nesterov=nesterov)
        optimizer.build(variables)
        step = tf.function(lambda g: optimizer.apply_gradients(zip(g, variables)))
        for g in grads:
            step([tf.constant(x) for x in g])
        results.append([v.numpy() for v in variables] + [m.numpy() for m in optimizer.momentums])
    for keras_value, fused_value in zip(*results):
        np.testing.assert_allclose(fused_value, keras_value, rtol=1e-6, atol=1e-7)


def test_momentum_sgd_without_momentum_falls_back():
    variable = keras.Variable(np.ones(2, np.float32))
    optimizer = MomentumSGD(learning_rate=0.5)
    optimizer.apply_gradients([(tf.constant([1.0, 2.0]), variable)])
    np.testing.assert_allclose(variable.numpy(), [0.5, 0.0])


def test_l2_gradients_equal_the_penalty_gradient():
    variables = [tf.Variable(tf.random.normal([3, 2])), tf.Variable(tf.random.normal([4]))]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(variables[0]) * 3.0 + 2.5e-4 * l2_penalty(variables)
    expected = tape.gradient(loss, variables)
    grads = add_l2_gradients([tf.ones([3, 2]) * 3.0, tf.zeros([4])], variables, 2.5e-4)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
