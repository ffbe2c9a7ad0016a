"""One run of any task, start to end: the lifecycle both programs share.

`run(task)` owns, once for every task: the `tf.distribute` strategy, the data, the networks
and steps built in the strategy's scope, the run folder's lock, the output folder, the
checkpoint state (a rerun resumes exactly where the last checkpoint was taken), the monitor
(log file, TensorBoard), the training loop or the search, a final run's `final_metrics.json`
and export, and the cleanup. The task (`enas_tf2.tasks`) supplies everything that differs.

Validate first, delete last: the data is read and every network is built before the folder is
locked, and only then does `--reset_output_dir` empty it; a resume whose checkpoint does not fit
the networks (changed shape flags) stops with the flags that differ from its `run.json`, before
anything is written.
"""

from __future__ import annotations

import contextlib
import os

import keras
import tensorflow as tf
from absl import logging

from enas_tf2 import distribute, graph_optimization, precision, run_record
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.controllers.uniform import UniformPolicy
from enas_tf2.data.streams import ResumableStream
from enas_tf2.errors import EnasError, FlagError
from enas_tf2.tasks.base import Task, count_params
from enas_tf2.train.interrupt import RunInterrupted, StopSignals
from enas_tf2.train.loop import LoopConfig, TrainingLoop
from enas_tf2.train.monitor import Monitor
from enas_tf2.train.run_lock import LOCK_FILE, RunLock
from enas_tf2.train.search import Search, SearchConfig
from enas_tf2.train.state import (
    CheckpointMismatchError,
    RunState,
    check_output_dir,
    prepare_output_dir,
)


def log_flags(flags: dict, monitor: Monitor) -> None:
    """Every flag value into `<output_dir>/stdout` (and `run.json`), not onto the terminal."""
    monitor.write_to_log_file("Flags:\n" + "\n".join(f"  {name}={value}" for name, value in sorted(flags.items())))
    logging.info("%d flag values are in %s and %s", len(flags), os.path.join(monitor.output_dir, "stdout"),
                 run_record.RUN_FILE)


def trial_name(output_dir: str) -> str:
    """The run's row name in TensorBoard's HParams table: the folder's last two path components.

    Unique where runs share a last folder name (`<policy>_seed<n>/search`, `.../final` of a seeds
    study), short enough to read.
    """
    parts = os.path.abspath(output_dir).split(os.sep)
    return "/".join(part for part in parts[-2:] if part)


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


def differing_flags(output_dir: str, flags: dict) -> list[str]:
    """`--name=now (run.json: before)` for every flag that differs from the run folder's `run.json`."""
    try:
        before = run_record.read_run_record(output_dir).flags
    except run_record.RunRecordError:  # no readable run.json: nothing to compare with
        return []
    ignored = {"reset_output_dir"}
    now = run_record.jsonable_flags(flags)
    return [f"--{name}={now.get(name)!r} (run.json: {before.get(name)!r})" for name in sorted(set(now) | set(before))
            if name not in ignored and now.get(name) != before.get(name)]


def _restore(state: RunState, output_dir: str, flags: dict) -> str | None:
    try:
        return state.restore_latest()
    except CheckpointMismatchError as error:
        changed = differing_flags(output_dir, flags)
        listed = ("Flags that differ from its run.json: " + ", ".join(changed) + ". ") if changed else ""
        raise CheckpointMismatchError(
            f"{output_dir} holds a run these flags cannot resume: {error} {listed}Rerun with that run's flags, or "
            "give another --output_dir (or --reset_output_dir to delete it)."
        ) from None


def _built(build):
    """`build()`; a network the flags cannot build is a `FlagError` (before anything is deleted)."""
    try:
        return build()
    except EnasError:
        raise
    except ValueError as error:
        raise FlagError(f"These flags build no network: {error}") from None


def run(task: Task, stop: StopSignals | None = None, hparams: dict | None = None) -> dict | None:
    """Runs `task` to the end (resuming from `--output_dir` when it holds a checkpoint).

    Args:
        task: what to run.
        stop: the signals that stop the run cleanly; default: SIGTERM and SIGINT while it runs.
        hparams: the flags shown in TensorBoard's HParams dashboard (the programs pass those off
            their defaults); None: all of the run's flags.

    Returns:
        A final run's metrics; None for a search (its result is `final_arc.txt`).

    Raises:
        EnasError: a bad setting, missing data or a diverged run, with a message that says what to do.
        RunInterrupted: stopped by a signal after saving a checkpoint.
    """
    # Before any step is traced; the previous setting is back when the run ends (a longer process).
    with graph_optimization.configured(task.run_config.grappler, task.search) as grappler:
        return _run(task, stop, hparams, grappler)


def _run(task: Task, stop: StopSignals | None, hparams: dict | None, grappler: bool) -> dict | None:
    """`run` with TensorFlow's graph optimiser already set (`grappler`: whether it runs)."""
    config = task.run_config
    check_output_dir(config.output_dir)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    # Before any other TensorFlow op (a multi-worker strategy must come first).
    strategy = distribute.make_strategy(config.distribution, config.cpu_replicas)
    task.check_strategy(strategy)
    chief = distribute.is_chief(strategy)
    # Only the chief writes into --output_dir; other workers save into a temporary folder of their own.
    output_dir = distribute.worker_output_dir(config.output_dir, strategy)
    check_output_dir(output_dir)
    # Data and networks first: a wrong --data_path or network flag fails before anything is deleted.
    task.load_data()
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    scope = contextlib.ExitStack()
    scope.enter_context(strategy.scope())
    lock = monitor = None
    stop = stop or StopSignals()
    if config.distribution == "multi_worker":
        stop.combine = distribute.any_worker(strategy)  # every worker saves and stops at the same step
    try:
        # Models, optimizers, controller and steps are built in the strategy's scope (their variables
        # are mirrored); the loop's counters are plain variables made after it.
        task.prepare(strategy)
        child = _built(task.build_child)
        trackables = dict(child=child)
        controller_trainer = reward_batches = trainer = controller = replica_rewards = None
        if task.search:
            controller = _built(task.build_controller)
            if task.controller_config.policy == "random":
                # Random search with weight sharing: uniform samples over the controller's space, never trained.
                controller = UniformPolicy.like(controller)
            reward_batches = task.reward_batches()
            replica_rewards = task.replica_rewards(strategy, lambda: trainer)
            controller_trainer = ControllerTrainer.from_config(
                task.controller_config, controller,
                # Traced on the first controller update, once the child trainer exists.
                reward_fn=lambda arc: trainer.score_batch(*next(reward_batches), arc),
                seed=config.seed, strategy=strategy, replica_rewards=replica_rewards,
            )
            trackables.update(controller_trainer.checkpoint_items())
        trainer = task.build_child_trainer(
            child, None if controller_trainer is None else controller_trainer.sample_arc_tensor, strategy
        )
        record = task.run_record(child)
        streams = [s for s in (reward_batches, getattr(replica_rewards, "batches", None))
                   if isinstance(s, ResumableStream)]
        scope.close()
        trackables.update(child_optimizer=trainer.optimizer, **task.checkpoint_items(trainer))
        trackables.update({stream.name + "_position": stream.position for stream in streams})

        # Now the folder: one writer, then (only now) the reset, then the checkpoint.
        prepare_output_dir(output_dir, reset=False)
        lock = RunLock(output_dir).acquire()
        if config.reset_output_dir or not chief:
            prepare_output_dir(output_dir, reset=True, keep=(LOCK_FILE,))
        state = RunState(output_dir, restore_dir=config.output_dir, max_to_keep=config.max_checkpoints, **trackables)
        restored = _restore(state, output_dir, dict(config.flags))
        for stream in streams:
            stream.start()

        monitor = Monitor(output_dir, progress_secs=config.progress_secs)
        task.progress = monitor.progress
        log_flags(dict(config.flags), monitor)
        if chief:
            monitor.hparams(run_record.jsonable_flags(dict(config.flags) if hparams is None else hparams),
                            trial_id=trial_name(output_dir))
        distribute.log_replicas(strategy, config.distribution, *task.batch_log(), config.jit_compile)
        if config.precision != "float32":
            logging.info("%s", precision.describe(config.precision))
        logging.info("%s", graph_optimization.describe(config.grappler, grappler))
        logging.info("%s", task.data_log())
        if restored:
            logging.info("Resumed from %s at epoch %d, step %d (%s)", restored, int(state.epoch),
                         int(state.global_step), state.position())
        if record is not None:
            run_record.write_run_record(output_dir, record)
        task.write_run_files(output_dir)
        if not task.search:
            monitor.picture(0, "arc/final_picture", task.arc_picture, os.path.join(output_dir, run_record.ARC_PICTURE))
        logging.info("Child: %s, %d trainable parameters", type(child).__name__, task.trained_params(child))
        if controller is not None:
            if isinstance(controller, UniformPolicy):
                logging.info("Search policy: random (uniform samples over the space's %d arc positions; no controller "
                             "is trained)", controller.arc_length)
            else:
                logging.info("Controller: %d trainable parameters", count_params(controller.trainable_variables))
        loop = TrainingLoop(task, trainer, state, monitor, LoopConfig(
            num_epochs=config.num_epochs, steps_per_epoch=task.steps_per_epoch(), log_every=config.log_every,
            eval_every_epochs=config.eval_every_epochs, max_steps=config.max_steps,
            checkpoint_every_mins=config.checkpoint_every_mins,
        ), stop=stop)
        results = None
        with stop:
            if task.search:
                controller_config = task.controller_config
                Search(task, SearchConfig(
                    controller_train_every=controller_config.train_every,
                    controller_train_steps=controller_config.train_steps,
                    controller_log_every=controller_config.log_every,
                    derive_samples=config.derive_samples,
                    train_controller=controller_config.policy == "controller",
                ), loop, controller_trainer, trainer, reward_batches, monitor).run()
            else:
                results = finish_final(task, loop.run(), state, monitor, chief)
        if config.distribution != "none":
            distribute.log_weights_digest(child, *([] if controller_trainer is None else [controller_trainer.controller]))
        return results
    except RunInterrupted as stopped:
        logging.warning("%s", stopped)
        raise
    except EnasError as error:
        if monitor is not None:  # the terminal gets it once, from the program
            monitor.write_to_log_file(f"error: {error}")
        raise
    finally:
        if monitor is not None:
            monitor.close()
        scope.close()  # no-op when already closed
        if lock is not None:
            lock.release()
        distribute.remove_worker_output_dir(config.output_dir, strategy)
