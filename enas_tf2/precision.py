"""`--precision`: float32, or a Keras mixed-precision policy for the child network.

Why only the child: the convolutions and matmuls of the child are where the time goes, and
reduced-precision units (bf16 on AMX / AVX512-BF16 CPUs and recent GPUs, float16 on GPUs) run
wide ones 2x or more faster (thin ones can be slower: BUILD.md, "Reduced precision", has the
measurements). Separable convolutions stay float32 (`layers/conv.py`). Everything whose accuracy matters more than its cost stays float32:
the variables themselves (Keras' mixed policies keep float32 weights and cast them per call),
batch-norm statistics (`layers/batch_norm.py` normalises in float32 arithmetic), the logits the
loss and softmax read (`float32_logits`), the loss, the controller (built outside the policy)
and an export's inputs and outputs. float16's narrow range needs loss scaling:
`wrap_optimizer` puts the child optimizer in Keras' `LossScaleOptimizer`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras
import tensorflow as tf

from enas_tf2.configs.run import PRECISIONS, check_precision

#: CPU flags (/proc/cpuinfo) that mean bf16 matmul/convolution units oneDNN uses.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def check(precision: str) -> str:
    """`precision` if it is one of `PRECISIONS`, else a FlagError (a ValueError) that names them."""
    check_precision(precision)
    return precision


#: The policy of dense (not separable) convolutions inside a `convolutions_only` scope, else None.
_convolution_policy: str | None = None


@contextlib.contextmanager
def policy_scope(precision: str, convolutions_only: bool = False) -> Iterator[None]:
    """Layers created inside take `precision`'s Keras dtype policy; the previous global one returns after.

    Keras reads the global policy when a layer is constructed, so a network built inside keeps its
    policy for good, and nothing built elsewhere (the controller) is affected.

    `convolutions_only`: the layers stay float32 and only dense convolutions (those built with
    `dtype=convolution_dtype()`) compute in `precision`. For a network made mostly of float32
    separable convolutions (the micro space) this cuts the casts by two thirds: in a 16-bit network
    every separable block casts in and out (1,138 casts a micro final step, 1.6 s of op time),
    while float32 layers cast only around the dense convolutions (357, 0.7 s). Micro final b144 on
    an AMX CPU (BUILD.md, "Reduced precision"): float32 8.34 s a step, convolutions only 8.03 s.
    """
    global _convolution_policy
    previous, previous_convolution = keras.config.dtype_policy(), _convolution_policy
    keras.config.set_dtype_policy("float32" if convolutions_only else check(precision))
    _convolution_policy = check(precision) if convolutions_only else None
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
        _convolution_policy = previous_convolution


def convolution_dtype() -> str | None:
    """The `dtype` argument of a dense convolution: the precision of a `convolutions_only` scope.

    None (the layer takes the global policy) elsewhere.
    """
    return _convolution_policy


def float32_logits(logits: tf.Tensor) -> tf.Tensor:
    """The logits in float32 (a no-op for float32 networks): softmax and loss never run in 16 bits."""
    return tf.cast(logits, tf.float32) if logits.dtype != tf.float32 else logits


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """Keras' dynamic `LossScaleOptimizer` around `optimizer` for mixed_float16; `optimizer` otherwise."""
    if check(precision) == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def loss_scale(optimizer: keras.optimizers.Optimizer) -> tf.Tensor | None:
    """The factor the loss is multiplied by before differentiation; None without loss scaling
    (so that a float32 step's graph has no extra op)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return tf.convert_to_tensor(optimizer.dynamic_scale, tf.float32)
    return None


def scaled(value, loss_scaling: tf.Tensor | None):
    """`value * loss_scaling` (a loss, an L2 factor, a clip bound); `value` itself without loss scaling."""
    return value if loss_scaling is None else value * loss_scaling


def unscaled(value, loss_scaling: tf.Tensor | None):
    """`value / loss_scaling` (a scaled gradient norm, for the logs); `value` itself without loss scaling."""
    return value if loss_scaling is None else value / loss_scaling


def bf16_units() -> str | None:
    """Which bf16 units this machine has ("GPU", "amx_bf16", "avx512_bf16"), or None.

    Read from the GPU list and, on Linux, from /proc/cpuinfo; None also when it cannot tell.
    """
    if tf.config.list_physical_devices("GPU"):
        return "GPU"
    try:
        with open("/proc/cpuinfo") as f:
            words = set(f.read().split())
    except OSError:
        return None
    for flag in reversed(BF16_CPU_FLAGS):  # AMX first: it is the faster of the two
        if flag in words:
            return flag
    return None


def bf16_units_note(precision: str) -> str:
    """The bench's "bf16 units" row: the units, or "none" (with a warning for a mixed_bfloat16 run)."""
    units = bf16_units()
    if units:
        return units
    return "none: mixed_bfloat16 runs emulated, slower than float32" if precision == "mixed_bfloat16" else "none"


def describe(precision: str) -> str:
    """One log line: the policy and whether this machine has units for it."""
    if precision == "float32":
        return "Precision: float32."
    if precision == "mixed_bfloat16":
        units = bf16_units()
        where = f"bf16 units: {units}" if units else "this machine has no bf16 units, so expect it to be slower"
        return f"Precision: mixed_bfloat16 (float32 weights, bfloat16 arithmetic; {where})."
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    where = "on GPU" if has_gpu else "no GPU: float16 arithmetic on a CPU is usually slower than float32"
    return f"Precision: mixed_float16 (float32 weights, float16 arithmetic, dynamic loss scaling; {where})."


__all__ = ["PRECISIONS", "bf16_units", "bf16_units_note", "check", "convolution_dtype", "describe", "float32_logits", "loss_scale", "policy_scope", "scaled", "unscaled",
           "wrap_optimizer"]
