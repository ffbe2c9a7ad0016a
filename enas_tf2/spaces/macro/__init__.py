"""The CIFAR-10 macro search space: the supernet (search) and the fixed network (final).

A macro network is a stem, `L` layers and a classifier (ENAS_SPEC.md 4). Layer `l` applies one
of the six ops of `arch.MACRO_OPS` (`ops`) to the previous node and may add skip connections
from any earlier node (bit `j` refers to node `j`: the stem for `j = 0`, the output of layer
`j - 1` otherwise). `supernet` holds every op and takes the arc as a tensor; `network` builds
one arc's ops only; `base` is what they share.
"""

from enas_tf2.spaces.macro.base import MacroBase, macro_pool_layers
from enas_tf2.spaces.macro.network import MacroFixedLayer, MacroNetwork
from enas_tf2.spaces.macro.ops import MASKED_BN_EPSILON, MacroBranch
from enas_tf2.spaces.macro.supernet import MacroSearchLayer, MacroSupernet

__all__ = [
    "MASKED_BN_EPSILON",
    "MacroBase",
    "MacroBranch",
    "MacroFixedLayer",
    "MacroNetwork",
    "MacroSearchLayer",
    "MacroSupernet",
    "macro_pool_layers",
]
