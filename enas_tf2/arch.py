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
space, 2.2, `MicroArc` of two `MicroCell`s). The PTB (2.3) encoding is to be added as a further
class using the shared token helpers below.
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
