"""The op registries: one per space, ids in the encoding's order, builders registered once and found lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

from enas_tf2 import arch
from enas_tf2.registry import OpRegistry


def test_ids_follow_the_names_and_unknown_ops_list_the_known_ones():
    ops = OpRegistry("toy", ("a", "b", "c"))
    assert (ops.id_of("c"), ops.name_of(1), len(ops), list(ops)) == (2, "b", 3, ["a", "b", "c"])
    with pytest.raises(LookupError, match="no op 'd'; its ops are a, b, c"):
        ops.id_of("d")
    with pytest.raises(LookupError, match="op ids 0..2"):
        ops.name_of(3)
    assert ops.label(7) == "invalid op 7"


def test_a_builder_is_registered_once_and_a_missing_one_is_named():
    ops = OpRegistry("toy", ("a", "b"))
    ops.register("a")(lambda: "built a")
    assert ops.build("a") == ops.build(0) == "built a"
    with pytest.raises(KeyError, match="already has a builder"):
        ops.register("a")(lambda: None)
    with pytest.raises(LookupError, match="No builder is registered for the toy op 'b'"):
        ops.builder(1)
    with pytest.raises(ValueError, match="more than once"):
        OpRegistry("toy", ("a", "a"))


def test_the_spaces_registries_are_the_original_encodings():
    assert arch.MACRO_OPS.names == ("conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool_3x3",
                                    "max_pool_3x3")
    assert arch.MICRO_OPS.names == ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
    assert arch.PTB_ACTIVATIONS.names == ("tanh", "relu", "identity", "sigmoid")
    # enas_lm's encoding swaps ids 2 and 3.
    assert [arch.PTB_ACTIVATIONS.names[i] for i in arch.ENAS_LM_ACTIVATION_IDS] == list(
        arch.PTB_ENAS_LM_ACTIVATION_NAMES)


def test_every_op_of_every_space_has_its_builder_imported_on_first_use():
    code = (
        "from enas_tf2 import arch\n"
        "for registry in (arch.MACRO_OPS, arch.MICRO_OPS, arch.PTB_ACTIVATIONS):\n"
        "    assert all(callable(registry.builder(name)) for name in registry), registry\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
