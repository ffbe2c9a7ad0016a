"""The ENAS search: child epochs alternating with controller phases, then derivation.

Per epoch (ENAS_SPEC.md 6.6, 7.2): one child epoch, each step with a freshly
sampled architecture (controller frozen); then, if `epoch %
controller_train_every == 0`, `controller_train_steps` controller updates of
`controller_num_aggregate` samples each (child frozen), scored on validation
minibatches; then 10 sampled architectures are printed with their
reward-minibatch accuracy; then valid and test accuracy (each batch with a fresh
architecture, Q-11) and a checkpoint.

After the last epoch the final architecture is **derived** (the paper's
procedure, absent from the original code, Q-28): `derive_samples` architectures
are sampled from the trained policy, each is scored on the same validation
minibatch, and the best is written to `<output_dir>/final_arc.txt` together with
the command that trains it from scratch.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2 import run_record
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.train.child import ChildTrainer
from enas_tf2.train.loop import EpochLoop
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
        log_every: controller log line every this many updates.
        derive_samples: architectures sampled to derive the final one (0: skip).
        final_command: formats the command that trains a derived arc string.
    """

    controller_train_every: int
    controller_train_steps: int
    log_every: int
    derive_samples: int
    final_command: Callable[[str], str]


@dataclasses.dataclass(frozen=True)
class Derivation:
    """The derived architecture and how it was chosen."""

    arc: np.ndarray
    accuracy: float
    num_samples: int
    mean_accuracy: float


class Search:
    """Runs a search end to end.

    Args:
        config: controller-phase and derivation settings.
        loop: the epoch loop (child training, evaluation, checkpoints); its
            `end_of_epoch` hook is set to this search's controller phase.
        controller: the controller's trainer (optimizer, baseline, RNG).
        child: the child's compiled steps (`score_arc` scores one arc).
        reward_batches: iterator of validation minibatches for the printed archs.
        derive_batch: the one validation minibatch every derived candidate is scored on.
        describe_arc: formats a flat arc as the original prints it.
        arc_to_string: formats a flat arc in the original encoding (one line).
        monitor: logging and summaries.
        draw_arc: draws a flat arc (`final_arc.png` and a TensorBoard image); None: no picture.
    """

    def __init__(
        self,
        config: SearchConfig,
        loop: EpochLoop,
        controller: ControllerTrainer,
        child: ChildTrainer,
        reward_batches,
        derive_batch: tuple[tf.Tensor, tf.Tensor],
        describe_arc: Callable[[np.ndarray], str],
        arc_to_string: Callable[[np.ndarray], str],
        monitor: Monitor,
        draw_arc: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.config = config
        self.loop = loop
        self.controller = controller
        self.child = child
        self.reward_batches = reward_batches
        self.derive_batch = derive_batch
        self.describe_arc = describe_arc
        self.arc_to_string = arc_to_string
        self.monitor = monitor
        self.draw_arc = draw_arc
        loop.end_of_epoch = self.controller_phase

    def run(self) -> Derivation | None:
        self.loop.run()
        output_dir = self.monitor.output_dir
        if self.config.derive_samples <= 0:
            logging.info("--derive_samples=0: no final architecture derived.")
            return None
        derivation = self.derive()
        self.write_final_arc(output_dir, derivation)
        if self.draw_arc is not None:
            self.monitor.picture(
                int(self.loop.state.global_step),
                "arc/derived_picture",
                lambda: self.draw_arc(derivation.arc),
                os.path.join(output_dir, run_record.FINAL_ARC_PICTURE),
            )
        return derivation

    def controller_phase(self, epoch: int) -> None:
        """Controller updates and the 10 printed architectures (spec 6.6)."""
        config = self.config
        if epoch % config.controller_train_every != 0:
            return
        logging.info("Epoch %d: Training controller", epoch)
        # Read the update counter once: fetching it after every update would wait for each step.
        first_step = int(self.controller.optimizer.iterations.numpy()) + 1
        for step in range(first_step, first_step + config.controller_train_steps):
            logs = self.controller.train_step()
            if step % config.log_every == 0:
                values = to_python(logs)
                logging.info(
                    "ctrl_step=%-6d loss=%.3f ent=%.2f lr=%.4f |g|=%.4f acc=%.4f bl=%.2f skip_rate=%.3f mins=%.2f",
                    step,
                    values["loss"],
                    values["entropy"],
                    float(self.controller.optimizer.learning_rate.numpy()),
                    values["grad_norm"],
                    values["accuracy"],
                    values["baseline"],
                    values["skip_rate"],
                    self.monitor.minutes(),
                )
                self.monitor.scalars(
                    step,
                    {
                        k: values[k]
                        for k in ("loss", "reward", "accuracy", "baseline", "entropy", "log_prob", "skip_rate", "grad_norm")
                    },
                    prefix="controller",
                )
        logging.info("Here are %d architectures", NUM_PRINTED_ARCS)
        rows = []
        for _ in range(NUM_PRINTED_ARCS):
            arc = self.controller.sample_arc()["arc"]
            images, labels = next(self.reward_batches)
            accuracy = float(self.child.score_arc(images, labels, arc).numpy())
            text = self.describe_arc(arc.numpy())
            logging.info("%s\nval_acc=%.4f\n%s", text, accuracy, "-" * 80)
            rows.append(f"{text}\nval_acc={accuracy:.4f}")
        self.monitor.text(int(self.loop.state.global_step), "arc/sampled", "\n\n".join(rows))

    def derive(self) -> Derivation:
        """Samples `derive_samples` arcs, scores each on one validation minibatch, keeps the best."""
        images, labels = self.derive_batch
        num = self.config.derive_samples
        logging.info("Deriving the final architecture: %d samples, one validation minibatch of %d", num, len(labels))
        best_arc, best_accuracy, accuracies = None, -1.0, []
        for _ in range(num):
            arc = self.controller.sample_arc()["arc"]
            accuracy = float(self.child.score_arc(images, labels, arc).numpy())
            accuracies.append(accuracy)
            if accuracy > best_accuracy:
                best_arc, best_accuracy = arc.numpy(), accuracy
        derivation = Derivation(best_arc, best_accuracy, num, float(np.mean(accuracies)))
        logging.info(
            "Derived architecture (val_acc=%.4f; mean of the %d samples %.4f):\n%s",
            best_accuracy,
            num,
            derivation.mean_accuracy,
            self.describe_arc(best_arc),
        )
        self.monitor.text(int(self.loop.state.global_step), "arc/derived", self.describe_arc(best_arc))
        return derivation

    def write_final_arc(self, output_dir: str, derivation: Derivation) -> str:
        """Writes `final_arc.txt`: the arc on its first line, then how to train it."""
        arc_string = self.arc_to_string(derivation.arc)
        command = self.config.final_command(arc_string)
        path = os.path.join(output_dir, FINAL_ARC_FILE)
        run_record.write_text_atomically(
            path,
            f"{arc_string}\n# best of {derivation.num_samples} sampled architectures on one validation minibatch: "
            f"val_acc={derivation.accuracy:.4f} (mean {derivation.mean_accuracy:.4f})\n"
            f"# train it from scratch with:\n# {command}\n",
        )
        logging.info("Wrote %s. Train it with:\n%s", path, command)
        return path
