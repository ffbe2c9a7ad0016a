"""The ENAS search, for every task: child epochs alternating with controller phases, then derivation.

Per epoch (ENAS_SPEC.md 6.6, 7.2; ENAS_PTB_SPEC.md 1.12): one child epoch, each step with a
freshly sampled architecture (controller frozen); then, if `epoch % controller_train_every ==
0`, `controller_train_steps` controller updates of `controller_num_aggregate` samples each
(child frozen), each sample rewarded by the child's score on one validation batch; then the phase's
diagnostics (op distribution, entropy, reward trend, collapse warning: `train.diagnostics`);
then 10 sampled architectures are printed with their score and the best of them drawn; then
the task's evaluation and a checkpoint (`train.loop`).

After the last epoch the final architecture is **derived** (the paper's procedure, absent from
the original code, Q-28): `derive_samples` architectures are sampled from the trained policy,
each is scored on the same validation batch, and the best is written to
`<output_dir>/final_arc.txt` together with the command that trains it from scratch.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from absl import logging

from enas_tf2 import run_record
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.tasks.base import ChildTrainer, Task
from enas_tf2.train.diagnostics import ControllerDiagnostics
from enas_tf2.train.loop import TrainingLoop
from enas_tf2.train.monitor import Monitor, to_python

FINAL_ARC_FILE = run_record.FINAL_ARC_FILE
#: Architectures printed after each controller phase, as the original.
NUM_PRINTED_ARCS = 10


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Controller-phase and derivation settings.

    Attributes:
        controller_train_every: train the controller after epoch e iff e % this == 0.
        controller_train_steps: controller updates per phase.
        controller_log_every: controller log line every this many updates.
        derive_samples: architectures sampled to derive the final one (0: skip).
        train_controller: False for the random policy (`--search_policy=random`): no controller
            updates; the printed and derived architectures are uniform samples.
    """

    controller_train_every: int
    controller_train_steps: int
    controller_log_every: int = 1
    derive_samples: int = 100
    train_controller: bool = True


@dataclasses.dataclass(frozen=True)
class Derivation:
    """The derived architecture and how it was chosen (rewards; the metric is `task.metric`)."""

    arc: np.ndarray
    reward: float
    num_samples: int
    mean_metric: float


class Search:
    """Runs a search end to end; its controller phase is a hook of the training loop.

    Args:
        task: the task (scores, names, pictures, the final command).
        config: controller-phase and derivation settings.
        loop: the training loop (child epochs, evaluation, checkpoints).
        controller: the controller's trainer (optimizer, baseline, RNG).
        child: the child's compiled steps (`score_arc` scores one arc on one batch).
        reward_batches: iterator of validation batches for the printed architectures.
        monitor: logging and summaries.
    """

    def __init__(self, task: Task, config: SearchConfig, loop: TrainingLoop, controller: ControllerTrainer,
                 child: ChildTrainer, reward_batches, monitor: Monitor):
        self.task = task
        self.config = config
        self.loop = loop
        self.controller = controller
        self.child = child
        self.reward_batches = reward_batches
        self.monitor = monitor
        self.diagnostics = ControllerDiagnostics(task, monitor)
        loop.hooks.append(self)

    @property
    def _arc_name(self) -> str:
        """The singular of the task's `arc_noun` ("architecture", "cell")."""
        noun = self.task.arc_noun
        return noun[:-1] if noun.endswith("s") else noun

    def run(self) -> Derivation | None:
        every, epochs = self.config.controller_train_every, self.loop.config.num_epochs
        if epochs < every and self.config.train_controller:
            logging.warning("--num_epochs=%d is below --controller_train_every=%d: the controller will never be "
                            "trained, and the derived architecture is a sample of its initial policy.", epochs, every)
        self.loop.run()
        if self.config.derive_samples <= 0:
            logging.info("--derive_samples=0: no final architecture derived.")
            return None
        derivation = self.derive()
        output_dir = self.monitor.output_dir
        self.write_final_arc(output_dir, derivation)
        self.monitor.picture(
            int(self.loop.state.global_step), "arc/derived_picture", lambda: self.task.draw_arc(derivation.arc),
            os.path.join(output_dir, run_record.FINAL_ARC_PICTURE),
        )
        return derivation

    def end_of_epoch(self, epoch: int, step: int, start: int = 0) -> None:
        """The controller phase after epoch `epoch`, when it is due (spec 6.6); `start` updates were done."""
        if epoch % self.config.controller_train_every == 0:
            self.controller_phase(epoch, step, start)

    def controller_phase(self, epoch: int, step: int, start: int = 0) -> None:
        """Controller updates (from update `start` of the phase on, after a resume), then the 10 printed architectures.

        After each update the loop may save (by time, or at a signal) and stop; the printed
        architectures are short and run to the end before the next save.
        """
        config, task = self.config, self.task
        if config.train_controller:
            self._controller_updates(epoch, step, start)
        self._print_sampled(step)

    def _controller_updates(self, epoch: int, step: int, start: int) -> None:
        """The phase's `controller_train_steps` updates (from update `start` on), then its diagnostics."""
        config, task = self.config, self.task
        logging.info("%s%s", task.controller_phase_log(epoch), f" (resumed after update {start})" if start else "")
        # Read the update counter once: fetching it after every update would wait for each step.
        first_step = int(self.controller.optimizer.iterations.numpy()) + 1
        progress = self.monitor.progress
        progress.start(f"controller phase after epoch {epoch}", config.controller_train_steps, unit="update",
                       done=start)
        sampled = []  # (arc, entropy, reward) tensors of each update, fetched once after the phase
        for done, ctrl_step in enumerate(range(first_step, first_step + config.controller_train_steps - start),
                                         start=start + 1):
            logs = self.controller.train_step()
            sampled.append((logs["arc"], logs["entropy"], logs["reward"]))
            progress.update(done)
            if ctrl_step % config.controller_log_every == 0:
                learning_rate = float(self.controller.optimizer.learning_rate.numpy())
                line, scalars = task.controller_log(ctrl_step, to_python(logs), learning_rate, self.monitor.minutes())
                logging.info("%s", line)
                self.monitor.scalars(ctrl_step, scalars, prefix="controller")
            if done < config.controller_train_steps:
                self.loop.after_hook_step(done)
        progress.end()
        arcs, entropies, rewards = ([np.asarray(value) for value in values] for values in zip(*sampled)) if sampled \
            else ([], [], [])
        self.diagnostics.after_phase(epoch, step, arcs, entropies, rewards)

    def _print_sampled(self, step: int) -> None:
        """The 10 sampled architectures with their score on a validation batch; the best is drawn."""
        task = self.task
        logging.info("Here are %d %s%s", NUM_PRINTED_ARCS, task.arc_noun,
                     "" if self.config.train_controller else " (uniform samples: --search_policy=random)")
        rows, best_arc, best_reward = [], None, -np.inf
        for _ in range(NUM_PRINTED_ARCS):
            arc_tensor = self.controller.sample_arc()["arc"]
            inputs, targets = next(self.reward_batches)
            reward = float(self.child.score_arc(inputs, targets, arc_tensor).numpy())
            arc = arc_tensor.numpy()
            text = task.describe_arc(arc)
            logging.info("%s\n%s\n%s", text, task.metric.format(reward), "-" * 80)
            rows.append(f"{text}\n{task.metric.format(reward)}")
            if reward > best_reward:
                best_arc, best_reward = arc, reward
        self.monitor.text(step, "arc/sampled", "\n\n".join(rows))
        # The best of the printed architectures, drawn: the image's step slider shows the search's drift.
        self.monitor.picture(step, "arc/sampled_best_picture", lambda: task.draw_arc(best_arc))

    def derive(self) -> Derivation:
        """Samples `derive_samples` arcs, scores each on one validation batch, keeps the best."""
        task = self.task
        inputs, targets = task.derive_batch()
        num = self.config.derive_samples
        logging.info("Deriving the final %s: %d samples scored on %s", self._arc_name, num, task.derive_noun)
        best_arc, best_reward, metrics = None, -np.inf, []
        progress = self.monitor.progress
        progress.start("derivation", num, unit="sample")
        for done in range(1, num + 1):
            # The last checkpoint is the state before the derivation: a stop here loses nothing.
            self.loop.stop_if_requested()
            arc = self.controller.sample_arc()["arc"]
            reward = float(self.child.score_arc(inputs, targets, arc).numpy())
            metrics.append(task.metric.from_reward(reward))
            if reward > best_reward:
                best_arc, best_reward = arc.numpy(), reward
            progress.update(done)
        progress.end()
        derivation = Derivation(best_arc, best_reward, num, float(np.mean(metrics)))
        logging.info("Derived %s (%s; mean of the %d samples %s):\n%s", self._arc_name, task.metric.format(best_reward),
                     num, f"{derivation.mean_metric:{task.metric.fmt}}", task.describe_arc(best_arc))
        self.monitor.text(int(self.loop.state.global_step), "arc/derived", task.describe_arc(best_arc))
        return derivation

    def write_final_arc(self, output_dir: str, derivation: Derivation) -> str:
        """Writes `final_arc.txt`: the arc on its first line, then how to train it."""
        task = self.task
        arc_string = task.arc_string(derivation.arc)
        policy = "sampled" if self.config.train_controller else "uniformly sampled (--search_policy=random)"
        command = task.final_command(arc_string)
        path = os.path.join(output_dir, FINAL_ARC_FILE)
        run_record.write_text_atomically(
            path,
            f"{arc_string}\n# best of {derivation.num_samples} {policy} {task.arc_noun} on {task.derive_noun}: "
            f"{task.metric.format(derivation.reward)} (mean {derivation.mean_metric:{task.metric.fmt}})\n"
            f"# train it from scratch with:\n# {command}\n",
        )
        logging.info("Wrote %s. Train it with:\n%s", path, command)
        return path
