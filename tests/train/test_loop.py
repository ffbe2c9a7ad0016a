"""The training loop: a checkpoint per end-of-epoch block, a NaN loss stops without saving, a rerun of a finished run does nothing."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.configs.run import RunConfig
from enas_tf2.errors import TrainingError
from enas_tf2.spaces.macro import MacroNetwork
from enas_tf2.tasks.base import Task
from enas_tf2.tasks.image_trainer import ImageChildTrainer
from enas_tf2.train.loop import LoopConfig, TrainingLoop
from enas_tf2.train.monitor import Monitor
from enas_tf2.train.state import RunState


class TinyImageTask(Task):
    """A final run of a 3-layer macro network on 8 images: just what the loop calls."""

    nonfinite_hint = "Lower the learning rate (--child_lr)"

    def __init__(self, output_dir: str, images: np.ndarray):
        self.run_config = RunConfig(output_dir=output_dir)
        self.images, self.labels = images, np.zeros([len(images)], np.int32)
        self.evaluated = []

    def load_data(self) -> None:
        pass

    def build_child(self) -> keras.Model:
        model = MacroNetwork(arch.MacroArc.parse("0 1 0 0 1 1"), out_filters=4)
        model.build((None, 8, 8, 3))
        return model

    def build_child_trainer(self, child, sample_arc, strategy):
        optimizer = keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)
        self.trainer = ImageChildTrainer(child, optimizer, l2_reg=1e-4)
        return self.trainer

    def steps_per_epoch(self) -> int:
        return 2

    def epoch_inputs(self, epoch: int, start: int = 0):
        dataset = tf.data.Dataset.from_tensor_slices((self.images, self.labels)).batch(4, drop_remainder=True)
        return [(batch,) for batch in dataset][start:]

    def evaluate(self, epoch: int, step: int) -> dict[str, float]:
        self.evaluated.append((epoch, step))
        correct = sum(int(self.trainer.eval_step(x, y)) for x, y in
                      tf.data.Dataset.from_tensor_slices((self.images, self.labels)).batch(4))
        return {"test_accuracy": correct / len(self.images)}

    def derive_batch(self):
        raise NotImplementedError


def _loop(tmp_path, images, max_steps=None):
    keras.utils.set_random_seed(0)
    task = TinyImageTask(str(tmp_path), images)
    child = task.build_child()
    trainer = task.build_child_trainer(child, None, tf.distribute.get_strategy())
    state = RunState(str(tmp_path), child=child, child_optimizer=trainer.optimizer)
    monitor = Monitor(str(tmp_path), progress_bar=False)
    config = LoopConfig(num_epochs=2, steps_per_epoch=task.steps_per_epoch(), log_every=1, max_steps=max_steps)
    return TrainingLoop(task, trainer, state, monitor, config), task, state


def test_finite_run_saves_a_checkpoint_per_epoch(tmp_path):
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype(np.float32)
    loop, task, state = _loop(tmp_path, images)
    results = loop.run()
    assert set(results) == {"test_accuracy"}
    assert int(state.epoch) == 2 and int(state.global_step) == 4
    assert task.evaluated == [(1, 2), (2, 4)]
    # One checkpoint before each evaluation and one after it.
    assert state.manager.latest_checkpoint.endswith("ckpt-4")
    assert int(tf.train.load_variable(state.manager.latest_checkpoint, "global_step/.ATTRIBUTES/VARIABLE_VALUE")) == 4


def test_max_steps_stops_inside_an_epoch_and_still_evaluates(tmp_path):
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype(np.float32)
    loop, task, state = _loop(tmp_path, images, max_steps=3)
    loop.run()
    assert int(state.global_step) == 3 and task.evaluated == [(1, 2), (2, 3)]


def test_nan_loss_stops_without_saving_and_names_the_fix(tmp_path):
    images = np.full((8, 8, 8, 3), np.nan, np.float32)
    loop, _, state = _loop(tmp_path, images)
    with pytest.raises(TrainingError, match=r"NaN or infinite.*last good checkpoint is none yet.*--child_lr"):
        loop.run()
    assert state.manager.latest_checkpoint is None


def test_rerun_after_completion_does_nothing(tmp_path):
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype(np.float32)
    loop, _, _ = _loop(tmp_path, images)
    loop.run()
    loop2, task2, state2 = _loop(tmp_path, images)
    assert state2.restore_latest()
    assert loop2.run() == {}
    assert int(state2.global_step) == 4 and task2.evaluated == []
