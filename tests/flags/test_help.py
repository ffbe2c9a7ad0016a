"""`--help` lists the program's own flags by group, one line each, with their defaults."""

from __future__ import annotations

import pytest
from absl import flags
from runs import run_module

from enas_tf2.flags import help as help_lib


@pytest.mark.parametrize("name, group", [
    ("data_path", "data"), ("batch_size", "data"), ("child_out_filters", "child"), ("ptb_impl", "child"),
    ("search_for", "child"), ("controller_lr", "controller"), ("derive_samples", "controller"),
    ("output_dir", "run"), ("num_epochs", "run"), ("seed", "run"),
])
def test_flag_groups(name, group):
    assert help_lib.flag_group(name) == group


def test_grouped_help_lists_groups_defaults_and_the_inert_flags_once():
    values = flags.FlagValues()
    module = "my_program_flags"
    flags.DEFINE_string("data_path", "", "Where the data is. More text that is not shown.", flag_values=values,
                        module_name=module)
    flags.DEFINE_integer("child_out_filters", 48, "F, the base channel count.", flag_values=values,
                         module_name=module)
    flags.DEFINE_float("controller_lr", 0.001, "Learning rate of the controller.", flag_values=values,
                       module_name=module)
    flags.DEFINE_integer("seed", None, "Random seed " + "and more words " * 20, flag_values=values,
                         module_name=module)
    flags.DEFINE_integer("child_filter_size", 5, "No effect (unused in the original).", flag_values=values,
                         module_name=module)
    flags.DEFINE_bool("controller_use_critic", False, "Listed as inert.", flag_values=values, module_name=module)
    text = help_lib.grouped_help("My program: what it does.\n\nDetails.", "USAGE: prog [flags]", [module],
                                 inert_flags=["controller_use_critic"], width=120, flag_values=values)
    lines = text.splitlines()
    assert lines[:3] == ["My program: what it does.", "", "USAGE: prog [flags]"]
    assert [line for line in lines if line.endswith(":")] == ["data:", "child:", "controller:", "run:"]
    assert any(line.split() == ["--data_path=''", "Where", "the", "data", "is."] for line in lines)
    assert any(line.split()[:2] == ["--child_out_filters=48", "F,"] for line in lines)
    seed = next(line for line in lines if "--seed=None" in line)
    assert len(seed) <= 120 and seed.endswith("...")
    inert = [line for line in lines if line.startswith(help_lib.INERT_TITLE)]
    assert inert == [f"{help_lib.INERT_TITLE}: --child_filter_size, --controller_use_critic"]
    assert text.count("child_filter_size") == 1 and "Details." not in text


@pytest.mark.parametrize("module, expected", [
    ("cifar10_main", ["--child_out_filters=48", "--controller_skip_weight=", "--data_source=pickle",
                      "--output_dir=''"]),
    ("ptb_main", ["--ptb_impl=enas_lm", "--controller_entropy_weight=", "--child_bptt_steps="]),
])
def test_program_help_shows_its_own_flags(module, expected):
    result = run_module(module, ["--help"])
    out = result.stdout
    for group in help_lib.GROUPS:
        assert f"\n{group}:\n" in out, out
    for text in expected:
        assert text in out, (text, out)
    assert "--helpfull" in out and "--logtostderr" not in out  # absl's own flags stay in --helpfull
    assert sum(line.startswith(help_lib.INERT_TITLE) for line in out.splitlines()) == 1
    assert len(out.splitlines()) < 160
