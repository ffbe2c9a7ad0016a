"""Tests of enas_tf2.arch's micro encoding: parse / format round trips, loose ends and errors."""

import re

import numpy as np
import pytest

from enas_tf2 import arch
from enas_tf2.arch import (
    MICRO_FINAL_ARC,
    MICRO_NORMAL_FINAL_ARC,
    MICRO_OP_NAMES,
    MICRO_REDUCE_FINAL_ARC,
    MicroArc,
    MicroCell,
)
from enas_tf2.errors import ArcError

#: ENAS_SPEC.md 2.4, micro final table: (cell, node, input 1, op 1, input 2, op 2).
FINAL_TABLE = (
    ("normal", 2, 0, "avg_pool_3x3", 0, "sep_conv_3x3"),
    ("normal", 3, 0, "identity", 0, "sep_conv_5x5"),
    ("normal", 4, 0, "identity", 1, "sep_conv_5x5"),
    ("normal", 5, 1, "sep_conv_3x3", 0, "sep_conv_5x5"),
    ("normal", 6, 0, "avg_pool_3x3", 1, "sep_conv_5x5"),
    ("reduction", 2, 1, "sep_conv_3x3", 1, "sep_conv_3x3"),
    ("reduction", 3, 0, "max_pool_3x3", 0, "avg_pool_3x3"),
    ("reduction", 4, 1, "sep_conv_5x5", 3, "sep_conv_5x5"),
    ("reduction", 5, 1, "sep_conv_3x3", 0, "identity"),
    ("reduction", 6, 0, "max_pool_3x3", 1, "sep_conv_5x5"),
)

#: A B=2 arc: normal (0 avg, 0 sep3) (1 id, 2 sep5); reduction (1 sep3, 1 sep3) (0 max, 0 avg).
SMALL = "0 2 0 0 1 4 2 1  1 0 1 0 0 3 0 2"


def random_micro_arc(rng: np.random.Generator, num_blocks: int) -> MicroArc:
    def cell():
        return MicroCell(blocks=tuple(
            (
                rng.integers(0, block + 2), rng.integers(0, 5),
                rng.integers(0, block + 2), rng.integers(0, 5),
            )
            for block in range(num_blocks)
        ))

    return MicroArc(normal=cell(), reduction=cell())


def final_with(index: int, value: object) -> list[object]:
    flat: list[object] = MicroArc.parse(MICRO_FINAL_ARC).to_flat()
    flat[index] = value
    return flat


# --- constants and lengths --------------------------------------------------------------------


def test_op_names_in_original_id_order():
    assert MICRO_OP_NAMES == (
        "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity"
    )


def test_final_arc_constants_match_spec():
    assert MICRO_NORMAL_FINAL_ARC == "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1"
    assert MICRO_REDUCE_FINAL_ARC == "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"
    assert MICRO_FINAL_ARC == f"{MICRO_NORMAL_FINAL_ARC} {MICRO_REDUCE_FINAL_ARC}"


def test_micro_lengths():
    assert arch.micro_cell_length(5) == 20
    assert arch.micro_arc_length(5) == 40
    assert [arch.micro_arc_length(b) for b in range(4)] == [0, 8, 16, 24]
    with pytest.raises(ArcError, match=re.escape("num_blocks must be >= 0; got -1.")):
        arch.micro_arc_length(-1)
    with pytest.raises(ArcError, match=re.escape("num_blocks must be >= 0; got -3.")):
        arch.micro_cell_length(-3)


# --- the final arc -----------------------------------------------------------------------------


def test_final_arc_parses_to_spec_table():
    arc = MicroArc.parse(MICRO_FINAL_ARC, num_blocks=5)
    assert arc == MicroArc.parse(MICRO_FINAL_ARC)
    assert arc.num_blocks == 5 and arc.cells == (arc.normal, arc.reduction)
    assert str(arc.normal) == MICRO_NORMAL_FINAL_ARC
    assert str(arc.reduction) == MICRO_REDUCE_FINAL_ARC
    rows = []
    for name, cell in zip(arch.MICRO_CELL_NAMES, arc.cells):
        for block, (index_1, op_1, index_2, op_2) in enumerate(cell.blocks):
            rows.append((
                name, block + 2, index_1, MICRO_OP_NAMES[op_1], index_2, MICRO_OP_NAMES[op_2]
            ))
    assert tuple(rows) == FINAL_TABLE


def test_final_arc_loose_ends():
    arc = MicroArc.parse(MICRO_FINAL_ARC)
    assert arc.normal.loose_ends() == (2, 3, 4, 5, 6)
    assert arc.reduction.loose_ends() == (2, 4, 5, 6)


def test_final_cell_describe_matches_table_rows():
    arc = MicroArc.parse(MICRO_FINAL_ARC)
    expected = {
        name: "\n".join(
            f"node {node}: {i1} -> {o1}, {i2} -> {o2}"
            for cell, node, i1, o1, i2, o2 in FINAL_TABLE
            if cell == name
        )
        for name in ("normal", "reduction")
    }
    assert arc.normal.describe() == expected["normal"]
    assert arc.reduction.describe() == expected["reduction"]
    assert arc.normal.describe("normal").splitlines()[0] == (
        "normal node 2: 0 -> avg_pool_3x3, 0 -> sep_conv_3x3"
    )


def test_loose_ends_include_unused_inputs():
    # Node 0 is never read; node 1 is read, node 2 read by block 1, node 3 is the last block.
    cell = MicroCell(blocks=((1, 0, 1, 0), (2, 4, 1, 1)))
    assert cell.loose_ends() == (0, 3)


# --- round trips ----------------------------------------------------------------------------------


def test_str_and_flat_round_trips_are_exact():
    arc = MicroArc.parse(MICRO_FINAL_ARC)
    assert str(arc) == MICRO_FINAL_ARC
    assert MicroArc.parse(str(arc)) == arc
    assert arc.to_flat() == [int(token) for token in MICRO_FINAL_ARC.split()]
    array = arc.to_array()
    assert array.dtype == np.int32 and array.shape == (40,)
    assert MicroArc.from_flat(array) == arc
    assert MicroArc.from_flat(arc.to_flat()) == arc
    assert MicroArc.parse(arc.describe()) == arc


@pytest.mark.parametrize("num_blocks", range(1, 7))
def test_random_arcs_round_trip(num_blocks):
    rng = np.random.default_rng(num_blocks)
    for _ in range(25):
        arc = random_micro_arc(rng, num_blocks)
        arc.validate()
        assert MicroArc.parse(str(arc), num_blocks=num_blocks) == arc
        assert MicroArc.parse(str(arc)) == arc
        assert MicroArc.from_flat(arc.to_array()) == arc
        assert MicroArc.parse(arc.describe()) == arc
        assert len(arc.to_flat()) == arch.micro_arc_length(num_blocks)
        assert all(type(value) is int for value in arc.to_flat())


def test_constructor_normalises_to_python_int_tuples():
    cell = MicroCell(blocks=[np.array([0, 2, 1, 4], dtype=np.int64)])
    assert cell.blocks == ((0, 2, 1, 4),)
    assert all(type(value) is int for value in cell.blocks[0])


@pytest.mark.parametrize(
    "text",
    [
        "0,2,0,0,1,4,2,1,1,0,1,0,0,3,0,2",
        "[0 2 0 0 1 4 2 1]\n[1 0 1 0 0 3 0 2]",
        "0 2 0 0  # block 0\n1 4 2 1\n\t1 0 1 0 0 3 0 2  # reduction",
    ],
    ids=["commas", "printed_arrays", "comments"],
)
def test_separators_are_accepted(text):
    assert MicroArc.parse(text) == MicroArc.parse(SMALL)


@pytest.mark.parametrize("num_blocks", [1, 2, 5, 6])
def test_length_inference(num_blocks):
    arc = random_micro_arc(np.random.default_rng(0), num_blocks)
    assert MicroArc.parse(arc.to_flat()).num_blocks == num_blocks


def test_describe_small():
    assert MicroArc.parse(SMALL).describe() == "\n".join([
        "# normal cell: loose ends 3",
        "0 2 0 0  # normal node 2: 0 -> avg_pool_3x3, 0 -> sep_conv_3x3",
        "1 4 2 1  # normal node 3: 1 -> identity, 2 -> sep_conv_5x5",
        "# reduction cell: loose ends 2 3",
        "1 0 1 0  # reduction node 2: 1 -> sep_conv_3x3, 1 -> sep_conv_3x3",
        "0 3 0 2  # reduction node 3: 0 -> max_pool_3x3, 0 -> avg_pool_3x3",
    ])


def test_describe_names_invalid_op():
    cell = MicroCell(blocks=((0, 9, 1, 4),))
    assert cell.describe() == "node 2: 0 -> invalid op 9, 1 -> identity"


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "# only a comment", [], np.array([], dtype=np.int32)])
def test_empty_arc_raises(text):
    with pytest.raises(ArcError, match=re.escape("micro arc is empty; expected 8 * B integers")):
        MicroArc.parse(text)


def test_wrong_length_with_num_blocks_raises():
    message = (
        "micro arc has 38 tokens; expected 40 (4 per block x 5 blocks x 2 cells) for "
        "--child_num_cells=5. Paste the arc printed by the search run, or fix --child_num_cells."
    )
    with pytest.raises(ArcError, match=re.escape(message) + "$"):
        MicroArc.parse(MICRO_FINAL_ARC.split()[:38], num_blocks=5)


def test_wrong_length_names_a_complete_arc_of_another_size():
    arc = random_micro_arc(np.random.default_rng(1), 6)
    with pytest.raises(ArcError, match=re.escape("The 48 tokens form a complete 6-block arc.")):
        MicroArc.parse(str(arc), num_blocks=5)


def test_one_cell_only_is_named():
    message = (
        "micro arc has 20 tokens; expected 40 (4 per block x 5 blocks x 2 cells) for "
        "--child_num_cells=5. Paste the arc printed by the search run, or fix --child_num_cells. "
        "The 20 tokens are one 5-block cell; a micro arc is the normal cell followed by the "
        "reduction cell."
    )
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc.parse(MICRO_NORMAL_FINAL_ARC, num_blocks=5)
    with pytest.raises(ArcError, match=re.escape("The 20 tokens are one 5-block cell")):
        MicroArc.parse(MICRO_NORMAL_FINAL_ARC)


@pytest.mark.parametrize(
    "num_tokens, nearest",
    [
        (3, "the nearest valid length is 8 (B=1)."),
        (38, "the nearest valid lengths are 32 (B=4) and 40 (B=5)."),
        (41, "the nearest valid lengths are 40 (B=5) and 48 (B=6)."),
    ],
)
def test_inferred_length_not_a_multiple_of_8_raises(num_tokens, nearest):
    message = (
        f"micro arc has {num_tokens} tokens, which is not a multiple of 8 (4 per block x B blocks "
        f"x 2 cells); {nearest} Paste the whole arc printed by the search run."
    )
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc.parse(["0"] * num_tokens)


@pytest.mark.parametrize("num_blocks", [0, -1])
def test_bad_num_blocks_raises(num_blocks):
    message = f"--child_num_cells must be >= 1; got {num_blocks}."
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc.parse(MICRO_FINAL_ARC, num_blocks=num_blocks)


@pytest.mark.parametrize(
    "index, value, message",
    [
        (13, 7, "micro arc token 13 (7) in the normal cell, block 3: expected an op id in 0..4"),
        (15, -1, "micro arc token 15 (-1) in the normal cell, block 3: expected an op id in 0..4"),
        (
            12, 5,
            "micro arc token 12 (5) in the normal cell, block 3: expected an input index in 0..4 "
            "(an earlier node of block 3)",
        ),
        (
            2, 2,
            "micro arc token 2 (2) in the normal cell, block 0: expected an input index in 0..1 "
            "(an earlier node of block 0)",
        ),
        (
            20, -1,
            "micro arc token 20 (-1) in the reduction cell, block 0: expected an input index in "
            "0..1 (an earlier node of block 0)",
        ),
        (
            39, 5,
            "micro arc token 39 (5) in the reduction cell, block 4: expected an op id in 0..4 "
            "(sep_conv_3x3, sep_conv_5x5, avg_pool_3x3, max_pool_3x3, identity).",
        ),
        (
            34, 6,
            "micro arc token 34 (6) in the reduction cell, block 3: expected an input index in "
            "0..4 (an earlier node of block 3).",
        ),
    ],
)
def test_out_of_range_token_raises(index, value, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc.parse(final_with(index, value))
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc.parse(" ".join(str(token) for token in final_with(index, value)))


def test_largest_values_are_accepted():
    # Block 4 may read node 5 (its last earlier node); op 4 (identity) is the largest op id.
    arc = MicroArc.parse(final_with(19, 4)[:16] + [5, 2, 1, 4] + final_with(19, 4)[20:])
    assert arc.normal.blocks[4] == (5, 2, 1, 4)
    assert arc.normal.loose_ends() == (2, 3, 4, 6)


@pytest.mark.parametrize(
    "token, message",
    [
        ("x", "micro arc token 5 ('x') in the normal cell, block 1: expected an op id in 0..4"),
        ("1.0", "micro arc token 5 ('1.0') in the normal cell, block 1: expected an op id"),
        (1.0, "micro arc token 5 (1.0) in the normal cell, block 1: expected an op id"),
    ],
)
def test_non_integer_token_raises(token, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc.parse(final_with(5, token))


def test_non_integer_string_token_raises():
    message = "micro arc token 0 ('a') in the normal cell, block 0: expected an input index in 0..1"
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc.parse("a " + " ".join(MICRO_FINAL_ARC.split()[1:]))


def test_non_integer_array_raises():
    with pytest.raises(ArcError, match=re.escape("micro arc token 0 (0.5) in the normal cell")):
        MicroArc.from_flat(np.full(8, 0.5))


def test_non_flat_array_raises():
    message = "micro arc array has shape (2, 20); expected a 1-D array of integers"
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc.from_flat(MicroArc.parse(MICRO_FINAL_ARC).to_array().reshape(2, 20))


def test_validate_names_cell_block_and_token():
    final = MicroArc.parse(MICRO_FINAL_ARC)
    final.validate()
    blocks = final.reduction.blocks
    reduction = MicroCell(blocks=blocks[:3] + ((1, 0, 0, 8),) + blocks[4:])
    arc = MicroArc(normal=final.normal, reduction=reduction)
    message = "micro arc token 35 (8) in the reduction cell, block 3: expected an op id in 0..4"
    with pytest.raises(ArcError, match=re.escape(message)):
        arc.validate()
    normal = MicroCell(blocks=((0, 0, 2, 0),))
    message = (
        "micro arc token 2 (2) in the normal cell, block 0: expected an input index in 0..1 "
        "(an earlier node of block 0)."
    )
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc(normal=normal, reduction=MicroCell(blocks=((0, 0, 0, 0),))).validate()
    with pytest.raises(ArcError, match=re.escape("token 6 (2) in the reduction cell, block 0")):
        normal.validate("reduction", first_token=4)


@pytest.mark.parametrize(
    "blocks, message",
    [
        ((), "a micro cell needs at least one block; got blocks=()."),
        (((0, 0, 0),), "micro cell block 0 has 3 values; expected exactly 4"),
        (((0, 0, 0, 0), (0, 0, 0, 0, 0)), "micro cell block 1 has 5 values; expected exactly 4"),
    ],
    ids=["empty", "short_block", "long_block"],
)
def test_malformed_cell_raises(blocks, message):
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroCell(blocks=blocks)


def test_cells_with_different_block_counts_raise():
    message = "micro arc normal cell has 2 blocks but the reduction cell has 1"
    with pytest.raises(ArcError, match=re.escape(message)):
        MicroArc(
            normal=MicroCell(blocks=((0, 0, 0, 0), (0, 0, 0, 0))),
            reduction=MicroCell(blocks=((0, 0, 0, 0),)),
        )


def test_cell_must_be_a_micro_cell():
    with pytest.raises(ArcError, match=re.escape("micro arc reduction cell must be a MicroCell")):
        MicroArc(normal=MicroCell(blocks=((0, 0, 0, 0),)), reduction=((0, 0, 0, 0),))


def test_macro_parse_still_rejects_a_micro_arc_length():
    # 40 is not triangular: the macro parser must keep its own message.
    with pytest.raises(ArcError, match="macro arc has 40 tokens"):
        arch.MacroArc.parse(MICRO_FINAL_ARC)
