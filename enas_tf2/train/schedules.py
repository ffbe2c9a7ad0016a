"""Learning-rate schedules of the original child training loops."""

from __future__ import annotations

import keras
import tensorflow as tf

#: The original computes the cosine with this truncated pi (ENAS_SPEC.md 7.1).
_ORIGINAL_PI = 3.1415926


@keras.saving.register_keras_serializable(package="enas_tf2")
class CosineRestartsPerEpoch(keras.optimizers.schedules.LearningRateSchedule):
    """SGDR cosine annealing with warm restarts, piecewise constant per epoch.

    Matches the original's `cosine` LR (ENAS_SPEC.md 7.1): the epoch is
    `e = floor(step / num_train_batches)` with `step` the number of completed
    updates; periods start at `T_0` epochs and multiply by `T_mul` at each
    restart; within a period `lr = lr_min + (lr_max - lr_min) * (1 + cos(pi *
    (e - last_reset) / T_i)) / 2`. With T_0=10, T_mul=2 restarts fall at epochs
    10, 30, 70, 150, 310, 630. At a restart this returns `lr_max` (the original
    can return one stale value there, Q-14).

    Unlike `keras.optimizers.schedules.CosineDecayRestarts`, which is continuous
    in the step, this is constant within an epoch, as the original.

    Args:
        lr_max: LR at the start of each period.
        lr_min: LR approached at the end of each period.
        t_0: first period, in epochs.
        t_mul: period multiplier after each restart.
        num_train_batches: child steps per epoch.

    Example:
        >>> schedule = CosineRestartsPerEpoch(0.05, 0.0005, 10, 2, num_train_batches=100)
        >>> float(schedule(0))
        0.05
    """

    def __init__(self, lr_max: float, lr_min: float, t_0: int, t_mul: int, num_train_batches: int):
        if t_0 <= 0 or t_mul < 1 or num_train_batches <= 0:
            raise ValueError(
                "CosineRestartsPerEpoch needs t_0 > 0, t_mul >= 1 and num_train_batches > 0. "
                f"Received: t_0={t_0}, t_mul={t_mul}, num_train_batches={num_train_batches}"
            )
        self.lr_max = float(lr_max)
        self.lr_min = float(lr_min)
        self.t_0 = int(t_0)
        self.t_mul = int(t_mul)
        self.num_train_batches = int(num_train_batches)

    def period_start(self, epoch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns `(last_reset, T_i)` for an int64 epoch: the period it falls in."""
        epoch = tf.cast(epoch, tf.int64)
        last_reset = tf.constant(0, tf.int64)
        period = tf.constant(self.t_0, tf.int64)
        # At most ~log2(epochs) iterations: a restart every time the period ends.
        last_reset, period = tf.while_loop(
            lambda reset, t_i: epoch - reset >= t_i,
            lambda reset, t_i: (reset + t_i, t_i * self.t_mul),
            (last_reset, period),
        )
        return last_reset, period

    def __call__(self, step):
        with tf.name_scope("cosine_restarts_per_epoch"):
            epoch = tf.cast(step, tf.int64) // self.num_train_batches
            last_reset, period = self.period_start(epoch)
            progress = tf.cast(epoch - last_reset, tf.float32) / tf.cast(period, tf.float32)
            cosine = 1.0 + tf.cos(_ORIGINAL_PI * progress)
            return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * cosine

    def get_config(self):
        return dict(
            lr_max=self.lr_max,
            lr_min=self.lr_min,
            t_0=self.t_0,
            t_mul=self.t_mul,
            num_train_batches=self.num_train_batches,
        )


@keras.saving.register_keras_serializable(package="enas_tf2")
class StaircaseDecayPerEpoch(keras.optimizers.schedules.LearningRateSchedule):
    """`lr * dec_rate ** floor(max(step - dec_start * nb, 0) / (dec_every * nb))` (spec 7.1, 8.4).

    The CIFAR main decays from step 0; the PTB main (ENAS_SPEC.md 8.4) starts decaying at epoch
    `dec_start`, floors the LR at `dec_min`, and may hold a constant `warmup_val` for the first
    `warmup_steps` steps (`--child_lr_warmup_val/steps`).

    Args:
        lr: initial LR (`--child_lr`).
        dec_rate: decay factor (`--child_lr_dec_rate`).
        dec_every: decay period in epochs (`--child_lr_dec_every`).
        num_train_batches: child steps per epoch (`nb`).
        dec_start: epoch at which the decay starts (`--child_lr_dec_start`, PTB only).
        dec_min: LR floor, or None (`--child_lr_dec_min`).
        warmup_val: LR of the warm-up steps, or None for no warm-up.
        warmup_steps: number of warm-up steps.
    """

    def __init__(
        self,
        lr: float,
        dec_rate: float,
        dec_every: int,
        num_train_batches: int,
        dec_start: int = 0,
        dec_min: float | None = None,
        warmup_val: float | None = None,
        warmup_steps: int = 0,
    ):
        if dec_every <= 0 or num_train_batches <= 0 or dec_start < 0 or warmup_steps < 0:
            raise ValueError(
                f"StaircaseDecayPerEpoch needs dec_every > 0, num_train_batches > 0, dec_start >= 0 and "
                f"warmup_steps >= 0. Received: dec_every={dec_every}, num_train_batches={num_train_batches}, "
                f"dec_start={dec_start}, warmup_steps={warmup_steps}"
            )
        self.lr = float(lr)
        self.dec_rate = float(dec_rate)
        self.dec_every = int(dec_every)
        self.num_train_batches = int(num_train_batches)
        self.dec_start = int(dec_start)
        self.dec_min = None if dec_min is None else float(dec_min)
        self.warmup_val = None if warmup_val is None else float(warmup_val)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.int64)
        decay_steps = tf.maximum(step - self.dec_start * self.num_train_batches, 0)
        decays = tf.cast(decay_steps // (self.dec_every * self.num_train_batches), tf.float32)
        lr = self.lr * tf.pow(self.dec_rate, decays)
        if self.dec_min is not None:
            lr = tf.maximum(lr, self.dec_min)
        if self.warmup_val is not None and self.warmup_steps > 0:
            lr = tf.where(step < self.warmup_steps, tf.constant(self.warmup_val, tf.float32), lr)
        return lr

    def get_config(self):
        return dict(
            lr=self.lr,
            dec_rate=self.dec_rate,
            dec_every=self.dec_every,
            num_train_batches=self.num_train_batches,
            dec_start=self.dec_start,
            dec_min=self.dec_min,
            warmup_val=self.warmup_val,
            warmup_steps=self.warmup_steps,
        )
