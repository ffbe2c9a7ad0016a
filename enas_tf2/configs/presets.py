"""The original scripts' hyperparameters, by name: the one place their values live.

Each preset is one script of `melodyguan/enas` (CIFAR-10) or of the authors' corrected language
model (google-research `enas_lm`, PTB) as a `{flag name: value}` map (ENAS_SPEC.md 1.1,
ENAS_PTB_SPEC.md 1.1-2.1). `scripts/*.sh` run `python -m enas_tf2.<program> --preset=<name>
"$@"`; a program applies the preset's values to every flag the command line does not set, so
any flag can still be overridden. The benchmark, the PTB defaults (`language_model.resolve`)
and the tests read the same values.

Inert flags the original scripts pass (`--child_num_cell_layers`, `--controller_sync_replicas`,
`--data_format`, ...) are kept, so a preset is the script's command line as it was; the
programs say once that they have no effect.

One deliberate difference: the original scripts passed `--reset_output_dir`, so rerunning a
script deleted the run. Here every preset leaves it off, so rerunning a script after a stop, a
crash or a preemption resumes the run exactly (`train.state`); pass `--reset_output_dir` to
start over.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Mapping

from enas_tf2 import arch
from enas_tf2.errors import FlagError


@dataclasses.dataclass(frozen=True)
class Preset:
    """One original script.

    Attributes:
        name: the preset's name (`--preset=<name>`), the script's name without `.sh`.
        program: the module that runs it ("cifar10_main" or "ptb_main").
        description: where the values come from.
        flags: flag name -> value, as the script passes them.
    """

    name: str
    program: str
    description: str
    flags: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "flags", types.MappingProxyType(dict(self.flags)))


_CIFAR_RUN = dict(data_format="NCHW", reset_output_dir=False, data_path="data/cifar10", output_dir="outputs",
                  log_every=50, eval_every_epochs=1)
_COSINE = dict(child_lr_cosine=True, child_lr_max=0.05, child_lr_T_0=10, child_lr_T_mul=2)
_CONTROLLER = dict(controller_search_whole_channels=True, controller_entropy_weight=0.0001,
                   controller_train_every=1, controller_sync_replicas=True, controller_op_tanh_reduce=2.5)

_PRESETS = (
    Preset("cifar10_macro_search", "cifar10_main", "melodyguan/enas scripts/cifar10_macro_search.sh", dict(
        _CIFAR_RUN, **_COSINE, **_CONTROLLER, search_for="macro", batch_size=128, num_epochs=310,
        child_use_aux_heads=True, child_num_layers=12, child_out_filters=36, child_l2_reg=0.00025,
        child_num_branches=6, child_num_cell_layers=5, child_keep_prob=0.90, child_drop_path_keep_prob=0.60,
        child_lr_min=0.0005, controller_training=True, controller_num_aggregate=20, controller_train_steps=50,
        controller_lr=0.001, controller_tanh_constant=1.5, controller_skip_target=0.4, controller_skip_weight=0.8,
    )),
    Preset("cifar10_macro_final", "cifar10_main", "melodyguan/enas scripts/cifar10_macro_final.sh", dict(
        _CIFAR_RUN, **_COSINE, **_CONTROLLER, search_for="macro", batch_size=100, num_epochs=310,
        child_fixed_arc=arch.MACRO_FINAL_ARC, child_use_aux_heads=True, child_num_layers=24, child_out_filters=96,
        child_l2_reg=2e-4, child_num_branches=4, child_num_cell_layers=5, child_keep_prob=0.50, child_lr_min=0.001,
        controller_training=False, controller_num_aggregate=20, controller_train_steps=50, controller_lr=0.001,
        controller_tanh_constant=1.5, controller_skip_target=0.4, controller_skip_weight=0.8,
    )),
    Preset("cifar10_micro_search", "cifar10_main", "melodyguan/enas scripts/cifar10_micro_search.sh", dict(
        _CIFAR_RUN, **_COSINE, **_CONTROLLER, search_for="micro", batch_size=160, num_epochs=150,
        child_use_aux_heads=True, child_num_layers=6, child_out_filters=20, child_l2_reg=1e-4, child_num_branches=5,
        child_num_cells=5, child_keep_prob=0.90, child_drop_path_keep_prob=0.60, child_lr_min=0.0005,
        controller_training=True, controller_num_aggregate=10, controller_train_steps=30, controller_lr=0.0035,
        controller_tanh_constant=1.10,
    )),
    Preset("cifar10_micro_final", "cifar10_main", "melodyguan/enas scripts/cifar10_micro_final.sh", dict(
        _CIFAR_RUN, **_COSINE, **_CONTROLLER, search_for="micro", batch_size=144, num_epochs=630,
        child_fixed_arc=arch.MICRO_FINAL_ARC, child_use_aux_heads=True, child_num_layers=15, child_out_filters=36,
        child_l2_reg=2e-4, child_num_branches=5, child_num_cells=5, child_keep_prob=0.80,
        child_drop_path_keep_prob=0.60, child_lr_min=0.0001, controller_training=False,
        controller_num_aggregate=10, controller_train_steps=50, controller_lr=0.001, controller_tanh_constant=1.50,
    )),
    Preset("ptb_search", "ptb_main", "google-research enas_lm search.py / child.py / controller.py", dict(
        ptb_impl="enas_lm", search_for="enas", reset_output_dir=False, data_path="data/ptb/ptb.pkl",
        output_dir="outputs", batch_size=128, child_bptt_steps=35, num_epochs=600, log_every=200,
        child_rhn_depth=10, child_lstm_hidden_size=200, child_init_range=0.04, child_lr=20.0, child_grad_bound=0.1,
        child_l2_reg=8e-7, child_rnn_l2_reg=0.0, child_rnn_slowness_reg=1.0, child_drop_e=0.10, child_drop_i=0.20,
        child_drop_x=0.75, child_drop_l=0.25, child_drop_o=0.75, child_drop_w=0.0, controller_training=True,
        controller_lr=5e-5, controller_bl_dec=0.999, controller_entropy_weight=1e-5, controller_temperature=5.0,
        controller_tanh_constant=2.25, controller_num_aggregate=10, controller_train_steps=25,
        controller_train_every=1, eval_every_epochs=1,
    )),
    Preset("ptb_final", "ptb_main", "google-research enas_lm fixed.py, on the original README's cell", dict(
        ptb_impl="enas_lm", search_for="enas", reset_output_dir=False, data_path="data/ptb/ptb.pkl",
        output_dir="outputs", batch_size=64, child_bptt_steps=35, num_epochs=3000, log_every=200,
        child_fixed_arc=arch.PTB_FINAL_ARC, child_lstm_hidden_size=800, child_init_range=0.05, child_lr=20.0,
        child_grad_bound=0.25, child_l2_reg=8e-7, child_rnn_l2_reg=0.7, child_rnn_slowness_reg=0.0,
        child_drop_e=0.125, child_drop_i=0.175, child_drop_x=0.725, child_drop_l=0.225, child_drop_o=0.75,
        child_drop_w=0.0, child_average_weights=True, child_average_nonmono=10, controller_training=False,
        eval_every_epochs=1,
    )),
    Preset("ptb_search_original", "ptb_main", "melodyguan/enas scripts/ptb_search.sh", dict(
        ptb_impl="original", search_for="enas", reset_output_dir=False, data_path="data/ptb/ptb.pkl",
        output_dir="outputs", batch_size=20, child_bptt_steps=35, num_epochs=100, child_rhn_depth=12,
        child_num_layers=1, child_lstm_hidden_size=720, child_lstm_e_keep=0.75, child_lstm_x_keep=0.25,
        child_lstm_h_keep=0.75, child_lstm_o_keep=0.25, child_lstm_e_skip=False, child_grad_bound=10.0,
        child_lr=0.25, child_l2_reg=1e-7, child_lr_dec_start=12, child_lr_dec_every=1, child_lr_dec_rate=0.95,
        child_lr_dec_min=0.0005, child_optim_algo="sgd", log_every=50, controller_training=True,
        controller_train_every=1, controller_lr=0.001, controller_sync_replicas=True, controller_train_steps=100,
        controller_num_aggregate=10, controller_tanh_constant=2.5, controller_temperature=5.0,
        controller_entropy_weight=0.001, eval_every_epochs=1,
    )),
    Preset("ptb_final_original", "ptb_main", "melodyguan/enas scripts/ptb_final.sh", dict(
        ptb_impl="original", search_for="enas", reset_output_dir=False, data_path="data/ptb/ptb.pkl",
        output_dir="outputs", batch_size=64, child_bptt_steps=35, num_epochs=2000,
        child_fixed_arc=arch.PTB_FINAL_ARC, child_rhn_depth=12, child_num_layers=1, child_lstm_hidden_size=748,
        child_lstm_e_keep=0.79, child_lstm_x_keep=0.25, child_lstm_h_keep=0.75, child_lstm_o_keep=0.24,
        child_lstm_e_skip=False, child_grad_bound=0.25, child_lr=20.0, child_rnn_slowness_reg=1e-3,
        child_l2_reg=5e-7, child_lr_dec_start=14, child_lr_dec_every=1, child_lr_dec_rate=0.9991,
        child_lr_dec_min=0.001, child_optim_algo="sgd", log_every=50, controller_training=False,
        controller_selection_threshold=5, controller_train_every=1, controller_lr=0.001,
        controller_sync_replicas=True, controller_train_steps=100, controller_num_aggregate=10,
        controller_tanh_constant=3.0, controller_temperature=2.0, controller_entropy_weight=0.0001,
        eval_every_epochs=1,
    )),
)

#: Every preset by name.
PRESETS: Mapping[str, Preset] = types.MappingProxyType({preset.name: preset for preset in _PRESETS})


def get_preset(name: str, program: str | None = None) -> Preset:
    """The preset `name`, checked to belong to `program` when given.

    Raises:
        FlagError: no preset has that name, or it is another program's.
    """
    if name not in PRESETS:
        raise FlagError(f"--preset={name!r} is unknown; the presets are {', '.join(sorted(PRESETS))}.")
    preset = PRESETS[name]
    if program is not None and preset.program != program:
        raise FlagError(f"--preset={name} is a preset of python -m enas_tf2.{preset.program}, not of {program}; "
                        f"this program's presets are {', '.join(presets_of(program))}.")
    return preset


def presets_of(program: str) -> tuple[str, ...]:
    """The names of `program`'s presets."""
    return tuple(name for name, preset in PRESETS.items() if preset.program == program)


def with_preset(values: Mapping[str, Any], explicit: set[str] | frozenset[str], preset: str | None,
                program: str) -> dict[str, Any]:
    """`values` with the preset's value for every flag not in `explicit` (the ones the user set).

    Raises:
        FlagError: an unknown preset, or one of another program.
    """
    values = dict(values)
    if not preset:
        return values
    for name, value in get_preset(preset, program).flags.items():
        if name not in explicit:
            values[name] = value
    return values


def _keep_to_drop(e_keep: float, x_keep: float, h_keep: float, o_keep: float) -> dict[str, float]:
    """The original's `--child_lstm_{e,x,h,o}_keep` flags as drop rates."""
    return dict(
        drop_e=1.0 - e_keep, drop_i=0.0, drop_x=1.0 - x_keep, drop_l=1.0 - h_keep, drop_o=1.0 - o_keep, drop_w=0.0
    )


def _drop_rates(preset: str) -> dict[str, float]:
    values = PRESETS[preset].flags
    if "child_drop_e" in values:
        return {name: float(values[f"child_{name}"]) for name in ("drop_e", "drop_i", "drop_x", "drop_l", "drop_o",
                                                                    "drop_w")}
    return _keep_to_drop(*(values[f"child_lstm_{short}_keep"] for short in ("e", "x", "h", "o")))


#: Drop rates of each PTB reference setting (ENAS_PTB_SPEC.md 1.2, 2.1, 2.6; ENAS_SPEC.md 1.2).
PTB_DROPOUT_PRESETS: Mapping[str, Mapping[str, float]] = types.MappingProxyType({
    "enas_lm_search": _drop_rates("ptb_search"),
    "enas_lm_fixed": _drop_rates("ptb_final"),
    "enas_lm_tpu": dict(drop_e=0.15, drop_i=0.20, drop_x=0.75, drop_l=0.25, drop_o=0.75, drop_w=0.0),
    "original_search": _drop_rates("ptb_search_original"),
    "original_final": _drop_rates("ptb_final_original"),
})
