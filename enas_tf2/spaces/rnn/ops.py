"""The PTB cell's four activations (`arch.PTB_ACTIVATIONS`), registered by name.

Canonical ids are the original encoding's (0 tanh, 1 ReLU, 2 identity, 3 sigmoid); enas_lm's
encoding orders them differently (`arch.ENAS_LM_ACTIVATION_IDS`). A builder is the activation
function itself; `activation` applies one by a Python id (fixed cells), `switch_activation`
by an id tensor (the supernet cell, through `layers.op_choice.switch_op`).
"""

from __future__ import annotations

import tensorflow as tf

from enas_tf2.arch import PTB_ACTIVATIONS
from enas_tf2.layers.op_choice import switch_op

PTB_ACTIVATIONS.register("tanh")(tf.tanh)
PTB_ACTIVATIONS.register("relu")(tf.nn.relu)
PTB_ACTIVATIONS.register("identity")(tf.identity)
PTB_ACTIVATIONS.register("sigmoid")(tf.sigmoid)


def activation(x: tf.Tensor, activation_id: int) -> tf.Tensor:
    """Applies canonical activation `activation_id` (0 tanh, 1 relu, 2 identity, 3 sigmoid).

    Example:
        >>> activation(tf.constant([-1.0, 2.0]), 1).numpy()
        array([0., 2.], dtype=float32)
    """
    return PTB_ACTIVATIONS.build(activation_id, x)


def switch_activation(x: tf.Tensor, activation_id: tf.Tensor) -> tf.Tensor:
    """Applies the canonical activation chosen by an int32 scalar tensor, via `tf.switch_case`.

    Example:
        >>> switch_activation(tf.constant([-1.0, 2.0]), tf.constant(2)).numpy()
        array([-1.,  2.], dtype=float32)
    """
    fns = [PTB_ACTIVATIONS.builder(op_id) for op_id in range(len(PTB_ACTIVATIONS))]
    return switch_op(activation_id, [(lambda fn=fn: fn(x)) for fn in fns])
