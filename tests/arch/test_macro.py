"""Tests of enas_tf2.arch: the macro encoding's parse / format round trips and its errors."""

import doctest
import re
import subprocess
import sys

import numpy as np
import pytest

from enas_tf2 import arch
from enas_tf2.arch import MACRO_FINAL_ARC, MACRO_OP_NAMES, MacroArc
from enas_tf2.errors import ArcError

#: Per-layer skip counts of the original macro final arc (ENAS_SPEC.md 2.4, "#skips" column).
FINAL_SKIPS_PER_LAYER = (0, 0, 1, 1, 0, 3, 1, 5, 5, 0, 1, 5, 4, 6, 5, 4, 7, 6, 6, 5, 7, 10, 6, 10)

#: A 3-layer arc: conv_3x3; sep_conv_3x3 without skip; avg_pool with skips from stem and layer 0.
SMALL = "0 1 0 4 1 1"


def random_macro_arc(rng: np.random.Generator, num_layers: int, num_branches: int) -> MacroArc:
    ops = rng.integers(0, num_branches, size=num_layers)
    skips = [rng.integers(0, 2, size=layer) for layer in range(num_layers)]
    return MacroArc(ops=tuple(ops), skips=tuple(tuple(bits) for bits in skips))


# --- lengths and offsets --------------------------------------------------------------------


def test_macro_arc_length_matches_original():
    assert arch.macro_arc_length(1) == 1
    assert arch.macro_arc_length(12) == 78
    assert arch.macro_arc_length(24) == 300


def test_macro_layer_offset_indexes_each_layers_op():
    assert [arch.macro_layer_offset(layer) for layer in range(5)] == [0, 1, 3, 6, 10]
    assert arch.macro_layer_offset(24) == arch.macro_arc_length(24)
    final = MacroArc.parse(MACRO_FINAL_ARC)
    flat = final.to_flat()
    for layer in range(24):
        assert flat[arch.macro_layer_offset(layer)] == final.ops[layer]


def test_negative_counts_raise():
    with pytest.raises(ArcError, match="num_layers must be >= 0; got -1"):
        arch.macro_arc_length(-1)
    with pytest.raises(ArcError, match="layer must be >= 0; got -2"):
        arch.macro_layer_offset(-2)


def test_op_names_in_original_id_order():
    assert MACRO_OP_NAMES == (
        "conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3"
    )


# --- parsing and round trips ----------------------------------------------------------------


def test_parse_small_arc():
    arc = MacroArc.parse(SMALL)
    assert arc.ops == (0, 1, 4)
    assert arc.skips == ((), (0,), (1, 1))
    assert arc.num_layers == 3
    assert arc.num_skips == 2
    assert arc.skip_rate == pytest.approx(2 / 3)
    assert arc.skip_sources(0) == ()
    assert arc.skip_sources(1) == ()
    assert arc.skip_sources(2) == (0, 1)


def test_str_parse_round_trip_is_exact():
    arc = MacroArc.parse(SMALL)
    assert str(arc) == SMALL
    assert MacroArc.parse(str(arc)) == arc
    assert str(MacroArc.parse(MACRO_FINAL_ARC)) == MACRO_FINAL_ARC


def test_flat_round_trip_is_exact():
    flat = [0, 1, 0, 4, 1, 1]
    arc = MacroArc.from_flat(flat)
    assert arc.to_flat() == flat
    assert all(type(value) is int for value in arc.to_flat())
    array = arc.to_array()
    assert array.dtype == np.int32 and array.shape == (6,)
    assert MacroArc.from_flat(array) == arc


@pytest.mark.parametrize("num_layers", [1, 2, 5, 12, 24])
@pytest.mark.parametrize("num_branches", [4, 5, 6])
def test_random_arcs_round_trip(num_layers, num_branches):
    rng = np.random.default_rng(1000 * num_layers + num_branches)
    for _ in range(5):
        arc = random_macro_arc(rng, num_layers, num_branches)
        arc.validate(num_branches)
        flat = arc.to_flat()
        assert len(flat) == arch.macro_arc_length(num_layers)
        assert MacroArc.parse(str(arc), num_layers, num_branches) == arc
        assert MacroArc.from_flat(arc.to_array(), num_branches) == arc
        assert MacroArc.from_flat(np.asarray(flat, np.int64), num_branches).to_flat() == flat
        assert MacroArc.parse(arc.describe(), num_branches=num_branches) == arc
        assert MacroArc.parse(arc.describe(op_names=True), num_branches=num_branches) == arc


def test_constructor_normalises_to_python_int_tuples():
    arc = MacroArc(ops=[np.int32(0), np.int64(3)], skips=[[], np.array([1])])
    assert arc == MacroArc(ops=(0, 3), skips=((), (1,)))
    assert type(arc.ops[1]) is int and type(arc.skips[1][0]) is int
    assert hash(arc) == hash(MacroArc.parse("0 3 1"))


def test_printed_rows_parse():
    rows = "[0]\n[3 0]\n[0 1 0]\n[2 0 0 1]\n"
    arc = MacroArc.parse(rows, num_layers=4)
    assert str(arc) == "0 3 0 0 1 0 2 0 0 1"
    assert arc.describe() == rows.strip()


@pytest.mark.parametrize(
    "text",
    [
        "0 1 0 4 1 1",
        "0\t1 0\n4 1 1\n",
        "0, 1, 0, 4, 1, 1",
        "[0, 1, 0, 4, 1, 1]",
        "[0] [1 0] [4 1 1]",
        "  0 1 0 # layers 0-1\n4 1 1  # layer 2",
    ],
    ids=["spaces", "tabs_newlines", "commas", "python_list", "rows_one_line", "comments"],
)
def test_separators_are_accepted(text):
    assert MacroArc.parse(text) == MacroArc.parse(SMALL)


def test_parse_accepts_sequences():
    assert MacroArc.parse([0, 1, 0, 4, 1, 1], num_layers=3) == MacroArc.parse(SMALL)
    assert MacroArc.parse(("0", "1", "0", "4", "1", "1")) == MacroArc.parse(SMALL)


@pytest.mark.parametrize("num_layers", [1, 2, 3, 12, 24])
def test_length_inference(num_layers):
    text = " ".join(["0"] * arch.macro_arc_length(num_layers))
    assert MacroArc.parse(text).num_layers == num_layers


def test_describe_matches_original_rows():
    assert MacroArc.parse(SMALL).describe() == "[0]\n[1 0]\n[4 1 1]"
    lines = MacroArc.parse(SMALL).describe(op_names=True).splitlines()
    assert lines[0] == "[0]      # layer 0: conv_3x3"
    assert lines[2] == "[4 1 1]  # layer 2: avg_pool_3x3, skips from nodes 0 1"


def test_skip_rate_single_layer_is_zero():
    arc = MacroArc.parse("5")
    assert arc.num_skips == 0 and arc.skip_rate == 0.0


def test_skip_sources_out_of_range_raises():
    with pytest.raises(IndexError, match="layer 3 is out of range for a 3-layer macro arc"):
        MacroArc.parse(SMALL).skip_sources(3)


@pytest.mark.parametrize("module", ["macro", "micro", "ptb"])
def test_docstring_examples_run(module):
    failures, tried = doctest.testmod(sys.modules[f"{arch.__name__}.{module}"])
    assert tried > 0 and failures == 0


# --- the original final architecture --------------------------------------------------------


def test_macro_final_arc_matches_spec_table():
    arc = MacroArc.parse(MACRO_FINAL_ARC, num_layers=24, num_branches=4)
    assert len(MACRO_FINAL_ARC.split()) == 300
    assert arc.num_layers == 24
    assert arc.num_skips == 98
    assert arc.skip_rate == pytest.approx(98 / 276)
    assert set(arc.ops) <= {0, 1, 2, 3}
    assert tuple(sum(bits) for bits in arc.skips) == FINAL_SKIPS_PER_LAYER
    assert arc.ops[:4] == (0, 3, 0, 2)
    assert arc.skips[12] == tuple(int(bit) for bit in "010000010110")
    assert arc.skips[23] == tuple(int(bit) for bit in "11000111010001010011000")
    assert arc.skip_sources(5) == (0, 1, 3)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\t", "[ ]", ","])
def test_empty_arc_raises(text):
    with pytest.raises(ArcError, match=r"macro arc is empty; expected L \+ L\(L-1\)/2 integers"):
        MacroArc.parse(text)


def test_empty_flat_raises():
    with pytest.raises(ArcError, match="macro arc is empty"):
        MacroArc.from_flat(np.zeros([0], np.int32))


def test_non_triangular_length_names_nearest_valid_lengths():
    message = (
        "macro arc has 77 tokens, which is not L + L(L-1)/2 for any number of layers L; "
        "the nearest valid lengths are 66 (L=11) and 78 (L=12)"
    )
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc.parse(" ".join(["0"] * 77))
    with pytest.raises(ArcError, match=re.escape("are 1 (L=1) and 3 (L=2)")):
        MacroArc.from_flat([0, 1])


def test_length_mismatch_with_num_layers_raises():
    message = (
        "macro arc has 6 tokens; expected 78 (L + L(L-1)/2) for --child_num_layers=12. "
        "Paste the arc printed by the search run, or fix --child_num_layers."
    )
    hint = " The 6 tokens form a complete 3-layer arc."
    with pytest.raises(ArcError, match=re.escape(message + hint)):
        MacroArc.parse(SMALL, num_layers=12)
    with pytest.raises(ArcError, match=r"has 5 tokens; expected 6 .*fix --child_num_layers\.$"):
        MacroArc.parse("0 1 0 4 1", num_layers=3)


def test_bad_num_layers_raises():
    with pytest.raises(ArcError, match="--child_num_layers must be >= 1; got 0"):
        MacroArc.parse(SMALL, num_layers=0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("0 1 0 x 1 1", "macro arc token 3 ('x') in layer 2: expected an integer op id in 0..5"),
        ("0 1 0 4 1.0 1", "macro arc token 4 ('1.0') in layer 2: expected skip bit 0 (node 0)"),
        ("0 1 0 4 1 y", "token 5 ('y') in layer 2: expected skip bit 1 (node 1) to be 0 or 1"),
        ("0 (1) 0 4 1 1", "macro arc token 1 ('(1)') in layer 1: expected an integer op id"),
    ],
    ids=["op", "float_skip", "letter_skip", "parenthesis"],
)
def test_non_integer_token_raises(text, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc.parse(text)


def test_non_integer_array_raises():
    with pytest.raises(ArcError, match=re.escape("macro arc token 0 (0.0) in layer 0")):
        MacroArc.from_flat(np.zeros([3]))


def test_non_flat_array_raises():
    message = "macro arc array has shape (2, 3); expected a 1-D array"
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc.from_flat(np.zeros([2, 3], np.int32))


@pytest.mark.parametrize(
    "num_branches, op, message",
    [
        (6, 6, "macro arc token 3 (6) in layer 2: expected an integer op id in 0..5 "
               "(--child_num_branches=6)"),
        (5, 5, "macro arc token 3 (5) in layer 2: expected an integer op id in 0..4"),
        (4, 4, "macro arc token 3 (4) in layer 2: expected an integer op id in 0..3 "
               "(--child_num_branches=4)"),
        (4, 5, "macro arc token 3 (5) in layer 2: expected an integer op id in 0..3"),
        (6, -1, "macro arc token 3 (-1) in layer 2: expected an integer op id in 0..5"),
    ],
)
def test_op_out_of_range_raises(num_branches, op, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc.parse(f"0 1 0 {op} 1 1", num_branches=num_branches)


def test_largest_op_is_accepted_for_each_num_branches():
    for num_branches in arch.MACRO_NUM_BRANCHES:
        assert MacroArc.parse(f"{num_branches - 1}", num_branches=num_branches).ops == (
            num_branches - 1,
        )


@pytest.mark.parametrize(
    "text, message",
    [
        ("0 1 0 4 1 2", "macro arc token 5 (2) in layer 2: expected skip bit 1 (node 1) to be 0"),
        ("0 1 2 4 1 1", "macro arc token 2 (2) in layer 1: expected skip bit 0 (node 0) to be 0"),
        ("0 1 0 4 -1 1", "macro arc token 4 (-1) in layer 2: expected skip bit 0 (node 0)"),
    ],
    ids=["two_last_bit", "two_first_bit", "negative"],
)
def test_bad_skip_bit_raises(text, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc.parse(text)


def test_error_names_layer_and_token_in_a_long_arc():
    flat = MacroArc.parse(MACRO_FINAL_ARC).to_flat()
    index = arch.macro_layer_offset(20) + 1 + 7  # layer 20, skip bit 7
    flat[index] = 3
    with pytest.raises(ArcError, match=rf"token {index} \(3\) in layer 20: expected skip bit 7"):
        MacroArc.from_flat(flat)


@pytest.mark.parametrize("num_branches", [0, 3, 7])
def test_unsupported_num_branches_raises(num_branches):
    message = (
        f"--child_num_branches={num_branches} is not supported by the macro space; "
        "expected 4, 5 or 6"
    )
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc.parse(SMALL, num_branches=num_branches)
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc.parse(SMALL).validate(num_branches)


def test_validate_names_layer_and_token():
    arc = MacroArc(ops=(0, 1, 4), skips=((), (0,), (1, 1)))
    arc.validate(5)
    message = "macro arc token 3 (4) in layer 2: expected an integer op id in 0..3"
    with pytest.raises(ArcError, match=re.escape(message)):
        arc.validate(4)
    message = "token 5 (2) in layer 2: expected skip bit 1 (node 1)"
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc(ops=(0, 1, 4), skips=((), (0,), (1, 2))).validate()


@pytest.mark.parametrize(
    "ops, skips, message",
    [
        ((), (), "a macro arc needs at least one layer"),
        ((0, 1), ((),), "macro arc has 2 ops but 1 skip rows"),
        ((0, 1, 2), ((), (0,), (1,)), "macro arc layer 2 has 1 skip bits; expected exactly 2"),
        ((0,), ((1,),), "macro arc layer 0 has 1 skip bits; expected exactly 0"),
    ],
    ids=["empty", "missing_row", "short_row", "long_row"],
)
def test_malformed_structure_raises(ops, skips, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        MacroArc(ops=ops, skips=skips)


def test_arc_error_is_a_value_error():
    with pytest.raises(ValueError):
        MacroArc.parse("nonsense")


def test_arch_imports_neither_tensorflow_nor_keras():
    code = "import sys, enas_tf2.arch; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
