"""Seeded random architectures, for final networks of a shape the original scripts' arcs do not fit.

A final preset times the script's own architecture. When the bench's overrides change the shape
the arc depends on (macro: the layer count; micro: the blocks per cell; PTB: the nodes of the
cell), no original arc exists, and a seeded random one of that shape stands in (and the targets,
set for the script's arc, no longer apply).
"""

from __future__ import annotations

import numpy as np

from enas_tf2 import arch


def random_macro_arc(num_layers: int, num_branches: int, seed: int) -> arch.MacroArc:
    """A macro arc: one op of `num_branches` per layer, each earlier node skipped in with probability 1/2."""
    rng = np.random.default_rng(seed)
    flat = []
    for layer in range(num_layers):
        flat.append(int(rng.integers(num_branches)))
        flat.extend(int(bit) for bit in rng.integers(2, size=layer))
    return arch.MacroArc.from_flat(flat, num_branches)


def random_micro_arc(num_blocks: int, seed: int) -> arch.MicroArc:
    """A micro arc: normal and reduction cells of `num_blocks` blocks, two (input, op) slots each."""
    rng = np.random.default_rng(seed)
    flat = []
    for _cell in range(2):
        for block in range(num_blocks):
            for _slot in range(2):
                flat += [int(rng.integers(block + 2)), int(rng.integers(len(arch.MICRO_OPS)))]
    return arch.MicroArc.from_flat(flat)


def random_ptb_arc(num_nodes: int, seed: int) -> arch.PtbArc:
    """A recurrent cell of `num_nodes` nodes with tanh at node 0 (so both encodings express it)."""
    rng = np.random.default_rng(seed)
    predecessors = (arch.PTB_CELL_INPUT,) + tuple(int(rng.integers(node)) for node in range(1, num_nodes))
    activations = (arch.PTB_ACTIVATIONS.id_of("tanh"),) + tuple(
        int(rng.integers(len(arch.PTB_ACTIVATIONS))) for _ in range(1, num_nodes)
    )
    return arch.PtbArc(activations=activations, predecessors=predecessors)
