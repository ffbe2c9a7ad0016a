"""The image-classification program's flags: the original `src/cifar10/main.py` names and defaults.

Defined here and read only by `cifar10_main`, which resolves them into one config
(`configs.image.resolve`): no model, controller or loop reads `FLAGS` (configs separate from
models, as in the TF Model Garden). Beyond the original's: the data sources (`--data_source`,
`--tfds_name`, `--image_size`) and the flags every program has (`flags.common`).

Flags that had no effect in the original (ENAS_SPEC.md 1.3, "used: no" or "TF1
only") are accepted so that the original scripts and command lines run
unchanged; their help text says "no effect", and the program warns when one is set
to a non-default value (`configs.image.INERT_FLAGS`). Flags the original scripts pass but never
defined (`--child_num_cell_layers`, Q-21) are accepted and ignored the same way.
"""

from __future__ import annotations

from absl import flags

from enas_tf2.flags import common

#: The module whose flags the program records.
MODULE = __name__

def define_image_flags() -> None:
    """Defines the image-classification flags on `absl.flags.FLAGS` (idempotent)."""
    if "child_num_layers" in flags.FLAGS:
        return
    common.define_run_flags(
        "cifar10_main",
        "CIFAR-10: the folder with the python batches (data_batch_1..5, test_batch), directly or in "
        "cifar-10-batches-py/. --data_source=tfds: an optional tfds data_dir. --data_source=folder: DIR with "
        "DIR/train/<class>/*.png|jpg and DIR/test/<class>/...",
    )

    # Data.
    flags.DEFINE_enum("data_source", "pickle", ["pickle", "tfds", "folder"],
                      "pickle: the original's CIFAR-10 python batches from --data_path; tfds: a tensorflow-datasets "
                      "image-classification dataset (--tfds_name; downloads once, needs internet); folder: "
                      "--data_path/train/<class>/ and --data_path/test/<class>/ image files.")
    flags.DEFINE_string("tfds_name", "cifar10", "The tensorflow-datasets dataset of --data_source=tfds (an image "
                        "classification one: an 'image' and a 'label' feature).")
    flags.DEFINE_integer("image_size", None, "Resize every image to this square size (a multiple of 4); None: keep "
                         "the data's size (which must then be one size).")
    flags.DEFINE_enum("data_format", "NHWC", ["NHWC", "NCHW"],
                      "Accepted for compatibility; enas_tf2 always runs NHWC (the layout has no behavioural effect, Q-22).")
    flags.DEFINE_string("search_for", None, "'macro' (also 'branch'), 'connection' (ops fixed to 0) or 'micro'.")
    flags.DEFINE_integer("batch_size", 32, "Child training batch size; also the controller's reward minibatch size.")
    flags.DEFINE_integer("num_epochs", 300, "Number of child epochs.")
    flags.DEFINE_integer("num_valid_images", None,
                         "Search runs hold out the last this-many training images for validation (None: 5000 for "
                         "CIFAR-10, as the original; 10% of the training images for other data).")

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

    # Logging.
    flags.DEFINE_integer("log_every", 50, "Log a child line every this many steps (controller: inner steps).")
