"""Drop path and its schedule (ENAS_SPEC.md 5.4)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from enas_tf2.layers.drop_path import drop_path, drop_path_keep_prob


def test_drop_path_keep_prob_schedule():
    """Spec 5.4 with the micro_final values: S = 219240, 17 cells, final keep 0.6."""
    total = 630 * 348
    last = drop_path_keep_prob(16, 17, tf.constant(total - 1), total, 0.6)
    np.testing.assert_allclose(float(last), 0.6, rtol=1e-6)
    first_step = drop_path_keep_prob(16, 17, tf.constant(0), total, 0.6)
    np.testing.assert_allclose(float(first_step), 1.0 - 0.4 / total, rtol=1e-6)
    halfway_cell0 = drop_path_keep_prob(0, 17, tf.constant(total // 2 - 1), total, 0.6)
    np.testing.assert_allclose(float(halfway_cell0), 1.0 - 0.5 * (1 / 17) * 0.4, rtol=1e-6)
    beyond = drop_path_keep_prob(8, 17, tf.constant(10 * total), total, 0.6)
    np.testing.assert_allclose(float(beyond), 1.0 - (9 / 17) * 0.4, rtol=1e-6)


def test_drop_path_drops_whole_examples_and_rescales():
    x = tf.ones([4000, 2, 2, 3])
    out = drop_path(x, tf.constant(0.7), seed=tf.constant([1, 2])).numpy()
    per_example = out.reshape(4000, -1)
    assert np.all((per_example == 0.0).all(axis=1) | np.isclose(per_example, 1 / 0.7).all(axis=1))
    kept = (per_example[:, 0] > 0).mean()
    assert abs(kept - 0.7) < 0.03
    assert abs(out.mean() - 1.0) < 0.05
