"""The micro (CIFAR cell) space's encoding, ENAS_SPEC.md 2.2: a normal cell then a reduction cell.

Per block: `index_1 op_1 index_2 op_2`, op ids indexing `MICRO_OPS`; `MicroCell` is one cell and
`MicroArc` the pair.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Sequence

import numpy as np

from enas_tf2.arch.tokens import as_int, flat_tokens
from enas_tf2.errors import ArcError
from enas_tf2.registry import OpRegistry

#: The micro ops in id order (ENAS_SPEC.md 2.2); `enas_tf2.spaces.micro.ops` builds them.
MICRO_OPS = OpRegistry(
    "micro",
    ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity"),
    builders_module="enas_tf2.spaces.micro.ops",
)
#: Micro op names; the index is the original op id.
MICRO_OP_NAMES: tuple[str, ...] = MICRO_OPS.names

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
    value = as_int(token)
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
    return MICRO_OPS.label(op)


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
        tokens = flat_tokens(text, "micro")
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
