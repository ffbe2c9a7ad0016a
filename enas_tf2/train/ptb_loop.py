"""The PTB training loop: passes over the training stream, end-of-epoch blocks, derivation, test.

One *pass* walks the `[B, N // B]` training stream once, in windows (enas_lm: random lengths,
a new draw per pass; original: fixed `T`), carrying the state from window to window and
zeroing it at the pass end (ENAS_PTB_SPEC.md 1.7, 1.9). Training stops when the global step
reaches `num_epochs x nominal windows per epoch` (both references count steps that way, so an
enas_lm run of "600 epochs" makes about 575 passes). After every `eval_every_epochs` passes:

1. search: the controller phase (`controller_train_steps` REINFORCE updates of
   `controller_num_aggregate` samples, reward `80 / ppl` on one validation window each), then
   10 sampled cells printed with their reward;
2. validation: batch `B`, windows of 35, the state zeroed first and carried across windows
   (enas_lm search zeroes it before every window), a fresh cell per window in a search; with
   weight averaging started, the averaged weights are evaluated;
3. final enas_lm: the non-monotone averaging trigger (ENAS_PTB_SPEC.md 2.3); original: a test
   pass whenever validation beats its running best (initially 67.00, ENAS_SPEC.md 8.5);
4. a checkpoint (after the state is zeroed, so a resumed run starts the next pass exactly as
   the uninterrupted one would).

A final run ends with the batch-1 test pass over the whole split (averaged weights if
averaging ever started) and writes `final_metrics.json`; a search ends by deriving a cell:
`derive_samples` samples scored on one validation window, the best (lowest ppl) written to
`final_arc.txt` with the command that trains it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Callable

import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2 import run_record
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.data import ptb as ptb_data
from enas_tf2.errors import TrainingError
from enas_tf2.train.monitor import Monitor, to_python
from enas_tf2.train.ptb_trainer import REWARD_CONSTANT, PtbTrainer
from enas_tf2.train.state import RunState

FINAL_ARC_FILE = run_record.FINAL_ARC_FILE
FINAL_METRICS_FILE = run_record.FINAL_METRICS_FILE
#: Cells printed after each controller phase, as the original.
NUM_PRINTED_ARCS = 10
#: Validation windows are 35 long in both references, whatever the training BPTT.
VALID_BPTT = 35


@dataclasses.dataclass(frozen=True)
class PtbLoopConfig:
    """Loop settings (from `ptb_config.PtbRunConfig` and the flags).

    Attributes:
        search: search (controller phases, derivation) or final training (test pass).
        num_epochs: nominal epochs; the run stops at `num_epochs * nominal_batches` steps.
        batch_size: `B` of the training and validation streams.
        bptt: training window length (the mean length with `random_bptt`).
        random_bptt: enas_lm's random window lengths.
        log_every: child log line every this many steps.
        eval_every_epochs: end-of-epoch block every this many passes (and after the last).
        valid_carry_state: carry the state across validation windows.
        test_bptt: window length of the batch-1 test pass.
        test_threshold: original: test whenever validation beats this running best; None: never
            during training.
        average_nonmono: the averaging trigger's window `n`.
        controller_train_every, controller_train_steps: the controller phase.
        derive_samples: cells sampled at the end of a search (0: no derivation).
        seed: seed of the window lengths.
        max_steps: stop at this global step if it comes before `num_epochs` (a short try: the
            end-of-epoch block, derivation or test still run at the stop).
    """

    search: bool
    num_epochs: int
    batch_size: int
    bptt: int
    random_bptt: bool
    log_every: int
    eval_every_epochs: int = 1
    valid_carry_state: bool = True
    test_bptt: int = 35
    test_threshold: float | None = None
    average_nonmono: int = 10
    controller_train_every: int = 1
    controller_train_steps: int = 1
    derive_samples: int = 0
    seed: int = 0
    max_steps: int | None = None


class PtbLoop:
    """Runs a PTB search or final training to the end, resumably.

    Args:
        config: loop settings.
        trainer: the child's compiled steps.
        data: the PTB splits.
        state: counters and checkpoint (created with `checkpoint_items()` included).
        monitor: logging and summaries.
        controller: search only: the controller's trainer (its reward reads `reward_windows`).
        reward_windows: search only: the iterator the controller's reward draws windows from.
        describe_arc: formats a flat arc for logs (search only).
        arc_to_string: a flat arc in its encoding, one line (search only).
        final_command: the command that trains a derived arc string (search only).
        draw_arc: draws a flat arc for `final_arc.png` (search only; None: no picture).
    """

    def __init__(
        self,
        config: PtbLoopConfig,
        trainer: PtbTrainer,
        data: ptb_data.PtbData,
        state: RunState,
        monitor: Monitor,
        controller: ControllerTrainer | None = None,
        reward_windows=None,
        describe_arc: Callable[[np.ndarray], str] | None = None,
        arc_to_string: Callable[[np.ndarray], str] | None = None,
        final_command: Callable[[str], str] | None = None,
        draw_arc: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.config = config
        self.trainer = trainer
        self.data = data
        self.state = state
        self.monitor = monitor
        self.controller = controller
        self.reward_windows = reward_windows
        self.describe_arc = describe_arc
        self.arc_to_string = arc_to_string
        self.final_command = final_command
        self.draw_arc = draw_arc
        self.train_stream = ptb_data.batchify(data.train, config.batch_size)
        self.nominal_batches = ptb_data.num_windows_per_epoch(len(data.train), config.batch_size, config.bptt)
        if self.nominal_batches < 1:
            raise TrainingError(
                f"The training split ({len(data.train)} ids) has no window of {config.bptt} at batch size "
                f"{config.batch_size}; lower --batch_size or --child_bptt_steps."
            )
        self.total_steps = config.num_epochs * self.nominal_batches
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.valid_dataset = ptb_data.make_window_dataset(ptb_data.batchify(data.valid, config.batch_size), VALID_BPTT)
        self.test_dataset = ptb_data.make_test_dataset(data.test, config.test_bptt)

    @staticmethod
    def make_tracked_variables() -> dict[str, tf.Variable]:
        """Loop state that a checkpoint must carry: the validation history and best."""
        return {
            "valid_history": tf.Variable(tf.zeros([0]), shape=tf.TensorShape([None]), trainable=False,
                                         name="valid_history"),
            "best_valid_ppl": tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="best_valid_ppl"),
        }

    def _tracked(self, name: str) -> tf.Variable:
        return getattr(self.state.checkpoint, name)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> dict[str, float]:
        """Trains to `total_steps` (continuing a resumed run), then tests or derives."""
        config = self.config
        step = int(self.state.global_step)
        passes = int(self.state.epoch)
        logging.info(
            "PTB %s: %d steps (%d nominal epochs x %d windows of %d at batch %d)%s",
            "search" if config.search else "final training", self.total_steps, config.num_epochs,
            self.nominal_batches, config.bptt, config.batch_size, ", random lengths" if config.random_bptt else "",
        )
        results: dict[str, float] = {}
        if step >= self.total_steps:
            logging.info("All %d steps are done already (step counter %d).", self.total_steps, step)
        while step < self.total_steps:
            step = self._train_pass(passes, step)
            passes += 1
            self.state.epoch.assign(passes)
            self.state.global_step.assign(step)
            if passes % config.eval_every_epochs == 0 or step >= self.total_steps:
                results = self._end_of_epoch(passes, step)
        if config.search:
            if config.derive_samples > 0:
                self.derive()
            return results
        return self.finish_final(results)

    def _train_pass(self, pass_index: int, step: int) -> int:
        config = self.config
        trainer = self.trainer
        trainer.reset_state()
        trainer.reset_epoch_stats()
        windows = ptb_data.make_window_dataset(
            self.train_stream, config.bptt, random_len=config.random_bptt, seed=config.seed, epoch=pass_index
        )
        for x, y in windows:
            logs = trainer.train_step(x, y)
            step += 1
            if step % config.log_every == 0:
                self._log_child(pass_index, step, to_python(logs))
            if step >= self.total_steps:
                break
        return step

    def _log_child(self, pass_index: int, step: int, values: dict) -> None:
        self._check_finite(step)
        train_ppl = self.trainer.train_perplexity()
        averaging = self.trainer.average is not None and bool(self.trainer.average.started.numpy())
        logging.info(
            "epoch=%-4d step=%-7d ppl=%-9.2f lr=%-7.4f |w|=%-9.4g |g|=%-8.4f len=%-3d avg=%d mins=%.2f",
            step // self.nominal_batches, step, train_ppl, values["lr"], values["weight_penalty"],
            values["grad_norm"], values["length"], averaging, self.monitor.minutes(),
        )
        self.monitor.scalars(
            step,
            {"train_ppl": train_ppl, "loss": values["loss"], "lr": values["lr"], "grad_norm": values["grad_norm"],
             "weight_penalty": values["weight_penalty"], "window_length": values["length"]},
            prefix="child",
        )

    def _check_finite(self, step: int | None = None) -> None:
        if bool(self.trainer.nonfinite.numpy()):
            step = int(self.state.global_step) if step is None else step
            latest = self.state.manager.latest_checkpoint or "none yet"
            raise TrainingError(
                f"The PTB loss became NaN or infinite before step {step}; stopped without saving. The last good "
                f"checkpoint is {latest}. Lower --child_lr or raise regularisation, then rerun the same command to "
                "resume from that checkpoint (or add --reset_output_dir to start over)."
            )

    def _end_of_epoch(self, passes: int, step: int) -> dict[str, float]:
        config = self.config
        self._check_finite(step)
        results = {"train_ppl": self.trainer.train_perplexity()}
        logging.info("Pass %d done at step %d: train ppl %.2f", passes, step, results["train_ppl"])
        if config.search and passes % config.controller_train_every == 0:
            self.controller_phase(step)
        results["valid_ppl"] = self.validate()
        logging.info("valid_ppl=%.2f", results["valid_ppl"])
        if not config.search:
            self._maybe_start_averaging(results["valid_ppl"])
            best = self._tracked("best_valid_ppl")
            if config.test_threshold is not None and results["valid_ppl"] < min(float(best.numpy()), config.test_threshold):
                best.assign(results["valid_ppl"])
                results["test_ppl"] = self.test()
        self.monitor.scalars(step, results, prefix="eval")
        self.trainer.reset_state()
        self.state.save()
        return results

    # -- evaluation ----------------------------------------------------------------------------

    def _averaged(self):
        average = self.trainer.average
        if average is not None and bool(average.started.numpy()):
            return average.averaged()
        return contextlib.nullcontext()

    def validate(self) -> float:
        with self._averaged():
            return self.trainer.evaluate(
                self.valid_dataset, carry_state=self.config.valid_carry_state, sample_arcs=self.config.search
            )

    def test(self) -> float:
        """The batch-1 pass over the whole test split (ENAS_PTB_SPEC.md 2.5)."""
        logging.info("Test pass: batch 1 over %d targets", len(self.data.test) - 1)
        with self._averaged():
            ppl = self.trainer.evaluate(self.test_dataset, carry_state=True)
        logging.info("test_ppl=%.2f", ppl)
        return ppl

    def _maybe_start_averaging(self, valid_ppl: float) -> None:
        """enas_lm's non-monotone trigger: start once validation is worse than the best before the last n."""
        history_var = self._tracked("valid_history")
        history = list(history_var.numpy())
        average = self.trainer.average
        n = self.config.average_nonmono
        if average is not None and not bool(average.started.numpy()):
            if should_start_averaging(history, valid_ppl, n):
                logging.info("Starting weight averaging: valid ppl %.2f > %.2f, the best before the last %d",
                             valid_ppl, min(history[:-n]), n)
                average.start()
        history_var.assign(np.asarray(history + [valid_ppl], np.float32))

    def finish_final(self, results: dict[str, float]) -> dict[str, float]:
        """The end-of-training test pass and `final_metrics.json` (kept as is when a finished run is rerun)."""
        if not results:
            existing = run_record.read_final_metrics(self.monitor.output_dir)
            if existing is not None:
                logging.info("Final results are in %s already: %s", FINAL_METRICS_FILE, existing)
                return existing
            results = {"valid_ppl": self.validate()}
        results = dict(results, test_ppl=self.test())
        self.monitor.scalars(int(self.state.global_step), {"test_ppl": results["test_ppl"]}, prefix="eval")
        path = run_record.write_final_metrics(self.monitor.output_dir, results)
        logging.info("Final results %s written to %s", results, path)
        return results

    # -- search --------------------------------------------------------------------------------

    def controller_phase(self, step: int) -> None:
        controller = self.controller
        logging.info("Training controller: %d updates of %d samples", self.config.controller_train_steps,
                     controller.num_aggregate)
        first = int(controller.optimizer.iterations.numpy()) + 1
        for ctrl_step in range(first, first + self.config.controller_train_steps):
            values = to_python(controller.train_step())
            ppl = REWARD_CONSTANT / max(values["accuracy"], 1e-12)
            logging.info(
                "ctrl_step=%-5d loss=%-9.4f ent=%-7.3f ppl=%-9.2f rw=%-7.4f bl=%-7.4f |g|=%.3g arc=%s",
                ctrl_step, values["loss"], values["entropy"], ppl, values["reward"], values["baseline"],
                values["grad_norm"], " ".join(str(int(a)) for a in values["arc"]),
            )
            self.monitor.scalars(
                ctrl_step,
                {"loss": values["loss"], "reward": values["reward"], "ppl": ppl, "baseline": values["baseline"],
                 "entropy": values["entropy"], "log_prob": values["log_prob"], "grad_norm": values["grad_norm"]},
                prefix="controller",
            )
        rows = []
        for _ in range(NUM_PRINTED_ARCS):
            arc = controller.sample_arc()["arc"]
            x, y = next(self.reward_windows)
            ppl = REWARD_CONSTANT / float(self.trainer.score_arc(x, y, arc).numpy())
            text = self.describe_arc(arc.numpy())
            logging.info("%s\nvalid window ppl=%.2f\n%s", text, ppl, "-" * 60)
            rows.append(f"{text}\nppl={ppl:.2f}")
        self.monitor.text(step, "arc/sampled", "\n\n".join(rows))

    def derive(self) -> str:
        """Samples `derive_samples` cells, scores each on one validation window, writes the best."""
        x, y = next(iter(self.valid_dataset))
        num = self.config.derive_samples
        logging.info("Deriving the final cell: %d samples scored on one validation window", num)
        best_arc, best_ppl, ppls = None, np.inf, []
        for _ in range(num):
            arc = self.controller.sample_arc()["arc"]
            ppl = REWARD_CONSTANT / float(self.trainer.score_arc(x, y, arc).numpy())
            ppls.append(ppl)
            if ppl < best_ppl:
                best_arc, best_ppl = arc.numpy(), ppl
        arc_string = self.arc_to_string(best_arc)
        command = self.final_command(arc_string)
        logging.info("Derived cell (valid window ppl %.2f; mean of %d samples %.2f):\n%s", best_ppl, num,
                     float(np.mean(ppls)), self.describe_arc(best_arc))
        self.monitor.text(int(self.state.global_step), "arc/derived", self.describe_arc(best_arc))
        path = os.path.join(self.monitor.output_dir, FINAL_ARC_FILE)
        run_record.write_text_atomically(
            path,
            f"{arc_string}\n# best of {num} sampled cells on one validation window: ppl={best_ppl:.2f} "
            f"(mean {float(np.mean(ppls)):.2f})\n# train it from scratch with:\n# {command}\n",
        )
        logging.info("Wrote %s. Train it with:\n%s", path, command)
        if self.draw_arc is not None:
            self.monitor.picture(
                int(self.state.global_step),
                "arc/derived_picture",
                lambda: self.draw_arc(best_arc),
                os.path.join(self.monitor.output_dir, run_record.FINAL_ARC_PICTURE),
            )
        return arc_string


def should_start_averaging(history: list[float], valid_ppl: float, nonmono: int) -> bool:
    """AWD-LSTM's non-monotone trigger as enas_lm `fixed.py` has it (ENAS_PTB_SPEC.md 2.3).

    Start when more than `nonmono` earlier validation perplexities are recorded and the current
    one is worse than the best of all but the `nonmono` most recent.
    """
    return len(history) > nonmono and valid_ppl > min(history[:-nonmono])
