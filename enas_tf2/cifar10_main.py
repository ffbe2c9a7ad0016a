"""CIFAR-10 search and final training: `python -m enas_tf2.cifar10_main --search_for=macro ...`.

Flags keep the original `src/cifar10/main.py` names and defaults (see
`enas_tf2/flags.py`); the `scripts/cifar10_*.sh` scripts pass the original
values. Without `--child_fixed_arc` this runs a search (controller + supernet);
with it, it trains that architecture from scratch (final mode).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import shlex

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from enas_tf2 import arch, distribute, pictures, run_record
from enas_tf2.controllers.macro import MacroController
from enas_tf2.controllers.micro import MicroController
from enas_tf2.controllers.trainer import ControllerTrainer, ReplicaRewards
from enas_tf2.data import cifar10
from enas_tf2.errors import EnasError, FlagError
from enas_tf2.flags import CIFAR10_INERT_FLAGS, define_cifar10_flags
from enas_tf2.spaces.macro import MacroNetwork, MacroSupernet
from enas_tf2.spaces.micro import MicroNetwork, MicroSupernet
from enas_tf2.train.child import ChildTrainer
from enas_tf2.train.loop import EpochLoop, LoopConfig
from enas_tf2.train.monitor import Monitor
from enas_tf2.train.optimizers import MomentumSGD
from enas_tf2.train.schedules import CosineRestartsPerEpoch, StaircaseDecayPerEpoch
from enas_tf2.train.search import Search, SearchConfig
from enas_tf2.train.state import RunState, prepare_output_dir

FLAGS = flags.FLAGS
#: Child momentum, hard-wired in the original main (ENAS_SPEC.md 1.3).
CHILD_MOMENTUM = 0.9
#: Controller LSTM size for CIFAR, hard-wired in the original main.
CONTROLLER_LSTM_SIZE = 64
MACRO_SEARCH_FOR = ("macro", "branch", "connection")
#: The micro space always has these five ops (ENAS_SPEC.md 2.2).
MICRO_NUM_BRANCHES = 5


@dataclasses.dataclass(frozen=True)
class ChildConfig:
    """The child network's shape, from flags.

    `space` is "macro" or "micro"; `fixed_arc` is an `arch.MacroArc` or
    `arch.MicroArc` in final mode, None in search mode. `total_steps` (the
    drop-path schedule's `S`) is filled in once the data size is known.
    """

    space: str
    num_layers: int
    out_filters: int
    num_branches: int
    keep_prob: float
    fixed_arc: arch.MacroArc | arch.MicroArc | None
    compat_branch_bug: bool = False
    num_blocks: int = 5
    use_aux_heads: bool = False
    drop_path_keep_prob: float = 1.0
    total_steps: int = 1


def space() -> str:
    """"micro" for --search_for=micro, else "macro" (macro, branch and connection)."""
    return "micro" if FLAGS.search_for == "micro" else "macro"


def _flag_is_default(name: str) -> bool:
    flag = FLAGS[name]
    return flag.value == flag.default


def validate_flags() -> None:
    """Rejects contradictory or unsupported flag combinations with a clear message."""
    search_for = FLAGS.search_for
    if search_for is None:
        raise FlagError("--search_for is required: 'macro' (also 'branch'), 'connection', or 'micro'.")
    if search_for not in MACRO_SEARCH_FOR + ("micro",):
        raise FlagError(f"--search_for={search_for!r} is unknown; expected one of macro, branch, connection, micro.")
    if FLAGS.child_fixed_arc is not None and FLAGS.controller_training:
        raise FlagError(
            "--child_fixed_arc trains one architecture, but --controller_training is on (the default). "
            "Add --nocontroller_training for a final run, or drop --child_fixed_arc to search."
        )
    if FLAGS.child_fixed_arc is None and FLAGS.export_dir:
        raise FlagError(
            "--export_dir exports a trained final network, but this is a search (no --child_fixed_arc). Train the "
            "derived architecture with --export_dir, or run scripts/pipeline.sh (search, final and export)."
        )
    if FLAGS.child_fixed_arc is None and not FLAGS.controller_training and not FLAGS.summary_only:
        raise FlagError("Nothing to train: give --child_fixed_arc for a final run, or --controller_training to search.")
    if search_for == "micro":
        if FLAGS.child_num_branches != MICRO_NUM_BRANCHES:
            raise FlagError(f"--child_num_branches={FLAGS.child_num_branches}: the micro space has exactly 5 ops "
                            "(the micro scripts pass --child_num_branches=5).")
        if FLAGS.child_num_cells <= 0:
            raise FlagError(f"--child_num_cells (blocks per micro cell) must be positive. Received: {FLAGS.child_num_cells}")
        if not 0.0 < FLAGS.child_drop_path_keep_prob <= 1.0:
            raise FlagError(f"--child_drop_path_keep_prob must be in (0, 1]. Received: {FLAGS.child_drop_path_keep_prob}")
    elif FLAGS.child_num_branches not in arch.MACRO_NUM_BRANCHES:
        raise FlagError(f"--child_num_branches={FLAGS.child_num_branches}: the macro space has 4, 5 or 6 ops.")
    if search_for != "micro" and not FLAGS.controller_search_whole_channels:
        raise FlagError(
            "--nocontroller_search_whole_channels (per-branch channel slices, ENAS_SPEC.md 2.1.2) is not supported; "
            "every original script uses --controller_search_whole_channels."
        )
    if FLAGS.child_lr_cosine:
        missing = [n for n in ("child_lr_max", "child_lr_min", "child_lr_T_0", "child_lr_T_mul") if FLAGS[n].value is None]
        if missing:
            raise FlagError("--child_lr_cosine needs " + ", ".join(f"--{n}" for n in missing) + ".")
    for name in ("batch_size", "num_epochs", "child_num_layers", "child_out_filters", "log_every", "eval_every_epochs"):
        if FLAGS[name].value <= 0:
            raise FlagError(f"--{name} must be positive. Received: {FLAGS[name].value}")
    if (FLAGS.child_out_filters * FLAGS.child_out_filters_scale) % 2:
        raise FlagError("--child_out_filters (times --child_out_filters_scale) must be even: "
                        "factorized reductions split the channels in two halves.")
    if not 0.0 < FLAGS.child_keep_prob <= 1.0:
        raise FlagError(f"--child_keep_prob must be in (0, 1]. Received: {FLAGS.child_keep_prob}")


def warn_about_inert_flags() -> None:
    for name in CIFAR10_INERT_FLAGS:
        if not _flag_is_default(name):
            logging.warning("--%s=%s has no effect (as in the original).", name, FLAGS[name].value)
    if space() == "micro":
        if FLAGS.child_fixed_arc is None and FLAGS.child_drop_path_keep_prob < 1.0:
            logging.warning("--child_drop_path_keep_prob has no effect in a micro search (as in the original, Q-9).")
        for name in ("child_out_filters_scale", "controller_skip_target", "controller_skip_weight",
                     "compat_macro_branch_bug"):
            if not _flag_is_default(name):
                logging.warning("--%s has no effect on the micro space.", name)
        return
    if FLAGS.child_use_aux_heads:
        logging.warning("--child_use_aux_heads has no effect on the macro child (as in the original, Q-5).")
    if not _flag_is_default("child_drop_path_keep_prob"):
        logging.warning("--child_drop_path_keep_prob has no effect on the macro child (as in the original, Q-5).")
    if not _flag_is_default("controller_op_tanh_reduce"):
        logging.warning("--controller_op_tanh_reduce has no effect on the macro controller (as in the original, Q-6).")
    if FLAGS.child_train_aux_head:
        logging.warning("--child_train_aux_head has no effect on the macro child (it has no aux head).")


def child_config(total_steps: int = 1) -> ChildConfig:
    """The child's configuration from flags; `total_steps` = num_epochs x batches per epoch."""
    if space() == "micro":
        fixed_arc = None
        if FLAGS.child_fixed_arc is not None:
            fixed_arc = arch.MicroArc.parse(FLAGS.child_fixed_arc, num_blocks=FLAGS.child_num_cells)
        return ChildConfig(
            space="micro",
            num_layers=FLAGS.child_num_layers,
            out_filters=FLAGS.child_out_filters,
            num_branches=MICRO_NUM_BRANCHES,
            keep_prob=FLAGS.child_keep_prob,
            fixed_arc=fixed_arc,
            num_blocks=FLAGS.child_num_cells,
            use_aux_heads=FLAGS.child_use_aux_heads,
            drop_path_keep_prob=FLAGS.child_drop_path_keep_prob,
            total_steps=total_steps,
        )
    fixed_arc = None
    if FLAGS.child_fixed_arc is not None:
        fixed_arc = arch.MacroArc.parse(
            FLAGS.child_fixed_arc, num_layers=FLAGS.child_num_layers, num_branches=6
        )
    return ChildConfig(
        space="macro",
        num_layers=FLAGS.child_num_layers,
        out_filters=FLAGS.child_out_filters * FLAGS.child_out_filters_scale,
        num_branches=FLAGS.child_num_branches,
        keep_prob=FLAGS.child_keep_prob,
        fixed_arc=fixed_arc,
        compat_branch_bug=FLAGS.compat_macro_branch_bug,
    )


def child_config_record(config: ChildConfig) -> dict:
    """`config` as JSON types for the run record (the arc as its string)."""
    values = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}
    values["fixed_arc"] = None if config.fixed_arc is None else str(config.fixed_arc)
    return values


def child_config_from_record(values: dict) -> ChildConfig:
    """The inverse of `child_config_record`."""
    values = dict(values)
    arc = values.get("fixed_arc")
    if arc is not None:
        if values["space"] == "micro":
            values["fixed_arc"] = arch.MicroArc.parse(arc, num_blocks=values["num_blocks"])
        else:
            values["fixed_arc"] = arch.MacroArc.parse(arc, num_layers=values["num_layers"], num_branches=6)
    return ChildConfig(**values)


def build_child(config: ChildConfig) -> keras.Model:
    if config.space == "micro":
        if config.fixed_arc is not None:
            model = MicroNetwork(
                config.fixed_arc,
                config.num_layers,
                config.out_filters,
                keep_prob=config.keep_prob,
                drop_path_keep_prob=config.drop_path_keep_prob,
                total_steps=config.total_steps,
                use_aux_heads=config.use_aux_heads,
                name="child",
            )
        else:
            model = MicroSupernet(
                config.num_layers,
                config.num_blocks,
                config.out_filters,
                keep_prob=config.keep_prob,
                use_aux_heads=config.use_aux_heads,
                name="child",
            )
        model.build((None,) + cifar10.IMAGE_SHAPE)
        return model
    if config.fixed_arc is not None:
        model = MacroNetwork(config.fixed_arc, config.out_filters, keep_prob=config.keep_prob, name="child")
    else:
        model = MacroSupernet(
            config.num_layers,
            config.out_filters,
            num_branches=config.num_branches,
            keep_prob=config.keep_prob,
            compat_branch_bug=config.compat_branch_bug,
            name="child",
        )
    model.build((None,) + cifar10.IMAGE_SHAPE)
    return model


def optimized_variables(child: keras.Model) -> list:
    """The weights the child optimiser updates: `ChildTrainer`'s default (no micro aux head, Q-10),
    or every trainable weight with `--child_train_aux_head`."""
    if FLAGS.child_train_aux_head:
        return list(child.trainable_variables)
    return list(getattr(child, "optimized_variables", child.trainable_variables))


def build_controller() -> MacroController | MicroController:
    if space() == "micro":
        return MicroController(
            num_cells=FLAGS.child_num_cells,
            num_branches=MICRO_NUM_BRANCHES,
            lstm_size=CONTROLLER_LSTM_SIZE,
            tanh_constant=FLAGS.controller_tanh_constant,
            op_tanh_reduce=FLAGS.controller_op_tanh_reduce,
            temperature=FLAGS.controller_temperature,
            name="controller",
        )
    controller = MacroController(
        num_layers=FLAGS.child_num_layers,
        num_branches=FLAGS.child_num_branches,
        lstm_size=CONTROLLER_LSTM_SIZE,
        tanh_constant=FLAGS.controller_tanh_constant,
        temperature=FLAGS.controller_temperature,
        skip_target=FLAGS.controller_skip_target,
        skip_weight=FLAGS.controller_skip_weight,
        search_for=FLAGS.search_for,
        name="controller",
    )
    return controller


def child_learning_rate(num_train_batches: int) -> keras.optimizers.schedules.LearningRateSchedule:
    if FLAGS.child_lr_cosine:
        return CosineRestartsPerEpoch(
            FLAGS.child_lr_max, FLAGS.child_lr_min, FLAGS.child_lr_T_0, FLAGS.child_lr_T_mul, num_train_batches
        )
    return StaircaseDecayPerEpoch(FLAGS.child_lr, FLAGS.child_lr_dec_rate, FLAGS.child_lr_dec_every, num_train_batches)


def count_params(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def summary_only() -> None:
    """Builds the model(s) for the flags, prints summaries and parameter counts."""
    child = build_child(child_config())
    child.summary(expand_nested=False)
    lines = [f"trainable_params={count_params(optimized_variables(child))}"]
    aux_head = getattr(child, "aux_head", None)
    if aux_head is not None:
        trained = "trained" if FLAGS.child_train_aux_head else "not trained, Q-10"
        lines.append(f"aux_head_params={count_params(aux_head.trainable_variables)} ({trained})")
    if FLAGS.child_fixed_arc is None:
        controller = build_controller()
        controller.summary()
        lines.insert(0, f"controller_trainable_params={count_params(controller.trainable_variables)}")
    print("\n".join(lines))


def final_command(arc_string: str) -> str:
    """The command that trains a derived architecture from scratch (the space's final script)."""
    args = [
        f"scripts/cifar10_{space()}_final.sh",
        f"--data_path={FLAGS.data_path}" if FLAGS.data_path else None,
        f"--data_source={FLAGS.data_source}" if FLAGS.data_source != "pickle" else None,
        f"--output_dir={os.path.join(FLAGS.output_dir, 'final')}",
        f"--child_num_layers={FLAGS.child_num_layers}",
        f"--child_num_cells={FLAGS.child_num_cells}" if space() == "micro" else None,
        f"--child_fixed_arc={arc_string}",
    ]
    return " ".join(shlex.quote(a) for a in args if a)


def check_distribution_flags(strategy) -> None:
    """Flag combinations a distributed run cannot honour."""
    replicas = distribute.num_replicas(strategy)
    if FLAGS.batch_size % replicas:
        raise FlagError(f"--batch_size={FLAGS.batch_size} is the global batch and must split evenly over the "
                        f"{replicas} replicas; use a multiple of {replicas}.")
    if FLAGS.distribution == "multi_worker" and FLAGS.seed is None:
        raise FlagError("--distribution=multi_worker needs --seed: every worker must shuffle the data and sample "
                        "the controller's architectures identically.")


def replica_rewards(strategy, data: cifar10.Cifar10Data, score) -> ReplicaRewards | None:
    """With several replicas: reward minibatches of `--batch_size` for each replica in every round."""
    replicas = distribute.num_replicas(strategy)
    if replicas == 1:
        return None
    dataset = cifar10.make_reward_dataset(data, FLAGS.batch_size * replicas, seed=FLAGS.seed)
    return ReplicaRewards(iter(distribute.distributed_dataset(strategy, dataset)), score)


def flag_values() -> dict:
    """Every CIFAR-10 flag's value by name (kept in the run record)."""
    return {flag.name: flag.value for flag in FLAGS.get_flags_for_module("enas_tf2.flags")}


def write_record(config: ChildConfig, data: cifar10.Cifar10Data, output_dir: str) -> None:
    """`run.json`: what export and the pipeline need to rebuild this run's network."""
    run_record.write_run_record(
        output_dir,
        run_record.RunRecord(
            space=config.space,
            mode="search" if config.fixed_arc is None else "final",
            arc=None if config.fixed_arc is None else str(config.fixed_arc),
            model=child_config_record(config),
            data={"mean": [float(v) for v in data.mean], "std": [float(v) for v in data.std]},
            flags=flag_values(),
        ),
    )


def finish_final(loop: EpochLoop, results: dict[str, float], output_dir: str, chief: bool = True) -> None:
    """`final_metrics.json` and, with --export_dir (on the chief), the SavedModel."""
    if not results:
        metrics = run_record.read_final_metrics(output_dir)
        # A rerun of a finished run: the metrics are there; killed before writing them: evaluate again.
        results = metrics if metrics is not None else loop.evaluate(int(loop.state.epoch))
    path = run_record.write_final_metrics(output_dir, results)
    logging.info("Final run done: %s (written to %s)", results, path)
    if FLAGS.export_dir and chief:
        from enas_tf2.export import export_run

        export_run(FLAGS.output_dir, FLAGS.export_dir, overwrite=True)


def log_flags() -> None:
    names = sorted(
        flag.name for module in ("enas_tf2.flags",) for flag in FLAGS.get_flags_for_module(module)
    )
    logging.info("Flags:\n%s", "\n".join(f"  {name}={FLAGS[name].value}" for name in names))


def run() -> None:
    search = FLAGS.child_fixed_arc is None
    child_config()  # parses --child_fixed_arc: a bad arc fails before anything else
    if not FLAGS.output_dir:
        prepare_output_dir(FLAGS.output_dir, reset=False)  # raises the missing-flag error
    # Before any other TensorFlow op (a multi-worker strategy must come first).
    strategy = distribute.make_strategy(FLAGS.distribution, FLAGS.cpu_replicas)
    check_distribution_flags(strategy)
    chief = distribute.is_chief(strategy)
    # Only the chief writes into --output_dir; other workers save into a temporary folder of their own.
    output_dir = distribute.worker_output_dir(FLAGS.output_dir, strategy)
    # Data first: a wrong --data_path must fail before --reset_output_dir deletes a previous run.
    data = cifar10.load_cifar10(FLAGS.data_source, FLAGS.data_path, search=search, num_valid=FLAGS.num_valid_images)
    prepare_output_dir(output_dir, FLAGS.reset_output_dir or not chief)
    monitor = Monitor(output_dir)
    # Models, optimizers, controller and steps are built in the strategy's scope (their variables are
    # mirrored); the loop's counters are plain variables made after it, which `strategy.run` does not need.
    scope = contextlib.ExitStack()
    scope.enter_context(strategy.scope())
    try:
        log_flags()
        distribute.log_replicas(strategy, FLAGS.distribution, FLAGS.batch_size, "images", FLAGS.jit_compile)
        if FLAGS.seed is not None:
            keras.utils.set_random_seed(FLAGS.seed)
        logging.info("Data: %d train, %d valid, %d test; mean=%s std=%s (x255)", data.num_train, data.num_valid,
                     data.num_test, np.round(data.mean * 255, 3), np.round(data.std * 255, 3))
        num_train_batches = cifar10.num_train_batches(data.num_train, FLAGS.batch_size)
        train_dataset = cifar10.make_train_dataset(
            data, FLAGS.batch_size, cutout_size=FLAGS.child_cutout_size, seed=FLAGS.seed
        )
        eval_datasets = {"test": cifar10.make_eval_dataset(data.test_images, data.test_labels, data)}
        config = child_config(total_steps=FLAGS.num_epochs * num_train_batches)
        write_record(config, data, output_dir)
        if not search:
            monitor.picture(0, "arc/final_picture", lambda: pictures.draw_arc(config.fixed_arc),
                            os.path.join(output_dir, run_record.ARC_PICTURE))
        child = build_child(config)
        child_variables = optimized_variables(child)
        logging.info("Child: %s, %d trainable parameters", type(child).__name__, count_params(child_variables))
        optimizer = MomentumSGD(
            learning_rate=child_learning_rate(num_train_batches), momentum=CHILD_MOMENTUM, nesterov=True
        )
        trackables = dict(child=child, child_optimizer=optimizer)
        controller_trainer = None
        if search:
            eval_datasets = {
                "valid": cifar10.make_eval_dataset(data.valid_images, data.valid_labels, data),
                **eval_datasets,
            }
            # Minibatches for the controller's rewards and, on one device, the printed and derived arcs.
            reward_iterator = iter(cifar10.make_reward_dataset(data, FLAGS.batch_size, seed=FLAGS.seed))
            controller = build_controller()
            logging.info("Controller: %d trainable parameters", count_params(controller.trainable_variables))
            controller_trainer = ControllerTrainer(
                controller,
                # Both traced on the first controller update, after child_trainer exists.
                reward_fn=lambda arc: child_trainer.score_next(reward_iterator, arc),
                replica_rewards=replica_rewards(strategy, data, lambda *args: child_trainer.score_batch(*args)),
                learning_rate=FLAGS.controller_lr,
                entropy_weight=FLAGS.controller_entropy_weight,
                bl_dec=FLAGS.controller_bl_dec,
                num_aggregate=FLAGS.controller_num_aggregate,
                l2_reg=FLAGS.controller_l2_reg,
                seed=FLAGS.seed,
                strategy=strategy,
            )
            trackables.update(controller_trainer.checkpoint_items())
        child_trainer = ChildTrainer(
            child,
            optimizer,
            FLAGS.child_l2_reg,
            sample_arc=None if controller_trainer is None else controller_trainer.sample_arc_tensor,
            grad_bound=FLAGS.child_grad_bound,
            clip_gradients=FLAGS.child_clip_gradients,
            jit_compile=FLAGS.jit_compile,
            variables=child_variables,
            strategy=strategy,
        )
        scope.close()
        state = RunState(output_dir, restore_dir=FLAGS.output_dir, **trackables)
        state.restore_latest()
        loop = EpochLoop(
            LoopConfig(
                num_epochs=FLAGS.num_epochs,
                num_train_batches=num_train_batches,
                batch_size=FLAGS.batch_size,
                log_every=FLAGS.log_every,
                eval_every_epochs=FLAGS.eval_every_epochs,
            ),
            child_trainer,
            state,
            monitor,
            iter(distribute.distributed_dataset(strategy, train_dataset)),
            eval_datasets,
        )
        if not search:
            finish_final(loop, loop.run(), output_dir, chief)
            if FLAGS.distribution != "none":
                distribute.log_weights_digest(child)
            return
        arc_class = arch.MicroArc if space() == "micro" else arch.MacroArc
        search_run = Search(
            SearchConfig(
                controller_train_every=FLAGS.controller_train_every,
                controller_train_steps=FLAGS.controller_train_steps,
                log_every=FLAGS.log_every,
                derive_samples=FLAGS.derive_samples,
                final_command=final_command,
            ),
            loop,
            controller_trainer,
            child_trainer,
            reward_batches=reward_iterator,
            derive_batch=next(iter(eval_datasets["valid"].unbatch().batch(FLAGS.batch_size).take(1))),
            describe_arc=lambda a: arc_class.from_flat(a).describe(),
            arc_to_string=lambda a: str(arc_class.from_flat(a)),
            draw_arc=lambda a: pictures.draw_arc(arc_class.from_flat(a)),
            monitor=monitor,
        )
        search_run.run()
        if FLAGS.distribution != "none":
            distribute.log_weights_digest(child, controller)
    finally:
        monitor.close()
        scope.close()  # no-op when already closed
        distribute.remove_worker_output_dir(FLAGS.output_dir, strategy)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise FlagError(f"Unexpected positional arguments: {argv[1:]}. Every setting is a --flag.")
    try:
        validate_flags()
        warn_about_inert_flags()
        if FLAGS.summary_only:
            summary_only()
            return
        run()
        # Frees the run's tf.functions and the distributed iterators they hold while TensorFlow is
        # still up: left to interpreter shutdown, a multi-device iterator stalls the exit for 10-80 s.
        gc.collect()
    except EnasError as error:
        logging.error("%s: %s", type(error).__name__, error)
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    define_cifar10_flags()
    app.run(main)
