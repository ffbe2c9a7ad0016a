"""The image child trainer: the auxiliary loss's weight and the aux head left untrained (Q-10)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from enas_tf2.layers.aux_head import AUX_LOSS_WEIGHT
from enas_tf2.tasks.image_trainer import ImageChildTrainer


class TwoHeads(keras.Model):
    """Logits `x.w` and aux logits `x.u`, to check the trainer's loss weighting."""

    def __init__(self):
        super().__init__(name="two_heads")
        self.w = self.add_weight(shape=(3, 4), initializer="random_normal", name="w")
        self.aux_head = keras.layers.Dense(4, use_bias=False, name="aux")
        self.aux_head.build((None, 3))

    def call(self, x, arc=None, training=None, return_aux=False):
        logits = tf.matmul(x, self.w)
        return (logits, self.aux_head(x)) if return_aux else logits


def test_trainer_adds_the_aux_loss_with_weight_0_4():
    model = TwoHeads()
    model.build((None, 3))
    x = tf.random.normal([5, 3])
    y = tf.constant([0, 1, 2, 3, 0])
    u_before = model.aux_head.kernel.numpy().copy()
    with tf.GradientTape() as tape:
        aux_ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model.aux_head(x)))
    expected_u_grad = AUX_LOSS_WEIGHT * tape.gradient(aux_ce, model.aux_head.kernel).numpy()
    trainer = ImageChildTrainer(model, keras.optimizers.SGD(1.0), l2_reg=0.0)
    logs = trainer.train_step((x, y))
    np.testing.assert_allclose(float(logs["aux_loss"]), float(aux_ce), rtol=1e-5)
    np.testing.assert_allclose(u_before - model.aux_head.kernel.numpy(), expected_u_grad, rtol=1e-4, atol=1e-6)
    assert AUX_LOSS_WEIGHT == 0.4
