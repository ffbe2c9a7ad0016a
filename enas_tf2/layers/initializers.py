"""Weight initialisers of the original child networks (ENAS_SPEC.md 3.6)."""

from __future__ import annotations

import keras


def he_normal(seed: int | None = None) -> keras.initializers.Initializer:
    """He-normal with fan_in from the stored kernel shape, as TF1 Keras' `he_normal`.

    Keras computes fan_in of a conv kernel `[kh, kw, c_in, c_out]` as `kh*kw*c_in`
    and of a depthwise kernel `[kh, kw, c, 1]` as `kh*kw*c`, which is what the
    original used for every child weight.
    """
    return keras.initializers.HeNormal(seed=seed)
