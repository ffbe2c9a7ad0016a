"""Tests of the PTB controller, in its enas_lm and original versions.

The controller is checked against a NumPy float64 re-implementation of
ENAS_PTB_SPEC.md 1.10 (enas_lm) and ENAS_SPEC.md 6.4 (original) written from
the specs' pseudo-code (one candidate at a time, Python lists for the node
states). The reference can be switched to plausible mistakes (the recency prior
before the post-processing, no distance damping, the node's second LSTM output
as its attention key, the full-distribution entropy), and a test checks that
each of those disagrees with the controller, so the comparison can actually fail.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from enas_tf2 import arch
from enas_tf2.controllers.ptb import PtbController
from enas_tf2.controllers.trainer import ControllerTrainer
from enas_tf2.errors import ArcError, EnasError, FlagError


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _log_softmax(z):
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def np_ptb_reference(
    controller: PtbController,
    arc,
    prior_before_post: bool = False,
    damping: bool = True,
    key_from: str = "first",
    entropy_mode: str = "sampled",
) -> dict[str, float]:
    """The spec's sampler by hand in float64 NumPy, scoring a given (forced) arc.

    Args:
        controller: supplies the weights and hyper-parameters.
        arc: the flat arc in the controller's encoding.
        prior_before_post: mutation: add `-(l - j)^2 / 6` before the tanh cap.
        damping: False is a mutation: feed `h_p` instead of `h_p / (0.1 + l - p)`.
        key_from: "first" (spec: a node's state and key come from its first LSTM
            step) or "second" (mutation: from the step after the function decision).
        entropy_mode: "sampled" (spec: `-p(a) log p(a)`) or "full" (mutation).

    Returns:
        `log_prob` and `entropy` of the arc.
    """
    arc = [int(token) for token in np.asarray(arc)]
    n = controller.lstm_size

    def f64(variable):
        return variable.numpy().astype(np.float64)

    kernel = f64(controller.lstm.kernel)
    g_emb = f64(controller.g_emb)
    f_emb = f64(controller.function_embedding)
    w_1, w_2, v = f64(controller.attention.w_1), f64(controller.attention.w_2), f64(controller.attention.v)
    enas_lm = controller.ptb_impl == "enas_lm"
    # enas_lm ties the function logits to the embedding; the original has its own softmax.
    w_soft = f_emb.T if enas_lm else f64(controller.function_softmax)
    temperature, tanh_c = controller.temperature, controller.tanh_constant

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

    totals = {"log_prob": 0.0, "entropy": 0.0}

    def score(z, action):
        log_p = _log_softmax(z)
        totals["log_prob"] += log_p[action]
        if entropy_mode == "sampled":
            totals["entropy"] += -np.exp(log_p[action]) * log_p[action]
        else:
            totals["entropy"] += -np.sum(np.exp(log_p) * log_p)

    c = h = np.zeros((1, n))
    if enas_lm:
        # Node 0 is not sampled: a zero state and a zero key stand for it.
        states, keys, nodes = [np.zeros((1, n))], [np.zeros((1, n))], range(1, controller.num_nodes)
    else:
        states, keys, nodes = [], [], range(controller.num_nodes)
    tokens = iter(arc)
    x = g_emb
    for l in nodes:
        c, h = lstm(x, c, h)
        first_h = h
        if l > 0:
            p = next(tokens)
            z = np.zeros(l)
            for j in range(l):
                u = (np.tanh(h @ w_2 + keys[j]) @ v)[0, 0]
                prior = -((l - j) ** 2) / 6.0
                z[j] = post(u + prior) if prior_before_post else post(u) + prior
            score(z, p)
            x = states[p] / (0.1 + l - p) if damping else states[p]
        else:
            x = g_emb
        c, h = lstm(x, c, h)
        f = next(tokens)
        score(post((h @ w_soft)[0]), f)
        x = f_emb[f][None]
        anchor = first_h if key_from == "first" else h
        states.append(anchor)
        keys.append(anchor @ w_1)
    return totals


def randomize_weights(controller: PtbController, seed: int, scale: float = 0.5) -> None:
    """Replaces the tiny initial weights by U(-scale, scale): every term then moves the numbers."""
    rng = np.random.default_rng(seed)
    for variable in controller.trainable_variables:
        variable.assign(rng.uniform(-scale, scale, size=variable.shape).astype(np.float32))


def all_tanh_probability(controller: PtbController) -> float:
    """p(every sampled function is tanh) of a 3-node enas_lm controller, summed over predecessors."""
    total = 0.0
    for p_2 in (0, 1):
        arc = tf.constant([0, 0, p_2, 0], tf.int32)
        total += float(np.exp(controller(arc)["log_prob"].numpy()))
    return total


def tanh_fraction_reward(arc: tf.Tensor) -> tf.Tensor:
    """Fraction of the enas_lm function tokens (odd positions) that are tanh (id 0)."""
    return tf.reduce_mean(tf.cast(tf.equal(arc[1::2], 0), tf.float32))


class PtbControllerTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(1234)

    @parameterized.named_parameters(
        # 32768 + 64 + 256 + 4096 + 4096 + 64 (ENAS_PTB_SPEC.md 1.10).
        ("enas_lm", "enas_lm", 10, 64, 4, 0.01, 41_344),
        # 80000 + 100 + 200 + 200 + 10000 + 10000 + 100 (ENAS_PTB_SPEC.md 3.2, measured in the original).
        ("original", "original", 12, 100, 2, 0.1, 100_600),
    )
    def test_param_count_matches_reference(self, ptb_impl, num_nodes, n, num_functions, init_range, count):
        controller = PtbController(num_nodes=num_nodes, ptb_impl=ptb_impl)
        self.assertEqual(controller.count_params(), count)
        self.assertEqual((controller.lstm_size, controller.num_functions), (n, num_functions))
        self.assertEqual(controller.init_range, init_range)
        shapes = {v.path.split("/")[-1]: tuple(v.shape) for v in controller.trainable_variables}
        expected = {
            "kernel": (2 * n, 4 * n),
            "g_emb": (1, n),
            "function_embedding": (num_functions, n),
            "w_1": (n, n),
            "w_2": (n, n),
            "v": (n, 1),
        }
        if ptb_impl == "original":
            expected["function_softmax"] = (n, num_functions)
        self.assertEqual(shapes, expected)
        self.assertEmpty(controller.non_trainable_variables)
        # Every weight is U(-init_range, init_range): within the range, and not a much narrower one.
        for variable in controller.trainable_variables:
            largest = float(tf.reduce_max(tf.abs(variable)))
            self.assertBetween(largest, 0.5 * init_range, init_range, msg=variable.path)

    @parameterized.named_parameters(("enas_lm", "enas_lm", 2.25, 5.0), ("original", "original", 2.5, 5.0))
    def test_sampled_arcs_are_valid(self, ptb_impl, tanh_constant, temperature):
        num_nodes = 6
        controller = PtbController(num_nodes, ptb_impl, tanh_constant=tanh_constant, temperature=temperature)
        self.assertEqual(controller.arc_format, ptb_impl)
        self.assertEqual(controller.arc_length, 2 * (num_nodes - 1) if ptb_impl == "enas_lm" else 2 * num_nodes - 1)
        self.assertEqual(controller.skip_weight, 0.0)
        rng = tf.random.Generator.from_seed(0)
        sample = tf.function(lambda: controller.sample(rng))
        functions_seen, predecessors_seen = set(), {l: set() for l in range(1, num_nodes)}
        for _ in range(20):
            out = sample()
            self.assertEqual(out["arc"].dtype, tf.int32)
            for key in ("log_prob", "entropy", "skip_penalty", "skip_rate"):
                self.assertEqual(out[key].dtype, tf.float32, msg=key)
                self.assertEqual(out[key].shape, (), msg=key)
            self.assertLess(float(out["log_prob"]), 0.0)
            self.assertEqual(float(out["skip_penalty"]), 0.0)
            arc = out["arc"].numpy()
            self.assertEqual(arc.shape, (controller.arc_length,))
            if ptb_impl == "enas_lm":
                pairs = arc.reshape(-1, 2)
                self.assertTrue(set(pairs[:, 1]) <= {0, 1, 2, 3})
            else:
                functions_seen.add(int(arc[0]))
                pairs = arc[1:].reshape(-1, 2)
                self.assertTrue(set(arc[0::2]) <= {0, 1})
            for l, (p, f) in enumerate(pairs, start=1):
                self.assertBetween(p, 0, l - 1)
                predecessors_seen[l].add(int(p))
                functions_seen.add(int(f))
            parsed = arch.PtbArc.parse(" ".join(map(str, arc)), arc_format=ptb_impl, num_nodes=num_nodes)
            self.assertLen(parsed.activations, num_nodes)
        self.assertEqual(functions_seen, set(range(controller.num_functions)))
        # The recency prior favours the last nodes but still leaves node 0 a chance from node 2 on.
        self.assertEqual(predecessors_seen[2], {0, 1})

    @parameterized.named_parameters(("enas_lm", "enas_lm"), ("original", "original"))
    def test_sampled_log_prob_equals_teacher_forced_log_prob(self, ptb_impl):
        controller = PtbController(5, ptb_impl, tanh_constant=2.25, temperature=5.0)
        randomize_weights(controller, 8)
        rng = tf.random.Generator.from_seed(3)
        for _ in range(3):
            sampled = controller.sample(rng)
            forced = controller(sampled["arc"])
            self.assertAllEqual(forced["arc"], sampled["arc"])
            for key in ("log_prob", "entropy"):
                self.assertAllClose(sampled[key], forced[key], rtol=1e-6, msg=key)

    @parameterized.named_parameters(
        ("enas_lm_search_values", "enas_lm", 2.25, 5.0),
        ("enas_lm_plain_logits", "enas_lm", None, None),
        ("original_search_values", "original", 2.5, 5.0),
        ("original_plain_logits", "original", None, None),
    )
    def test_forced_arc_matches_numpy_reference(self, ptb_impl, tanh_constant, temperature):
        # The published cells: enas_lm's README cell (8 + 1 nodes), the original's ptb_final.sh cell (12).
        published = {"enas_lm": (arch.PTB_ENAS_LM_ARC, 9), "original": (arch.PTB_FINAL_ARC, 12)}
        fixed_arc, num_nodes = published[ptb_impl]
        controller = PtbController(num_nodes, ptb_impl, tanh_constant=tanh_constant, temperature=temperature)
        sampled_arc = controller.sample(tf.random.Generator.from_seed(7))["arc"].numpy()
        arcs = [np.array(fixed_arc.split(), np.int32), sampled_arc]
        for weights_seed in (None, 3):
            if weights_seed is not None:
                randomize_weights(controller, weights_seed)
            for arc in arcs:
                out = controller(tf.constant(arc))
                expected = np_ptb_reference(controller, arc)
                self.assertAllEqual(out["arc"], arc)
                self.assertAllClose(out["log_prob"], expected["log_prob"], rtol=1e-5, atol=1e-5)
                self.assertAllClose(out["entropy"], expected["entropy"], rtol=1e-5, atol=1e-5)

    @parameterized.named_parameters(
        ("enas_lm_prior_before_post", "enas_lm", {"prior_before_post": True}, ("log_prob", "entropy")),
        ("enas_lm_no_damping", "enas_lm", {"damping": False}, ("log_prob", "entropy")),
        ("enas_lm_key_after_function", "enas_lm", {"key_from": "second"}, ("log_prob", "entropy")),
        ("enas_lm_full_entropy", "enas_lm", {"entropy_mode": "full"}, ("entropy",)),
        ("original_prior_before_post", "original", {"prior_before_post": True}, ("log_prob", "entropy")),
        ("original_no_damping", "original", {"damping": False}, ("log_prob", "entropy")),
        ("original_key_after_function", "original", {"key_from": "second"}, ("log_prob", "entropy")),
    )
    def test_reference_detects_spec_deviations(self, ptb_impl, mutation, keys):
        # Guards the guard: each deviation changes the numbers by far more than the tolerance above.
        controller = PtbController(6, ptb_impl, tanh_constant=2.25, temperature=5.0)
        randomize_weights(controller, 5)
        arc = [0, 1, 1, 0, 0, 2, 2, 3, 3, 1] if ptb_impl == "enas_lm" else [1, 0, 1, 1, 0, 0, 1, 2, 0, 3, 1]
        out = controller(tf.constant(arc, tf.int32))
        right = np_ptb_reference(controller, arc)
        wrong = np_ptb_reference(controller, arc, **mutation)
        for key in keys:
            self.assertAllClose(out[key], right[key], rtol=1e-5, atol=1e-5, msg=key)
            self.assertGreater(abs(wrong[key] - right[key]), 1e-3, msg=key)

    @parameterized.named_parameters(("enas_lm", "enas_lm"), ("original", "original"))
    def test_zero_weights_leave_the_recency_prior(self, ptb_impl):
        # With every weight zero, h = 0 at every step, so the attention scores and the function
        # logits are 0 and only the prior -(l - j)^2 / 6 is left: p(p_l = j) = softmax_j(prior).
        # The tanh cap (2.25) must not bound the prior (-16/6 at l = 4, j = 0).
        num_nodes = 5
        controller = PtbController(num_nodes, ptb_impl, tanh_constant=2.25, temperature=5.0)
        for variable in controller.trainable_variables:
            variable.assign(tf.zeros_like(variable))

        def prior_log_softmax(l):
            return _log_softmax(np.array([-((l - j) ** 2) / 6.0 for j in range(l)]))

        rng = np.random.default_rng(0)
        num_functions = controller.num_functions
        num_function_decisions = num_nodes - 1 if ptb_impl == "enas_lm" else num_nodes
        log_probs = {}
        for _ in range(6):
            predecessors = [int(rng.integers(0, l)) for l in range(1, num_nodes)]
            functions = [int(rng.integers(0, num_functions)) for _ in range(num_function_decisions)]
            if ptb_impl == "enas_lm":
                arc = [t for pair in zip(predecessors, functions) for t in pair]
            else:
                arc = [functions[0]] + [t for pair in zip(predecessors, functions[1:]) for t in pair]
            expected = sum(prior_log_softmax(l)[p] for l, p in enumerate(predecessors, start=1))
            expected -= num_function_decisions * np.log(num_functions)
            log_probs[tuple(predecessors)] = float(controller(tf.constant(arc, tf.int32))["log_prob"])
            self.assertAllClose(log_probs[tuple(predecessors)], expected, rtol=1e-5, atol=1e-5)
        # Differences of log-probs are differences of prior log-softmaxes, e.g. at node 4: reading
        # node 3 rather than node 0 is (16 - 1) / 6 = 2.5 nats likelier.
        near = [0, 1, 2, 3]
        far = [0, 1, 2, 0]
        functions = [0] * num_function_decisions
        arcs = []
        for predecessors in (near, far):
            if ptb_impl == "enas_lm":
                arcs.append([t for pair in zip(predecessors, functions) for t in pair])
            else:
                arcs.append([0] + [t for pair in zip(predecessors, functions[1:]) for t in pair])
        near_lp, far_lp = (float(controller(tf.constant(arc, tf.int32))["log_prob"]) for arc in arcs)
        self.assertAllClose(near_lp - far_lp, 2.5, atol=1e-5)

    def test_log_prob_gradient_reaches_every_weight_and_entropy_has_none(self):
        for ptb_impl in ("enas_lm", "original"):
            controller = PtbController(4, ptb_impl, tanh_constant=2.25, temperature=5.0)
            randomize_weights(controller, 2)
            arc = controller.sample(tf.random.Generator.from_seed(4))["arc"]
            with tf.GradientTape(persistent=True) as tape:
                out = controller(arc)
            grads = tape.gradient(out["log_prob"], controller.trainable_variables)
            for variable, grad in zip(controller.trainable_variables, grads):
                self.assertIsNotNone(grad, msg=(ptb_impl, variable.path))
                self.assertGreater(float(tf.norm(tf.convert_to_tensor(grad))), 0.0, msg=(ptb_impl, variable.path))
            self.assertTrue(all(g is None for g in tape.gradient(out["entropy"], controller.trainable_variables)))

    def test_reinforce_with_shared_trainer_raises_rewarded_functions(self):
        controller = PtbController(3, "enas_lm", lstm_size=8)
        # enas_lm's Adam has TF's defaults (epsilon 1e-8, ENAS_PTB_SPEC.md 1.3): with U(-0.01, 0.01)
        # weights the gradients are ~1e-5, which the original's epsilon 1e-3 would all but cancel.
        trainer = ControllerTrainer(
            controller, tanh_fraction_reward, optimizer=keras.optimizers.Adam(0.05), num_aggregate=2, seed=0
        )
        self.assertEqual(trainer.skip_weight, 0.0)
        before = all_tanh_probability(controller)
        self.assertAllClose(before, 1.0 / 16.0, atol=0.01)  # near-uniform over 4 x 4 functions at init
        for _ in range(60):
            logs = trainer.train_step()
        after = all_tanh_probability(controller)
        # Measured: 0.0625 -> 0.9999; the rewarded choice must at least become the likelier one.
        self.assertGreater(after, 0.5, msg=f"p(all tanh): {before} -> {after}")
        self.assertEqual(trainer.train_step.experimental_get_tracing_count(), 1)
        self.assertEqual(int(trainer.optimizer.iterations), 60)
        self.assertEqual(logs["arc"].shape, (4,))
        self.assertAllClose(logs["skip_rate"], 0.0)

    @parameterized.named_parameters(("enas_lm", "enas_lm"), ("original", "original"))
    def test_sampling_traces_once_and_arcs_vary(self, ptb_impl):
        controller = PtbController(5, ptb_impl, tanh_constant=2.25, temperature=5.0)
        rng = tf.random.Generator.from_seed(1)
        sample = tf.function(controller.sample)
        arcs = {tuple(sample(rng)["arc"].numpy()) for _ in range(5)}
        self.assertEqual(sample.experimental_get_tracing_count(), 1)
        self.assertGreater(len(arcs), 1)

    def test_same_generator_state_gives_same_arc(self):
        controller = PtbController(6)
        rng = tf.random.Generator.from_seed(11)
        copy = tf.random.Generator.from_state(rng.state.numpy(), rng.algorithm)
        first = controller.sample(rng)
        second = controller.sample(copy)
        self.assertAllEqual(first["arc"], second["arc"])
        self.assertAllEqual(first["log_prob"], second["log_prob"])

    def test_bad_arguments_raise_flag_error(self):
        with self.assertRaisesRegex(FlagError, r"ptb_impl='enas'.*'enas_lm', 'original'"):
            PtbController(5, "enas")
        with self.assertRaisesRegex(FlagError, "num_nodes=1"):
            PtbController(1)
        with self.assertRaisesRegex(FlagError, "num_functions=5"):
            PtbController(5, num_functions=5)
        with self.assertRaisesRegex(FlagError, "num_functions=0"):
            PtbController(5, "original", num_functions=0)
        with self.assertRaisesRegex(FlagError, "lstm_size=0"):
            PtbController(5, lstm_size=0)
        with self.assertRaisesRegex(FlagError, "init_range"):
            PtbController(5, init_range=-0.1)
        with self.assertRaisesRegex(FlagError, "temperature"):
            PtbController(5, temperature=0.0)

    def test_bad_forced_arc_raises_arc_error(self):
        enas_lm = PtbController(10)
        with self.assertRaisesRegex(ArcError, r"expected \[18\].*enas_lm"):
            enas_lm.sample(forced_arc=tf.zeros([17], tf.int32))
        original = PtbController(12, "original")
        with self.assertRaisesRegex(ArcError, r"expected \[23\].*original"):
            original(tf.zeros([22], tf.int32))
        # A predecessor must be an earlier node: token 2 is node 2's predecessor in enas_lm.
        bad = np.zeros(18, np.int32)
        bad[2] = 2
        with self.assertRaisesRegex(ArcError, "token 2"):
            enas_lm(tf.constant(bad))
        # The original controller samples only tanh and ReLU: identity (2) is no action of it.
        bad = np.zeros(23, np.int32)
        bad[4] = 2
        with self.assertRaisesRegex(ArcError, r"token 4 \(2\).*only 2 functions"):
            original(tf.constant(bad))
        with self.assertRaisesRegex(EnasError, "rng"):
            enas_lm.sample()

    def test_impl_defaults_and_config_round_trip(self):
        original = PtbController(12, "original")
        self.assertEqual((original.lstm_size, original.num_functions, original.init_range), (100, 2, 0.1))
        self.assertIsNone(original.tanh_constant)
        self.assertIsNone(original.temperature)
        controller = PtbController(6, "enas_lm", lstm_size=16, tanh_constant=2.25, temperature=5.0)
        self.assertEqual((controller.num_functions, controller.init_range), (4, 0.01))
        clone = PtbController.from_config(controller.get_config())
        self.assertEqual(clone.get_config(), controller.get_config())
        self.assertEqual(clone.count_params(), controller.count_params())
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(original))
        self.assertIsInstance(restored, PtbController)
        self.assertEqual(restored.get_config(), original.get_config())


if __name__ == "__main__":
    tf.test.main()
