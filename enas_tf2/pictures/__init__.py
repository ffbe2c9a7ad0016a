"""Pictures of ENAS architectures as PNG images, drawn with NumPy and encoded by TensorFlow.

`draw_arc(arc)` returns a uint8 `[H, W, 3]` picture of any `enas_tf2.arch` arc (`draw_macro`,
`draw_micro`, `draw_micro_cell`, `draw_ptb` for one space) and `write_png(image, path)` saves it
atomically. `Canvas` is the small raster canvas they draw on; no imaging library is needed.
"""

from enas_tf2.pictures.canvas import Canvas, encode_png, text_size
from enas_tf2.pictures.diagrams import (
    draw_arc,
    draw_macro,
    draw_micro,
    draw_micro_cell,
    draw_ptb,
    write_png,
)
from enas_tf2.pictures.heatmap import draw_heatmap
from enas_tf2.pictures.scatter import draw_scatter

__all__ = [
    "Canvas",
    "draw_arc",
    "draw_heatmap",
    "draw_macro",
    "draw_micro",
    "draw_micro_cell",
    "draw_ptb",
    "draw_scatter",
    "encode_png",
    "text_size",
    "write_png",
]
