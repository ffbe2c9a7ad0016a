"""The language-model child's compiled steps: train on a window, evaluate, score an architecture.

`LanguageModelTrainer` is the language-model counterpart of `tasks.image_trainer.ImageChildTrainer`.
What differs from image classification:

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
from typing import Callable

import keras
import tensorflow as tf

from enas_tf2 import distribute
from enas_tf2.errors import FlagError
from enas_tf2.precision import loss_scale, scaled, unscaled, wrap_optimizer
from enas_tf2.spaces.rnn import (
    activation_regularizer,
    ptb_arc_rows_from_flat,
    slowness_regularizer,
    token_cross_entropy,
)
from enas_tf2.train.weight_average import WeightAverage

#: Dropout masks with one row per batch row (`PtbNetwork.sample_masks`): each replica takes its rows.
BATCH_MASKS = frozenset({"words", "embedding", "input", "recurrent", "output"})

#: The controller's reward is `REWARD_CONSTANT / ppl` (ENAS_PTB_SPEC.md 1.3, ENAS_SPEC.md 6.5).
REWARD_CONSTANT = 80.0


@dataclasses.dataclass(frozen=True)
class LanguageModelTrainConfig:
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


class LanguageModelTrainer:
    """Compiled train / evaluation / reward steps of a PTB child.

    Args:
        model: a built `PtbSupernet` (search) or `PtbNetwork` (final).
        config: the update's settings.
        sample_arc: search mode: returns a fresh flat int32 arc (the controller's sampler);
            None in final mode.
        arc_format: the flat arc's encoding ("enas_lm" or "original"), search mode only.
        seed: seed of the generator behind the dropout masks and `reset_state_prob`.
        jit_compile: XLA-compile the steps (not the distributed training step).
        strategy: the `tf.distribute` strategy the model was built under. With several replicas
            each training window's `B` rows are split among them (each replica carries the state
            of its rows); the architecture, the state reset and the dropout masks are drawn once
            for the whole window, and the all-reduced gradient makes the one-device update.
            Evaluation and scoring run on one device per process.

    Attributes:
        state: the carried training state, a `[B, H]` non-trainable variable.
        average: the `WeightAverage`, or None.
        nonfinite: set when a training step sees a non-finite loss.
    """

    def __init__(
        self,
        model: keras.Model,
        config: LanguageModelTrainConfig,
        sample_arc: Callable[[], tf.Tensor] | None = None,
        arc_format: str | None = None,
        seed: int | None = None,
        jit_compile: bool = False,
        strategy: tf.distribute.Strategy | None = None,
        precision: str = "float32",
    ):
        if not model.built:
            raise ValueError("LanguageModelTrainer needs a built model: call model.build() first.")
        if sample_arc is not None and arc_format not in ("enas_lm", "original"):
            raise ValueError(f"A search trainer needs arc_format 'enas_lm' or 'original'. Received: {arc_format!r}")
        self.strategy = strategy or tf.distribute.get_strategy()
        self.num_replicas = int(self.strategy.num_replicas_in_sync)
        if config.batch_size % self.num_replicas:
            raise FlagError(f"--batch_size={config.batch_size} (rows of the training stream) must split evenly over "
                            f"the {self.num_replicas} replicas; use a multiple of {self.num_replicas}.")
        self.model = model
        self.config = config
        self.sample_arc = sample_arc
        self.arc_format = arc_format
        self.variables = list(model.trainable_variables)
        hidden = model.hidden_size
        # mixed_float16: Keras' dynamic LossScaleOptimizer around the SGD (precision.wrap_optimizer).
        self.optimizer = wrap_optimizer(keras.optimizers.SGD(learning_rate=1.0), precision)
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
        if self.num_replicas > 1:
            self.train_step = tf.function(self._distributed_train_step, input_signature=[train_tokens, train_tokens])
        else:
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
                self.score_batch, input_signature=[tokens, tokens, tf.TensorSpec([None], tf.int32)],
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

    def _step_inputs(self, x: tf.Tensor) -> tuple[tf.Tensor | None, tf.Tensor, dict[str, tf.Tensor]]:
        """The step's architecture (search), carried state (maybe reset) and dropout masks.

        Drawn once per step for the whole batch, also when replicas share the batch: each replica
        then takes its rows of the state and of the per-row masks, and every replica uses the same
        weight-drop masks, as one device does.
        """
        arc = self.sample_arc() if self.sample_arc is not None else None
        state = tf.convert_to_tensor(self.state)
        if self.config.reset_state_prob > 0:
            reset = self.rng.uniform([]) < self.config.reset_state_prob
            state = tf.where(reset, tf.zeros_like(state), state)
        # Stateless masks from the checkpointed generator: a resumed run draws the same ones.
        return arc, state, self.model.sample_masks(x, seed=self.rng.make_seeds(1)[:, 0])

    def _set_learning_rate(self, length: tf.Tensor) -> tf.Tensor:
        """Sets the optimizer's LR for this step (enas_lm scales it by `len / bptt`); returns it."""
        lr = self.base_learning_rate(self.optimizer.iterations)
        if self.config.scale_lr_by_length:
            lr = lr * tf.cast(length, tf.float32) / float(self.config.bptt)
        self.optimizer.learning_rate.assign(lr)
        return lr

    def _finish_step(self, logs: dict[str, tf.Tensor], new_state: tf.Tensor) -> None:
        """After the update: the carried state, the weight average, the NaN flag and the epoch's CE."""
        self.state.assign(tf.stop_gradient(new_state))
        if self.average is not None:
            tf.cond(self.average.started, lambda: _updated(self.average), lambda: tf.constant(False))
        finite = tf.math.is_finite(logs["loss"])
        self.nonfinite.assign(tf.logical_or(self.nonfinite, tf.logical_not(finite)))
        self.epoch_ce_sum.assign_add(tf.cast(logs["cross_entropy"], tf.float64))
        self.epoch_steps.assign_add(1.0)

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
        """One SGD update on one window; writes the new carried state; returns log scalars."""
        arc, state, masks = self._step_inputs(x)
        lr = self._set_learning_rate(tf.shape(x)[1])
        logs, new_state = self._update(x, y, state, self._rows(arc), masks)
        self._finish_step(logs, new_state)
        logs["lr"] = lr
        if arc is not None:
            logs["arc"] = arc
        return logs

    def _distributed_train_step(self, x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
        """One update over every replica: one arc and one set of masks, the window's rows split among them."""
        arc, state, masks = self._step_inputs(x)
        lr = self._set_learning_rate(tf.shape(x)[1])
        per_replica = self.strategy.run(self._replica_update, args=(x, y, state, arc, masks))
        new_state = self.strategy.experimental_local_results(per_replica.pop("state"))[0]
        mean = tf.distribute.ReduceOp.MEAN
        logs = {name: self.strategy.reduce(mean, value, axis=None) for name, value in per_replica.items()}
        self._finish_step(logs, new_state)
        logs["lr"] = lr
        if arc is not None:
            logs["arc"] = arc
        return logs

    def _replica_update(self, x, y, state, arc, masks) -> dict[str, tf.Tensor]:
        """This replica's rows of the window; returns its logs and the whole batch's new state."""
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
        rows_per_replica = self.config.batch_size // self.num_replicas
        start = replica * rows_per_replica

        def mine(value: tf.Tensor) -> tf.Tensor:
            return value[start : start + rows_per_replica]

        if arc is not None:
            arc = distribute.from_first_replica(context, arc)
        masks = {name: mine(mask) if name in BATCH_MASKS else mask for name, mask in masks.items()}
        logs, new_state = self._update(mine(x), mine(y), mine(state), self._rows(arc), masks, context)
        # Every replica's rows back in place: the carried state of the whole batch.
        padding = [[start, self.config.batch_size - start - rows_per_replica], [0, 0]]
        logs["state"] = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.pad(new_state, padding))
        return logs

    def _update(self, x, y, state, rows, masks, replica_context=None) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """Forward, loss, gradient, global-norm clipping and the SGD step; returns logs and the new state.

        With a `replica_context` each replica differentiates `loss / replicas` of its rows (every
        term is a mean over rows, or the same for every row), the gradients are all-reduced before
        the norm and the clipping, and each replica hands the optimizer its `1 / replicas` share
        because Keras' optimizer sums the replicas' gradients once more.
        """
        config = self.config
        model = self.model
        scale = 1.0 if replica_context is None else 1.0 / self.num_replicas
        # float16: the loss is scaled up before differentiation, so the norm and the clip bound are
        # scaled alike; the LossScaleOptimizer unscales (or skips a non-finite step). None otherwise.
        loss_scaling = loss_scale(self.optimizer)
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
            scaled_loss = scaled(loss * scale, loss_scaling)
        grads = tape.gradient(scaled_loss, self.variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.variables)]
        if replica_context is not None:
            # The whole window's gradient (the supernet's slab gradients stay sparse: IndexedSlices are gathered).
            grads = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grad_norm = tf.linalg.global_norm(grads)
        grads, _ = tf.clip_by_global_norm(grads, scaled(config.grad_bound, loss_scaling), use_norm=grad_norm)
        grad_norm = unscaled(grad_norm, loss_scaling)  # logged as the true gradient's
        if replica_context is not None:
            grads = [_scaled(g, scale) for g in grads]
        self.optimizer.apply_gradients(zip(grads, self.variables))
        logs = dict(
            loss=loss, cross_entropy=cross_entropy, grad_norm=grad_norm, weight_penalty=penalty, length=tf.shape(x)[1]
        )
        return logs, new_state

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

    def score_batch(self, x: tf.Tensor, y: tf.Tensor, arc: tf.Tensor) -> tf.Tensor:
        """`80 / ppl` of `arc` on one window from a zero state (the controller's reward).

        Plain Python, for tracing into the controller's (distributed) update; `score_arc` is its
        compiled form.
        """
        state = self.model.initial_state(tf.shape(x)[0])
        total, count, _ = self._eval_window(x, y, state, arc)
        return REWARD_CONSTANT / tf.exp(total / count)

    # -- evaluation passes ---------------------------------------------------------------------

    def evaluate(self, dataset: tf.data.Dataset, carry_state: bool = True, sample_arcs: bool = False,
                 on_window: Callable[[int], None] | None = None, arc: tf.Tensor | None = None) -> float:
        """Perplexity of one pass: exp(total CE / tokens), with the state zeroed first.

        With equal-length windows this is enas_lm's exp(mean of window means); with the test
        pass's batch 1 it is exp(mean per-token CE) over the whole split (ENAS_PTB_SPEC.md 2.5).

        Args:
            dataset: finite `(x, y)` windows, in order.
            carry_state: carry the state across windows (final runs, original search);
                False zeroes it before every window (enas_lm search).
            sample_arcs: search mode: a freshly sampled architecture per window.
            on_window: called with the number of windows done after each (progress lines).
            arc: search mode: this flat arc for every window (a shared-weight score).
        """
        total, count, state = 0.0, 0.0, None
        empty_arc = tf.zeros([0], tf.int32)
        for done, (x, y) in enumerate(dataset, start=1):
            if state is None or not carry_state:
                state = self.model.initial_state(int(x.shape[0]))
            if arc is not None:
                window_total, window_count, state = self.eval_window(x, y, state, arc)
            elif sample_arcs:
                window_total, window_count, state = self.eval_window(x, y, state, empty_arc)
            else:
                window_total, window_count, state = self.eval_window(x, y, state)
            total += window_total
            count += window_count
            if on_window is not None:
                on_window(done)
        if not count:
            raise ValueError("The evaluation dataset has no windows.")
        return float(tf.exp(total / count).numpy())


def _scaled(gradient, scale: float):
    """`scale * gradient` for a dense gradient or `tf.IndexedSlices` (kept sparse)."""
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(gradient.values * scale, gradient.indices, gradient.dense_shape)
    return gradient * scale


def _updated(average: WeightAverage) -> tf.Tensor:
    average.update()
    return tf.constant(True)
