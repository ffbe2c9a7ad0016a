"""The training loop every task shares: epochs of child steps, logs, NaN checks, end-of-epoch blocks.

Python only orchestrates here: each child step is one call of the task's compiled train step
(which may pull its batch from a `tf.data` iterator and, in search, sample its architecture
inside the graph). Values are copied to the host only on logging steps and at the end of an
epoch. The run lasts `num_epochs x steps_per_epoch` steps (or `max_steps`): both references count
a run that way, also when an epoch's real length varies (PTB's random windows).

After every `eval_every_epochs` epochs (and after the last) comes the end-of-epoch block
(ENAS_SPEC.md 7.2, ENAS_PTB_SPEC.md 1.12): the NaN check, the task's epoch results, the hooks
(a search's controller phase, `train.search`), the task's evaluation, the `eval/*` scalars and
a checkpoint.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence

from absl import logging

from enas_tf2.errors import TrainingError
from enas_tf2.tasks.base import ChildTrainer, Task
from enas_tf2.train.monitor import Monitor, to_python
from enas_tf2.train.state import RunState


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """How long a run is and how often it reports.

    Attributes:
        num_epochs: epochs to train (a resumed run finishes the rest).
        steps_per_epoch: the task's nominal child steps per epoch.
        log_every: a child log line every this many global steps.
        eval_every_epochs: the end-of-epoch block every this many epochs; the last epoch always
            gets one.
        max_steps: stop at this global step if it comes first (a short try).
    """

    num_epochs: int
    steps_per_epoch: int
    log_every: int = 50
    eval_every_epochs: int = 1
    max_steps: int | None = None

    @property
    def total_steps(self) -> int:
        total = self.num_epochs * self.steps_per_epoch
        return total if self.max_steps is None else min(total, self.max_steps)


class LoopHook(Protocol):
    """Something run in every end-of-epoch block, after the epoch's results and before evaluation."""

    def end_of_epoch(self, epoch: int, step: int) -> None: ...


class TrainingLoop:
    """Child epochs with logging, evaluation and a checkpoint after each end-of-epoch block.

    Args:
        task: the task (inputs, log lines, evaluation).
        trainer: the task's compiled child steps.
        state: the run's counters and checkpoint.
        monitor: logging and summaries.
        config: length and reporting.
        hooks: run in every end-of-epoch block (the search adds its controller phase).
    """

    def __init__(self, task: Task, trainer: ChildTrainer, state: RunState, monitor: Monitor, config: LoopConfig,
                 hooks: Sequence[LoopHook] = ()):
        self.task = task
        self.trainer = trainer
        self.state = state
        self.monitor = monitor
        self.config = config
        self.hooks = list(hooks)

    def run(self) -> dict[str, float]:
        """Trains to `total_steps` (continuing a resumed run); returns the last end-of-epoch results."""
        config = self.config
        total = config.total_steps
        step, epoch = int(self.state.global_step), int(self.state.epoch)
        line = self.task.schedule_log(total)
        if line:
            logging.info("%s", line)
        results: dict[str, float] = {}
        if step >= total:
            logging.info("All %d steps (%d epochs) are done already (step counter %d).", total, config.num_epochs, step)
            return results
        while step < total:
            step = self._train_epoch(epoch, step)
            epoch += 1
            self.state.epoch.assign(epoch)
            self.state.global_step.assign(step)
            if epoch % config.eval_every_epochs == 0 or step >= total:
                results = self.end_of_epoch(epoch, step)
        return results

    def _train_epoch(self, epoch: int, step: int) -> int:
        config = self.config
        total = config.total_steps
        inputs = self.task.epoch_inputs(epoch)
        try:
            num_steps = len(inputs)
        except TypeError:
            num_steps = None
        self.monitor.start_epoch(num_steps)
        for step_in_epoch, args in enumerate(inputs, start=1):
            logs = self.trainer.train_step(*args)
            step += 1
            if step % config.log_every == 0:
                self._log_child(epoch, step, to_python(logs))
            elif self.monitor.progress_bar:
                self.monitor.update_progress(step_in_epoch)
            if step >= total:
                break
        return step

    def _log_child(self, epoch: int, step: int, values: dict) -> None:
        self._check_finite(step)
        line, scalars = self.task.child_log(epoch, step, values)
        logging.info("%s mins=%.2f", line, self.monitor.minutes())
        self.monitor.scalars(step, scalars, prefix="child")

    def _check_finite(self, step: int) -> None:
        if bool(self.trainer.nonfinite.numpy()):
            latest = self.state.manager.latest_checkpoint or "none yet"
            raise TrainingError(
                f"The child loss became NaN or infinite before step {step}; stopped without saving. "
                f"The last good checkpoint is {latest}. {self.task.nonfinite_hint}, then rerun the same command to "
                "resume from that checkpoint (or add --reset_output_dir to start over)."
            )

    def end_of_epoch(self, epoch: int, step: int) -> dict[str, float]:
        """The end-of-epoch block after epoch `epoch` (1-based count of finished epochs)."""
        self._check_finite(step)
        results = dict(self.task.epoch_results(epoch, step))
        for hook in self.hooks:
            hook.end_of_epoch(epoch, step)
        results.update(self.task.evaluate(epoch, step))
        self.monitor.scalars(step, results, prefix="eval")
        self.task.before_checkpoint()
        self.state.save()
        return results
