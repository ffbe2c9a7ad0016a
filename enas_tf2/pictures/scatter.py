"""A labelled scatter plot: shared-weight scores against stand-alone scores (rank correlation).

Each point is one architecture; a search whose shared weights rank architectures well puts the
points along a rising diagonal. The highlighted point is the shared-weight top-1, whose
stand-alone shortfall from the best is the search's regret.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from enas_tf2.pictures.canvas import Canvas, text_size

_PLOT_W, _PLOT_H, _PAD, _TICKS = 360, 280, 12, 5
_POINT, _HIGHLIGHT, _AXIS = (33, 102, 172), (214, 39, 40), (90, 90, 90)


def _ticks(low: float, high: float) -> tuple[float, float, list[float]]:
    """A range padded by 5 % (a point on the border stays visible) and `_TICKS` evenly spaced values."""
    if high <= low:
        low, high = low - 0.5, high + 0.5
    margin = 0.05 * (high - low)
    low, high = low - margin, high + margin
    return low, high, list(np.linspace(low, high, _TICKS))


def draw_scatter(x: Sequence[float], y: Sequence[float], x_label: str, y_label: str, title: str = "",
                 highlight: int | None = None) -> np.ndarray:
    """A uint8 `[H, W, 3]` picture of the points `(x[i], y[i])`, point `highlight` drawn in red."""
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if xs.shape != ys.shape or xs.ndim != 1 or xs.size == 0:
        raise ValueError(f"A scatter plot needs two equally long, non-empty lists; got {xs.shape} and {ys.shape}.")
    x_low, x_high, x_ticks = _ticks(float(xs.min()), float(xs.max()))
    y_low, y_high, y_ticks = _ticks(float(ys.min()), float(ys.max()))
    y_texts = [f"{value:.4g}" for value in y_ticks]
    text_h = text_size("Ag")[1]
    left = _PAD + max(text_size(t)[0] for t in y_texts) + _PAD
    # The title, then the y axis' label above the plot (the raster font draws no rotated text).
    top = _PAD + (text_h + _PAD if title else 0) + text_h + _PAD
    width = left + _PLOT_W + 3 * _PAD
    height = top + _PLOT_H + _PAD + text_h + _PAD + text_h + _PAD
    canvas = Canvas(width, height)
    if title:
        canvas.text(_PAD, _PAD, title)
    canvas.text(_PAD, top - text_h - _PAD / 2, f"y: {y_label}")

    def to_pixel(px: float, py: float) -> tuple[float, float]:
        return (left + (px - x_low) / (x_high - x_low) * _PLOT_W,
                top + _PLOT_H - (py - y_low) / (y_high - y_low) * _PLOT_H)

    canvas.rectangle(left, top, left + _PLOT_W, top + _PLOT_H, outline=_AXIS)
    for value in x_ticks:
        px, _ = to_pixel(value, y_low)
        canvas.line(px, top + _PLOT_H, px, top + _PLOT_H + 4, _AXIS, thickness=1.0)
        canvas.centered_text(px, top + _PLOT_H + _PAD / 2 + text_h / 2 + 2, f"{value:.4g}")
    for value, text in zip(y_ticks, y_texts):
        _, py = to_pixel(x_low, value)
        canvas.line(left - 4, py, left, py, _AXIS, thickness=1.0)
        canvas.text(left - _PAD - text_size(text)[0], py - text_h / 2, text)
    canvas.centered_text(left + _PLOT_W / 2, height - _PAD - text_h / 2, f"x: {x_label}")
    for index, (px, py) in enumerate(zip(xs, ys)):
        if index != highlight:
            canvas.circle(*to_pixel(px, py), 4, fill=_POINT)
    if highlight is not None:
        canvas.circle(*to_pixel(xs[highlight], ys[highlight]), 6, fill=_HIGHLIGHT)
    return canvas.to_array()
