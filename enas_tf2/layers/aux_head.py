"""The micro networks' auxiliary classifier (ENAS_SPEC.md 5.5)."""

from __future__ import annotations

import keras
import tensorflow as tf

from enas_tf2.layers.batch_norm import BatchNorm
from enas_tf2.layers.initializers import he_normal
from enas_tf2.precision import convolution_dtype

#: The auxiliary loss is added with this weight (spec 5.5).
AUX_LOSS_WEIGHT = 0.4


@keras.saving.register_keras_serializable(package="enas_tf2")
class AuxHead(keras.layers.Layer):
    """`ReLU -> avgpool 5x5/3 VALID -> 1x1 conv 128 -> BN -> ReLU -> conv kxk 768 SAME -> BN -> ReLU -> GAP -> dense`.

    The second conv's kernel covers the whole pooled map (2x2 for an 8x8
    input), but with SAME padding, so the map stays 2x2 and is then averaged:
    the original's quirk (Q-10), kept so that parameter counts and behaviour
    match. The BNs always use batch statistics: the head only runs in training.

    Whether its weights are trained is the caller's choice: the original
    leaves them out of the optimiser's variable list (Q-10), so they keep their
    random initialisation while the auxiliary loss still trains the trunk.

    Args:
        num_classes: logits produced.

    Call arguments:
        inputs: `[batch, h, w, c]` with `h, w >= 5` (8x8 in every script).

    Returns:
        `[batch, num_classes]` logits.
    """

    def __init__(self, num_classes: int = 10, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.pool = keras.layers.AveragePooling2D(pool_size=5, strides=3, padding="valid", name="pool")
        self.proj_conv = keras.layers.Conv2D(
            128, 1, use_bias=False, kernel_initializer=he_normal(), name="proj_conv", dtype=convolution_dtype()
        )
        self.proj_bn = BatchNorm(name="proj_bn")
        self.conv = None
        self.bn = BatchNorm(name="bn")
        self.classifier = keras.layers.Dense(
            num_classes, use_bias=False, kernel_initializer=he_normal(), name="classifier"
        )

    def build(self, input_shape):
        pooled = self.pool.compute_output_shape(input_shape)
        if pooled[1] is None or pooled[1] < 1 or pooled[2] < 1:
            raise ValueError(f"AuxHead needs at least a 5x5 input map. Received: input_shape={input_shape}")
        self.proj_conv.build(pooled)
        projected = tuple(pooled[:-1]) + (128,)
        self.proj_bn.build(projected)
        self.conv = keras.layers.Conv2D(
            768,
            (pooled[1], pooled[2]),
            padding="same",
            use_bias=False,
            kernel_initializer=he_normal(),
            name="conv",
            dtype=convolution_dtype(),
        )
        self.conv.build(projected)
        self.bn.build(tuple(pooled[:-1]) + (768,))
        self.classifier.build((input_shape[0], 768))

    def call(self, inputs, training=None):
        x = self.pool(tf.nn.relu(inputs))
        x = tf.nn.relu(self.proj_bn(self.proj_conv(x), training=True))
        x = tf.nn.relu(self.bn(self.conv(x), training=True))
        return self.classifier(tf.reduce_mean(x, axis=[1, 2]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes)
        return config
