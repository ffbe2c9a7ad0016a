"""The PTB language models' losses and regularisers; a trainer adds them with the implementation's coefficients."""

from __future__ import annotations

import tensorflow as tf

from enas_tf2.spaces.rnn.cells import check_ptb_impl


def token_cross_entropy(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """float32 `[B, T]`: `-log softmax(logits)[target]` per token."""
    logits = tf.cast(logits, tf.float32)  # 16-bit logits (--precision): softmax and loss in float32
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(targets, tf.int32), logits=logits)


def ptb_train_loss(logits: tf.Tensor, targets: tf.Tensor, ptb_impl: str) -> tf.Tensor:
    """The cross-entropy each implementation trains on (ENAS_PTB_SPEC.md 3.2, loss normalisation).

    enas_lm: mean over the `B * T` tokens. Original: sum over `T`, mean over `B` (about `T`
    times larger). Perplexity is always `exp` of the per-token mean.
    """
    check_ptb_impl(ptb_impl)
    losses = token_cross_entropy(logits, targets)
    if ptb_impl == "enas_lm":
        return tf.reduce_mean(losses)
    return tf.reduce_sum(losses) / tf.cast(tf.shape(losses)[0], tf.float32)


def activation_regularizer(outputs: dict[str, tf.Tensor], ptb_impl: str) -> tf.Tensor:
    """Activation L2 ("AR"), before its coefficient.

    enas_lm: `mean(all_s^2)` on the undropped outputs (alpha: 0 search, 0.7 fixed). Original:
    `sum(top_s^2) / B` on the dropped outputs (`--child_rnn_l2_reg`, off in the scripts).
    """
    check_ptb_impl(ptb_impl)
    if ptb_impl == "enas_lm":
        return tf.reduce_mean(tf.square(outputs["all_s"]))
    top_s = outputs["top_s"]
    return tf.reduce_sum(tf.square(top_s)) / tf.cast(tf.shape(top_s)[0], tf.float32)


def slowness_regularizer(outputs: dict[str, tf.Tensor], ptb_impl: str) -> tf.Tensor:
    """Temporal slowness ("TAR"), before its coefficient.

    enas_lm: `mean((all_s[:, t+1] - all_s[:, t])^2)` over `B (T-1) H` on the undropped outputs
    (beta: 1 in search, none in fixed). A one-step window gives 0 here (the reference's mean of
    nothing would be NaN). Original: `sum((top_s[:, t+1] - top_s[:, t])^2) / B` on the dropped
    outputs (`--child_rnn_slowness_reg`, 1e-3 in the final script).
    """
    check_ptb_impl(ptb_impl)
    values = outputs["all_s"] if ptb_impl == "enas_lm" else outputs["top_s"]
    diff = tf.square(values[:, 1:] - values[:, :-1])
    if ptb_impl == "enas_lm":
        return tf.math.divide_no_nan(tf.reduce_sum(diff), tf.cast(tf.size(diff), tf.float32))
    return tf.reduce_sum(diff) / tf.cast(tf.shape(values)[0], tf.float32)
