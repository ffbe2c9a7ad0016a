"""The CIFAR-10 micro (cell) search space: the supernet (search) and the fixed network (final).

A micro network is a stem, `num_layers + 2` cells and a classifier (ENAS_SPEC.md 5). Every cell
reads the outputs of the two cells before it (nodes 0 and 1) and adds `B` blocks; block `k`
(node `k + 2`) sums two of the five ops of `arch.MICRO_OPS` (`ops`), each applied to any
earlier node. `supernet` holds every op of every slot and takes the arc as a tensor; `network`
builds one arc's ops only; `base` is what they share.
"""

from enas_tf2.spaces.micro.base import CellInputs, MicroBase, micro_pool_layers
from enas_tf2.spaces.micro.network import MicroFixedCell, MicroNetwork
from enas_tf2.spaces.micro.ops import IdentityOp, PerInputSepConvOp, PoolOp, SepConvOp
from enas_tf2.spaces.micro.supernet import MicroSearchCell, MicroSearchSlot, MicroSupernet, loose_end_mask

__all__ = [
    "CellInputs",
    "IdentityOp",
    "MicroBase",
    "MicroFixedCell",
    "MicroNetwork",
    "MicroSearchCell",
    "MicroSearchSlot",
    "MicroSupernet",
    "PerInputSepConvOp",
    "PoolOp",
    "SepConvOp",
    "loose_end_mask",
    "micro_pool_layers",
]
