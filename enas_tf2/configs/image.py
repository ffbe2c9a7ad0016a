"""Image-classification flags (`python -m enas_tf2.cifar10_main`) -> one `ImageClassificationConfig`.

`resolve` takes a plain `{flag name: value}` map (every flag of the program, after its preset),
checks every combination a user can get wrong (each a `FlagError` naming the flags and the fix)
and returns frozen configs the task, the models and the trainers read. `inert_flag_warnings`
lists the flags that are accepted for the original's command lines but change nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from enas_tf2 import arch
from enas_tf2.configs.run import ControllerConfig, RunConfig, resilience_settings
from enas_tf2.errors import FlagError

#: Child momentum, hard-wired in the original main (ENAS_SPEC.md 1.3).
CHILD_MOMENTUM = 0.9
#: Controller LSTM size for CIFAR, hard-wired in the original main.
CONTROLLER_LSTM_SIZE = 64
MACRO_SEARCH_FOR = ("macro", "branch", "connection")
SPACES = ("macro", "micro")
#: Where images come from: the original's CIFAR-10 python pickles, tensorflow-datasets, or a folder tree.
DATA_SOURCES = ("pickle", "tfds", "folder")
#: The original holds out the last 5,000 CIFAR-10 training images in a search (ENAS_SPEC.md 9.1).
CIFAR10_NUM_VALID = 5000
#: Other data keeps this fraction of its training images for validation when `--num_valid_images` is unset.
DEFAULT_VALID_FRACTION = 0.1

#: Flags accepted for compatibility only (ENAS_SPEC.md 1.3, "used: no" or "TF1 only"). Setting one logs a warning.
INERT_FLAGS = (
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


@dataclasses.dataclass(frozen=True)
class ImageDataConfig:
    """Where the images come from and how batches are made.

    Attributes:
        source: "pickle" (the CIFAR-10 python batches), "tfds" or "folder".
        path: the pickles' folder, tfds' `data_dir` (optional), or the image folder.
        tfds_name: the tensorflow-datasets dataset (`--data_source=tfds`).
        num_valid: validation images cut from the training split in a search; None: 5,000
            for CIFAR-10 (as the original), 10 % for other data.
        image_size: resize every image to `image_size x image_size`; None: keep the size.
        batch_size: child batch, also the controller's reward minibatch.
        cutout_size: Cutout square side; None: off.
    """

    source: str = "pickle"
    path: str = ""
    tfds_name: str = "cifar10"
    num_valid: int | None = None
    image_size: int | None = None
    batch_size: int = 32
    cutout_size: int | None = None


@dataclasses.dataclass(frozen=True)
class ImageChildConfig:
    """The child network's shape; `run.json` keeps it so export rebuilds the network.

    `space` is "macro" or "micro"; `fixed_arc` is an `arch.MacroArc` or `arch.MicroArc` in
    final mode, None in search mode. `total_steps` (the drop-path schedule's `S`), and the
    data's `num_classes`, `image_size` and `channels`, are filled in once the data is known.
    """

    space: str
    num_layers: int
    out_filters: int
    num_branches: int
    keep_prob: float
    fixed_arc: arch.MacroArc | arch.MicroArc | None
    compat_branch_bug: bool = False
    num_blocks: int = 5
    use_aux_heads: bool = False
    drop_path_keep_prob: float = 1.0
    total_steps: int = 1
    num_classes: int = 10
    image_size: int = 32
    channels: int = 3

    def to_record(self) -> dict[str, Any]:
        """The config as JSON types (the arc as its string)."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        values["fixed_arc"] = None if self.fixed_arc is None else str(self.fixed_arc)
        return values

    @classmethod
    def from_record(cls, values: Mapping[str, Any]) -> ImageChildConfig:
        """The inverse of `to_record` (records written before image sizes were recorded mean CIFAR-10)."""
        values = dict(values)
        arc = values.get("fixed_arc")
        if arc is not None:
            if values["space"] == "micro":
                values["fixed_arc"] = arch.MicroArc.parse(arc, num_blocks=values["num_blocks"])
            else:
                values["fixed_arc"] = arch.MacroArc.parse(arc, num_layers=values["num_layers"], num_branches=6)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class ImageTrainingConfig:
    """How the child is optimised (ENAS_SPEC.md 7.1).

    Attributes:
        l2_reg: L2 coefficient over the child's weights (no 1/2 factor).
        lr_cosine: cosine with warm restarts per epoch (every script); else staircase decay.
        lr_max, lr_min, lr_t_0, lr_t_mul: the cosine schedule.
        lr, lr_dec_rate, lr_dec_every: the staircase decay.
        grad_bound: per-tensor clip norm (applied only with `clip_gradients`, Q-1).
        clip_gradients: really clip.
        train_aux_head: also train the micro aux head's weights (Q-10).
        momentum: Nesterov momentum.
    """

    l2_reg: float = 1e-4
    lr_cosine: bool = False
    lr_max: float | None = None
    lr_min: float | None = None
    lr_t_0: int | None = None
    lr_t_mul: int | None = None
    lr: float = 0.1
    lr_dec_rate: float = 0.1
    lr_dec_every: int = 100
    grad_bound: float = 5.0
    clip_gradients: bool = False
    train_aux_head: bool = False
    momentum: float = CHILD_MOMENTUM


@dataclasses.dataclass(frozen=True)
class ImageClassificationConfig:
    """Everything one image-classification run needs.

    Attributes:
        data, child, training: the data, the network's shape and its optimisation.
        controller: the controller's settings in a search; None in a final run.
        run: folders, devices, length, logs, export.
        search_for: the original's `--search_for` ("macro", "branch", "connection" or "micro").
    """

    data: ImageDataConfig
    child: ImageChildConfig
    training: ImageTrainingConfig
    controller: ControllerConfig | None
    run: RunConfig
    search_for: str = "macro"

    @property
    def search(self) -> bool:
        return self.child.fixed_arc is None

    @property
    def space(self) -> str:
        return self.child.space


def space_of(search_for: str | None) -> str:
    """"micro" for --search_for=micro, else "macro" (macro, branch and connection)."""
    return "micro" if search_for == "micro" else "macro"


def _check_flags(values: Mapping[str, Any]) -> None:
    """Rejects contradictory or unsupported flag combinations with a clear message."""
    search_for = values.get("search_for")
    if search_for is None:
        raise FlagError("--search_for is required: 'macro' (also 'branch'), 'connection', or 'micro' (or pass a "
                        "--preset, e.g. --preset=cifar10_macro_search).")
    if search_for not in MACRO_SEARCH_FOR + ("micro",):
        raise FlagError(f"--search_for={search_for!r} is unknown; expected one of macro, branch, connection, micro.")
    fixed = values.get("child_fixed_arc")
    if fixed is not None and values.get("controller_training", True):
        raise FlagError(
            "--child_fixed_arc trains one architecture, but --controller_training is on (the default). "
            "Add --nocontroller_training for a final run, or drop --child_fixed_arc to search."
        )
    if fixed is None and values.get("export_dir"):
        raise FlagError(
            "--export_dir exports a trained final network, but this is a search (no --child_fixed_arc). Train the "
            "derived architecture with --export_dir, or run scripts/pipeline.sh (search, final and export)."
        )
    if fixed is None and not values.get("controller_training", True) and not values.get("summary_only"):
        raise FlagError("Nothing to train: give --child_fixed_arc for a final run, or --controller_training to search.")
    num_branches = values.get("child_num_branches", 4)
    if search_for == "micro":
        if num_branches != len(arch.MICRO_OPS):
            raise FlagError(f"--child_num_branches={num_branches}: the micro space has exactly 5 ops "
                            "(the micro scripts pass --child_num_branches=5).")
        if values.get("child_num_cells", 5) <= 0:
            raise FlagError(f"--child_num_cells (blocks per micro cell) must be positive. Received: "
                            f"{values.get('child_num_cells')}")
        drop_path = values.get("child_drop_path_keep_prob", 1.0)
        if not 0.0 < drop_path <= 1.0:
            raise FlagError(f"--child_drop_path_keep_prob must be in (0, 1]. Received: {drop_path}")
    elif num_branches not in arch.MACRO_NUM_BRANCHES:
        raise FlagError(f"--child_num_branches={num_branches}: the macro space has 4, 5 or 6 ops.")
    if search_for != "micro" and not values.get("controller_search_whole_channels", False):
        raise FlagError(
            "--nocontroller_search_whole_channels (per-branch channel slices, ENAS_SPEC.md 2.1.2) is not supported; "
            "every original script uses --controller_search_whole_channels."
        )
    if values.get("child_lr_cosine"):
        missing = [n for n in ("child_lr_max", "child_lr_min", "child_lr_T_0", "child_lr_T_mul") if values.get(n) is None]
        if missing:
            raise FlagError("--child_lr_cosine needs " + ", ".join(f"--{n}" for n in missing) + ".")
    for name in ("batch_size", "num_epochs", "child_num_layers", "child_out_filters", "log_every", "eval_every_epochs"):
        if values.get(name) is not None and values[name] <= 0:
            raise FlagError(f"--{name} must be positive. Received: {values[name]}")
    if (values.get("child_out_filters", 48) * values.get("child_out_filters_scale", 1)) % 2:
        raise FlagError("--child_out_filters (times --child_out_filters_scale) must be even: "
                        "factorized reductions split the channels in two halves.")
    keep_prob = values.get("child_keep_prob", 0.5)
    if not 0.0 < keep_prob <= 1.0:
        raise FlagError(f"--child_keep_prob must be in (0, 1]. Received: {keep_prob}")
    source = values.get("data_source", "pickle")
    if source not in DATA_SOURCES:
        raise FlagError(f"--data_source={source!r} is unknown; expected one of {', '.join(DATA_SOURCES)}.")
    if source == "folder" and not values.get("data_path"):
        raise FlagError("--data_source=folder needs --data_path=DIR holding DIR/train/<class>/*.png|jpg and "
                        "DIR/test/<class>/...")
    image_size = values.get("image_size")
    if image_size is not None and (image_size < 4 or image_size % 4):
        raise FlagError(f"--image_size={image_size}: the networks halve the image twice, so it must be a positive "
                        "multiple of 4 (e.g. 32, 48, 64).")
    num_valid = values.get("num_valid_images")
    if num_valid is not None and num_valid < 0:
        raise FlagError(f"--num_valid_images must be 0 or positive. Received: {num_valid}")


def inert_flag_warnings(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """Messages for the flags set to something that changes nothing (as in the original)."""
    def changed(name: str) -> bool:
        return name in values and values[name] != defaults.get(name)

    warnings = [f"--{name}={values[name]} has no effect (as in the original)." for name in INERT_FLAGS if changed(name)]
    if space_of(values.get("search_for")) == "micro":
        if values.get("child_fixed_arc") is None and values.get("child_drop_path_keep_prob", 1.0) < 1.0:
            warnings.append("--child_drop_path_keep_prob has no effect in a micro search (as in the original, Q-9).")
        for name in ("child_out_filters_scale", "controller_skip_target", "controller_skip_weight",
                     "compat_macro_branch_bug"):
            if changed(name):
                warnings.append(f"--{name} has no effect on the micro space.")
        return warnings
    if values.get("child_use_aux_heads"):
        warnings.append("--child_use_aux_heads has no effect on the macro child (as in the original, Q-5).")
    if changed("child_drop_path_keep_prob"):
        warnings.append("--child_drop_path_keep_prob has no effect on the macro child (as in the original, Q-5).")
    if changed("controller_op_tanh_reduce"):
        warnings.append("--controller_op_tanh_reduce has no effect on the macro controller (as in the original, Q-6).")
    if values.get("child_train_aux_head"):
        warnings.append("--child_train_aux_head has no effect on the macro child (it has no aux head).")
    return warnings


def parse_fixed_arc(values: Mapping[str, Any]) -> arch.MacroArc | arch.MicroArc | None:
    """`--child_fixed_arc` parsed for the space and shape flags (None in a search).

    Raises:
        ArcError: the arc is malformed or does not fit `--child_num_layers` / `--child_num_cells`.
    """
    text = values.get("child_fixed_arc")
    if text is None:
        return None
    if space_of(values.get("search_for")) == "micro":
        return arch.MicroArc.parse(text, num_blocks=values.get("child_num_cells", 5))
    return arch.MacroArc.parse(text, num_layers=values.get("child_num_layers", 5), num_branches=6)


def child_config(values: Mapping[str, Any]) -> ImageChildConfig:
    """The child's shape from flag values (before the data fills in its size and classes)."""
    space = space_of(values.get("search_for"))
    fixed_arc = parse_fixed_arc(values)
    if space == "micro":
        return ImageChildConfig(
            space="micro",
            num_layers=values.get("child_num_layers", 5),
            out_filters=values.get("child_out_filters", 48),
            num_branches=len(arch.MICRO_OPS),
            keep_prob=values.get("child_keep_prob", 0.5),
            fixed_arc=fixed_arc,
            num_blocks=values.get("child_num_cells", 5),
            use_aux_heads=bool(values.get("child_use_aux_heads", False)),
            drop_path_keep_prob=values.get("child_drop_path_keep_prob", 1.0),
        )
    return ImageChildConfig(
        space="macro",
        num_layers=values.get("child_num_layers", 5),
        out_filters=values.get("child_out_filters", 48) * values.get("child_out_filters_scale", 1),
        num_branches=values.get("child_num_branches", 4),
        keep_prob=values.get("child_keep_prob", 0.5),
        fixed_arc=fixed_arc,
        compat_branch_bug=bool(values.get("compat_macro_branch_bug", False)),
    )


def resolve(values: Mapping[str, Any]) -> ImageClassificationConfig:
    """The run's configuration from its flag values.

    Raises:
        FlagError: contradictory or out-of-range values, or an unsupported feature.
        ArcError: a bad `--child_fixed_arc`.
    """
    _check_flags(values)
    child = child_config(values)  # a bad arc fails before anything else
    search = child.fixed_arc is None
    get = values.get
    data = ImageDataConfig(
        source=get("data_source", "pickle"), path=get("data_path", "") or "", tfds_name=get("tfds_name", "cifar10"),
        num_valid=get("num_valid_images"), image_size=get("image_size"), batch_size=get("batch_size", 32),
        cutout_size=get("child_cutout_size"),
    )
    training = ImageTrainingConfig(
        l2_reg=get("child_l2_reg", 1e-4), lr_cosine=bool(get("child_lr_cosine", False)), lr_max=get("child_lr_max"),
        lr_min=get("child_lr_min"), lr_t_0=get("child_lr_T_0"), lr_t_mul=get("child_lr_T_mul"),
        lr=get("child_lr", 0.1), lr_dec_rate=get("child_lr_dec_rate", 0.1), lr_dec_every=get("child_lr_dec_every", 100),
        grad_bound=get("child_grad_bound", 5.0), clip_gradients=bool(get("child_clip_gradients", False)),
        train_aux_head=bool(get("child_train_aux_head", False)),
    )
    controller = None
    if search:
        controller = ControllerConfig(
            learning_rate=get("controller_lr", 1e-3), bl_dec=get("controller_bl_dec", 0.99),
            entropy_weight=get("controller_entropy_weight"), num_aggregate=get("controller_num_aggregate", 1),
            train_steps=get("controller_train_steps", 50), train_every=get("controller_train_every", 2),
            l2_reg=get("controller_l2_reg", 0.0), tanh_constant=get("controller_tanh_constant"),
            temperature=get("controller_temperature"), op_tanh_reduce=get("controller_op_tanh_reduce", 1.0),
            skip_target=get("controller_skip_target", 0.8), skip_weight=get("controller_skip_weight", 0.0),
            search_for=get("search_for"), log_every=get("log_every", 50),
            policy=get("search_policy", "controller") or "controller",
        )
    elif (get("search_policy") or "controller") != "controller":
        raise FlagError("--search_policy applies to searches; a final run (--child_fixed_arc) trains one architecture.")
    run = RunConfig(
        output_dir=get("output_dir", "") or "", reset_output_dir=bool(get("reset_output_dir", False)),
        distribution=get("distribution", "none") or "none", cpu_replicas=get("cpu_replicas", 0) or 0,
        seed=get("seed"), num_epochs=get("num_epochs", 300), max_steps=get("max_steps"),
        log_every=get("log_every", 50), eval_every_epochs=get("eval_every_epochs", 1),
        derive_samples=get("derive_samples", 100), export_dir=get("export_dir") or None,
        jit_compile=bool(get("jit_compile", False)), precision=get("precision") or "float32",
        grappler=get("grappler") or "auto", flags=values, **resilience_settings(values, 2),
    )
    return ImageClassificationConfig(data=data, child=child, training=training, controller=controller, run=run,
                                     search_for=get("search_for"))
