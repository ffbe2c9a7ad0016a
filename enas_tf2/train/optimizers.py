"""The child optimiser: Keras' Nesterov SGD with a one-op update per weight."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="enas_tf2")
class MomentumSGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose momentum update is TensorFlow's fused kernel.

    Keras writes the momentum update as about ten graph ops per weight
    (`m = momentum*m - lr*g`, then `w += momentum*m - lr*g` for Nesterov).
    `ResourceApplyKerasMomentum` computes exactly that in one op. A micro
    supernet has over a thousand weight tensors, so this removes some ten
    thousand ops from the traced step, which shortens its tracing and graph
    optimisation. Slots, configuration and checkpoints are Keras' own, so the
    two optimisers are interchangeable (the tests check identical updates).
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or keras.backend.backend() != "tensorflow":
            return super().update_step(gradient, variable, learning_rate)
        momentum = self.momentums[self._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle,
            accum=momentum.handle,
            lr=tf.cast(learning_rate, variable.dtype),
            grad=tf.cast(gradient, variable.dtype),
            momentum=tf.cast(self.momentum, variable.dtype),
            use_nesterov=self.nesterov,
        )
