"""The PTB language model's compiled steps: train on a window, evaluate, score an architecture.

`PtbTrainer` is the PTB counterpart of `train.child.ChildTrainer`. What differs from CIFAR:

* **Carried state.** A non-trainable `[B, H]` variable holds `h` between consecutive training
  windows (truncated BPTT: written after each step with the gradient stopped) and is zeroed
  at every epoch end (ENAS_PTB_SPEC.md 1.9). Evaluation passes carry their state as an
  explicit tensor instead, so they never disturb the training state; the references share one
  variable but zero it around every evaluation, which is the same thing.
* **Variable-length windows.** The train step is traced with a `[B, None]` signature, so every
  window length of enas_lm's random BPTT (and every architecture) reuses one trace; enas_lm's
  LR is scaled by `len / bptt` inside the step (ENAS_PTB_SPEC.md 1.8).
* **Plain SGD** (`keras.optimizers.SGD`, no momentum) after global-norm clipping; `|g|` is the
  pre-clip norm, as both references log it.
* **Losses per implementation** (`spaces.rnn`): enas_lm means the CE over `B*T` tokens, the
  original sums over `T`; regularisers and the weight penalty come with the coefficients given.
* **Weight averaging** (enas_lm fixed, ENAS_PTB_SPEC.md 2.4): once started, the average moves
  after every step, inside the compiled step.

In search mode `sample_arc` returns the controller's flat arc tensor; it is called inside the
compiled step, so each step trains a fresh architecture that never leaves the device.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import keras
import tensorflow as tf

from enas_tf2.layers.rnn_cell import ptb_arc_rows_from_flat
from enas_tf2.spaces.rnn import (
    WeightAverage,
    activation_regularizer,
    slowness_regularizer,
    token_cross_entropy,
)

#: The controller's reward is `REWARD_CONSTANT / ppl` (ENAS_PTB_SPEC.md 1.3, ENAS_SPEC.md 6.5).
REWARD_CONSTANT = 80.0


@dataclasses.dataclass(frozen=True)
class PtbTrainConfig:
    """How one PTB child update is computed (see `ptb_config` for each reference's values).

    Attributes:
        ptb_impl: "enas_lm" or "original" (loss normalisation and regulariser forms).
        batch_size: `B`, rows of the training stream (also of the carried state).
        bptt: nominal window length; enas_lm's LR is scaled by `len / bptt`.
        learning_rate: the base LR: a float, or a schedule of the global step (original decay).
        scale_lr_by_length: enas_lm's per-step `len / bptt` LR scale.
        grad_bound: global-norm clipping threshold.
        weight_decay: coefficient of the model's `weight_penalty` (0: off).
        fix_weight_penalty: enas_lm search: use `sum w^2` over the selected weights instead of
            the reference's `1/2 sum w^4` without node 1 (ENAS_PTB_SPEC.md 1.6 / 5.5).
        activation_reg: "AR" coefficient (enas_lm alpha, original `--child_rnn_l2_reg`).
        slowness_reg: "TAR" coefficient (enas_lm beta, original `--child_rnn_slowness_reg`).
        reset_state_prob: per-step probability of zeroing the carried state
            (`--child_reset_train_states`, 0 in every script).
        average_weights: keep a `WeightAverage` that moves after every step once started.
    """

    ptb_impl: str
    batch_size: int
    bptt: int
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
    scale_lr_by_length: bool
    grad_bound: float
    weight_decay: float = 0.0
    fix_weight_penalty: bool = False
    activation_reg: float = 0.0
    slowness_reg: float = 0.0
    reset_state_prob: float = 0.0
    average_weights: bool = False


class PtbTrainer:
    """Compiled train / evaluation / reward steps of a PTB child.

    Args:
        model: a built `PtbSupernet` (search) or `PtbNetwork` (final).
        config: the update's settings.
        sample_arc: search mode: returns a fresh flat int32 arc (the controller's sampler);
            None in final mode.
        arc_format: the flat arc's encoding ("enas_lm" or "original"), search mode only.
        seed: seed of the generator behind `reset_state_prob`.
        jit_compile: XLA-compile the steps.

    Attributes:
        state: the carried training state, a `[B, H]` non-trainable variable.
        average: the `WeightAverage`, or None.
        nonfinite: set when a training step sees a non-finite loss.
    """

    def __init__(
        self,
        model: keras.Model,
        config: PtbTrainConfig,
        sample_arc: Callable[[], tf.Tensor] | None = None,
        arc_format: str | None = None,
        seed: int | None = None,
        jit_compile: bool = False,
    ):
        if not model.built:
            raise ValueError("PtbTrainer needs a built model: call model.build() first.")
        if sample_arc is not None and arc_format not in ("enas_lm", "original"):
            raise ValueError(f"A search trainer needs arc_format 'enas_lm' or 'original'. Received: {arc_format!r}")
        self.model = model
        self.config = config
        self.sample_arc = sample_arc
        self.arc_format = arc_format
        self.variables = list(model.trainable_variables)
        hidden = model.hidden_size
        self.optimizer = keras.optimizers.SGD(learning_rate=1.0)
        # Slots (none for plain SGD) and the iteration counter exist before the first trace.
        self.optimizer.build(self.variables)
        self.state = tf.Variable(tf.zeros([config.batch_size, hidden]), trainable=False, name="ptb_train_state")
        self.nonfinite = tf.Variable(False, trainable=False, name="nonfinite_loss_seen")
        # Running CE of the epoch: the logged train ppl is exp(mean CE since the epoch began).
        self.epoch_ce_sum = tf.Variable(0.0, trainable=False, dtype=tf.float64, name="epoch_ce_sum")
        self.epoch_steps = tf.Variable(0.0, trainable=False, dtype=tf.float64, name="epoch_steps")
        self.average = WeightAverage(self.variables) if config.average_weights else None
        self.rng = tf.random.Generator.from_seed(seed) if seed is not None else tf.random.Generator.from_non_deterministic_state()

        tokens = tf.TensorSpec([None, None], tf.int32)
        state = tf.TensorSpec([None, hidden], tf.float32)
        train_tokens = tf.TensorSpec([config.batch_size, None], tf.int32)
        self.train_step = tf.function(
            self._train_step, input_signature=[train_tokens, train_tokens], jit_compile=jit_compile
        )
        if sample_arc is None:
            self.eval_window = tf.function(
                lambda x, y, s: self._eval_window(x, y, s, None),
                input_signature=[tokens, tokens, state],
                jit_compile=jit_compile,
            )
        else:
            self.eval_window = tf.function(
                self._eval_window,
                input_signature=[tokens, tokens, state, tf.TensorSpec([None], tf.int32)],
                jit_compile=jit_compile,
            )
            self.sample_arc_fn = tf.function(sample_arc)
            self.score_arc = tf.function(
                self._score_arc, input_signature=[tokens, tokens, tf.TensorSpec([None], tf.int32)],
                jit_compile=jit_compile,
            )

    # -- helpers -----------------------------------------------------------------------------

    def _rows(self, arc: tf.Tensor | None) -> tf.Tensor | None:
        return None if arc is None else ptb_arc_rows_from_flat(arc, self.arc_format)

    def base_learning_rate(self, step: tf.Tensor) -> tf.Tensor:
        """The configured LR at `step` (completed updates), before enas_lm's length scale."""
        lr = self.config.learning_rate
        if callable(lr):
            return tf.cast(lr(step), tf.float32)
        return tf.constant(float(lr), tf.float32)

    def reset_state(self) -> None:
        """Zeroes the carried state (epoch end, ENAS_PTB_SPEC.md 1.9)."""
        self.state.assign(tf.zeros_like(self.state))

    def reset_epoch_stats(self) -> None:
        self.epoch_ce_sum.assign(0.0)
        self.epoch_steps.assign(0.0)

    def train_perplexity(self) -> float:
        """exp(mean CE of the steps since `reset_epoch_stats`), the logged train ppl."""
        steps = float(self.epoch_steps.numpy())
        return float(tf.exp(self.epoch_ce_sum / max(steps, 1.0)).numpy())

    # -- steps -------------------------------------------------------------------------------

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
        """One SGD update on one window; writes the new carried state; returns log scalars."""
        config = self.config
        model = self.model
        arc = self.sample_arc() if self.sample_arc is not None else None
        rows = self._rows(arc)
        state = tf.convert_to_tensor(self.state)
        if config.reset_state_prob > 0:
            reset = self.rng.uniform([]) < config.reset_state_prob
            state = tf.where(reset, tf.zeros_like(state), state)
        masks = model.sample_masks(x)
        with tf.GradientTape() as tape:
            logits, new_state, outputs = model(x, state, arc=rows, training=True, masks=masks, return_outputs=True)
            token_ce = token_cross_entropy(logits, y)
            cross_entropy = tf.reduce_mean(token_ce)
            if config.ptb_impl == "enas_lm":
                loss = cross_entropy
            else:  # sum over T, mean over B (ENAS_SPEC.md 8.4)
                loss = tf.reduce_sum(token_ce) / tf.cast(tf.shape(token_ce)[0], tf.float32)
            if config.activation_reg:
                loss += config.activation_reg * activation_regularizer(outputs, config.ptb_impl)
            if config.slowness_reg:
                loss += config.slowness_reg * slowness_regularizer(outputs, config.ptb_impl)
            penalty = model.weight_penalty(rows, masks, fix_quirk=config.fix_weight_penalty)
            if config.weight_decay:
                loss += config.weight_decay * penalty
        grads = tape.gradient(loss, self.variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.variables)]
        grad_norm = tf.linalg.global_norm(grads)
        grads, _ = tf.clip_by_global_norm(grads, config.grad_bound, use_norm=grad_norm)
        length = tf.shape(x)[1]
        lr = self.base_learning_rate(self.optimizer.iterations)
        if config.scale_lr_by_length:
            lr = lr * tf.cast(length, tf.float32) / float(config.bptt)
        self.optimizer.learning_rate.assign(lr)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        self.state.assign(tf.stop_gradient(new_state))
        if self.average is not None:
            tf.cond(self.average.started, lambda: _updated(self.average), lambda: tf.constant(False))
        finite = tf.math.is_finite(loss)
        self.nonfinite.assign(tf.logical_or(self.nonfinite, tf.logical_not(finite)))
        self.epoch_ce_sum.assign_add(tf.cast(cross_entropy, tf.float64))
        self.epoch_steps.assign_add(1.0)
        logs = dict(
            loss=loss, cross_entropy=cross_entropy, lr=lr, grad_norm=grad_norm, weight_penalty=penalty, length=length
        )
        if arc is not None:
            logs["arc"] = arc
        return logs

    def _eval_window(
        self, x: tf.Tensor, y: tf.Tensor, state: tf.Tensor, arc: tf.Tensor | None
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Summed token CE, token count and the next state of one window, without dropout.

        Search mode: `arc` is a flat arc, or an empty tensor to sample a fresh one inside
        (each validation window of a search uses its own architecture, ENAS_PTB_SPEC.md 1.12).
        """
        if arc is not None:
            arc = tf.cond(tf.size(arc) > 0, lambda: arc, self.sample_arc)
        logits, new_state = self.model(x, state, arc=self._rows(arc), training=False)
        token_ce = token_cross_entropy(logits, y)
        return tf.reduce_sum(token_ce), tf.cast(tf.size(token_ce), tf.float32), new_state

    def _score_arc(self, x: tf.Tensor, y: tf.Tensor, arc: tf.Tensor) -> tf.Tensor:
        """`80 / ppl` of `arc` on one window from a zero state (the controller's reward)."""
        state = self.model.initial_state(tf.shape(x)[0])
        total, count, _ = self._eval_window(x, y, state, arc)
        return REWARD_CONSTANT / tf.exp(total / count)

    def reward_from(self, iterator: Iterator) -> Callable[[tf.Tensor], tf.Tensor]:
        """`arc -> 80 / ppl` on the iterator's next window: the reward traced into the controller step."""

        def reward(arc: tf.Tensor) -> tf.Tensor:
            x, y = next(iterator)
            return self._score_arc(x, y, arc)

        return reward

    # -- evaluation passes ---------------------------------------------------------------------

    def evaluate(self, dataset: tf.data.Dataset, carry_state: bool = True, sample_arcs: bool = False) -> float:
        """Perplexity of one pass: exp(total CE / tokens), with the state zeroed first.

        With equal-length windows this is enas_lm's exp(mean of window means); with the test
        pass's batch 1 it is exp(mean per-token CE) over the whole split (ENAS_PTB_SPEC.md 2.5).

        Args:
            dataset: finite `(x, y)` windows, in order.
            carry_state: carry the state across windows (final runs, original search);
                False zeroes it before every window (enas_lm search).
            sample_arcs: search mode: a freshly sampled architecture per window.
        """
        total, count, state = 0.0, 0.0, None
        empty_arc = tf.zeros([0], tf.int32)
        for x, y in dataset:
            if state is None or not carry_state:
                state = self.model.initial_state(int(x.shape[0]))
            if sample_arcs:
                window_total, window_count, state = self.eval_window(x, y, state, empty_arc)
            else:
                window_total, window_count, state = self.eval_window(x, y, state)
            total += window_total
            count += window_count
        if not count:
            raise ValueError("The evaluation dataset has no windows.")
        return float(tf.exp(total / count).numpy())


def _updated(average: WeightAverage) -> tf.Tensor:
    average.update()
    return tf.constant(True)
