"""One run of any task, start to end: the lifecycle both programs share.

`run(task)` owns, once for every task: the `tf.distribute` strategy, the output folder (only
after the data has loaded, so a bad `--data_path` deletes nothing), the monitor (log file,
TensorBoard), the networks and steps built in the strategy's scope, the checkpoint state (a
rerun resumes), the training loop or the search, a final run's `final_metrics.json` and export,
and the cleanup. The task (`enas_tf2.tasks`) supplies everything that differs.
"""

from __future__ import annotations

import contextlib
import os

import keras
from absl import logging

from enas_tf2 import distribute, run_record
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.tasks.base import Task, count_params
from enas_tf2.train.loop import LoopConfig, TrainingLoop
from enas_tf2.train.monitor import Monitor
from enas_tf2.train.search import Search, SearchConfig
from enas_tf2.train.state import RunState, prepare_output_dir


def log_flags(flags: dict) -> None:
    logging.info("Flags:\n%s", "\n".join(f"  {name}={value}" for name, value in sorted(flags.items())))


def finish_final(task: Task, results: dict[str, float], state: RunState, monitor: Monitor, chief: bool) -> dict:
    """`final_metrics.json` (kept as it is when a finished run is rerun) and, on the chief, the export."""
    config = task.run_config
    output_dir = monitor.output_dir
    existing = None if results else run_record.read_final_metrics(output_dir)
    if existing is not None:
        logging.info("Final results are in %s already: %s", run_record.FINAL_METRICS_FILE, existing)
        results = existing
    else:
        step = int(state.global_step)
        final = task.finish_final(dict(results), int(state.epoch), step)
        monitor.scalars(step, {k: v for k, v in final.items() if results.get(k) != v}, prefix="eval")
        path = run_record.write_final_metrics(output_dir, final)
        logging.info("Final run done: %s (written to %s)", final, path)
        results = final
    if config.export_dir and chief:
        from enas_tf2.export import export_run  # pylint: disable=import-outside-toplevel

        export_run(config.output_dir, config.export_dir, overwrite=True)
    return results


def run(task: Task) -> dict | None:
    """Runs `task` to the end (resuming from `--output_dir` when it holds a checkpoint).

    Returns:
        A final run's metrics; None for a search (its result is `final_arc.txt`).

    Raises:
        EnasError: a bad setting, missing data or a diverged run, with a message that says what to do.
    """
    config = task.run_config
    if not config.output_dir:
        prepare_output_dir(config.output_dir, reset=False)  # raises the missing-flag error
    # Before any other TensorFlow op (a multi-worker strategy must come first).
    strategy = distribute.make_strategy(config.distribution, config.cpu_replicas)
    task.check_strategy(strategy)
    chief = distribute.is_chief(strategy)
    # Only the chief writes into --output_dir; other workers save into a temporary folder of their own.
    output_dir = distribute.worker_output_dir(config.output_dir, strategy)
    # Data first: a wrong --data_path must fail before --reset_output_dir deletes a previous run.
    task.load_data()
    prepare_output_dir(output_dir, config.reset_output_dir or not chief)
    monitor = Monitor(output_dir)
    # Models, optimizers, controller and steps are built in the strategy's scope (their variables are
    # mirrored); the loop's counters are plain variables made after it, which `strategy.run` does not need.
    scope = contextlib.ExitStack()
    scope.enter_context(strategy.scope())
    try:
        log_flags(dict(config.flags))
        distribute.log_replicas(strategy, config.distribution, *task.batch_log(), config.jit_compile)
        if config.seed is not None:
            keras.utils.set_random_seed(config.seed)
        logging.info("%s", task.data_log())
        task.prepare(strategy)
        child = task.build_child()
        record = task.run_record(child)
        if record is not None:
            run_record.write_run_record(output_dir, record)
        task.write_run_files(output_dir)
        if not task.search:
            monitor.picture(0, "arc/final_picture", task.arc_picture, os.path.join(output_dir, run_record.ARC_PICTURE))
        logging.info("Child: %s, %d trainable parameters", type(child).__name__, task.trained_params(child))
        trackables = dict(child=child)
        controller_trainer = reward_batches = trainer = None
        if task.search:
            controller = task.build_controller()
            logging.info("Controller: %d trainable parameters", count_params(controller.trainable_variables))
            reward_batches = task.reward_batches()
            controller_trainer = ControllerTrainer.from_config(
                task.controller_config, controller,
                # Traced on the first controller update, once the child trainer exists.
                reward_fn=lambda arc: trainer.score_batch(*next(reward_batches), arc),
                seed=config.seed, strategy=strategy, replica_rewards=task.replica_rewards(strategy, lambda: trainer),
            )
            trackables.update(controller_trainer.checkpoint_items())
        trainer = task.build_child_trainer(
            child, None if controller_trainer is None else controller_trainer.sample_arc_tensor, strategy
        )
        scope.close()
        trackables.update(child_optimizer=trainer.optimizer, **task.checkpoint_items(trainer))
        state = RunState(output_dir, restore_dir=config.output_dir, max_to_keep=config.max_checkpoints, **trackables)
        state.restore_latest()
        loop = TrainingLoop(task, trainer, state, monitor, LoopConfig(
            num_epochs=config.num_epochs, steps_per_epoch=task.steps_per_epoch(), log_every=config.log_every,
            eval_every_epochs=config.eval_every_epochs, max_steps=config.max_steps,
        ))
        results = None
        if task.search:
            controller_config = task.controller_config
            Search(task, SearchConfig(
                controller_train_every=controller_config.train_every,
                controller_train_steps=controller_config.train_steps,
                controller_log_every=controller_config.log_every,
                derive_samples=config.derive_samples,
            ), loop, controller_trainer, trainer, reward_batches, monitor).run()
        else:
            results = finish_final(task, loop.run(), state, monitor, chief)
        if config.distribution != "none":
            distribute.log_weights_digest(child, *([] if controller_trainer is None else [controller_trainer.controller]))
        return results
    finally:
        monitor.close()
        scope.close()  # no-op when already closed
        distribute.remove_worker_output_dir(config.output_dir, strategy)
