"""REINFORCE training of any controller against a child's reward (ENAS_SPEC.md 6.5, 6.6, 1.5).

`ControllerTrainer` knows nothing about the child: it takes a `reward_fn(arc)`
that scores an architecture (the child's accuracy on one validation minibatch,
or `80 / ppl` for PTB) and works with every controller whose
`sample(rng, forced_arc=None)` returns the dict described by `Controller`.

One `train_step()` is one controller update of the original: `num_aggregate`
architectures are sampled with the same (not yet updated) weights, the baseline
moves after every sample, and the *mean* of their gradients is applied as a
single Adam step. This is what the original's
`SyncReplicasOptimizer(replicas_to_aggregate=num_aggregate, total_num_replicas=1)`
does (spec 1.5), without its one-run token lag.

Under a `tf.distribute` strategy of several replicas the same update is spread
over them (`ReplicaRewards`, `_distributed_train_step`): the `num_aggregate`
architectures are sampled in the single-device order, replica `r` scores
samples `r, r + N, r + 2N, ...` each on its own reward minibatch, the rewards
are gathered in sample order so the baseline moves exactly as on one device,
and each replica differentiates the loss of its own samples; the all-reduced
sum is the same mean gradient.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

import keras
import tensorflow as tf

from enas_tf2 import collectives, distribute
from enas_tf2.controllers import reinforce
from enas_tf2.errors import EnasError, FlagError

#: Adam as the original's controller optimiser: beta_1 = 0 (no momentum) and
#: epsilon = 1e-3 in TF1's "epsilon hat" placement, which Keras' Adam matches
#: (ENAS_SPEC.md 6.5, 11).
ADAM_BETA_1 = 0.0
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-3
#: enas_lm's controller uses Adam with TensorFlow's defaults (ENAS_PTB_SPEC.md 1.3).
TF_ADAM_BETA_1 = 0.9
TF_ADAM_EPSILON = 1e-8


class Controller(Protocol):
    """What the trainer needs from a controller (macro, micro or PTB).

    `sample(rng, forced_arc=None)` returns float32 scalars `log_prob` (sum of
    `log pi`), `entropy`, `skip_penalty` (0 if the controller has none),
    `skip_rate` (0 likewise) and the int32 `arc` of shape `[arc_length]`.
    `skip_weight` is the controller's default weight of its skip penalty (0 for
    controllers without one).
    """

    trainable_variables: list
    arc_length: int
    skip_weight: float

    def sample(self, rng: tf.random.Generator, forced_arc: tf.Tensor | None = None) -> dict[str, tf.Tensor]: ...


@dataclasses.dataclass(frozen=True)
class ReplicaRewards:
    """Where a controller update spread over several replicas gets its rewards.

    Attributes:
        batches: iterator over a distributed dataset
            (`strategy.experimental_distribute_dataset`) whose every element
            gives each replica one reward minibatch of the single-device size:
            the global batch is `replicas * batch_size`.
        score: `(images, labels, arc) -> accuracy`, run on a replica (the
            child's accuracy of `arc` on one minibatch, inference mode).
    """

    batches: Any
    score: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


class ControllerTrainer:
    """Owns the controller's optimiser, baseline and RNG, and runs its updates.

    Args:
        controller: the controller to train (e.g. `MacroController`).
        reward_fn: `arc -> float32 scalar`, the child's accuracy-like score of
            an int32 arc tensor, traced into `train_step` (it may pull a batch
            from a `tf.data` iterator). It gets no gradient. Unused (may be
            None) with several replicas, which score through `replica_rewards`.
        learning_rate: Adam learning rate (`--controller_lr`, constant: the
            original's decay every 10^6 steps never fires).
        entropy_weight: weight of the sample-entropy bonus in the reward, or None.
        bl_dec: baseline decay (`--controller_bl_dec`, 0.99).
        skip_weight: weight of the skip penalty in the loss; None takes the
            controller's `skip_weight`.
        num_aggregate: samples averaged into one update
            (`--controller_num_aggregate`).
        seed: seed of the trainer's `tf.random.Generator`; None for a
            non-deterministic one.
        optimizer: replaces the default Adam (tests swap in SGD).
        l2_reg: `--controller_l2_reg`: adds `l2_reg * sum(w^2)` over the
            controller's weights to each sample's loss (0 in every script).
        strategy: the `tf.distribute` strategy the controller was built under.
            With several replicas `train_step` spreads the samples over them
            and takes its rewards from `replica_rewards` (`reward_fn` is unused).
        replica_rewards: the distributed reward minibatches and the scorer;
            required by `train_step` with several replicas (sampling alone,
            `sample_arc`, does not need them).

    Raises:
        FlagError: for a non-positive `num_aggregate` or a `bl_dec` outside [0, 1].
    """

    def __init__(
        self,
        controller: Controller,
        reward_fn: Callable[[tf.Tensor], tf.Tensor] | None,
        learning_rate: float = 0.001,
        entropy_weight: float | None = None,
        bl_dec: float = 0.99,
        skip_weight: float | None = None,
        num_aggregate: int = 1,
        seed: int | None = None,
        optimizer: keras.optimizers.Optimizer | None = None,
        l2_reg: float = 0.0,
        strategy: tf.distribute.Strategy | None = None,
        replica_rewards: ReplicaRewards | None = None,
    ):
        if not isinstance(num_aggregate, int) or num_aggregate < 1:
            raise FlagError(
                f"--controller_num_aggregate must be a positive integer. Received: {num_aggregate!r}"
            )
        if not 0.0 <= bl_dec <= 1.0:
            raise FlagError(f"--controller_bl_dec must be in [0, 1]. Received: {bl_dec!r}")
        self.controller = controller
        self.reward_fn = reward_fn
        self.entropy_weight = entropy_weight
        self.bl_dec = float(bl_dec)
        self.skip_weight = float(controller.skip_weight if skip_weight is None else skip_weight)
        self.num_aggregate = num_aggregate
        self.l2_reg = float(l2_reg)
        self.optimizer = optimizer or keras.optimizers.Adam(
            learning_rate=learning_rate, beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON
        )
        self.baseline = tf.Variable(0.0, trainable=False, dtype=tf.float32, name="controller_baseline")
        if seed is None:
            self.rng = tf.random.Generator.from_non_deterministic_state()
        else:
            self.rng = tf.random.Generator.from_seed(seed)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.num_replicas = int(self.strategy.num_replicas_in_sync)
        self.replica_rewards = replica_rewards
        # Slots must exist before the first traced call, or it traces twice (DESIGN.md).
        self.optimizer.build(self.controller.trainable_variables)
        if self.num_replicas > 1:
            self.train_step = tf.function(self._distributed_train_step)
        else:
            self.train_step = tf.function(self._train_step)
        self.sample_arc = tf.function(self._sample_arc)

    @classmethod
    def from_config(
        cls,
        config,
        controller: Controller,
        reward_fn: Callable[[tf.Tensor], tf.Tensor] | None,
        seed: int | None = None,
        strategy: tf.distribute.Strategy | None = None,
        replica_rewards: ReplicaRewards | None = None,
    ) -> ControllerTrainer:
        """The trainer a search uses, with every setting of a `configs.run.ControllerConfig`.

        `config.tf_adam` (enas_lm's controller) takes Adam with TensorFlow's defaults instead of
        the original's (ENAS_PTB_SPEC.md 1.3).
        """
        optimizer = None
        if config.tf_adam:
            optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, beta_1=TF_ADAM_BETA_1,
                                              beta_2=ADAM_BETA_2, epsilon=TF_ADAM_EPSILON)
        return cls(
            controller, reward_fn, learning_rate=config.learning_rate, entropy_weight=config.entropy_weight,
            bl_dec=config.bl_dec, num_aggregate=config.num_aggregate, seed=seed, optimizer=optimizer,
            l2_reg=config.l2_reg, strategy=strategy, replica_rewards=replica_rewards,
        )

    def sample_arc_tensor(self) -> tf.Tensor:
        """A fresh int32 arc, for tracing into another compiled step (the child's)."""
        return self.controller.sample(self.rng)["arc"]

    def _sample_arc(self) -> dict[str, tf.Tensor]:
        """One sample from the current policy, no training and no baseline move.

        Used for the child's training steps, search-mode evaluation and the 10
        architectures printed after each controller phase (spec 6.6).
        """
        return self.controller.sample(self.rng)

    def _train_step(self) -> dict[str, tf.Tensor]:
        """One controller update from `num_aggregate` fresh samples (spec 1.5, 6.5).

        Per sample: sample under a tape; `R = reward_fn(arc) + entropy_weight *
        entropy`; update the baseline and use the *updated* value (Q-13);
        `loss = -log_prob * (R - b) + skip_weight * skip_penalty`; accumulate the
        gradient. All samples see the same weights; the mean gradient is applied
        once, so `optimizer.iterations` grows by one per call.

        Returns:
            float32 scalars `loss`, `reward`, `accuracy` (the raw `reward_fn`
            value), `entropy`, `log_prob`, `skip_rate` (means over the samples),
            `baseline` (after the last sample), `grad_norm` (global norm of the
            applied mean gradient), and the last sampled `arc`.
        """
        variables = self.controller.trainable_variables
        grad_sums = [tf.zeros(v.shape, dtype=v.dtype) for v in variables]
        stats_names = ("loss", "reward", "accuracy", "entropy", "log_prob", "skip_rate")
        stat_sums = tuple(tf.constant(0.0) for _ in stats_names)
        last_arc = tf.zeros([self.controller.arc_length], dtype=tf.int32)

        for _ in tf.range(self.num_aggregate):
            with tf.GradientTape() as tape:
                sample = self.controller.sample(self.rng)
                accuracy = tf.stop_gradient(tf.cast(self.reward_fn(sample["arc"]), tf.float32))
                reward = reinforce.reward_with_entropy(accuracy, sample["entropy"], self.entropy_weight)
                baseline = reinforce.update_baseline(self.baseline, reward, self.bl_dec)
                loss = reinforce.reinforce_loss(
                    sample["log_prob"], reward, baseline, sample["skip_penalty"], self.skip_weight
                )
                if self.l2_reg:
                    loss += self.l2_reg * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
            grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            # The embedding lookups give IndexedSlices: densify to keep the loop variables' type fixed.
            grad_sums = [acc + tf.convert_to_tensor(g) for acc, g in zip(grad_sums, grads)]
            values = (loss, reward, accuracy, sample["entropy"], sample["log_prob"], sample["skip_rate"])
            stat_sums = tuple(s + tf.cast(v, tf.float32) for s, v in zip(stat_sums, values))
            last_arc = sample["arc"]

        scale = 1.0 / self.num_aggregate
        mean_grads = [g * scale for g in grad_sums]
        self.optimizer.apply_gradients(zip(mean_grads, variables))
        logs = {name: s * scale for name, s in zip(stats_names, stat_sums)}
        logs["baseline"] = tf.identity(self.baseline)
        logs["grad_norm"] = tf.linalg.global_norm(mean_grads)
        logs["arc"] = last_arc
        return logs

    def _distributed_train_step(self) -> dict[str, tf.Tensor]:
        """`_train_step` spread over the replicas; the same update, up to float rounding.

        1. The `num_aggregate` architectures are sampled here (cross-replica),
           in the single-device order, with this worker's generator.
        2. In round `j` replica `r` scores sample `j * N + r` on its own reward
           minibatch (its shard of the global batch); the accuracies are gathered
           in sample order. When `N` does not divide `num_aggregate`, the last
           round's spare replicas draw a minibatch and score nothing.
        3. The baseline moves along the rewards in sample order (what the
           single-device loop does one sample at a time), giving each sample its
           post-update baseline (Q-13).
        4. Each replica recomputes the log-probability of its samples (forcing
           the arcs) under a tape; the summed gradients, divided by
           `num_aggregate`, are the mean gradient, applied once.

        Returns:
            The same logs as `_train_step`.
        """
        if self.replica_rewards is None:
            raise EnasError(
                f"A controller trained over {self.num_replicas} replicas needs replica_rewards: "
                "a distributed reward dataset and the child's scorer."
            )
        num, replicas = self.num_aggregate, self.num_replicas
        samples = self._sample_many(num)
        rounds = -(-num // replicas)
        accuracies = tf.TensorArray(tf.float32, size=rounds)
        for round_index in tf.range(rounds):
            batch = next(self.replica_rewards.batches)
            gathered = self.strategy.run(self._replica_score, args=(batch, samples["arc"], round_index))
            accuracies = accuracies.write(round_index, self.strategy.experimental_local_results(gathered)[0])
        accuracy = tf.reshape(accuracies.stack(), [-1])[:num]
        reward = reinforce.reward_with_entropy(accuracy, samples["entropy"], self.entropy_weight)
        baselines = tf.scan(
            lambda baseline, r: reinforce.moved_baseline(baseline, r, self.bl_dec),
            reward,
            initializer=tf.convert_to_tensor(self.baseline),
        )
        self.baseline.assign(baselines[-1])
        loss = reinforce.reinforce_loss(
            samples["log_prob"], reward, baselines, samples["skip_penalty"], self.skip_weight
        )
        if self.l2_reg:  # of the weights before the update, as each sample's loss on one device
            loss += self.l2_reg * tf.add_n([tf.reduce_sum(tf.square(v)) for v in self.controller.trainable_variables])
        grad_norm = self.strategy.run(self._replica_update, args=(samples["arc"], reward, baselines))
        values = dict(
            loss=loss, reward=reward, accuracy=accuracy, entropy=samples["entropy"],
            log_prob=samples["log_prob"], skip_rate=samples["skip_rate"],
        )
        logs = {name: tf.reduce_mean(value) for name, value in values.items()}
        logs["baseline"] = tf.identity(self.baseline)
        logs["grad_norm"] = self.strategy.experimental_local_results(grad_norm)[0]
        logs["arc"] = samples["arc"][-1]
        return logs

    def _sample_many(self, num: int) -> dict[str, tf.Tensor]:
        """`num` samples in order, each field stacked along a new first axis."""
        names = ("arc", "log_prob", "entropy", "skip_penalty", "skip_rate")
        dtypes = (tf.int32, tf.float32, tf.float32, tf.float32, tf.float32)
        arrays = [tf.TensorArray(dtype, size=num) for dtype in dtypes]
        for index in tf.range(num):
            sample = self.controller.sample(self.rng)
            arrays = [array.write(index, tf.cast(sample[name], dtype)) for array, name, dtype in zip(arrays, names, dtypes)]
        return {name: array.stack() for name, array in zip(names, arrays)}

    def _replica_score(self, batch, arcs: tf.Tensor, round_index: tf.Tensor) -> tf.Tensor:
        """This replica's accuracy for its sample of the round, gathered: float32 `[replicas]`."""
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
        arcs = distribute.from_first_replica(context, arcs)
        index = round_index * self.num_replicas + replica
        images, labels = batch
        # Each replica scores a different architecture, on its own minibatch: its batch statistics
        # are its own, as each sample's are on one device.
        with collectives.replica_local_statistics():
            accuracy = tf.cond(
                index < self.num_aggregate,
                lambda: tf.cast(self.replica_rewards.score(images, labels, arcs[tf.minimum(index, self.num_aggregate - 1)]),
                                tf.float32),
                lambda: tf.constant(0.0),
            )
        return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.one_hot(replica, self.num_replicas) * accuracy)

    def _replica_update(self, arcs: tf.Tensor, reward: tf.Tensor, baselines: tf.Tensor) -> tf.Tensor:
        """Differentiates the loss of this replica's samples; applies the all-reduced mean gradient."""
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
        arcs = distribute.from_first_replica(context, arcs)
        variables = self.controller.trainable_variables
        with tf.GradientTape() as tape:
            loss = tf.constant(0.0)
            for index in tf.range(replica, self.num_aggregate, self.num_replicas):
                sample = self.controller.sample(forced_arc=arcs[index])
                loss += reinforce.reinforce_loss(
                    sample["log_prob"], reward[index], baselines[index], sample["skip_penalty"], self.skip_weight
                )
                if self.l2_reg:
                    loss += self.l2_reg * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grads = [tf.convert_to_tensor(g) for g in grads]
        grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        mean_grads = [g / self.num_aggregate for g in grads]
        # Keras' optimizer sums the replicas' gradients once more: hand it each replica's share.
        self.optimizer.apply_gradients(zip([g / self.num_replicas for g in mean_grads], variables))
        return tf.linalg.global_norm(mean_grads)

    def checkpoint_items(self) -> dict[str, object]:
        """The trackables to put in the caller's `tf.train.Checkpoint`.

        The generator's state is included so a resumed search samples the same
        architectures it would have without the interruption.
        """
        return {
            "controller": self.controller,
            "controller_optimizer": self.optimizer,
            "baseline": self.baseline,
            "controller_rng": self.rng,
        }
