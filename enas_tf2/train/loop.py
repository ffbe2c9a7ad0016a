"""The epoch loop shared by search and final training (ENAS_SPEC.md 7.2).

Python only orchestrates here: each child step is one call of a compiled
function that pulls its batch from a `tf.data` iterator (and, in search, samples
its architecture) inside the graph. Values are copied to the host only on
logging steps and at the end of an epoch.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

import tensorflow as tf
from absl import logging

from enas_tf2.errors import TrainingError
from enas_tf2.train.child import ChildTrainer
from enas_tf2.train.monitor import Monitor, to_python
from enas_tf2.train.state import RunState


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Loop settings shared by search and final runs.

    Attributes:
        num_epochs: child epochs to run in total (a resumed run finishes the rest).
        num_train_batches: child steps per epoch, `ceil(N_train / batch_size)`.
        batch_size: child batch size (for the `correct/batch` log field).
        log_every: child log line every this many global steps.
        eval_every_epochs: end-of-epoch block (controller, eval, checkpoint)
            every this many epochs; the last epoch always gets one.
    """

    num_epochs: int
    num_train_batches: int
    batch_size: int
    log_every: int = 50
    eval_every_epochs: int = 1


class EpochLoop:
    """Child epochs with logging, evaluation, and a checkpoint after each block.

    Args:
        config: loop settings.
        child: the compiled child steps.
        state: counters and checkpoint.
        monitor: logging and summaries.
        train_iterator: iterator over training batches.
        eval_datasets: name -> finite dataset of `(images, labels)` evaluated at
            each block (`valid` and `test` in search, `test` in final runs).
        end_of_epoch: called with the epoch number before evaluation (the
            controller phase of a search); may be None.
    """

    def __init__(
        self,
        config: LoopConfig,
        child: ChildTrainer,
        state: RunState,
        monitor: Monitor,
        train_iterator: Iterable,
        eval_datasets: dict[str, tf.data.Dataset],
        end_of_epoch: Callable[[int], None] | None = None,
    ):
        self.config = config
        self.child = child
        self.state = state
        self.monitor = monitor
        self.train_iterator = train_iterator
        self.eval_datasets = eval_datasets
        self.end_of_epoch = end_of_epoch

    def run(self) -> dict[str, float]:
        """Runs the remaining epochs; returns the last evaluation's accuracies."""
        config = self.config
        results: dict[str, float] = {}
        epoch = int(self.state.epoch)
        if epoch >= config.num_epochs:
            logging.info("All %d epochs are done already (epoch counter %d).", config.num_epochs, epoch)
            return results
        while epoch < config.num_epochs:
            self._train_epoch(epoch)
            epoch += 1
            self.state.epoch.assign(epoch)
            if epoch % config.eval_every_epochs == 0 or epoch == config.num_epochs:
                if self.end_of_epoch is not None:
                    self.end_of_epoch(epoch)
                results = self.evaluate(epoch)
                self._check_finite()
                self.state.save()
        return results

    def _train_epoch(self, epoch: int) -> None:
        config = self.config
        self.monitor.start_epoch(config.num_train_batches)
        global_step = int(self.state.global_step)
        for step_in_epoch in range(1, config.num_train_batches + 1):
            logs = self.child.train_step(self.train_iterator)
            global_step += 1
            if global_step % config.log_every == 0:
                self._log_child(epoch, global_step, to_python(logs))
            elif self.monitor.progress_bar:
                self.monitor.update_progress(step_in_epoch)
        self.state.global_step.assign(global_step)

    def _log_child(self, epoch: int, global_step: int, values: dict) -> None:
        self._check_finite(global_step)
        logging.info(
            "epoch=%-4d ch_step=%-6d loss=%.6f lr=%.4f |g|=%.4f tr_acc=%d/%d mins=%.2f",
            epoch,
            global_step,
            values["loss"],
            values["lr"],
            values["grad_norm"],
            round(values["accuracy"] * self.config.batch_size),
            self.config.batch_size,
            self.monitor.minutes(),
        )
        self.monitor.scalars(
            global_step,
            {k: values[k] for k in ("loss", "accuracy", "lr", "grad_norm")},
            prefix="child",
        )

    def _check_finite(self, global_step: int | None = None) -> None:
        if bool(self.child.nonfinite.numpy()):
            step = int(self.state.global_step) if global_step is None else global_step
            latest = self.state.manager.latest_checkpoint or "none yet"
            raise TrainingError(
                f"The child loss became NaN or infinite before step {step}; stopped without saving. "
                f"The last good checkpoint is {latest}. Lower the learning rate (--child_lr_max / --child_lr) "
                f"or check the data, then rerun the same command to resume from that checkpoint "
                f"(or add --reset_output_dir to start over)."
            )

    def evaluate(self, epoch: int) -> dict[str, float]:
        """Accuracy on each eval dataset: `correct / images` (inference mode)."""
        global_step = int(self.state.global_step)
        logging.info("Epoch %d: Eval at step %d", epoch, global_step)
        results = {}
        for name, dataset in self.eval_datasets.items():
            correct = tf.constant(0, tf.int32)
            total = 0
            for images, labels in dataset:
                correct += self.child.eval_step(images, labels)
                total += int(labels.shape[0])
            accuracy = float(correct.numpy()) / max(total, 1)
            results[f"{name}_accuracy"] = accuracy
            logging.info("%s_accuracy: %.4f", name, accuracy)
        self.monitor.scalars(global_step, results, prefix="eval")
        return results
