"""REINFORCE pieces shared by the macro, micro and PTB controllers (ENAS_SPEC.md 6.1, 6.5).

Pure functions of tensors (plus the baseline variable), so each controller and
the generic `ControllerTrainer` compose them the same way:

* per decision: `logit_postprocess` -> `sample_categorical` -> `decision_nll`
  (the original's "log-prob", which is really the cross-entropy `-log pi(a)`);
* per architecture: `reward_with_entropy`, `update_baseline`, `reinforce_loss`.

Sign convention: the original sums cross-entropies and calls the sum
`sample_log_prob`; its loss is `NLL * (R - b)`. Here `log_prob` is the true
`sum log pi(a) = -NLL` and the loss is `-log_prob * (R - b)`, the same number.
"""

from __future__ import annotations

import tensorflow as tf

from enas_tf2.errors import ArcError


def logit_postprocess(
    logits: tf.Tensor, temperature: float | None = None, tanh_constant: float | None = None
) -> tf.Tensor:
    """`z / temperature` (if set), then `tanh_constant * tanh(z)` (if set) (spec 6.1).

    The tanh bounds every logit to `+-tanh_constant`, which keeps the initial
    policy close to uniform and stops it from collapsing early; the temperature
    flattens the logits before that squashing.

    Args:
        logits: float logits of any shape.
        temperature: divisor, or None for none (the original tests `is not None`).
        tanh_constant: the `C` in `C * tanh(z)`, or None for none.

    Returns:
        The post-processed logits, same shape.
    """
    if temperature is not None:
        logits = logits / temperature
    if tanh_constant is not None:
        logits = tanh_constant * tf.tanh(logits)
    return logits


def check_forced_arc(forced_arc, arc_length: int, layout: str) -> tf.Tensor:
    """`forced_arc` as int32, or an ArcError if its static shape is not `[arc_length]`.

    Args:
        forced_arc: the arc a controller is asked to score (any int tensor-like).
        arc_length: the controller's `arc_length`.
        layout: how that length comes about, for the message (e.g. "8 * B for B=5 ...").
    """
    forced_arc = tf.cast(tf.convert_to_tensor(forced_arc), tf.int32)
    if forced_arc.shape.rank != 1 or (forced_arc.shape[0] is not None and forced_arc.shape[0] != arc_length):
        raise ArcError(f"forced_arc has shape {forced_arc.shape}; expected [{arc_length}] ({layout}).")
    return forced_arc


def sample_without_skips(
    arc_parts: list[tf.Tensor], nlls: list[tf.Tensor], entropies: list[tf.Tensor]
) -> dict[str, tf.Tensor]:
    """A controller's `sample()` result for a space without skip connections (micro, PTB).

    Concatenates the arc pieces, turns the per-decision NLLs into `log_prob = -sum NLL`, sums the
    entropies, and sets the skip terms the trainer reads (`skip_penalty`, `skip_count`,
    `skip_rate`) to 0.
    """
    zero = tf.constant(0.0, dtype=tf.float32)
    return {
        "arc": tf.concat(arc_parts, axis=0),
        "log_prob": -tf.add_n(nlls),
        "entropy": tf.add_n(entropies),
        "skip_penalty": zero,
        "skip_count": zero,
        "skip_rate": zero,
    }


def sample_categorical(logits: tf.Tensor, rng: tf.random.Generator) -> tf.Tensor:
    """One categorical sample per row of `logits` `[batch, classes]` -> int32 `[batch]`.

    Stateless sampling with a seed drawn from `rng`: the generator's state is a
    variable, so the draw is reproducible from a checkpointed state and the
    whole sampler stays inside one `tf.function` trace.
    """
    seed = rng.make_seeds(1)[:, 0]
    actions = tf.random.stateless_categorical(logits, 1, seed=seed, dtype=tf.int32)
    return tf.reshape(actions, [-1])


def decision_nll(logits: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """`-log pi(a)` per row: softmax cross-entropy of `[batch, classes]` logits, int `[batch]` actions."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=actions, logits=logits)


def sampled_entropy(nll: tf.Tensor) -> tf.Tensor:
    """`-p(a) log p(a)` of the taken action from its NLL, stop-gradiented.

    The macro and PTB controllers add this term per decision, *not* the full
    entropy of the distribution (the micro controller does that): ENAS_SPEC.md
    Q-12. It is a constant in the loss, as in the original.
    """
    return tf.stop_gradient(nll * tf.exp(-nll))


def reward_with_entropy(accuracy: tf.Tensor, entropy: tf.Tensor, entropy_weight: float | None) -> tf.Tensor:
    """`R = accuracy + entropy_weight * entropy` with the entropy stop-gradiented (spec 6.5).

    Args:
        accuracy: float32 scalar, the child's score of the arc (validation
            accuracy for CIFAR, `80 / ppl` for PTB).
        entropy: float32 scalar, the sample entropy from the controller.
        entropy_weight: bonus weight, or None / 0 for no bonus.

    Returns:
        The float32 scalar reward.
    """
    accuracy = tf.cast(accuracy, tf.float32)
    if not entropy_weight:
        return accuracy
    return accuracy + entropy_weight * tf.stop_gradient(tf.cast(entropy, tf.float32))


def update_baseline(baseline: tf.Variable, reward: tf.Tensor, decay: float) -> tf.Tensor:
    """Moves the moving-average baseline towards `reward`: `b <- b - (1 - decay)(b - R)`.

    The original makes the reward tensor depend on this update but reads the
    baseline for the advantage without an ordering (ENAS_SPEC.md Q-13). We
    choose, and document, *update first*: the returned updated value is the `b`
    the advantage `R - b` uses.

    Args:
        baseline: non-trainable float32 scalar variable (starts at 0.0).
        reward: float32 scalar reward of the current sample.
        decay: `bl_dec` (0.99 in every script).

    Returns:
        The updated baseline value (a tensor, equal to the variable afterwards).
    """
    updated = moved_baseline(tf.convert_to_tensor(baseline), reward, decay)
    baseline.assign(updated)
    return tf.identity(updated)


def moved_baseline(baseline: tf.Tensor, reward: tf.Tensor, decay: float) -> tf.Tensor:
    """`b - (1 - decay)(b - R)`: the baseline after one reward, as a value (no variable).

    `update_baseline` applies it to the variable; a distributed controller update
    applies it along the gathered rewards of all its samples in order (`tf.scan`).
    """
    reward = tf.stop_gradient(tf.cast(reward, baseline.dtype))
    return baseline - (1.0 - decay) * (baseline - reward)


def reinforce_loss(
    log_prob: tf.Tensor,
    reward: tf.Tensor,
    baseline: tf.Tensor,
    skip_penalty: tf.Tensor | float = 0.0,
    skip_weight: float | None = 0.0,
) -> tf.Tensor:
    """The REINFORCE loss `-log_prob * (R - b) + skip_weight * skip_penalty` (spec 6.5).

    Minimising it raises `log pi(a)` when the arc beat the baseline and lowers
    it otherwise. Reward and baseline are stop-gradiented, so only the policy
    (through `log_prob`) and the skip penalty carry gradient.

    Args:
        log_prob: float32 scalar `sum log pi(a)` of all decisions (= -NLL).
        reward: float32 scalar reward.
        baseline: float32 scalar baseline (the post-update value, Q-13).
        skip_penalty: macro skip KL penalty (spec 6.2); 0 for other controllers.
        skip_weight: its weight, or None / 0 for none.

    Returns:
        The float32 scalar loss.
    """
    advantage = tf.stop_gradient(tf.cast(reward, tf.float32) - tf.cast(baseline, tf.float32))
    loss = -log_prob * advantage
    if skip_weight:
        loss = loss + skip_weight * skip_penalty
    return loss
