"""Language-model flags (`python -m enas_tf2.ptb_main`) -> one `LanguageModelConfig`.

Each reference trains with different values, most of them hard-coded in its source rather
than passed as flags (ENAS_PTB_SPEC.md 1.2, 1.3, 2.1; ENAS_SPEC.md 1.4). A flag left at None
takes the value of the reference this run reproduces:

* `enas_lm`, search (`search.py`/`child.py`/`controller.py`, the `ptb_search` preset) or fixed
  (`fixed.py`, the `ptb_final` preset);
* `original`, the defaults of `src/ptb/main.py` (its scripts pass the rest).

`resolve` works on a plain `{flag name: value}` dict, so it is tested without absl.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from enas_tf2 import arch
from enas_tf2.configs.presets import PRESETS, PTB_DROPOUT_PRESETS
from enas_tf2.configs.run import ControllerConfig, RunConfig, resilience_settings
from enas_tf2.errors import ArcError, FlagError

#: The hyperparameters a reference fixes (and the `None` flags take).
_REFERENCE_FLAGS = (
    "batch_size", "num_epochs", "log_every", "child_bptt_steps", "child_lstm_hidden_size", "child_rhn_depth",
    "child_lr", "child_grad_bound", "child_l2_reg", "child_rnn_l2_reg", "child_rnn_slowness_reg",
    "child_init_range", "controller_lr", "controller_bl_dec", "controller_tanh_constant", "controller_temperature",
    "controller_entropy_weight", "controller_num_aggregate", "controller_train_steps", "controller_train_every",
)


def _reference(preset: str, **extra: Any) -> dict[str, Any]:
    values = PRESETS[preset].flags
    return {**{name: values[name] for name in _REFERENCE_FLAGS if name in values}, **extra}


#: enas_lm search.py/child.py/controller.py values (ENAS_PTB_SPEC.md 1.1-1.3): the `ptb_search` preset.
ENAS_LM_SEARCH_DEFAULTS: dict[str, Any] = _reference("ptb_search", child_average_weights=False)
#: enas_lm fixed.py values (ENAS_PTB_SPEC.md 2.1): the `ptb_final` preset (its controller values unused).
ENAS_LM_FIXED_DEFAULTS: dict[str, Any] = dict(
    ENAS_LM_SEARCH_DEFAULTS, **_reference("ptb_final", child_average_weights=True, child_rhn_depth=10)
)
#: The original src/ptb/main.py flag defaults (ENAS_SPEC.md 1.4); its scripts pass the rest.
ORIGINAL_DEFAULTS: dict[str, Any] = dict(
    batch_size=25, num_epochs=300, log_every=50, child_bptt_steps=20, child_lstm_hidden_size=200,
    child_rhn_depth=4, child_lr=1.0, child_lr_dec_rate=0.5, child_lr_dec_start=4, child_lr_dec_every=1,
    child_grad_bound=5.0, child_l2_reg=0.0, child_rnn_l2_reg=0.0, child_rnn_slowness_reg=0.0,
    child_init_range=None, child_average_weights=False, controller_lr=1e-3, controller_bl_dec=0.99,
    controller_tanh_constant=None, controller_temperature=None, controller_entropy_weight=None,
    controller_num_aggregate=1, controller_train_steps=50, controller_train_every=2,
)
#: Checkpoints kept: enas_lm search keeps 5, its fixed training 2 (ENAS_PTB_SPEC.md 1.12, 2.3).
MAX_CHECKPOINTS = {True: 5, False: 2}
#: Flags accepted for compatibility only; setting one logs a warning.
INERT_FLAGS = (
    "child_base_number",
    "child_temperature",
    "child_avg_pool_size",
    "child_optim_algo",
    "child_sync_replicas",
    "child_num_aggregate",
    "child_num_replicas",
    "controller_lr_dec_rate",
    "controller_keep_prob",
    "controller_skip_target",
    "controller_skip_rate",
    "controller_num_replicas",
    "controller_sync_replicas",
    "controller_selection_threshold",
    "child_lstm_e_skip",
)


def default_init_range(ptb_impl: str, hidden_size: int, search: bool) -> float:
    """The weight init range `r` of `U(-r, r)` each reference uses.

    enas_lm: 0.04 in search, 0.05 in fixed training (`--child_init_range`; the TPU preset uses
    0.04). Original: 0.1 for `H <= 300`, 0.05 for `H <= 400`, else 0.04 (ENAS_SPEC.md 8.1).
    """
    if ptb_impl == "enas_lm":
        return 0.04 if search else 0.05
    if hidden_size <= 300:
        return 0.1
    return 0.05 if hidden_size <= 400 else 0.04


def inert_flag_warnings(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """Messages for the flags set to something that changes nothing (as in the original)."""
    return [f"--{name}={values[name]} has no effect (as in the original)." for name in INERT_FLAGS
            if name in values and values[name] != defaults.get(name)]


#: Original keep-probability flag -> the drop rate it sets.
KEEP_FLAGS = {"e": "drop_e", "x": "drop_x", "h": "drop_l", "o": "drop_o"}
#: The original tests the test set whenever validation beats this running best (ENAS_SPEC.md 8.5).
ORIGINAL_TEST_THRESHOLD = 67.0


@dataclasses.dataclass(frozen=True)
class LanguageModelConfig:
    """Every resolved hyperparameter of one language-model run (a PTB search or final run).

    `fixed_arc` is the parsed final cell (None in search); `arc_format` is the encoding the
    run writes arcs in (the controller's in search, the given string's in final runs);
    `num_nodes` counts node 0; `dropout` maps `drop_e..drop_w` to rates. `run` holds the
    folders, length and logging, `controller` the controller's settings (None in a final run).
    """

    ptb_impl: str
    search: bool
    fixed_arc: arch.PtbArc | None
    arc_format: str
    num_nodes: int
    cell_output: str
    data_path: str
    batch_size: int
    bptt: int
    random_bptt: bool
    hidden_size: int
    init_range: float
    dropout: dict[str, float]
    lr: float
    lr_dec_rate: float | None
    lr_dec_start: int
    lr_dec_every: int
    lr_dec_min: float | None
    lr_warmup_val: float | None
    lr_warmup_steps: int
    grad_bound: float
    weight_decay: float
    fix_weight_penalty: bool
    activation_reg: float
    slowness_reg: float
    reset_state_prob: float
    average_weights: bool
    average_nonmono: int
    valid_carry_state: bool
    test_threshold: float | None
    test_bptt: int
    controller: ControllerConfig | None
    run: RunConfig


def _defaults(ptb_impl: str, search: bool) -> dict[str, Any]:
    if ptb_impl == "original":
        return ORIGINAL_DEFAULTS
    return ENAS_LM_SEARCH_DEFAULTS if search else ENAS_LM_FIXED_DEFAULTS


def _dropout(values: Mapping[str, Any], ptb_impl: str, search: bool) -> dict[str, float]:
    """Drop rates: `--child_drop_*` if set, else `1 - --child_lstm_*_keep`, else the reference's."""
    if ptb_impl == "enas_lm":
        rates = dict(PTB_DROPOUT_PRESETS["enas_lm_search" if search else "enas_lm_fixed"])
    else:  # main.py defaults every keep probability to 1.0: no dropout unless a script asks.
        rates = {name: 0.0 for name in PTB_DROPOUT_PRESETS["enas_lm_search"]}
    for short, rate_name in KEEP_FLAGS.items():
        keep = values.get(f"child_lstm_{short}_keep")
        drop = values.get(f"child_{rate_name}")
        if keep is not None and drop is not None:
            raise FlagError(
                f"--child_lstm_{short}_keep={keep} and --child_{rate_name}={drop} set the same dropout; give one."
            )
        if keep is not None:
            if not 0.0 < keep <= 1.0:
                raise FlagError(f"--child_lstm_{short}_keep must be in (0, 1]. Received: {keep}")
            rates[rate_name] = 1.0 - keep
    for rate_name in rates:
        drop = values.get(f"child_{rate_name}")
        if drop is not None:
            if not 0.0 <= drop < 1.0:
                raise FlagError(f"--child_{rate_name} must be in [0, 1). Received: {drop}")
            rates[rate_name] = float(drop)
    if ptb_impl == "original" and (rates["drop_i"] or rates["drop_w"]):
        raise FlagError("--child_drop_i and --child_drop_w exist only in --ptb_impl=enas_lm; drop them or switch.")
    return rates


def parse_fixed_arc(text: str, arc_format: str, ptb_impl: str, num_nodes: int | None) -> tuple[arch.PtbArc, str]:
    """The final cell and the encoding it was written in.

    Raises:
        ArcError: a malformed arc, one that contradicts `--child_rhn_depth`, or (enas_lm) a
            node 0 that is not tanh.
    """
    parsed = arch.PtbArc.parse(text, arc_format=arc_format, num_nodes=num_nodes)
    if arc_format == "auto":
        arc_format = arch.ptb_arc_format_of(text)
    if ptb_impl == "enas_lm" and parsed.activations[0] != 0:
        raise ArcError(
            f"--child_fixed_arc gives node 0 the activation {parsed.activation_names[0]}; --ptb_impl=enas_lm always "
            "uses tanh there. Use --ptb_impl=original for this cell."
        )
    return parsed, arc_format


def resolve(values: Mapping[str, Any]) -> LanguageModelConfig:
    """The run's hyperparameters from flag values (None = the reference's value).

    Raises:
        FlagError: contradictory or out-of-range values, or an unsupported feature.
        ArcError: a bad `--child_fixed_arc`.
    """
    ptb_impl = values.get("ptb_impl") or "enas_lm"
    fixed_text = values.get("child_fixed_arc")
    search = fixed_text is None
    defaults = _defaults(ptb_impl, search)

    def get(name: str) -> Any:
        value = values.get(name)
        return defaults.get(name) if value is None else value

    if values.get("search_for", "enas") not in (None, "enas"):
        raise FlagError(f"--search_for={values['search_for']!r}: the PTB program only implements 'enas'.")
    if (values.get("child_num_layers") or 1) != 1:
        raise FlagError(f"--child_num_layers={values['child_num_layers']}: only one cell layer is supported "
                        "(every reference script uses 1).")
    if values.get("child_lstm_l_skip"):
        raise FlagError("--child_lstm_l_skip is not supported (it is off in every reference script).")
    if values.get("child_optim_moving_average") is not None:
        raise FlagError("--child_optim_moving_average is not supported (off in every original script); for "
                        "enas_lm's evaluation-time weight averaging use --child_average_weights.")
    distribution = values.get("distribution") or "none"
    if distribution != "none" and ptb_impl == "original" and search:
        raise FlagError(f"--distribution={distribution} cannot run an --ptb_impl=original search: the original's "
                        "supernet batch-normalises every node over the batch inside the time loop, which the "
                        "replicas would have to synchronise at every time step. Search with --ptb_impl=enas_lm "
                        "(the default) or on one device; final runs of either implementation distribute.")
    if distribution == "multi_worker" and values.get("seed") is None:
        raise FlagError("--distribution=multi_worker needs --seed: every worker must draw the same windows and "
                        "sample the controller's cells identically.")
    if fixed_text is None and values.get("export_dir"):
        raise FlagError("--export_dir exports a trained final network, but this is a search (no --child_fixed_arc). "
                        "Train the derived cell with --export_dir, or run scripts/pipeline.sh ptb (search, final, "
                        "export).")
    if fixed_text is not None and values.get("controller_training", True):
        raise FlagError("--child_fixed_arc trains one cell, but --controller_training is on (the default). Add "
                        "--nocontroller_training for a final run, or drop --child_fixed_arc to search.")
    if fixed_text is None and not values.get("controller_training", True) and not values.get("summary_only"):
        raise FlagError("Nothing to train: give --child_fixed_arc for a final run, or --controller_training to search.")

    depth, controller_layers = values.get("child_rhn_depth"), values.get("controller_num_layers")
    if depth is not None and controller_layers is not None and depth != controller_layers + 1:
        raise FlagError(f"--child_rhn_depth={depth} counts node 0 and --controller_num_layers={controller_layers} "
                        "does not; they must satisfy depth = layers + 1. Give one of them.")
    if depth is None and controller_layers is not None:
        depth = controller_layers + 1
    if search:
        fixed_arc, arc_format = None, ptb_impl
        num_nodes = depth if depth is not None else defaults["child_rhn_depth"]
        if num_nodes < 2:
            raise FlagError(f"--child_rhn_depth={num_nodes}: a searched cell needs at least 2 nodes (node 0 included).")
        cell_output = values.get("ptb_cell_output") or "auto"
        if cell_output == "auto":
            cell_output = "mean_all" if ptb_impl == "enas_lm" else "loose_ends"
    else:
        fixed_arc, arc_format = parse_fixed_arc(fixed_text, values.get("ptb_arc_format") or "auto", ptb_impl, depth)
        num_nodes = fixed_arc.num_nodes
        cell_output = values.get("ptb_cell_output") or "auto"
        if cell_output == "auto":
            cell_output = "loose_ends" if arc_format == "original" else "mean_all"

    hidden = int(get("child_lstm_hidden_size"))
    positive = dict(batch_size=get("batch_size"), num_epochs=get("num_epochs"), log_every=get("log_every"),
                    child_bptt_steps=get("child_bptt_steps"), child_lstm_hidden_size=hidden,
                    eval_every_epochs=values.get("eval_every_epochs", 1), test_bptt=values.get("test_bptt", 35),
                    max_steps=1 if values.get("max_steps") is None else values["max_steps"])
    for name, value in positive.items():
        if value is None or value <= 0:
            raise FlagError(f"--{name} must be positive. Received: {value}")
    block = values.get("child_block_size") or 1
    if hidden % block:
        raise FlagError(f"--child_block_size={block} must divide --child_lstm_hidden_size={hidden} (as the original).")
    grad_bound = float(get("child_grad_bound"))
    if grad_bound <= 0:
        raise FlagError(f"--child_grad_bound must be positive. Received: {grad_bound}")
    reset_prob = float(values.get("child_reset_train_states") or 0.0)
    if not 0.0 <= reset_prob <= 1.0:
        raise FlagError(f"--child_reset_train_states is a probability in [0, 1]. Received: {reset_prob}")
    warmup_val, warmup_steps = values.get("child_lr_warmup_val"), values.get("child_lr_warmup_steps")
    if (warmup_val is None) != (warmup_steps is None):
        raise FlagError("--child_lr_warmup_val and --child_lr_warmup_steps go together; give both or neither.")
    decay_flags = ("child_lr_dec_rate", "child_lr_dec_start", "child_lr_dec_every", "child_lr_dec_min")
    if ptb_impl == "enas_lm" and any(values.get(n) is not None for n in decay_flags):
        raise FlagError("enas_lm keeps the learning rate constant (scaled by len/35 per step); the --child_lr_dec_* "
                        "flags apply to --ptb_impl=original.")
    average = get("child_average_weights")
    if average and search:
        raise FlagError("--child_average_weights applies to final runs (enas_lm fixed.py); a search never averages.")
    init_range = get("child_init_range")
    if init_range is None:
        init_range = default_init_range(ptb_impl, hidden, search)
    aggregate = int(get("controller_num_aggregate"))
    if aggregate < 1:
        raise FlagError(f"--controller_num_aggregate must be positive. Received: {aggregate}")
    controller = None
    if search:
        controller = ControllerConfig(
            learning_rate=float(get("controller_lr")), bl_dec=float(get("controller_bl_dec")),
            entropy_weight=get("controller_entropy_weight"), num_aggregate=aggregate,
            train_steps=int(get("controller_train_steps")), train_every=int(get("controller_train_every")),
            l2_reg=float(values.get("controller_l2_reg") or 0.0), tanh_constant=get("controller_tanh_constant"),
            temperature=get("controller_temperature"), tf_adam=ptb_impl == "enas_lm",
            policy=values.get("search_policy") or "controller",
        )
    elif (values.get("search_policy") or "controller") != "controller":
        raise FlagError("--search_policy applies to searches; a final run (--child_fixed_arc) trains one architecture.")
    run = RunConfig(
        output_dir=values.get("output_dir", "") or "", reset_output_dir=bool(values.get("reset_output_dir", False)),
        distribution=distribution, cpu_replicas=values.get("cpu_replicas", 0) or 0, seed=values.get("seed"),
        num_epochs=int(get("num_epochs")), max_steps=values.get("max_steps"), log_every=int(get("log_every")),
        eval_every_epochs=values.get("eval_every_epochs", 1), derive_samples=values.get("derive_samples", 100),
        export_dir=values.get("export_dir") or None, jit_compile=bool(values.get("jit_compile", False)),
        precision=values.get("precision") or "float32", grappler=values.get("grappler") or "auto",
        flags=values, **resilience_settings(values, MAX_CHECKPOINTS[search]),
    )
    return LanguageModelConfig(
        ptb_impl=ptb_impl, search=search, fixed_arc=fixed_arc, arc_format=arc_format, num_nodes=int(num_nodes),
        cell_output=cell_output, data_path=values.get("data_path", "") or "", batch_size=int(get("batch_size")),
        bptt=int(get("child_bptt_steps")), random_bptt=ptb_impl == "enas_lm",
        hidden_size=hidden, init_range=float(init_range), dropout=_dropout(values, ptb_impl, search),
        lr=float(get("child_lr")), lr_dec_rate=get("child_lr_dec_rate"), lr_dec_start=int(get("child_lr_dec_start") or 0),
        lr_dec_every=int(get("child_lr_dec_every") or 1), lr_dec_min=get("child_lr_dec_min"),
        lr_warmup_val=warmup_val, lr_warmup_steps=int(warmup_steps or 0), grad_bound=grad_bound,
        weight_decay=float(get("child_l2_reg") or 0.0), fix_weight_penalty=bool(values.get("ptb_fix_weight_penalty")),
        activation_reg=float(get("child_rnn_l2_reg") or 0.0), slowness_reg=float(get("child_rnn_slowness_reg") or 0.0),
        reset_state_prob=reset_prob, average_weights=bool(average),
        average_nonmono=int(values.get("child_average_nonmono") or 10),
        # enas_lm search zeroes the state before every validation window (1.12); the rest carry it.
        valid_carry_state=not (search and ptb_impl == "enas_lm"),
        test_threshold=ORIGINAL_TEST_THRESHOLD if ptb_impl == "original" else None,
        test_bptt=int(values.get("test_bptt", 35)), controller=controller, run=run,
    )
