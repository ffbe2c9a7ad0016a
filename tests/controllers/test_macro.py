"""Tests of the macro controller, the shared REINFORCE pieces and the controller trainer.

The controller is checked against a NumPy re-implementation of ENAS_SPEC.md
6.1/6.2 written from the spec (per-skip loop, not vectorised); the trainer
against a hand-computed REINFORCE update.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from enas_tf2.controllers import reinforce
from enas_tf2.controllers.attention import ControllerAttention
from enas_tf2.controllers.lstm import ControllerLSTMCell
from enas_tf2.arch import macro_arc_length
from enas_tf2.controllers.macro import MacroController
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.errors import ArcError, FlagError

NUM_LAYERS = 4


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _log_softmax(z):
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def np_macro_reference(controller: MacroController, arc) -> dict[str, float]:
    """Spec 6.1/6.2 by hand in float64 NumPy: one skip decision at a time."""
    arc = np.asarray(arc)
    n = controller.lstm_size
    kernel = controller.lstm.kernel.numpy().astype(np.float64)
    g_emb = controller.g_emb.numpy().astype(np.float64)
    op_emb = controller.op_embedding.numpy().astype(np.float64)
    w_soft = controller.op_softmax.numpy().astype(np.float64)
    w_1 = controller.attention.w_1.numpy().astype(np.float64)
    w_2 = controller.attention.w_2.numpy().astype(np.float64)
    v = controller.attention.v.numpy().astype(np.float64)
    temperature, tanh_c, target = controller.temperature, controller.tanh_constant, controller.skip_target

    def post(z):
        if temperature is not None:
            z = z / temperature
        if tanh_c is not None:
            z = tanh_c * np.tanh(z)
        return z

    def lstm(x, c, h):
        gates = np.concatenate([x, h], axis=1) @ kernel
        i, f, o, g = np.split(gates, 4, axis=1)
        c = _sigmoid(i) * np.tanh(g) + _sigmoid(f) * c
        return c, _sigmoid(o) * np.tanh(c)

    c = h = np.zeros((1, n))
    x = g_emb
    log_prob = entropy = skip_count = 0.0
    anchors, penalties = [], []
    pos = 0
    for layer_id in range(controller.num_layers):
        c, h = lstm(x, c, h)
        op = int(arc[pos])
        lp = _log_softmax(post(h @ w_soft)[0])[op]
        log_prob += lp
        entropy += -np.exp(lp) * lp
        c, h = lstm(op_emb[op][None], c, h)
        if layer_id > 0:
            skips = arc[pos + 1 : pos + 1 + layer_id].astype(np.float64)
            penalty = 0.0
            for j in range(layer_id):
                q = (np.tanh(anchors[j] @ w_1 + h @ w_2) @ v)[0, 0]
                z = post(np.array([-q, q]))
                lp = _log_softmax(z)[int(skips[j])]
                log_prob += lp
                entropy += -np.exp(lp) * lp
                p_on, p_off = _sigmoid(z[1]), _sigmoid(z[0])  # sigmoid of each logit
                penalty += p_on * np.log(p_on / target) + p_off * np.log(p_off / (1 - target))
            penalties.append(penalty)
            skip_count += skips.sum()
            x = sum(skips[j] * anchors[j] for j in range(layer_id)) / (1.0 + skips.sum())
        else:
            x = g_emb
        anchors.append(h)
        pos += 1 + layer_id
    num_slots = controller.num_layers * (controller.num_layers - 1) // 2
    return {
        "log_prob": log_prob,
        "entropy": entropy,
        "skip_penalty": float(np.mean(penalties)),
        "skip_count": skip_count,
        "skip_rate": skip_count / num_slots,
    }


def np_first_op_probs(controller: MacroController) -> np.ndarray:
    """p(op_0 = k) of the current policy: one LSTM step from zeros on g_emb."""
    n = controller.lstm_size
    kernel = controller.lstm.kernel.numpy().astype(np.float64)
    x = np.concatenate([controller.g_emb.numpy(), np.zeros((1, n))], axis=1)
    i, f, o, g = np.split(x @ kernel, 4, axis=1)
    h = _sigmoid(o) * np.tanh(_sigmoid(i) * np.tanh(g))
    z = (h @ controller.op_softmax.numpy())[0]
    return np.exp(_log_softmax(z))


def first_op_is_zero(arc: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.equal(arc[0], 0), tf.float32)


def first_op_is_not_zero(arc: tf.Tensor) -> tf.Tensor:
    return 1.0 - first_op_is_zero(arc)


def arc_mean_reward(arc: tf.Tensor) -> tf.Tensor:
    """A deterministic, arc-dependent stand-in for a validation accuracy."""
    return tf.reduce_mean(tf.cast(arc, tf.float32)) / 5.0


class MacroControllerTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(1234)

    def test_param_count_matches_original(self):
        controller = MacroController(num_layers=12, num_branches=6, lstm_size=64)
        expected = 128 * 256 + 64 + 6 * 64 + 64 * 6 + 64 * 64 + 64 * 64 + 64
        self.assertEqual(controller.count_params(), expected)
        self.assertLen(controller.trainable_variables, 7)

    @parameterized.named_parameters(
        ("tanh_and_temperature", 1.5, 2.0),
        ("plain_logits", None, None),
    )
    def test_forced_arc_matches_numpy_reference(self, tanh_constant, temperature):
        controller = MacroController(
            num_layers=NUM_LAYERS, tanh_constant=tanh_constant, temperature=temperature, skip_target=0.8
        )
        rng = tf.random.Generator.from_seed(7)
        arcs = [controller.sample(rng)["arc"].numpy() for _ in range(3)]
        arcs.append(np.array([5, 2, 1, 0, 1, 1, 3, 0, 0, 1], dtype=np.int32))
        for arc in arcs:
            out = controller.sample(forced_arc=tf.constant(arc))
            expected = np_macro_reference(controller, arc)
            self.assertAllEqual(out["arc"], arc)
            for key, value in expected.items():
                self.assertAllClose(out[key], value, rtol=1e-5, atol=1e-5, msg=key)

    def test_sampled_log_prob_equals_teacher_forced_log_prob(self):
        controller = MacroController(num_layers=NUM_LAYERS, tanh_constant=1.5)
        sampled = controller.sample(tf.random.Generator.from_seed(3))
        forced = controller(sampled["arc"])
        for key in ("log_prob", "entropy", "skip_penalty", "skip_rate"):
            self.assertAllClose(sampled[key], forced[key], msg=key)

    @parameterized.named_parameters(("macro", "macro"), ("branch", "branch"), ("connection", "connection"))
    def test_sampled_arcs_are_valid(self, search_for):
        controller = MacroController(num_layers=NUM_LAYERS, num_branches=6, search_for=search_for)
        rng = tf.random.Generator.from_seed(0)
        sample = tf.function(lambda: controller.sample(rng))
        ops_seen = set()
        for _ in range(20):
            out = sample()
            arc = out["arc"].numpy()
            self.assertEqual(out["arc"].dtype, tf.int32)
            self.assertEqual(arc.shape, (macro_arc_length(NUM_LAYERS),))
            pos = 0
            skips = []
            for layer_id in range(NUM_LAYERS):
                ops_seen.add(int(arc[pos]))
                self.assertBetween(arc[pos], 0, 5)
                skips.extend(arc[pos + 1 : pos + 1 + layer_id])
                pos += 1 + layer_id
            self.assertTrue(set(skips) <= {0, 1})
            self.assertAllClose(out["skip_count"], sum(skips))
            self.assertAllClose(out["skip_rate"], sum(skips) / 6.0)
            self.assertLess(out["log_prob"], 0.0)
        if search_for == "connection":
            self.assertEqual(ops_seen, {0})
        else:
            self.assertGreater(len(ops_seen), 1)

    def test_sampling_traces_once_and_arcs_vary(self):
        controller = MacroController(num_layers=NUM_LAYERS)
        trainer = ControllerTrainer(controller, arc_mean_reward, seed=0)
        arcs = {tuple(trainer.sample_arc()["arc"].numpy()) for _ in range(30)}
        self.assertEqual(trainer.sample_arc.experimental_get_tracing_count(), 1)
        self.assertGreater(len(arcs), 10)

    def test_same_seed_gives_same_arcs(self):
        controller = MacroController(num_layers=NUM_LAYERS)

        def arcs(seed):
            trainer = ControllerTrainer(controller, arc_mean_reward, seed=seed)
            return [trainer.sample_arc()["arc"].numpy().tolist() for _ in range(5)]

        self.assertEqual(arcs(11), arcs(11))
        self.assertNotEqual(arcs(11), arcs(12))

    def test_unsupported_modes_raise_flag_error(self):
        with self.assertRaisesRegex(FlagError, "not supported yet"):
            MacroController(num_layers=NUM_LAYERS, search_whole_channels=False)
        with self.assertRaisesRegex(FlagError, "search_for='cells'"):
            MacroController(num_layers=NUM_LAYERS, search_for="cells")
        with self.assertRaisesRegex(FlagError, "num_layers=0"):
            MacroController(num_layers=0)

    def test_wrong_forced_arc_length_raises(self):
        controller = MacroController(num_layers=NUM_LAYERS)
        with self.assertRaisesRegex(ArcError, r"expected \[10\]"):
            controller.sample(forced_arc=tf.zeros([9], tf.int32))

    def test_config_round_trip(self):
        controller = MacroController(num_layers=NUM_LAYERS, tanh_constant=1.5, temperature=2.0, skip_weight=0.8)
        clone = MacroController.from_config(controller.get_config())
        self.assertEqual(clone.get_config(), controller.get_config())
        self.assertEqual(clone.count_params(), controller.count_params())
        cell = ControllerLSTMCell(8)
        self.assertEqual(ControllerLSTMCell.from_config(cell.get_config()).units, 8)
        self.assertEqual(ControllerAttention.from_config(ControllerAttention(8).get_config()).units, 8)


class ReinforceTest(tf.test.TestCase):
    def test_logit_postprocess(self):
        z = tf.constant([-3.0, 0.5, 4.0])
        self.assertAllClose(reinforce.logit_postprocess(z, 2.0, 1.5), 1.5 * np.tanh(z.numpy() / 2.0))
        self.assertAllClose(reinforce.logit_postprocess(z, None, None), z)

    def test_loss_gradient_is_minus_advantage(self):
        log_prob = tf.constant(-2.3)
        reward = tf.constant(0.7)
        baseline = tf.constant(0.2)
        with tf.GradientTape() as tape:
            tape.watch([log_prob, reward, baseline])
            loss = reinforce.reinforce_loss(log_prob, reward, baseline)
        d_log_prob, d_reward, d_baseline = tape.gradient(loss, [log_prob, reward, baseline])
        self.assertAllClose(d_log_prob, -(0.7 - 0.2))
        self.assertIsNone(d_reward)
        self.assertIsNone(d_baseline)
        self.assertAllClose(loss, 2.3 * 0.5)

    def test_loss_adds_weighted_skip_penalty(self):
        loss = reinforce.reinforce_loss(tf.constant(-1.0), 1.0, 0.5, skip_penalty=tf.constant(2.0), skip_weight=0.8)
        self.assertAllClose(loss, 0.5 + 1.6)

    def test_reward_with_entropy_stops_entropy_gradient(self):
        entropy = tf.constant(3.0)
        with tf.GradientTape() as tape:
            tape.watch(entropy)
            reward = reinforce.reward_with_entropy(tf.constant(0.5), entropy, 0.1)
        self.assertAllClose(reward, 0.8)
        self.assertIsNone(tape.gradient(reward, entropy))

    def test_update_baseline_returns_updated_value(self):
        baseline = tf.Variable(0.0, trainable=False)
        first = reinforce.update_baseline(baseline, tf.constant(1.0), 0.9)
        self.assertAllClose(first, 0.1)
        self.assertAllClose(baseline, 0.1)
        second = reinforce.update_baseline(baseline, tf.constant(0.5), 0.9)
        self.assertAllClose(second, 0.1 - 0.1 * (0.1 - 0.5))
        self.assertAllClose(baseline, second)


class ControllerTrainerTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(4321)

    @parameterized.named_parameters(
        ("rewarded_op_gains", first_op_is_zero, 1.0),
        ("punished_op_loses", first_op_is_not_zero, -1.0),
    )
    def test_reinforce_moves_policy_towards_reward(self, reward_fn, direction):
        controller = MacroController(num_layers=NUM_LAYERS)
        trainer = ControllerTrainer(controller, reward_fn, learning_rate=0.05, num_aggregate=2, seed=5)
        before = np_first_op_probs(controller)[0]
        for _ in range(30):
            trainer.train_step()
        after = np_first_op_probs(controller)[0]
        self.assertGreater(direction * (after - before), 0.05, msg=f"p(op_0=0): {before} -> {after}")
        self.assertEqual(trainer.train_step.experimental_get_tracing_count(), 1)

    def test_train_step_applies_mean_gradient_with_post_update_baseline(self):
        num_aggregate, bl_dec, entropy_weight, skip_weight = 3, 0.9, 0.1, 0.5
        controller = MacroController(num_layers=NUM_LAYERS, tanh_constant=1.5, skip_weight=skip_weight)
        trainer = ControllerTrainer(
            controller,
            arc_mean_reward,
            entropy_weight=entropy_weight,
            bl_dec=bl_dec,
            num_aggregate=num_aggregate,
            seed=9,
            optimizer=keras.optimizers.SGD(learning_rate=1.0),
        )
        trainer.baseline.assign(0.3)
        variables = controller.trainable_variables
        weights_before = [v.numpy() for v in variables]
        rng_copy = tf.random.Generator.from_state(trainer.rng.state.numpy(), trainer.rng.algorithm)

        # Manual REINFORCE: same samples, same weights, baseline updated first.
        baseline = 0.3
        grad_sum = [np.zeros(v.shape) for v in variables]
        rewards, arcs = [], []
        for _ in range(num_aggregate):
            arc = controller.sample(rng_copy)["arc"]
            with tf.GradientTape() as tape:
                out = controller.sample(forced_arc=arc)
                reward = float(arc_mean_reward(arc)) + entropy_weight * float(out["entropy"])
                baseline = baseline - (1 - bl_dec) * (baseline - reward)
                loss = -out["log_prob"] * (reward - baseline) + skip_weight * out["skip_penalty"]
            grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grad_sum = [s + tf.convert_to_tensor(g).numpy() for s, g in zip(grad_sum, grads)]
            rewards.append(reward)
            arcs.append(arc.numpy())

        logs = trainer.train_step()
        self.assertEqual(int(trainer.optimizer.iterations), 1)
        self.assertAllEqual(logs["arc"], arcs[-1])
        self.assertAllClose(logs["baseline"], baseline)
        self.assertAllClose(trainer.baseline, baseline)
        self.assertAllClose(logs["reward"], np.mean(rewards))
        for before, v, g in zip(weights_before, variables, grad_sum):
            self.assertAllClose(v.numpy(), before - g / num_aggregate, atol=1e-5, msg=v.path)
        self.assertAllClose(
            logs["grad_norm"], np.sqrt(sum(np.sum((g / num_aggregate) ** 2) for g in grad_sum)), rtol=1e-4
        )

        trainer.train_step()
        self.assertEqual(int(trainer.optimizer.iterations), 2)

    def test_checkpoint_restores_rng_baseline_and_weights(self):
        controller = MacroController(num_layers=NUM_LAYERS)
        trainer = ControllerTrainer(controller, arc_mean_reward, learning_rate=0.05, seed=2)
        self.assertEqual(
            set(trainer.checkpoint_items()), {"controller", "controller_optimizer", "baseline", "controller_rng"}
        )
        trainer.train_step()
        checkpoint = tf.train.Checkpoint(**trainer.checkpoint_items())
        path = checkpoint.save(self.get_temp_dir() + "/ckpt")
        expected_arc = trainer.sample_arc()["arc"].numpy()
        expected_baseline = float(trainer.baseline)
        trainer.train_step()

        keras.utils.set_random_seed(99)
        restored = ControllerTrainer(MacroController(num_layers=NUM_LAYERS), arc_mean_reward, seed=77)
        tf.train.Checkpoint(**restored.checkpoint_items()).restore(path).assert_consumed()
        self.assertAllClose(restored.baseline, expected_baseline)
        self.assertEqual(int(restored.optimizer.iterations), 1)
        self.assertAllEqual(restored.sample_arc()["arc"], expected_arc)

    def test_bad_num_aggregate_raises(self):
        with self.assertRaisesRegex(FlagError, "num_aggregate"):
            ControllerTrainer(MacroController(num_layers=2), arc_mean_reward, num_aggregate=0)


if __name__ == "__main__":
    tf.test.main()
