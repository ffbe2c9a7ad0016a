"""The random search policy: uniform over exactly the controller's space, in its encoding."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.controllers.macro import MacroController
from enas_tf2.controllers.micro import MicroController
from enas_tf2.controllers.ptb import PtbController
from enas_tf2.controllers.uniform import UniformPolicy
from enas_tf2.errors import FlagError

NUM_SAMPLES = 600


def _samples(policy, num=NUM_SAMPLES, seed=0):
    rng = tf.random.Generator.from_seed(seed)
    sample = tf.function(lambda: policy.sample(rng))
    return np.stack([sample()["arc"].numpy() for _ in range(num)])


def _check_uniform(arcs: np.ndarray, counts: list[int]):
    """Every position takes every one of its values, none outside, at about 1/count each."""
    assert arcs.shape[1] == len(counts)
    for position, count in enumerate(counts):
        values = arcs[:, position]
        assert values.min() >= 0 and values.max() < count, (position, count)
        frequencies = np.bincount(values, minlength=count) / len(values)
        # Binomial standard error at n=600 is <= 0.021; 5 of them is a test that fails only on a real bias.
        np.testing.assert_allclose(frequencies, 1.0 / count, atol=0.105, err_msg=f"position {position}")


def test_macro_counts_follow_the_encoding_and_samples_parse():
    controller = MacroController(num_layers=4)
    policy = UniformPolicy.like(controller)
    # Per layer l: its op (6 values), then l skip bits.
    assert controller.choice_counts() == [6, 6, 2, 6, 2, 2, 6, 2, 2, 2]
    assert policy.arc_length == controller.arc_length == 10
    arcs = _samples(policy)
    _check_uniform(arcs, controller.choice_counts())
    for arc in arcs[:20]:
        arch.MacroArc.from_flat(arc).validate()
    # The skip rate counts the skip bits only (positions 2, 4, 5, 7, 8, 9), about one half.
    sample = policy.sample(tf.random.Generator.from_seed(1))
    skips = sample["arc"].numpy()[[2, 4, 5, 7, 8, 9]]
    assert float(sample["skip_rate"]) == pytest.approx(skips.mean())


def test_macro_connection_search_keeps_every_op_at_zero():
    controller = MacroController(num_layers=3, search_for="connection")
    arcs = _samples(UniformPolicy.like(controller), num=50)
    assert (arcs[:, [0, 1, 3]] == 0).all()


def test_micro_counts_follow_the_encoding_and_samples_parse():
    controller = MicroController(num_cells=3)
    cell = [2, 5, 2, 5, 3, 5, 3, 5, 4, 5, 4, 5]  # node b reads one of b + 2 earlier nodes
    assert controller.choice_counts() == cell + cell
    arcs = _samples(UniformPolicy.like(controller))
    _check_uniform(arcs, controller.choice_counts())
    for arc in arcs[:20]:
        arch.MicroArc.from_flat(arc)


@pytest.mark.parametrize("ptb_impl", ["enas_lm", "original"])
def test_ptb_counts_follow_each_encoding_and_samples_parse(ptb_impl):
    controller = PtbController(num_nodes=4, ptb_impl=ptb_impl)
    # Node l reads one of l earlier nodes and applies one of the controller's functions (enas_lm
    # samples all 4 activations, the original controller only tanh and ReLU).
    functions = {"enas_lm": 4, "original": 2}[ptb_impl]
    assert controller.num_functions == functions
    pairs = [1, functions, 2, functions, 3, functions]
    assert controller.choice_counts() == ([functions] + pairs if ptb_impl == "original" else pairs)
    arcs = _samples(UniformPolicy.like(controller))
    _check_uniform(arcs, controller.choice_counts())
    for arc in arcs[:20]:
        arch.PtbArc.parse(arc.tolist(), arc_format=ptb_impl)


def test_controller_samples_stay_inside_the_counts_it_declares():
    """The counts describe the controller's own space: its samples never leave it."""
    for controller in (MacroController(num_layers=4), MicroController(num_cells=3), PtbController(num_nodes=5)):
        rng = tf.random.Generator.from_seed(2)
        arcs = np.stack([controller.sample(rng)["arc"].numpy() for _ in range(30)])
        assert (arcs < np.asarray(controller.choice_counts())).all(), type(controller).__name__


def test_log_prob_and_entropy_are_those_of_the_uniform_distribution():
    policy = UniformPolicy([6, 2, 3])
    sample = policy.sample(tf.random.Generator.from_seed(0))
    assert float(sample["entropy"]) == pytest.approx(np.log(36.0))
    assert float(sample["log_prob"]) == pytest.approx(-np.log(36.0))
    assert policy.trainable_variables == ()
    forced = policy.sample(forced_arc=[5, 1, 2])
    assert forced["arc"].numpy().tolist() == [5, 1, 2]


def test_a_bad_space_is_a_clear_error():
    with pytest.raises(FlagError, match="positive number of choices"):
        UniformPolicy([3, 0])
