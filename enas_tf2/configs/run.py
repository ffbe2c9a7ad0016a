"""What every run has, whatever its task: `RunConfig` (folders, devices, length, logs) and `ControllerConfig`.

A program resolves its flags into its task's config, which holds one `RunConfig` and, for a
search, one `ControllerConfig`; `enas_tf2.run.run` reads these two and nothing task-specific.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Mapping

from enas_tf2.errors import FlagError

#: `--distribution` values (`enas_tf2.distribute`).
DISTRIBUTIONS = ("none", "mirrored", "multi_worker")
#: `--precision` values (`enas_tf2.precision`); the mixed ones are Keras dtype-policy names.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
#: `--grappler` values (`enas_tf2.graph_optimization`).
GRAPPLER_SETTINGS = ("auto", "on", "off")


def check_precision(precision: str) -> None:
    """Raises FlagError unless `precision` is a `--precision` value (runs, benches, `enas_tf2.precision`)."""
    if precision not in PRECISIONS:
        raise FlagError(f"--precision={precision!r} is unknown; expected one of {', '.join(PRECISIONS)}.")


def check_grappler(setting: str) -> None:
    """Raises FlagError unless `setting` is a `--grappler` value (runs and benches alike)."""
    if setting not in GRAPPLER_SETTINGS:
        raise FlagError(f"--grappler={setting!r} is unknown; expected one of {', '.join(GRAPPLER_SETTINGS)}.")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How one run is executed.

    Attributes:
        output_dir: the run folder (checkpoints, events, `stdout`, `run.json`, results).
        reset_output_dir: delete `output_dir` first (once the data has loaded).
        distribution: "none", "mirrored" or "multi_worker".
        cpu_replicas: split the CPU into this many logical devices (0: off).
        seed: seed of weights, data order, masks and the controller; None: random.
        num_epochs: epochs to train; the run stops at `num_epochs * steps per epoch` steps.
        max_steps: stop at this global step if it comes first (a short try); None: no limit.
        log_every: a child log line every this many steps.
        eval_every_epochs: the end-of-epoch block (controller phase, evaluation, checkpoint)
            every this many epochs, and after the last.
        derive_samples: a search derives its final architecture from this many samples (0: no
            derivation).
        export_dir: a final run exports its network here when it ends; None: no export.
        jit_compile: XLA-compile the child's steps.
        precision: the child network's arithmetic, "float32" or a Keras mixed policy
            ("mixed_bfloat16", "mixed_float16"; `enas_tf2.precision`).
        grappler: "auto", "on" or "off": TensorFlow's graph optimiser for the compiled steps
            (`enas_tf2.graph_optimization`; auto: off for searches, on for final runs).
        max_checkpoints: newest checkpoints kept (`--keep_checkpoints`).
        checkpoint_every_mins: also save inside an epoch once this many minutes passed since the
            last save (0: only around evaluations).
        deterministic: `tf.config.experimental.enable_op_determinism` (GPU kernels that are
            otherwise nondeterministic; CPU runs are bit-exact without it).
        progress_secs: off a terminal, a progress line at least this often during child epochs,
            controller phases and evaluations (0: none).
        flags: every flag value of the run (after the preset), for `run.json`.
    """

    output_dir: str
    reset_output_dir: bool = False
    distribution: str = "none"
    cpu_replicas: int = 0
    seed: int | None = None
    num_epochs: int = 1
    max_steps: int | None = None
    log_every: int = 50
    eval_every_epochs: int = 1
    derive_samples: int = 100
    export_dir: str | None = None
    jit_compile: bool = False
    precision: str = "float32"
    grappler: str = "auto"
    max_checkpoints: int = 2
    checkpoint_every_mins: float = 10.0
    deterministic: bool = False
    progress_secs: float = 30.0
    flags: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flags", types.MappingProxyType(dict(self.flags)))
        check_precision(self.precision)
        check_grappler(self.grappler)
        if self.distribution not in DISTRIBUTIONS:
            raise FlagError(f"--distribution={self.distribution!r} is unknown; expected one of "
                            f"{', '.join(DISTRIBUTIONS)}.")
        for name, flag in (("num_epochs", "num_epochs"), ("log_every", "log_every"),
                           ("eval_every_epochs", "eval_every_epochs"), ("max_checkpoints", "keep_checkpoints")):
            if getattr(self, name) <= 0:
                raise FlagError(f"--{flag} must be positive. Received: {getattr(self, name)}")
        if self.checkpoint_every_mins < 0:
            raise FlagError(f"--checkpoint_every_mins must be 0 (only around evaluations) or positive. Received: "
                            f"{self.checkpoint_every_mins}")
        if self.progress_secs < 0:
            raise FlagError(f"--progress_secs must be 0 (no progress lines) or positive. Received: {self.progress_secs}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise FlagError(f"--max_steps must be positive. Received: {self.max_steps}")
        if self.derive_samples < 0:
            raise FlagError(f"--derive_samples must be 0 (no derivation) or positive. Received: {self.derive_samples}")
        if self.cpu_replicas < 0:
            raise FlagError(f"--cpu_replicas must be 0 (off) or positive. Received: {self.cpu_replicas}")
        if self.distribution == "multi_worker" and self.seed is None:
            raise FlagError("--distribution=multi_worker needs --seed: every worker must read the data in the same "
                            "order and sample the controller's architectures identically.")


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
    """The controller and its REINFORCE training (ENAS_SPEC.md 6, ENAS_PTB_SPEC.md 1.3).

    Attributes:
        learning_rate: Adam's learning rate (`--controller_lr`).
        bl_dec: decay of the moving-average baseline.
        entropy_weight: weight of the entropy bonus in the reward; None: none.
        num_aggregate: samples averaged into one update.
        train_steps: updates per controller phase.
        train_every: a controller phase after epoch `e` iff `e % train_every == 0`.
        l2_reg: L2 on the controller's weights.
        tanh_constant: `C` of `C * tanh(logits)`; None: no tanh.
        temperature: logits are divided by it first; None: 1.
        op_tanh_reduce: micro: op logits use `C / op_tanh_reduce`.
        skip_target: macro: target skip probability of the KL penalty.
        skip_weight: macro: weight of the skip penalty.
        search_for: macro: "macro"/"branch" (ops and skips) or "connection" (skips only).
        tf_adam: Adam with TensorFlow's defaults (enas_lm) instead of the original's
            (beta_1 = 0, epsilon = 1e-3).
        log_every: a controller log line every this many updates.
        policy: "controller" (ENAS) or "random" (uniform samples, no controller training:
            `--search_policy`, `controllers.uniform`).
    """

    learning_rate: float
    bl_dec: float = 0.99
    entropy_weight: float | None = None
    num_aggregate: int = 1
    train_steps: int = 50
    train_every: int = 2
    l2_reg: float = 0.0
    tanh_constant: float | None = None
    temperature: float | None = None
    op_tanh_reduce: float = 1.0
    skip_target: float = 0.8
    skip_weight: float = 0.0
    search_for: str | None = None
    tf_adam: bool = False
    log_every: int = 1
    policy: str = "controller"

    def __post_init__(self) -> None:
        if self.num_aggregate < 1:
            raise FlagError(f"--controller_num_aggregate must be positive. Received: {self.num_aggregate}")
        if not 0.0 <= self.bl_dec <= 1.0:
            raise FlagError(f"--controller_bl_dec must be in [0, 1]. Received: {self.bl_dec}")
        for name in ("train_steps", "train_every", "log_every"):
            if getattr(self, name) <= 0:
                raise FlagError(f"--controller_{name} must be positive. Received: {getattr(self, name)}")
        if self.policy not in ("controller", "random"):
            raise FlagError(f"--search_policy must be controller or random. Received: {self.policy!r}")


def resilience_settings(values: Mapping[str, Any], default_keep: int) -> dict[str, Any]:
    """The `RunConfig` fields of `--keep_checkpoints`, `--checkpoint_every_mins`, `--deterministic`, `--progress_secs`."""
    keep = values.get("keep_checkpoints")
    every = values.get("checkpoint_every_mins")
    progress = values.get("progress_secs")
    return dict(max_checkpoints=default_keep if keep is None else int(keep),
                checkpoint_every_mins=10.0 if every is None else float(every),
                deterministic=bool(values.get("deterministic", False)),
                progress_secs=30.0 if progress is None else float(progress))
