"""Checkpoints keep every weight of every network: a saved run restores to exactly the same values.

Keras 3 keeps layer lists in containers `tf.train.Checkpoint` does not walk; these tests
would fail if a layer's weights (batch-norm statistics included) were left out.
"""

from __future__ import annotations

import numpy as np
import pytest

from enas_tf2 import arch
from enas_tf2.controllers.macro import MacroController
from enas_tf2.controllers.micro import MicroController
from enas_tf2.controllers.ptb import PtbController
from enas_tf2.spaces.macro import MacroNetwork, MacroSupernet
from enas_tf2.spaces.micro import MicroNetwork, MicroSupernet
from enas_tf2.spaces.rnn import PtbNetwork, PtbSupernet
from enas_tf2.train.state import RunState

MICRO_ARC = "0 1 1 3 2 0 1 4 1 0 0 2 0 2 1 1"


def _image_model(model):
    model.build((None, 32, 32, 3))
    return model


def _ptb_model(model):
    model.build()
    return model


MAKERS = {
    "macro_supernet": lambda: _image_model(MacroSupernet(3, 4, num_branches=6, name="child")),
    "macro_fixed": lambda: _image_model(MacroNetwork(arch.MacroArc.parse("0 1 0 4 1 1"), 4, name="child")),
    "micro_supernet": lambda: _image_model(MicroSupernet(2, 2, 4, use_aux_heads=True, name="child")),
    "micro_fixed": lambda: _image_model(
        MicroNetwork(arch.MicroArc.parse(MICRO_ARC, num_blocks=2), 2, 4, use_aux_heads=True, name="child")
    ),
    "ptb_supernet": lambda: _ptb_model(
        PtbSupernet(vocab_size=11, hidden_size=4, num_nodes=3, ptb_impl="original", name="child")
    ),
    "ptb_fixed": lambda: _ptb_model(PtbNetwork("0 2 1 0", vocab_size=11, hidden_size=4, name="child")),
    "macro_controller": lambda: MacroController(num_layers=3, num_branches=6, lstm_size=8, name="controller"),
    "micro_controller": lambda: MicroController(num_cells=2, num_branches=5, lstm_size=8, name="controller"),
    "ptb_controller": lambda: PtbController(num_nodes=3, name="controller"),
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_every_weight_survives_save_and_restore(kind, tmp_path):
    model = MAKERS[kind]()
    variables = list(model.variables)
    assert variables, f"{kind} has no variables to check"
    rng = np.random.default_rng(0)
    saved = []
    for variable in variables:
        if "float" in str(variable.dtype):  # seed states are integers: saved as they are
            variable.assign(rng.normal(size=variable.shape).astype(np.float32))
        saved.append(np.array(variable.numpy()))
    RunState(str(tmp_path), child=model).save()

    fresh = MAKERS[kind]()
    state = RunState(str(tmp_path), child=fresh)
    assert state.restore_latest()
    restored = [np.array(v.numpy()) for v in fresh.variables]
    assert len(restored) == len(saved)
    for variable, before, after in zip(fresh.variables, saved, restored):
        np.testing.assert_array_equal(after, before, err_msg=f"{kind}: {variable.path} was not restored")
