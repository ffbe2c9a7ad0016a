"""Image classification (CIFAR-10 by default, any image data): the macro and micro spaces' task.

What differs from other tasks (ENAS_SPEC.md 4-7, 9.1): images from the CIFAR-10 pickles, a
tensorflow-datasets dataset or a folder tree (`data.images`); the macro or micro supernet and
fixed network (`spaces`); their controllers; Nesterov SGD with the cosine or staircase schedule
and L2 (`image_trainer`); the reward is the accuracy on one validation minibatch; evaluation
reports the accuracy on the validation (search) and test splits; log lines are the original's.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2 import arch, distribute, pictures, run_record
from enas_tf2.configs.image import (
    CONTROLLER_LSTM_SIZE,
    ImageChildConfig,
    ImageClassificationConfig,
)
from enas_tf2.controllers.macro import MacroController
from enas_tf2.controllers.micro import MicroController
from enas_tf2.controllers.trainer import ReplicaRewards
from enas_tf2.data import image_pipeline, image_sources, images
from enas_tf2.data.streams import ResumableStream
from enas_tf2.errors import DataError, FlagError
from enas_tf2.precision import policy_scope, wrap_optimizer
from enas_tf2.spaces.macro import MacroNetwork, MacroSupernet
from enas_tf2.spaces.micro import MicroNetwork, MicroSupernet
from enas_tf2.tasks.base import ArcSampler, Metric, Task, count_params, num_batches
from enas_tf2.tasks.image_trainer import ImageChildTrainer
from enas_tf2.train.optimizers import MomentumSGD
from enas_tf2.train.schedules import CosineRestartsPerEpoch, StaircaseDecayPerEpoch


def build_child_network(config: ImageChildConfig, static_arc: arch.MacroArc | arch.MicroArc | None = None,
                        seed: int = 0, precision: str = "float32") -> keras.Model:
    """The built child network of `config`: a supernet without a fixed arc, else the fixed network.

    `static_arc` builds the supernet with only that architecture's ops (no `switch_case`): the
    network the benchmark compares the supernet's step with. `seed` keys the micro final
    network's stateless drop-path masks. `precision` is the Keras dtype policy of its layers
    (`enas_tf2.precision`; the weights are float32 under every policy, so a checkpoint loads into
    a network of any precision). A micro network keeps its layers float32 and computes only its
    dense convolutions in `precision`: its separable convolutions are float32 under every policy,
    and float32 around them saves more casts than 16-bit elementwise ops gain (`policy_scope`).
    """
    with policy_scope(precision, convolutions_only=config.space == "micro"):
        return _build_child_network(config, static_arc, seed)


def _build_child_network(config: ImageChildConfig, static_arc, seed: int) -> keras.Model:
    shape = (None, config.image_size, config.image_size, config.channels)
    if config.space == "micro":
        if config.fixed_arc is not None:
            model = MicroNetwork(
                config.fixed_arc, config.num_layers, config.out_filters, keep_prob=config.keep_prob,
                drop_path_keep_prob=config.drop_path_keep_prob, total_steps=config.total_steps,
                use_aux_heads=config.use_aux_heads, num_classes=config.num_classes, image_size=config.image_size,
                drop_path_seed=seed, name="child",
            )
        else:
            model = MicroSupernet(
                config.num_layers, config.num_blocks, config.out_filters, keep_prob=config.keep_prob,
                use_aux_heads=config.use_aux_heads, num_classes=config.num_classes, image_size=config.image_size,
                static_arc=static_arc, name="child",
            )
    elif config.fixed_arc is not None:
        model = MacroNetwork(config.fixed_arc, config.out_filters, keep_prob=config.keep_prob,
                             num_classes=config.num_classes, name="child")
    else:
        model = MacroSupernet(
            config.num_layers, config.out_filters, num_branches=config.num_branches, keep_prob=config.keep_prob,
            num_classes=config.num_classes, compat_branch_bug=config.compat_branch_bug, static_arc=static_arc,
            name="child",
        )
    model.build(shape)
    return model


def optimized_variables(child: keras.Model, train_aux_head: bool) -> list[tf.Variable]:
    """The weights the child optimiser updates: all but a micro aux head's (Q-10), or all with `train_aux_head`."""
    if train_aux_head:
        return list(child.trainable_variables)
    return list(getattr(child, "optimized_variables", child.trainable_variables))


def _arc_class(space: str):
    return arch.MicroArc if space == "micro" else arch.MacroArc


class ImageClassificationTask(Task):
    """ENAS on image classification: the macro or the micro space (`config.child.space`).

    Args:
        config: the resolved run configuration (`configs.image.resolve`).
    """

    name = "image_classification"
    metric = Metric("val_acc", fmt=".4f")
    standalone_metric = "test_accuracy"
    derive_noun = "one validation minibatch"
    nonfinite_hint = "Lower the learning rate (--child_lr_max / --child_lr) or check the data"

    def __init__(self, config: ImageClassificationConfig):
        self.config = config
        self.run_config = config.run
        self.controller_config = config.controller
        self.child_config = config.child
        self.data: images.ImageData | None = None
        self.trainer: ImageChildTrainer | None = None
        self._train_iterator = None
        # The seed of the data order, augmentation and drop path (`prepare` resolves --seed into it).
        self.train_seed = 0
        # Filled in by `load_data`; a task built without data (`--summary_only`, the benchmark) keeps these.
        self.num_train_batches = 1

    @property
    def space(self) -> str:
        return self.config.child.space

    # -- data ------------------------------------------------------------------------------

    def load_data(self) -> None:
        data_config = self.config.data
        data = image_sources.load_images(
            data_config.source, data_config.path, search=self.search, num_valid=data_config.num_valid,
            tfds_name=data_config.tfds_name, image_size=data_config.image_size,
        )
        height, width, channels = data.image_shape
        if height != width:
            raise DataError(f"The images are {height}x{width}; the networks take square images. Pass --image_size=N "
                            "to resize them to NxN.")
        if height % 4:
            raise DataError(f"The images are {height}x{width}; the networks halve them twice, so the size must be a "
                            "multiple of 4. Pass --image_size=N (e.g. 32, 48, 64) to resize them.")
        self.data = data
        self.num_train_batches = image_pipeline.num_train_batches(data.num_train, data_config.batch_size)
        self.child_config = dataclasses.replace(
            self.config.child, total_steps=self.run_config.num_epochs * self.num_train_batches,
            num_classes=data.num_classes, image_size=height, channels=channels,
        )

    def data_log(self) -> str:
        data = self.data
        return (f"Data: {data.num_train} train, {data.num_valid} valid, {data.num_test} test; "
                f"mean={np.round(data.mean * 255, 3)} std={np.round(data.std * 255, 3)} (x255)")

    def check_strategy(self, strategy: tf.distribute.Strategy) -> None:
        replicas = distribute.num_replicas(strategy)
        batch_size = self.config.data.batch_size
        if batch_size % replicas:
            raise FlagError(f"--batch_size={batch_size} is the global batch and must split evenly over the "
                            f"{replicas} replicas; use a multiple of {replicas}.")

    def batch_log(self) -> tuple[int, str]:
        return self.config.data.batch_size, "images"

    def prepare(self, strategy: tf.distribute.Strategy) -> None:
        self.strategy = strategy
        data, seed = self.data, self.run_config.seed
        # Shuffles and augmentation are keyed on (seed, batch number): a resumed run starts at its step.
        self.train_seed = image_pipeline.resolve_seed(seed)
        self.eval_datasets = {"test": image_pipeline.make_eval_dataset(data.test_images, data.test_labels, data)}
        if self.search:
            self.eval_datasets = {
                "valid": image_pipeline.make_eval_dataset(data.valid_images, data.valid_labels, data),
                **self.eval_datasets,
            }

    # -- networks and steps -----------------------------------------------------------------

    def build_child(self) -> keras.Model:
        return build_child_network(self.child_config, seed=self.train_seed, precision=self.run_config.precision)

    def trained_params(self, child: keras.Model) -> int:
        return count_params(optimized_variables(child, self.config.training.train_aux_head))

    def build_controller(self) -> keras.Model:
        config = self.controller_config
        if self.space == "micro":
            return MicroController(
                num_cells=self.child_config.num_blocks, num_branches=len(arch.MICRO_OPS),
                lstm_size=CONTROLLER_LSTM_SIZE, tanh_constant=config.tanh_constant,
                op_tanh_reduce=config.op_tanh_reduce, temperature=config.temperature, name="controller",
            )
        return MacroController(
            num_layers=self.child_config.num_layers, num_branches=self.child_config.num_branches,
            lstm_size=CONTROLLER_LSTM_SIZE, tanh_constant=config.tanh_constant, temperature=config.temperature,
            skip_target=config.skip_target, skip_weight=config.skip_weight, search_for=config.search_for,
            name="controller",
        )

    def reward_batches(self) -> ResumableStream:
        # Minibatches for the controller's rewards and, on one device, the printed arcs.
        return self._reward_stream(self.config.data.batch_size, "reward_batches")

    def _reward_stream(self, batch_size: int, name: str, wrap=None) -> ResumableStream:
        """Random validation minibatches of `batch_size`, resumable at the number already read."""
        data, seed = self.data, self.run_config.seed
        return ResumableStream(
            lambda start: image_pipeline.make_reward_dataset(data, batch_size, seed=seed, start_batch=start),
            name=name, wrap=wrap,
        )

    def replica_rewards(self, strategy: tf.distribute.Strategy, trainer: Callable[[], ImageChildTrainer]):
        """With several replicas: reward minibatches of `--batch_size` for each replica in every round."""
        replicas = distribute.num_replicas(strategy)
        if replicas == 1:
            return None
        stream = self._reward_stream(self.config.data.batch_size * replicas, "replica_reward_batches",
                                     wrap=lambda dataset: distribute.distributed_dataset(strategy, dataset))
        return ReplicaRewards(stream, lambda *args: trainer().score_batch(*args))

    def learning_rate(self) -> keras.optimizers.schedules.LearningRateSchedule:
        training = self.config.training
        if training.lr_cosine:
            return CosineRestartsPerEpoch(training.lr_max, training.lr_min, training.lr_t_0, training.lr_t_mul,
                                          self.num_train_batches)
        return StaircaseDecayPerEpoch(training.lr, training.lr_dec_rate, training.lr_dec_every, self.num_train_batches)

    def build_child_trainer(self, child: keras.Model, sample_arc: ArcSampler | None,
                            strategy: tf.distribute.Strategy) -> ImageChildTrainer:
        training = self.config.training
        optimizer = wrap_optimizer(
            MomentumSGD(learning_rate=self.learning_rate(), momentum=training.momentum, nesterov=True),
            self.run_config.precision,
        )
        self.trainer = ImageChildTrainer(
            child, optimizer, training.l2_reg, sample_arc=sample_arc, grad_bound=training.grad_bound,
            clip_gradients=training.clip_gradients, jit_compile=self.run_config.jit_compile,
            variables=optimized_variables(child, training.train_aux_head), strategy=strategy,
        )
        return self.trainer

    # -- the loop ---------------------------------------------------------------------------

    def steps_per_epoch(self) -> int:
        return self.num_train_batches

    def train_dataset(self, start_batch: int = 0) -> tf.data.Dataset:
        """The endless training stream from batch `start_batch` on (`image_pipeline.make_train_dataset`)."""
        data_config = self.config.data
        return image_pipeline.make_train_dataset(self.data, data_config.batch_size, cutout_size=data_config.cutout_size,
                                                 seed=self.train_seed, start_batch=start_batch)

    def epoch_inputs(self, epoch: int, start: int = 0) -> list[tuple]:
        # One endless iterator over the whole run: batches straddle epochs, as the original's stream. It
        # opens at the run's global step, so a resumed run reads the batches the uninterrupted one would.
        if self._train_iterator is None:
            dataset = self.train_dataset(epoch * self.num_train_batches + start)
            self._train_iterator = iter(distribute.distributed_dataset(self.strategy, dataset))
        return [(self._train_iterator,)] * (self.num_train_batches - start)

    def child_log(self, epoch: int, step: int, values: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
        batch_size = self.config.data.batch_size
        line = (f"epoch={epoch:<4d} ch_step={step:<6d} loss={values['loss']:.6f} lr={values['lr']:.4f} "
                f"|g|={values['grad_norm']:.4f} tr_acc={round(values['accuracy'] * batch_size)}/{batch_size}")
        return line, {name: values[name] for name in ("loss", "accuracy", "lr", "grad_norm")}

    def evaluate(self, epoch: int, step: int) -> dict[str, float]:
        """Accuracy on each eval dataset: `correct / images` (inference mode; a fresh arc per batch in a search)."""
        logging.info("Epoch %d: Eval at step %d", epoch, step)
        results = {}
        for name, dataset in self.eval_datasets.items():
            correct = tf.constant(0, tf.int32)
            total = 0
            self.progress.start(f"evaluation after epoch {epoch} ({name})", num_batches(dataset), unit="batch")
            for done, (batch_images, labels) in enumerate(dataset, start=1):
                correct += self.trainer.eval_step(batch_images, labels)
                total += int(labels.shape[0])
                self.progress.update(done)
            results[f"{name}_accuracy"] = float(correct.numpy()) / max(total, 1)
            logging.info("%s_accuracy: %.4f", name, results[f"{name}_accuracy"])
        return results

    def shared_score(self, arc: np.ndarray) -> float:
        """Validation accuracy of one architecture with the supernet's weights, over the whole split."""
        dataset = self.eval_datasets["valid"]
        arc_tensor = tf.constant(np.asarray(arc), tf.int32)
        correct, total = tf.constant(0, tf.int32), 0
        self.progress.start("shared-weight validation", num_batches(dataset), unit="batch")
        for done, (images, labels) in enumerate(dataset, start=1):
            correct += self.trainer.eval_step(images, labels, arc_tensor)
            total += int(labels.shape[0])
            self.progress.update(done)
        self.progress.end()
        return float(correct.numpy()) / max(total, 1)

    # -- the search -------------------------------------------------------------------------

    def controller_phase_log(self, epoch: int) -> str:
        return f"Epoch {epoch}: Training controller"

    def controller_log(self, step: int, values: Mapping[str, Any], learning_rate: float,
                       minutes: float) -> tuple[str, dict[str, float]]:
        line = (f"ctrl_step={step:<6d} loss={values['loss']:.3f} ent={values['entropy']:.2f} lr={learning_rate:.4f} "
                f"|g|={values['grad_norm']:.4f} acc={values['accuracy']:.4f} bl={values['baseline']:.2f} "
                f"skip_rate={values['skip_rate']:.3f} mins={minutes:.2f}")
        names = ("loss", "reward", "accuracy", "baseline", "entropy", "log_prob", "skip_rate", "grad_norm")
        return line, {name: values[name] for name in names}

    def derive_batch(self) -> tuple[tf.Tensor, tf.Tensor]:
        return next(iter(self.eval_datasets["valid"].unbatch().batch(self.config.data.batch_size).take(1)))

    def describe_arc(self, arc: np.ndarray) -> str:
        return _arc_class(self.space).from_flat(arc).describe()

    def arc_string(self, arc: np.ndarray) -> str:
        return str(_arc_class(self.space).from_flat(arc))

    def draw_arc(self, arc: np.ndarray) -> np.ndarray:
        return pictures.draw_arc(_arc_class(self.space).from_flat(arc))

    @property
    def op_names(self) -> tuple[str, ...]:
        if self.space == "micro":
            return tuple(arch.MICRO_OP_NAMES)
        return tuple(arch.MACRO_OP_NAMES[: self.child_config.num_branches])

    def op_choices(self, arc: np.ndarray) -> list[tuple[str, int]]:
        """Macro: the op of each layer; micro: the two ops of each node of both cells."""
        parsed = _arc_class(self.space).from_flat(arc)
        if self.space == "micro":
            return [(f"{name} node {k + 2}", op) for name, cell in zip(("normal", "reduce"), parsed.cells)
                    for k, block in enumerate(cell.blocks) for op in (block[1], block[3])]
        return [(f"layer {layer}", op) for layer, op in enumerate(parsed.ops)]

    def final_command(self, arc_string: str) -> str:
        """The command that trains a derived architecture from scratch (the space's final script)."""
        data, child, run = self.config.data, self.config.child, self.run_config
        args = [
            f"scripts/cifar10_{self.space}_final.sh",
            f"--data_path={data.path}" if data.path else None,
            f"--data_source={data.source}" if data.source != "pickle" else None,
            f"--tfds_name={data.tfds_name}" if data.source == "tfds" and data.tfds_name != "cifar10" else None,
            f"--image_size={data.image_size}" if data.image_size is not None else None,
            f"--output_dir={os.path.join(run.output_dir, 'final')}",
            f"--child_num_layers={child.num_layers}",
            # The width searched at (#18): without it the final script's own width would apply silently.
            f"--child_out_filters={run.flags['child_out_filters']}" if "child_out_filters" in run.flags else None,
            f"--child_out_filters_scale={run.flags['child_out_filters_scale']}"
            if run.flags.get("child_out_filters_scale", 1) != 1 else None,
            f"--child_num_cells={child.num_blocks}" if self.space == "micro" else None,
            *self.carried_run_flags(),
            f"--child_fixed_arc={arc_string}",
        ]
        return " ".join(shlex.quote(a) for a in args if a)

    # -- the run ----------------------------------------------------------------------------

    def run_record(self, child: keras.Model) -> run_record.RunRecord:
        """`run.json`: what export and the pipeline need to rebuild this run's network."""
        fixed_arc = self.child_config.fixed_arc
        return run_record.RunRecord(
            space=self.space, mode="search" if fixed_arc is None else "final",
            arc=None if fixed_arc is None else str(fixed_arc), model=self.child_config.to_record(),
            data=self.data.describe(), flags=dict(self.run_config.flags),
        )

    def arc_picture(self) -> np.ndarray | None:
        return pictures.draw_arc(self.child_config.fixed_arc)

    def summary_lines(self) -> list[str]:
        """Builds the model(s) for the flags, prints summaries and returns the parameter counts."""
        child = self.build_child()
        child.summary(expand_nested=False)
        training = self.config.training
        lines = [f"trainable_params={count_params(optimized_variables(child, training.train_aux_head))}"]
        aux_head = getattr(child, "aux_head", None)
        if aux_head is not None:
            trained = "trained" if training.train_aux_head else "not trained, Q-10"
            lines.append(f"aux_head_params={count_params(aux_head.trainable_variables)} ({trained})")
        if self.search:
            controller = self.build_controller()
            controller.summary()
            lines.insert(0, f"controller_trainable_params={count_params(controller.trainable_variables)}")
        return lines
