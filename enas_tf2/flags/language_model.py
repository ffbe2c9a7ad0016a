"""The language-model program's flags (`python -m enas_tf2.ptb_main`): PTB or any corpus.

Names and meanings are the original `src/ptb/main.py`'s (ENAS_SPEC.md 1.4). The corrected
model's own flags (google-research `enas_lm`, ENAS_PTB_SPEC.md 1.1 / 2.1) are accepted too:
where enas_lm merely renamed a hyperparameter, its name is an absl alias of the original one
(`--child_hidden_size` is `--child_lstm_hidden_size`, ...); where it added one (its drop
*rates*, `--child_drop_i`, `--child_drop_w`, `--controller_num_layers`), it is a flag of its own.

Most hyperparameters differ between the two implementations and between search and final
training, so their flags default to None: `configs.language_model.resolve` then fills in the
value of the reference the run reproduces (enas_lm search / fixed, or the original `main.py`
default). The `scripts/ptb_*.sh` pass their preset (`configs.presets`) anyway.

Flags that had no effect in the original are accepted so original command lines run; setting
one logs a warning (`configs.language_model.INERT_FLAGS`).
"""

from __future__ import annotations

from absl import flags

from enas_tf2.flags import common

#: The module whose flags the program records.
MODULE = __name__


def define_language_model_flags() -> None:
    """Defines the language-model flags on `absl.flags.FLAGS` (idempotent)."""
    if "child_rhn_depth" in flags.FLAGS:
        return
    f = flags
    common.define_run_flags(
        "ptb_main",
        "ptb.pkl (data/ptb/process.py), a folder with ptb.{train,valid,test}.txt (or train.txt/valid.txt/test.txt, "
        "or train/valid/test), or three text files TRAIN,VALID,TEST (any corpus: one sentence per line).",
    )

    # Run, data, implementation.
    f.DEFINE_string("search_for", "enas", "Must be 'enas' (the original's only implemented value).")
    f.DEFINE_enum("ptb_impl", "enas_lm", ["enas_lm", "original"],
                  "enas_lm: the authors' corrected language model (default); original: melodyguan/enas src/ptb, "
                  "which its README declares wrong (kept to reproduce it).")
    f.DEFINE_enum("ptb_arc_format", "auto", ["auto", "original", "enas_lm"],
                  "Encoding of --child_fixed_arc: auto = by token-count parity (odd: original, even: enas_lm).")
    f.DEFINE_enum("ptb_cell_output", "auto", ["auto", "mean_all", "loose_ends"],
                  "Cell output: the mean of all nodes 1..L (enas_lm GPU) or of the loose ends (original, enas_lm "
                  "TPU). auto: the arc's own reference: an arc in the original encoding averages its loose ends, an "
                  "enas_lm arc all nodes; a search follows --ptb_impl.")
    f.DEFINE_boolean("ptb_fix_weight_penalty", False,
                     "enas_lm search: penalise sum(w^2) of the selected weights instead of the reference's quirk "
                     "1/2 sum(w^4) without node 1 (ENAS_PTB_SPEC.md 1.6).")
    f.DEFINE_integer("test_bptt", 35, "Window length of the batch-1 test pass. The original steps 1 token at a time; "
                     "with the state carried the per-token losses are identical for any length, only faster.")

    # Child, with the original main.py's names.
    f.DEFINE_integer("batch_size", None, "Train batch (also valid / reward). Default: enas_lm 128 search, 64 fixed; "
                     "original 25.")
    f.DEFINE_integer("num_epochs", None, "Nominal epochs; steps = this x ((N_train // B) - 1) // bptt. Default: "
                     "enas_lm 600 search, 3000 fixed; original 300.")
    f.DEFINE_integer("log_every", None, "Log line every this many steps (enas_lm 200, original 50).")
    f.DEFINE_string("child_fixed_arc", None, "Final run: the cell to train, in either encoding (see --ptb_arc_format).")
    f.DEFINE_integer("child_num_layers", 1, "Stacked cell layers; only 1 is supported (every script uses 1).")
    f.DEFINE_integer("child_bptt_steps", None, "BPTT length T (enas_lm: the mean of its random lengths). Default: "
                     "35 enas_lm, 20 original.")
    f.DEFINE_integer("child_lstm_hidden_size", None, "H = embedding size. Default: enas_lm 200 search, 800 fixed; "
                     "original 200.")
    f.DEFINE_integer("child_rhn_depth", None, "N, cell nodes including node 0 (search). Default: enas_lm 10 "
                     "(--controller_num_layers=9), original 4. A final run takes it from the arc.")
    for name, what in (("e", "embedding (word)"), ("x", "cell input x_t"), ("h", "recurrent / node input"),
                       ("o", "cell output")):
        f.DEFINE_float(f"child_lstm_{name}_keep", None, f"Keep probability of the {what} dropout (original name).")
    f.DEFINE_boolean("child_lstm_l_skip", False, "Add the layer input to its output; not supported (off in every "
                     "script).")
    f.DEFINE_float("child_lr", None, "SGD learning rate (enas_lm 20, scaled by len/35 per step; original 1.0).")
    f.DEFINE_float("child_lr_dec_rate", None, "Original: staircase decay factor per --child_lr_dec_every epochs "
                   "(default 0.5). enas_lm: no decay.")
    f.DEFINE_integer("child_lr_dec_start", None, "Original: epoch the decay starts (default 4).")
    f.DEFINE_integer("child_lr_dec_every", None, "Original: decay period in epochs (default 1).")
    f.DEFINE_float("child_lr_dec_min", None, "Original: LR floor (default none).")
    f.DEFINE_float("child_lr_warmup_val", None, "Constant LR of the first --child_lr_warmup_steps steps.")
    f.DEFINE_integer("child_lr_warmup_steps", None, "Warm-up steps (with --child_lr_warmup_val).")
    f.DEFINE_float("child_grad_bound", None, "Global-norm clip (enas_lm 0.1 search, 0.25 fixed; original 5.0).")
    f.DEFINE_float("child_l2_reg", None, "Weight penalty coefficient (enas_lm 8e-7; original none).")
    f.DEFINE_float("child_rnn_l2_reg", None, "Activation L2 'AR' (enas_lm alpha: 0 search, 0.7 fixed).")
    f.DEFINE_float("child_rnn_slowness_reg", None, "Slowness 'TAR' (enas_lm beta: 1.0 search, 0 fixed).")
    f.DEFINE_float("child_reset_train_states", None, "Per-step probability of zeroing the carried state.")
    f.DEFINE_float("child_optim_moving_average", None, "Original's EMA of weights; not supported (off in every "
                   "script). enas_lm's weight averaging is --child_average_weights.")
    f.DEFINE_integer("child_block_size", 1, "Must divide the hidden size (checked, as the original).")
    f.DEFINE_float("child_init_range", None, "U(-r, r) init (enas_lm 0.04 search, 0.05 fixed; original by H).")
    f.DEFINE_boolean("child_average_weights", None, "Polyak-average the weights after the non-monotone trigger and "
                     "evaluate with the average (enas_lm fixed; default on there, off elsewhere).")
    f.DEFINE_integer("child_average_nonmono", 10, "The trigger's window n (enas_lm best_valid_ppl_threshold 10).")
    for name in ("e", "i", "x", "l", "o", "w"):
        f.DEFINE_float(f"child_drop_{name}", None, f"enas_lm drop rate drop_{name} (ENAS_PTB_SPEC.md 1.5); overrides "
                       "the matching --child_lstm_*_keep.")

    # Controller.
    f.DEFINE_boolean("controller_training", True, "Search (train the controller); --nocontroller_training with "
                     "--child_fixed_arc trains one cell.")
    f.DEFINE_integer("controller_num_layers", None, "enas_lm: sampled nodes L (= --child_rhn_depth - 1).")
    f.DEFINE_float("controller_lr", None, "Adam LR (enas_lm 5e-5 with TF defaults; original 1e-3, beta1 0, eps 1e-3).")
    f.DEFINE_float("controller_l2_reg", 0.0, "L2 on the controller weights.")
    f.DEFINE_float("controller_bl_dec", None, "Baseline decay (enas_lm 0.999, original 0.99).")
    f.DEFINE_float("controller_tanh_constant", None, "C in C*tanh(logits) (enas_lm 2.25; original none).")
    f.DEFINE_float("controller_temperature", None, "Logit temperature (enas_lm 5.0; original none).")
    f.DEFINE_float("controller_entropy_weight", None, "Entropy bonus weight (enas_lm 1e-5; original none).")
    f.DEFINE_integer("controller_num_aggregate", None, "Samples averaged per update (enas_lm 10, original 1).")
    f.DEFINE_integer("controller_train_steps", None, "Updates per phase (enas_lm 25, original 50).")
    f.DEFINE_integer("controller_train_every", None, "Controller phase every this many epochs (enas_lm 1, "
                     "original 2).")

    # Accepted, no effect (as in the original).
    f.DEFINE_integer("child_base_number", 4, "No effect (as in the original).")
    f.DEFINE_float("child_temperature", None, "No effect (as in the original).")
    f.DEFINE_integer("child_avg_pool_size", 1, "No effect (as in the original).")
    f.DEFINE_string("child_optim_algo", "sgd", "No effect: plain SGD is hard-wired (as in the original).")
    f.DEFINE_boolean("child_sync_replicas", False, "TF1 only; no effect.")
    f.DEFINE_integer("child_num_aggregate", 1, "TF1 only; no effect.")
    f.DEFINE_integer("child_num_replicas", 1, "TF1 only; no effect.")
    f.DEFINE_float("controller_lr_dec_rate", 1.0, "No effect (as in the original).")
    f.DEFINE_float("controller_keep_prob", 0.5, "No effect (as in the original).")
    f.DEFINE_float("controller_skip_target", None, "No effect on the PTB controller (as in the original).")
    f.DEFINE_float("controller_skip_rate", None, "No effect on the PTB controller (as in the original).")
    f.DEFINE_integer("controller_num_replicas", 1, "TF1 only; no effect.")
    f.DEFINE_boolean("controller_sync_replicas", False, "TF1 only; no effect (aggregation is always synchronous).")
    f.DEFINE_float("controller_selection_threshold", None, "Passed by the original ptb_final.sh but never defined; "
                   "no effect.")
    f.DEFINE_boolean("child_lstm_e_skip", False, "Passed by the original scripts but never defined; no effect.")

    # enas_lm's names for the same hyperparameters.
    for alias, original in (
        ("child_batch_size", "batch_size"),
        ("child_hidden_size", "child_lstm_hidden_size"),
        ("child_weight_decay", "child_l2_reg"),
        ("child_alpha", "child_rnn_l2_reg"),
        ("child_beta", "child_rnn_slowness_reg"),
        ("child_num_train_epochs", "num_epochs"),
        ("controller_baseline_dec", "controller_bl_dec"),
        ("controller_learning_rate", "controller_lr"),
    ):
        f.DEFINE_alias(alias, original)
