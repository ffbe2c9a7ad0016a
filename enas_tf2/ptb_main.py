"""Penn Treebank search and final training: `python -m enas_tf2.ptb_main --data_path=... --output_dir=...`.

Without `--child_fixed_arc` this searches a recurrent cell (controller + supernet); with it, it
trains that cell from scratch and tests it. `--ptb_impl=enas_lm` (default) is the authors'
corrected language model, `--ptb_impl=original` the original repository's. Flags keep the
original `src/ptb/main.py` names (enas_lm's names are aliases, `enas_tf2/ptb_flags.py`); unset
hyperparameters take the reference's values (`enas_tf2/ptb_config.py`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import shlex

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from enas_tf2 import arch, distribute, pictures, ptb_config, run_record
from enas_tf2.controllers.ptb import PtbController
from enas_tf2.controllers.trainer import ControllerTrainer, ReplicaRewards
from enas_tf2.data import ptb as ptb_data
from enas_tf2.errors import EnasError, FlagError
from enas_tf2.ptb_flags import PTB_INERT_FLAGS, define_ptb_flags
from enas_tf2.spaces.rnn import PTB_VOCAB_SIZE, PtbNetwork, PtbSupernet
from enas_tf2.train.monitor import Monitor
from enas_tf2.train.ptb_loop import PtbLoop, PtbLoopConfig
from enas_tf2.train.ptb_trainer import PtbTrainConfig, PtbTrainer
from enas_tf2.train.schedules import StaircaseDecayPerEpoch
from enas_tf2.train.state import RunState, prepare_output_dir

FLAGS = flags.FLAGS
#: Checkpoints kept: enas_lm search keeps 5, its fixed training 2 (ENAS_PTB_SPEC.md 1.12, 2.3).
MAX_CHECKPOINTS = {True: 5, False: 2}


def flag_values() -> dict:
    """Every PTB flag's value by name (the input of `ptb_config.resolve`)."""
    return {flag.name: flag.value for flag in FLAGS.get_flags_for_module("enas_tf2.ptb_flags")}


def warn_about_inert_flags() -> None:
    for name in PTB_INERT_FLAGS:
        if FLAGS[name].value != FLAGS[name].default:
            logging.warning("--%s=%s has no effect (as in the original).", name, FLAGS[name].value)


def build_child(config: ptb_config.PtbRunConfig, vocab_size: int = PTB_VOCAB_SIZE) -> keras.Model:
    common = dict(
        vocab_size=vocab_size, hidden_size=config.hidden_size, ptb_impl=config.ptb_impl,
        cell_output=config.cell_output, init_range=config.init_range, **config.dropout,
    )
    if config.search:
        model = PtbSupernet(num_nodes=config.num_nodes, name="child", **common)
    else:
        model = PtbNetwork(config.fixed_arc, name="child", **common)
    model.build()
    return model


def build_controller(config: ptb_config.PtbRunConfig) -> PtbController:
    return PtbController(
        num_nodes=config.num_nodes,
        ptb_impl=config.ptb_impl,
        tanh_constant=config.controller_tanh_constant,
        temperature=config.controller_temperature,
        name="controller",
    )


def controller_optimizer(config: ptb_config.PtbRunConfig) -> keras.optimizers.Optimizer | None:
    """enas_lm's controller uses Adam with TF's defaults; None: the trainer's (original) Adam."""
    if config.ptb_impl == "enas_lm":
        return keras.optimizers.Adam(learning_rate=config.controller_lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    return None


def child_learning_rate(config: ptb_config.PtbRunConfig, nominal_batches: int):
    if config.ptb_impl == "enas_lm" and config.lr_warmup_val is None:
        return config.lr
    return StaircaseDecayPerEpoch(
        config.lr,
        1.0 if config.lr_dec_rate is None else config.lr_dec_rate,
        config.lr_dec_every,
        nominal_batches,
        dec_start=config.lr_dec_start,
        dec_min=config.lr_dec_min,
        warmup_val=config.lr_warmup_val,
        warmup_steps=config.lr_warmup_steps,
    )


def count_params(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def summary_only(config: ptb_config.PtbRunConfig) -> None:
    child = build_child(config)
    child.summary()
    lines = [f"trainable_params={count_params(child.trainable_variables)}"]
    if config.search:
        # Every child of the search uses one slab per node, so any cell of the search size counts them.
        per_child = child.selected_weights(child.arc_rows(_some_arc(config))) + [child.embedding]
        lines.append(f"params_per_child={count_params(per_child)}")
        controller = build_controller(config)
        lines.insert(0, f"controller_trainable_params={count_params(controller.trainable_variables)}")
    else:
        lines.append(f"arc={config.fixed_arc.format(config.arc_format)}")
        lines.append(config.fixed_arc.describe(config.arc_format))
    print("\n".join(lines))


def _some_arc(config: ptb_config.PtbRunConfig) -> arch.PtbArc:
    """A chain cell of the search size: every child uses the same number of weights."""
    return arch.PtbArc(activations=(0,) * config.num_nodes, predecessors=(-1,) + tuple(range(config.num_nodes - 1)))


def final_command(config: ptb_config.PtbRunConfig, arc_string: str) -> str:
    """The command that trains a derived cell from scratch with the same implementation."""
    script = "scripts/ptb_final.sh" if config.ptb_impl == "enas_lm" else "scripts/ptb_final_original.sh"
    args = [
        script,
        f"--data_path={FLAGS.data_path}",
        f"--output_dir={os.path.join(FLAGS.output_dir, 'final')}",
        f"--child_rhn_depth={config.num_nodes}" if config.ptb_impl == "original" else None,
        f"--child_fixed_arc={arc_string}",
    ]
    return " ".join(shlex.quote(a) for a in args if a)


def draw_cell(config: ptb_config.PtbRunConfig, cell: arch.PtbArc):
    """The cell's picture, averaging the nodes this run's cell output averages."""
    output_nodes = range(cell.num_nodes) if config.cell_output == "mean_all" else None
    return pictures.draw_ptb(cell, output_nodes=output_nodes)


def write_record(config: ptb_config.PtbRunConfig, child: keras.Model, data: ptb_data.PtbData, output_dir: str) -> None:
    """`run.json` and `vocab.txt`: what export and the pipeline need to rebuild this run's network."""
    run_record.write_vocabulary(output_dir, data.id_to_word)
    run_record.write_run_record(
        output_dir,
        run_record.RunRecord(
            space="ptb",
            mode="search" if config.search else "final",
            arc=None if config.search else config.fixed_arc.format("original"),
            # The fixed network's own config (PtbNetwork.from_config rebuilds it); the search's for reference.
            model=child.get_config(),
            data={"vocab_size": data.vocab_size},
            flags=flag_values(),
        ),
    )


def replica_rewards(strategy, reward_dataset: tf.data.Dataset, score) -> ReplicaRewards | None:
    """With several replicas: one reward window per replica in every round, in the windows' order."""
    replicas = distribute.num_replicas(strategy)
    if replicas == 1:
        return None
    # Windows j*N .. j*N + N-1 form round j; replica r takes window j*N + r, as one device takes them in turn.
    rounds = reward_dataset.batch(replicas, drop_remainder=True)
    return ReplicaRewards(iter(distribute.distributed_dataset(strategy, rounds)), lambda x, y, arc: score(x[0], y[0], arc))


def run(config: ptb_config.PtbRunConfig) -> None:
    if not FLAGS.output_dir:
        prepare_output_dir(FLAGS.output_dir, reset=False)  # raises the missing-flag error
    # Before any other TensorFlow op (a multi-worker strategy must come first).
    strategy = distribute.make_strategy(FLAGS.distribution, FLAGS.cpu_replicas)
    chief = distribute.is_chief(strategy)
    # Only the chief writes into --output_dir; other workers save into a temporary folder of their own.
    output_dir = distribute.worker_output_dir(FLAGS.output_dir, strategy)
    # Data first: a wrong --data_path must fail before --reset_output_dir deletes a previous run.
    data = ptb_data.load_ptb(FLAGS.data_path)
    prepare_output_dir(output_dir, FLAGS.reset_output_dir or not chief)
    monitor = Monitor(output_dir)
    # Models, optimizers, controller and steps are built in the strategy's scope; the loop's
    # counters are plain variables made after it.
    scope = contextlib.ExitStack()
    scope.enter_context(strategy.scope())
    try:
        logging.info("Flags:\n%s", "\n".join(f"  {k}={v}" for k, v in sorted(flag_values().items())))
        logging.info("Resolved configuration: %s", config)
        distribute.log_replicas(strategy, FLAGS.distribution, config.batch_size, "stream rows", FLAGS.jit_compile)
        seed = FLAGS.seed
        if seed is not None:
            keras.utils.set_random_seed(seed)
        logging.info("Data from %s: %d train, %d valid, %d test ids, vocabulary %d", data.source, len(data.train),
                     len(data.valid), len(data.test), data.vocab_size)
        if config.fixed_arc is not None:
            logging.info("Cell (%s encoding, cell output %s):\n%s", config.arc_format, config.cell_output,
                         config.fixed_arc.describe(config.arc_format))
        child = build_child(config, data.vocab_size)
        write_record(config, child, data, output_dir)
        if not config.search:
            monitor.picture(0, "arc/final_picture", lambda: draw_cell(config, config.fixed_arc),
                            os.path.join(output_dir, run_record.ARC_PICTURE))
        logging.info("Child: %s, %d trainable parameters", type(child).__name__, count_params(child.trainable_variables))
        nominal = ptb_data.num_windows_per_epoch(len(data.train), config.batch_size, config.bptt)
        trackables = dict(child=child)
        controller_trainer = None
        reward_windows = None
        if config.search:
            controller = build_controller(config)
            logging.info("Controller: %d trainable parameters", count_params(controller.trainable_variables))
            valid_stream = ptb_data.batchify(data.valid, config.batch_size)
            if config.ptb_impl == "enas_lm":  # the next in-order validation window (ENAS_PTB_SPEC.md 1.11)
                reward_dataset = ptb_data.make_window_dataset(valid_stream, 35).repeat()
            else:  # a random validation window (ENAS_SPEC.md 8.6)
                reward_dataset = ptb_data.make_random_window_dataset(valid_stream, 35, seed=seed)
            # The controller's rewards on one device, and the printed and derived cells' windows.
            reward_windows = iter(reward_dataset)
            controller_trainer = ControllerTrainer(
                controller,
                # Both traced on the first controller update, after `trainer` exists.
                reward_fn=lambda arc: trainer.reward_from(reward_windows)(arc),
                replica_rewards=replica_rewards(strategy, reward_dataset, lambda *args: trainer.score_window(*args)),
                learning_rate=config.controller_lr,
                entropy_weight=config.controller_entropy_weight,
                bl_dec=config.controller_bl_dec,
                num_aggregate=config.controller_num_aggregate,
                seed=seed,
                optimizer=controller_optimizer(config),
                l2_reg=config.controller_l2_reg,
                strategy=strategy,
            )
            trackables.update(controller_trainer.checkpoint_items())
        trainer = PtbTrainer(
            child,
            PtbTrainConfig(
                ptb_impl=config.ptb_impl,
                batch_size=config.batch_size,
                bptt=config.bptt,
                learning_rate=child_learning_rate(config, max(nominal, 1)),
                scale_lr_by_length=config.ptb_impl == "enas_lm",
                grad_bound=config.grad_bound,
                weight_decay=config.weight_decay,
                fix_weight_penalty=config.fix_weight_penalty,
                activation_reg=config.activation_reg,
                slowness_reg=config.slowness_reg,
                reset_state_prob=config.reset_state_prob,
                average_weights=config.average_weights,
            ),
            sample_arc=None if controller_trainer is None else controller_trainer.sample_arc_tensor,
            arc_format=config.arc_format if config.search else None,
            seed=seed,
            jit_compile=FLAGS.jit_compile,
            strategy=strategy,
        )
        scope.close()
        trackables.update(child_optimizer=trainer.optimizer, child_rng=trainer.rng, **PtbLoop.make_tracked_variables())
        if trainer.average is not None:
            trackables["weight_average"] = trainer.average
        state = RunState(output_dir, restore_dir=FLAGS.output_dir, max_to_keep=MAX_CHECKPOINTS[config.search],
                         **trackables)
        state.restore_latest()

        def describe(flat: np.ndarray) -> str:
            return arch.PtbArc.parse(flat, arc_format=config.arc_format).describe(config.arc_format)

        loop = PtbLoop(
            PtbLoopConfig(
                search=config.search,
                num_epochs=config.num_epochs,
                batch_size=config.batch_size,
                bptt=config.bptt,
                random_bptt=config.random_bptt,
                log_every=config.log_every,
                eval_every_epochs=FLAGS.eval_every_epochs,
                valid_carry_state=config.valid_carry_state,
                test_bptt=FLAGS.test_bptt,
                test_threshold=config.test_threshold,
                average_nonmono=config.average_nonmono,
                controller_train_every=config.controller_train_every,
                controller_train_steps=config.controller_train_steps,
                derive_samples=FLAGS.derive_samples,
                seed=int(np.random.randint(2**31)) if seed is None else seed,
                max_steps=FLAGS.max_steps,
            ),
            trainer,
            data,
            state,
            monitor,
            controller=controller_trainer,
            reward_windows=reward_windows,
            describe_arc=describe,
            arc_to_string=lambda flat: arch.PtbArc.parse(flat, arc_format=config.arc_format).format(config.arc_format),
            final_command=lambda arc_string: final_command(config, arc_string),
            draw_arc=lambda flat: draw_cell(config, arch.PtbArc.parse(flat, arc_format=config.arc_format)),
        )
        loop.run()
        if not config.search and FLAGS.export_dir and chief:
            from enas_tf2.export import export_run

            export_run(FLAGS.output_dir, FLAGS.export_dir, overwrite=True)
        if FLAGS.distribution != "none":
            distribute.log_weights_digest(child, *([] if controller_trainer is None else [controller_trainer.controller]))
    finally:
        monitor.close()
        scope.close()  # no-op when already closed
        distribute.remove_worker_output_dir(FLAGS.output_dir, strategy)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise FlagError(f"Unexpected positional arguments: {argv[1:]}. Every setting is a --flag.")
    try:
        config = ptb_config.resolve(flag_values())
        warn_about_inert_flags()
        if FLAGS.summary_only:
            summary_only(config)
            return
        run(config)
        # Frees the run's tf.functions and distributed iterators while TensorFlow is still up (see cifar10_main).
        gc.collect()
    except EnasError as error:
        logging.error("%s: %s", type(error).__name__, error)
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    define_ptb_flags()
    app.run(main)
