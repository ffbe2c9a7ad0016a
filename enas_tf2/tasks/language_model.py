"""Language modelling (Penn Treebank by default, any corpus): the recurrent-cell space's task.

What differs from other tasks (ENAS_PTB_SPEC.md, ENAS_SPEC.md 8): a corpus of word ids
(`data.ptb`, `data.text_corpus`); the recurrent-cell supernet and fixed network (`spaces.rnn`)
in one of two implementations (`ptb_impl`: the authors' corrected `enas_lm`, or the original);
the PTB controller; truncated BPTT with a carried state and clipped SGD (`lm_trainer`); an epoch
is one pass over the training stream in windows (enas_lm: random lengths, a new draw per pass);
the reward is `80 / ppl` on one validation window; evaluation is the validation perplexity (final
enas_lm runs: the averaging trigger; the original: a test pass whenever validation beats its
best); a final run ends with the batch-1 test pass over the whole split.

One pass walks the `[B, N // B]` training stream once, carrying the state from window to window
and zeroing it at the pass end (ENAS_PTB_SPEC.md 1.7, 1.9). Training stops when the global step
reaches `num_epochs x nominal windows per epoch` (both references count steps that way, so an
enas_lm run of "600 epochs" makes about 575 passes). The state is zeroed before each checkpoint,
so a resumed run starts the next pass exactly as the uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2 import arch, distribute, pictures, run_record
from enas_tf2.configs.language_model import LanguageModelConfig
from enas_tf2.precision import policy_scope
from enas_tf2.controllers.ptb import PtbController
from enas_tf2.controllers.trainer import ReplicaRewards
from enas_tf2.data import ptb as ptb_data
from enas_tf2.data import text_windows
from enas_tf2.data.streams import ResumableStream
from enas_tf2.errors import FlagError, TrainingError
from enas_tf2.spaces.rnn import PtbNetwork, PtbSupernet
from enas_tf2.tasks.base import ArcSampler, Metric, Task, count_params, num_batches
from enas_tf2.tasks.lm_trainer import (
    REWARD_CONSTANT,
    LanguageModelTrainConfig,
    LanguageModelTrainer,
)
from enas_tf2.train.schedules import StaircaseDecayPerEpoch

#: Validation windows are 35 long in both references, whatever the training BPTT.
VALID_BPTT = 35


def should_start_averaging(history: list[float], valid_ppl: float, nonmono: int) -> bool:
    """AWD-LSTM's non-monotone trigger as enas_lm `fixed.py` has it (ENAS_PTB_SPEC.md 2.3).

    Start when more than `nonmono` earlier validation perplexities are recorded and the current
    one is worse than the best of all but the `nonmono` most recent.
    """
    return len(history) > nonmono and valid_ppl > min(history[:-nonmono])


def _ppl_from_reward(reward: float) -> float:
    return REWARD_CONSTANT / max(reward, 1e-12)


class LanguageModelTask(Task):
    """ENAS on language modelling: the recurrent-cell space.

    Args:
        config: the resolved run configuration (`configs.language_model.resolve`).
    """

    name = "language_model"
    metric = Metric("ppl", from_reward=_ppl_from_reward, fmt=".2f", higher_is_better=False)
    standalone_metric = "valid_ppl"
    arc_noun = "cells"
    derive_noun = "one validation window"
    nonfinite_hint = "Lower --child_lr or raise regularisation"

    def __init__(self, config: LanguageModelConfig):
        self.config = config
        self.run_config = config.run
        self.controller_config = config.controller
        self.data: ptb_data.TextCorpus | None = None
        self.trainer: LanguageModelTrainer | None = None
        # Filled in by `prepare`; a task built without data (`--summary_only`, the benchmark) keeps it.
        self.nominal_batches = 1
        # The validation history and best (final runs): made with the checkpoint, after the strategy.
        self.valid_history: tf.Variable | None = None
        self.best_valid_ppl: tf.Variable | None = None

    # -- data ------------------------------------------------------------------------------

    def load_data(self) -> None:
        self.data = ptb_data.load_ptb(self.config.data_path)

    def data_log(self) -> str:
        data, config = self.data, self.config
        line = (f"Data from {data.source}: {len(data.train)} train, {len(data.valid)} valid, {len(data.test)} test "
                f"ids, vocabulary {data.vocab_size}")
        if config.fixed_arc is not None:
            line += (f"\nCell ({config.arc_format} encoding, cell output {config.cell_output}):\n"
                     f"{config.fixed_arc.describe(config.arc_format)}")
        return line

    def check_strategy(self, strategy: tf.distribute.Strategy) -> None:
        replicas = distribute.num_replicas(strategy)
        if self.config.batch_size % replicas:
            raise FlagError(f"--batch_size={self.config.batch_size} (rows of the training stream) must split evenly "
                            f"over the {replicas} replicas; use a multiple of {replicas}.")

    def batch_log(self) -> tuple[int, str]:
        return self.config.batch_size, "stream rows"

    def prepare(self, strategy: tf.distribute.Strategy) -> None:
        config, data = self.config, self.data
        self.strategy = strategy
        self.train_stream = text_windows.batchify(data.train, config.batch_size)
        self.nominal_batches = text_windows.num_windows_per_epoch(len(data.train), config.batch_size, config.bptt)
        if self.nominal_batches < 1:
            raise TrainingError(
                f"The training split ({len(data.train)} ids) has no window of {config.bptt} at batch size "
                f"{config.batch_size}; lower --batch_size or --child_bptt_steps."
            )
        seed = self.run_config.seed
        # Window lengths are drawn per pass from (seed, pass), so a resumed run sees the same windows.
        self.window_seed = int(np.random.randint(2**31)) if seed is None else seed
        self.valid_dataset = text_windows.make_window_dataset(
            text_windows.batchify(data.valid, config.batch_size), VALID_BPTT
        )
        self.test_dataset = text_windows.make_test_dataset(data.test, config.test_bptt)

    # -- networks and steps -----------------------------------------------------------------

    def build_child(self) -> keras.Model:
        config = self.config
        common = dict(
            vocab_size=self.data.vocab_size if self.data is not None else ptb_data.PTB_VOCAB_SIZE,
            hidden_size=config.hidden_size, ptb_impl=config.ptb_impl, cell_output=config.cell_output,
            init_range=config.init_range, **config.dropout,
        )
        with policy_scope(self.run_config.precision):  # float32 weights under every policy (precision.py)
            if config.search:
                model = PtbSupernet(num_nodes=config.num_nodes, name="child", **common)
            else:
                model = PtbNetwork(config.fixed_arc, name="child", **common)
            model.build()
        return model

    def build_controller(self) -> keras.Model:
        config = self.config
        return PtbController(
            num_nodes=config.num_nodes, ptb_impl=config.ptb_impl, tanh_constant=config.controller.tanh_constant,
            temperature=config.controller.temperature, name="controller",
        )

    def _reward_dataset(self, start: int = 0) -> tf.data.Dataset:
        """The endless reward windows from window number `start` on."""
        valid_stream = text_windows.batchify(self.data.valid, self.config.batch_size)
        if self.config.ptb_impl == "enas_lm":  # the next in-order validation window (ENAS_PTB_SPEC.md 1.11)
            windows = text_windows.make_window_dataset(valid_stream, VALID_BPTT)
            return windows.repeat().skip(start % int(windows.cardinality()))
        # A random validation window (ENAS_SPEC.md 8.6).
        return text_windows.make_random_window_dataset(valid_stream, VALID_BPTT, seed=self.run_config.seed,
                                                       start=start)

    def reward_batches(self) -> ResumableStream:
        # The controller's rewards on one device, and the printed cells' windows.
        return ResumableStream(self._reward_dataset, name="reward_batches")

    def replica_rewards(self, strategy: tf.distribute.Strategy, trainer: Callable[[], LanguageModelTrainer]):
        """With several replicas: one reward window per replica in every round, in the windows' order."""
        replicas = distribute.num_replicas(strategy)
        if replicas == 1:
            return None
        # Windows j*N .. j*N + N-1 form round j; replica r takes window j*N + r, as one device takes them in turn.
        stream = ResumableStream(
            lambda start: self._reward_dataset(start * replicas).batch(replicas, drop_remainder=True),
            name="replica_reward_batches", wrap=lambda dataset: distribute.distributed_dataset(strategy, dataset),
        )
        return ReplicaRewards(stream, lambda x, y, arc: trainer().score_batch(x[0], y[0], arc))

    def learning_rate(self):
        config = self.config
        if config.ptb_impl == "enas_lm" and config.lr_warmup_val is None:
            return config.lr
        return StaircaseDecayPerEpoch(
            config.lr, 1.0 if config.lr_dec_rate is None else config.lr_dec_rate, config.lr_dec_every,
            max(self.nominal_batches, 1), dec_start=config.lr_dec_start, dec_min=config.lr_dec_min,
            warmup_val=config.lr_warmup_val, warmup_steps=config.lr_warmup_steps,
        )

    def build_child_trainer(self, child: keras.Model, sample_arc: ArcSampler | None,
                            strategy: tf.distribute.Strategy) -> LanguageModelTrainer:
        config = self.config
        self.trainer = LanguageModelTrainer(
            child,
            LanguageModelTrainConfig(
                ptb_impl=config.ptb_impl, batch_size=config.batch_size, bptt=config.bptt,
                learning_rate=self.learning_rate(), scale_lr_by_length=config.ptb_impl == "enas_lm",
                grad_bound=config.grad_bound, weight_decay=config.weight_decay,
                fix_weight_penalty=config.fix_weight_penalty, activation_reg=config.activation_reg,
                slowness_reg=config.slowness_reg, reset_state_prob=config.reset_state_prob,
                average_weights=config.average_weights,
            ),
            sample_arc=sample_arc, arc_format=config.arc_format if config.search else None, seed=self.run_config.seed,
            jit_compile=self.run_config.jit_compile, strategy=strategy, precision=self.run_config.precision,
        )
        return self.trainer

    def checkpoint_items(self, trainer: LanguageModelTrainer) -> dict[str, Any]:
        self.valid_history = tf.Variable(tf.zeros([0]), shape=tf.TensorShape([None]), trainable=False,
                                         name="valid_history")
        self.best_valid_ppl = tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="best_valid_ppl")
        # The carried state and the epoch's running CE too: a run saved inside an epoch resumes there.
        items = dict(child_rng=trainer.rng, valid_history=self.valid_history, best_valid_ppl=self.best_valid_ppl,
                     train_state=trainer.state, epoch_ce_sum=trainer.epoch_ce_sum, epoch_steps=trainer.epoch_steps)
        if trainer.average is not None:
            items["weight_average"] = trainer.average
        return items

    # -- the loop ---------------------------------------------------------------------------

    def steps_per_epoch(self) -> int:
        return self.nominal_batches

    def epoch_inputs(self, epoch: int, start: int = 0) -> tf.data.Dataset:
        """Pass `epoch` over the training stream from window `start`; a new pass starts from a zeroed state.

        The windows of a pass depend only on `(seed, epoch)`; a pass resumed at window `start`
        keeps the restored carried state and running CE.
        """
        if start == 0:
            self.trainer.reset_state()
            self.trainer.reset_epoch_stats()
        windows = text_windows.make_window_dataset(
            self.train_stream, self.config.bptt, random_len=self.config.random_bptt, seed=self.window_seed, epoch=epoch
        )
        return windows.skip(start) if start else windows

    def schedule_log(self, total_steps: int) -> str:
        config = self.config
        return (f"PTB {'search' if config.search else 'final training'}: {total_steps} steps "
                f"({self.run_config.num_epochs} nominal epochs x {self.nominal_batches} windows of {config.bptt} at "
                f"batch {config.batch_size}){', random lengths' if config.random_bptt else ''}")

    def child_log(self, epoch: int, step: int, values: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
        train_ppl = self.trainer.train_perplexity()
        average = self.trainer.average
        averaging = average is not None and bool(average.started.numpy())
        line = (f"epoch={step // self.nominal_batches:<4d} step={step:<7d} ppl={train_ppl:<9.2f} "
                f"lr={values['lr']:<7.4f} |w|={values['weight_penalty']:<9.4g} |g|={values['grad_norm']:<8.4f} "
                f"len={int(values['length']):<3d} avg={averaging:d}")
        scalars = {"train_ppl": train_ppl, "loss": values["loss"], "lr": values["lr"],
                   "grad_norm": values["grad_norm"], "weight_penalty": values["weight_penalty"],
                   "window_length": values["length"]}
        return line, scalars

    def epoch_results(self, epoch: int, step: int) -> dict[str, float]:
        train_ppl = self.trainer.train_perplexity()
        logging.info("Pass %d done at step %d: train ppl %.2f", epoch, step, train_ppl)
        return {"train_ppl": train_ppl}

    def _averaged(self):
        average = self.trainer.average
        if average is not None and bool(average.started.numpy()):
            return average.averaged()
        return contextlib.nullcontext()

    def validate(self) -> float:
        self.progress.start("validation", num_batches(self.valid_dataset), unit="window")
        with self._averaged():
            return self.trainer.evaluate(self.valid_dataset, carry_state=self.config.valid_carry_state,
                                         sample_arcs=self.config.search, on_window=self.progress.update)

    def shared_score(self, arc: np.ndarray) -> float:
        """Validation perplexity of one cell with the supernet's weights (each window as the search's validation)."""
        self.progress.start("shared-weight validation", num_batches(self.valid_dataset), unit="window")
        ppl = self.trainer.evaluate(self.valid_dataset, carry_state=self.config.valid_carry_state,
                                    arc=tf.constant(np.asarray(arc), tf.int32), on_window=self.progress.update)
        self.progress.end()
        return ppl

    def test(self) -> float:
        """The batch-1 pass over the whole test split (ENAS_PTB_SPEC.md 2.5)."""
        logging.info("Test pass: batch 1 over %d targets", len(self.data.test) - 1)
        self.progress.start("test pass", num_batches(self.test_dataset), unit="window")
        with self._averaged():
            ppl = self.trainer.evaluate(self.test_dataset, carry_state=True, on_window=self.progress.update)
        self.progress.end()
        logging.info("test_ppl=%.2f", ppl)
        return ppl

    def evaluate(self, epoch: int, step: int) -> dict[str, float]:
        results = {"valid_ppl": self.validate()}
        logging.info("valid_ppl=%.2f", results["valid_ppl"])
        if not self.config.search:
            self._maybe_start_averaging(results["valid_ppl"])
            threshold = self.config.test_threshold
            if threshold is not None and results["valid_ppl"] < min(float(self.best_valid_ppl.numpy()), threshold):
                self.best_valid_ppl.assign(results["valid_ppl"])
                results["test_ppl"] = self.test()
        return results

    def _maybe_start_averaging(self, valid_ppl: float) -> None:
        """enas_lm's non-monotone trigger: start once validation is worse than the best before the last n."""
        history = list(self.valid_history.numpy())
        average = self.trainer.average
        n = self.config.average_nonmono
        if average is not None and not bool(average.started.numpy()):
            if should_start_averaging(history, valid_ppl, n):
                logging.info("Starting weight averaging: valid ppl %.2f > %.2f, the best before the last %d",
                             valid_ppl, min(history[:-n]), n)
                average.start()
        self.valid_history.assign(np.asarray(history + [valid_ppl], np.float32))

    def before_checkpoint(self) -> None:
        self.trainer.reset_state()

    def finish_final(self, results: dict[str, float], epoch: int, step: int) -> dict[str, float]:
        """The end-of-training test pass (ENAS_PTB_SPEC.md 2.5)."""
        if not results:  # killed after its last checkpoint, before the metrics were written
            results = {"valid_ppl": self.validate()}
        return dict(results, test_ppl=self.test())

    # -- the search -------------------------------------------------------------------------

    def controller_phase_log(self, epoch: int) -> str:
        controller = self.controller_config
        return f"Training controller: {controller.train_steps} updates of {controller.num_aggregate} samples"

    def controller_log(self, step: int, values: Mapping[str, Any], learning_rate: float,
                       minutes: float) -> tuple[str, dict[str, float]]:
        ppl = _ppl_from_reward(values["accuracy"])
        line = (f"ctrl_step={step:<5d} loss={values['loss']:<9.4f} ent={values['entropy']:<7.3f} ppl={ppl:<9.2f} "
                f"rw={values['reward']:<7.4f} bl={values['baseline']:<7.4f} |g|={values['grad_norm']:.3g} "
                f"arc={' '.join(str(int(a)) for a in values['arc'])}")
        scalars = {"loss": values["loss"], "reward": values["reward"], "ppl": ppl, "baseline": values["baseline"],
                   "entropy": values["entropy"], "log_prob": values["log_prob"], "grad_norm": values["grad_norm"]}
        return line, scalars

    def derive_batch(self) -> tuple[tf.Tensor, tf.Tensor]:
        return next(iter(self.valid_dataset))

    def _cell(self, flat: np.ndarray) -> arch.PtbArc:
        return arch.PtbArc.parse(flat, arc_format=self.config.arc_format)

    def describe_arc(self, arc: np.ndarray) -> str:
        return self._cell(arc).describe(self.config.arc_format)

    def arc_string(self, arc: np.ndarray) -> str:
        return self._cell(arc).format(self.config.arc_format)

    def _draw_cell(self, cell: arch.PtbArc) -> np.ndarray:
        """The cell's picture, averaging the nodes this run's cell output averages."""
        output_nodes = range(cell.num_nodes) if self.config.cell_output == "mean_all" else None
        return pictures.draw_ptb(cell, output_nodes=output_nodes)

    def draw_arc(self, arc: np.ndarray) -> np.ndarray:
        return self._draw_cell(self._cell(arc))

    op_names = tuple(arch.PTB_ACTIVATION_NAMES)

    def op_choices(self, arc: np.ndarray) -> list[tuple[str, int]]:
        """The activation of each node of the cell (the original's activation ids)."""
        return [(f"node {node}", activation) for node, activation in enumerate(self._cell(arc).activations)]

    def final_command(self, arc_string: str) -> str:
        """The command that trains a derived cell from scratch with the same implementation."""
        config = self.config
        script = "scripts/ptb_final.sh" if config.ptb_impl == "enas_lm" else "scripts/ptb_final_original.sh"
        args = [
            script,
            f"--data_path={config.data_path}",
            f"--output_dir={os.path.join(self.run_config.output_dir, 'final')}",
            f"--child_rhn_depth={config.num_nodes}" if config.ptb_impl == "original" else None,
            *self.carried_run_flags(),
            f"--child_fixed_arc={arc_string}",
        ]
        return " ".join(shlex.quote(a) for a in args if a)

    # -- the run ----------------------------------------------------------------------------

    def run_record(self, child: keras.Model) -> run_record.RunRecord:
        """`run.json`: what export and the pipeline need to rebuild this run's network."""
        config = self.config
        return run_record.RunRecord(
            space="ptb", mode="search" if config.search else "final",
            arc=None if config.search else config.fixed_arc.format("original"),
            # The fixed network's own config (PtbNetwork.from_config rebuilds it); the search's for reference.
            model=child.get_config(), data={"vocab_size": self.data.vocab_size}, flags=dict(self.run_config.flags),
        )

    def write_run_files(self, output_dir: str) -> None:
        """`vocab.txt`: the export's tokenizer reads it."""
        run_record.write_vocabulary(output_dir, self.data.id_to_word)

    def arc_picture(self) -> np.ndarray | None:
        return self._draw_cell(self.config.fixed_arc)

    def summary_lines(self) -> list[str]:
        config = self.config
        child = self.build_child()
        child.summary()
        lines = [f"trainable_params={count_params(child.trainable_variables)}"]
        if config.search:
            # Every child of the search uses one slab per node, so any cell of the search size counts them.
            chain = arch.PtbArc(activations=(0,) * config.num_nodes,
                                predecessors=(-1,) + tuple(range(config.num_nodes - 1)))
            per_child = child.selected_weights(child.arc_rows(chain)) + [child.embedding]
            lines.append(f"params_per_child={count_params(per_child)}")
            controller = self.build_controller()
            lines.insert(0, f"controller_trainable_params={count_params(controller.trainable_variables)}")
        else:
            lines.append(f"arc={config.fixed_arc.format(config.arc_format)}")
            lines.append(config.fixed_arc.describe(config.arc_format))
        return lines
