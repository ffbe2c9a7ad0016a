"""Flags both programs have: the run's folders, devices, seed, length, derivation, export and preset.

Defined here once and read only by the programs (`cifar10_main`, `ptb_main`), which turn every
flag value into a config (`enas_tf2.configs`); no model, trainer or loop reads `FLAGS`.
"""

from __future__ import annotations

from typing import Any

from absl import flags

from enas_tf2.configs import presets
from enas_tf2.configs.run import GRAPPLER_SETTINGS, PRECISIONS

#: The modules whose flags a program records in `run.json` (besides its own).
MODULE = __name__


def define_run_flags(program: str, data_path_help: str) -> None:
    """Defines the run flags for `program` ("cifar10_main" or "ptb_main")."""
    names = ", ".join(presets.presets_of(program))
    flags.DEFINE_string("preset", None, f"Start from an original script's values ({names}); flags given on the "
                        "command line override them (scripts/*.sh pass their preset).")
    flags.DEFINE_boolean("reset_output_dir", False, "Delete output_dir first; otherwise a rerun resumes from it.")
    flags.DEFINE_string("data_path", "", data_path_help)
    flags.DEFINE_string("output_dir", "", "Checkpoints, TensorBoard events, the stdout log and final_arc.txt.")
    flags.DEFINE_enum(
        "distribution", "none", ["none", "mirrored", "multi_worker"],
        "tf.distribute strategy: none (one device), mirrored (the GPUs of this machine), multi_worker (the hosts "
        "in TF_CONFIG; every host runs the same command). See BUILD.md.",
    )
    flags.DEFINE_integer("cpu_replicas", 0, "Without GPUs: split the CPU into this many logical devices, one "
                         "replica each (for trying --distribution on a CPU machine; 0: off).")
    flags.DEFINE_string("export_dir", None, "Final runs: export the trained network as a SavedModel here when "
                        "training ends (python -m enas_tf2.export does it later for any finished final run).")
    flags.DEFINE_integer("seed", None, "Random seed for weights, data order, masks and the controller (None: random).")
    flags.DEFINE_boolean("summary_only", False, "Build the model(s) for the given flags, print a summary and the "
                         "parameter counts, exit.")
    flags.DEFINE_enum("precision", "float32", list(PRECISIONS), "Arithmetic of the "
                      "child network: float32, or a Keras mixed policy (float32 weights, 16-bit convolutions and "
                      "matmuls; batch norm, logits, loss and the controller stay float32). mixed_bfloat16 pays "
                      "where the CPU has AMX / AVX512-BF16 units or on recent GPUs; mixed_float16 (with loss "
                      "scaling) on GPUs.")
    flags.DEFINE_enum("grappler", "auto", list(GRAPPLER_SETTINGS), "TensorFlow's graph optimiser (Grappler) for "
                      "the compiled steps. auto: off for searches (on a supernet it costs more first-step time than "
                      "it returns, BUILD.md), on for final runs; on / off force it.")
    flags.DEFINE_boolean("jit_compile", False, "XLA-compile the child's steps (slower on CPU; try it on GPU).")
    flags.DEFINE_enum("search_policy", "controller", ["controller", "random"], "Searches: how architectures are "
                      "sampled. controller: the ENAS controller, trained by REINFORCE; random: uniformly, never "
                      "trained (random search with weight sharing, the baseline to beat), with the same supernet "
                      "training and the same derivation.")
    flags.DEFINE_integer("derive_samples", 100, "At the end of a search: sample this many architectures, score each "
                         "on one validation batch and write the best to <output_dir>/final_arc.txt (0: skip).")
    flags.DEFINE_integer("eval_every_epochs", 1, "Run the end-of-epoch block (controller phase, evaluation, "
                         "checkpoint) every this many epochs, and after the last.")
    flags.DEFINE_integer("keep_checkpoints", None, "Newest checkpoints kept in <output_dir>/checkpoints (default: "
                         "the original's, 2 for CIFAR-10 and PTB final runs, 5 for PTB searches).")
    flags.DEFINE_float("checkpoint_every_mins", 10.0, "Also save a checkpoint inside an epoch (or a controller phase) "
                       "once this many minutes passed since the last one (0: only around evaluations). SIGTERM and "
                       "SIGINT save at the next step anyway.")
    flags.DEFINE_boolean("deterministic", False, "tf.config.experimental.enable_op_determinism(): bit-exact reruns "
                         "and resumes also with GPU kernels that are otherwise nondeterministic (slower; CPU runs are "
                         "exact without it).")
    flags.DEFINE_float("progress_secs", 30.0, "When stdout is not a terminal: a progress line (phase, step/total, "
                       "steps/s, ETA) at least this often during child epochs, controller phases and evaluations "
                       "(0: none). On a terminal a progress bar shows instead.")
    flags.DEFINE_integer("max_steps", None, "Stop at this global step if it comes before --num_epochs (a short try; "
                         "evaluation, checkpoint and derivation or the final evaluation still run at the stop).")


def flag_values(*modules: str) -> dict[str, Any]:
    """Every flag defined by `modules` (and this one), by name, as the command line and defaults set it."""
    values = {}
    for module in (MODULE, *modules):
        for flag in flags.FLAGS.get_flags_for_module(module):
            values[flag.name] = flag.value
    return values


def flag_defaults(*modules: str) -> dict[str, Any]:
    """The defaults of the same flags."""
    return {flag.name: flag.default for module in (MODULE, *modules) for flag in flags.FLAGS.get_flags_for_module(module)}


def explicit_flags(*modules: str) -> set[str]:
    """The flags given on the command line (an alias counts for the flag it stands for)."""
    return {flag.name for module in (MODULE, *modules) for flag in flags.FLAGS.get_flags_for_module(module)
            if flag.present}


def resolved_flag_values(program: str, *modules: str) -> dict[str, Any]:
    """The flag values after `--preset`: its values for every flag the command line left unset.

    Raises:
        FlagError: an unknown preset, or one of another program.
    """
    values = flag_values(*modules)
    return presets.with_preset(values, explicit_flags(*modules), values.get("preset"), program)
