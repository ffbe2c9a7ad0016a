"""Pictures of ENAS architectures: the macro layer chain, the micro cells and the PTB cell.

A searched arc is a list of integers (`enas_tf2.arch`); these functions turn one into a PNG-ready
image so a run can show what it found (TensorBoard, a report) without graphviz or matplotlib.
Every function returns uint8 `[height, width, 3]`, sized by its layout; `write_png` saves one.

* `draw_macro`: the layers in a column, top to bottom, each skip connection an arc on the right
  whose width grows with the distance it spans, coloured by its source node, so the 98 skips of
  the 24-layer final arc stay apart (arcs of one width are translates of one half-ellipse, which
  cross at one point instead of running along each other).
* `draw_micro` / `draw_micro_cell`: each cell as a graph laid out in columns by depth (longest
  path from the inputs), each block's two inputs an arrow labelled with its op, and the loose ends
  joined by `concat`.
* `draw_ptb`: the recurrent cell the same way, nodes labelled with their activation, and the
  averaged nodes joined by `avg`.

The graph layout is the usual layered one (Sugiyama): edges that span several columns get an
invisible waypoint in every column they cross, so they run through the free space between
boxes; a few barycentre sweeps order each column to reduce crossings, and rows are then pulled
towards their neighbours so most edges come out nearly straight.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
from typing import Sequence

import numpy as np

from enas_tf2 import arch
from enas_tf2.pictures.canvas import Canvas, Color, bezier_points, encode_png, text_size

#: Text scale of box and edge labels (the font is 5x7, so 2 gives 10x14-pixel capitals).
LABEL_SCALE = 2
#: Text scale of titles.
TITLE_SCALE = 2

_MARGIN = 24
_BOX_PADDING_X = 12
_BOX_PADDING_Y = 10
_BOX_RADIUS = 8
#: White margin around an edge label (it hides the lines it crosses).
_LABEL_PADDING = 3
_INK: Color = (40, 40, 40)
_MUTED: Color = (120, 120, 120)
_INPUT_FILL: Color = (225, 225, 225)
_OUTPUT_FILL: Color = (255, 236, 179)
_LAYER_FILL: Color = (210, 228, 250)
#: The macro stem and head are fixed (ENAS_SPEC.md 4.1): conv 3x3 + BN, global pool + dense.
_MACRO_STEM = "stem: conv_3x3"
_MACRO_HEAD = "global avg pool + fc"
#: Vertical gap between macro boxes (room for the chain arrow).
_CHAIN_GAP = 28
#: Extra reach of a macro skip arc per node it spans, and the cap on the widest arc's reach.
_SKIP_STEP = 24.0
_SKIP_MAX_REACH = 560.0
_EDGE_THICKNESS = 2.0
_HEAD_LENGTH = 12.0
_HEAD_WIDTH = 10.0

#: Distinct line colours (the Tableau 10 palette), for macro skips by source node.
_PALETTE: tuple[Color, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)

#: Edge colour per micro op (`arch.MICRO_OPS`): convs blue / purple, pools green / orange,
#: identity grey, so the op kinds of a cell can be told apart at a glance.
_MICRO_OP_COLORS: dict[str, Color] = {
    "sep_conv_3x3": (31, 119, 180), "sep_conv_5x5": (148, 103, 189), "avg_pool_3x3": (44, 160, 44),
    "max_pool_3x3": (230, 110, 0), "identity": (110, 110, 110),
}
_UNKNOWN_OP_COLOR: Color = (214, 39, 40)

#: Box fill per PTB activation (`arch.PTB_ACTIVATIONS`).
_PTB_ACTIVATION_FILLS: dict[str, Color] = {
    "tanh": (210, 228, 250), "relu": (214, 240, 208), "identity": (232, 232, 232), "sigmoid": (253, 222, 196),
}


# ---------------------------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------------------------


def draw_arc(arc: arch.MacroArc | arch.MicroArc | arch.MicroCell | arch.PtbArc) -> np.ndarray:
    """Returns the picture of any arc, dispatching on its type (uint8 `[H, W, 3]`).

    Raises:
        TypeError: `arc` is not an arc of `enas_tf2.arch`.
    """
    if isinstance(arc, arch.MacroArc):
        return draw_macro(arc)
    if isinstance(arc, arch.MicroArc):
        return draw_micro(arc)
    if isinstance(arc, arch.MicroCell):
        return draw_micro_cell(arc)
    if isinstance(arc, arch.PtbArc):
        return draw_ptb(arc)
    raise TypeError(
        f"draw_arc takes a MacroArc, MicroArc, MicroCell or PtbArc; got {type(arc).__name__}."
    )


def write_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Writes `image` (uint8 `[H, W, 3]`) to `path` as PNG, atomically.

    The bytes go to `path + ".tmp"` first and are then renamed over `path`, so a reader (e.g. a
    report refreshing while the search runs) never sees a half-written file.

    Raises:
        ValueError: `image` is not uint8 `[H, W, 3]`.
        OSError: the file cannot be written (the temporary file is removed).
    """
    data = encode_png(image)
    path = os.fspath(path)
    temporary = path + ".tmp"
    try:
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def draw_macro(arc: arch.MacroArc, op_names: Sequence[str] | None = None) -> np.ndarray:
    """Returns the picture of a macro arc: the layer chain, its skip connections and the head.

    The chain runs top to bottom: image, stem (node 0), one box per layer `l` (node `l + 1`),
    then the global-average-pool + fc head, consecutive boxes joined by arrows. A skip from
    node `j` into layer `l` is a half-ellipse on the right from the lower half of node `j`'s box
    to the upper half of layer `l`'s, as wide as the distance it spans and coloured by `j`, so
    every skip out of one node shares a colour and a start point.

    Args:
        arc: the macro arc.
        op_names: name per op id; None uses `arch.MACRO_OPS` (the names
            `MacroArc.describe(op_names=True)` prints).

    Returns:
        uint8 `[H, W, 3]`.
    """
    names = tuple(arch.MACRO_OPS.names if op_names is None else op_names)
    rows = ["image", _MACRO_STEM]
    rows += [f"layer {layer}: {_macro_op_name(op, names)}" for layer, op in enumerate(arc.ops)]
    rows.append(_MACRO_HEAD)
    fills = [_INPUT_FILL, _INPUT_FILL] + [_LAYER_FILL] * arc.num_layers + [_OUTPUT_FILL]
    skips = [  # (node j, node l + 1): node n is drawn in row n + 1, under "image".
        (source, layer + 1)
        for layer in range(arc.num_layers)
        for source in arc.skip_sources(layer)
    ]
    title = f"macro arc: {_count(arc.num_layers, 'layer')}, {_count(arc.num_skips, 'skip')}"

    chain = _Chain.fit(rows, top=_MARGIN + text_size(title, TITLE_SCALE)[1] + 20,
                       left=_MARGIN + text_size(f"node {arc.num_layers}", LABEL_SCALE)[0] + 10)
    max_span = max((target - source for source, target in skips), default=1)
    arc_step = min(_SKIP_STEP, _SKIP_MAX_REACH / max_span)
    width = max(
        int(chain.right + 12 + arc_step * max_span + 12 + _MARGIN),
        2 * _MARGIN + text_size(title, TITLE_SCALE)[0],
    )
    canvas = Canvas(width, int(chain.centres[-1] + chain.box_height / 2 + _MARGIN))
    canvas.text(_MARGIN, _MARGIN, title, _INK, TITLE_SCALE)
    chain.draw_arrows(canvas)
    _draw_skip_arcs(canvas, chain, skips, arc_step)
    chain.draw_boxes(canvas, fills)
    for node in range(arc.num_layers + 1):  # Skip bits name nodes: tag them.
        tag = f"node {node}"
        tag_width, tag_height = text_size(tag, LABEL_SCALE)
        canvas.text(chain.left - 10 - tag_width, chain.centres[node + 1] - tag_height / 2, tag,
                    _MUTED, LABEL_SCALE)
    _draw_skip_ends(canvas, chain, skips)
    return canvas.to_array()


@dataclasses.dataclass(frozen=True)
class _Chain:
    """Geometry of the macro picture's column of equal boxes, top to bottom.

    Attributes:
        rows: the box labels.
        left: x of the boxes' left side.
        box_width, box_height: every box's size (the widest label sets the width).
        centres: y of each box's centre.
    """

    rows: tuple[str, ...]
    left: float
    box_width: float
    box_height: float
    centres: tuple[float, ...]

    @classmethod
    def fit(cls, rows: Sequence[str], top: float, left: float) -> _Chain:
        """Returns the column sized for `rows`, its first box's top at `top`."""
        width = max(text_size(row, LABEL_SCALE)[0] for row in rows) + 2 * _BOX_PADDING_X
        height = text_size("X", LABEL_SCALE)[1] + 2 * _BOX_PADDING_Y
        pitch = height + _CHAIN_GAP
        centres = tuple(top + height / 2 + index * pitch for index in range(len(rows)))
        return cls(tuple(rows), left, width, height, centres)

    @property
    def right(self) -> float:
        """x of the boxes' right side, where skip arcs start and end."""
        return self.left + self.box_width

    def port(self, row: int, leaving: bool) -> tuple[float, float]:
        """Returns where skips leave (lower half) or enter (upper half) a box's right side;
        apart, so a box's outgoing and incoming bundles do not merge."""
        offset = self.box_height / 4
        return self.right, self.centres[row] + (offset if leaving else -offset)

    def draw_arrows(self, canvas: Canvas) -> None:
        """Joins consecutive boxes with downward arrows."""
        x = self.left + self.box_width / 2
        half = self.box_height / 2
        for upper, lower in zip(self.centres[:-1], self.centres[1:]):
            canvas.arrow(x, upper + half, x, lower - half - 1, _INK, _EDGE_THICKNESS,
                         _HEAD_LENGTH, _HEAD_WIDTH)

    def draw_boxes(self, canvas: Canvas, fills: Sequence[Color]) -> None:
        """Draws every box with its label."""
        for row, centre, fill in zip(self.rows, self.centres, fills):
            _draw_box(canvas, self.left, centre, self.box_width, self.box_height, row, fill)


def _draw_skip_arcs(
    canvas: Canvas, chain: _Chain, skips: Sequence[tuple[int, int]], arc_step: float
) -> None:
    """Draws each skip (source node, target node) as a half-ellipse right of the chain, its
    reach growing with the distance spanned, coloured by its source; longest first, so the
    short arcs near the boxes stay on top."""
    for source, target in sorted(skips, key=lambda skip: skip[0] - skip[1]):
        start = chain.port(source + 1, leaving=True)
        end = chain.port(target + 1, leaving=False)
        reach = 12 + arc_step * (target - source)
        canvas.polyline(_half_ellipse(start, end, reach), _palette(source), _EDGE_THICKNESS)


def _draw_skip_ends(canvas: Canvas, chain: _Chain, skips: Sequence[tuple[int, int]]) -> None:
    """Marks each skip's start with a dot of its colour and its end with an arrow head (skips
    into one box share the head: they all arrive horizontally at the same point)."""
    for source, target in skips:
        canvas.circle(*chain.port(source + 1, leaving=True), 3.5, fill=_palette(source))
        tip = chain.port(target + 1, leaving=False)
        canvas.arrow_head(tip, (tip[0] + 10, tip[1]), _INK, 10, 9)


def draw_micro(arc: arch.MicroArc) -> np.ndarray:
    """Returns the picture of a micro arc: the normal cell above the reduction cell.

    See `draw_micro_cell` for one cell's layout.

    Returns:
        uint8 `[H, W, 3]`.
    """
    panels = [
        draw_micro_cell(cell, f"{name} cell")
        for name, cell in zip(arch.MICRO_CELL_NAMES, arc.cells)
    ]
    return _stack_vertically(panels)


def draw_micro_cell(cell: arch.MicroCell, title: str | None = None) -> np.ndarray:
    """Returns the picture of one micro cell.

    Nodes 0 and 1 (the outputs of the cells two back and one back, `h[-2]` and `h[-1]`) are on
    the left; block `k` is node `k + 2`, in the column of its depth (longest path from the
    inputs), with an arrow from each of its two inputs labelled with that input's op (the node
    is the sum of both). The loose ends (`MicroCell.loose_ends()`) feed `concat`, the cell
    output.

    Args:
        cell: the cell.
        title: drawn at the top left, e.g. "normal cell"; None draws none.

    Returns:
        uint8 `[H, W, 3]`.
    """
    depth = _micro_depths(cell)
    output_column = max(depth) + 1
    label_width = max(
        text_size(_micro_op_label(op), LABEL_SCALE)[0]
        for block in cell.blocks
        for op in (block[1], block[3])
    )
    label_height = text_size("X", LABEL_SCALE)[1]
    block_height = label_height + 2 * _BOX_PADDING_Y + 4
    # A block's arrows enter a quarter of its height above and below its centre, each label
    # sits beyond its arrow: keep the labels' room free of the neighbouring boxes.
    label_reserve = max(0.0, label_height + 2 * _LABEL_PADDING + 3 - block_height / 4) + 4

    nodes = [
        _node(0, "node 0\nh[-2]", _INPUT_FILL),
        _node(0, "node 1\nh[-1]", _INPUT_FILL),
    ]
    for block in range(cell.num_blocks):
        node = _node(depth[block + 2], f"node {block + 2}", _LAYER_FILL, min_height=block_height)
        node.reserve = label_reserve
        node.port_pitch = node.height / 2
        nodes.append(node)
    loose_ends = cell.loose_ends()
    output = _node(output_column, "concat", _OUTPUT_FILL)
    output.height = max(output.height, 16.0 * len(loose_ends) + 12)
    output.port_pitch = 16.0

    edges = []
    for block, (index_1, op_1, index_2, op_2) in enumerate(cell.blocks):
        for index, op in ((index_1, op_1), (index_2, op_2)):
            edges.append(_Edge(
                nodes[index], nodes[block + 2], _micro_op_color(op), _micro_op_label(op)
            ))
    edges += [_Edge(nodes[node], output, _INK) for node in loose_ends]

    labelled = range(1, output_column)
    lanes = {column: label_width + 2 * _LABEL_PADDING + _HEAD_LENGTH + 10 for column in labelled}
    gaps = {column: 70 + lanes[column] for column in labelled}
    gaps[output_column] = 90
    return _Graph(nodes + [output], edges, gaps, lanes).draw(title)


def draw_ptb(arc: arch.PtbArc, output_nodes: Sequence[int] | None = None) -> np.ndarray:
    """Returns the picture of a PTB recurrent cell.

    `x[t]` and `h[t-1]` feed node 0; node `l` reads `predecessors[l]` and is labelled with its
    activation; nodes are in columns by depth. The cell output `h[t]` is the average of
    `output_nodes`, joined by `avg`.

    Args:
        arc: the cell.
        output_nodes: the averaged nodes; None uses `arc.loose_ends()` (the original's rule).
            Pass `range(1, arc.num_nodes)` for enas_lm's GPU model, which averages nodes 1..L.

    Returns:
        uint8 `[H, W, 3]`.

    Raises:
        ValueError: `output_nodes` is empty or names a node outside `0..N-1`.
    """
    averaged = tuple(arc.loose_ends() if output_nodes is None else output_nodes)
    bad = [node for node in averaged if not 0 <= int(node) < arc.num_nodes]
    if not averaged or bad:
        raise ValueError(
            f"output_nodes must be a non-empty list of nodes in 0..{arc.num_nodes - 1}; got "
            f"{list(averaged)}."
        )
    averaged = tuple(sorted(set(int(node) for node in averaged)))

    depth = _ptb_depths(arc)
    output_column = max(depth) + 1
    inputs = [_node(0, "x[t]", _INPUT_FILL), _node(0, "h[t-1]", _INPUT_FILL)]
    cells = []
    for node, name in enumerate(arc.activation_names):
        activation = arc.activations[node]
        fill = (
            _PTB_ACTIVATION_FILLS.get(arch.PTB_ACTIVATIONS.label(activation), _LAYER_FILL)
        )
        cells.append(_node(depth[node], f"node {node}\n{name}", fill))
    cells[0].port_pitch = cells[0].height / 2
    output = _node(output_column, "avg\nh[t]", _OUTPUT_FILL)
    output.height = max(output.height, 14.0 * len(averaged) + 12)
    output.port_pitch = 14.0

    edges = [_Edge(source, cells[0], _INK) for source in inputs]
    edges += [
        _Edge(cells[arc.predecessors[node]], cells[node], _INK) for node in range(1, arc.num_nodes)
    ]
    edges += [_Edge(cells[node], output, _MUTED) for node in averaged]
    gaps = {column: 80.0 for column in range(1, output_column + 1)}
    graph = _Graph(inputs + cells + [output], edges, gaps, lanes={})
    title = "PTB cell, h[t] = avg of nodes " + " ".join(str(node) for node in averaged)
    return graph.draw(title)


# ---------------------------------------------------------------------------------------------
# Layered graph layout (micro and PTB cells).
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _Node:
    """A box of a layered diagram, or an invisible waypoint of an edge (empty text).

    Attributes:
        column: layer of the layout, left to right.
        text: the label; "" marks a waypoint.
        fill: box colour.
        width, height: box size in pixels (a waypoint's width becomes its column's).
        reserve: free space kept above and below the box (for edge labels).
        port_pitch: spacing of the incoming arrows along the box's left side.
        x, y: the box centre, set by the layout.
    """

    column: int
    text: str = ""
    fill: Color = _LAYER_FILL
    width: float = 0.0
    height: float = 0.0
    reserve: float = 0.0
    port_pitch: float = 14.0
    x: float = 0.0
    y: float = 0.0

    @property
    def span(self) -> float:
        """Vertical room the node needs in its column."""
        return self.height + 2 * self.reserve


@dataclasses.dataclass(eq=False)
class _Edge:
    """An arrow between two boxes, optionally labelled next to its head.

    Attributes:
        source, target: the boxes (the target in a later column).
        color: line colour (the label is drawn in a darker shade).
        label: text drawn along the straight piece before the head, or None.
        waypoints: one invisible node per column strictly between source and target.
        source_y, target_y: where the arrow leaves and enters, set by the layout.
    """

    source: _Node
    target: _Node
    color: Color
    label: str | None = None
    waypoints: list[_Node] = dataclasses.field(default_factory=list)
    source_y: float = 0.0
    target_y: float = 0.0


def _node(column: int, text: str, fill: Color, min_height: float = 0.0) -> _Node:
    """Returns a box sized to its label (at `LABEL_SCALE`, with padding)."""
    width, height = text_size(text, LABEL_SCALE)
    return _Node(
        column=column,
        text=text,
        fill=fill,
        width=width + 2 * _BOX_PADDING_X,
        height=max(height + 2 * _BOX_PADDING_Y, min_height),
    )


class _Graph:
    """A layered drawing of boxes and edges that only go to later columns.

    Args:
        nodes: the boxes; their column must be set.
        edges: the arrows; `source.column < target.column`.
        gaps: horizontal space before each column > 0, in pixels.
        lanes: per column, the length of the straight piece before each arrow head (room for an
            edge label); columns not listed get just the head.
    """

    _ROW_GAP = 18.0
    _WAYPOINT_SPAN = 6.0
    _SWEEPS = 6

    def __init__(
        self,
        nodes: list[_Node],
        edges: list[_Edge],
        gaps: dict[int, float],
        lanes: dict[int, float],
    ):
        self.nodes = nodes
        self.edges = edges
        self.gaps = gaps
        self.lanes = lanes
        for edge in edges:
            edge.waypoints = [
                _Node(column=column, height=self._WAYPOINT_SPAN)
                for column in range(edge.source.column + 1, edge.target.column)
            ]
        num_columns = max(node.column for node in nodes) + 1
        self.columns: list[list[_Node]] = [[] for _ in range(num_columns)]
        for node in nodes:
            self.columns[node.column].append(node)
        for edge in edges:
            for waypoint in edge.waypoints:
                self.columns[waypoint.column].append(waypoint)
        self.predecessors: dict[_Node, list[_Node]] = collections.defaultdict(list)
        self.successors: dict[_Node, list[_Node]] = collections.defaultdict(list)
        for edge in edges:
            path = [edge.source, *edge.waypoints, edge.target]
            for first, second in zip(path[:-1], path[1:]):
                self.predecessors[second].append(first)
                self.successors[first].append(second)

    # --- layout ------------------------------------------------------------------------------

    def layout(self, top: float) -> tuple[int, int]:
        """Places every node and port; returns the drawing's `(width, height)` incl. margins."""
        self._order_columns()
        self._place_rows()
        shift = top - min(node.y - node.span / 2 for column in self.columns for node in column)
        for column in self.columns:
            for node in column:
                node.y += shift
        right = self._place_columns()
        self._place_ports()
        bottom = max(node.y + node.span / 2 for column in self.columns for node in column)
        return int(math.ceil(right + _MARGIN)), int(math.ceil(bottom + _MARGIN))

    def _order_columns(self) -> None:
        """Sorts each column by the mean position of its neighbours (barycentre heuristic),
        sweeping right then left a few times: fewer crossings, stable on ties."""
        sweeps = (
            (range(1, len(self.columns)), self.predecessors),
            (range(len(self.columns) - 2, -1, -1), self.successors),
        )
        for _ in range(self._SWEEPS):
            for order, neighbours in sweeps:
                for column in order:
                    position = self._positions()
                    self.columns[column].sort(
                        key=lambda node: _mean(
                            [position[other] for other in neighbours[node]], position[node]
                        )
                    )

    def _positions(self) -> dict[_Node, float]:
        """Returns each node's index in its column, centred so columns of any size compare."""
        return {
            node: index - (len(column) - 1) / 2
            for column in self.columns
            for index, node in enumerate(column)
        }

    def _place_rows(self) -> None:
        """Stacks each column, then pulls nodes towards their neighbours' heights while keeping
        the order and the spacing, so most edges come out nearly horizontal."""
        for column in self.columns:
            self._pack(column, [0.0] * len(column))
        sweeps = (
            (range(1, len(self.columns)), self.predecessors),
            (range(len(self.columns) - 2, -1, -1), self.successors),
        )
        for _ in range(self._SWEEPS):
            for order, neighbours in sweeps:
                for index in order:
                    column = self.columns[index]
                    desired = [
                        _mean([other.y for other in neighbours[node]], node.y) for node in column
                    ]
                    self._pack(column, desired)

    def _pack(self, column: list[_Node], desired: list[float]) -> None:
        """Sets the nodes' y as close to `desired` as the order and the spacing allow."""
        placed: list[float] = []
        for index, node in enumerate(column):
            y = desired[index]
            if index:
                above = column[index - 1]
                y = max(y, placed[-1] + (above.span + node.span) / 2 + self._ROW_GAP)
            placed.append(y)
        shift = _mean([want - got for want, got in zip(desired, placed)], 0.0)
        for node, y in zip(column, placed):
            node.y = y + shift

    def _place_columns(self) -> float:
        """Sets each node's x (centred in its column); returns the right edge of the last one."""
        left = float(_MARGIN)
        for index, column in enumerate(self.columns):
            if index:
                left += self.gaps.get(index, 80.0)
            width = max(node.width for node in column if node.text) if any(
                node.text for node in column
            ) else 0.0
            for node in column:
                if not node.text:
                    node.width = width
                node.x = left + width / 2
            left += width
        return left

    def _place_ports(self) -> None:
        """Spreads the arrows leaving and entering each box along its sides, in the order of
        the other ends, so arrows at one box do not cross each other."""
        leaving: dict[_Node, list[_Edge]] = collections.defaultdict(list)
        entering: dict[_Node, list[_Edge]] = collections.defaultdict(list)
        for edge in self.edges:
            leaving[edge.source].append(edge)
            entering[edge.target].append(edge)
        for source, group in leaving.items():
            group.sort(key=lambda edge: (edge.waypoints or [edge.target])[0].y)
            for edge, offset in zip(group, _spread(len(group), source.height, 8.0)):
                edge.source_y = source.y + offset
        for target, group in entering.items():
            group.sort(
                key=lambda edge: edge.waypoints[-1].y if edge.waypoints else edge.source_y
            )
            for edge, offset in zip(group, _spread(len(group), target.height, target.port_pitch)):
                edge.target_y = target.y + offset

    # --- drawing -----------------------------------------------------------------------------

    def draw(self, title: str | None) -> np.ndarray:
        """Lays the graph out under `title` and returns the picture."""
        top = float(_MARGIN)
        if title:
            top += text_size(title, TITLE_SCALE)[1] + 24
        width, height = self.layout(top)
        if title:
            width = max(width, 2 * _MARGIN + text_size(title, TITLE_SCALE)[0])
        canvas = Canvas(width, height)
        if title:
            canvas.text(_MARGIN, _MARGIN, title, _INK, TITLE_SCALE)
        for edge in self.edges:
            self._draw_edge(canvas, edge)
        for node in self.nodes:
            _draw_box(canvas, node.x - node.width / 2, node.y, node.width, node.height,
                      node.text, node.fill)
        for edge in self.edges:
            if edge.label:
                self._draw_label(canvas, edge)
        return canvas.to_array()

    def _lane(self, column: int) -> float:
        """Length of the straight piece before the boxes of `column` (edge heads and labels);
        waypoints get it too, so an edge crossing the column stays clear of the labels there."""
        return self.lanes.get(column, _HEAD_LENGTH + 8)

    def _draw_edge(self, canvas: Canvas, edge: _Edge) -> None:
        """Draws the edge: S-curves between columns, straight through waypoints and the lane."""
        current = (edge.source.x + edge.source.width / 2, edge.source_y)
        pieces = [np.array([current])]
        stops = [
            (
                (node.x - node.width / 2 - self._lane(node.column), node.y),
                (node.x + node.width / 2, node.y),
            )
            for node in edge.waypoints
        ]
        tip_x = edge.target.x - edge.target.width / 2
        stops.append((
            (tip_x - self._lane(edge.target.column), edge.target_y),
            (tip_x - _HEAD_LENGTH * 0.6, edge.target_y),
        ))
        for entry, exit_ in stops:
            pieces.append(_s_curve(current, entry)[1:])
            pieces.append(np.array([exit_]))
            current = exit_
        canvas.polyline(np.concatenate(pieces), edge.color, _EDGE_THICKNESS)
        canvas.arrow_head(
            (tip_x, edge.target_y), (tip_x - 10, edge.target_y), edge.color,
            _HEAD_LENGTH, _HEAD_WIDTH,
        )

    def _draw_label(self, canvas: Canvas, edge: _Edge) -> None:
        """Writes the edge's label beside its lane: above it for the upper arrow into a box,
        below it for the lower one, so the two labels of a block never overlap."""
        width, height = text_size(edge.label, LABEL_SCALE)
        tip_x = edge.target.x - edge.target.width / 2
        centre_x = tip_x - _HEAD_LENGTH - 6 - width / 2 - _LABEL_PADDING
        below = edge.target_y > edge.target.y
        offset = 3 + height / 2 + _LABEL_PADDING
        centre_y = edge.target_y + offset if below else edge.target_y - offset
        canvas.label(centre_x, centre_y, edge.label, _darker(edge.color), LABEL_SCALE,
                     padding=_LABEL_PADDING)


# ---------------------------------------------------------------------------------------------
# Small helpers.
# ---------------------------------------------------------------------------------------------


def _draw_box(
    canvas: Canvas, left: float, centre_y: float, width: float, height: float, text: str,
    fill: Color,
) -> None:
    """Draws a rounded, outlined box with its label centred."""
    top = centre_y - height / 2
    canvas.rectangle(left, top, left + width, top + height, fill=fill, outline=_INK,
                     thickness=2, radius=_BOX_RADIUS)
    canvas.centered_text(left + width / 2, centre_y, text, (0, 0, 0), LABEL_SCALE)


def _half_ellipse(start: tuple[float, float], end: tuple[float, float], reach: float) -> np.ndarray:
    """Returns points of the right half-ellipse from `start` down to `end` (same x), bulging
    `reach` pixels to the right; it leaves and arrives horizontally."""
    centre_y = (start[1] + end[1]) / 2
    radius_y = (end[1] - start[1]) / 2
    count = max(8, int(math.pi * (reach + abs(radius_y)) / 2 / 6))
    theta = np.linspace(0.0, math.pi, count)
    return np.stack([start[0] + reach * np.sin(theta), centre_y - radius_y * np.cos(theta)], axis=1)


def _s_curve(start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """Returns points of a cubic curve leaving `start` and reaching `end` horizontally."""
    half = (end[0] - start[0]) / 2
    return bezier_points((start, (start[0] + half, start[1]), (end[0] - half, end[1]), end))


def _spread(count: int, height: float, pitch: float) -> np.ndarray:
    """Returns `count` offsets from a box's centre, `pitch` apart, kept 6 px inside the box."""
    if count == 1:
        return np.zeros(1)
    span = min(max(height - 12.0, 0.0), (count - 1) * pitch)
    return np.linspace(-span / 2, span / 2, count)


def _micro_depths(cell: arch.MicroCell) -> list[int]:
    """Returns each node's column: 0 for the inputs, else 1 + its deeper input's (longest path
    from the inputs), so every arrow points right."""
    depth = [0, 0]
    for index_1, _, index_2, _ in cell.blocks:
        depth.append(1 + max(depth[index_1], depth[index_2]))
    return depth


def _ptb_depths(arc: arch.PtbArc) -> list[int]:
    """Returns each node's column: 1 for node 0 (the inputs x[t], h[t-1] are column 0), else
    1 + its predecessor's."""
    depth = [1]
    for node in range(1, arc.num_nodes):
        depth.append(depth[arc.predecessors[node]] + 1)
    return depth


def _count(number: int, noun: str) -> str:
    """Returns `1 layer`, `24 layers`: titles read naturally for one-layer test arcs too."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _mean(values: list[float], default: float) -> float:
    """Returns the mean of `values`, or `default` if there are none."""
    return sum(values) / len(values) if values else default


def _palette(index: int) -> Color:
    """Returns the `index`-th palette colour, cycling."""
    return _PALETTE[index % len(_PALETTE)]


def _darker(color: Color) -> Color:
    """Returns `color` darkened, for text that must stay readable on white."""
    return tuple(int(value * 0.7) for value in color)  # type: ignore[return-value]


def _macro_op_name(op: int, names: Sequence[str]) -> str:
    """Returns the name of a macro op id, or `op <id>` when `names` has none."""
    return names[op] if 0 <= op < len(names) else f"op {op}"


def _micro_op_label(op: int) -> str:
    """Returns the label of a micro op id (its `arch.MICRO_OPS` name)."""
    return arch.MICRO_OPS.name_of(op) if 0 <= op < len(arch.MICRO_OPS) else f"op {op}"


def _micro_op_color(op: int) -> Color:
    """Returns the edge colour of a micro op id."""
    return _MICRO_OP_COLORS.get(arch.MICRO_OPS.label(op), _UNKNOWN_OP_COLOR)


def _stack_vertically(images: list[np.ndarray]) -> np.ndarray:
    """Stacks pictures top to bottom on white, left-aligned, with a grey rule between them."""
    width = max(image.shape[1] for image in images)
    parts = []
    for index, image in enumerate(images):
        if index:
            rule = np.full((3, width, 3), 255, dtype=np.uint8)
            rule[1, _MARGIN:width - _MARGIN] = (200, 200, 200)
            parts.append(rule)
        padded = np.full((image.shape[0], width, 3), 255, dtype=np.uint8)
        padded[:, :image.shape[1]] = image
        parts.append(padded)
    return np.concatenate(parts, axis=0)
