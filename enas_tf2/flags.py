"""Every command-line flag, with the original `src/cifar10/main.py` names and defaults.

Flags are defined here and read only by the `*_main.py` programs, which turn
them into plain constructor arguments: no model, controller or loop reads
`FLAGS` (configs separate from models, as in the TF Model Garden).

Flags that had no effect in the original (ENAS_SPEC.md 1.3, "used: no" or "TF1
only") are accepted so that the original scripts and command lines run
unchanged; their help text says "no effect", and the mains warn when one is set
to a non-default value. Flags the original scripts pass but never defined
(`--child_num_cell_layers`, Q-21) are accepted and ignored the same way.
"""

from __future__ import annotations

from absl import flags

#: Flags accepted for compatibility only. Setting one logs a warning.
CIFAR10_INERT_FLAGS = (
    "child_filter_size",
    "child_block_size",
    "child_num_aggregate",
    "child_num_replicas",
    "child_sync_replicas",
    "child_skip_pattern",
    "child_num_cell_layers",
    "controller_lr_dec_rate",
    "controller_keep_prob",
    "controller_num_replicas",
    "controller_forwards_limit",
    "controller_use_critic",
    "controller_sync_replicas",
)


def define_cifar10_flags() -> None:
    """Defines the CIFAR-10 flags on `absl.flags.FLAGS` (idempotent)."""
    if "child_num_layers" in flags.FLAGS:
        return

    # Data / run.
    flags.DEFINE_boolean("reset_output_dir", False, "Delete output_dir first; otherwise a rerun resumes from it.")
    flags.DEFINE_string("data_path", "", "Folder with the CIFAR-10 python batches (data_batch_1..5, test_batch), "
                        "directly or in cifar-10-batches-py/. With --data_source=tfds: an optional tfds data_dir.")
    flags.DEFINE_enum("data_source", "pickle", ["pickle", "tfds"],
                      "pickle: the original's python batches from --data_path; tfds: tensorflow-datasets 'cifar10' "
                      "(downloads once, needs internet).")
    flags.DEFINE_string("output_dir", "", "Checkpoints, TensorBoard events, the stdout log and final_arc.txt.")
    flags.DEFINE_enum(
        "distribution", "none", ["none", "mirrored", "multi_worker"],
        "tf.distribute strategy: none (one device), mirrored (the GPUs of this machine), multi_worker (the hosts "
        "in TF_CONFIG; every host runs the same command). See BUILD.md.",
    )
    flags.DEFINE_integer(
        "cpu_replicas", 0,
        "Without GPUs: split the CPU into this many logical devices, one replica each (for trying "
        "--distribution on a CPU machine; 0: off).",
    )
    flags.DEFINE_string(
        "export_dir", None,
        "Final runs: export the trained network as a SavedModel here when training ends "
        "(python -m enas_tf2.export does it later for any finished final run).",
    )
    flags.DEFINE_enum("data_format", "NHWC", ["NHWC", "NCHW"],
                      "Accepted for compatibility; enas_tf2 always runs NHWC (the layout has no behavioural effect, Q-22).")
    flags.DEFINE_string("search_for", None, "'macro' (also 'branch'), 'connection' (ops fixed to 0) or 'micro'.")
    flags.DEFINE_integer("batch_size", 32, "Child training batch size; also the controller's reward minibatch size.")
    flags.DEFINE_integer("num_epochs", 300, "Number of child epochs.")
    flags.DEFINE_integer("num_valid_images", 5000,
                         "Search runs hold out the last this-many training images for validation (the original: 5000).")
    flags.DEFINE_integer("seed", None, "Random seed for weights, data order and the controller (None: random).")

    # Child.
    flags.DEFINE_integer("child_num_layers", 5, "Macro: number of layers L; micro: cells = this + 2.")
    flags.DEFINE_integer("child_num_cells", 5, "Micro: blocks per cell.")
    flags.DEFINE_integer("child_filter_size", 5, "No effect (unused in the original).")
    flags.DEFINE_integer("child_out_filters", 48, "F, the base channel count.")
    flags.DEFINE_integer("child_out_filters_scale", 1, "Multiplies F (macro).")
    flags.DEFINE_integer("child_num_branches", 4, "Candidate ops per macro layer (4, 5 or 6).")
    flags.DEFINE_integer("child_num_aggregate", None, "No effect (TF1 sync-replicas only).")
    flags.DEFINE_integer("child_num_replicas", 1, "No effect (TF1 sync-replicas only).")
    flags.DEFINE_integer("child_block_size", 3, "No effect (unused in the original).")
    flags.DEFINE_float("child_lr", 0.1, "Initial LR of the step decay (only without --child_lr_cosine).")
    flags.DEFINE_integer("child_lr_dec_every", 100, "Step-decay period in epochs (only without --child_lr_cosine).")
    flags.DEFINE_float("child_lr_dec_rate", 0.1, "Step-decay factor (only without --child_lr_cosine).")
    flags.DEFINE_boolean("child_lr_cosine", False, "Cosine LR with warm restarts, per epoch (all scripts use it).")
    flags.DEFINE_float("child_lr_max", None, "Cosine LR maximum.")
    flags.DEFINE_float("child_lr_min", None, "Cosine LR minimum.")
    flags.DEFINE_integer("child_lr_T_0", None, "First cosine period, in epochs.")
    flags.DEFINE_integer("child_lr_T_mul", None, "Cosine period multiplier at each restart.")
    flags.DEFINE_integer("child_cutout_size", None, "Cutout square side (None: off).")
    flags.DEFINE_float("child_grad_bound", 5.0,
                       "Logged only: the original requests per-tensor clipping at this norm but applies the unclipped "
                       "gradient (Q-1). Use --child_clip_gradients to really clip.")
    flags.DEFINE_boolean("child_clip_gradients", False,
                         "Really clip each gradient tensor to --child_grad_bound (the original never did, Q-1).")
    flags.DEFINE_float("child_keep_prob", 0.5, "Dropout keep probability before the classifier.")
    flags.DEFINE_float("child_drop_path_keep_prob", 1.0, "Micro final only (the macro child ignores it, Q-5).")
    flags.DEFINE_float("child_l2_reg", 1e-4, "L2 coefficient over all child weights (no 1/2 factor).")
    flags.DEFINE_string("child_skip_pattern", None, "No effect (unused in the original).")
    flags.DEFINE_string("child_fixed_arc", None,
                        "Architecture string: trains this architecture (final mode; needs --nocontroller_training).")
    flags.DEFINE_boolean("child_use_aux_heads", False, "Micro only (the macro child ignores it, Q-5).")
    flags.DEFINE_boolean("child_sync_replicas", False, "No effect (TF1 sync-replicas only).")
    flags.DEFINE_integer("child_num_cell_layers", None, "No effect: passed by the original macro scripts, never defined (Q-21).")
    flags.DEFINE_boolean("child_train_aux_head", False,
                         "Micro: also train (and L2-regularise) the auxiliary head's weights. The original leaves "
                         "them at their random initialisation while its loss trains the trunk (Q-10).")
    flags.DEFINE_boolean("compat_macro_branch_bug", False,
                         "Reproduce the original's Q-2 bug: a macro search layer always outputs its last branch "
                         "(max pool), whatever op the controller chose.")

    # Controller.
    flags.DEFINE_float("controller_lr", 1e-3, "Controller Adam learning rate.")
    flags.DEFINE_float("controller_lr_dec_rate", 1.0, "No effect (not passed in the original).")
    flags.DEFINE_float("controller_keep_prob", 0.5, "No effect (unused in the original).")
    flags.DEFINE_float("controller_l2_reg", 0.0, "L2 on controller weights.")
    flags.DEFINE_float("controller_bl_dec", 0.99, "Baseline moving-average decay.")
    flags.DEFINE_float("controller_tanh_constant", None, "C in C*tanh(logits).")
    flags.DEFINE_float("controller_op_tanh_reduce", 1.0, "Micro: op logits use C / this (the macro controller ignores it, Q-6).")
    flags.DEFINE_float("controller_temperature", None, "Logits are divided by it before tanh.")
    flags.DEFINE_float("controller_entropy_weight", None, "Weight of the entropy bonus added to the reward.")
    flags.DEFINE_float("controller_skip_target", 0.8, "Macro: target skip probability of the KL penalty.")
    flags.DEFINE_float("controller_skip_weight", 0.0, "Macro: weight of the KL skip penalty.")
    flags.DEFINE_integer("controller_num_aggregate", 1, "Sampled architectures averaged into one controller update.")
    flags.DEFINE_integer("controller_num_replicas", 1, "No effect (TF1 sync-replicas only).")
    flags.DEFINE_integer("controller_train_steps", 50, "Controller updates per controller phase.")
    flags.DEFINE_integer("controller_forwards_limit", 2, "No effect (unused in the original).")
    flags.DEFINE_integer("controller_train_every", 2, "Train the controller after epoch e iff e % this == 0.")
    flags.DEFINE_boolean("controller_search_whole_channels", False, "Macro: one op per layer (all scripts set it).")
    flags.DEFINE_boolean("controller_sync_replicas", False,
                         "No effect: gradients of controller_num_aggregate samples are always averaged "
                         "(what this TF1 mechanism did in the scripts).")
    flags.DEFINE_boolean("controller_training", True, "Train a controller (search); must be off with --child_fixed_arc.")
    flags.DEFINE_boolean("controller_use_critic", False, "No effect (swallowed in the original).")

    # Logging / schedule / derivation.
    flags.DEFINE_integer("log_every", 50, "Log a child line every this many steps (controller: inner steps).")
    flags.DEFINE_integer("eval_every_epochs", 1, "Run the end-of-epoch block every this many epochs.")
    flags.DEFINE_integer("derive_samples", 100,
                         "At the end of a search: sample this many architectures, score each on one validation "
                         "minibatch and write the best to <output_dir>/final_arc.txt (0: skip).")
    flags.DEFINE_boolean("summary_only", False,
                         "Build the model(s) for the given flags, print a summary and trainable_params=<N>, exit.")
    flags.DEFINE_boolean("jit_compile", False, "XLA-compile the steps (slower on CPU; try it on GPU).")
