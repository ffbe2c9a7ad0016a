"""The PTB dropouts: inverted Bernoulli masks, locked over time, embedding rows, the original's word dropout."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.layers import dropout as dropout_lib

VOCAB, BATCH = 23, 4


def test_dropout_mask_is_inverted_bernoulli():
    mask = dropout_lib.dropout_mask([200, 50], 0.75, seed=tf.constant([1, 2])).numpy()
    assert set(np.unique(mask)) <= {0.0, 4.0}
    assert abs(mask.mean() - 1.0) < 0.05
    assert np.all(dropout_lib.dropout_mask([3, 2], 0.0).numpy() == 1.0)
    with pytest.raises(ValueError, match="drop_rate"):
        dropout_lib.dropout_mask([2], 1.0)


def test_locked_dropout_mask_is_the_same_at_every_time_step():
    inputs = tf.random.stateless_uniform([3, 6, 8], seed=[0, 1]) + 0.5
    out = dropout_lib.locked_dropout(inputs, 0.5, seed=tf.constant([4, 5]))
    ratio = (out / inputs).numpy()
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-6)
    assert 0 < (ratio == 0).mean() < 1


def test_embedding_row_mask_drops_a_word_at_every_position_and_row():
    rows = dropout_lib.embedding_row_mask(VOCAB, 0.5, seed=tf.constant([7, 8]))
    tokens = tf.constant([[1, 2, 1], [2, 2, 1]])
    gathered = tf.gather(rows, tokens).numpy()
    for word in (1, 2):
        values = gathered[tokens.numpy() == word]
        assert np.all(values == values[0])


def np_word_mask(tokens, first):
    """The original's Python loop (ENAS_SPEC.md 8.3) over the first-draw mask."""
    result = first.copy()
    for t in range(1, tokens.shape[1]):
        same = (tokens[:, :t] == tokens[:, t : t + 1]) & (first[:, :t] == 0)
        result[same.any(axis=1), t] = 0.0
    return result


def test_word_dropout_redrops_later_repeats_of_a_dropped_word():
    tokens = tf.constant([[3, 3, 4, 3, 4, 5], [1, 2, 1, 2, 1, 2]])
    seed = tf.constant([11, 3])
    first = dropout_lib.dropout_mask(tf.shape(tokens), 0.5, seed).numpy()
    mask = dropout_lib.word_dropout_mask(tokens, 0.5, seed).numpy()
    np.testing.assert_array_equal(mask, np_word_mask(tokens.numpy(), first))
    assert set(np.unique(mask)) <= {0.0, 2.0}
