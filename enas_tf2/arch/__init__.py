"""Architecture encodings: parse, validate, format and describe one arc per search space.

An architecture ("arc") is plain data that can be pasted from one run into the next (the
DARTS `genotypes.py` habit): the search prints it, the final-training script takes it as
`--child_fixed_arc`, and the supernet receives the same flat integer list as an int32 tensor.
Each search space has one frozen dataclass, in a module of its own, with the same interface:

* `parse(text)` / `from_flat(values)`: build from the original's flat encoding (a string, or
  the int32 array a controller sampled), raising `ArcError` with the bad token, its position
  and the expected form;
* `validate()`, `to_flat()`, `to_array()`, `str()` (the original's one-line format, so
  `parse(str(arc)) == arc`) and `describe()` (one row per layer / cell, as the original prints).

Each space also owns its op registry (`MACRO_OPS`, `MICRO_OPS`, `PTB_ACTIVATIONS`,
`enas_tf2.registry`): the op names in id order, which every other part of the project reads.

This package is pure Python + NumPy: it never imports TensorFlow or Keras, so flags, tests and
export code can handle arcs without building a graph.

Modules: `macro` (CIFAR "general" space, ENAS_SPEC.md 2.1, `MacroArc`), `micro` (CIFAR cell
space, 2.2, `MicroArc` of two `MicroCell`s), `ptb` (the recurrent cell, 2.3 and ENAS_PTB_SPEC.md
2.2/3.1, `PtbArc`, in both the original and the enas_lm encoding) and `tokens` (the token rules
they share).
"""

from enas_tf2.arch.macro import (
    MACRO_FINAL_ARC,
    MACRO_NUM_BRANCHES,
    MACRO_OP_NAMES,
    MACRO_OPS,
    MacroArc,
    macro_arc_length,
    macro_layer_offset,
)
from enas_tf2.arch.micro import (
    MICRO_CELL_NAMES,
    MICRO_FINAL_ARC,
    MICRO_NORMAL_FINAL_ARC,
    MICRO_OP_NAMES,
    MICRO_OPS,
    MICRO_REDUCE_FINAL_ARC,
    MicroArc,
    MicroCell,
    micro_arc_length,
    micro_cell_length,
)
from enas_tf2.arch.ptb import (
    ENAS_LM_ACTIVATION_IDS,
    PTB_ACTIVATION_NAMES,
    PTB_ACTIVATIONS,
    PTB_ARC_FORMATS,
    PTB_CELL_INPUT,
    PTB_DARTS_ARC,
    PTB_ENAS_LM_ACTIVATION_NAMES,
    PTB_ENAS_LM_ARC,
    PTB_FINAL_ARC,
    PtbArc,
    detect_ptb_arc_format,
    ptb_arc_format_of,
    ptb_arc_length,
)

__all__ = [
    "ENAS_LM_ACTIVATION_IDS",
    "MACRO_FINAL_ARC",
    "MACRO_NUM_BRANCHES",
    "MACRO_OPS",
    "MACRO_OP_NAMES",
    "MICRO_CELL_NAMES",
    "MICRO_FINAL_ARC",
    "MICRO_NORMAL_FINAL_ARC",
    "MICRO_OPS",
    "MICRO_OP_NAMES",
    "MICRO_REDUCE_FINAL_ARC",
    "PTB_ACTIVATIONS",
    "PTB_ACTIVATION_NAMES",
    "PTB_ARC_FORMATS",
    "PTB_CELL_INPUT",
    "PTB_DARTS_ARC",
    "PTB_ENAS_LM_ACTIVATION_NAMES",
    "PTB_ENAS_LM_ARC",
    "PTB_FINAL_ARC",
    "MacroArc",
    "MicroArc",
    "MicroCell",
    "PtbArc",
    "detect_ptb_arc_format",
    "macro_arc_length",
    "macro_layer_offset",
    "micro_arc_length",
    "micro_cell_length",
    "ptb_arc_format_of",
    "ptb_arc_length",
]
