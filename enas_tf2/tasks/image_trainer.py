"""An image classifier child's compiled steps: train, evaluate, score one architecture.

`ImageChildTrainer` owns what one child update needs (model, Nesterov SGD, L2) and
compiles each step once. In search mode it is given `sample_arc`, a function
that returns an int32 architecture tensor (the controller's sampler); it is
called *inside* the compiled step, so every step and every evaluation batch
uses a freshly sampled architecture (as the original, Q-11) that never leaves
the device, and one trace serves every architecture. In final mode there is no
architecture tensor.
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

from enas_tf2 import distribute
from enas_tf2.precision import float32_logits, loss_scale, scaled, unscaled
from enas_tf2.layers.aux_head import AUX_LOSS_WEIGHT

ArcSampler = Callable[[], tf.Tensor]


def l2_penalty(variables: list[tf.Variable]) -> tf.Tensor:
    """`sum_w sum(w^2)` over all given variables; no 1/2 factor (ENAS_SPEC.md 7.1)."""
    return tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])


def add_l2_gradients(grads: list, variables: list[tf.Variable], l2_reg: float | tf.Tensor) -> list[tf.Tensor]:
    """The gradient of `loss + l2_reg * l2_penalty(variables)` from the gradient of `loss`.

    Adding `2 * l2_reg * w` directly gives the same update as differentiating
    the penalty, with two graph ops per weight instead of about eight: a micro
    supernet has over a thousand weight tensors, and its graph size (hence its
    trace and optimisation time) was dominated by such per-weight ops.
    """
    # A weight the loss does not reach (None) still decays, as under the penalty.
    grads = [tf.zeros(v.shape, v.dtype) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
    if isinstance(l2_reg, (int, float)) and not l2_reg:
        return grads
    return [g + (2.0 * l2_reg) * v for g, v in zip(grads, variables)]


class ImageChildTrainer:
    """Compiled train/eval steps of a CIFAR child network.

    Loss = mean softmax CE + `l2_reg * sum(w^2)` over **all** trainable child
    weights (the penalty enters as its gradient, `add_l2_gradients`), so in search mode the unselected branches still decay (their CE
    gradient is zero) and, with momentum, keep moving: as the original.
    Gradients are not clipped unless `clip_gradients` (the original requested
    per-tensor clipping but applied the unclipped gradient, Q-1); `|g|` is the
    global norm of the unclipped gradient of the full loss.

    Models may opt into two extras: one with an `aux_head` (micro) is called
    with `return_aux=True` in training and `AUX_LOSS_WEIGHT` times the auxiliary
    cross-entropy is added to the loss; one with `uses_step_counter = True`
    (micro final, for drop path) gets `step=optimizer.iterations`, the number
    of completed updates.

    Args:
        model: a child `keras.Model` called as `model(images, arc=..., training=...)`.
        optimizer: the child optimizer (Nesterov SGD with an LR schedule).
        l2_reg: L2 coefficient.
        sample_arc: search mode: returns a fresh int32 arc tensor; None in final mode.
        grad_bound: per-tensor clip norm, used only with `clip_gradients`.
        clip_gradients: really clip (off: the original's behaviour).
        jit_compile: XLA-compile the steps.
        variables: the weights to optimise and regularise; default the model's
            `optimized_variables` if it defines them (the micro child: all but
            its aux head, Q-10), else all its trainable weights.
        strategy: the `tf.distribute` strategy the model was built under. With
            several replicas `train_step` takes an iterator over a distributed
            dataset (`strategy.experimental_distribute_dataset`, global batches);
            one architecture is sampled per step and shared by every replica,
            each replica computes the gradient of its share of the global batch,
            and the all-reduced gradient (batch norm over the global batch,
            `layers/batch_norm.py`) makes the update of one device with the whole
            batch. Evaluation and scoring run on one device per process.
    """

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        l2_reg: float,
        sample_arc: ArcSampler | None = None,
        grad_bound: float | None = None,
        clip_gradients: bool = False,
        jit_compile: bool = False,
        variables: list[tf.Variable] | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.model = model
        self.optimizer = optimizer
        self.l2_reg = l2_reg
        self.sample_arc = sample_arc
        self.grad_bound = grad_bound
        self.clip_gradients = clip_gradients
        self.strategy = strategy or tf.distribute.get_strategy()
        self.num_replicas = int(self.strategy.num_replicas_in_sync)
        # Set when a step sees a non-finite loss; the loop checks it before saving.
        self.nonfinite = tf.Variable(False, trainable=False, name="nonfinite_loss_seen")
        if not model.built:
            raise ValueError("ImageChildTrainer needs a built model: call model.build(input_shape) first.")
        if variables is None:
            variables = getattr(model, "optimized_variables", model.trainable_variables)
        self.variables = list(variables)
        self.use_aux = getattr(model, "aux_head", None) is not None
        self.use_step = bool(getattr(model, "uses_step_counter", False))
        # Slots must exist before the first trace, or the step traces twice.
        optimizer.build(self.variables)
        if self.num_replicas > 1:
            self.train_step = tf.function(self._distributed_train_step)
        else:
            self.train_step = tf.function(self._train_step, jit_compile=jit_compile)
        self.eval_step = tf.function(self._eval_step, jit_compile=jit_compile)
        self.score_arc = tf.function(self.score_batch, jit_compile=jit_compile)

    def _arc(self, arc: tf.Tensor | None) -> tf.Tensor | None:
        if arc is None and self.sample_arc is not None:
            return self.sample_arc()
        return arc

    def _train_step(self, iterator_or_batch, arc: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """One child update on the next training batch; returns logging scalars."""
        images, labels = _next_batch(iterator_or_batch)
        logs = self._update(images, labels, self._arc(arc))
        self._record_nonfinite(logs)
        return logs

    def _record_nonfinite(self, logs: dict[str, tf.Tensor]) -> None:
        """Sets `nonfinite` when the step's loss (auxiliary head included) is NaN or infinite."""
        loss = logs["loss"] + logs.get("aux_loss", 0.0)
        self.nonfinite.assign(tf.logical_or(self.nonfinite, tf.logical_not(tf.math.is_finite(loss))))

    def _distributed_train_step(self, iterator) -> dict[str, tf.Tensor]:
        """One update over every replica: one sampled arc for all, the global batch split among them."""
        batch = next(iterator)
        arc = self._arc(None)
        logs = self.strategy.run(self._replica_train_step, args=(batch, arc))
        mean = tf.distribute.ReduceOp.MEAN
        reduced = {name: self.strategy.reduce(mean, value, axis=None) for name, value in logs.items() if name != "arc"}
        self._record_nonfinite(reduced)
        if arc is not None:
            reduced["arc"] = self.strategy.experimental_local_results(logs["arc"])[0]
        return reduced

    def _replica_train_step(self, batch, arc: tf.Tensor | None) -> dict[str, tf.Tensor]:
        """One replica's share of a distributed update."""
        context = tf.distribute.get_replica_context()
        if arc is not None:
            # Every worker samples with its own generator; the first replica's arc is the step's arc
            # (identical already when the workers share a seed, and then this costs one tiny all-reduce).
            arc = distribute.from_first_replica(context, arc)
        images, labels = batch
        return self._update(images, labels, arc, context)

    def _update(self, images, labels, arc: tf.Tensor | None, replica_context=None) -> dict[str, tf.Tensor]:
        """Forward, gradient (+ L2), norm, optional clipping and the optimizer step; returns logging values.

        With a `replica_context` (several replicas), each replica differentiates `loss / replicas`,
        the gradients are all-reduced *before* the norm and clipping (so both see the global
        batch's gradient), and each replica hands the optimizer its `1 / replicas` share because
        Keras' optimizer sums the replicas' gradients once more.
        """
        variables = self.variables
        scale = 1.0 if replica_context is None else 1.0 / self.num_replicas
        call_kwargs = {"step": self.optimizer.iterations} if self.use_step else {}
        aux_loss = None
        # float16 (--precision=mixed_float16): the loss is scaled up before differentiation and the
        # gradients stay scaled, so the L2 term, the norm and the clip bound are scaled alike and the
        # LossScaleOptimizer unscales (or skips a non-finite step) in `apply_gradients`. None otherwise.
        loss_scaling = loss_scale(self.optimizer)
        with tf.GradientTape() as tape:
            if self.use_aux:
                logits, aux_logits = self.model(images, arc=arc, training=True, return_aux=True, **call_kwargs)
                aux_loss = _cross_entropy(labels, aux_logits)
            else:
                logits = self.model(images, arc=arc, training=True, **call_kwargs)
            cross_entropy = _cross_entropy(labels, logits)
            loss = cross_entropy
            if aux_loss is not None:
                loss += AUX_LOSS_WEIGHT * aux_loss
            if replica_context is not None:
                loss *= scale
            loss_for_gradients = scaled(loss, loss_scaling)
        grads = tape.gradient(loss_for_gradients, variables)
        l2_reg = scaled(self.l2_reg * scale, loss_scaling) if self.l2_reg else 0.0
        grads = add_l2_gradients(grads, variables, l2_reg)
        if replica_context is not None:
            grads = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, grads)  # the global batch's gradient
        grad_norm = unscaled(tf.linalg.global_norm(grads), loss_scaling)  # logged as the true gradient's
        clip_bound = scaled(self.grad_bound, loss_scaling)
        if self.clip_gradients:
            grads = [tf.clip_by_norm(g, clip_bound) for g in grads]
        learning_rate = self.optimizer.learning_rate
        if replica_context is not None:
            grads = [g * scale for g in grads]
        self.optimizer.apply_gradients(zip(grads, variables))
        logs = dict(loss=cross_entropy, lr=learning_rate, grad_norm=grad_norm, accuracy=_accuracy(logits, labels))
        if aux_loss is not None:
            logs["aux_loss"] = aux_loss
        if arc is not None:
            logs["arc"] = arc
        return logs

    def _eval_step(self, images: tf.Tensor, labels: tf.Tensor, arc: tf.Tensor | None = None) -> tf.Tensor:
        """Number of correct predictions on one batch, inference mode (fresh arc in search)."""
        logits = float32_logits(self.model(images, arc=self._arc(arc), training=False))
        return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.int32))

    def score_batch(self, images: tf.Tensor, labels: tf.Tensor, arc: tf.Tensor) -> tf.Tensor:
        """Accuracy of a given architecture on one batch, inference mode (the reward).

        Plain Python, for tracing into the controller's (distributed) update; `score_arc` is its
        compiled form.
        """
        logits = float32_logits(self.model(images, arc=arc, training=False))
        return _accuracy(logits, labels)


def _next_batch(iterator_or_batch):
    if isinstance(iterator_or_batch, (tuple, list)):
        return iterator_or_batch
    return next(iterator_or_batch)


def _cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    logits = float32_logits(logits)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def _accuracy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(labels, tf.int32))
    return tf.reduce_mean(tf.cast(correct, tf.float32))
