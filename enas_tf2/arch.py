"""Architecture encodings: parse, validate, format and describe one arc per search space.

An architecture ("arc") is plain data that can be pasted from one run into the next (the
DARTS `genotypes.py` habit): the search prints it, the final-training script takes it as
`--child_fixed_arc`, and the supernet receives the same flat integer list as an int32 tensor.
Each search space has one frozen dataclass here with the same interface:

* `parse(text)` / `from_flat(values)`: build from the original's flat encoding (a string, or
  the int32 array a controller sampled), raising `ArcError` with the bad token, its position
  and the expected form;
* `validate()`, `to_flat()`, `to_array()`, `str()` (the original's one-line format, so
  `parse(str(arc)) == arc`) and `describe()` (one row per layer / cell, as the original prints).

This module is pure Python + NumPy: it never imports TensorFlow or Keras, so flags, tests and
export code can handle arcs without building a graph.

Spaces: macro (CIFAR "general" space, ENAS_SPEC.md 2.1, `MacroArc`) and micro (CIFAR cell
space, 2.2, `MicroArc` of two `MicroCell`s) and the PTB recurrent cell (2.3 and ENAS_PTB_SPEC.md
2.2/3.1, `PtbArc`, in both the original and the enas_lm encoding).
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from typing import Sequence

import numpy as np

from enas_tf2.errors import ArcError

# ---------------------------------------------------------------------------------------------
# Shared token helpers (every space).
# ---------------------------------------------------------------------------------------------

#: Separators accepted between tokens: whitespace, commas and square brackets, so the string of
#: a bash script, a Python list and the original's printed rows (`[0]\n[3 0]\n...`) all parse.
_SEPARATORS = re.compile(r"[\s,\[\]]+")
#: A `#` starts a comment that runs to the end of the line (`describe(op_names=True)` uses it).
_COMMENT = re.compile(r"#[^\n]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _split_tokens(text: str) -> list[str]:
    """Splits an arc string into raw tokens (comments dropped, separators collapsed)."""
    return [token for token in _SEPARATORS.split(_COMMENT.sub(" ", text)) if token]


def _flat_tokens(values: str | Sequence[int] | np.ndarray, space: str) -> list[object]:
    """Returns the raw tokens of a string, a flat sequence or a 1-D array.

    Raises:
        ArcError: `values` is an array that is not 1-D.
    """
    if isinstance(values, str):
        return _split_tokens(values)
    if isinstance(values, (list, tuple)):
        return list(values)
    array = np.asarray(values)
    if array.ndim != 1:
        raise ArcError(
            f"{space} arc array has shape {array.shape}; expected a 1-D array of integers "
            "(one architecture, in the original flat encoding)."
        )
    return array.tolist()


def _as_int(token: object) -> int | None:
    """Returns the integer value of a token, or None if it is not an integer."""
    if isinstance(token, str):
        return int(token) if _INTEGER.fullmatch(token) else None
    try:
        return operator.index(token)  # ints, NumPy integers; rejects floats.
    except TypeError:
        return None


# ---------------------------------------------------------------------------------------------
# Macro space (ENAS_SPEC.md 2.1.1, whole-channels mode).
# ---------------------------------------------------------------------------------------------

#: Macro op names; the index is the original op id (ENAS_SPEC.md 2.1.1).
MACRO_OP_NAMES: tuple[str, ...] = (
    "conv_3x3",
    "sep_conv_3x3",
    "conv_5x5",
    "sep_conv_5x5",
    "avg_pool_3x3",
    "max_pool_3x3",
)

#: The `--child_num_branches` values the macro space supports: the first 4, 5 or 6 ops.
MACRO_NUM_BRANCHES: tuple[int, ...] = (4, 5, 6)

#: The fixed architecture of the original `cifar10_macro_final.sh` (24 layers, 300 ints, 98 skips;
#: ENAS_SPEC.md 2.4), one layer per string: op id, then the layer's skip bits (bit j = node j).
MACRO_FINAL_ARC: str = " ".join((
    "0",
    "3 0",
    "0 1 0",
    "2 0 0 1",
    "2 0 0 0 0",
    "3 1 1 0 1 0",
    "2 0 0 0 0 0 1",
    "2 0 1 1 0 1 1 1",
    "1 0 1 1 1 0 1 0 1",
    "0 0 0 0 0 0 0 0 0 0",
    "2 0 0 0 0 0 1 0 0 0 0",
    "0 1 0 0 1 1 0 0 0 0 1 1",
    "2 0 1 0 0 0 0 0 1 0 1 1 0",
    "1 0 0 1 0 0 0 1 1 1 0 1 0 1",
    "0 1 1 0 1 0 1 0 0 0 0 0 1 0 0",
    "2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1",
    "2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0",
    "2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1",
    "3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0",
    "3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1",
    "0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0",
    "3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0",
    "0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0",
    "0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0",
))


def macro_arc_length(num_layers: int) -> int:
    """Returns the flat macro arc length `L + L(L-1)/2` (78 for L=12, 300 for L=24).

    Args:
        num_layers: the number of layers `L` (`--child_num_layers`), >= 0.

    Raises:
        ArcError: `num_layers` is negative.
    """
    if num_layers < 0:
        raise ArcError(f"num_layers must be >= 0; got {num_layers}.")
    return num_layers + num_layers * (num_layers - 1) // 2


def macro_layer_offset(layer: int) -> int:
    """Returns the index of layer `layer`'s op id in the flat macro encoding: `l + l(l-1)/2`.

    Layer `l` occupies `[offset, offset + 1 + l)`: its op id, then its `l` skip bits.
    `macro_layer_offset(L) == macro_arc_length(L)`.

    Raises:
        ArcError: `layer` is negative.
    """
    if layer < 0:
        raise ArcError(f"layer must be >= 0; got {layer}.")
    return macro_arc_length(layer)


def _check_macro_num_branches(num_branches: int) -> None:
    """Raises ArcError unless `num_branches` is 4, 5 or 6."""
    if num_branches not in MACRO_NUM_BRANCHES:
        raise ArcError(
            f"--child_num_branches={num_branches} is not supported by the macro space; expected "
            f"4, 5 or 6 (the first num_branches of {', '.join(MACRO_OP_NAMES)})."
        )


def _macro_token_check(
    index: int, layer: int, slot: int, token: object, num_branches: int
) -> int:
    """Returns the value of flat token `index` (slot 0 = op id, slot j+1 = skip bit j) or raises.

    Raises:
        ArcError: the token is not an integer or is out of range; the message names the token,
            its 0-based index in the flat encoding, its 0-based layer and the expected form.
    """
    value = _as_int(token)
    if slot == 0:
        valid = value is not None and 0 <= value < num_branches
        expected = (
            f"an integer op id in 0..{num_branches - 1} (--child_num_branches={num_branches})"
        )
    else:
        valid = value in (0, 1)
        expected = f"skip bit {slot - 1} (node {slot - 1}) to be 0 or 1"
    if not valid:
        shown = token if value is None else value
        raise ArcError(
            f"macro arc token {index} ({shown!r}) in layer {layer}: expected {expected}."
        )
    return value


def _macro_num_layers_below(num_tokens: int) -> int:
    """Returns the largest L with `macro_arc_length(L) <= num_tokens` (L(L+1)/2 is triangular)."""
    return (math.isqrt(8 * num_tokens + 1) - 1) // 2


def _infer_macro_num_layers(num_tokens: int) -> int:
    """Returns L such that `num_tokens == L(L+1)/2`, or raises naming the nearest valid lengths."""
    num_layers = _macro_num_layers_below(num_tokens)
    if macro_arc_length(num_layers) == num_tokens:
        return num_layers
    below, above = macro_arc_length(num_layers), macro_arc_length(num_layers + 1)
    raise ArcError(
        f"macro arc has {num_tokens} tokens, which is not L + L(L-1)/2 for any number of layers "
        f"L; the nearest valid lengths are {below} (L={num_layers}) and {above} "
        f"(L={num_layers + 1}). Paste the whole arc printed by the search run."
    )


@dataclasses.dataclass(frozen=True)
class MacroArc:
    """A macro (CIFAR "general" space) architecture, ENAS_SPEC.md 2.1.1 (whole-channels mode).

    The child keeps nodes `node_0` = stem output and `node_{k+1}` = output of layer `k`. Layer
    `l` always reads `node_l` as its main input and adds the nodes `j < l` whose skip bit is on:
    bit 0 is the stem, bit `j >= 1` the output of layer `j - 1` (the child's meaning; the
    controller's anchor `j` is layer `j`'s LSTM state, Q-24). The flat encoding, as the
    original prints and reads it, is for each layer its op id then its `l` skip bits, so layer
    `l` starts at `macro_layer_offset(l)` and the total is `macro_arc_length(L)`.

    Construction checks the structure (one op per layer, exactly `l` bits for layer `l`) and
    converts to tuples of Python ints; `validate()` checks the values. The non-whole-channels
    encoding (2.1.2, unused by every script, Q-25) is not supported.

    Attributes:
        ops: op id per layer (length L), an index into `MACRO_OP_NAMES`.
        skips: `skips[l]` has exactly `l` bits (0/1); bit `j` refers to node `j`.

    Example:
        >>> arc = MacroArc.parse("0  1 0  4 1 1")
        >>> arc.ops, arc.skips, arc.skip_sources(2)
        ((0, 1, 4), ((), (0,), (1, 1)), (0, 1))
    """

    ops: tuple[int, ...]
    skips: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        ops = tuple(operator.index(op) for op in self.ops)
        skips = tuple(tuple(operator.index(bit) for bit in bits) for bits in self.skips)
        if not ops:
            raise ArcError("a macro arc needs at least one layer; got ops=().")
        if len(skips) != len(ops):
            raise ArcError(
                f"macro arc has {len(ops)} ops but {len(skips)} skip rows; expected one skip row "
                "per layer (an empty one for layer 0)."
            )
        for layer, bits in enumerate(skips):
            if len(bits) != layer:
                raise ArcError(
                    f"macro arc layer {layer} has {len(bits)} skip bits; expected exactly {layer} "
                    "(bit j = node j, 0 = stem)."
                )
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "skips", skips)

    @classmethod
    def parse(
        cls,
        text: str | Sequence[int] | np.ndarray,
        num_layers: int | None = None,
        num_branches: int = 6,
    ) -> MacroArc:
        """Parses the original flat encoding.

        Tokens may be separated by whitespace (spaces, tabs, newlines), commas and square
        brackets, so the bash script's string, a Python list and the rows the search prints
        (`[0]`, `[3 0]`, `[0 1 0]`, ...) all parse; `#` starts a comment to the end of the line.
        Every token must be an integer.

        Args:
            text: the arc string, or a flat sequence / 1-D array of ints.
            num_layers: `--child_num_layers`; None infers it from the length, which must then
                be triangular (`L(L+1)/2`).
            num_branches: `--child_num_branches` (4, 5 or 6): op ids must be below it.

        Returns:
            The validated arc.

        Raises:
            ArcError: the arc is empty, has the wrong length, or a token is not an integer or
                out of range (the message names the token, its index and layer); or
                `num_layers` / `num_branches` is invalid.
        """
        _check_macro_num_branches(num_branches)
        tokens = _flat_tokens(text, "macro")
        if not tokens:
            raise ArcError(
                "macro arc is empty; expected L + L(L-1)/2 integers (78 for "
                "--child_num_layers=12, 300 for 24): per layer l, its op id then l skip bits."
            )
        if num_layers is None:
            num_layers = _infer_macro_num_layers(len(tokens))
        elif num_layers < 1:
            raise ArcError(f"--child_num_layers must be >= 1; got {num_layers}.")
        else:
            expected = macro_arc_length(num_layers)
            if len(tokens) != expected:
                message = (
                    f"macro arc has {len(tokens)} tokens; expected {expected} (L + L(L-1)/2) for "
                    f"--child_num_layers={num_layers}. Paste the arc printed by the search run, "
                    "or fix --child_num_layers."
                )
                inferred = _macro_num_layers_below(len(tokens))
                if macro_arc_length(inferred) == len(tokens):
                    message += f" The {len(tokens)} tokens form a complete {inferred}-layer arc."
                raise ArcError(message)

        ops, skips = [], []
        for layer in range(num_layers):
            offset = macro_layer_offset(layer)
            row = [
                _macro_token_check(offset + slot, layer, slot, tokens[offset + slot], num_branches)
                for slot in range(layer + 1)
            ]
            ops.append(row[0])
            skips.append(tuple(row[1:]))
        return cls(ops=tuple(ops), skips=tuple(skips))

    @classmethod
    def from_flat(cls, values: Sequence[int] | np.ndarray, num_branches: int = 6) -> MacroArc:
        """Builds an arc from a flat 1-D sequence or array, e.g. the int32 arc a controller sampled.

        The number of layers is inferred from the length (see `parse`).

        Raises:
            ArcError: as `parse`, or the array is not 1-D.
        """
        return cls.parse(values, num_layers=None, num_branches=num_branches)

    def validate(self, num_branches: int = 6) -> None:
        """Checks op ids are in `0..num_branches-1` and skip bits are 0 or 1.

        Raises:
            ArcError: the first bad value, named by token index and layer as in `parse`.
        """
        _check_macro_num_branches(num_branches)
        for layer in range(self.num_layers):
            offset = macro_layer_offset(layer)
            for slot, value in enumerate((self.ops[layer], *self.skips[layer])):
                _macro_token_check(offset + slot, layer, slot, value, num_branches)

    @property
    def num_layers(self) -> int:
        """The number of layers `L`."""
        return len(self.ops)

    @property
    def num_skips(self) -> int:
        """The number of skip bits that are on."""
        return sum(sum(bits) for bits in self.skips)

    @property
    def skip_rate(self) -> float:
        """`num_skips / (L(L-1)/2)`, the controller's skip rate (ENAS_SPEC.md 6.2); 0 if L == 1."""
        num_candidates = self.num_layers * (self.num_layers - 1) // 2
        return self.num_skips / num_candidates if num_candidates else 0.0

    def skip_sources(self, layer: int) -> tuple[int, ...]:
        """Returns the nodes `j` (ascending) whose skip bit is on in `layer` (0 = stem).

        Raises:
            IndexError: `layer` is not in `0..L-1`.
        """
        if not 0 <= layer < self.num_layers:
            raise IndexError(
                f"layer {layer} is out of range for a {self.num_layers}-layer macro arc."
            )
        return tuple(node for node, bit in enumerate(self.skips[layer]) if bit)

    def to_flat(self) -> list[int]:
        """Returns the original flat encoding: per layer, its op id then its skip bits."""
        return [value for op, bits in zip(self.ops, self.skips) for value in (op, *bits)]

    def to_array(self) -> np.ndarray:
        """Returns the flat encoding as an int32 array of shape `[L + L(L-1)/2]`."""
        return np.asarray(self.to_flat(), dtype=np.int32)

    def __str__(self) -> str:
        """The flat encoding on one line, space separated: `parse(str(arc)) == arc`."""
        return " ".join(str(value) for value in self.to_flat())

    def describe(self, op_names: bool = False) -> str:
        """Returns one row per layer as the original search prints them: `[op skip bits]`.

        Args:
            op_names: append `# layer l: <op name>, skips from nodes j ...` to each row. The
                comment is ignored by `parse`, so the output parses back either way.

        Example:
            >>> print(MacroArc.parse("0  1 0  4 1 1").describe())
            [0]
            [1 0]
            [4 1 1]
        """
        rows = [
            "[" + " ".join(str(value) for value in (op, *bits)) + "]"
            for op, bits in zip(self.ops, self.skips)
        ]
        if not op_names:
            return "\n".join(rows)
        width = max(len(row) for row in rows)
        lines = []
        for layer, row in enumerate(rows):
            op = self.ops[layer]
            name = MACRO_OP_NAMES[op] if 0 <= op < len(MACRO_OP_NAMES) else f"invalid op {op}"
            comment = f"# layer {layer}: {name}"
            sources = self.skip_sources(layer)
            if sources:
                comment += ", skips from nodes " + " ".join(str(node) for node in sources)
            lines.append(f"{row:<{width}}  {comment}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Micro space (ENAS_SPEC.md 2.2): a normal cell then a reduction cell.
# ---------------------------------------------------------------------------------------------

#: Micro op names; the index is the original op id (ENAS_SPEC.md 2.2).
MICRO_OP_NAMES: tuple[str, ...] = (
    "sep_conv_3x3",
    "sep_conv_5x5",
    "avg_pool_3x3",
    "max_pool_3x3",
    "identity",
)

#: The normal cell of the original `cifar10_micro_final.sh` (B=5, 20 ints; ENAS_SPEC.md 2.4).
MICRO_NORMAL_FINAL_ARC: str = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1"
#: The reduction cell of the original `cifar10_micro_final.sh` (B=5, 20 ints).
MICRO_REDUCE_FINAL_ARC: str = "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"
#: The whole `--child_fixed_arc` of `cifar10_micro_final.sh`: normal cell, then reduction (40 ints).
MICRO_FINAL_ARC: str = f"{MICRO_NORMAL_FINAL_ARC} {MICRO_REDUCE_FINAL_ARC}"

#: The cells of a micro arc, in the order of the flat encoding.
MICRO_CELL_NAMES: tuple[str, ...] = ("normal", "reduction")

#: Flat tokens per block: `(index_1, op_1, index_2, op_2)`.
_MICRO_BLOCK_LENGTH = 4


def micro_cell_length(num_blocks: int) -> int:
    """Returns the flat length of one micro cell, `4 * B` (20 for B=5).

    Raises:
        ArcError: `num_blocks` is negative.
    """
    if num_blocks < 0:
        raise ArcError(f"num_blocks must be >= 0; got {num_blocks}.")
    return _MICRO_BLOCK_LENGTH * num_blocks


def micro_arc_length(num_blocks: int) -> int:
    """Returns the flat length of a whole micro arc (both cells), `8 * B` (40 for B=5).

    Args:
        num_blocks: blocks per cell `B` (`--child_num_cells`), >= 0.

    Raises:
        ArcError: `num_blocks` is negative.
    """
    return len(MICRO_CELL_NAMES) * micro_cell_length(num_blocks)


def _micro_token_check(index: int, cell_name: str, block: int, slot: int, token: object) -> int:
    """Returns the value of flat token `index` (slot 0/2 = input index, 1/3 = op id) or raises.

    Raises:
        ArcError: the token is not an integer or is out of range; the message names the token,
            its 0-based index in the flat encoding, the cell, the 0-based block and the
            expected form.
    """
    value = _as_int(token)
    if slot % 2 == 0:
        valid = value is not None and 0 <= value <= block + 1
        expected = f"an input index in 0..{block + 1} (an earlier node of block {block})"
    else:
        valid = value is not None and 0 <= value < len(MICRO_OP_NAMES)
        expected = f"an op id in 0..{len(MICRO_OP_NAMES) - 1} ({', '.join(MICRO_OP_NAMES)})"
    if not valid:
        shown = token if value is None else value
        raise ArcError(
            f"micro arc token {index} ({shown!r}) in the {cell_name} cell, block {block}: "
            f"expected {expected}."
        )
    return value


def _micro_length_message(num_tokens: int) -> str:
    """Returns the hint for a token count that is not a whole micro arc, or ''."""
    per_arc = micro_arc_length(1)
    if num_tokens and num_tokens % per_arc == 0:
        return f" The {num_tokens} tokens form a complete {num_tokens // per_arc}-block arc."
    if num_tokens and num_tokens % micro_cell_length(1) == 0:
        return (
            f" The {num_tokens} tokens are one {num_tokens // micro_cell_length(1)}-block cell; "
            "a micro arc is the normal cell followed by the reduction cell."
        )
    return ""


def _infer_micro_num_blocks(num_tokens: int) -> int:
    """Returns B such that `num_tokens == 8 * B`, or raises naming the nearest valid lengths."""
    per_arc = micro_arc_length(1)
    num_blocks, remainder = divmod(num_tokens, per_arc)
    if remainder == 0:
        return num_blocks
    above = f"{micro_arc_length(num_blocks + 1)} (B={num_blocks + 1})"
    nearest = (
        f"lengths are {micro_arc_length(num_blocks)} (B={num_blocks}) and {above}"
        if num_blocks
        else f"length is {above}"
    )
    raise ArcError(
        f"micro arc has {num_tokens} tokens, which is not a multiple of {per_arc} (4 per block x "
        f"B blocks x 2 cells); the nearest valid {nearest}. Paste the whole arc printed by the "
        f"search run.{_micro_length_message(num_tokens)}"
    )


@dataclasses.dataclass(frozen=True)
class MicroCell:
    """One micro cell (normal or reduction), ENAS_SPEC.md 2.2.

    Nodes: 0 = prev-prev cell output, 1 = prev cell output, `k + 2` = block `k`. Block `k` is
    `(index_1, op_1, index_2, op_2)` with each index in `0..k+1` (an earlier node) and each op
    an index into `MICRO_OP_NAMES`; its node is `op_1(node[index_1]) + op_2(node[index_2])`.

    Construction checks the structure (at least one block, 4 values per block) and converts to
    tuples of Python ints; `validate()` checks the values.

    Attributes:
        blocks: `blocks[k] = (index_1, op_1, index_2, op_2)` for node `k + 2`.

    Example:
        >>> cell = MicroCell(blocks=((0, 2, 0, 0), (1, 4, 2, 1)))
        >>> cell.num_blocks, cell.loose_ends()
        (2, (3,))
        >>> print(cell.describe("normal"))
        normal node 2: 0 -> avg_pool_3x3, 0 -> sep_conv_3x3
        normal node 3: 1 -> identity, 2 -> sep_conv_5x5
    """

    blocks: tuple[tuple[int, int, int, int], ...]

    def __post_init__(self) -> None:
        blocks = tuple(tuple(operator.index(value) for value in block) for block in self.blocks)
        if not blocks:
            raise ArcError("a micro cell needs at least one block; got blocks=().")
        for block, values in enumerate(blocks):
            if len(values) != _MICRO_BLOCK_LENGTH:
                raise ArcError(
                    f"micro cell block {block} has {len(values)} values; expected exactly 4 "
                    "(index_1, op_1, index_2, op_2)."
                )
        object.__setattr__(self, "blocks", blocks)

    @property
    def num_blocks(self) -> int:
        """The number of blocks `B`."""
        return len(self.blocks)

    def validate(self, cell_name: str = "normal", first_token: int = 0) -> None:
        """Checks every input index is an earlier node and every op id is in `0..4`.

        Args:
            cell_name: the cell's name in error messages ("normal" or "reduction").
            first_token: the flat index of this cell's first token in the whole arc (0 for the
                normal cell, `4 * B` for the reduction cell), for error messages.

        Raises:
            ArcError: the first bad value, named by token index, cell and block as in
                `MicroArc.parse`.
        """
        for block, values in enumerate(self.blocks):
            for slot, value in enumerate(values):
                index = first_token + _MICRO_BLOCK_LENGTH * block + slot
                _micro_token_check(index, cell_name, block, slot, value)

    def loose_ends(self) -> tuple[int, ...]:
        """Returns the nodes in `0..B+1` never used as an input, ascending (ENAS_SPEC.md 5.2/5.3).

        Nodes 0 and 1 can be loose ends (a search-mode cell then reads them into its output).
        """
        used = {values[slot] for values in self.blocks for slot in (0, 2)}
        return tuple(node for node in range(self.num_blocks + 2) if node not in used)

    def to_flat(self) -> list[int]:
        """Returns the cell's flat encoding: `index_1 op_1 index_2 op_2` per block."""
        return [value for values in self.blocks for value in values]

    def __str__(self) -> str:
        """The cell's flat encoding on one line, space separated."""
        return " ".join(str(value) for value in self.to_flat())

    def describe(self, cell_name: str | None = None) -> str:
        """Returns one line per block: `node 2: 0 -> avg_pool_3x3, 0 -> sep_conv_3x3`.

        Args:
            cell_name: if given, prefixes each line (`normal node 2: ...`), as the rows of the
                ENAS_SPEC.md 2.4 table.
        """
        prefix = f"{cell_name} " if cell_name else ""
        lines = []
        for block, (index_1, op_1, index_2, op_2) in enumerate(self.blocks):
            lines.append(
                f"{prefix}node {block + 2}: {index_1} -> {_micro_op_name(op_1)}, "
                f"{index_2} -> {_micro_op_name(op_2)}"
            )
        return "\n".join(lines)


def _micro_op_name(op: int) -> str:
    """Returns the name of a micro op id, or `invalid op <id>`."""
    return MICRO_OP_NAMES[op] if 0 <= op < len(MICRO_OP_NAMES) else f"invalid op {op}"


@dataclasses.dataclass(frozen=True)
class MicroArc:
    """A micro (CIFAR cell space) architecture, ENAS_SPEC.md 2.2: a normal and a reduction cell.

    The flat encoding, as the original prints it and `--child_fixed_arc` takes it, is the normal
    cell's `4 * B` ints followed by the reduction cell's (`micro_arc_length(B)`, 40 for B=5).
    Both cells must have the same number of blocks.

    Attributes:
        normal: the normal cell.
        reduction: the reduction cell.

    Example:
        >>> arc = MicroArc.parse("0 2 0 0 1 4 2 1  1 0 1 0 0 3 0 2")
        >>> arc.num_blocks, arc.normal.loose_ends(), arc.reduction.loose_ends()
        (2, (3,), (2, 3))
        >>> str(arc)
        '0 2 0 0 1 4 2 1 1 0 1 0 0 3 0 2'
    """

    normal: MicroCell
    reduction: MicroCell

    def __post_init__(self) -> None:
        for name, cell in zip(MICRO_CELL_NAMES, (self.normal, self.reduction)):
            if not isinstance(cell, MicroCell):
                raise ArcError(
                    f"micro arc {name} cell must be a MicroCell; got {type(cell).__name__}."
                )
        if self.normal.num_blocks != self.reduction.num_blocks:
            raise ArcError(
                f"micro arc normal cell has {self.normal.num_blocks} blocks but the reduction "
                f"cell has {self.reduction.num_blocks}; both cells must have --child_num_cells "
                "blocks."
            )

    @classmethod
    def parse(
        cls, text: str | Sequence[int] | np.ndarray, num_blocks: int | None = None
    ) -> MicroArc:
        """Parses the original flat encoding: the normal cell, then the reduction cell.

        Tokens may be separated by whitespace, commas and square brackets (so the bash
        script's string, a Python list and the arrays the search prints all parse); `#` starts
        a comment to the end of the line. Every token must be an integer.

        Args:
            text: the arc string, or a flat sequence / 1-D array of ints.
            num_blocks: blocks per cell `B` (`--child_num_cells`); None infers it from the
                length, which must then be a multiple of 8.

        Returns:
            The validated arc.

        Raises:
            ArcError: the arc is empty, has the wrong length, or a token is not an integer or
                out of range (the message names the token, its index, the cell and the block);
                or `num_blocks` is invalid.
        """
        tokens = _flat_tokens(text, "micro")
        if not tokens:
            raise ArcError(
                "micro arc is empty; expected 8 * B integers (40 for --child_num_cells=5): the "
                "normal cell then the reduction cell, per block index_1 op_1 index_2 op_2."
            )
        if num_blocks is None:
            num_blocks = _infer_micro_num_blocks(len(tokens))
        elif num_blocks < 1:
            raise ArcError(f"--child_num_cells must be >= 1; got {num_blocks}.")
        else:
            expected = micro_arc_length(num_blocks)
            if len(tokens) != expected:
                raise ArcError(
                    f"micro arc has {len(tokens)} tokens; expected {expected} (4 per block x "
                    f"{num_blocks} blocks x 2 cells) for --child_num_cells={num_blocks}. Paste "
                    "the arc printed by the search run, or fix --child_num_cells."
                    + _micro_length_message(len(tokens))
                )

        cells = []
        cell_length = micro_cell_length(num_blocks)
        for cell_index, cell_name in enumerate(MICRO_CELL_NAMES):
            blocks = []
            for block in range(num_blocks):
                offset = cell_index * cell_length + _MICRO_BLOCK_LENGTH * block
                blocks.append(tuple(
                    _micro_token_check(offset + slot, cell_name, block, slot, tokens[offset + slot])
                    for slot in range(_MICRO_BLOCK_LENGTH)
                ))
            cells.append(MicroCell(blocks=tuple(blocks)))
        return cls(normal=cells[0], reduction=cells[1])

    @classmethod
    def from_flat(cls, values: Sequence[int] | np.ndarray) -> MicroArc:
        """Builds an arc from a flat 1-D sequence or array, e.g. the int32 arc a controller sampled.

        The number of blocks is inferred from the length (see `parse`).

        Raises:
            ArcError: as `parse`, or the array is not 1-D.
        """
        return cls.parse(values, num_blocks=None)

    @property
    def num_blocks(self) -> int:
        """The number of blocks per cell `B` (`--child_num_cells`)."""
        return self.normal.num_blocks

    @property
    def cells(self) -> tuple[MicroCell, MicroCell]:
        """`(normal, reduction)`, in the order of the flat encoding and `MICRO_CELL_NAMES`."""
        return (self.normal, self.reduction)

    def validate(self) -> None:
        """Checks both cells' values (input indices and op ids).

        Raises:
            ArcError: the first bad value, named by token index, cell and block as in `parse`.
        """
        cell_length = micro_cell_length(self.num_blocks)
        for cell_index, (name, cell) in enumerate(zip(MICRO_CELL_NAMES, self.cells)):
            cell.validate(name, cell_index * cell_length)

    def to_flat(self) -> list[int]:
        """Returns the original flat encoding: the normal cell's ints, then the reduction cell's."""
        return self.normal.to_flat() + self.reduction.to_flat()

    def to_array(self) -> np.ndarray:
        """Returns the flat encoding as an int32 array of shape `[8 * B]`."""
        return np.asarray(self.to_flat(), dtype=np.int32)

    def __str__(self) -> str:
        """The flat encoding on one line, space separated: `parse(str(arc)) == arc`."""
        return " ".join(str(value) for value in self.to_flat())

    def describe(self) -> str:
        """Returns one line per block, its four ints then a `#` comment naming node, inputs and ops.

        Each cell starts with a comment line giving its loose ends. Comments are ignored by
        `parse`, so `MicroArc.parse(arc.describe()) == arc`.

        Example:
            >>> print(MicroArc.parse("0 2 0 0 1 4 2 1  1 0 1 0 0 3 0 2").describe())
            # normal cell: loose ends 3
            0 2 0 0  # normal node 2: 0 -> avg_pool_3x3, 0 -> sep_conv_3x3
            1 4 2 1  # normal node 3: 1 -> identity, 2 -> sep_conv_5x5
            # reduction cell: loose ends 2 3
            1 0 1 0  # reduction node 2: 1 -> sep_conv_3x3, 1 -> sep_conv_3x3
            0 3 0 2  # reduction node 3: 0 -> max_pool_3x3, 0 -> avg_pool_3x3
        """
        rows = [
            " ".join(str(value) for value in values)
            for cell in self.cells
            for values in cell.blocks
        ]
        width = max(len(row) for row in rows)
        lines, rows_left = [], iter(rows)
        for name, cell in zip(MICRO_CELL_NAMES, self.cells):
            loose = " ".join(str(node) for node in cell.loose_ends())
            lines.append(f"# {name} cell: loose ends {loose}")
            for comment in cell.describe(name).split("\n"):
                lines.append(f"{next(rows_left):<{width}}  # {comment}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# PTB recurrent cell (ENAS_SPEC.md 2.3 / 2.4; ENAS_PTB_SPEC.md 2.2 and 3.1): two encodings.
# ---------------------------------------------------------------------------------------------

#: PTB activation names; the index is the canonical activation id used by `PtbArc`, which is the
#: original encoding's id (ENAS_SPEC.md 2.3: 0 tanh, 1 ReLU, 2 identity, 3 sigmoid).
PTB_ACTIVATION_NAMES: tuple[str, ...] = ("tanh", "relu", "identity", "sigmoid")

#: The same four activations in the order of the enas_lm encoding's ids (ENAS_PTB_SPEC.md 3.1:
#: 0 tanh, 1 ReLU, 2 sigmoid, 3 identity): ids 2 and 3 are swapped relative to the original.
PTB_ENAS_LM_ACTIVATION_NAMES: tuple[str, ...] = ("tanh", "relu", "sigmoid", "identity")

#: `arc_format` values: "auto" decides by token-count parity (odd = original, even = enas_lm).
PTB_ARC_FORMATS: tuple[str, ...] = ("auto", "original", "enas_lm")

#: `PtbArc.predecessors[0]`: node 0 reads no earlier node but the cell inputs `[x_t ; h_{t-1}]`.
PTB_CELL_INPUT: int = -1

#: The `--child_fixed_arc` of the original `ptb_final.sh` and the seed README, original encoding:
#: 12 nodes (23 tokens), loose ends {3, 4, 7, 9, 10, 11} (ENAS_SPEC.md 2.4).
PTB_FINAL_ARC: str = "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"

#: The cell of the enas_lm README (`fixed.py --fixed_arc`), enas_lm encoding: L = 8 nodes after
#: the implicit node 0 (16 tokens), loose ends {7, 8} (ENAS_PTB_SPEC.md 2.2).
PTB_ENAS_LM_ARC: str = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"

#: The DARTS cell as the enas_lm README writes it, enas_lm encoding (ENAS_PTB_SPEC.md 2.2).
PTB_DARTS_ARC: str = "0 2 1 1 1 1 1 3 2 0 5 2 3 0 5 1"

#: enas_lm activation id -> canonical (original) id, and back: the map swaps 2 and 3, so it is
#: its own inverse.
_PTB_ENAS_LM_SWAP: tuple[int, ...] = (0, 1, 3, 2)

#: How each encoding lays out its tokens, for error messages.
_PTB_FORMAT_HELP = {
    "original": (
        "the original encoding has 2N-1 tokens for an N-node cell (23 for "
        "--child_rhn_depth=12): f_0, then p_l f_l for l = 1..N-1"
    ),
    "enas_lm": (
        "the enas_lm encoding has 2L tokens for L nodes after the implicit node 0 (16 for the "
        "enas_lm README cell): p_l f_l for l = 1..L"
    ),
}


def _check_ptb_arc_format(arc_format: str, allow_auto: bool) -> None:
    """Raises ArcError unless `arc_format` names an encoding ("auto" only if `allow_auto`)."""
    allowed = PTB_ARC_FORMATS if allow_auto else PTB_ARC_FORMATS[1:]
    if arc_format not in allowed:
        raise ArcError(
            f"unknown PTB arc_format {arc_format!r}; expected one of "
            f"{', '.join(repr(name) for name in allowed)}."
        )


def ptb_arc_length(num_nodes: int, arc_format: str = "original") -> int:
    """Returns the number of tokens of an `num_nodes`-node PTB cell in one encoding.

    `num_nodes` counts every node including node 0 (the original's `--child_rhn_depth`; enas_lm's
    `--controller_num_layers` is `num_nodes - 1`).

    Args:
        num_nodes: nodes `N` of the cell, node 0 included.
        arc_format: "original" (`2N - 1`) or "enas_lm" (`2(N - 1)`).

    Raises:
        ArcError: `num_nodes` is below 1 (below 2 for enas_lm, which cannot encode a cell of node 0
            alone) or `arc_format` is unknown.
    """
    _check_ptb_arc_format(arc_format, allow_auto=False)
    minimum = 1 if arc_format == "original" else 2
    if num_nodes < minimum:
        raise ArcError(
            f"a PTB cell in the {arc_format} encoding needs num_nodes >= {minimum} (node 0 "
            f"included); got {num_nodes}."
        )
    return 2 * num_nodes - 1 if arc_format == "original" else 2 * (num_nodes - 1)


def detect_ptb_arc_format(num_tokens: int) -> str:
    """Returns the encoding a PTB arc of `num_tokens` tokens is in: odd "original", even "enas_lm".

    The parity decides unambiguously (ENAS_PTB_SPEC.md 3.1): the original encodes node 0's
    activation as an extra first token, enas_lm leaves node 0 implicit.

    Raises:
        ArcError: `num_tokens` is not positive.
    """
    if num_tokens < 1:
        raise ArcError(f"a PTB arc needs at least one token; got {num_tokens}.")
    return "original" if num_tokens % 2 else "enas_lm"


def ptb_arc_format_of(text: str | Sequence[int] | np.ndarray) -> str:
    """Returns the encoding "auto" parsing reads `text` in (by its token count's parity).

    Raises:
        ArcError: `text` has no tokens or a token that is not an integer.
    """
    return detect_ptb_arc_format(len(_flat_tokens(text, "PTB")))


def _ptb_activation_help(arc_format: str) -> str:
    """Returns `0 tanh, 1 relu, ...` in the id order of `arc_format`."""
    names = PTB_ENAS_LM_ACTIVATION_NAMES if arc_format == "enas_lm" else PTB_ACTIVATION_NAMES
    return ", ".join(f"{index} {name}" for index, name in enumerate(names))


def _ptb_token_check(index: int, node: int, kind: str, token: object, arc_format: str) -> int:
    """Returns the value of token `index` of `arc_format` (node `node`'s `kind`) or raises.

    Activation ids are returned as they are in `arc_format` (not yet mapped to canonical ids).

    Raises:
        ArcError: the token is not an integer or is out of range; the message names the token,
            its 0-based index in the flat encoding, the node and the expected form.
    """
    value = _as_int(token)
    if kind == "predecessor":
        valid = value is not None and 0 <= value < node
        expected = (
            f"a predecessor in 0..{node - 1} (an earlier node: it must be < the node index "
            f"{node}; 0 is node 0, which reads x_t and h_{{t-1}})"
        )
    else:
        valid = value is not None and 0 <= value < len(PTB_ACTIVATION_NAMES)
        expected = (
            f"an activation id in 0..{len(PTB_ACTIVATION_NAMES) - 1} "
            f"({_ptb_activation_help(arc_format)} in the {arc_format} encoding)"
        )
    if not valid:
        shown = token if value is None else value
        raise ArcError(
            f"PTB arc token {index} ({shown!r}) in node {node} ({arc_format} encoding): "
            f"expected {expected}."
        )
    return value


def _ptb_length_error(num_tokens: int, arc_format: str) -> ArcError:
    """Returns the error for a token count whose parity contradicts `arc_format`."""
    other = "enas_lm" if arc_format == "original" else "original"
    nodes = (num_tokens + 1) // 2 if other == "original" else num_tokens // 2 + 1
    return ArcError(
        f"PTB arc has {num_tokens} tokens, but {_PTB_FORMAT_HELP[arc_format]}. {num_tokens} "
        f"tokens is the length of a {nodes}-node cell in the {other} encoding: pass "
        f"arc_format='{other}' (or 'auto', which decides by parity), or paste the whole arc."
    )


@dataclasses.dataclass(frozen=True)
class PtbArc:
    """A PTB recurrent cell (ENAS_SPEC.md 2.3, ENAS_PTB_SPEC.md 2.2 / 3.1), in one canonical form.

    Node 0 reads the cell inputs `[x_t ; h_{t-1}]`; node `l >= 1` reads one earlier node
    `predecessors[l]`; each node applies `activations[l]` inside its highway update. Both
    reference implementations build node 0 the same way (one `2H x 2H` matrix on
    `[x_t ; h_{t-1}]`, carry `h_{t-1}`), and node 1 can only read node 0 in both. They differ in
    how the arc string writes this cell:

    * original (`melodyguan/enas`, `--child_fixed_arc`): `2N - 1` tokens, `f_0` then
      `p_l f_l` for `l = 1..N-1`, activation ids 0 tanh, 1 ReLU, 2 identity, 3 sigmoid;
    * enas_lm (google-research, `--fixed_arc`): `2L` tokens `p_l f_l` for `l = 1..L`, node 0
      implicit and **always tanh** (so `L = N - 1`), activation ids 0 tanh, 1 ReLU, 2 sigmoid,
      3 identity.

    The canonical form uses the original's ids, so every cell of either encoding has exactly
    one `PtbArc`. Conversion limits: a cell whose node 0 is not tanh, and the one-node cell
    (`N = 1`, no `p_l f_l` pair), have no enas_lm rendering (`to_enas_lm` raises). The arc also
    does not say how the cell output is formed: the original averages the loose ends,
    enas_lm's GPU code averages all nodes `1..L` and its TPU code the loose ends; the same arc is
    therefore the same cell only under the same output rule, which is the model's choice.

    Construction checks the structure (at least one node, one predecessor per activation) and
    converts to tuples of Python ints; `validate()` checks the values.

    Attributes:
        activations: canonical activation id per node (length N), an index into
            `PTB_ACTIVATION_NAMES`.
        predecessors: the node each node reads (length N); `predecessors[0]` is
            `PTB_CELL_INPUT` (-1, the cell inputs) and `predecessors[l]` is in `0..l-1`.

    Example:
        >>> arc = PtbArc.parse("0  0 0  1 3  1 1")
        >>> arc.predecessors, arc.activations, arc.loose_ends()
        ((-1, 0, 1, 1), (0, 0, 3, 1), (2, 3))
        >>> arc.format("enas_lm")
        '0 0 1 2 1 1'
    """

    activations: tuple[int, ...]
    predecessors: tuple[int, ...]

    def __post_init__(self) -> None:
        activations = tuple(operator.index(value) for value in self.activations)
        predecessors = tuple(operator.index(value) for value in self.predecessors)
        if not activations:
            raise ArcError("a PTB cell needs at least one node (node 0); got activations=().")
        if len(predecessors) != len(activations):
            raise ArcError(
                f"PTB cell has {len(activations)} activations but {len(predecessors)} "
                "predecessors; expected one of each per node (predecessors[0] = -1 for node 0)."
            )
        object.__setattr__(self, "activations", activations)
        object.__setattr__(self, "predecessors", predecessors)

    @classmethod
    def parse(
        cls,
        text: str | Sequence[int] | np.ndarray,
        arc_format: str = "auto",
        num_nodes: int | None = None,
    ) -> PtbArc:
        """Parses a PTB arc in the original or the enas_lm encoding.

        Tokens may be separated by whitespace, commas and square brackets (so a bash script's
        string, a Python list and printed arrays all parse; enas_lm itself only accepts single
        spaces); `#` starts a comment to the end of the line. Every token must be an integer.
        Unlike the reference code, which silently wraps a negative predecessor and ignores the
        last token of an odd-length enas_lm string, every such arc is rejected here.

        Args:
            text: the arc string, or a flat sequence / 1-D array of ints (e.g. a controller's
                sample).
            arc_format: "original", "enas_lm", or "auto" (odd length = original, even =
                enas_lm; ENAS_PTB_SPEC.md 3.1).
            num_nodes: the expected number of nodes N, node 0 included (the original's
                `--child_rhn_depth`; enas_lm's `--controller_num_layers` + 1); None accepts any.

        Returns:
            The validated arc.

        Raises:
            ArcError: the arc is empty, its length does not fit the encoding or `num_nodes`, or
                a token is not an integer or out of range (the message names the token, its
                index, the node and the expected range); or `arc_format` is unknown.
        """
        _check_ptb_arc_format(arc_format, allow_auto=True)
        tokens = _flat_tokens(text, "PTB")
        if not tokens:
            raise ArcError(
                f"PTB arc is empty; {_PTB_FORMAT_HELP['original']}, and "
                f"{_PTB_FORMAT_HELP['enas_lm']}."
            )
        if arc_format == "auto":
            arc_format = detect_ptb_arc_format(len(tokens))
        elif detect_ptb_arc_format(len(tokens)) != arc_format:
            raise _ptb_length_error(len(tokens), arc_format)
        if arc_format == "original":
            found_nodes = (len(tokens) + 1) // 2
        else:
            found_nodes = len(tokens) // 2 + 1
        if num_nodes is not None and found_nodes != num_nodes:
            if arc_format == "original":
                flag = f"--child_rhn_depth={num_nodes}"
            else:
                flag = f"--controller_num_layers={num_nodes - 1}"
            expected = (
                ptb_arc_length(num_nodes, arc_format)
                if num_nodes >= (1 if arc_format == "original" else 2)
                else "at least 2"
            )
            raise ArcError(
                f"PTB arc has {len(tokens)} tokens ({arc_format} encoding, a {found_nodes}-node "
                f"cell); expected {expected} tokens for a {num_nodes}-node cell ({flag}). Paste "
                "the whole arc, or fix the node count."
            )

        if arc_format == "original":
            activations = [_ptb_token_check(0, 0, "activation", tokens[0], arc_format)]
            first = 1  # Node l's predecessor is token 2l - 1.
        else:
            activations = [0]  # Node 0 is implicit and always tanh in enas_lm.
            first = 0  # Node l's predecessor is token 2(l - 1).
        predecessors = [PTB_CELL_INPUT]
        for node in range(1, found_nodes):
            index = first + 2 * (node - 1)
            predecessors.append(
                _ptb_token_check(index, node, "predecessor", tokens[index], arc_format)
            )
            activation = _ptb_token_check(
                index + 1, node, "activation", tokens[index + 1], arc_format
            )
            if arc_format == "enas_lm":
                activation = _PTB_ENAS_LM_SWAP[activation]
            activations.append(activation)
        return cls(activations=tuple(activations), predecessors=tuple(predecessors))

    @classmethod
    def from_flat(
        cls, values: Sequence[int] | np.ndarray, arc_format: str = "auto"
    ) -> PtbArc:
        """Builds an arc from a flat 1-D sequence or array, e.g. the int32 arc a controller sampled.

        Raises:
            ArcError: as `parse`, or the array is not 1-D.
        """
        return cls.parse(values, arc_format=arc_format)

    @property
    def num_nodes(self) -> int:
        """The number of nodes N, node 0 included (enas_lm's L is `num_nodes - 1`)."""
        return len(self.activations)

    @property
    def activation_names(self) -> tuple[str, ...]:
        """The activation name of every node, node 0 first."""
        return tuple(_ptb_activation_name(value) for value in self.activations)

    def validate(self) -> None:
        """Checks node 0 reads the cell inputs, node `l` an earlier node, and activations are 0..3.

        Raises:
            ArcError: the first bad value, named by node and by its token index in the original
                encoding.
        """
        if self.predecessors[0] != PTB_CELL_INPUT:
            raise ArcError(
                f"PTB cell node 0 has predecessor {self.predecessors[0]}; expected "
                f"{PTB_CELL_INPUT} (node 0 reads x_t and h_{{t-1}}, no earlier node)."
            )
        _ptb_token_check(0, 0, "activation", self.activations[0], "original")
        for node in range(1, self.num_nodes):
            index = 2 * node - 1
            _ptb_token_check(index, node, "predecessor", self.predecessors[node], "original")
            _ptb_token_check(index + 1, node, "activation", self.activations[node], "original")

    def loose_ends(self) -> tuple[int, ...]:
        """Returns the nodes no node reads, ascending (the original's cell output averages them).

        Node 0 is a loose end only in the one-node cell (node 1 always reads it).
        """
        used = set(self.predecessors[1:])
        return tuple(node for node in range(self.num_nodes) if node not in used)

    def to_original(self) -> list[int]:
        """Returns the original encoding: `f_0`, then `p_l f_l` for `l = 1..N-1` (2N-1 ints)."""
        flat = [self.activations[0]]
        for node in range(1, self.num_nodes):
            flat += [self.predecessors[node], self.activations[node]]
        return flat

    def to_enas_lm(self) -> list[int]:
        """Returns the enas_lm encoding: `p_l f_l` for `l = 1..N-1` with enas_lm ids (2(N-1) ints).

        Raises:
            ArcError: the cell has no enas_lm rendering: node 0 is not tanh (enas_lm's node 0 is
                always tanh) or the cell is node 0 alone (enas_lm needs L >= 1).
        """
        if self.activations[0] != 0:
            raise ArcError(
                f"PTB cell node 0 uses {_ptb_activation_name(self.activations[0])} (original "
                f"token 0 = {self.activations[0]}); the enas_lm encoding cannot express it, "
                "because its node 0 is implicit and always tanh. Keep the arc in the original "
                "encoding (train it with the original implementation)."
            )
        if self.num_nodes < 2:
            raise ArcError(
                "PTB cell has only node 0; the enas_lm encoding needs at least one node after "
                "the implicit node 0 (2L tokens, L >= 1). Keep the arc in the original encoding."
            )
        flat = []
        for node in range(1, self.num_nodes):
            flat += [self.predecessors[node], _PTB_ENAS_LM_SWAP[self.activations[node]]]
        return flat

    def to_flat(self, arc_format: str = "original") -> list[int]:
        """Returns the flat encoding in `arc_format` ("original" or "enas_lm").

        Raises:
            ArcError: `arc_format` is unknown, or as `to_enas_lm`.
        """
        _check_ptb_arc_format(arc_format, allow_auto=False)
        return self.to_original() if arc_format == "original" else self.to_enas_lm()

    def to_array(self, arc_format: str = "original") -> np.ndarray:
        """Returns `to_flat(arc_format)` as a 1-D int32 array (a controller's / supernet's arc).

        Raises:
            ArcError: as `to_flat`.
        """
        return np.asarray(self.to_flat(arc_format), dtype=np.int32)

    def format(self, arc_format: str = "original") -> str:
        """Returns the flat encoding in `arc_format` on one line: `parse(arc.format(f)) == arc`.

        Raises:
            ArcError: as `to_flat`.
        """
        return " ".join(str(value) for value in self.to_flat(arc_format))

    def __str__(self) -> str:
        """The original encoding on one line, the only one that expresses every cell."""
        return self.format("original")

    def describe(self, arc_format: str = "original") -> str:
        """Returns one row per node: its tokens in `arc_format`, then a `#` comment.

        The first line names the encoding and the loose ends. In the enas_lm encoding node 0 has
        no tokens, so its row is a comment. Comments are ignored by `parse`, so
        `PtbArc.parse(arc.describe(f), f) == arc`.

        Raises:
            ArcError: as `to_flat`.

        Example:
            >>> print(PtbArc.parse("0  0 0  1 3  1 1").describe())
            # PTB cell, 4 nodes, original encoding (7 tokens); loose ends 2 3
            0    # node 0: x_t, h_{t-1} -> tanh
            0 0  # node 1: node 0 -> tanh
            1 3  # node 2: node 1 -> sigmoid
            1 1  # node 3: node 1 -> relu
        """
        flat = self.to_flat(arc_format)
        rows = []
        if arc_format == "original":
            rows.append(str(flat[0]))
            pairs = flat[1:]
        else:
            rows.append("")
            pairs = flat
        rows += [f"{pairs[i]} {pairs[i + 1]}" for i in range(0, len(pairs), 2)]
        width = max(len(row) for row in rows)
        loose = " ".join(str(node) for node in self.loose_ends())
        size = f"{len(flat)} tokens"
        if arc_format == "enas_lm":
            size += f", L={self.num_nodes - 1}"
        lines = [
            f"# PTB cell, {self.num_nodes} nodes, {arc_format} encoding ({size}); "
            f"loose ends {loose}"
        ]
        for node, row in enumerate(rows):
            source = "x_t, h_{t-1}" if node == 0 else f"node {self.predecessors[node]}"
            comment = f"node {node}: {source} -> {self.activation_names[node]}"
            if not row:
                lines.append(f"{'#':<{width + 4}}{comment} (implicit in enas_lm)")
            else:
                lines.append(f"{row:<{width}}  # {comment}")
        return "\n".join(lines)


def _ptb_activation_name(activation: int) -> str:
    """Returns the name of a canonical PTB activation id, or `invalid activation <id>`."""
    if 0 <= activation < len(PTB_ACTIVATION_NAMES):
        return PTB_ACTIVATION_NAMES[activation]
    return f"invalid activation {activation}"
