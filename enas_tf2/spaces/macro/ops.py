"""The macro space's six ops (`arch.MACRO_OPS`), in their search and fixed forms.

Search (ENAS_SPEC.md 4.2): `1x1 conv -> BN -> ReLU`, then either a `k x k` conv or separable
conv `-> BN(eps 1e-3) -> ReLU` (ops 0-3), or a 3x3 stride-1 pool (ops 4, 5). Fixed (spec 4.3):
`ReLU -> 1x1 conv -> BN -> ReLU -> k x k conv -> BN` with *regular* convs for the separable ops
too (Q-3). The original cannot build the pools in fixed mode; here they are
`ReLU -> 1x1 conv -> BN -> pool`, the spec's recommendation, so every searched arc trains.

Each op is registered once (`MACRO_OPS.register`); a builder takes `(filters, fixed, name)`.
"""

from __future__ import annotations

import keras

from enas_tf2.arch import MACRO_OPS
from enas_tf2.layers.conv import ConvBN

#: The macro search's "masked" BN after the k x k conv uses epsilon 1e-3 (spec 3.1).
MASKED_BN_EPSILON = 1e-3


@keras.saving.register_keras_serializable(package="enas_tf2")
class MacroBranch(keras.layers.Layer):
    """One candidate op of a macro layer, in its search or fixed form.

    Args:
        filters: output channels.
        kernel_size: the conv op's `k` (None for a pool op).
        separable: the search form's conv is separable (ops 1 and 3).
        pool: "avg" or "max" for a pool op, None for a conv op.
        fixed: build the fixed-network form.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | None = None,
        separable: bool = False,
        pool: str | None = None,
        fixed: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (kernel_size is None) == (pool is None) or pool not in (None, "avg", "max"):
            raise ValueError(
                "MacroBranch is a conv op (kernel_size) or a pool op (pool='avg' or 'max'). "
                f"Received: kernel_size={kernel_size}, pool={pool!r}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.separable = separable
        self.pool_kind = pool
        self.fixed = fixed
        self.inp_conv = ConvBN(filters, 1, relu_before=fixed, relu_after=not fixed, name="inp_conv")
        self.out_conv = None
        self.pool = None
        if kernel_size is not None:
            if fixed:
                self.out_conv = ConvBN(filters, kernel_size, relu_before=True, name="out_conv")
            else:
                self.out_conv = ConvBN(
                    filters, kernel_size, separable=separable, relu_after=True, bn_epsilon=MASKED_BN_EPSILON,
                    name="out_conv",
                )
        else:
            pool_cls = keras.layers.AveragePooling2D if pool == "avg" else keras.layers.MaxPooling2D
            self.pool = pool_cls(pool_size=3, strides=1, padding="same", name="pool")

    def build(self, input_shape):
        self.inp_conv.build(input_shape)
        hidden_shape = self.inp_conv.compute_output_shape(input_shape)
        if self.out_conv is not None:
            self.out_conv.build(hidden_shape)

    def call(self, inputs, training=None):
        x = self.inp_conv(inputs, training=training)
        if self.out_conv is not None:
            return self.out_conv(x, training=training)
        return self.pool(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, separable=self.separable, pool=self.pool_kind,
            fixed=self.fixed,
        )
        return config


def _register(name: str, **branch_kwargs) -> None:
    def build(filters: int, fixed: bool = False, **kwargs) -> MacroBranch:
        return MacroBranch(filters, fixed=fixed, **branch_kwargs, **kwargs)

    MACRO_OPS.register(name)(build)


_register("conv_3x3", kernel_size=3)
_register("sep_conv_3x3", kernel_size=3, separable=True)
_register("conv_5x5", kernel_size=5)
_register("sep_conv_5x5", kernel_size=5, separable=True)
_register("avg_pool_3x3", pool="avg")
_register("max_pool_3x3", pool="max")
