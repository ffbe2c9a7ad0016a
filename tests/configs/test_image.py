"""`configs.image.resolve`: the flags of an image run -> one config, and every contradiction a clear error."""

from __future__ import annotations

import pytest

from enas_tf2 import arch
from enas_tf2.configs.image import ImageChildConfig, inert_flag_warnings, resolve
from enas_tf2.errors import ArcError, FlagError

SEARCH = dict(search_for="macro", controller_search_whole_channels=True, output_dir="out", child_num_layers=3)


def test_a_search_resolves_data_child_training_controller_and_run():
    config = resolve(dict(SEARCH, batch_size=16, num_epochs=2, seed=3, child_lr_cosine=True, child_lr_max=0.05,
                          child_lr_min=0.001, child_lr_T_0=1, child_lr_T_mul=2, controller_num_aggregate=4,
                          data_source="folder", data_path="pets", image_size=48))
    assert config.search and config.space == "macro" and config.child.fixed_arc is None
    assert (config.data.source, config.data.path, config.data.image_size, config.data.num_valid) == (
        "folder", "pets", 48, None)
    assert config.controller.num_aggregate == 4 and config.controller.log_every == 50
    assert (config.run.num_epochs, config.run.seed, config.training.lr_cosine) == (2, 3, True)


def test_a_final_run_parses_its_arc_and_has_no_controller():
    config = resolve(dict(SEARCH, child_fixed_arc="0 1 0 4 1 1", controller_training=False))
    assert config.controller is None and config.child.fixed_arc == arch.MacroArc.parse("0 1 0 4 1 1")
    record = config.child.to_record()
    assert record["fixed_arc"] == "0 1 0 4 1 1" and ImageChildConfig.from_record(record) == config.child
    # Records written before image sizes were recorded mean CIFAR-10.
    old = {k: v for k, v in record.items() if k not in ("num_classes", "image_size", "channels")}
    assert ImageChildConfig.from_record(old).image_size == 32


@pytest.mark.parametrize("values, error, message", [
    (dict(SEARCH, search_for=None), FlagError, "--search_for is required"),
    (dict(SEARCH, child_fixed_arc="0 1 0 4 1 1"), FlagError, "--nocontroller_training for a final run"),
    (dict(SEARCH, export_dir="model"), FlagError, "exports a trained final network"),
    (dict(SEARCH, data_source="folder"), FlagError, "needs --data_path=DIR"),
    (dict(SEARCH, image_size=30), FlagError, "multiple of 4"),
    (dict(SEARCH, child_num_branches=7), FlagError, "4, 5 or 6"),
    (dict(SEARCH, child_lr_cosine=True), FlagError, "--child_lr_cosine needs --child_lr_max"),
    (dict(SEARCH, distribution="multi_worker"), FlagError, "needs --seed"),
    (dict(SEARCH, child_fixed_arc="0 1 0", controller_training=False), ArcError, "expected 6"),
], ids=["no_space", "arc_with_controller", "export_in_search", "folder_without_path", "image_size",
        "branches", "cosine", "multi_worker_seed", "bad_arc"])
def test_contradictions_are_clear_errors(values, error, message):
    with pytest.raises(error, match=message):
        resolve(values)


def test_inert_flags_are_named_once():
    defaults = dict(child_num_cell_layers=None, controller_sync_replicas=False, child_drop_path_keep_prob=1.0)
    warnings = inert_flag_warnings(dict(SEARCH, child_num_cell_layers=5, controller_sync_replicas=True,
                                        child_drop_path_keep_prob=0.6, child_use_aux_heads=True), defaults)
    assert any("--child_num_cell_layers=5 has no effect" in w for w in warnings)
    assert any("--child_drop_path_keep_prob has no effect on the macro child" in w for w in warnings)
    assert any("--child_use_aux_heads" in w for w in warnings) and len(warnings) == 4
