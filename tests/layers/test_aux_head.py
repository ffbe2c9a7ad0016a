"""The micro networks' auxiliary head (ENAS_SPEC.md 5.5)."""

from __future__ import annotations

import tensorflow as tf

from enas_tf2.layers.aux_head import AuxHead
from enas_tf2.tasks.base import count_params as count


def test_aux_head_shapes_and_parameters():
    head = AuxHead(10)
    head.build((None, 8, 8, 720))
    assert head(tf.zeros([2, 8, 8, 720])).shape == (2, 10)
    # 1x1 conv 720*128, BN 2*128, 2x2 conv 2*2*128*768, BN 2*768, dense 768*10 (spec 5.3).
    assert count(head.trainable_variables) == 494_848
    assert tuple(head.conv.kernel.shape) == (2, 2, 128, 768)
