"""Token helpers shared by every space's arc parser: separators, comments, integer tokens.

Arc strings come from bash scripts (`"0 1 0 ..."`), Python lists (`[0, 1, 0]`) and the rows the
search prints (`[0]\n[3 0]\n...`), so whitespace, commas and square brackets all separate
tokens and `#` starts a comment to the end of the line.
"""

from __future__ import annotations

import operator
import re
from typing import Sequence

import numpy as np

from enas_tf2.errors import ArcError

#: Separators accepted between tokens: whitespace, commas and square brackets, so the string of
#: a bash script, a Python list and the original's printed rows (`[0]\n[3 0]\n...`) all parse.
_SEPARATORS = re.compile(r"[\s,\[\]]+")
#: A `#` starts a comment that runs to the end of the line (`describe(op_names=True)` uses it).
_COMMENT = re.compile(r"#[^\n]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def split_tokens(text: str) -> list[str]:
    """Splits an arc string into raw tokens (comments dropped, separators collapsed)."""
    return [token for token in _SEPARATORS.split(_COMMENT.sub(" ", text)) if token]


def flat_tokens(values: str | Sequence[int] | np.ndarray, space: str) -> list[object]:
    """Returns the raw tokens of a string, a flat sequence or a 1-D array.

    Raises:
        ArcError: `values` is an array that is not 1-D.
    """
    if isinstance(values, str):
        return split_tokens(values)
    if isinstance(values, (list, tuple)):
        return list(values)
    array = np.asarray(values)
    if array.ndim != 1:
        raise ArcError(
            f"{space} arc array has shape {array.shape}; expected a 1-D array of integers "
            "(one architecture, in the original flat encoding)."
        )
    return array.tolist()


def as_int(token: object) -> int | None:
    """Returns the integer value of a token, or None if it is not an integer."""
    if isinstance(token, str):
        return int(token) if _INTEGER.fullmatch(token) else None
    try:
        return operator.index(token)  # ints, NumPy integers; rejects floats.
    except TypeError:
        return None
