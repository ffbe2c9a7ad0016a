"""Dropout masks of the PTB language models: locked (variational), embedding-row and word dropout.

Recurrent language models drop *features* with one mask per sequence that stays the same over
every time step of a window (Gal & Ghahramani's variational dropout, AWD-LSTM's "locked"
dropout): resampling per step would inject fresh noise into the recurrence at every step.
Both PTB implementations do this (ENAS_PTB_SPEC.md 1.5, ENAS_SPEC.md 8.3); they differ in
how they drop *words*:

* enas_lm drops whole rows of the embedding matrix (`drop_e`, mask `[V, 1]`): a dropped word
  type is zeroed at every position of every sequence in the step. `embedding_row_mask` draws
  the `[V]` mask; the model gathers it at the token ids, which is the same as looking up in the
  masked matrix without multiplying all `V x H` entries.
* the original drops per (sequence, position) (`[B, T]`) and then also drops every later
  occurrence, in the same row of the window, of a word id that was dropped earlier
  (`word_dropout_mask`).

Every mask is inverted dropout, `Bernoulli(keep) / keep`, drawn as `floor(keep + U[0, 1)) / keep`
exactly as both references' `_gen_mask`. Rates here are **drop** rates `p` (keep = 1 - p), the
enas_lm convention; the original's `--child_lstm_*_keep` flags convert as `p = 1 - keep`.

Each function takes an optional stateless `seed` (int32/int64 `[2]`) for tests; by default it
uses TensorFlow's global stateful generator, so a traced step draws fresh masks on every call.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def _check_rate(drop_rate: float, name: str = "drop_rate") -> float:
    """Returns `drop_rate` as a float, or raises ValueError unless `0 <= drop_rate < 1`."""
    rate = float(drop_rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1) (a drop rate; keep = 1 - rate). Received: {name}={drop_rate}")
    return rate


def _uniform(shape, seed: tf.Tensor | None, dtype: tf.DType) -> tf.Tensor:
    if seed is None:
        return tf.random.uniform(shape, dtype=dtype)
    return tf.random.stateless_uniform(shape, seed=seed, dtype=dtype)


def dropout_mask(
    shape: Sequence[int] | tf.Tensor,
    drop_rate: float,
    seed: tf.Tensor | None = None,
    dtype: tf.DType = tf.float32,
) -> tf.Tensor:
    """An inverted-dropout mask: each entry `1 / (1 - p)` with probability `1 - p`, else 0.

    Drawn as `floor(keep + U[0, 1)) / keep`, the references' `_gen_mask`. A rate of 0 gives
    ones without drawing random numbers.

    Args:
        shape: the mask's shape (a list of ints or an int32 shape tensor).
        drop_rate: `p` in [0, 1).
        seed: optional stateless seed `[2]`.
        dtype: float dtype of the mask.

    Returns:
        The mask, `shape`, `dtype`.

    Raises:
        ValueError: `drop_rate` is outside [0, 1).

    Example:
        >>> mask = dropout_mask([2, 3], 0.5, seed=tf.constant([1, 2]))
        >>> sorted(set(mask.numpy().ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
    """
    rate = _check_rate(drop_rate)
    if rate == 0.0:
        return tf.ones(shape, dtype)
    keep = 1.0 - rate
    return tf.floor(keep + _uniform(shape, seed, dtype)) / keep


def locked_dropout_mask(
    batch_size: int | tf.Tensor,
    hidden_size: int,
    drop_rate: float,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """A `[B, 1, H]` locked (variational) mask: one mask per sequence, shared by every time step.

    Multiplying a `[B, T, H]` tensor broadcasts it over `T` (enas_lm's `drop_i` and `drop_o`,
    the original's output mask); `mask[:, 0]` is the `[B, H]` form the cell uses inside its
    time loop (`drop_x`, `drop_l`).
    """
    return dropout_mask(tf.stack([batch_size, 1, hidden_size]), drop_rate, seed)


def locked_dropout(inputs: tf.Tensor, drop_rate: float, seed: tf.Tensor | None = None) -> tf.Tensor:
    """Applies one `[B, 1, H]` locked mask to a `[B, T, H]` sequence (same mask at every step).

    Args:
        inputs: `[batch, time, features]` float tensor.
        drop_rate: `p` in [0, 1).
        seed: optional stateless seed `[2]`.

    Returns:
        `inputs * mask`, same shape.

    Example:
        >>> out = locked_dropout(tf.ones([2, 4, 3]), 0.5, seed=tf.constant([3, 4]))
        >>> bool(tf.reduce_all(out[:, 0] == out[:, 3]))
        True
    """
    shape = tf.shape(inputs)
    mask = dropout_mask(tf.stack([shape[0], 1, shape[2]]), drop_rate, seed, inputs.dtype)
    return inputs * mask


def embedding_row_mask(vocab_size: int, drop_rate: float, seed: tf.Tensor | None = None) -> tf.Tensor:
    """enas_lm's `drop_e`: a `[V]` mask over word types (the reference's `[V, 1]` row mask).

    Gather it at the token ids (`tf.gather(mask, tokens)[..., None]`) and multiply the looked-up
    embeddings: a dropped word is zeroed wherever it occurs in the step, and the kept ones are
    scaled by `1 / (1 - p)`. Only the input lookup uses it; the tied softmax reads the undropped
    matrix (ENAS_PTB_SPEC.md 1.5).
    """
    return dropout_mask([vocab_size], drop_rate, seed)


def word_dropout_mask(tokens: tf.Tensor, drop_rate: float, seed: tf.Tensor | None = None) -> tf.Tensor:
    """The original's embedding dropout: a `[B, T]` mask with later repeats of dropped words dropped.

    First a mask per (row, position) with keep `1 - p` (kept entries `1 / keep`); then, within
    each row of the window, position `t` is also zeroed if the same word id occurs at an earlier
    position `j < t` whose *first-draw* mask was 0 (ENAS_SPEC.md 8.3; the reference builds this
    with a Python loop over `t`; this is the same rule as one `[B, T, T]` comparison).

    Args:
        tokens: int `[B, T]` word ids of the window.
        drop_rate: `p = 1 - child_lstm_e_keep`, in [0, 1).
        seed: optional stateless seed `[2]`.

    Returns:
        float32 `[B, T]`, entries 0 or `1 / (1 - p)`.
    """
    rate = _check_rate(drop_rate)
    shape = tf.shape(tokens)
    if rate == 0.0:
        return tf.ones(shape, tf.float32)
    first = dropout_mask(shape, rate, seed)
    same_word = tf.equal(tokens[:, :, None], tokens[:, None, :])  # [B, t, j]
    earlier = tf.linalg.band_part(tf.ones(tf.stack([shape[1], shape[1]]), tf.bool), -1, 0)
    earlier = tf.logical_and(earlier, tf.logical_not(tf.eye(shape[1], dtype=tf.bool)))  # j < t
    dropped_before = tf.equal(first, 0.0)[:, None, :]  # [B, 1, j]
    redrop = tf.reduce_any(same_word & earlier[None] & dropped_before, axis=2)
    return tf.where(redrop, tf.zeros_like(first), first)
