"""A small anti-aliased raster canvas over a NumPy image, encoded to PNG by TensorFlow.

The architecture pictures need boxes, arrows, curves and text, and nothing else; drawing them
with NumPy keeps enas_tf2 free of PIL / matplotlib / graphviz (TensorFlow's `encode_png` writes
the file, and is only imported when a PNG is asked for). Shapes are rasterised by coverage:
every pixel gets the fraction of it a shape covers (from the distance to the shape's edge), and
the colour is blended by that fraction, so diagonal lines and curves come out smooth.

Coordinates are floats in pixels, x to the right and y down; pixel `(col, row)` covers the unit
square `[col, col + 1] x [row, row + 1]`, so a rectangle from `(10, 10)` to `(20, 20)` fills
exactly pixels 10..19 and a 2-pixel line along `y = 15` fills rows 14 and 15. Everything is
clipped at the canvas edges: drawing partly or wholly outside never raises.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from enas_tf2.pictures import font

Color = tuple[int, int, int]
Point = tuple[float, float]

#: Longest piece a polyline segment is cut into, so each piece's bounding box stays small.
_MAX_PIECE = 48.0


class Canvas:
    """An RGB image you draw on; `to_png()` / `to_array()` return the result.

    Args:
        width: image width in pixels, >= 1.
        height: image height in pixels, >= 1.
        background: the RGB colour the image starts with.

    Example:
        >>> canvas = Canvas(40, 20)
        >>> canvas.rectangle(2, 2, 38, 18, fill=(200, 220, 255), outline=(0, 0, 0), radius=4)
        >>> canvas.centered_text(20, 10, "ok")
        >>> canvas.to_array().shape
        (20, 40, 3)
    """

    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)):
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise ValueError(
                f"a canvas needs a positive size; got width={width}, height={height}."
            )
        self.background = _as_color(background)
        self._pixels = np.empty((height, width, 3), dtype=np.uint8)
        self._pixels[...] = self.background

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self._pixels.shape[1]

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self._pixels.shape[0]

    # --- output ------------------------------------------------------------------------------

    def to_array(self) -> np.ndarray:
        """Returns a copy of the image, uint8 `[height, width, 3]`."""
        return self._pixels.copy()

    def to_png(self) -> bytes:
        """Returns the image encoded as PNG bytes."""
        return encode_png(self._pixels)

    # --- filled shapes -----------------------------------------------------------------------

    def rectangle(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        fill: Color | None = None,
        outline: Color | None = None,
        thickness: float = 1.0,
        radius: float = 0.0,
    ) -> None:
        """Draws the rectangle with corners `(x0, y0)` and `(x1, y1)`, filled and/or outlined.

        The outline lies inside the rectangle, so a box's outer size is what you asked for
        whatever its thickness. `radius` rounds the corners (clamped to half the short side).
        """
        x0, x1 = sorted((float(x0), float(x1)))
        y0, y1 = sorted((float(y0), float(y1)))
        radius = max(0.0, min(float(radius), (x1 - x0) / 2, (y1 - y0) / 2))
        window = self._window(x0, y0, x1, y1, margin=1.0)
        if window is None:
            return
        xs, ys = window[2], window[3]
        outer = _rounded_box_coverage(xs, ys, (x0, y0, x1, y1), radius)
        if outline is None:
            if fill is not None:
                self._blend(window, outer, fill)
            return
        inset = min(max(float(thickness), 0.0), (x1 - x0) / 2, (y1 - y0) / 2)
        inner_box = (x0 + inset, y0 + inset, x1 - inset, y1 - inset)
        inner = _rounded_box_coverage(xs, ys, inner_box, max(0.0, radius - inset))
        if fill is not None:
            self._blend(window, inner, fill)
        self._blend(window, np.clip(outer - inner, 0.0, 1.0), outline)

    def circle(
        self,
        cx: float,
        cy: float,
        radius: float,
        fill: Color | None = None,
        outline: Color | None = None,
        thickness: float = 1.0,
    ) -> None:
        """Draws a disc or ring centred on `(cx, cy)` (a fully rounded square)."""
        self.rectangle(
            cx - radius, cy - radius, cx + radius, cy + radius,
            fill=fill, outline=outline, thickness=thickness, radius=radius,
        )

    def polygon(self, points: Sequence[Point], color: Color) -> None:
        """Fills a convex polygon (vertices in either winding order), e.g. an arrow head.

        Raises:
            ValueError: fewer than 3 points.
        """
        vertices = np.asarray(points, dtype=np.float64)
        if vertices.ndim != 2 or vertices.shape[0] < 3 or vertices.shape[1] != 2:
            raise ValueError(f"a polygon needs at least 3 (x, y) points; got {points!r}.")
        window = self._window(
            vertices[:, 0].min(), vertices[:, 1].min(),
            vertices[:, 0].max(), vertices[:, 1].max(), margin=1.0,
        )
        if window is None:
            return
        self._blend(window, _convex_coverage(window[2], window[3], vertices), color)

    # --- strokes -----------------------------------------------------------------------------

    def line(
        self, x0: float, y0: float, x1: float, y1: float, color: Color, thickness: float = 2.0
    ) -> None:
        """Draws a straight line with round ends, `thickness` pixels wide."""
        self.polyline(((x0, y0), (x1, y1)), color, thickness)

    def polyline(self, points: Sequence[Point], color: Color, thickness: float = 2.0) -> None:
        """Draws connected line segments through `points` with round joins.

        The coverage of all segments is merged (maximum) before blending once, so joins and
        overlapping pieces are not darker than the rest of the stroke.
        """
        path = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(path) == 0:
            return
        half = max(float(thickness), 0.0) / 2.0
        window = self._window(
            path[:, 0].min(), path[:, 1].min(), path[:, 0].max(), path[:, 1].max(),
            margin=half + 1.0,
        )
        if window is None:
            return
        left, top, xs, ys = window
        coverage = np.zeros((len(ys), len(xs)), dtype=np.float32)
        visible = (xs[0] - half - 2, ys[0] - half - 2, xs[-1] + half + 2, ys[-1] + half + 2)
        for starts, ends in _segment_chunks(path, visible):
            corners = np.concatenate([starts, ends])
            cols = _index_range(corners[:, 0], half + 1.0, left, len(xs))
            rows = _index_range(corners[:, 1], half + 1.0, top, len(ys))
            if cols.start >= cols.stop or rows.start >= rows.stop:
                continue
            piece = _segments_coverage(xs[cols], ys[rows], starts, ends, half)
            np.maximum(coverage[rows, cols], piece, out=coverage[rows, cols])
        self._blend(window, coverage, color)

    def quadratic_curve(
        self, p0: Point, p1: Point, p2: Point, color: Color, thickness: float = 2.0
    ) -> np.ndarray:
        """Draws the quadratic Bezier curve from `p0` to `p2` with control point `p1`.

        Returns:
            The polyline drawn, float `[n, 2]`, e.g. to put an arrow head on its last piece.
        """
        points = bezier_points((p0, p1, p2))
        self.polyline(points, color, thickness)
        return points

    def cubic_curve(
        self, p0: Point, p1: Point, p2: Point, p3: Point, color: Color, thickness: float = 2.0
    ) -> np.ndarray:
        """Draws the cubic Bezier curve from `p0` to `p3` with control points `p1`, `p2`.

        Returns:
            The polyline drawn, float `[n, 2]`.
        """
        points = bezier_points((p0, p1, p2, p3))
        self.polyline(points, color, thickness)
        return points

    def arrow_head(
        self,
        tip: Point,
        tail: Point,
        color: Color,
        length: float = 12.0,
        width: float = 10.0,
    ) -> None:
        """Draws a filled triangular head with its point at `tip`, pointing away from `tail`.

        Only the direction from `tail` to `tip` matters; nothing is drawn if they coincide.
        """
        dx, dy = tip[0] - tail[0], tip[1] - tail[1]
        norm = math.hypot(dx, dy)
        if norm == 0:
            return
        ux, uy = dx / norm, dy / norm
        base_x, base_y = tip[0] - ux * length, tip[1] - uy * length
        half = width / 2.0
        self.polygon(
            (
                tip,
                (base_x - uy * half, base_y + ux * half),
                (base_x + uy * half, base_y - ux * half),
            ),
            color,
        )

    def arrow(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        color: Color,
        thickness: float = 2.0,
        head_length: float | None = None,
        head_width: float | None = None,
    ) -> None:
        """Draws a line from `(x0, y0)` with a filled head whose tip is exactly at `(x1, y1)`.

        The shaft stops inside the head so its round end does not poke past the tip. Head size
        defaults grow with the thickness so thick arrows keep visible heads.
        """
        head_length = 5.0 + 3.0 * thickness if head_length is None else float(head_length)
        head_width = 4.0 + 3.0 * thickness if head_width is None else float(head_width)
        length = math.hypot(x1 - x0, y1 - y0)
        if length == 0:
            return
        shaft = max(length - head_length * 0.6, 0.0) / length
        self.line(x0, y0, x0 + (x1 - x0) * shaft, y0 + (y1 - y0) * shaft, color, thickness)
        self.arrow_head((x1, y1), (x0, y0), color, head_length, head_width)

    # --- text --------------------------------------------------------------------------------

    def text(self, x: float, y: float, text: str, color: Color = (0, 0, 0), scale: int = 1) -> None:
        """Draws `text` with its box's top-left corner at `(x, y)` (see `text_size`).

        Raises:
            ValueError: a character has no glyph in the picture font (named in the message), or
                `scale` is not a positive integer.
        """
        mask = font.render(text, scale)
        left, top = int(round(x)), int(round(y))
        height, width = mask.shape
        col0, row0 = max(left, 0), max(top, 0)
        col1, row1 = min(left + width, self.width), min(top + height, self.height)
        if col0 >= col1 or row0 >= row1:
            return
        visible = mask[row0 - top:row1 - top, col0 - left:col1 - left]
        self._pixels[row0:row1, col0:col1][visible] = _as_color(color)

    def centered_text(
        self, cx: float, cy: float, text: str, color: Color = (0, 0, 0), scale: int = 1
    ) -> None:
        """Draws `text` centred on `(cx, cy)`; multi-line text is centred line by line."""
        lines = text.split("\n")
        _, height = text_size(text, scale)
        top = cy - height / 2.0
        for index, line in enumerate(lines):
            width, _ = text_size(line, scale)
            self.text(cx - width / 2.0, top + index * font.LINE_ADVANCE * scale, line, color, scale)

    def label(
        self,
        cx: float,
        cy: float,
        text: str,
        color: Color = (0, 0, 0),
        scale: int = 1,
        background: Color | None = None,
        padding: int = 3,
    ) -> tuple[float, float, float, float]:
        """Draws centred text on a rounded patch of `background` (the canvas colour if None).

        The patch hides the lines underneath, which keeps an edge label readable where edges
        cross it. Returns the patch's box `(x0, y0, x1, y1)`.
        """
        width, height = text_size(text, scale)
        box = (
            cx - width / 2.0 - padding, cy - height / 2.0 - padding,
            cx + width / 2.0 + padding, cy + height / 2.0 + padding,
        )
        self.rectangle(*box, fill=background or self.background, radius=padding)
        self.centered_text(cx, cy, text, color, scale)
        return box

    # --- internals ---------------------------------------------------------------------------

    def _window(
        self, x0: float, y0: float, x1: float, y1: float, margin: float
    ) -> tuple[int, int, np.ndarray, np.ndarray] | None:
        """Returns `(left, top, xs, ys)`: the clipped pixel window around a box and its pixel
        centres, or None when the box is entirely off the canvas."""
        if not all(math.isfinite(value) for value in (x0, y0, x1, y1)):
            return None
        left = max(int(math.floor(x0 - margin)), 0)
        top = max(int(math.floor(y0 - margin)), 0)
        right = min(int(math.ceil(x1 + margin)), self.width)
        bottom = min(int(math.ceil(y1 + margin)), self.height)
        if left >= right or top >= bottom:
            return None
        xs = np.arange(left, right, dtype=np.float64) + 0.5
        ys = np.arange(top, bottom, dtype=np.float64) + 0.5
        return left, top, xs, ys

    def _blend(
        self, window: tuple[int, int, np.ndarray, np.ndarray], coverage: np.ndarray, color: Color
    ) -> None:
        """Mixes `color` into the window's pixels in proportion to `coverage` (0..1)."""
        left, top, xs, ys = window
        rows, cols = np.nonzero(coverage > 0.0)
        if len(rows) == 0:
            return
        alpha = coverage[rows, cols][:, None].astype(np.float32)
        region = self._pixels[top:top + len(ys), left:left + len(xs)]
        old = region[rows, cols].astype(np.float32)
        new = np.asarray(_as_color(color), dtype=np.float32)
        region[rows, cols] = np.rint(old + (new - old) * alpha).astype(np.uint8)


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """Returns `(width, height)` in pixels of `text` at `scale`: the box `Canvas.text` inks."""
    return font.text_size(text, scale)


def encode_png(image: np.ndarray) -> bytes:
    """Returns PNG bytes of a uint8 `[height, width, 3]` image.

    Raises:
        ValueError: the array is not uint8 `[H, W, 3]`.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected a uint8 image of shape [height, width, 3]; got {image.dtype} {image.shape}."
        )
    # Imported here so drawing (arrays only) works without loading TensorFlow.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    return tf.io.encode_png(tf.constant(image)).numpy()


def bezier_points(control: Sequence[Point], step: float = 4.0) -> np.ndarray:
    """Returns points along the Bezier curve of `control` (any degree), about `step` px apart.

    The number of samples follows the control polygon's length, an upper bound of the curve's,
    so long curves stay smooth and short ones stay cheap.
    """
    control_points = np.asarray(control, dtype=np.float64)
    polygon_length = float(np.sum(np.hypot(*np.diff(control_points, axis=0).T)))
    count = max(2, int(math.ceil(polygon_length / step)) + 1)
    t = np.linspace(0.0, 1.0, count)[:, None]
    degree = len(control_points) - 1
    points = np.zeros((count, 2))
    for index, point in enumerate(control_points):
        weight = math.comb(degree, index) * t**index * (1.0 - t) ** (degree - index)
        points += weight * point
    return points


def _as_color(color: Iterable[int]) -> Color:
    """Returns `color` as an RGB tuple of ints in 0..255, or raises naming the bad value."""
    values = tuple(int(value) for value in color)
    if len(values) != 3 or not all(0 <= value <= 255 for value in values):
        raise ValueError(f"a colour is 3 integers in 0..255 (R, G, B); got {color!r}.")
    return values  # type: ignore[return-value]


def _segment_chunks(
    path: np.ndarray, box: tuple[float, float, float, float]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Returns the polyline's segments as `(starts, ends)` arrays, in runs of about `_MAX_PIECE`
    pixels, so each run's box is small and one NumPy call covers many curve samples.

    Segments longer than `_MAX_PIECE` are clipped to `box` (the visible window) and cut into
    pieces, so a line reaching far off the canvas costs no more than its visible part.
    """
    if len(path) == 1:
        return [(path, path)]
    starts, ends = path[:-1], path[1:]
    lengths = np.hypot(*(ends - starts).T)
    if np.any(lengths > _MAX_PIECE):
        starts, ends = _cut_long_segments(starts, ends, lengths, box)
        if len(starts) == 0:
            return []
        lengths = np.hypot(*(ends - starts).T)
    runs = np.floor((np.cumsum(lengths) - lengths) / _MAX_PIECE).astype(int)
    boundaries = np.flatnonzero(np.diff(runs)) + 1
    return [
        (starts[indices], ends[indices])
        for indices in np.split(np.arange(len(lengths)), boundaries)
    ]


def _cut_long_segments(
    starts: np.ndarray,
    ends: np.ndarray,
    lengths: np.ndarray,
    box: tuple[float, float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the segments with each one longer than `_MAX_PIECE` clipped to `box` and cut
    into pieces of at most `_MAX_PIECE` (short segments are kept as they are, in order)."""
    new_starts, new_ends = [], []
    for start, end, length in zip(starts, ends, lengths):
        if length <= _MAX_PIECE:
            new_starts.append(start[None])
            new_ends.append(end[None])
            continue
        clipped = _clip_segment(start, end, box)
        if clipped is None:
            continue
        first, last = clipped
        count = max(1, int(math.ceil(math.hypot(*(last - first)) / _MAX_PIECE)))
        points = first + (last - first) * np.linspace(0.0, 1.0, count + 1)[:, None]
        new_starts.append(points[:-1])
        new_ends.append(points[1:])
    if not new_starts:
        return np.zeros((0, 2)), np.zeros((0, 2))
    return np.concatenate(new_starts), np.concatenate(new_ends)


def _clip_segment(
    start: np.ndarray, end: np.ndarray, box: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Returns the part of a segment inside `box = (x0, y0, x1, y1)` (Liang-Barsky), or None."""
    delta = end - start
    low, high = 0.0, 1.0
    for p, q in (
        (-delta[0], start[0] - box[0]), (delta[0], box[2] - start[0]),
        (-delta[1], start[1] - box[1]), (delta[1], box[3] - start[1]),
    ):
        if p == 0:
            if q < 0:
                return None
            continue
        ratio = q / p
        if p < 0:
            low = max(low, ratio)
        else:
            high = min(high, ratio)
        if low > high:
            return None
    return start + low * delta, start + high * delta


def _index_range(values: np.ndarray, margin: float, offset: int, size: int) -> slice:
    """Returns the window indices `[offset, offset + size)` within `margin` of `values`."""
    first = max(int(math.floor(values.min() - margin)) - offset, 0)
    last = min(int(math.ceil(values.max() + margin)) - offset, size)
    return slice(first, last)


def _segments_coverage(
    xs: np.ndarray, ys: np.ndarray, starts: np.ndarray, ends: np.ndarray, half: float
) -> np.ndarray:
    """Returns the coverage `[len(ys), len(xs)]` of round-capped segments `half` px wide each
    side: 1 inside, falling linearly to 0 across the one-pixel band at the edge."""
    dx = (ends[:, 0] - starts[:, 0])[:, None, None]
    dy = (ends[:, 1] - starts[:, 1])[:, None, None]
    px = xs[None, None, :] - starts[:, 0][:, None, None]
    py = ys[None, :, None] - starts[:, 1][:, None, None]
    length_squared = dx * dx + dy * dy
    t = np.clip(
        (px * dx + py * dy) / np.where(length_squared > 0, length_squared, 1.0), 0.0, 1.0
    )
    squared = np.square(px - t * dx)
    squared += np.square(py - t * dy)
    distance = np.sqrt(squared.min(axis=0))
    return np.clip(half + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def _rounded_box_coverage(
    xs: np.ndarray, ys: np.ndarray, box: tuple[float, float, float, float], radius: float
) -> np.ndarray:
    """Returns the coverage of a rounded box from its signed distance field (negative inside)."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return np.zeros((len(ys), len(xs)), dtype=np.float32)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    qx = np.abs(xs[None, :] - cx) - ((x1 - x0) / 2.0 - radius)
    qy = np.abs(ys[:, None] - cy) - ((y1 - y0) / 2.0 - radius)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    inside = np.minimum(np.maximum(qx, qy), 0.0)
    distance = outside + inside - radius
    return np.clip(0.5 - distance, 0.0, 1.0).astype(np.float32)


def _convex_coverage(xs: np.ndarray, ys: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Returns the coverage of a convex polygon: the smallest signed distance to its edges."""
    area = np.sum(
        vertices[:, 0] * np.roll(vertices[:, 1], -1) - np.roll(vertices[:, 0], -1) * vertices[:, 1]
    )
    if area == 0:
        return np.zeros((len(ys), len(xs)), dtype=np.float32)
    if area < 0:
        vertices = vertices[::-1]
    inside = np.full((len(ys), len(xs)), np.inf)
    for start, end in zip(vertices, np.roll(vertices, -1, axis=0)):
        dx, dy = end - start
        norm = math.hypot(dx, dy)
        if norm == 0:
            continue
        # Positive on the polygon's side of the edge (counter-clockwise in y-down coordinates).
        signed = ((xs[None, :] - start[0]) * dy - (ys[:, None] - start[1]) * dx) / norm
        np.minimum(inside, -signed, out=inside)
    return np.clip(inside + 0.5, 0.0, 1.0).astype(np.float32)
