"""A third task in a few dozen lines: the one run lifecycle, loop and search serve it unchanged.

The toy problem is regression: a two-layer network whose two activations are searched (identity,
ReLU or tanh each), its own controller (independent categorical choices), its own train step and
reward (`1 / (1 + MSE)`). Nothing here touches images, text, the CIFAR or PTB trainers.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2 import run as run_lib
from enas_tf2.configs.run import ControllerConfig, RunConfig
from enas_tf2.controllers import reinforce
from enas_tf2.layers.op_choice import OpChoice
from enas_tf2.tasks.base import Metric, Task

ACTIVATIONS = ("linear", "relu", "tanh")


class ToySupernet(keras.Model):
    def __init__(self):
        super().__init__(name="child")
        self.dense = [keras.layers.Dense(8), keras.layers.Dense(1)]
        self.choices = [OpChoice([keras.layers.Activation(a) for a in ACTIVATIONS]) for _ in range(2)]

    def call(self, x, arc=None, training=None):
        return self.choices[1](self.dense[1](self.choices[0](self.dense[0](x), arc[0])), arc[1])


class ToyController(keras.Model):
    arc_length, skip_weight = 2, 0.0

    def __init__(self):
        super().__init__(name="controller")
        self.logits = self.add_weight(shape=(2, len(ACTIVATIONS)), initializer="zeros", name="logits")

    def sample(self, rng=None, forced_arc=None):
        arc = reinforce.sample_categorical(self.logits, rng) if forced_arc is None else forced_arc
        nll = reinforce.decision_nll(self.logits, arc)
        zero = tf.constant(0.0)
        return dict(arc=arc, log_prob=-tf.reduce_sum(nll), entropy=tf.reduce_sum(reinforce.sampled_entropy(nll)),
                    skip_penalty=zero, skip_rate=zero)


class ToyTrainer:
    def __init__(self, model, sample_arc):
        self.model, self.sample_arc = model, sample_arc
        self.optimizer = keras.optimizers.SGD(0.05)
        self.optimizer.build(model.trainable_variables)
        self.nonfinite = tf.Variable(False)
        self.train_step = tf.function(self._train_step)
        self.score_arc = tf.function(self.score_batch)

    def _train_step(self, x, y):
        arc = self.sample_arc()
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.model(x, arc=arc) - y))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        self.nonfinite.assign(tf.logical_or(self.nonfinite, tf.logical_not(tf.math.is_finite(loss))))
        return {"loss": loss, "arc": arc}

    def score_batch(self, x, y, arc):
        return 1.0 / (1.0 + tf.reduce_mean(tf.square(self.model(x, arc=arc) - y)))


class ToyRegressionTask(Task):
    name = "toy_regression"
    metric = Metric("mse", from_reward=lambda reward: 1.0 / reward - 1.0)

    def __init__(self, output_dir: str, num_epochs: int = 4, train_every: int = 1):
        self.run_config = RunConfig(output_dir=output_dir, num_epochs=num_epochs, seed=0, log_every=5,
                                    derive_samples=6)
        self.controller_config = ControllerConfig(learning_rate=0.05, num_aggregate=2, train_steps=3,
                                                  train_every=train_every)

    def load_data(self):
        x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
        self.x, self.y = x, np.tanh(x.sum(axis=1, keepdims=True)).astype(np.float32)

    def _batches(self):
        return tf.data.Dataset.from_tensor_slices((self.x, self.y)).batch(16, drop_remainder=True)

    def build_child(self):
        model = ToySupernet()
        model(tf.zeros([1, 4]), arc=tf.zeros([2], tf.int32))
        return model

    def build_controller(self):
        return ToyController()

    def build_child_trainer(self, child, sample_arc, strategy):
        self.trainer = ToyTrainer(child, sample_arc)
        return self.trainer

    def reward_batches(self):
        return iter(self._batches().repeat())

    def derive_batch(self):
        return next(iter(self._batches()))

    def steps_per_epoch(self):
        return 4

    def epoch_inputs(self, epoch, start=0):
        return list(self._batches())[start:]

    def evaluate(self, epoch, step):
        x, y = self.derive_batch()
        return {"valid_reward": float(self.trainer.score_arc(x, y, self.trainer.sample_arc()))}


def test_a_toy_task_searches_with_the_unchanged_lifecycle_loop_and_search(tmp_path):
    logging.set_verbosity(logging.INFO)  # as the programs run (the run's stdout file keeps INFO lines)
    task = ToyRegressionTask(str(tmp_path / "run"))
    assert run_lib.run(task) is None  # a search's result is final_arc.txt

    lines = (tmp_path / "run" / "final_arc.txt").read_text().splitlines()
    arc = [int(token) for token in lines[0].split()]
    assert len(arc) == 2 and all(0 <= op < len(ACTIVATIONS) for op in arc)
    assert lines[1].startswith("# best of 6 sampled architectures on one validation batch: mse=")
    log = (tmp_path / "run" / "stdout").read_text()
    assert log.count("Here are 10 architectures") == 4  # a controller phase after every epoch
    assert task.trainer.train_step.experimental_get_tracing_count() == 1  # one trace for every arc
    assert "eval/valid_reward" in _tags(tmp_path / "run") and "controller/reward" in _tags(tmp_path / "run")

    # A rerun of the same command resumes the finished run: nothing left to train, derived again.
    again = ToyRegressionTask(str(tmp_path / "run"))
    run_lib.run(again)
    assert "All 16 steps (4 epochs) are done already" in (tmp_path / "run" / "stdout").read_text()
    assert int(again.trainer.optimizer.iterations.numpy()) == 16


def test_a_search_too_short_for_any_controller_phase_warns(tmp_path):
    logging.set_verbosity(logging.INFO)
    run_lib.run(ToyRegressionTask(str(tmp_path / "run"), num_epochs=1, train_every=2))
    log = (tmp_path / "run" / "stdout").read_text()
    assert "--num_epochs=1 is below --controller_train_every=2: the controller will never be trained" in log
    assert "Here are 10 architectures" not in log


def _tags(output_dir) -> set[str]:
    from runs import event_tags

    return event_tags(output_dir)
