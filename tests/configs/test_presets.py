"""The original scripts' values live once, in the presets: the scripts pass their preset, flags override it."""

from __future__ import annotations

import pathlib
import re

import pytest

from enas_tf2 import arch
from enas_tf2.configs import image, language_model, presets
from enas_tf2.errors import FlagError
from enas_tf2.flags import common
from enas_tf2.flags.image import MODULE as IMAGE_MODULE
from enas_tf2.flags.image import define_image_flags

SCRIPTS = pathlib.Path(__file__).resolve().parents[2] / "scripts"


def test_each_script_runs_its_preset_and_holds_no_value_of_its_own():
    for name, preset in presets.PRESETS.items():
        text = (SCRIPTS / f"{name}.sh").read_text()
        command = [line for line in text.splitlines() if line.startswith("exec python")]
        assert command == [f'exec python -m enas_tf2.{preset.program} --preset={name} "$@"'], name
        assert not re.search(r"^\s*--\w+=", text, re.M), f"{name}.sh still passes flag values"


def test_every_preset_flag_is_a_flag_of_its_program():
    # The image program's flags are defined in this process; the language model's are checked by name lists.
    define_image_flags()
    image_flags = set(common.flag_values(IMAGE_MODULE))
    for preset in presets.PRESETS.values():
        if preset.program == "cifar10_main":
            assert set(preset.flags) <= image_flags, set(preset.flags) - image_flags


def test_flags_on_the_command_line_win_over_the_preset():
    values = {"batch_size": 32, "child_num_layers": 5, "output_dir": "out"}
    resolved = presets.with_preset(values, explicit={"child_num_layers"}, preset="cifar10_macro_search",
                                   program="cifar10_main")
    assert resolved["batch_size"] == 128 and resolved["child_num_layers"] == 5 and resolved["output_dir"] == "outputs"
    assert presets.with_preset(values, set(), None, "cifar10_main") == values


def test_unknown_presets_and_other_programs_presets_are_clear_errors():
    with pytest.raises(FlagError, match="--preset='cifar100' is unknown; the presets are"):
        presets.get_preset("cifar100")
    with pytest.raises(FlagError, match="--preset=ptb_search is a preset of python -m enas_tf2.ptb_main"):
        presets.with_preset({}, set(), "ptb_search", "cifar10_main")


def test_presets_resolve_to_the_original_scripts_settings():
    macro = image.resolve(dict(presets.PRESETS["cifar10_macro_search"].flags))
    assert (macro.child.num_layers, macro.child.out_filters, macro.data.batch_size) == (12, 36, 128)
    assert (macro.controller.skip_target, macro.controller.skip_weight, macro.controller.tanh_constant) == (0.4, 0.8, 1.5)
    final = image.resolve(dict(presets.PRESETS["cifar10_micro_final"].flags))
    assert str(final.child.fixed_arc) == arch.MICRO_FINAL_ARC and final.controller is None
    lm = language_model.resolve(dict(presets.PRESETS["ptb_search"].flags))
    assert (lm.hidden_size, lm.num_nodes, lm.controller.num_aggregate) == (200, 10, 10)
    original = language_model.resolve(dict(presets.PRESETS["ptb_final_original"].flags))
    assert original.hidden_size == 748 and original.dropout == presets.PTB_DROPOUT_PRESETS["original_final"]


def test_the_enas_lm_defaults_are_the_presets():
    assert language_model.ENAS_LM_SEARCH_DEFAULTS["child_lr"] == presets.PRESETS["ptb_search"].flags["child_lr"]
    assert (language_model.ENAS_LM_FIXED_DEFAULTS["child_lstm_hidden_size"]
            == presets.PRESETS["ptb_final"].flags["child_lstm_hidden_size"])
