"""Tests of enas_tf2.arch's PTB cell: both encodings, conversion, the spec's cells and errors."""

import re

import numpy as np
import pytest

from enas_tf2 import arch
from enas_tf2.arch import (
    PTB_ACTIVATION_NAMES,
    PTB_DARTS_ARC,
    PTB_ENAS_LM_ACTIVATION_NAMES,
    PTB_ENAS_LM_ARC,
    PTB_FINAL_ARC,
    PtbArc,
)
from enas_tf2.errors import ArcError

#: ENAS_SPEC.md 2.4, PTB final table: what nodes 1..11 read and every node's activation.
FINAL_READS = (0, 1, 2, 2, 2, 5, 1, 6, 8, 8, 8)
FINAL_ACTS = (
    "tanh", "tanh", "relu", "relu", "tanh", "tanh", "relu", "tanh", "relu", "relu", "relu", "relu"
)

#: ENAS_PTB_SPEC.md 2.2, the enas_lm README cell decoded (nodes 0..8).
LM_READS = (0, 1, 2, 2, 4, 5, 3, 6)
LM_ACTS = (
    "tanh", "sigmoid", "tanh", "relu", "sigmoid", "tanh", "tanh", "sigmoid", "sigmoid"
)

#: ENAS_PTB_SPEC.md 3.1 worked examples.
FINAL_IN_ENAS_LM = "0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
LM_ARC_IN_ORIGINAL = "0 0 3 1 0 2 1 2 3 4 0 5 0 3 3 6 3"


def random_ptb_arc(rng: np.random.Generator, num_nodes: int, tanh_node_0: bool) -> PtbArc:
    first = 0 if tanh_node_0 else int(rng.integers(0, 4))
    return PtbArc(
        activations=(first, *(int(rng.integers(0, 4)) for _ in range(1, num_nodes))),
        predecessors=(-1, *(int(rng.integers(0, node)) for node in range(1, num_nodes))),
    )


def lm_arc_with(index: int, value: object) -> list[object]:
    flat: list[object] = PtbArc.parse(PTB_ENAS_LM_ARC).to_enas_lm()
    flat[index] = value
    return flat


def final_with(index: int, value: object) -> list[object]:
    flat: list[object] = PtbArc.parse(PTB_FINAL_ARC).to_original()
    flat[index] = value
    return flat


# --- constants and the spec's cells -----------------------------------------------------------


def test_activation_names_in_each_encodings_id_order():
    assert PTB_ACTIVATION_NAMES == ("tanh", "relu", "identity", "sigmoid")
    assert PTB_ENAS_LM_ACTIVATION_NAMES == ("tanh", "relu", "sigmoid", "identity")
    assert PTB_FINAL_ARC == "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
    assert PTB_ENAS_LM_ARC == "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"


def test_final_arc_matches_the_spec_table():
    arc = PtbArc.parse(PTB_FINAL_ARC)
    assert arc.num_nodes == 12
    assert arc.predecessors == (-1, *FINAL_READS)
    assert arc.activation_names == FINAL_ACTS
    assert arc.loose_ends() == (3, 4, 7, 9, 10, 11)
    assert str(arc) == PTB_FINAL_ARC


def test_enas_lm_readme_arc_matches_the_spec_table():
    arc = PtbArc.parse(PTB_ENAS_LM_ARC)
    assert arc.num_nodes == 9  # L = 8 nodes after the implicit node 0.
    assert arc.predecessors == (-1, *LM_READS)
    assert arc.activation_names == LM_ACTS
    assert arc.loose_ends() == (7, 8)


def test_darts_arc_decodes_as_the_spec_says():
    arc = PtbArc.parse(PTB_DARTS_ARC)
    assert arc.predecessors[1:] == (0, 1, 1, 1, 2, 5, 3, 5)
    assert arc.activation_names[1:] == (
        "sigmoid", "relu", "relu", "identity", "tanh", "sigmoid", "tanh", "relu"
    )


def test_conversion_matches_the_spec_worked_examples():
    final = PtbArc.parse(PTB_FINAL_ARC)
    assert final.format("enas_lm") == FINAL_IN_ENAS_LM
    assert PtbArc.parse(FINAL_IN_ENAS_LM) == final
    lm_arc = PtbArc.parse(PTB_ENAS_LM_ARC)
    assert lm_arc.format("original") == LM_ARC_IN_ORIGINAL
    assert PtbArc.parse(LM_ARC_IN_ORIGINAL) == lm_arc
    # Activation ids 2 and 3 swap between the encodings; predecessors are unchanged.
    assert lm_arc.to_enas_lm()[1::2] == [2, 0, 1, 2, 0, 0, 2, 2]
    assert lm_arc.to_original()[2::2] == [3, 0, 1, 3, 0, 0, 3, 3]


def test_lengths_and_format_detection():
    assert arch.ptb_arc_length(12) == 23
    assert arch.ptb_arc_length(9, "enas_lm") == 16
    assert arch.ptb_arc_length(1) == 1
    assert arch.detect_ptb_arc_format(23) == "original"
    assert arch.detect_ptb_arc_format(16) == "enas_lm"
    with pytest.raises(ArcError, match="needs num_nodes >= 2 .*; got 1"):
        arch.ptb_arc_length(1, "enas_lm")
    with pytest.raises(ArcError, match="needs num_nodes >= 1 .*; got 0"):
        arch.ptb_arc_length(0)
    with pytest.raises(ArcError, match="at least one token; got 0"):
        arch.detect_ptb_arc_format(0)


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("num_nodes", [1, 2, 5, 12])
def test_original_round_trips(num_nodes):
    rng = np.random.default_rng(num_nodes)
    for _ in range(20):
        arc = random_ptb_arc(rng, num_nodes, tanh_node_0=False)
        arc.validate()
        assert PtbArc.parse(str(arc)) == arc
        assert PtbArc.parse(arc.format("original"), "original", num_nodes=num_nodes) == arc
        assert PtbArc.from_flat(arc.to_array()) == arc
        assert PtbArc.parse(arc.describe()) == arc
        assert len(arc.to_original()) == 2 * num_nodes - 1


@pytest.mark.parametrize("num_nodes", [2, 5, 12])
def test_enas_lm_round_trips(num_nodes):
    rng = np.random.default_rng(100 + num_nodes)
    for _ in range(20):
        arc = random_ptb_arc(rng, num_nodes, tanh_node_0=True)
        lm = arc.to_enas_lm()
        assert len(lm) == 2 * (num_nodes - 1)
        assert PtbArc.parse(lm) == arc
        assert PtbArc.parse(arc.format("enas_lm"), "enas_lm", num_nodes=num_nodes) == arc
        assert PtbArc.from_flat(arc.to_array("enas_lm"), "enas_lm") == arc
        assert PtbArc.parse(arc.describe("enas_lm"), "enas_lm") == arc
        # Either encoding converts to the other and back.
        assert PtbArc.parse(PtbArc.parse(arc.format("original")).format("enas_lm")) == arc


def test_to_array_is_int32():
    array = PtbArc.parse(PTB_FINAL_ARC).to_array()
    assert array.dtype == np.int32 and array.shape == (23,)
    assert PtbArc.parse(PTB_ENAS_LM_ARC).to_array("enas_lm").shape == (16,)


def test_separators_and_comments_are_accepted():
    text = "[0, 0, 0,\n 1 1]  # a comment\n\t2 1"
    assert PtbArc.parse(text) == PtbArc.parse("0 0 0 1 1 2 1")
    assert PtbArc.parse(np.array([0, 2, 1, 0])) == PtbArc.parse("0 2 1 0")


def test_describe_lists_every_node():
    assert PtbArc.parse("0 2 1 0").describe("enas_lm") == "\n".join([
        "# PTB cell, 3 nodes, enas_lm encoding (4 tokens, L=2); loose ends 2",
        "#      node 0: x_t, h_{t-1} -> tanh (implicit in enas_lm)",
        "0 2  # node 1: node 0 -> sigmoid",
        "1 0  # node 2: node 1 -> tanh",
    ])
    lines = PtbArc.parse(PTB_FINAL_ARC).describe().split("\n")
    assert lines[0] == (
        "# PTB cell, 12 nodes, original encoding (23 tokens); loose ends 3 4 7 9 10 11"
    )
    assert lines[1] == "0    # node 0: x_t, h_{t-1} -> tanh"
    assert lines[-1] == "8 1  # node 11: node 8 -> relu"


# --- auto detection ---------------------------------------------------------------------------


def test_auto_decides_by_parity():
    # The same four tokens "0 1 0 1" plus one more are an original arc; alone, an enas_lm one.
    lm = PtbArc.parse("0 1 0 1")
    assert lm.num_nodes == 3 and lm.activations == (0, 1, 1)
    original = PtbArc.parse("2 0 1 0 1")
    assert original.num_nodes == 3 and original.activations == (2, 1, 1)
    assert PtbArc.parse("0 0 3 1 0", "auto") == PtbArc.parse("0 2 1 0", "enas_lm")


@pytest.mark.parametrize(
    "text, arc_format, message",
    [
        (
            PTB_ENAS_LM_ARC, "original",
            "PTB arc has 16 tokens, but the original encoding has 2N-1 tokens for an N-node cell "
            "(23 for --child_rhn_depth=12): f_0, then p_l f_l for l = 1..N-1. 16 tokens is the "
            "length of a 9-node cell in the enas_lm encoding: pass arc_format='enas_lm'",
        ),
        (
            PTB_FINAL_ARC, "enas_lm",
            "PTB arc has 23 tokens, but the enas_lm encoding has 2L tokens for L nodes after the "
            "implicit node 0 (16 for the enas_lm README cell): p_l f_l for l = 1..L. 23 tokens is "
            "the length of a 12-node cell in the original encoding: pass arc_format='original'",
        ),
    ],
    ids=["even_as_original", "odd_as_enas_lm"],
)
def test_explicit_format_rejects_the_other_parity(text, arc_format, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        PtbArc.parse(text, arc_format)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tokens, arc_format, message",
    [
        (final_with(5, "x"), "original", "PTB arc token 5 ('x') in node 3 (original encoding): "
         "expected a predecessor in 0..2 (an earlier node: it must be < the node index 3"),
        (final_with(6, 1.5), "original", "PTB arc token 6 (1.5) in node 3 (original encoding): "
         "expected an activation id in 0..3 (0 tanh, 1 relu, 2 identity, 3 sigmoid in the "
         "original encoding)."),
        (final_with(5, 3), "original", "PTB arc token 5 (3) in node 3 (original encoding): "
         "expected a predecessor in 0..2"),
        (final_with(1, 1), "original", "PTB arc token 1 (1) in node 1 (original encoding): "
         "expected a predecessor in 0..0"),
        (final_with(21, -1), "original", "PTB arc token 21 (-1) in node 11 (original encoding): "
         "expected a predecessor in 0..10"),
        (final_with(0, 4), "original", "PTB arc token 0 (4) in node 0 (original encoding): "
         "expected an activation id in 0..3"),
        (lm_arc_with(4, 3), "enas_lm", "PTB arc token 4 (3) in node 3 (enas_lm encoding): "
         "expected a predecessor in 0..2"),
        (lm_arc_with(4, -1), "enas_lm", "PTB arc token 4 (-1) in node 3 (enas_lm encoding): "
         "expected a predecessor in 0..2"),
        (lm_arc_with(15, 4), "enas_lm", "PTB arc token 15 (4) in node 8 (enas_lm encoding): "
         "expected an activation id in 0..3 (0 tanh, 1 relu, 2 sigmoid, 3 identity in the "
         "enas_lm encoding)."),
        (lm_arc_with(0, "+"), "enas_lm", "PTB arc token 0 ('+') in node 1 (enas_lm encoding)"),
    ],
    ids=[
        "bad_token", "float_token", "forward_predecessor", "node_1_not_reading_node_0",
        "negative_predecessor", "bad_node_0_activation", "lm_forward_predecessor",
        "lm_negative_predecessor", "lm_bad_activation", "lm_bad_token",
    ],
)
def test_bad_token_raises(tokens, arc_format, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        PtbArc.parse(tokens)  # Auto detection finds the same encoding.
    # In a string every token is text, so a non-integer shows as the string it was.
    message = message.replace("(1.5)", "('1.5')")
    with pytest.raises(ArcError, match=re.escape(message)):
        PtbArc.parse(" ".join(str(token) for token in tokens), arc_format)


@pytest.mark.parametrize("text", ["", "   ", "# only a comment\n", "[]"])
def test_empty_arc_raises(text):
    with pytest.raises(ArcError, match="PTB arc is empty; the original encoding has 2N-1"):
        PtbArc.parse(text)


def test_wrong_length_for_the_node_count_raises():
    with pytest.raises(ArcError, match=re.escape(
        "PTB arc has 21 tokens (original encoding, a 11-node cell); expected 23 tokens for a "
        "12-node cell (--child_rhn_depth=12)."
    )):
        PtbArc.parse(PTB_FINAL_ARC.rsplit(" ", 2)[0], num_nodes=12)
    with pytest.raises(ArcError, match=re.escape(
        "PTB arc has 16 tokens (enas_lm encoding, a 9-node cell); expected 18 tokens for a "
        "10-node cell (--controller_num_layers=9)."
    )):
        PtbArc.parse(PTB_ENAS_LM_ARC, num_nodes=10)
    assert PtbArc.parse(PTB_ENAS_LM_ARC, num_nodes=9).num_nodes == 9


def test_unknown_format_and_bad_arrays_raise():
    with pytest.raises(ArcError, match="unknown PTB arc_format 'lm'; expected one of 'auto'"):
        PtbArc.parse(PTB_FINAL_ARC, "lm")
    with pytest.raises(ArcError, match="expected one of 'original', 'enas_lm'"):
        PtbArc.parse(PTB_FINAL_ARC).format("auto")
    with pytest.raises(ArcError, match=r"PTB arc array has shape \(2, 2\)"):
        PtbArc.from_flat(np.zeros((2, 2), np.int32))


def test_cells_without_an_enas_lm_rendering_raise():
    relu_node_0 = PtbArc.parse("1 0 0 0 1")
    assert relu_node_0.format("original") == "1 0 0 0 1"
    with pytest.raises(ArcError, match=re.escape(
        "PTB cell node 0 uses relu (original token 0 = 1); the enas_lm encoding cannot express "
        "it, because its node 0 is implicit and always tanh."
    )):
        relu_node_0.to_enas_lm()
    with pytest.raises(ArcError, match="node 0 is implicit and always tanh"):
        relu_node_0.describe("enas_lm")
    with pytest.raises(ArcError, match="PTB cell has only node 0; the enas_lm encoding needs"):
        PtbArc.parse("0").format("enas_lm")


def test_construction_and_validate_errors():
    with pytest.raises(ArcError, match="needs at least one node"):
        PtbArc(activations=(), predecessors=())
    with pytest.raises(ArcError, match="has 2 activations but 1 predecessors"):
        PtbArc(activations=(0, 1), predecessors=(-1,))
    with pytest.raises(ArcError, match="node 0 has predecessor 0; expected -1"):
        PtbArc(activations=(0, 1), predecessors=(0, 0)).validate()
    with pytest.raises(ArcError, match=re.escape(
        "PTB arc token 3 (2) in node 2 (original encoding): expected a predecessor in 0..1"
    )):
        PtbArc(activations=(0, 0, 0), predecessors=(-1, 0, 2)).validate()
    with pytest.raises(ArcError, match="token 4 \\(7\\) in node 2 .* activation id in 0..3"):
        PtbArc(activations=(0, 0, 7), predecessors=(-1, 0, 1)).validate()
    # Construction converts NumPy integers to Python ints.
    arc = PtbArc(activations=np.array([0, 1]), predecessors=np.array([-1, 0]))
    assert arc.activations == (0, 1) and type(arc.predecessors[1]) is int


# --- loose ends -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, loose",
    [
        ("0", (0,)),  # Node 0 alone is its own output.
        ("0 0 0", (1,)),
        ("0 0 0 1 0 1 0", (2, 3)),  # Nodes 2 and 3 both read node 1.
        ("0 0 0 1 0 2 0", (3,)),  # A chain.
        ("0 0 0 0 0 0 0", (1, 2, 3)),  # Every node reads node 0.
    ],
)
def test_loose_ends(text, loose):
    assert PtbArc.parse(text).loose_ends() == loose
