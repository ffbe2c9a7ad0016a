"""Tests of enas_tf2.pictures: the canvas, its bitmap font and the architecture diagrams."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.arch import MACRO_FINAL_ARC, MICRO_FINAL_ARC, PTB_FINAL_ARC
from enas_tf2.pictures import canvas as canvas_lib
from enas_tf2.pictures import diagrams, font
from enas_tf2.pictures.canvas import Canvas, text_size

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
RED = (255, 0, 0)

#: The characters the brief requires, besides letters and digits.
REQUIRED_SYMBOLS = " _-x+()[]:,./=#<"

SMALL_MACRO = "1  0 1  4 1 0"  # 3 layers, skips 0 -> layer 1 and 0 -> layer 2.
SMALL_MICRO = "0 0 1 2  1 3 0 4"  # B=1: node 2 = sep(0) + avg(1), then max(1) + identity(0).
SMALL_PTB = "0 0 1 1 2"  # 3 nodes: 1 <- 0 (relu), 2 <- 1 (identity).


def ink(image: np.ndarray, background=WHITE) -> np.ndarray:
    """Returns the bool mask of pixels that differ from the background."""
    return np.any(image != np.asarray(background, dtype=np.uint8), axis=-1)


def decode(png: bytes) -> np.ndarray:
    return tf.io.decode_png(png, channels=3).numpy()


@pytest.fixture(scope="module")
def big_pictures():
    """The three spaces' real final arcs, drawn once for the module (the macro one is slowest)."""
    return {
        "macro": diagrams.draw_macro(arch.MacroArc.parse(MACRO_FINAL_ARC)),
        "micro": diagrams.draw_micro(arch.MicroArc.parse(MICRO_FINAL_ARC)),
        "ptb": diagrams.draw_ptb(arch.PtbArc.parse(PTB_FINAL_ARC)),
    }


# --- font -------------------------------------------------------------------------------------


def test_font_covers_letters_digits_and_required_symbols():
    required = (
        [chr(code) for code in range(ord("A"), ord("Z") + 1)]
        + [chr(code) for code in range(ord("a"), ord("z") + 1)]
        + [str(digit) for digit in range(10)]
        + list(REQUIRED_SYMBOLS)
    )
    for character in required:
        bitmap = font.glyph(character)
        assert bitmap.shape == (font.GLYPH_HEIGHT, font.GLYPH_WIDTH), character
        assert bitmap.any() == (character != " "), character


def test_glyphs_are_all_different():
    bitmaps = {character: font.glyph(character).tobytes() for character in font.CHARACTERS}
    duplicates = len(bitmaps) - len(set(bitmaps.values()))
    assert duplicates == 0


def test_unknown_character_raises_naming_it():
    canvas = Canvas(50, 20)
    with pytest.raises(ValueError, match="'é'"):
        canvas.text(0, 0, "caf\u00e9")
    with pytest.raises(ValueError, match="'~'"):
        font.render("a~b")


def test_text_scale_must_be_a_positive_integer():
    for scale in (0, -1, 1.5):
        with pytest.raises(ValueError, match="scale"):
            Canvas(50, 20).text(0, 0, "a", scale=scale)


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_text_inks_exactly_its_text_size_box(scale):
    # H's last column, A's top row and _'s bottom row are ink: the box must be tight.
    text = "Ag_jpq[x]=#<H"
    canvas = Canvas(260, 40)
    canvas.text(13, 7, text, RED, scale)
    width, height = text_size(text, scale)
    assert (width, height) == ((6 * len(text) - 1) * scale, 9 * scale)
    rows, cols = np.nonzero(ink(canvas.to_array()))
    assert (cols.min(), cols.max() + 1) == (13, 13 + width)
    assert (rows.min(), rows.max() + 1) == (7, 7 + height)
    image = canvas.to_array()
    assert np.all(image[ink(image)] == RED)  # Text is drawn in its colour, not blended.


def test_multiline_text_size_and_centring():
    # H's first and R's last column are ink, so the ink spans the longer line's box.
    width, height = text_size("ab\nHOMER", 2)
    assert width == text_size("HOMER", 2)[0]
    assert height == (2 * font.LINE_ADVANCE - 2) * 2
    canvas = Canvas(101, 61)
    canvas.centered_text(50.5, 30.5, "ab\nHOMER", BLACK, 2)
    rows, cols = np.nonzero(ink(canvas.to_array()))
    assert abs((cols.min() + cols.max() + 1) / 2 - 50.5) <= 1
    assert rows.min() >= 30.5 - height / 2 - 1 and rows.max() < 30.5 + height / 2 + 1


def test_text_is_clipped_at_the_edges():
    canvas = Canvas(30, 10)
    canvas.text(-7, -5, "HELLO WORLD", BLACK, 2)
    canvas.text(25, 8, "HELLO", BLACK, 3)
    canvas.text(1e9, -1e9, "far away")
    assert ink(canvas.to_array()).any()


# --- canvas -----------------------------------------------------------------------------------


def test_png_decodes_to_the_array():
    canvas = Canvas(37, 23, background=(10, 20, 30))
    canvas.rectangle(3, 3, 20, 15, fill=RED, outline=BLACK, thickness=2, radius=4)
    canvas.arrow(2, 20, 34, 4, (0, 128, 255), thickness=2)
    array = canvas.to_array()
    assert array.dtype == np.uint8 and array.shape == (23, 37, 3)
    np.testing.assert_array_equal(decode(canvas.to_png()), array)


def test_to_array_is_a_copy():
    canvas = Canvas(5, 5)
    canvas.to_array()[...] = 0
    assert np.all(canvas.to_array() == 255)


def test_bad_size_and_colour_raise():
    with pytest.raises(ValueError, match="positive size"):
        Canvas(0, 10)
    with pytest.raises(ValueError, match="colour"):
        Canvas(5, 5).rectangle(0, 0, 5, 5, fill=(0, 0, 256))
    with pytest.raises(ValueError, match="uint8"):
        canvas_lib.encode_png(np.zeros((4, 4), dtype=np.uint8))


def test_axis_aligned_rectangle_and_line_are_crisp():
    canvas = Canvas(40, 30)
    canvas.rectangle(5, 5, 15, 12, fill=RED)
    canvas.line(20, 20.0, 35, 20.0, BLACK, thickness=2)
    image = canvas.to_array()
    red = np.all(image == RED, axis=-1)
    assert red[5:12, 5:15].all() and red.sum() == 10 * 7
    # A 2-px line along y = 20 covers rows 19 and 20 fully; its round caps stay within 1 px.
    assert np.all(image[19:21, 20:35] == 0)
    line = ink(image)[:, 17:]
    assert not line[:18].any() and not line[22:].any()
    assert not line[18, 4:18].any() and not line[21, 4:18].any()  # No grey fringe along it.


def test_outlined_rounded_rectangle_keeps_its_fill_and_corners():
    canvas = Canvas(60, 40)
    canvas.rectangle(10, 10, 50, 30, fill=RED, outline=BLACK, thickness=2, radius=6)
    image = canvas.to_array()
    assert np.all(image[20, 30] == RED)
    assert np.all(image[20, 10] == BLACK) and np.all(image[20, 49] == BLACK)
    assert np.all(image[10, 10] == WHITE)  # The corner is rounded off.
    assert np.all(image[9, 30] == WHITE) and np.all(image[30, 30] == WHITE)


def test_diagonal_line_is_antialiased_and_even():
    canvas = Canvas(60, 60)
    canvas.line(5, 5, 55, 55, BLACK, thickness=3)
    image = canvas.to_array()[..., 0].astype(int)
    grey = (image > 0) & (image < 255)
    assert grey.any()  # Smoothed edges.
    # The stroke has the same profile all along: the darkness summed across each row is equal
    # away from the round ends.
    darkness = (255 - image).sum(axis=1)[15:45]
    assert darkness.max() - darkness.min() <= 0.05 * darkness.mean()


def test_polyline_joins_are_not_darker_than_the_stroke():
    canvas = Canvas(80, 40)
    canvas.polyline([(5, 20.5), (20, 20.5), (40, 20.5), (75, 20.5)], (100, 100, 100), 1.0)
    row = canvas.to_array()[20, 8:72, 0]
    assert np.all(row == 100)  # Overlapping pieces are merged, not blended twice.


def test_arrow_has_a_head_wider_than_its_shaft_at_the_tip():
    canvas = Canvas(100, 40)
    canvas.arrow(5, 20, 90, 20, BLACK, thickness=2)
    mask = ink(canvas.to_array())
    column_height = mask.sum(axis=0)
    assert column_height[40] <= 3
    assert column_height[80:88].max() >= 7
    assert mask[:, 90:].sum() <= 4  # The tip ends at x = 90.


def test_curves_return_their_polyline_and_end_at_their_end_points():
    canvas = Canvas(100, 100)
    points = canvas.quadratic_curve((10, 90), (50, -30), (90, 90), BLACK)
    np.testing.assert_allclose(points[[0, -1]], [[10, 90], [90, 90]])
    assert points[:, 1].min() == pytest.approx(30, abs=1)  # The apex of the parabola.
    cubic = canvas.cubic_curve((10, 10), (90, 10), (10, 90), (90, 90), RED)
    np.testing.assert_allclose(cubic[[0, -1]], [[10, 10], [90, 90]])
    assert np.all(np.hypot(*np.diff(points, axis=0).T) <= 5)
    assert ink(canvas.to_array()).sum() > 200


def test_drawing_off_canvas_is_clipped_not_an_error():
    canvas = Canvas(40, 30)
    canvas.arrow(-50, -50, 1000, 800, BLACK)
    canvas.arrow(20, 15, 20, -400, BLACK)
    canvas.line(-1e12, 15, 1e12, 15, RED, thickness=4)
    canvas.rectangle(-10, -10, 5, 5, fill=RED, outline=BLACK, radius=3)
    canvas.cubic_curve((-100, -100), (500, 0), (-500, 30), (100, 100), BLACK)
    canvas.circle(39, 29, 8, fill=RED)
    canvas.polygon([(-10, -10), (100, 5), (10, 100)], (0, 0, 255))
    assert ink(canvas.to_array()).any()

    untouched = Canvas(40, 30)
    untouched.arrow(-100, -100, -50, -60, BLACK)
    untouched.arrow(500, 500, 600, 600, BLACK)
    untouched.rectangle(41, 0, 60, 30, fill=RED)
    untouched.line(0, math.inf, 10, 10, BLACK)
    untouched.quadratic_curve((-5, 40), (20, 80), (45, 40), BLACK)
    untouched.polygon([(50, 50), (60, 50), (55, 60)], RED)
    assert not ink(untouched.to_array()).any()


# --- diagrams ---------------------------------------------------------------------------------

SMALL_ARCS = {
    "macro": arch.MacroArc.parse(SMALL_MACRO),
    "micro": arch.MicroArc.parse(SMALL_MICRO),
    "ptb": arch.PtbArc.parse(SMALL_PTB),
}


def check_picture(image: np.ndarray, min_ink: float = 0.03) -> None:
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert 100 <= image.shape[0] <= 4000 and 100 <= image.shape[1] <= 4000
    assert ink(image).mean() >= min_ink  # Not blank.
    np.testing.assert_array_equal(decode(canvas_lib.encode_png(image)), image)


@pytest.mark.parametrize("space", ["macro", "micro", "ptb"])
def test_small_arcs_draw(space):
    image = diagrams.draw_arc(SMALL_ARCS[space])
    check_picture(image)


@pytest.mark.parametrize("space", ["macro", "micro", "ptb"])
def test_final_arcs_draw_at_a_sane_size(space, big_pictures):
    check_picture(big_pictures[space])


def test_draw_arc_dispatches_on_the_arc_type(big_pictures):
    np.testing.assert_array_equal(
        diagrams.draw_arc(arch.MicroArc.parse(MICRO_FINAL_ARC)), big_pictures["micro"]
    )
    np.testing.assert_array_equal(
        diagrams.draw_arc(arch.PtbArc.parse(PTB_FINAL_ARC)), big_pictures["ptb"]
    )
    cell = arch.MicroArc.parse(MICRO_FINAL_ARC).normal
    np.testing.assert_array_equal(diagrams.draw_arc(cell), diagrams.draw_micro_cell(cell))
    with pytest.raises(TypeError, match="MacroArc"):
        diagrams.draw_arc(MACRO_FINAL_ARC)


@pytest.mark.parametrize("space", ["macro", "micro", "ptb"])
def test_bigger_arcs_give_bigger_pictures(space, big_pictures):
    small = diagrams.draw_arc(SMALL_ARCS[space])
    big = big_pictures[space]
    assert big.shape[0] * big.shape[1] > small.shape[0] * small.shape[1]
    assert ink(big).sum() > ink(small).sum()


def test_macro_skips_are_drawn():
    final = arch.MacroArc.parse(MACRO_FINAL_ARC, num_layers=24)
    rows = [[0] * layer for layer in range(final.num_layers)]
    no_skips = arch.MacroArc(ops=final.ops, skips=rows)
    rows[2][0] = 1  # The stem into layer 2.
    one_skip = arch.MacroArc(ops=final.ops, skips=rows)
    pictures = [diagrams.draw_macro(arc) for arc in (no_skips, one_skip, final)]
    inks = [ink(picture).sum() for picture in pictures]
    assert inks[0] < inks[1] < inks[2]
    # Skip arcs lie right of the boxes (below the title), where the chain alone draws nothing.
    below_title = slice(60, None)
    boxes_right = np.nonzero(ink(pictures[0])[below_title].any(axis=0))[0].max()
    beyond = [ink(picture)[below_title, boxes_right + 5:] for picture in pictures]
    assert beyond[1].any()
    assert beyond[2].mean() > 0.05  # 98 arcs fill the space beside the chain.


def test_macro_names_ops_from_the_given_table():
    arc = arch.MacroArc.parse(SMALL_MACRO)
    default = diagrams.draw_macro(arc)
    longer = diagrams.draw_macro(arc, op_names=[f"a_much_longer_name_{op}" for op in range(6)])
    assert longer.shape[1] > default.shape[1]
    assert not np.array_equal(default, diagrams.draw_macro(arc, op_names=list("ABCDEF")))


def test_micro_cells_are_stacked_normal_then_reduction():
    arc = arch.MicroArc.parse(MICRO_FINAL_ARC)
    normal = diagrams.draw_micro_cell(arc.normal, "normal cell")
    reduction = diagrams.draw_micro_cell(arc.reduction, "reduction cell")
    both = diagrams.draw_micro(arc)
    assert both.shape[0] > normal.shape[0] + reduction.shape[0] - 1
    assert both.shape[1] == max(normal.shape[1], reduction.shape[1])
    np.testing.assert_array_equal(both[: normal.shape[0], : normal.shape[1]], normal)


def has_color(image: np.ndarray, color) -> bool:
    return bool(np.all(image == np.asarray(color, dtype=np.uint8), axis=-1).any())


def test_micro_edges_are_coloured_by_op():
    arc = arch.MicroArc.parse(MICRO_FINAL_ARC)
    normal = diagrams.draw_micro_cell(arc.normal)
    reduction = diagrams.draw_micro_cell(arc.reduction)
    max_pool = diagrams._MICRO_OP_COLORS["max_pool_3x3"]
    identity = diagrams._MICRO_OP_COLORS["identity"]
    # ENAS_SPEC.md 2.4: only the reduction cell uses max pooling; both use identity.
    assert not has_color(normal, max_pool) and has_color(reduction, max_pool)
    assert has_color(normal, identity) and has_color(reduction, identity)


def arrows_into(image: np.ndarray, fill) -> int:
    """Counts the arrow heads touching the left side of the box filled with `fill`: the dark
    runs in the pixel column just left of it, within its height."""
    rows, cols = np.nonzero(np.all(image == np.asarray(fill, dtype=np.uint8), axis=-1))
    column = image[rows.min():rows.max() + 1, cols.min() - 7]  # 2 px outline, 5 px into heads.
    dark = np.any(column < 160, axis=-1).astype(int)
    return int(np.sum(np.diff(np.concatenate([[0], dark])) == 1))


def test_micro_loose_ends_feed_the_output():
    cell = arch.MicroArc.parse(MICRO_FINAL_ARC).reduction
    assert cell.loose_ends() == (2, 4, 5, 6)
    assert arrows_into(diagrams.draw_micro_cell(cell), diagrams._OUTPUT_FILL) == 4
    # In a one-block cell that ignores node 1, node 1 is a loose end too.
    small = diagrams.draw_micro_cell(arch.MicroCell(blocks=((0, 0, 0, 0),)))
    assert arrows_into(small, diagrams._OUTPUT_FILL) == 2


def test_ptb_output_nodes_default_to_the_loose_ends():
    arc = arch.PtbArc.parse(PTB_FINAL_ARC)
    default = diagrams.draw_ptb(arc)
    np.testing.assert_array_equal(default, diagrams.draw_ptb(arc, output_nodes=arc.loose_ends()))
    assert arrows_into(default, diagrams._OUTPUT_FILL) == len(arc.loose_ends()) == 6
    all_nodes = diagrams.draw_ptb(arc, output_nodes=range(1, arc.num_nodes))
    assert arrows_into(all_nodes, diagrams._OUTPUT_FILL) == 11


@pytest.mark.parametrize("output_nodes", [[], [12], [-1]])
def test_ptb_bad_output_nodes_raise(output_nodes):
    with pytest.raises(ValueError, match="output_nodes"):
        diagrams.draw_ptb(arch.PtbArc.parse(PTB_FINAL_ARC), output_nodes=output_nodes)


def test_one_node_and_one_layer_arcs_draw():
    check_picture(diagrams.draw_ptb(arch.PtbArc.parse("3")))
    check_picture(diagrams.draw_macro(arch.MacroArc.parse("5")))


def test_write_png_is_atomic_and_overwrites(tmp_path, big_pictures):
    path = tmp_path / "ptb.png"
    diagrams.write_png(big_pictures["ptb"], path)
    diagrams.write_png(big_pictures["micro"], str(path))
    np.testing.assert_array_equal(decode(path.read_bytes()), big_pictures["micro"])
    assert os.listdir(tmp_path) == ["ptb.png"]


def test_write_png_leaves_nothing_on_error(tmp_path):
    with pytest.raises(ValueError):
        diagrams.write_png(np.zeros((4, 4), dtype=np.float32), tmp_path / "bad.png")
    with pytest.raises(OSError):
        diagrams.write_png(np.zeros((4, 4, 3), dtype=np.uint8), tmp_path / "missing" / "x.png")
    assert os.listdir(tmp_path) == []
