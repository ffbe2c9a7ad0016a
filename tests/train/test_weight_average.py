"""enas_lm's evaluation-time weight average: the uniform mean since it started, swapped in and out."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.train.weight_average import WeightAverage


def test_weight_average_is_the_uniform_mean_and_swaps_in_and_out():
    a, b = tf.Variable([0.0, 0.0]), tf.Variable([[1.0]])
    average = WeightAverage([a, b])
    values = [([1.0, 2.0], [[3.0]]), ([3.0, -2.0], [[0.0]]), ([5.0, 6.0], [[6.0]])]

    @tf.function
    def update():
        average.update()

    for va, vb in values:
        a.assign(va)
        b.assign(vb)
        update()
    assert float(average.count.numpy()) == 3.0
    with average.averaged():
        np.testing.assert_allclose(a.numpy(), [3.0, 2.0], rtol=1e-6)
        np.testing.assert_allclose(b.numpy(), [[3.0]], rtol=1e-6)
        with pytest.raises(RuntimeError, match="twice"):
            average.swap_in()
    np.testing.assert_allclose(a.numpy(), [5.0, 6.0])
    np.testing.assert_allclose(b.numpy(), [[6.0]])
    average.start()
    assert bool(average.started.numpy())
    average.reset()
    assert float(average.count.numpy()) == 0.0 and not average.averages[0].numpy().any()
    assert not bool(average.started.numpy())
