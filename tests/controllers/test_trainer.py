"""`ControllerTrainer.from_config`: the trainer a search builds from its `ControllerConfig`."""

from __future__ import annotations

import pytest
import tensorflow as tf

from enas_tf2.configs.run import ControllerConfig
from enas_tf2.controllers.macro import MacroController
from enas_tf2.controllers.trainer import ADAM_BETA_1, ADAM_EPSILON, ControllerTrainer


def test_from_config_takes_every_setting_and_the_adam_of_the_reference():
    config = ControllerConfig(learning_rate=2e-3, bl_dec=0.9, entropy_weight=1e-4, num_aggregate=3, l2_reg=1e-5)
    trainer = ControllerTrainer.from_config(config, MacroController(num_layers=2, lstm_size=4),
                                            reward_fn=lambda arc: tf.constant(0.5), seed=1)
    assert (trainer.bl_dec, trainer.entropy_weight, trainer.num_aggregate, trainer.l2_reg) == (0.9, 1e-4, 3, 1e-5)
    assert float(trainer.optimizer.beta_1) == ADAM_BETA_1 and float(trainer.optimizer.epsilon) == ADAM_EPSILON
    assert float(trainer.optimizer.learning_rate.numpy()) == pytest.approx(2e-3)
    # enas_lm's controller: Adam with TensorFlow's defaults.
    enas_lm = ControllerTrainer.from_config(ControllerConfig(learning_rate=5e-5, tf_adam=True),
                                            MacroController(num_layers=2, lstm_size=4), reward_fn=None)
    assert (float(enas_lm.optimizer.beta_1), float(enas_lm.optimizer.epsilon)) == (0.9, 1e-8)
    logs = trainer.train_step()
    assert int(trainer.optimizer.iterations.numpy()) == 1 and float(logs["accuracy"]) == pytest.approx(0.5)
