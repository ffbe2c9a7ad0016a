"""Tests of `enas_tf2.configs.language_model.resolve`: each reference's values, and the flag errors users meet."""

from __future__ import annotations

import pytest

from enas_tf2 import arch
from enas_tf2.errors import ArcError, FlagError
from enas_tf2.configs.language_model import ORIGINAL_TEST_THRESHOLD, default_init_range, resolve
from enas_tf2.configs.presets import PTB_DROPOUT_PRESETS

FINAL = dict(controller_training=False)


def test_enas_lm_search_takes_search_py_values():
    config = resolve({})
    assert (config.ptb_impl, config.search, config.arc_format, config.num_nodes) == ("enas_lm", True, "enas_lm", 10)
    assert (config.batch_size, config.bptt, config.hidden_size, config.run.num_epochs) == (128, 35, 200, 600)
    assert (config.lr, config.grad_bound, config.weight_decay, config.init_range) == (20.0, 0.1, 8e-7, 0.04)
    assert (config.activation_reg, config.slowness_reg, config.random_bptt) == (0.0, 1.0, True)
    assert config.dropout == PTB_DROPOUT_PRESETS["enas_lm_search"]
    assert (config.controller.learning_rate, config.controller.bl_dec, config.controller.entropy_weight) == (5e-5, 0.999, 1e-5)
    assert (config.controller.tanh_constant, config.controller.temperature) == (2.25, 5.0)
    assert (config.controller.num_aggregate, config.controller.train_steps) == (10, 25)
    assert config.cell_output == "mean_all" and not config.valid_carry_state and config.test_threshold is None


def test_enas_lm_fixed_takes_fixed_py_values():
    config = resolve(dict(FINAL, child_fixed_arc=arch.PTB_ENAS_LM_ARC))
    assert (config.search, config.arc_format, config.num_nodes, config.cell_output) == (False, "enas_lm", 9, "mean_all")
    assert (config.batch_size, config.hidden_size, config.run.num_epochs, config.grad_bound) == (64, 800, 3000, 0.25)
    assert (config.activation_reg, config.slowness_reg, config.init_range) == (0.7, 0.0, 0.05)
    assert config.average_weights and config.average_nonmono == 10 and config.valid_carry_state
    assert config.dropout == PTB_DROPOUT_PRESETS["enas_lm_fixed"]


def test_an_original_encoded_cell_keeps_its_loose_end_average_under_enas_lm():
    config = resolve(dict(FINAL, child_fixed_arc=arch.PTB_FINAL_ARC))
    assert (config.ptb_impl, config.arc_format, config.num_nodes, config.cell_output) == (
        "enas_lm", "original", 12, "loose_ends")
    forced = resolve(dict(FINAL, child_fixed_arc=arch.PTB_FINAL_ARC, ptb_cell_output="mean_all"))
    assert forced.cell_output == "mean_all"


def test_original_takes_main_py_defaults_and_keep_flags():
    config = resolve(dict(ptb_impl="original", child_lstm_e_keep=0.75, child_lstm_x_keep=0.25,
                          child_lstm_h_keep=0.75, child_lstm_o_keep=0.25, child_rhn_depth=12))
    assert config.dropout == PTB_DROPOUT_PRESETS["original_search"]
    assert (config.batch_size, config.bptt, config.lr, config.lr_dec_rate, config.lr_dec_start) == (25, 20, 1.0, 0.5, 4)
    assert (config.controller.learning_rate, config.controller.bl_dec, config.controller.train_every) == (1e-3, 0.99, 2)
    assert config.controller.tanh_constant is None and not config.random_bptt
    assert config.cell_output == "loose_ends" and config.valid_carry_state
    assert config.test_threshold == ORIGINAL_TEST_THRESHOLD
    assert config.init_range == 0.1  # H = 200 <= 300 (ENAS_SPEC.md 8.1)
    assert resolve(dict(ptb_impl="original", child_lstm_hidden_size=720)).init_range == 0.04


def test_enas_lm_names_and_node_counts():
    config = resolve(dict(controller_num_layers=8, child_drop_e=0.3))
    assert config.num_nodes == 9 and config.dropout["drop_e"] == 0.3
    with pytest.raises(FlagError, match="depth = layers \\+ 1"):
        resolve(dict(controller_num_layers=8, child_rhn_depth=8))
    with pytest.raises(ArcError, match="12"):
        resolve(dict(FINAL, child_fixed_arc=arch.PTB_FINAL_ARC, child_rhn_depth=9))


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(child_lstm_e_keep=0.8, child_drop_e=0.1), "same dropout"),
        (dict(child_lstm_x_keep=0.0), "child_lstm_x_keep"),
        (dict(child_drop_o=1.0), "child_drop_o"),
        (dict(ptb_impl="original", child_drop_i=0.2), "enas_lm"),
        (dict(child_num_layers=2), "only one cell layer"),
        (dict(child_lstm_l_skip=True), "l_skip"),
        (dict(child_optim_moving_average=0.99), "child_average_weights"),
        (dict(child_fixed_arc="0 1"), "--nocontroller_training"),
        (dict(controller_training=False), "Nothing to train"),
        (dict(search_for="rhn"), "only implements 'enas'"),
        (dict(child_lr_dec_rate=0.5), "ptb_impl=original"),
        (dict(child_average_weights=True), "final runs"),
        (dict(child_lr_warmup_val=0.1), "go together"),
        (dict(batch_size=0), "--batch_size"),
        (dict(max_steps=0), "--max_steps"),
        (dict(child_block_size=7), "child_block_size"),
        (dict(child_rhn_depth=1), "at least 2 nodes"),
        (dict(child_reset_train_states=2.0), "probability"),
    ],
)
def test_bad_flag_combinations_raise_clear_errors(values, message):
    with pytest.raises(FlagError, match=message):
        resolve(values)


def test_bad_fixed_arcs_raise_arc_errors():
    with pytest.raises(ArcError, match="node 0"):
        resolve(dict(FINAL, child_fixed_arc="1 0 0"))  # original encoding, node 0 ReLU, under enas_lm
    assert resolve(dict(FINAL, ptb_impl="original", child_fixed_arc="1 0 0")).fixed_arc.activations[0] == 1
    with pytest.raises(ArcError, match="token"):
        resolve(dict(FINAL, child_fixed_arc="0 x 1 0"))
    with pytest.raises(ArcError):
        resolve(dict(FINAL, child_fixed_arc="0 0 1 0", ptb_arc_format="original"))  # even length


def test_export_dir_in_a_search_is_a_clear_error():
    with pytest.raises(FlagError, match="--export_dir exports a trained final network.*pipeline.sh ptb"):
        resolve(dict(export_dir="somewhere"))
    assert resolve(dict(FINAL, child_fixed_arc=arch.PTB_ENAS_LM_ARC, export_dir="somewhere")).search is False


def test_distribution_flag_combinations():
    with pytest.raises(FlagError, match="cannot run an --ptb_impl=original search.*batch-normalises"):
        resolve(dict(distribution="mirrored", ptb_impl="original"))
    with pytest.raises(FlagError, match="multi_worker needs --seed"):
        resolve(dict(distribution="multi_worker"))
    assert resolve(dict(distribution="mirrored")).search
    assert not resolve(dict(FINAL, child_fixed_arc=arch.PTB_ENAS_LM_ARC, distribution="mirrored")).search


def test_reference_init_ranges_and_dropout_presets():
    assert PTB_DROPOUT_PRESETS["original_final"]["drop_o"] == pytest.approx(0.76)
    assert default_init_range("original", 748, search=False) == 0.04
    assert default_init_range("original", 200, search=True) == 0.1
    assert default_init_range("enas_lm", 800, search=False) == 0.05
    assert resolve(dict(FINAL, child_fixed_arc=arch.PTB_ENAS_LM_ARC)).dropout == PTB_DROPOUT_PRESETS["enas_lm_fixed"]
