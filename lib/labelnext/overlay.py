"""Predictions drawn on images with Pillow: detection boxes with label tags, and a banner.

Pure Pillow and numpy; the dashboard's thumbnails and detail view call these, and so can a
notebook. Every function returns a new image and leaves its input unchanged.

Coordinates follow :class:`~labelnext.boxes.Boxes`: ``x, y, w, h`` in pixels of the *source*
image, ``x, y`` the top-left corner. A picture that was resized and padded into a canvas is drawn
on with ``scale`` (canvas pixels per source pixel) and ``offset`` (where the source's top-left
corner landed), the two numbers :func:`labelnext.thumbnails.fit_square` returns.

Boxes whose score is below ``threshold`` are not drawn; a box's score is the detector's
confidence in it (higher = surer), not an uncertainty score.

Examples
--------
>>> from PIL import Image
>>> img = Image.new("RGB", (64, 64))
>>> out = draw_boxes(img, [[8, 8, 20, 20]], ["7"], [0.9], threshold=0.5)
>>> out.getpixel((8, 20)) == class_color(0)
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image, ImageDraw, ImageFont

from labelnext.boxes import Boxes

__all__ = [
    "OVERLAY_VERSION",
    "PALETTE",
    "BoxSet",
    "class_color",
    "draw_banner",
    "draw_boxes",
]

#: Bump when the drawing changes, so cached images with boxes are made again.
OVERLAY_VERSION = 2

#: One colour per class (cycled past ten). Bright, saturated colours: they must stand out on the
#: black background *and* the white strokes of MNIST-like images, and on photos.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 89, 94),  # red
    (255, 202, 58),  # amber
    (138, 201, 38),  # green
    (54, 162, 235),  # blue
    (255, 146, 76),  # orange
    (199, 125, 255),  # violet
    (76, 201, 240),  # cyan
    (241, 91, 181),  # pink
    (82, 209, 165),  # teal
    (233, 255, 112),  # lime
)
_DARK = (17, 20, 26)
_LIGHT = (255, 255, 255)


def class_color(index: int) -> tuple[int, int, int]:
    """The colour of class ``index`` (an index into the run's classes)."""
    return PALETTE[int(index) % len(PALETTE)]


@dataclass(frozen=True, eq=False)
class BoxSet:
    """The boxes of one image, ready to draw.

    Attributes
    ----------
    xywh : ndarray of shape (k, 4)
        Corner and size in source-image pixels.
    class_index : ndarray of shape (k,)
        Index into the run's classes (picks the colour).
    labels : tuple of str, length k
        Text of each box's tag (its class name).
    scores : ndarray of shape (k,)
        Detector confidence per box, in [0, 1].
    """

    xywh: NDArray[np.float32]
    class_index: NDArray[np.intp]
    labels: tuple[str, ...]
    scores: NDArray[np.float32]

    @classmethod
    def of_row(cls, boxes: Boxes, classes: Sequence[str], row: int) -> BoxSet:
        """The boxes of data row ``row`` of a detection run (``run.boxes``, ``run.classes``)."""
        part = boxes.of(row)
        index = np.asarray(boxes.label[part], dtype=np.intp)
        return cls(
            xywh=np.asarray(boxes.xywh[part], dtype=np.float32).reshape(-1, 4),
            class_index=index,
            labels=tuple(str(classes[i]) for i in index),
            scores=np.asarray(boxes.score[part], dtype=np.float32),
        )

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self) -> str:
        """A short digest of the boxes, labels and scores (part of a cache key)."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.xywh, dtype=np.float32).tobytes())
        digest.update(np.ascontiguousarray(self.scores, dtype=np.float32).tobytes())
        digest.update(np.ascontiguousarray(self.class_index, dtype=np.int64).tobytes())
        digest.update("\x1f".join(self.labels).encode("utf-8"))
        return digest.hexdigest()[:24]


def draw_boxes(
    image: Image.Image,
    boxes_xywh: ArrayLike,
    labels: Sequence[str],
    scores: ArrayLike,
    *,
    threshold: float = 0.0,
    scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    class_index: ArrayLike | None = None,
    line_width: int | None = None,
    font_size: int | None = None,
) -> Image.Image:
    """Draw boxes with a ``label | score`` tag on a copy of ``image``.

    Parameters
    ----------
    image : PIL.Image.Image
        The picture (any mode; the result is RGB).
    boxes_xywh : array-like of shape (k, 4)
        ``x, y, w, h`` in source pixels.
    labels : sequence of str, length k
        Class name of each box, written on its tag.
    scores : array-like of shape (k,)
        Detector confidence of each box, in [0, 1]; written on the tag with two decimals.
    threshold : float, default 0.0
        Boxes scoring below this are not drawn.
    scale : float, default 1.0
        Image pixels per source pixel.
    offset : (float, float), default (0, 0)
        Where the source's top-left corner lies in ``image``.
    class_index : array-like of shape (k,), optional
        Index of each box's class, for its colour; default the box's position in ``labels``'
        sorted distinct values.
    line_width, font_size : int, optional
        Default: 1-2 px lines and 10 px text on thumbnails, growing with the image.

    Returns
    -------
    PIL.Image.Image
        A new RGB image. Lower-scoring boxes are drawn first, so the surest box is on top.
    """
    xywh = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    score = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not len(xywh) == len(score) == len(labels):
        raise ValueError(
            f"boxes_xywh, labels and scores must have the same length, got {len(xywh)}, "
            f"{len(labels)} and {len(score)}"
        )
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if class_index is None:
        names = sorted(set(labels))
        colour_of = np.array([names.index(x) for x in labels], dtype=np.intp)
    else:
        colour_of = np.asarray(class_index, dtype=np.intp).reshape(-1)
    out = image.convert("RGB")  # always a copy
    side = min(out.size)
    width = line_width or max(1, min(3, round(side / 80)))
    text_px = font_size or min(18, max(10, round(side / 15)))
    font = _font(text_px)
    draw = ImageDraw.Draw(out)
    shown = np.flatnonzero(score >= threshold)
    for j in shown[np.argsort(score[shown], kind="stable")]:
        x, y, w, h = xywh[j]
        left, top = offset[0] + x * scale, offset[1] + y * scale
        right, bottom = left + max(w * scale, 1.0), top + max(h * scale, 1.0)
        colour = class_color(int(colour_of[j]))
        box = (round(left), round(top), round(right) - 1, round(bottom) - 1)
        draw.rectangle(box, outline=colour, width=width)
        _tag(draw, str(labels[j]), f"{score[j]:.2f}", box, colour, font, out.size)
    return out


def _tag(
    draw: ImageDraw.ImageDraw,
    label: str,
    score: str,
    box: tuple[int, int, int, int],
    colour: tuple[int, int, int],
    font: Any,
    size: tuple[int, int],
) -> None:
    """A two-part tag on the box's top edge, above it if there is room, else inside.

    The class name sits on the class colour and the score on a dark patch, so that a digit
    class followed by its score ("4", "0.89") never reads as one number.
    """
    _, top, _, bottom = draw.textbbox((0, 0), "0Ag", font=font)  # one height for every tag
    pad = 2
    tag_h = bottom - top + 2 * pad
    widths = [_text_width(draw, part, font) + 2 * pad for part in (label, score)]
    tag_w = sum(widths)
    tx = min(max(0, box[0]), max(0, size[0] - tag_w))
    ty = box[1] - tag_h if box[1] - tag_h >= 0 else box[1]
    luma = (299 * colour[0] + 587 * colour[1] + 114 * colour[2]) / 1000
    ink = _DARK if luma > 140 else _LIGHT  # the text that reads on this tag colour
    for part, part_w, fill, text_ink in (
        (label, widths[0], colour, ink),
        (score, widths[1], _DARK, _LIGHT),
    ):
        draw.rectangle((tx, ty, tx + part_w - 1, ty + tag_h - 1), fill=fill)
        x0 = draw.textbbox((0, 0), part, font=font)[0]
        draw.text((tx + pad - x0, ty + pad - top), part, fill=text_ink, font=font)
        tx += part_w


def draw_banner(image: Image.Image, text: str, *, height: int | None = None) -> Image.Image:
    """A copy of ``image`` with a dark banner across the bottom holding ``text``, centred."""
    out = image.convert("RGB")
    width, full = out.size
    band = height or max(28, full // 9)
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, full - band, width, full), fill=(20, 24, 31))
    points = int(band * 0.6)
    font = _font(points)
    while _text_width(draw, text, font) > width - 8 and points > 9:  # long labels: shrink to fit
        points -= 1
        font = _font(points)
    draw.text((width // 2, full - band // 2), text, fill=(255, 255, 255), font=font, anchor="mm")
    return out


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: Any) -> int:
    x0, _, x1, _ = draw.textbbox((0, 0), text, font=font)
    return int(x1 - x0)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()
