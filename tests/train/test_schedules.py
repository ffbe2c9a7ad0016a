"""Tests of the child learning-rate schedules against ENAS_SPEC.md 7.1, recomputed here.

The reference walks the original's stateful restart rule epoch by epoch (`if e - last_reset >=
T_i: last_reset = e; T_i *= T_mul`) with the original's truncated pi, independently of the
closed form the schedule uses.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.train.schedules import CosineRestartsPerEpoch, StaircaseDecayPerEpoch

LR_MAX, LR_MIN, T_0, T_MUL = 0.05, 0.0005, 10, 2
NUM_TRAIN_BATCHES = 7
#: The original computes the cosine with this truncated pi (spec 7.1).
ORIGINAL_PI = 3.1415926


def reference_cosine_lr(epoch: int) -> float:
    """Spec 7.1: the original's state machine advanced through epochs 0..epoch in order."""
    last_reset, t_i = 0, T_0
    for e in range(epoch + 1):
        if e - last_reset >= t_i:
            last_reset = e
            t_i *= T_MUL
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1.0 + math.cos(ORIGINAL_PI * (epoch - last_reset) / t_i))


def make_cosine(**overrides) -> CosineRestartsPerEpoch:
    args = dict(lr_max=LR_MAX, lr_min=LR_MIN, t_0=T_0, t_mul=T_MUL, num_train_batches=NUM_TRAIN_BATCHES)
    args.update(overrides)
    return CosineRestartsPerEpoch(**args)


@pytest.fixture(scope="module")
def cosine_lr():
    """The schedule as a traced function of an int64 step (one trace for every call)."""
    schedule = make_cosine()
    return tf.function(lambda step: schedule(step), input_signature=[tf.TensorSpec([], tf.int64)])


def lr_at(fn, step: int) -> float:
    return float(fn(tf.constant(step, tf.int64)))


@pytest.mark.parametrize("epoch", [0, 1, 5, 9, 10, 11, 29, 30, 69, 70, 150, 309, 310])
def test_cosine_matches_spec_formula(cosine_lr, epoch):
    expected = reference_cosine_lr(epoch)
    for step in (epoch * NUM_TRAIN_BATCHES, epoch * NUM_TRAIN_BATCHES + NUM_TRAIN_BATCHES - 1):
        assert lr_at(cosine_lr, step) == pytest.approx(expected, rel=1e-5)


def test_cosine_is_constant_within_an_epoch(cosine_lr):
    for epoch in (0, 3, 9, 10, 29):
        values = {lr_at(cosine_lr, epoch * NUM_TRAIN_BATCHES + i) for i in range(NUM_TRAIN_BATCHES)}
        assert len(values) == 1, (epoch, values)
    # ...and changes from one epoch to the next.
    assert lr_at(cosine_lr, NUM_TRAIN_BATCHES - 1) != lr_at(cosine_lr, NUM_TRAIN_BATCHES)


def test_cosine_key_values(cosine_lr):
    assert lr_at(cosine_lr, 0) == pytest.approx(LR_MAX, rel=1e-6)
    # Epoch 9 is the last of the first period: close to, but not exactly, lr_min.
    epoch_9 = lr_at(cosine_lr, 9 * NUM_TRAIN_BATCHES)
    half_cos = 0.5 * (1.0 + math.cos(ORIGINAL_PI * 9 / 10))
    assert epoch_9 == pytest.approx(LR_MIN + (LR_MAX - LR_MIN) * half_cos, rel=1e-5)
    assert LR_MIN < epoch_9 < 0.05 * LR_MAX
    # Epoch 29 is the last of the second period (T_1 = 20).
    epoch_29 = lr_at(cosine_lr, 29 * NUM_TRAIN_BATCHES)
    assert epoch_29 == pytest.approx(LR_MIN + (LR_MAX - LR_MIN) * 0.5 * (1.0 + math.cos(ORIGINAL_PI * 19 / 20)), rel=1e-5)


def test_cosine_restarts_at_spec_epochs(cosine_lr):
    restarts = [
        epoch
        for epoch in range(1, 320)
        if lr_at(cosine_lr, epoch * NUM_TRAIN_BATCHES) > lr_at(cosine_lr, (epoch - 1) * NUM_TRAIN_BATCHES)
    ]
    assert restarts == [10, 30, 70, 150, 310]
    for epoch in restarts:
        assert lr_at(cosine_lr, epoch * NUM_TRAIN_BATCHES) == pytest.approx(LR_MAX, rel=1e-6)
    assert cosine_lr.experimental_get_tracing_count() == 1


def test_cosine_accepts_python_and_int32_steps():
    schedule = make_cosine()
    step = 12 * NUM_TRAIN_BATCHES + 3
    expected = reference_cosine_lr(12)
    assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)
    assert float(schedule(tf.constant(step, tf.int32))) == pytest.approx(expected, rel=1e-5)


def test_cosine_drives_keras_sgd():
    schedule = make_cosine()
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)
    optimizer.iterations.assign(30 * NUM_TRAIN_BATCHES)
    assert float(optimizer.learning_rate) == pytest.approx(LR_MAX, rel=1e-6)


def test_cosine_config_round_trip():
    schedule = make_cosine()
    clone = CosineRestartsPerEpoch.from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()
    step = 17 * NUM_TRAIN_BATCHES
    assert float(clone(step)) == float(schedule(step))


@pytest.mark.parametrize(
    "overrides",
    [dict(t_0=0), dict(t_0=-1), dict(t_mul=0), dict(num_train_batches=0), dict(num_train_batches=-3)],
    ids=["t_0_zero", "t_0_negative", "t_mul_zero", "batches_zero", "batches_negative"],
)
def test_cosine_invalid_args_raise(overrides):
    name, value = next(iter(overrides.items()))
    with pytest.raises(ValueError, match=f"{name}={value}"):
        make_cosine(**overrides)


def test_staircase_matches_spec_formula():
    lr, dec_rate, dec_every = 0.1, 0.5, 3
    schedule = StaircaseDecayPerEpoch(lr, dec_rate, dec_every, NUM_TRAIN_BATCHES)
    traced = tf.function(schedule, input_signature=[tf.TensorSpec([], tf.int64)])
    for step in range(0, 10 * dec_every * NUM_TRAIN_BATCHES, 5):
        expected = lr * dec_rate ** (step // (dec_every * NUM_TRAIN_BATCHES))
        assert float(traced(tf.constant(step, tf.int64))) == pytest.approx(expected, rel=1e-5)
    boundary = dec_every * NUM_TRAIN_BATCHES
    assert float(schedule(boundary - 1)) == pytest.approx(lr)
    assert float(schedule(boundary)) == pytest.approx(lr * dec_rate)
    clone = StaircaseDecayPerEpoch.from_config(schedule.get_config())
    np.testing.assert_allclose(float(clone(7 * boundary)), lr * dec_rate**7, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dec_every=0, num_train_batches=7), "dec_every=0"),
        (dict(dec_every=-2, num_train_batches=7), "dec_every=-2"),
        (dict(dec_every=3, num_train_batches=0), "num_train_batches=0"),
    ],
)
def test_staircase_invalid_args_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StaircaseDecayPerEpoch(0.1, 0.1, **kwargs)


def test_staircase_ptb_options_match_original_formula():
    """ENAS_SPEC.md 8.4: decay from epoch dec_start, floor dec_min, constant warm-up steps."""
    nb, lr, rate, start, every, floor = 7, 20.0, 0.5, 2, 1, 3.0
    schedule = StaircaseDecayPerEpoch(lr, rate, every, nb, dec_start=start, dec_min=floor)
    for step in range(0, 12 * nb):
        expected = max(lr * rate ** (max(step - start * nb, 0) // (every * nb)), floor)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-6), step
    assert float(schedule((start + every) * nb - 1)) == pytest.approx(lr)
    assert float(schedule((start + every) * nb)) == pytest.approx(lr * rate)
    assert float(schedule(100 * nb)) == pytest.approx(floor)
    warm = StaircaseDecayPerEpoch(lr, rate, every, nb, warmup_val=0.1, warmup_steps=5)
    assert [float(warm(s)) for s in (0, 4, 5)] == pytest.approx([0.1, 0.1, lr])
    clone = StaircaseDecayPerEpoch.from_config(schedule.get_config())
    assert float(clone(5 * nb)) == pytest.approx(float(schedule(5 * nb)))
