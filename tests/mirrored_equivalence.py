"""Run by tests/test_distribute.py in a fresh process: the CPU is split into 2 logical devices first.

Child kinds (`macro_search`, `micro_search`, `macro_final`) train the same tiny child (identical
initial weights, the same sampled architectures, the same global batches) for a few steps under
the default strategy and under a 2-replica `MirroredStrategy`. Controller kinds
(`macro_controller`: 4 samples per update, `macro_controller_uneven`: 3, which 2 replicas do not
divide, `micro_controller`: 2 samples scored with the per-input BN's batch statistics, which must
be each replica's own) run controller updates scored by a fixed child on the same reward
minibatches. Both print each run's losses, weights and architectures as JSON.
"""

from __future__ import annotations

import gc
import json
import sys

import tensorflow as tf

from enas_tf2.distribute import make_strategy, split_cpu  # noqa: E402

split_cpu(2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from enas_tf2 import arch  # noqa: E402,I001
from enas_tf2.controllers.macro import MacroController  # noqa: E402
from enas_tf2.controllers.micro import MicroController  # noqa: E402
from enas_tf2.controllers.trainer import ControllerTrainer, ReplicaRewards  # noqa: E402
from enas_tf2.spaces.macro import MacroNetwork, MacroSupernet  # noqa: E402
from enas_tf2.spaces.micro import MicroSupernet  # noqa: E402
from enas_tf2.tasks.image_trainer import ImageChildTrainer  # noqa: E402
from enas_tf2.train.optimizers import MomentumSGD  # noqa: E402

STEPS = 2
BATCH = 8


#: PTB kinds: (implementation, search); 3 windows of different lengths, the state carried between them.
PTB_KINDS = {"ptb_search": ("enas_lm", True), "ptb_final_original": ("original", False)}
PTB_VOCAB, PTB_HIDDEN, PTB_BATCH, PTB_LENGTHS = 17, 6, 4, (5, 7, 4)

#: Controller kinds: samples per update and updates compared.
CONTROLLER_KINDS = {"macro_controller": (4, 2), "macro_controller_uneven": (3, 1), "micro_controller": (2, 1)}


def build(kind: str):
    if kind == "macro_final":
        child = MacroNetwork(arch.MacroArc.parse("0 1 0 4 1 1"), 4, name="child")
        controller = None
    elif kind.startswith("macro"):
        child = MacroSupernet(3, 4, num_branches=6, name="child")
        controller = MacroController(num_layers=3, num_branches=6, lstm_size=8, name="controller")
    else:
        blocks = 2 if kind == "micro_search" else 1  # the controller kind scores only: one block per cell will do
        child = MicroSupernet(1, blocks, 4, name="child")
        controller = MicroController(num_cells=blocks, num_branches=5, lstm_size=8, name="controller")
    child.build((None, 32, 32, 3))
    return child, controller


def run(kind: str, strategy: tf.distribute.Strategy, initial: dict | None) -> dict:
    with strategy.scope():
        child, controller = build(kind)
        if initial is not None:
            for variable, value in zip(child.variables, initial["child"]):
                variable.assign(value)
            if controller is not None:
                for variable, value in zip(controller.variables, initial["controller"]):
                    variable.assign(value)
        optimizer = MomentumSGD(learning_rate=0.05, momentum=0.9, nesterov=True)
        sampler = None
        if controller is not None:
            sampler = ControllerTrainer(controller, reward_fn=lambda arc: 0.0, seed=7).sample_arc_tensor
        trainer = ImageChildTrainer(child, optimizer, l2_reg=2.5e-4, sample_arc=sampler, strategy=strategy)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(STEPS * BATCH, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, size=STEPS * BATCH).astype(np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(BATCH)
    if strategy.num_replicas_in_sync > 1:
        dataset = strategy.experimental_distribute_dataset(dataset)
    iterator = iter(dataset)
    losses, arcs = [], []
    for _ in range(STEPS):
        logs = trainer.train_step(iterator)
        losses.append(float(logs["loss"]))
        if "arc" in logs:
            arcs.append([int(a) for a in np.asarray(logs["arc"])])
    return {
        "losses": losses,
        "arcs": arcs,
        "child": [np.asarray(v.numpy()).tolist() for v in child.variables],
        "names": [v.path for v in child.variables],
    }


def run_controller(kind: str, strategy: tf.distribute.Strategy, initial: dict) -> dict:
    """Controller updates scored by the fixed initial child; each sample gets its own minibatch."""
    num_aggregate, updates = CONTROLLER_KINDS[kind]
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        child, controller = build(kind)
        for variable, value in zip(child.variables + controller.variables, initial["child"] + initial["controller"]):
            variable.assign(value)
    rng = np.random.default_rng(1)
    count = updates * num_aggregate * BATCH
    images = rng.normal(size=(count, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, size=count).astype(np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))

    def score(images, labels, arc):
        logits = child(images, arc=arc, training=False)
        return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32))

    with strategy.scope():
        if replicas > 1:
            batches = iter(strategy.experimental_distribute_dataset(dataset.repeat().batch(BATCH * replicas)))
            trainer = ControllerTrainer(
                controller, reward_fn=None, learning_rate=0.05, entropy_weight=1e-2, num_aggregate=num_aggregate, seed=5,
                l2_reg=1e-3, strategy=strategy, replica_rewards=ReplicaRewards(batches, score),
            )
        else:
            batches = iter(dataset.repeat().batch(BATCH))
            trainer = ControllerTrainer(
                controller, reward_fn=lambda arc: score(*next(batches), arc), learning_rate=0.05, entropy_weight=1e-2,
                num_aggregate=num_aggregate, seed=5, l2_reg=1e-3,
            )
    logs = [trainer.train_step() for _ in range(updates)]
    return {
        "losses": [[float(log[name]) for name in ("loss", "reward", "accuracy", "baseline", "grad_norm")] for log in logs],
        "arcs": [[int(a) for a in np.asarray(log["arc"])] for log in logs],
        "accuracies": [float(log["accuracy"]) for log in logs],
        "child": [np.asarray(v.numpy()).tolist() for v in controller.variables],
        "names": [v.path for v in controller.variables],
        "iterations": int(trainer.optimizer.iterations.numpy()),
        "moved": max(float(np.max(np.abs(v.numpy() - w))) for v, w in zip(controller.variables, initial["controller"])),
    }


def build_ptb(kind: str):
    from enas_tf2.controllers.ptb import PtbController  # pylint: disable=import-outside-toplevel
    from enas_tf2.configs.language_model import default_init_range  # pylint: disable=import-outside-toplevel
    from enas_tf2.spaces.rnn import PtbNetwork, PtbSupernet  # pylint: disable=import-outside-toplevel

    ptb_impl, search = PTB_KINDS[kind]
    # No dropout: masks come from TensorFlow's stateful generator, whose draws differ between graphs.
    no_dropout = dict(drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0, drop_o=0.0, drop_w=0.0,
                      init_range=default_init_range(ptb_impl, PTB_HIDDEN, search))
    if search:
        child = PtbSupernet(PTB_VOCAB, PTB_HIDDEN, 4, ptb_impl=ptb_impl, **no_dropout, name="child")
        controller = PtbController(num_nodes=4, ptb_impl=ptb_impl, name="controller")
    else:
        child = PtbNetwork("0 0 1 1 2 2 0", PTB_VOCAB, PTB_HIDDEN, ptb_impl=ptb_impl, **no_dropout, name="child")
        controller = None
    child.build()
    return child, controller


def run_ptb(kind: str, strategy: tf.distribute.Strategy, initial: dict) -> dict:
    """Three windows of the PTB child under `strategy`: losses, weights, arcs and the carried state."""
    from enas_tf2.tasks.lm_trainer import LanguageModelTrainConfig, LanguageModelTrainer  # pylint: disable=import-outside-toplevel

    ptb_impl, search = PTB_KINDS[kind]
    with strategy.scope():
        child, controller = build_ptb(kind)
        for variable, value in zip(child.variables, initial["child"]):
            variable.assign(value)
        sampler = None
        if controller is not None:
            for variable, value in zip(controller.variables, initial["controller"]):
                variable.assign(value)
            sampler = ControllerTrainer(controller, reward_fn=lambda arc: 0.0, seed=7).sample_arc_tensor
        config = LanguageModelTrainConfig(
            ptb_impl=ptb_impl, batch_size=PTB_BATCH, bptt=5, learning_rate=20.0, scale_lr_by_length=ptb_impl == "enas_lm",
            grad_bound=0.25, weight_decay=1e-3, activation_reg=0.5, slowness_reg=0.5,
        )
        trainer = LanguageModelTrainer(child, config, sample_arc=sampler, arc_format="enas_lm" if search else None, seed=3,
                             strategy=strategy)
    rng = np.random.default_rng(2)
    losses, arcs = [], []
    for length in PTB_LENGTHS:
        x, y = (tf.constant(rng.integers(0, PTB_VOCAB, size=(PTB_BATCH, length)), tf.int32) for _ in range(2))
        logs = trainer.train_step(x, y)
        losses.append([float(logs[name]) for name in ("loss", "cross_entropy", "grad_norm", "weight_penalty")])
        if "arc" in logs:
            arcs.append([int(a) for a in np.asarray(logs["arc"])])
    return {
        "losses": losses,
        "arcs": arcs,
        "state": trainer.state.numpy().tolist(),
        "moved": max(float(np.max(np.abs(v.numpy() - w))) for v, w in zip(child.variables, initial["child"])),
        "child": [np.asarray(v.numpy()).tolist() for v in child.variables],
        "names": [v.path for v in child.variables],
    }


def compare(kind: str, strategy: tf.distribute.Strategy) -> dict:
    keras.utils.set_random_seed(0)
    child, controller = build_ptb(kind) if kind in PTB_KINDS else build(kind)
    initial = {
        "child": [v.numpy() for v in child.variables],
        "controller": [] if controller is None else [v.numpy() for v in controller.variables],
    }
    runner = run_controller if kind in CONTROLLER_KINDS else run_ptb if kind in PTB_KINDS else run
    single = runner(kind, tf.distribute.get_strategy(), initial)
    mirrored = runner(kind, strategy, initial)
    return {"single": single, "mirrored": mirrored}


if __name__ == "__main__":
    # One strategy for every comparison: collective keys are process-wide, and a second strategy
    # would reuse the first one's.
    mirrored_strategy = make_strategy("mirrored", cpu_replicas=2)
    print("RESULT " + json.dumps({kind: compare(kind, mirrored_strategy) for kind in sys.argv[1:]}), flush=True)
    gc.collect()  # frees the distributed iterators now: at interpreter exit they stall it for a minute
