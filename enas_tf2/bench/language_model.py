"""The PTB benches: tokens/s of the supernet against the fixed cell, traces over varying window lengths.

Everything is built through `LanguageModelTask` from the resolved script config, on a synthetic
token stream (timings do not depend on the token values). In search mode it measures

1. the supernet's training step with a cell sampled inside every step, over the script's window
   lengths (enas_lm: its random lengths, which must all share one trace), in tokens/s;
2. the supernet with given cells against the fixed network of the same cells on the same
   windows, pair by pair in alternating order;
3. the controller phase: one update is `num_aggregate` samples, each scored (`80 / ppl`) on one
   window.

In final mode it times the final network's training step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2 import arch
from enas_tf2.bench import config as bench_config
from enas_tf2.bench import timing
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.bench.search_phases import controller_phase, supernet_vs_static
from enas_tf2.data import ptb as ptb_data
from enas_tf2.data import text_windows
from enas_tf2.tasks.language_model import LanguageModelTask

#: Windows of the synthetic stream: its length is this many times `bptt`.
STREAM_WINDOWS = 40


def synthetic_stream(batch_size: int, bptt: int, seed: int) -> np.ndarray:
    """A `[B, STREAM_WINDOWS * bptt]` stream of PTB-vocabulary ids."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, ptb_data.PTB_VOCAB_SIZE, size=(batch_size, STREAM_WINDOWS * bptt)).astype(np.int32)


def bench_ptb(config: bench_config.BenchConfig) -> dict[str, Any]:
    """Measures the PTB space as the script's mode says; returns the figures (seconds, counts)."""
    resolved = bench_config.resolve_language_model(config)
    stream = synthetic_stream(resolved.batch_size, resolved.bptt, config.seed)
    task = LanguageModelTask(resolved)
    # An epoch of the bench is one pass over its stream (the LR schedule of the original counts epochs).
    task.nominal_batches = text_windows.num_windows_per_epoch(stream.size, resolved.batch_size, resolved.bptt)
    fixed_windows = list(text_windows.make_window_dataset(stream, resolved.bptt))
    if resolved.search:
        return _bench_search(config, task, stream, fixed_windows)
    return _bench_final(config, task, fixed_windows)


def _bench_final(config: bench_config.BenchConfig, task: LanguageModelTask, windows: list) -> dict[str, Any]:
    resolved = task.config
    model = task.build_child()
    trainer = task.build_child_trainer(model, None, tf.distribute.get_strategy())
    logging.info("Tracing the final LM step (H=%d, N=%d).", resolved.hidden_size, resolved.num_nodes)
    figures: dict[str, Any] = {"ptb_final_trace_s": timing.warm_up(trainer.train_step, *windows[0])}
    times = [timing.timed_step(trainer.train_step, *windows[i % len(windows)])[0] for i in range(config.steps)]
    figures["ptb_final_step_s"] = timing.median(times)
    figures["ptb_final_tokens_per_s"] = resolved.batch_size * resolved.bptt / figures["ptb_final_step_s"]
    figures["ptb_final_params"] = task.trained_params(model)
    figures["ptb_final_trace_count"] = trainer.train_step.experimental_get_tracing_count()
    return figures


def _bench_search(config: bench_config.BenchConfig, task: LanguageModelTask, stream: np.ndarray,
                  fixed_windows: list) -> dict[str, Any]:
    resolved = task.config
    strategy = tf.distribute.get_strategy()
    supernet = task.build_child()
    reward_window = fixed_windows[1 % len(fixed_windows)]
    controller = ControllerTrainer.from_config(
        task.controller_config, task.build_controller(), lambda arc: sampled.score_batch(*reward_window, arc),
        config.seed,
    )
    sampled = task.build_child_trainer(supernet, controller.sample_arc_tensor, strategy)
    figures: dict[str, Any] = {}

    # 1. The search step: a fresh cell sampled inside every step, over the script's window lengths.
    windows = list(text_windows.make_window_dataset(stream, resolved.bptt, random_len=resolved.random_bptt,
                                                    seed=config.seed))
    logging.info("Tracing the sampled PTB supernet step (H=%d, N=%d).", resolved.hidden_size, resolved.num_nodes)
    figures["child_tracing_s"], figures["child_first_run_s"] = timing.warm_up_parts(sampled.train_step, *windows[0])
    figures["child_trace_s"] = figures["child_tracing_s"] + figures["child_first_run_s"]
    rates, arcs, lengths = [], [], set()
    for i in range(max(config.num_arcs, config.steps)):
        x, y = windows[i % len(windows)]
        seconds, logs = timing.timed_step(sampled.train_step, x, y)
        rates.append(int(x.shape[0] * x.shape[1]) / seconds)
        arcs.append(logs["arc"].numpy())
        lengths.add(int(x.shape[1]))
    figures["child_tokens_per_s"] = timing.median(rates)
    figures["child_steps_timed"] = len(rates)
    figures["distinct_arcs"] = len({tuple(arc.tolist()) for arc in arcs})
    figures["distinct_window_lengths"] = len(lengths)
    figures["child_trace_count"] = sampled.train_step.experimental_get_tracing_count()

    # 2. Supernet with a given cell vs the fixed network of that cell, same windows, interleaved.
    # The language-model step takes no arc argument: the given cell is read from a variable.
    arc_var = tf.Variable(tf.constant(arcs[0], tf.int32), trainable=False)
    given = task.build_child_trainer(supernet, lambda: tf.convert_to_tensor(arc_var), strategy)
    static_arcs = list({tuple(arc.tolist()): arc for arc in arcs}.values())[: config.num_static_arcs]
    fixed = [(arc, _fixed_cell_trainer(task, arc, strategy)) for arc in static_arcs]
    logging.info("Tracing the given-cell supernet step and %d fixed networks.", len(fixed))
    for arc, trainer in fixed:
        arc_var.assign(arc)
        timing.warm_up(given.train_step, *fixed_windows[0])
        timing.warm_up(trainer.train_step, *fixed_windows[0])

    def supernet_step(pair: int) -> float:
        arc_var.assign(fixed[pair % len(fixed)][0])
        return timing.timed_step(given.train_step, *fixed_windows[pair % len(fixed_windows)])[0]

    def fixed_step(pair: int) -> float:
        return timing.timed_step(fixed[pair % len(fixed)][1].train_step, *fixed_windows[pair % len(fixed_windows)])[0]

    figures.update(supernet_vs_static(supernet_step, fixed_step, config.steps))
    tokens = resolved.batch_size * resolved.bptt
    figures["supernet_tokens_per_s"] = tokens / figures["supernet_same_arcs_step_s"]
    figures["fixed_tokens_per_s"] = tokens / figures["static_step_s"]
    figures["static_arcs"] = len(fixed)
    figures["given_arc_trace_count"] = given.train_step.experimental_get_tracing_count()

    # 3. The controller phase: num_aggregate samples, each scored (80 / ppl) on one window.
    figures.update(controller_phase(controller, config.controller_steps))
    figures["supernet_params"] = task.trained_params(supernet)
    return figures


def _fixed_cell_trainer(task: LanguageModelTask, flat_arc: np.ndarray, strategy: tf.distribute.Strategy):
    """The fixed network of one sampled cell with the supernet's dropout, cell output, init and training."""
    resolved = task.config
    cell = arch.PtbArc.parse(flat_arc, arc_format=resolved.arc_format)
    fixed_task = LanguageModelTask(dataclasses.replace(resolved, search=False, fixed_arc=cell, controller=None))
    fixed_task.nominal_batches = task.nominal_batches
    return fixed_task.build_child_trainer(fixed_task.build_child(), None, strategy)
