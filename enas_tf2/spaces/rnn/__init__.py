"""The recurrent-cell space (Penn Treebank or any corpus): language models for search and final training.

A child is a one-layer recurrent language model (ENAS_PTB_SPEC.md 1.4, ENAS_SPEC.md 8.1):
embedding -> the ENAS cell over the window -> tied softmax. `cells` holds the supernet and fixed
cells (their nodes' activations are `arch.PTB_ACTIVATIONS`, built by `ops`), `models` the
language models around them (`PtbSupernet`, `PtbNetwork`), `losses` the losses and regularisers,
`arc_tensor` the supernet's architecture tensor, `batch_norm` the original's search BN.
"""

from enas_tf2.spaces.rnn.arc_tensor import output_weights, ptb_arc_rows, ptb_arc_rows_from_flat
from enas_tf2.spaces.rnn.batch_norm import PTB_BN_EPSILON, PTB_BN_MOMENTUM, PtbBatchNorm
from enas_tf2.spaces.rnn.cells import (
    NUM_PTB_ACTIVATIONS,
    PTB_CELL_OUTPUTS,
    PTB_IMPLS,
    PtbFixedCell,
    PtbSearchCell,
    check_ptb_impl,
    default_cell_output,
)
from enas_tf2.spaces.rnn.losses import (
    activation_regularizer,
    ptb_train_loss,
    slowness_regularizer,
    token_cross_entropy,
)
from enas_tf2.spaces.rnn.models import (
    PTB_VOCAB_SIZE,
    PtbNetwork,
    PtbSupernet,
    ptb_num_params,
)

__all__ = [
    "NUM_PTB_ACTIVATIONS",
    "PTB_BN_EPSILON",
    "PTB_BN_MOMENTUM",
    "PTB_CELL_OUTPUTS",
    "PTB_IMPLS",
    "PTB_VOCAB_SIZE",
    "PtbBatchNorm",
    "PtbFixedCell",
    "PtbNetwork",
    "PtbSearchCell",
    "PtbSupernet",
    "activation_regularizer",
    "check_ptb_impl",
    "default_cell_output",
    "output_weights",
    "ptb_arc_rows",
    "ptb_arc_rows_from_flat",
    "ptb_num_params",
    "ptb_train_loss",
    "slowness_regularizer",
    "token_cross_entropy",
]
