"""The task interface: what one kind of problem gives the one ENAS loop and the one search.

In the spirit of the TF Model Garden's `official/core/base_task.py`, a `Task` owns everything
that differs between problems: the data, the child networks (the supernet of a search, the fixed
network of a final run), the controller of its search space, the child's compiled train step,
evaluation, scoring one architecture for the controller's reward (`Metric`: the score and how it
becomes a reward), how architectures are written, drawn and trained from scratch, and its log
lines. Everything else is generic and written once:

* `enas_tf2.run.run` (the lifecycle): strategy, folders, data, monitor, state, loop, export,
  cleanup;
* `enas_tf2.train.loop.TrainingLoop`: epochs of child steps, logging, NaN checks, the
  end-of-epoch block, checkpoints;
* `enas_tf2.train.search.Search`: the controller phase, the printed architectures, the
  derivation and `final_arc.txt`.

The run calls a task in this order: `load_data()` (before the output folder is touched, so bad
data deletes nothing); inside the strategy's scope `prepare()`, `build_child()`, for a search
`build_controller()` and `reward_batches()`, then `build_child_trainer(...)`; `checkpoint_items()`.
The loop then calls `epoch_inputs(epoch, start)` per epoch, `child_log(...)` on logging steps and, per
end-of-epoch block, `epoch_results()`, `evaluate()` and `before_checkpoint()`; a final run ends
with `finish_final(results)`, a search with the derivation.

`tests/tasks/test_toy_task.py` defines a third task in a few dozen lines and searches with it.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, Iterable, Mapping, Protocol

import keras
import numpy as np
import tensorflow as tf

from enas_tf2.configs.run import ControllerConfig, RunConfig
from enas_tf2.errors import FlagError
from enas_tf2.train.progress import PhaseProgress

#: A function returning a freshly sampled int32 architecture tensor (traced into the child's step).
ArcSampler = Callable[[], tf.Tensor]


def _identity(reward: float) -> float:
    return reward


@dataclasses.dataclass(frozen=True)
class Metric:
    """The score that ranks architectures, and how the controller's reward comes from it.

    A child scores an architecture in the graph and returns the *reward* (ENAS_SPEC.md 6.5:
    the validation accuracy of an image classifier; `80 / perplexity` for a language model,
    ENAS_PTB_SPEC.md 1.3); `from_reward` turns a reward back into the metric for the logs and
    `final_arc.txt`. A higher reward is always better.

    Attributes:
        name: the metric's name in logs (`val_acc`, `ppl`).
        from_reward: reward -> metric.
        fmt: the metric's format in logs.
        higher_is_better: the metric's own direction (False for a perplexity); rankings
            negate it when False.
    """

    name: str = "reward"
    from_reward: Callable[[float], float] = _identity
    fmt: str = ".4f"
    higher_is_better: bool = True

    def format(self, reward: float) -> str:
        """`name=<metric>`, e.g. `val_acc=0.8125`."""
        return f"{self.name}={self.from_reward(reward):{self.fmt}}"


class ChildTrainer(Protocol):
    """What the loop and the search need of a task's compiled child steps.

    Attributes:
        model: the child network.
        optimizer: the child's optimizer (checkpointed).
        nonfinite: a bool variable a train step sets when its loss is NaN or infinite.
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    nonfinite: tf.Variable

    def train_step(self, *inputs: Any) -> Mapping[str, tf.Tensor]:
        """One compiled child update; returns its log values (at least `loss`)."""

    def score_batch(self, inputs: tf.Tensor, targets: tf.Tensor, arc: tf.Tensor) -> tf.Tensor:
        """The reward of `arc` on one batch: plain Python, traced into the controller's step."""

    def score_arc(self, inputs: tf.Tensor, targets: tf.Tensor, arc: tf.Tensor) -> tf.Tensor:
        """`score_batch` compiled (the printed and derived architectures)."""


def num_batches(dataset) -> int | None:
    """The number of batches of a finite `tf.data.Dataset`, None when unknown (for progress lines)."""
    try:
        count = int(dataset.cardinality())
    except (AttributeError, TypeError, ValueError):
        return None
    return count if count >= 0 else None


class Task(abc.ABC):
    """One kind of problem ENAS searches on (see the module docstring for the call order).

    Subclasses set `run_config` and `controller_config` (None in a final run) in their
    constructor and implement the abstract methods; the others have defaults that suit a task
    without pictures, export or special logs.

    Attributes:
        name: the task's name (logs and `run.json`).
        metric: the architectures' score and its reward.
        arc_noun: what an architecture is called in logs ("architectures", "cells").
        derive_noun: what the derived architecture is scored on, for `final_arc.txt`.
        nonfinite_hint: what to change when the loss diverges (in the error message).
        progress: where long loops (evaluation) report their position; the run sets the
            monitor's (`train.progress`), the default reports nothing.
    """

    name: str = "task"
    metric: Metric = Metric()
    arc_noun: str = "architectures"
    derive_noun: str = "one validation batch"
    nonfinite_hint: str = "Lower the learning rate or check the data"

    run_config: RunConfig
    controller_config: ControllerConfig | None = None
    progress: PhaseProgress = PhaseProgress(0, enabled=False)

    @property
    def search(self) -> bool:
        """A search (a controller is trained) rather than a final run."""
        return self.controller_config is not None

    # -- data ------------------------------------------------------------------------------

    @abc.abstractmethod
    def load_data(self) -> None:
        """Reads the data; raises `DataError` with a message that says what to fix."""

    def data_log(self) -> str:
        """One line about the loaded data, for the log."""
        return "Data loaded."

    def check_strategy(self, strategy: tf.distribute.Strategy) -> None:
        """Raises `FlagError` for a setting the strategy cannot honour (e.g. a batch that does not split).

        Called right after the strategy exists, before the data is read or anything is deleted.
        """

    def batch_log(self) -> tuple[int, str]:
        """The global batch size and what it counts ("images", "stream rows"), for the replica log line."""
        return 0, "examples"

    def prepare(self, strategy: tf.distribute.Strategy) -> None:
        """Builds the input pipelines (in the strategy's scope, after the seed is set)."""

    # -- networks and steps -----------------------------------------------------------------

    @abc.abstractmethod
    def build_child(self) -> keras.Model:
        """The built child: the supernet (`model(x, arc=..., ...)`) in a search, the fixed network otherwise."""

    def trained_params(self, child: keras.Model) -> int:
        """The number of child weights the optimiser trains (logged when the run starts)."""
        return count_params(child.trainable_variables)

    def build_controller(self) -> keras.Model:
        """The search space's controller (`sample(rng, forced_arc=None)`, `enas_tf2.controllers`)."""
        raise NotImplementedError(f"The {self.name} task has no controller: it cannot search.")

    @abc.abstractmethod
    def build_child_trainer(
        self, child: keras.Model, sample_arc: ArcSampler | None, strategy: tf.distribute.Strategy
    ) -> ChildTrainer:
        """The child's compiled steps; `sample_arc` (search) is traced into the train step."""

    def reward_batches(self) -> Iterable[tuple[tf.Tensor, tf.Tensor]]:
        """An endless iterator of `(inputs, targets)` validation batches for the controller's rewards."""
        raise NotImplementedError(f"The {self.name} task has no reward batches: it cannot search.")

    def replica_rewards(self, strategy: tf.distribute.Strategy, trainer: Callable[[], ChildTrainer]):
        """With several replicas: `controllers.trainer.ReplicaRewards` for a distributed controller update.

        `trainer` returns the child trainer (built after the controller's trainer). None on one
        device.
        """
        if strategy.num_replicas_in_sync == 1:
            return None
        raise FlagError(f"The {self.name} task does not distribute its controller phase; run it on one device.")

    def checkpoint_items(self, trainer: ChildTrainer) -> dict[str, Any]:
        """Task state a checkpoint must carry besides the child, its optimizer and the controller."""
        return {}

    # -- the loop ---------------------------------------------------------------------------

    @abc.abstractmethod
    def steps_per_epoch(self) -> int:
        """The nominal child steps of one epoch (the run lasts `num_epochs` times this many)."""

    @abc.abstractmethod
    def epoch_inputs(self, epoch: int, start: int = 0) -> Iterable[tuple]:
        """The arguments of each `train_step` call of epoch `epoch` (0-based) from step `start` on, in order.

        `start > 0` when a run resumes inside the epoch: the inputs must be those the
        uninterrupted run would have used for its steps `start, start + 1, ...` (the loop
        restores every variable of `checkpoint_items` first). A sized iterable (a list, a
        `tf.data.Dataset` of known length) gives the progress bar its length.
        """

    def schedule_log(self, total_steps: int) -> str | None:
        """A line about the run's length, logged when the loop starts."""
        return None

    def child_log(self, epoch: int, step: int, values: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
        """The child log line of a logging step, and its `child/*` scalars.

        `values` are the train step's logs (Python numbers).
        """
        scalars = {name: float(value) for name, value in values.items() if np.ndim(value) == 0}
        fields = " ".join(f"{name}={value:.4g}" for name, value in scalars.items())
        return f"epoch={epoch:<4d} step={step:<7d} {fields}", scalars

    def epoch_results(self, epoch: int, step: int) -> dict[str, float]:
        """Results of the finished epoch before the controller phase (e.g. a training perplexity)."""
        return {}

    @abc.abstractmethod
    def evaluate(self, epoch: int, step: int) -> dict[str, float]:
        """The end-of-epoch evaluation (`eval/*` scalars), logged by the task."""

    def before_checkpoint(self) -> None:
        """Called just before each end-of-epoch checkpoint (e.g. to zero a carried state)."""

    def finish_final(self, results: dict[str, float], epoch: int, step: int) -> dict[str, float]:
        """A final run's closing metrics (`final_metrics.json`) from its last end-of-epoch results.

        `results` is empty when the run was killed after its last checkpoint: evaluate again.
        """
        return results or self.evaluate(epoch, step)

    # -- the search -------------------------------------------------------------------------

    def controller_phase_log(self, epoch: int) -> str:
        """The line that opens a controller phase."""
        return f"Epoch {epoch}: training the controller"

    def controller_log(self, step: int, values: Mapping[str, Any], learning_rate: float,
                       minutes: float) -> tuple[str, dict[str, float]]:
        """The controller's log line of update `step`, and its `controller/*` scalars."""
        scalars = {name: float(values[name]) for name in ("loss", "reward", "baseline", "entropy", "log_prob",
                                                          "grad_norm") if name in values}
        line = (f"ctrl_step={step:<6d} loss={values['loss']:.4f} ent={values['entropy']:.3f} "
                f"{self.metric.format(values['accuracy'])} rw={values['reward']:.4f} bl={values['baseline']:.4f} "
                f"|g|={values['grad_norm']:.3g} mins={minutes:.2f}")
        return line, scalars

    @abc.abstractmethod
    def derive_batch(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The one validation batch every derived candidate is scored on."""

    def describe_arc(self, arc: np.ndarray) -> str:
        """A flat architecture as the logs show it."""
        return self.arc_string(arc)

    def arc_string(self, arc: np.ndarray) -> str:
        """A flat architecture in its encoding, one line (`final_arc.txt`)."""
        return " ".join(str(int(value)) for value in np.asarray(arc).reshape(-1))

    def draw_arc(self, arc: np.ndarray) -> np.ndarray | None:
        """A picture of a flat architecture (uint8 `[H, W, 3]`), or None."""
        return None

    #: The ops an architecture chooses among, for the controller's op distribution (empty: none).
    op_names: tuple[str, ...] = ()

    def op_choices(self, arc: np.ndarray) -> list[tuple[str, int]]:
        """The op decisions of a flat architecture: `(decision, op index)` pairs, in a fixed order.

        A decision ("layer 3", "normal node 2") may appear more than once (a micro node chooses
        two ops); the controller's diagnostics count them per decision.
        """
        return []

    # -- rank correlation (python -m enas_tf2.rank_correlation) ----------------------------

    #: The key of `final_metrics.json` a stand-alone (final) run is ranked by.
    standalone_metric: str = "test_metric"

    def shared_score(self, arc: np.ndarray) -> float:
        """The metric of `arc` with the search's shared weights on the whole validation split.

        The search's `evaluate` samples a fresh architecture per batch; this one keeps `arc` for
        every batch, so architectures can be ranked by their shared-weight score.
        """
        raise NotImplementedError(f"The {self.name} task cannot score one architecture on its validation split.")

    def final_command(self, arc_string: str) -> str:
        """The command that trains a derived architecture from scratch."""
        return " ".join([f"--child_fixed_arc='{arc_string}' --nocontroller_training", *self.carried_run_flags()])

    def carried_run_flags(self) -> list[str]:
        """The search's `--precision` and `--grappler` where not the default, for `final_command`.

        What the user chose for the search's arithmetic and graph optimisation is what the final run
        takes unless they say otherwise (`auto` already picks the final's own Grappler setting).
        """
        run = self.run_config
        chosen = {"precision": (run.precision, "float32"), "grappler": (run.grappler, "auto")}
        return [f"--{name}={value}" for name, (value, default) in chosen.items() if value != default]

    # -- the run ----------------------------------------------------------------------------

    def run_record(self, child: keras.Model):
        """`run_record.RunRecord` of the run (what export and the pipeline read), or None."""
        return None

    def write_run_files(self, output_dir: str) -> None:
        """Files besides `run.json` that the run folder keeps for export (e.g. a vocabulary)."""

    def arc_picture(self) -> np.ndarray | None:
        """A final run's picture of its architecture, or None."""
        return None

    def summary_lines(self) -> list[str]:
        """`--summary_only`: build the networks, print their summaries, return the count lines."""
        child = self.build_child()
        child.summary()
        return [f"trainable_params={count_params(child.trainable_variables)}"]


def count_params(variables: Iterable[tf.Variable]) -> int:
    """The number of scalars in `variables`."""
    return int(sum(np.prod(v.shape) for v in variables))
