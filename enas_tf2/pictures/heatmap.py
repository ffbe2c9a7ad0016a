"""A labelled heatmap picture: the controller's op distribution per layer or node.

Rows are the decisions (a macro layer, a micro node, a PTB node), columns the ops, and each
cell's shade and number the fraction of sampled architectures that chose that op there. One
picture per controller phase in TensorBoard (`arc/op_distribution`) shows, along the step
slider, how the policy sharpens or collapses.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from enas_tf2.pictures.canvas import Canvas, text_size

_CELL_W, _CELL_H, _PAD = 84, 22, 10
_LOW, _HIGH = np.array([247, 251, 255], np.float32), np.array([8, 48, 107], np.float32)


def _shade(value: float) -> tuple[int, int, int]:
    value = float(np.clip(value, 0.0, 1.0))
    return tuple(int(round(c)) for c in _LOW + (_HIGH - _LOW) * value)


def draw_heatmap(matrix: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str],
                 title: str = "") -> np.ndarray:
    """A uint8 `[H, W, 3]` picture of `matrix` (`[rows, columns]`, values in [0, 1]) with its labels."""
    matrix = np.asarray(matrix, np.float32)
    rows, columns = matrix.shape
    if rows != len(row_labels) or columns != len(column_labels):
        raise ValueError(f"A {rows}x{columns} matrix needs {rows} row and {columns} column labels; got "
                         f"{len(row_labels)} and {len(column_labels)}.")
    label_w = max([text_size(label)[0] for label in row_labels] + [0]) + _PAD
    # Column labels are op names: one per column, shortened to the cell's width.
    short = [_fit(label, _CELL_W - 4) for label in column_labels]
    title_h = text_size(title)[1] + _PAD if title else 0
    header_h = text_size("Ag")[1] + _PAD
    width = _PAD + label_w + columns * _CELL_W + _PAD
    height = _PAD + title_h + header_h + rows * _CELL_H + _PAD
    canvas = Canvas(width, height)
    if title:
        canvas.text(_PAD, _PAD, title)
    top = _PAD + title_h + header_h
    left = _PAD + label_w
    for column, label in enumerate(short):
        canvas.centered_text(left + (column + 0.5) * _CELL_W, top - header_h / 2, label)
    for row, label in enumerate(row_labels):
        y = top + row * _CELL_H
        canvas.text(_PAD, y + (_CELL_H - text_size(label)[1]) / 2, label)
        for column in range(columns):
            value = float(matrix[row, column])
            x = left + column * _CELL_W
            canvas.rectangle(x, y, x + _CELL_W, y + _CELL_H, fill=_shade(value), outline=(255, 255, 255))
            canvas.centered_text(x + _CELL_W / 2, y + _CELL_H / 2, f"{value:.2f}",
                                 color=(255, 255, 255) if value > 0.5 else (0, 0, 0))
    return canvas.to_array()


def _fit(label: str, width: int) -> str:
    while len(label) > 1 and text_size(label)[0] > width:
        label = label[:-1]
    return label
