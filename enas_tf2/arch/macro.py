"""The macro (CIFAR "general") space's encoding, ENAS_SPEC.md 2.1.1, whole-channels mode.

Per layer `l`: its op id (an index into `MACRO_OPS`), then `l` skip bits; `MacroArc` parses,
validates, formats and describes it.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from typing import Sequence

import numpy as np

from enas_tf2.arch.tokens import as_int, flat_tokens
from enas_tf2.errors import ArcError
from enas_tf2.registry import OpRegistry

#: The macro ops in id order (ENAS_SPEC.md 2.1.1); `enas_tf2.spaces.macro.ops` builds them.
MACRO_OPS = OpRegistry(
    "macro",
    ("conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3"),
    builders_module="enas_tf2.spaces.macro.ops",
)
#: Macro op names; the index is the original op id.
MACRO_OP_NAMES: tuple[str, ...] = MACRO_OPS.names

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
    value = as_int(token)
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
        tokens = flat_tokens(text, "macro")
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
            name = MACRO_OPS.label(op)
            comment = f"# layer {layer}: {name}"
            sources = self.skip_sources(layer)
            if sources:
                comment += ", skips from nodes " + " ".join(str(node) for node in sources)
            lines.append(f"{row:<{width}}  {comment}")
        return "\n".join(lines)
