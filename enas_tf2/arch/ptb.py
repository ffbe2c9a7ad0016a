"""The PTB recurrent cell's encodings (ENAS_SPEC.md 2.3 / 2.4; ENAS_PTB_SPEC.md 2.2 and 3.1).

One canonical `PtbArc` per cell, read from and written to either reference's encoding: the
original's (`f_0`, then `p_l f_l`) and enas_lm's (node 0 implicit, another activation id order).
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Sequence

import numpy as np

from enas_tf2.arch.tokens import as_int, flat_tokens
from enas_tf2.errors import ArcError
from enas_tf2.registry import OpRegistry

#: The PTB cell's activations in canonical id order, which is the original encoding's
#: (ENAS_SPEC.md 2.3: 0 tanh, 1 ReLU, 2 identity, 3 sigmoid); `PtbArc` stores these ids and
#: `enas_tf2.spaces.rnn.ops` builds them.
PTB_ACTIVATIONS = OpRegistry(
    "ptb", ("tanh", "relu", "identity", "sigmoid"), builders_module="enas_tf2.spaces.rnn.ops"
)
#: PTB activation names; the index is the canonical activation id.
PTB_ACTIVATION_NAMES: tuple[str, ...] = PTB_ACTIVATIONS.names

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
#: its own inverse (the enas_lm supernet stores its slabs by enas_lm id, `spaces.ptb`).
ENAS_LM_ACTIVATION_IDS: tuple[int, ...] = tuple(PTB_ACTIVATIONS.id_of(name) for name in PTB_ENAS_LM_ACTIVATION_NAMES)
_PTB_ENAS_LM_SWAP = ENAS_LM_ACTIVATION_IDS

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
    return detect_ptb_arc_format(len(flat_tokens(text, "PTB")))


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
    value = as_int(token)
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
        tokens = flat_tokens(text, "PTB")
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
    if 0 <= activation < len(PTB_ACTIVATIONS):
        return PTB_ACTIVATIONS.names[activation]
    return f"invalid activation {activation}"
