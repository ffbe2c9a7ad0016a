"""Checkpoints keep every weight of every network: a saved run restores to exactly the same values.

Keras 3 keeps layer lists in containers `tf.train.Checkpoint` does not walk; these tests
would fail if a layer's weights (batch-norm statistics included) were left out.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.controllers.macro import MacroController
from enas_tf2.controllers.micro import MicroController
from enas_tf2.controllers.ptb import PtbController
from enas_tf2.errors import FlagError, TrainingError
from enas_tf2.spaces.macro import MacroNetwork, MacroSupernet
from enas_tf2.spaces.micro import MicroNetwork, MicroSupernet
from enas_tf2.spaces.rnn import PtbNetwork, PtbSupernet
from enas_tf2.train.state import CheckpointMismatchError, RunState, prepare_output_dir

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


# ----------------------------------------------------------------------------- damaged checkpoints


def _three_checkpoints(tmp_path):
    value = tf.Variable(0.0)
    state = RunState(str(tmp_path), max_to_keep=3, value=value)
    paths = []
    for v in (1.0, 2.0, 3.0):
        value.assign(v)
        paths.append(state.save())
    return paths


def _restored_value(tmp_path, max_to_keep=3):
    value = tf.Variable(-1.0)
    state = RunState(str(tmp_path), max_to_keep=max_to_keep, value=value)
    return state, state.restore_latest(), float(value.numpy())


def test_a_missing_index_falls_back_to_the_previous_checkpoint_and_moves_the_broken_one_aside(tmp_path, caplog):
    paths = _three_checkpoints(tmp_path)
    os.remove(paths[-1] + ".index")
    state, restored, value = _restored_value(tmp_path)
    assert restored == paths[1] and value == 2.0
    assert "ckpt-3 is incomplete" in caplog.text
    assert os.listdir(os.path.join(tmp_path, "checkpoints", "damaged"))  # kept, not deleted
    # The next saves never delete the good checkpoints because of the broken one.
    state.save()
    assert os.path.exists(paths[0] + ".index") and os.path.exists(paths[1] + ".index")


def test_a_truncated_data_file_falls_back_with_a_warning_naming_it(tmp_path, caplog):
    paths = _three_checkpoints(tmp_path)
    data = [name for name in os.listdir(os.path.join(tmp_path, "checkpoints")) if name.startswith("ckpt-3.data")]
    with open(os.path.join(tmp_path, "checkpoints", data[0]), "r+b") as f:
        f.truncate(3)
    _, restored, value = _restored_value(tmp_path)
    assert restored == paths[1] and value == 2.0
    assert "ckpt-3 cannot be read" in caplog.text


def test_a_garbled_index_file_still_finds_the_newest_checkpoint(tmp_path):
    paths = _three_checkpoints(tmp_path)
    with open(os.path.join(tmp_path, "checkpoints", "checkpoint"), "w") as f:
        f.write("garbage {{{ not a proto")
    state, restored, value = _restored_value(tmp_path)
    assert restored == paths[-1] and value == 3.0
    assert state.save().endswith("ckpt-4")


def test_no_readable_checkpoint_stops_instead_of_starting_over(tmp_path):
    paths = _three_checkpoints(tmp_path)
    for path in paths:
        os.remove(path + ".index")
    with pytest.raises(TrainingError, match="None of the 3 checkpoints.*nothing was deleted.*--reset_output_dir"):
        _restored_value(tmp_path)


def test_a_checkpoint_of_another_shape_is_a_mismatch_error(tmp_path):
    RunState(str(tmp_path), value=tf.Variable(tf.zeros([3]))).save()
    with pytest.raises(CheckpointMismatchError, match="does not fit"):
        RunState(str(tmp_path), value=tf.Variable(tf.zeros([4]))).restore_latest()


def test_a_checkpoint_of_another_dtype_or_structure_is_a_mismatch_not_damage(tmp_path):
    # What a --precision change to or from mixed_float16 does: its loss-scale optimizer keeps an
    # int64 counter where the plain optimizer's slot is a float, and more objects than it.
    RunState(str(tmp_path / "dtype"), value=tf.Variable(tf.zeros([3], tf.int64))).save()
    with pytest.raises(CheckpointMismatchError, match="does not fit.*expected dtype"):
        RunState(str(tmp_path / "dtype"), value=tf.Variable(tf.zeros([3]))).restore_latest()
    RunState(str(tmp_path / "more"), value=tf.Variable(tf.zeros([3]))).save()
    extra = tf.train.Checkpoint(scale=tf.Variable(2.0))
    with pytest.raises(CheckpointMismatchError, match="does not fit"):
        RunState(str(tmp_path / "more"), value=tf.Variable(tf.zeros([3])), extra=extra).restore_latest()
    assert not (tmp_path / "dtype" / "checkpoints" / "damaged").exists()
    assert not (tmp_path / "more" / "checkpoints" / "damaged").exists()


def test_the_output_dir_must_be_a_folder_path(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FlagError, match="is not a folder"):
        prepare_output_dir(str(tmp_path / "file"), reset=False)
    with pytest.raises(FlagError, match="lies under .*file, which is a file"):
        prepare_output_dir(str(tmp_path / "file" / "run"), reset=False)


def test_a_reset_keeps_the_lock(tmp_path):
    (tmp_path / ".lock").write_text("host 1\n")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "stdout").write_text("old\n")
    prepare_output_dir(str(tmp_path), reset=True, keep=(".lock",))
    assert sorted(os.listdir(tmp_path)) == [".lock"]


def test_a_resumed_run_still_keeps_only_the_newest_checkpoints(tmp_path):
    _three_checkpoints(tmp_path)
    state, _, _ = _restored_value(tmp_path, max_to_keep=2)
    state.save()
    state.save()
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.index")) == ["ckpt-4.index", "ckpt-5.index"]
