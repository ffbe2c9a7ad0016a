"""The macro and micro benches: the supernet's search step, the static comparison, the controller, the final net.

Everything is built through `ImageClassificationTask` from the resolved script config, on one
synthetic batch (timings do not depend on the pixels), so the bench times the networks, steps and
controller a run of the script builds. In search mode it measures

1. the supernet's training step with an architecture sampled by the controller *inside* the
   compiled step, over at least `num_arcs` architectures, and its number of traces;
2. the supernet with those architectures given against the same architectures built
   statically (only the chosen ops, no `switch_case`), pair by pair in alternating order;
3. the controller phase: one update is `num_aggregate` samples, each scored by the supernet's
   inference on one minibatch.

In final mode it times the final network's training step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2 import arch
from enas_tf2.bench import config as bench_config
from enas_tf2.bench import timing
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.bench.flops import macro_network_forward_flops
from enas_tf2.bench.search_phases import controller_phase, supernet_vs_static
from enas_tf2.configs.image import CIFAR10_NUM_VALID, ImageChildConfig, ImageClassificationConfig
from enas_tf2.data import image_pipeline
from enas_tf2.tasks.image_classification import ImageClassificationTask, build_child_network

#: CIFAR-10's training split (five pickles of 10,000 images): an epoch's batches set the child's LR
#: schedule (and the micro final drop-path schedule) as the script's run has them.
CIFAR10_TRAIN_IMAGES = 50_000


def synthetic_batch(child: ImageChildConfig, batch_size: int, seed: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Normalised-looking float32 images of the child's size and int32 labels of its classes."""
    shape = [batch_size, child.image_size, child.image_size, child.channels]
    images = tf.random.stateless_normal(shape, seed=[seed, 1])
    labels = tf.random.stateless_uniform([batch_size], seed=[seed, 2], minval=0, maxval=child.num_classes,
                                         dtype=tf.int32)
    return images, labels


def image_task(config: bench_config.BenchConfig) -> ImageClassificationTask:
    """The script's task without data: CIFAR-10's epoch length and the final network's drop-path schedule."""
    resolved = bench_config.resolve_image(config)
    task = ImageClassificationTask(resolved)
    num_train = CIFAR10_TRAIN_IMAGES - (CIFAR10_NUM_VALID if resolved.search else 0)
    task.num_train_batches = image_pipeline.num_train_batches(num_train, resolved.data.batch_size)
    task.child_config = dataclasses.replace(
        task.child_config, total_steps=resolved.run.num_epochs * task.num_train_batches
    )
    return task


def static_network(child: ImageChildConfig, flat_arc: np.ndarray, precision: str = "float32") -> keras.Model:
    """The supernet of `child` built statically for one architecture: only its ops, no `switch_case`.

    What the supernet costs over this network is the price of choosing ops inside the graph.
    """
    if child.space == "micro":
        return build_child_network(child, static_arc=arch.MicroArc.from_flat(flat_arc), precision=precision)
    return build_child_network(child, static_arc=arch.MacroArc.from_flat(flat_arc, child.num_branches),
                               precision=precision)


def bench_images(config: bench_config.BenchConfig) -> dict[str, Any]:
    """Measures the macro or micro space as the script's mode says; returns the figures (seconds, counts).

    Units, rates, targets and machine information are added by `runner.run`.
    """
    task = image_task(config)
    if task.search:
        return _bench_search(config, task)
    return _bench_final(config, task)


def _bench_search(config: bench_config.BenchConfig, task: ImageClassificationTask) -> dict[str, Any]:
    """Sampled supernet steps, supernet vs static pairs, controller phase."""
    resolved: ImageClassificationConfig = task.config
    child = task.child_config
    batch_size = resolved.data.batch_size
    strategy = tf.distribute.get_strategy()
    batch = synthetic_batch(child, batch_size, config.seed)
    reward_batch = synthetic_batch(child, batch_size, config.seed + 1)
    supernet = task.build_child()
    # `given` takes the arc as an argument: it scores the controller's samples (inference on one
    # minibatch, as the real controller phase) and is the supernet side of the static comparison.
    given = task.build_child_trainer(supernet, None, strategy)
    controller = ControllerTrainer.from_config(
        task.controller_config, task.build_controller(), lambda arc: given.score_batch(*reward_batch, arc), config.seed
    )
    sampled = task.build_child_trainer(supernet, controller.sample_arc_tensor, strategy)
    figures: dict[str, Any] = {}

    # 1. The search step: a fresh architecture sampled inside every compiled step.
    logging.info("Tracing the sampled supernet step (L=%d, F=%d).", child.num_layers, child.out_filters)
    figures["child_tracing_s"], figures["child_first_run_s"] = timing.warm_up_parts(sampled.train_step, batch)
    figures["child_trace_s"] = figures["child_tracing_s"] + figures["child_first_run_s"]
    times, arcs = [], []
    for _ in range(max(config.num_arcs, config.steps)):
        seconds, logs = timing.timed_step(sampled.train_step, batch)
        times.append(seconds)
        arcs.append(logs["arc"].numpy())
    figures["child_step_s"] = timing.median(times)
    figures["child_steps_timed"] = len(times)
    figures["distinct_arcs"] = len({tuple(arc.tolist()) for arc in arcs})
    figures["child_trace_count"] = sampled.train_step.experimental_get_tracing_count()
    logging.info("Sampled supernet step: median %.4f s over %d steps.", figures["child_step_s"], len(times))

    # 2. Supernet vs the same architectures built statically, interleaved pair by pair.
    static_arcs = list({tuple(arc.tolist()): arc for arc in arcs}.values())[: config.num_static_arcs]
    statics = [(tf.constant(arc, tf.int32),
                task.build_child_trainer(static_network(child, arc, config.precision), None, strategy))
               for arc in static_arcs]
    logging.info("Tracing the given-arc supernet step and %d static networks.", len(statics))
    for arc, static in statics:
        timing.warm_up(given.train_step, batch, arc)
        timing.warm_up(static.train_step, batch)
    figures.update(supernet_vs_static(
        lambda pair: timing.timed_step(given.train_step, batch, statics[pair % len(statics)][0])[0],
        lambda pair: timing.timed_step(statics[pair % len(statics)][1].train_step, batch)[0],
        config.steps,
    ))
    figures["static_arcs"] = len(statics)
    figures["given_arc_trace_count"] = given.train_step.experimental_get_tracing_count()
    logging.info("Supernet / static: %.3f over %d pairs.", figures["supernet_static_ratio"], config.steps)
    figures.update(controller_phase(controller, config.controller_steps))
    return figures


def _bench_final(config: bench_config.BenchConfig, task: ImageClassificationTask) -> dict[str, Any]:
    """The final network's training step: the script's arc when it fits the shape, else a random one."""
    child = task.child_config
    batch_size = task.config.data.batch_size
    batch = synthetic_batch(child, batch_size, config.seed)
    model = task.build_child()
    trainer = task.build_child_trainer(model, None, tf.distribute.get_strategy())
    logging.info("Tracing the final network's step (L=%d, F=%d).", child.num_layers, child.out_filters)
    figures: dict[str, Any] = {"final_trace_s": timing.warm_up(trainer.train_step, batch)}
    if config.precision == "float32":
        times = [timing.timed_step(trainer.train_step, batch)[0] for _ in range(config.steps)]
    else:
        # The same network in float32, timed step by step alternately with the mixed one.
        float32_task = image_task(dataclasses.replace(config, precision="float32"))
        float32_trainer = float32_task.build_child_trainer(float32_task.build_child(), None,
                                                           tf.distribute.get_strategy())
        timing.warm_up(float32_trainer.train_step, batch)
        times, float32_times = [], []
        for _ in range(config.steps):
            times.append(timing.timed_step(trainer.train_step, batch)[0])
            float32_times.append(timing.timed_step(float32_trainer.train_step, batch)[0])
        figures["float32_final_step_s"] = timing.median(float32_times)
        figures["precision_speedup"] = figures["float32_final_step_s"] / timing.median(times)
    figures["final_step_s"] = timing.median(times)
    figures["final_steps_timed"] = len(times)
    figures["final_trace_count"] = trainer.train_step.experimental_get_tracing_count()
    figures["final_params"] = task.trained_params(model)
    figures["final_arc_is_original"] = bench_config.uses_script_arc(config)
    if child.space == "macro":
        forward = macro_network_forward_flops(child.fixed_arc, child.out_filters, child.image_size, child.num_classes)
        figures["final_step_gflop"] = 3 * forward * batch_size / 1e9
    return figures

