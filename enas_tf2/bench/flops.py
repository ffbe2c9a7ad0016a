"""Counted FLOPs of a macro final network: a floor the measured step time is compared with.

A step time says how fast the network runs, not how fast it could run. Counting the FLOPs of
what dominates a step and pricing them at the reference matmul's rate gives the time of
convolutions running exactly as fast as that matmul: a floor for any direct (non-Winograd,
non-FFT) convolution algorithm, and so how much of the step is overhead.
"""

from __future__ import annotations

from enas_tf2 import arch
from enas_tf2.spaces.macro import macro_pool_layers

#: Macro op ids below this are convolutions (the rest are pools, which have no multiply-adds).
_NUM_CONV_OPS = 4
#: Kernel side of each convolution op id (3x3 and its separable form, then 5x5 and its separable form).
_CONV_KERNEL = (3, 3, 5, 5)


def macro_network_forward_flops(final_arc: arch.MacroArc, out_filters: int, image_size: int = 32,
                                num_classes: int = 10, channels: int = 3) -> int:
    """Multiply-add FLOPs (2 per MAC) of one image through a `MacroNetwork`'s convs and classifier.

    Counts what dominates a step (convolutions, factorized reductions, the dense layer; not BN,
    ReLU or pooling). A training step costs about 3x this per image (forward, input gradient,
    weight gradient), so `3 * flops * batch` divided by the reference matmul's `2 * n^3` FLOPs is
    the step time in units that convolutions running exactly as fast as the reference matmul
    would give.
    """
    filters, size = out_filters, image_size
    flops = size * size * 3 * 3 * channels * filters * 2  # stem: a 3x3 conv
    pool_layers = macro_pool_layers(final_arc.num_layers)
    for layer_id, op_id in enumerate(final_arc.ops):
        flops += size * size * filters * filters * 2  # 1x1 input conv
        if op_id < _NUM_CONV_OPS:
            kernel = _CONV_KERNEL[op_id]
            flops += size * size * kernel * kernel * filters * filters * 2
        if layer_id > 0:
            concat = len(final_arc.skip_sources(layer_id)) + 1
            flops += size * size * concat * filters * filters * 2
        if layer_id in pool_layers:
            # Every node so far (stem + layers 0..layer_id) is reduced to 2F at half size.
            flops += (layer_id + 2) * (size // 2) ** 2 * filters * (2 * filters) * 2
            filters, size = 2 * filters, size // 2
    return flops + filters * num_classes * 2
