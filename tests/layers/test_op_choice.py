"""`OpChoice`: exactly the chosen op runs, by a tensor (one trace) or an int, with weights selected before the switch."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.layers.op_choice import OpChoice, switch_op


def test_a_tensor_and_an_int_pick_the_same_branch():
    choice = OpChoice([keras.layers.Identity(), keras.layers.ReLU(), keras.layers.Activation("tanh")])
    x = tf.constant([[-1.0, 2.0]])
    for op_id, expected in enumerate((x.numpy(), np.maximum(x.numpy(), 0), np.tanh(x.numpy()))):
        np.testing.assert_allclose(choice(x, op_id=tf.constant(op_id)).numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(choice(x, op_id=op_id).numpy(), expected, rtol=1e-6)


def test_only_the_chosen_branch_gets_a_gradient_and_one_trace_serves_every_op():
    keras.utils.set_random_seed(0)
    choice = OpChoice([keras.layers.Dense(3, name=f"dense_{i}") for i in range(3)])
    choice.build((None, 2))
    x = tf.ones([4, 2])

    @tf.function
    def grads(op_id):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(choice(x, op_id=op_id))
        return tape.gradient(loss, choice.trainable_variables, unconnected_gradients="zero")

    for op_id in range(3):
        norms = [float(tf.norm(g)) for g in grads(tf.constant(op_id))]
        # Each Dense has a kernel and a bias: only the chosen one's two weights get a gradient.
        moved = [i // 2 for i, norm in enumerate(norms) if norm > 0]
        assert set(moved) == {op_id}
    assert grads.experimental_get_tracing_count() == 1


class _Scaled(keras.layers.Layer):
    """A branch whose weight is read before the switch (as the micro search's separable convs)."""

    def call(self, inputs, selected=None):
        return inputs * selected


def test_selections_reach_the_chosen_branch():
    choice = OpChoice([_Scaled(), _Scaled()])
    out = choice(tf.ones([2]), op_id=tf.constant(1), selections=[tf.constant(3.0), tf.constant(30.0)])
    np.testing.assert_allclose(out.numpy(), [30.0, 30.0])
    np.testing.assert_allclose(choice(tf.ones([2]), op_id=0, selections=[tf.constant(3.0), None]).numpy(), [3.0, 3.0])


def test_selections_must_match_the_branches():
    choice = OpChoice([_Scaled(), _Scaled()])
    with pytest.raises(ValueError, match="2 branches but got 1 selections"):
        choice(tf.ones([2]), op_id=tf.constant(0), selections=[tf.constant(1.0)])


def test_switch_op_on_plain_functions():
    fns = [lambda: tf.constant(1), lambda: tf.constant(2)]
    assert int(switch_op(tf.constant(1), fns)) == 2 and int(switch_op(0, fns)) == 1
