"""A compact 5x7 bitmap font (with two descender rows) for labelling architecture pictures.

The pictures must not depend on PIL, matplotlib or a system font, so the glyphs live here as
plain strings: `#` is ink, `.` is paper. Every glyph is `GLYPH_WIDTH` columns wide; capitals,
digits and most symbols use the 7 rows above the baseline, lowercase letters have a 5-row
x-height and `g j p q y ,` reach into the two rows below it, so `sep_conv_3x3` and `h[t-1]`
read as they are printed by `enas_tf2.arch`. The covered set is what the diagrams write (op and
activation names, node labels, arc summaries) plus a few common symbols; anything else raises,
so a new label with a missing glyph fails loudly instead of drawing a blank.
"""

from __future__ import annotations

import functools

import numpy as np

#: Columns per glyph; one more blank column separates glyphs.
GLYPH_WIDTH = 5
#: Rows per glyph: 7 above the baseline and 2 descender rows below it.
GLYPH_HEIGHT = 9
#: Horizontal advance per character, in unscaled pixels.
ADVANCE = GLYPH_WIDTH + 1
#: Vertical advance per line of multi-line text, in unscaled pixels.
LINE_ADVANCE = GLYPH_HEIGHT + 2

_BLANK = "....."

#: Glyph rows, top first. Glyphs with fewer than `GLYPH_HEIGHT` rows are padded with blank rows
#: at the bottom (only descenders spell out rows 7 and 8).
_GLYPHS: dict[str, tuple[str, ...]] = {
    " ": (_BLANK,) * 7,
    # Capitals.
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    # Lowercase: x-height rows 2-6, descenders in rows 7-8.
    "a": (_BLANK, _BLANK, ".###.", "....#", ".####", "#...#", ".####"),
    "b": ("#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."),
    "c": (_BLANK, _BLANK, ".###.", "#....", "#....", "#...#", ".###."),
    "d": ("....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"),
    "e": (_BLANK, _BLANK, ".###.", "#...#", "#####", "#....", ".###."),
    "f": ("..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."),
    "g": (_BLANK, _BLANK, ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."),
    "h": ("#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"),
    "i": ("..#..", _BLANK, ".##..", "..#..", "..#..", "..#..", ".###."),
    "j": ("...#.", _BLANK, "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "k": ("#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."),
    "l": (".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "m": (_BLANK, _BLANK, "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"),
    "n": (_BLANK, _BLANK, "#.##.", "##..#", "#...#", "#...#", "#...#"),
    "o": (_BLANK, _BLANK, ".###.", "#...#", "#...#", "#...#", ".###."),
    "p": (_BLANK, _BLANK, "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."),
    "q": (_BLANK, _BLANK, ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"),
    "r": (_BLANK, _BLANK, "#.##.", "##..#", "#....", "#....", "#...."),
    "s": (_BLANK, _BLANK, ".####", "#....", ".###.", "....#", "####."),
    "t": (".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."),
    "u": (_BLANK, _BLANK, "#...#", "#...#", "#...#", "#..##", ".##.#"),
    "v": (_BLANK, _BLANK, "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "w": (_BLANK, _BLANK, "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."),
    "x": (_BLANK, _BLANK, "#...#", ".#.#.", "..#..", ".#.#.", "#...#"),
    "y": (_BLANK, _BLANK, "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."),
    "z": (_BLANK, _BLANK, "#####", "...#.", "..#..", ".#...", "#####"),
    # Digits.
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    # Symbols.
    "_": (_BLANK,) * 8 + ("#####",),
    "-": (_BLANK, _BLANK, _BLANK, ".###.", _BLANK, _BLANK, _BLANK),
    "+": (_BLANK, "..#..", "..#..", "#####", "..#..", "..#..", _BLANK),
    "=": (_BLANK, _BLANK, "#####", _BLANK, "#####", _BLANK, _BLANK),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    "[": (".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."),
    "]": (".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."),
    "{": ("...##", "..#..", "..#..", ".#...", "..#..", "..#..", "...##"),
    "}": ("##...", "..#..", "..#..", "...#.", "..#..", "..#..", "##..."),
    "<": ("...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."),
    ">": (".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."),
    ":": (_BLANK, ".##..", ".##..", _BLANK, ".##..", ".##..", _BLANK),
    ";": (_BLANK, ".##..", ".##..", _BLANK, ".##..", ".##..", "..#..", ".#..."),
    ",": (_BLANK, _BLANK, _BLANK, _BLANK, _BLANK, ".##..", ".##..", "..#..", ".#..."),
    ".": (_BLANK, _BLANK, _BLANK, _BLANK, _BLANK, ".##..", ".##.."),
    "/": (_BLANK, "....#", "...#.", "..#..", ".#...", "#....", _BLANK),
    "#": (".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."),
    "*": (_BLANK, "#.#.#", ".###.", "#####", ".###.", "#.#.#", _BLANK),
    "%": ("##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"),
    "|": ("..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "!": ("..#..", "..#..", "..#..", "..#..", "..#..", _BLANK, "..#.."),
    "?": (".###.", "#...#", "....#", "...#.", "..#..", _BLANK, "..#.."),
    "'": ("..#..", "..#..", ".#...", _BLANK, _BLANK, _BLANK, _BLANK),
}

#: Every character `glyph` can draw.
CHARACTERS: frozenset[str] = frozenset(_GLYPHS)


@functools.lru_cache(maxsize=None)
def glyph(character: str) -> np.ndarray:
    """Returns the bool bitmap `[GLYPH_HEIGHT, GLYPH_WIDTH]` of one character (True = ink).

    Cached and read-only: the same few characters are drawn thousands of times per picture.

    Raises:
        ValueError: the font has no glyph for `character`; the message names it.
    """
    rows = _GLYPHS.get(character)
    if rows is None:
        raise ValueError(
            f"the picture font has no glyph for character {character!r} (U+{ord(character):04X}); "
            f"it covers A-Z, a-z, 0-9, space and {''.join(sorted(_symbols()))}."
        )
    rows = rows + (_BLANK,) * (GLYPH_HEIGHT - len(rows))
    bitmap = np.array([[cell == "#" for cell in row] for row in rows], dtype=bool)
    bitmap.setflags(write=False)
    return bitmap


def _symbols() -> set[str]:
    """Returns the covered characters that are neither letters, digits nor space."""
    return {character for character in _GLYPHS if not character.isalnum() and character != " "}


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """Returns `(width, height)` in pixels of `text` drawn at `scale`, one line per `\\n`.

    The box is tight horizontally (no trailing gap) and spans the full glyph height, descender
    rows included, so every label of the same line count has the same height and layouts line
    up. Characters are not checked here; drawing does that.
    """
    scale = _check_scale(scale)
    lines = text.split("\n")
    longest = max(len(line) for line in lines)
    width = max(0, longest * ADVANCE - 1) * scale
    height = (len(lines) * LINE_ADVANCE - (LINE_ADVANCE - GLYPH_HEIGHT)) * scale
    return width, height


def render(text: str, scale: int = 1) -> np.ndarray:
    """Returns the bool ink mask `[height, width]` of `text` (see `text_size`), lines left-aligned.

    Raises:
        ValueError: `text` has a character without a glyph, or `scale` is not a positive integer.
    """
    scale = _check_scale(scale)
    width, height = text_size(text, 1)
    mask = np.zeros((height, width), dtype=bool)
    for line_index, line in enumerate(text.split("\n")):
        top = line_index * LINE_ADVANCE
        for column, character in enumerate(line):
            left = column * ADVANCE
            mask[top:top + GLYPH_HEIGHT, left:left + GLYPH_WIDTH] |= glyph(character)
    if scale > 1:
        mask = np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)
    return mask


def _check_scale(scale: int) -> int:
    """Returns `scale` as an int, or raises: glyphs are only crisp at integer magnifications."""
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"text scale must be a positive integer; got {scale!r}.")
    return int(scale)
