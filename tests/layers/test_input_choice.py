"""Input choices: one node by an index tensor (`NodeArray`), a subset by a mask (`add_selected`)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from enas_tf2.layers.input_choice import NodeArray, add_selected


def test_node_array_read_equals_gather_and_direct_indexing():
    nodes = [tf.fill([2, 3, 3, 4], float(i)) + tf.random.normal([2, 3, 3, 4]) for i in range(5)]

    @tf.function
    def select(index):
        array = NodeArray(nodes[:2])
        for node in nodes[2:]:
            array.append(node)
        return array.read(index), tf.gather(tf.stack(nodes), index)

    for index in range(5):
        chosen, gathered = select(tf.constant(index))
        np.testing.assert_array_equal(chosen.numpy(), gathered.numpy())
        np.testing.assert_array_equal(chosen.numpy(), nodes[index].numpy())
    assert select.experimental_get_tracing_count() == 1


def test_node_array_gradient_reaches_only_the_chosen_nodes_and_sums_repeated_reads():
    nodes = [tf.Variable(tf.random.normal([1, 2, 2, 1])) for _ in range(4)]

    @tf.function
    def grads(first, second):
        with tf.GradientTape() as tape:
            array = NodeArray([tf.identity(node) for node in nodes])
            loss = tf.reduce_sum(array.read(first) * 3.0) + tf.reduce_sum(array.read(second) * 2.0)
        return tape.gradient(loss, nodes, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    result = [g.numpy() for g in grads(tf.constant(1), tf.constant(1))]
    assert np.all(result[1] == 5.0)
    assert not any(result[j].any() for j in (0, 2, 3))
    result = [g.numpy() for g in grads(tf.constant(0), tf.constant(3))]
    assert np.all(result[0] == 3.0) and np.all(result[3] == 2.0)
    assert not any(result[j].any() for j in (1, 2))


def test_add_selected_adds_exactly_the_masked_candidates_and_computes_only_those():
    calls = []

    def candidate(value):
        def compute():
            calls.append(value)
            return tf.fill([2], float(value))
        return compute

    @tf.function
    def total(mask):
        return add_selected(tf.zeros([2]), [tf.ones([2]), candidate(10), candidate(100)], mask)

    np.testing.assert_allclose(total(tf.constant([1, 0, 1])).numpy(), [101.0, 101.0])
    np.testing.assert_allclose(total(tf.constant([0, 1, 0])).numpy(), [10.0, 10.0])
    np.testing.assert_allclose(total(tf.constant([0.0, 0.0, 0.0])).numpy(), [0.0, 0.0])
    assert total.experimental_get_tracing_count() <= 2  # int and float masks


def test_add_selected_gives_no_gradient_to_unselected_candidates():
    a, b = tf.Variable([1.0, 2.0]), tf.Variable([3.0, 4.0])
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(add_selected(tf.zeros([2]), [lambda: a * 2.0, lambda: b * 2.0], tf.constant([1, 0])))
    grad_a, grad_b = tape.gradient(out, [a, b], unconnected_gradients="zero")
    np.testing.assert_allclose(grad_a.numpy(), [2.0, 2.0])
    assert not np.any(grad_b.numpy())
