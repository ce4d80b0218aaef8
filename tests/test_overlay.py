"""labelnext.overlay: boxes land where they should, hide below the threshold, tags read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labelnext import thumbnails
from labelnext.boxes import Boxes
from labelnext.overlay import PALETTE, BoxSet, class_color, draw_banner, draw_boxes

BLACK = (0, 0, 0)
DARK = (17, 20, 26)  # the score patch of a tag


def _blank(size: int = 100) -> Image.Image:
    return Image.new("RGB", (size, size), BLACK)


def test_box_edges_change_colour_and_the_inside_does_not() -> None:
    out = draw_boxes(_blank(), [[20, 30, 40, 50]], ["cat"], [0.9], class_index=[3], line_width=1)
    colour = class_color(3)
    # left edge x=20 and right edge x=59 (20 + 40 - 1), below the tag
    assert out.getpixel((20, 60)) == colour
    assert out.getpixel((59, 60)) == colour
    assert out.getpixel((40, 79)) == colour  # bottom edge y = 30 + 50 - 1
    assert out.getpixel((40, 55)) == BLACK  # inside
    assert out.getpixel((61, 60)) == BLACK  # outside


def test_the_input_image_is_not_changed() -> None:
    img = _blank()
    draw_boxes(img, [[10, 10, 30, 30]], ["a"], [1.0])
    assert img.getpixel((10, 20)) == BLACK


def test_boxes_below_the_threshold_are_not_drawn() -> None:
    boxes = [[10, 40, 20, 20], [60, 40, 20, 20]]
    out = draw_boxes(
        _blank(), boxes, ["a", "b"], [0.3, 0.8], class_index=[0, 1], threshold=0.5, line_width=1
    )
    assert out.getpixel((10, 50)) == BLACK  # the 0.3 box is hidden
    assert out.getpixel((60, 50)) == class_color(1)
    everything = draw_boxes(
        _blank(), boxes, ["a", "b"], [0.3, 0.8], class_index=[0, 1], threshold=0.0, line_width=1
    )
    assert everything.getpixel((10, 50)) == class_color(0)


def test_a_box_exactly_at_the_threshold_is_drawn() -> None:
    out = draw_boxes(_blank(), [[10, 40, 20, 20]], ["a"], [0.5], threshold=0.5, line_width=1)
    assert out.getpixel((10, 50)) == class_color(0)


@pytest.mark.parametrize(("scale", "offset"), [(2.0, (0, 0)), (4.0, (6, 10)), (0.5, (3, 0))])
def test_scale_and_offset_map_source_pixels(scale: float, offset: tuple[int, int]) -> None:
    x, y, w, h = 40, 60, 80, 60
    out = draw_boxes(
        _blank(600),
        [[x, y, w, h]],
        ["d"],
        [1.0],
        scale=scale,
        offset=offset,
        line_width=1,
        font_size=10,
    )
    left = round(offset[0] + x * scale)
    right = round(offset[0] + (x + w) * scale) - 1
    bottom = round(offset[1] + (y + h) * scale) - 1
    mid_x = (left + right) // 2
    assert out.getpixel((left, bottom)) == class_color(0)
    assert out.getpixel((right, bottom)) == class_color(0)
    assert out.getpixel((mid_x, bottom)) == class_color(0)
    assert out.getpixel((right + 2, bottom)) == BLACK
    assert out.getpixel((mid_x, bottom + 2)) == BLACK


def test_tag_sits_above_the_box_class_name_then_score() -> None:
    out = draw_boxes(_blank(), [[20, 50, 40, 30]], ["7"], [0.88], class_index=[2], line_width=1)
    just_above = np.asarray(out)[48, 20:60]  # the tag's bottom padding row, above the top edge
    assert tuple(just_above[1]) == class_color(2)  # the class name's patch comes first
    assert (just_above == DARK).all(axis=1).sum() >= 10  # then the score's dark patch
    assert out.getpixel((30, 50)) == class_color(2)  # the box's own top edge


def test_a_box_at_the_top_edge_gets_its_tag_inside() -> None:
    out = draw_boxes(_blank(), [[20, 0, 40, 40]], ["7"], [0.88], line_width=1)
    assert out.size == (100, 100)
    assert out.getpixel((21, 2)) == class_color(0)  # inside the box, top-left


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="same length, got 2, 1 and 2"):
        draw_boxes(_blank(), [[0, 0, 1, 1], [0, 0, 2, 2]], ["a"], [0.1, 0.2])
    with pytest.raises(ValueError, match="scale must be > 0, got 0"):
        draw_boxes(_blank(), [[0, 0, 1, 1]], ["a"], [0.1], scale=0)


def test_colours_are_distinct_and_cycle() -> None:
    assert len(set(PALETTE)) == len(PALETTE) == 10
    assert class_color(12) == class_color(2)


def test_banner_covers_the_bottom() -> None:
    out = draw_banner(Image.new("RGB", (200, 200), (255, 255, 255)), "predicted 3", height=30)
    assert out.getpixel((1, 198)) == (20, 24, 31)
    assert out.getpixel((1, 160)) == (255, 255, 255)


def test_boxset_of_row_and_fingerprint() -> None:
    boxes = Boxes.from_arrays(
        row=[1, 0, 1],
        xywh=[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]],
        label=[2, 0, 1],
        score=[0.9, 0.5, 0.4],
        n_rows=3,
    )
    row1 = BoxSet.of_row(boxes, ("a", "b", "c"), 1)
    assert row1.labels == ("c", "b")
    assert row1.xywh.tolist() == [[1, 2, 3, 4], [9, 10, 11, 12]]
    assert len(BoxSet.of_row(boxes, ("a", "b", "c"), 2)) == 0
    assert row1.fingerprint() != BoxSet.of_row(boxes, ("a", "b", "c"), 0).fingerprint()
    assert row1.fingerprint() == BoxSet.of_row(boxes, ("a", "b", "c"), 1).fingerprint()


# ---- thumbnails with boxes ------------------------------------------------------------------


def _canvas(path: Path, size: int = 64) -> Path:
    Image.new("L", (size, size), 0).save(path)
    return path


def _one_box(score: float = 0.9) -> BoxSet:
    return BoxSet(
        xywh=np.array([[8, 16, 32, 32]], dtype=np.float32),
        class_index=np.array([1]),
        labels=("3",),
        scores=np.array([score], dtype=np.float32),
    )


def test_thumbnail_draws_boxes_scaled_to_the_thumbnail(tmp_path: Path) -> None:
    src = _canvas(tmp_path / "c.png", 64)  # 64 px into 128: a whole factor of 2
    out = thumbnails.thumbnail(src, size=128, home=tmp_path, boxes=_one_box())
    with Image.open(out) as img:
        # the box's bottom-left corner (8, 16 + 32) lands at (16, 95) on the thumbnail
        assert img.getpixel((16, 94)) == class_color(1)
        assert img.getpixel((40, 70)) == BLACK


def test_threshold_and_boxes_are_part_of_the_thumbnail_key(tmp_path: Path) -> None:
    src = _canvas(tmp_path / "c.png")
    plain = thumbnails.thumbnail(src, size=128, home=tmp_path)
    drawn = thumbnails.thumbnail(src, size=128, home=tmp_path, boxes=_one_box())
    hidden = thumbnails.thumbnail(src, size=128, home=tmp_path, boxes=_one_box(), threshold=0.95)
    assert len({plain, drawn, hidden}) == 3
    with Image.open(hidden) as img:
        assert img.getpixel((16, 94)) == BLACK  # 0.9 < 0.95: not drawn
    other = thumbnails.thumbnail(src, size=128, home=tmp_path, boxes=_one_box(0.5))
    assert other != drawn


def test_non_integer_upscale_fills_the_square(tmp_path: Path) -> None:
    src = tmp_path / "c.png"
    Image.new("RGB", (128, 64), (200, 0, 0)).save(src)
    canvas, scale, offset = thumbnails.fit_square(Image.open(src), 160)
    assert scale == pytest.approx(1.25)
    assert offset == (0, 40)
    assert canvas.getpixel((1, 80))[0] > 150


def test_detail_image_with_boxes_puts_the_banner_below(tmp_path: Path) -> None:
    src = _canvas(tmp_path / "c.png")
    img = thumbnails.detail_image(src, label="3", confidence=0.4, size=256, boxes=_one_box())
    assert img.size == (256, 256 + 28)
    assert img.getpixel((1, 256 + 27)) == (20, 24, 31)
    # 64 -> 256 is a factor of 4: the left edge of the box is at x = 32
    assert img.getpixel((32, 150)) == class_color(1)
