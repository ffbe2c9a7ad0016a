"""The epoch loop: a non-finite loss stops the run without saving, naming the last good checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import keras

from enas_tf2 import arch
from enas_tf2.errors import TrainingError
from enas_tf2.spaces.macro import MacroNetwork
from enas_tf2.train.child import ChildTrainer
from enas_tf2.train.loop import EpochLoop, LoopConfig
from enas_tf2.train.monitor import Monitor
from enas_tf2.train.state import RunState


def _dataset(images: np.ndarray, labels: np.ndarray, batch_size: int) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch_size, drop_remainder=True)


def _loop(tmp_path, images, max_to_keep=2):
    keras.utils.set_random_seed(0)
    model = MacroNetwork(arch.MacroArc.parse("0 1 0 0 1 1"), out_filters=4)
    model.build((None, 8, 8, 3))
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)
    child = ChildTrainer(model, optimizer, l2_reg=1e-4)
    labels = np.zeros([len(images)], np.int32)
    state = RunState(str(tmp_path), max_to_keep=max_to_keep, child=model, child_optimizer=optimizer)
    monitor = Monitor(str(tmp_path), progress_bar=False)
    eval_data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    config = LoopConfig(num_epochs=2, num_train_batches=2, batch_size=4, log_every=1)
    return EpochLoop(config, child, state, monitor, iter(_dataset(images, labels, 4)), {"test": eval_data}), state


def test_finite_run_saves_a_checkpoint_per_epoch(tmp_path):
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype(np.float32)
    loop, state = _loop(tmp_path, images)
    results = loop.run()
    assert set(results) == {"test_accuracy"}
    assert int(state.epoch) == 2 and int(state.global_step) == 4
    assert state.manager.latest_checkpoint.endswith("ckpt-4")


def test_nan_loss_stops_without_saving_and_names_the_fix(tmp_path):
    images = np.full((8, 8, 8, 3), np.nan, np.float32)
    loop, state = _loop(tmp_path, images)
    with pytest.raises(TrainingError, match=r"NaN or infinite.*last good checkpoint is none yet.*--child_lr"):
        loop.run()
    assert state.manager.latest_checkpoint is None


def test_rerun_after_completion_does_nothing(tmp_path):
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype(np.float32)
    loop, state = _loop(tmp_path, images)
    loop.run()
    loop2, state2 = _loop(tmp_path, images)
    assert state2.restore_latest()
    assert loop2.run() == {}
    assert int(state2.global_step) == 4
