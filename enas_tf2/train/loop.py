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

Stopping and resuming (`train.state`): the run's position (epoch, step in the epoch, stage,
step in the stage) is saved with everything else, so a checkpoint can be taken between any two
steps. The loop saves one every `checkpoint_every_mins` minutes inside an epoch, one before each
evaluation (a run stopped during an evaluation loses only the evaluation) and one after it; at a
SIGTERM or SIGINT (`train.interrupt`) it saves at the next step and raises `RunInterrupted`. A
resumed run continues at the saved position with the same inputs and random streams.
"""

from __future__ import annotations

import dataclasses
import signal
from typing import Protocol, Sequence

from absl import logging

from enas_tf2.errors import TrainingError
from enas_tf2.tasks.base import ChildTrainer, Task
from enas_tf2.train.interrupt import RunInterrupted, StopSignals
from enas_tf2.train.monitor import Monitor, to_python
from enas_tf2.train.state import RunState, Stage


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """How long a run is, how often it reports and saves.

    Attributes:
        num_epochs: epochs to train (a resumed run finishes the rest).
        steps_per_epoch: the task's nominal child steps per epoch.
        log_every: a child log line every this many global steps.
        eval_every_epochs: the end-of-epoch block every this many epochs; the last epoch always
            gets one.
        max_steps: stop at this global step if it comes first (a short try).
        checkpoint_every_mins: also save inside an epoch (or a controller phase) once this many
            minutes have passed since the last save; None or 0: only around evaluations.
    """

    num_epochs: int
    steps_per_epoch: int
    log_every: int = 50
    eval_every_epochs: int = 1
    max_steps: int | None = None
    checkpoint_every_mins: float | None = None

    @property
    def total_steps(self) -> int:
        total = self.num_epochs * self.steps_per_epoch
        return total if self.max_steps is None else min(total, self.max_steps)


class LoopHook(Protocol):
    """Something run in every end-of-epoch block, after the epoch's results and before evaluation.

    `start` is the number of the hook's steps done before a resume (`RunState.stage_step`); a
    hook that has steps calls `loop.after_hook_step(done)` after each, which may save and stop.
    """

    def end_of_epoch(self, epoch: int, step: int, start: int = 0) -> None: ...


class TrainingLoop:
    """Child epochs with logging, evaluation and checkpoints, resumable at any step.

    Args:
        task: the task (inputs, log lines, evaluation).
        trainer: the task's compiled child steps.
        state: the run's position, counters and checkpoints.
        monitor: logging and summaries.
        config: length, reporting and checkpoint frequency.
        hooks: run in every end-of-epoch block (the search adds its controller phase).
        stop: the signals that ask the run to stop; None: none are caught.
    """

    def __init__(self, task: Task, trainer: ChildTrainer, state: RunState, monitor: Monitor, config: LoopConfig,
                 hooks: Sequence[LoopHook] = (), stop: StopSignals | None = None):
        self.task = task
        self.trainer = trainer
        self.state = state
        self.monitor = monitor
        self.config = config
        self.hooks = list(hooks)
        self.stop = stop or StopSignals()

    # -- checkpoints and stops ------------------------------------------------------------------

    def _due(self, epoch: int, step: int) -> bool:
        """Whether the end-of-epoch block follows epoch `epoch` (1-based)."""
        return epoch % self.config.eval_every_epochs == 0 or step >= self.config.total_steps

    def _interrupted(self, saved: str | None) -> RunInterrupted:
        where = self.state.position()
        saved_text = f"saved {saved}" if saved else f"the last checkpoint ({self.state.manager.latest_checkpoint}) is this state"
        return RunInterrupted(f"Stopped by {self.stop.name} at {where}; {saved_text}. Rerun the same command to resume "
                              "from there.", self.stop.signum or signal.SIGTERM)

    def maybe_stop_or_save(self, **position: int) -> None:
        """Between two steps: save and raise `RunInterrupted` at a signal, or save when one is due by time.

        `position` holds the counters the caller keeps in Python (`global_step`, `step_in_epoch`,
        `stage_step`); they are written into the state only when a checkpoint is taken, so a step
        costs no variable writes.
        """
        every = self.config.checkpoint_every_mins
        stop, due = self.stop.agree(bool(every and self.state.minutes_since_save() >= every))
        if not stop and not due:
            return
        for name, value in position.items():
            getattr(self.state, name).assign(value)
        self._check_finite(int(self.state.global_step))
        if stop:
            raise self._interrupted(self.state.save(f"stopped by {self.stop.name}"))
        self.state.save(f"every {every:g} minutes")

    def after_hook_step(self, done: int) -> None:
        """A hook finished its step number `done` of this block (the position to resume at)."""
        self.maybe_stop_or_save(stage_step=done)

    def stop_if_requested(self) -> None:
        """At a point whose state is the last checkpoint's (an evaluation, the derivation): stop now."""
        stop, _ = self.stop.agree()
        if stop:
            raise self._interrupted(None)

    # -- the loop -----------------------------------------------------------------------------------

    def run(self) -> dict[str, float]:
        """Trains to `total_steps` from the saved position; returns the last end-of-epoch results."""
        config, state = self.config, self.state
        total = config.total_steps
        line = self.task.schedule_log(total)
        if line:
            logging.info("%s", line)
        results: dict[str, float] = {}
        if int(state.global_step) >= total and Stage(int(state.stage)) == Stage.CHILD:
            logging.info("All %d steps (%d epochs) are done already (step counter %d).", total, config.num_epochs,
                         int(state.global_step))
            return results
        while True:
            stage = Stage(int(state.stage))
            if stage == Stage.CHILD:
                if int(state.global_step) >= total:
                    return results
                self._train_epoch()
                epoch, step = int(state.epoch) + 1, int(state.global_step)
                state.epoch.assign(epoch)
                state.step_in_epoch.assign(0)
                state.stage_step.assign(0)
                state.stage.assign(Stage.HOOKS if self._due(epoch, step) else Stage.CHILD)
            else:
                results = self.end_of_epoch(int(state.epoch), int(state.global_step))

    def _train_epoch(self) -> None:
        config, state = self.config, self.state
        total = config.total_steps
        epoch, start, step = int(state.epoch), int(state.step_in_epoch), int(state.global_step)
        inputs = self.task.epoch_inputs(epoch, start)
        try:
            num_steps = len(inputs) + start
        except TypeError:
            num_steps = None
        self.monitor.start_epoch(num_steps, epoch + 1, start)
        for step_in_epoch, args in enumerate(inputs, start=start + 1):
            logs = self.trainer.train_step(*args)
            step += 1
            if step % config.log_every == 0:
                self._log_child(epoch, step, to_python(logs))
            elif self.monitor.progress_bar:
                self.monitor.update_progress(step_in_epoch)
            self.monitor.progress.update(step_in_epoch)
            if step >= total:
                break
            self.maybe_stop_or_save(global_step=step, step_in_epoch=step_in_epoch)
        self.monitor.progress.end()
        state.global_step.assign(step)

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
        """The end-of-epoch block after epoch `epoch` (1-based count of finished epochs), from its saved stage."""
        state = self.state
        self._check_finite(step)
        results = dict(self.task.epoch_results(epoch, step))
        if Stage(int(state.stage)) == Stage.HOOKS:
            for hook in self.hooks:
                hook.end_of_epoch(epoch, step, int(state.stage_step))
            state.stage.assign(Stage.EVALUATION)
            state.stage_step.assign(0)
            # The state before the evaluation: a run stopped during it resumes here.
            state.save("before evaluation")
        self.stop_if_requested()
        self.monitor.progress.start(f"evaluation after epoch {epoch}", None, unit="batch")
        results.update(self.task.evaluate(epoch, step))
        self.monitor.progress.end()
        self.monitor.scalars(step, results, prefix="eval")
        self.task.before_checkpoint()
        state.stage.assign(Stage.CHILD)
        saved = state.save("end of epoch")
        if step < self.config.total_steps and self.stop.agree()[0]:
            raise self._interrupted(saved)
        return results
