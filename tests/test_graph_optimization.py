"""`--grappler`: auto turns Grappler off for searches only, the setting is applied and restored, bad values fail."""

from __future__ import annotations

import pytest
import tensorflow as tf

from enas_tf2 import graph_optimization
from enas_tf2.configs.run import RunConfig
from enas_tf2.errors import FlagError


@pytest.mark.parametrize("setting, search, enabled", [
    ("auto", True, False), ("auto", False, True), ("on", True, True), ("off", False, False),
])
def test_grappler_enabled(setting, search, enabled):
    assert graph_optimization.grappler_enabled(setting, search) is enabled


def test_configured_sets_only_the_meta_optimizer_switch_and_puts_it_back():
    tf.config.optimizer.set_experimental_options({"constant_folding": False})
    try:
        with graph_optimization.configured("auto", search=True) as enabled:
            options = tf.config.optimizer.get_experimental_options()
            assert enabled is False and options["disable_meta_optimizer"] is True
            assert options["constant_folding"] is False  # the user's other option is kept
        assert tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False) is False
        with pytest.raises(RuntimeError), graph_optimization.configured("off", search=False):
            raise RuntimeError("a failed run")
        assert tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False) is False
    finally:
        tf.config.optimizer.set_experimental_options({"constant_folding": True, "disable_meta_optimizer": False})


def test_a_compiled_step_gives_the_same_result_without_grappler():
    x = tf.random.stateless_normal([4, 8, 8, 3], seed=[1, 2])
    kernel = tf.random.stateless_normal([3, 3, 3, 5], seed=[3, 4])

    def step(x):
        return tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + 1.0))

    results = []
    for setting in ("on", "off"):
        with graph_optimization.configured(setting, search=False):
            results.append(float(tf.function(step)(x)))
    assert results[0] == pytest.approx(results[1], rel=1e-5)


def test_unknown_setting_is_a_flag_error():
    with pytest.raises(FlagError, match="--grappler='sometimes' is unknown; expected one of auto, on, off"):
        RunConfig(output_dir="x", grappler="sometimes")
    with pytest.raises(FlagError, match="unknown"):
        graph_optimization.grappler_enabled("sometimes", True)


def test_describe_says_what_auto_did():
    assert graph_optimization.describe("auto", False) == (
        "Grappler graph optimisation off (--grappler=auto; auto: off for a search's supernet steps, on for a "
        "final network).")
