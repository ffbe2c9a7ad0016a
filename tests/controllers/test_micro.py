"""Tests of the micro (CIFAR cell space) controller.

The controller is checked against a NumPy float64 re-implementation of
ENAS_SPEC.md 6.1/6.3 written from the spec's pseudo-code (one decision at a
time, Python lists for the anchors). The reference can be switched to plausible
mistakes (reduction cell from a fresh state, constant bias in the wrong cells,
the macro's sampled-action entropy, a different input after the index slots),
and a test checks that each of those disagrees with the controller, so the
reference comparison can actually fail.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from enas_tf2 import arch
from enas_tf2.controllers.micro import NORMAL_CELL_OP_BIAS, OP_BIAS_INIT, MicroController
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.errors import ArcError, EnasError, FlagError

NUM_CELLS = 3
FINAL_ARC = np.array([int(t) for t in arch.MICRO_FINAL_ARC.split()], dtype=np.int32)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _log_softmax(z):
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def np_micro_reference(
    controller: MicroController,
    arc,
    reset_reduction_state: bool = False,
    bias_cells: tuple[str, ...] = ("normal",),
    entropy_mode: str = "full",
    second_index_input: str = "anchor",
) -> dict[str, object]:
    """Spec 6.1/6.3 by hand in float64 NumPy for a given (forced) arc.

    Args:
        controller: supplies the weights and hyper-parameters.
        arc: the flat `8 * B` arc to score.
        reset_reduction_state: mutation: start the reduction cell from zeros.
        bias_cells: cells that get the constant op bias (spec: normal only).
        entropy_mode: "full" (spec, Q-12) or "sampled" (mutation: the macro's).
        second_index_input: "anchor" (spec: index_2's step reads anchor[index_1])
            or "g_emb" (mutation: both index steps read the block's input).

    Returns:
        `log_prob`, `entropy` and `op_logits`: a list of `(cell_name, z)` of
        every op decision's post-processed logits.
    """
    arc = np.asarray(arc)
    n = controller.lstm_size

    def f64(variable):
        return variable.numpy().astype(np.float64)

    kernel = f64(controller.lstm.kernel)
    g_emb = f64(controller.g_emb)
    op_emb = f64(controller.op_embedding)
    w_soft = f64(controller.op_softmax)
    b_soft = f64(controller.op_softmax_bias).reshape(1, -1)
    w_1, w_2, v = f64(controller.attention.w_1), f64(controller.attention.w_2), f64(controller.attention.v)
    temperature, tanh_c = controller.temperature, controller.tanh_constant
    const_bias = np.array([0.25, 0.25, -0.25, -0.25, -0.25])

    def post(z, c):
        if temperature is not None:
            z = z / temperature
        if tanh_c is not None:
            z = c * np.tanh(z)
        return z

    def lstm(x, c, h):
        gates = np.concatenate([x, h], axis=1) @ kernel
        i, f, o, g = np.split(gates, 4, axis=1)
        c = _sigmoid(i) * np.tanh(g) + _sigmoid(f) * c
        return c, _sigmoid(o) * np.tanh(c)

    totals = {"log_prob": 0.0, "entropy": 0.0}
    op_logits = []

    def score(z, action):
        log_p = _log_softmax(z)
        totals["log_prob"] += log_p[action]
        if entropy_mode == "full":
            totals["entropy"] += -np.sum(np.exp(log_p) * log_p)
        else:
            totals["entropy"] += -np.exp(log_p[action]) * log_p[action]

    c = h = np.zeros((1, n))
    num_blocks = controller.num_cells
    for cell_index, cell_name in enumerate(("normal", "reduction")):
        if cell_name == "reduction" and reset_reduction_state:
            c = h = np.zeros((1, n))
        x = g_emb
        anchors, anchor_w = [], []
        for _ in range(2):
            c, h = lstm(g_emb, c, h)
            anchors.append(np.zeros((1, n)))
            anchor_w.append(h @ w_1)
        for k in range(num_blocks):
            base = cell_index * 4 * num_blocks + 4 * k
            block_input = x
            for pos in (0, 2):  # index_1, index_2
                if pos == 2 and second_index_input == "g_emb":
                    x = block_input
                c, h = lstm(x, c, h)
                u = np.array([(np.tanh(anchor_w[j] + h @ w_2) @ v)[0, 0] for j in range(k + 2)])
                z = post(u, tanh_c)
                idx = int(arc[base + pos])
                score(z, idx)
                x = anchors[idx]
            for pos in (1, 3):  # op_1, op_2
                c, h = lstm(x, c, h)
                z = post((h @ w_soft + b_soft)[0], None if tanh_c is None else tanh_c / controller.op_tanh_reduce)
                if cell_name in bias_cells:
                    z = z + const_bias
                op = int(arc[base + pos])
                score(z, op)
                op_logits.append((cell_name, z))
                x = op_emb[op][None]
            c, h = lstm(x, c, h)
            anchors.append(h)
            anchor_w.append(h @ w_1)
            x = g_emb
    return {"log_prob": totals["log_prob"], "entropy": totals["entropy"], "op_logits": op_logits}


def randomize_weights(controller: MicroController, seed: int, scale: float = 0.6) -> None:
    """Larger-than-init weights, so every spec detail moves the log-prob visibly."""
    rng = np.random.default_rng(seed)
    for variable in controller.trainable_variables:
        noise = rng.uniform(-scale, scale, size=variable.shape)
        if variable is controller.op_softmax_bias:
            noise = np.asarray([OP_BIAS_INIT]) * 0.2 + noise
        variable.assign(noise.astype(np.float32))


def constant_reward(arc: tf.Tensor) -> tf.Tensor:
    del arc
    return tf.constant(0.5)


class MicroControllerTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(1234)

    def test_variables_match_original(self):
        n = 64
        controller = MicroController(num_cells=5, lstm_size=n)
        shapes = {v.path.split("/")[-1]: tuple(v.shape) for v in controller.trainable_variables}
        self.assertEqual(
            shapes,
            {
                "kernel": (2 * n, 4 * n),
                "g_emb": (1, n),
                "op_embedding": (5, n),
                "op_softmax": (n, 5),
                "op_softmax_bias": (1, 5),
                "w_1": (n, n),
                "w_2": (n, n),
                "v": (n, 1),
            },
        )
        # 32768 + 64 + 320 + 320 + 5 + 8192 + 64.
        self.assertEqual(controller.count_params(), 41733)
        self.assertEqual(controller.count_params(), 2 * n * 4 * n + n + 5 * n + 5 * n + 5 + 2 * n * n + n)
        # b_soft is trained and starts at (10, 10, 0, 0, 0); the normal-cell bias is no variable at all.
        self.assertTrue(controller.op_softmax_bias.trainable)
        self.assertAllEqual(controller.op_softmax_bias, [[10.0, 10.0, 0.0, 0.0, 0.0]])
        self.assertEmpty(controller.non_trainable_variables)
        self.assertEqual(NORMAL_CELL_OP_BIAS, (0.25, 0.25, -0.25, -0.25, -0.25))
        for variable in controller.trainable_variables:
            if variable is not controller.op_softmax_bias:
                self.assertLessEqual(float(tf.reduce_max(tf.abs(variable))), 0.1, msg=variable.path)

    @parameterized.named_parameters(
        ("search_values", 1.1, 2.5, None),
        ("search_values_with_temperature", 1.1, 2.5, 5.0),
        ("plain_logits", None, 1.0, None),
    )
    def test_forced_arc_matches_numpy_reference(self, tanh_constant, op_tanh_reduce, temperature):
        controller = MicroController(
            num_cells=5, tanh_constant=tanh_constant, op_tanh_reduce=op_tanh_reduce, temperature=temperature
        )
        rng = tf.random.Generator.from_seed(7)
        arcs = [FINAL_ARC, controller.sample(rng)["arc"].numpy()]
        for weights_seed in (None, 3):
            if weights_seed is not None:
                randomize_weights(controller, weights_seed)
            for arc in arcs:
                out = controller.sample(forced_arc=tf.constant(arc))
                expected = np_micro_reference(controller, arc)
                self.assertAllEqual(out["arc"], arc)
                self.assertAllClose(out["log_prob"], expected["log_prob"], rtol=1e-5, atol=1e-5)
                self.assertAllClose(out["entropy"], expected["entropy"], rtol=1e-5, atol=1e-5)
                for key in ("skip_penalty", "skip_count", "skip_rate"):
                    self.assertEqual(float(out[key]), 0.0)

    @parameterized.named_parameters(
        ("reduction_cell_from_zero_state", {"reset_reduction_state": True}, ("log_prob", "entropy")),
        ("constant_bias_in_no_cell", {"bias_cells": ()}, ("log_prob", "entropy")),
        ("constant_bias_in_both_cells", {"bias_cells": ("normal", "reduction")}, ("log_prob", "entropy")),
        ("sampled_action_entropy", {"entropy_mode": "sampled"}, ("entropy",)),
        ("index_2_reads_block_input", {"second_index_input": "g_emb"}, ("log_prob", "entropy")),
    )
    def test_reference_detects_spec_deviations(self, mutation, keys):
        # Guards the guard: each deviation from spec 6.3 changes the numbers by far
        # more than the tolerance of the reference comparison.
        controller = MicroController(num_cells=NUM_CELLS, tanh_constant=1.1, op_tanh_reduce=2.5)
        randomize_weights(controller, 5)
        arc = np.array([0, 0, 1, 1, 2, 4, 0, 3, 3, 2, 1, 1] + [1, 1, 0, 4, 2, 0, 2, 3, 0, 0, 3, 3], dtype=np.int32)
        out = controller(tf.constant(arc))
        right = np_micro_reference(controller, arc)
        wrong = np_micro_reference(controller, arc, **mutation)
        for key in keys:
            self.assertAllClose(out[key], right[key], rtol=1e-5, atol=1e-5, msg=key)
            self.assertGreater(abs(wrong[key] - right[key]), 1e-3, msg=key)

    def test_sampled_log_prob_equals_teacher_forced_log_prob(self):
        controller = MicroController(num_cells=NUM_CELLS, tanh_constant=1.1, op_tanh_reduce=2.5)
        randomize_weights(controller, 8)
        sampled = tf.function(controller.sample)(tf.random.Generator.from_seed(3))
        forced = controller(sampled["arc"])
        for key in ("log_prob", "entropy"):
            self.assertAllClose(sampled[key], forced[key], rtol=1e-5, msg=key)
        self.assertAllClose(sampled["log_prob"], np_micro_reference(controller, sampled["arc"].numpy())["log_prob"])

    def test_sampled_arcs_are_valid_in_one_trace_and_favour_sep_convs_in_normal_cell(self):
        controller = MicroController(num_cells=NUM_CELLS, tanh_constant=1.1, op_tanh_reduce=2.5)
        rng = tf.random.Generator.from_seed(0)
        sample = tf.function(lambda: controller.sample(rng))
        arcs = []
        for _ in range(150):
            out = sample()
            self.assertEqual(out["arc"].dtype, tf.int32)
            self.assertEqual(out["log_prob"].dtype, tf.float32)
            self.assertLess(float(out["log_prob"]), 0.0)
            arcs.append(out["arc"].numpy())
        self.assertEqual(sample.experimental_get_tracing_count(), 1)

        arcs = np.stack(arcs)
        self.assertEqual(arcs.shape[1], arch.micro_arc_length(NUM_CELLS))
        for arc in arcs:
            parsed = arch.MicroArc.from_flat(arc)  # raises ArcError for any out-of-range token
            self.assertEqual(parsed.num_blocks, NUM_CELLS)
        blocks = arcs.reshape(len(arcs), 2, NUM_CELLS, 4)
        for k in range(NUM_CELLS):
            for slot in (0, 2):
                self.assertEqual(set(blocks[:, :, k, slot].ravel()), set(range(k + 2)), msg=(k, slot))
        self.assertEqual(set(blocks[..., (1, 3)].ravel()), set(range(5)))
        self.assertGreater(len({tuple(arc) for arc in arcs}), 140)

        # Initial policy: b_soft = (10, 10, 0, 0, 0) saturates to +0.44 for the
        # sep-convs; the normal cell adds +-0.25 on top. p(sep-conv) is about
        # 2e^0.69 / (2e^0.69 + 3e^-0.25) = 0.63 in the normal cell and
        # 2e^0.44 / (2e^0.44 + 3) = 0.51 in the reduction cell.
        sep_conv = blocks[..., (1, 3)] <= 1
        normal_rate, reduction_rate = sep_conv[:, 0].mean(), sep_conv[:, 1].mean()
        self.assertBetween(normal_rate, 0.57, 0.69)
        self.assertBetween(reduction_rate, 0.44, 0.57)

    def test_initial_op_logits_are_bounded_and_biased(self):
        controller = MicroController(num_cells=NUM_CELLS, tanh_constant=1.1, op_tanh_reduce=2.5)
        out = controller.sample(tf.random.Generator.from_seed(1))
        op_logits = np_micro_reference(controller, out["arc"].numpy())["op_logits"]
        self.assertLen(op_logits, 4 * NUM_CELLS)
        bias = np.asarray(NORMAL_CELL_OP_BIAS)
        for cell_name, z in op_logits:
            unbiased = z - bias if cell_name == "normal" else z
            self.assertTrue(np.all(np.abs(unbiased) <= 0.44 + 1e-9), msg=z)
            self.assertTrue(np.all(np.abs(z) <= 0.44 + 0.25 + 1e-9), msg=z)
            # tanh(10 +- small) ~ 1: the sep-convs sit at the top of the range.
            self.assertAllClose(unbiased[:2], [0.44, 0.44], atol=1e-3)
            self.assertTrue(np.all(np.abs(unbiased[2:]) < 0.1), msg=z)
        # The TF op logits are the reference's: the normal call adds the bias, the reduction call does not.
        h = tf.random.uniform([1, 64], -1.0, 1.0)
        normal, reduction = controller._op_logits(h, True), controller._op_logits(h, False)
        self.assertAllClose(normal - reduction, [NORMAL_CELL_OP_BIAS])
        self.assertAllClose(reduction[0, :2], [0.44, 0.44], atol=1e-3)

    def test_log_prob_gradient_reaches_every_weight_and_entropy_has_none(self):
        controller = MicroController(num_cells=NUM_CELLS, tanh_constant=1.1, op_tanh_reduce=2.5)
        randomize_weights(controller, 2)
        arc = controller.sample(tf.random.Generator.from_seed(4))["arc"]
        with tf.GradientTape(persistent=True) as tape:
            out = controller(arc)
        grads = tape.gradient(out["log_prob"], controller.trainable_variables)
        for variable, grad in zip(controller.trainable_variables, grads):
            self.assertIsNotNone(grad, msg=variable.path)
            self.assertGreater(float(tf.norm(tf.convert_to_tensor(grad))), 0.0, msg=variable.path)
        bias_grad = tape.gradient(out["log_prob"], controller.op_softmax_bias)
        self.assertGreater(float(tf.norm(bias_grad)), 1e-6)
        self.assertTrue(all(g is None for g in tape.gradient(out["entropy"], controller.trainable_variables)))

    def test_same_generator_state_gives_same_arc(self):
        controller = MicroController(num_cells=NUM_CELLS)
        rng = tf.random.Generator.from_seed(11)
        copy = tf.random.Generator.from_state(rng.state.numpy(), rng.algorithm)
        first = controller.sample(rng)
        second = controller.sample(copy)
        self.assertAllEqual(first["arc"], second["arc"])
        self.assertAllEqual(first["log_prob"], second["log_prob"])
        self.assertNotAllEqual(controller.sample(rng)["arc"], first["arc"])
        other = controller.sample(tf.random.Generator.from_seed(12))["arc"]
        self.assertNotAllEqual(other, first["arc"])

    def test_controller_trainer_step_runs_and_updates_weights(self):
        controller = MicroController(num_cells=NUM_CELLS, tanh_constant=1.1, op_tanh_reduce=2.5)
        trainer = ControllerTrainer(
            controller,
            reward_fn=constant_reward,
            learning_rate=0.0035,
            entropy_weight=1e-4,
            bl_dec=0.99,
            num_aggregate=2,
            seed=0,
        )
        self.assertEqual(trainer.skip_weight, 0.0)
        before = [v.numpy() for v in controller.trainable_variables]
        logs = trainer.train_step()
        logs = trainer.train_step()
        self.assertEqual(int(trainer.optimizer.iterations), 2)
        self.assertEqual(trainer.train_step.experimental_get_tracing_count(), 1)
        # Every weight moves, if only slightly: at init `h . W_2` shifts all
        # attention scores almost equally, so W_2's gradient is ~1e-6.
        changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, controller.trainable_variables)]
        self.assertTrue(all(changed), msg=[v.path for v, c in zip(controller.trainable_variables, changed) if not c])
        self.assertEqual(logs["arc"].shape, (arch.micro_arc_length(NUM_CELLS),))
        arch.MicroArc.from_flat(logs["arc"].numpy())
        self.assertAllClose(logs["accuracy"], 0.5)
        self.assertAllClose(logs["reward"], 0.5 + 1e-4 * logs["entropy"], atol=1e-6)
        self.assertAllClose(logs["skip_rate"], 0.0)
        self.assertTrue(np.isfinite(logs["loss"].numpy()))

    def test_bad_arguments_raise_flag_error(self):
        with self.assertRaisesRegex(FlagError, "num_branches=4"):
            MicroController(num_cells=NUM_CELLS, num_branches=4)
        with self.assertRaisesRegex(FlagError, "num_cells=0"):
            MicroController(num_cells=0)
        with self.assertRaisesRegex(FlagError, "op_tanh_reduce"):
            MicroController(num_cells=NUM_CELLS, op_tanh_reduce=0.0)
        with self.assertRaisesRegex(FlagError, "temperature"):
            MicroController(num_cells=NUM_CELLS, temperature=-1.0)

    def test_bad_forced_arc_raises_arc_error(self):
        controller = MicroController(num_cells=NUM_CELLS)
        with self.assertRaisesRegex(ArcError, r"expected \[24\]"):
            controller.sample(forced_arc=tf.zeros([20], tf.int32))
        with self.assertRaisesRegex(ArcError, r"expected \[24\]"):
            controller.sample(forced_arc=tf.zeros([2, 12], tf.int32))
        with self.assertRaisesRegex(ArcError, r"expected \[40\]"):
            MicroController(num_cells=5)(tf.zeros([24], tf.int32))
        bad = np.zeros(24, dtype=np.int32)
        bad[0] = 2  # block 0 has only the nodes 0 and 1
        with self.assertRaisesRegex(ArcError, "token 0"):
            controller.sample(forced_arc=tf.constant(bad))
        with self.assertRaises(EnasError):
            controller.sample()

    def test_config_round_trip(self):
        controller = MicroController(
            num_cells=NUM_CELLS, lstm_size=32, tanh_constant=1.1, op_tanh_reduce=2.5, temperature=5.0
        )
        clone = MicroController.from_config(controller.get_config())
        self.assertEqual(clone.get_config(), controller.get_config())
        self.assertEqual(clone.count_params(), controller.count_params())
        self.assertEqual(clone.arc_length, 8 * NUM_CELLS)
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(controller))
        self.assertIsInstance(restored, MicroController)
        self.assertEqual(restored.get_config(), controller.get_config())


if __name__ == "__main__":
    tf.test.main()
