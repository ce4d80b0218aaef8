"""Thumbnails and detail images, made once with Pillow and cached on disk.

A thumbnail is a square PNG under ``$LABELNEXT_HOME/thumbs`` (``.labelnext/thumbs`` in the working
directory by default), kept by a :class:`~labelnext.diskcache.DiskCache`. Its key holds the
source's resolved path, ``st_mtime_ns``, byte size, the thumbnail size and a format version, so an
image that changes on disk is made again and an unchanged one never is. Files are written to a
temporary name and moved into place with :func:`os.replace`, so a reader never sees half a file,
even with several app processes sharing the folder. The folder is bounded by
``LABELNEXT_THUMB_CACHE_MB`` (default 512 MB): past it, the least recently used thumbnails are
removed and made again when next asked for.

An image that is missing, unreadable, not an image, or too large to decode safely
(more than :data:`MAX_PIXELS` pixels, or a Pillow ``DecompressionBombError``) gives a placeholder
image with the reason written on it; this module never raises for a bad image.

Remote images (``http://`` or ``https://``) are **not fetched by the server**: fetching arbitrary
URLs from a shared server is a request-forgery risk and slow. :func:`thumbnail` returns the URL
unchanged so the *browser* loads it; :func:`detail_image` returns a placeholder that says so.

Images at most half the thumbnail's side are upscaled by a whole factor with nearest-neighbour
resampling (a 28x28 MNIST digit becomes a crisp 112x112 block image); others are resized with
Lanczos to fill the square. Either way the picture is centred on a square canvas so a grid of
thumbnails lines up.

Detection boxes (a :class:`~labelnext.overlay.BoxSet`) can be drawn on a thumbnail or a detail
image; the cache key then includes the boxes' fingerprint, the score threshold and
:data:`~labelnext.overlay.OVERLAY_VERSION`, so a changed threshold or drawing makes a new file.
"""

from __future__ import annotations

import re
import textwrap
import warnings
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from labelnext.config import settings
from labelnext.diskcache import DiskCache
from labelnext.errors import LabelnextError, PathNotAllowedError
from labelnext.overlay import OVERLAY_VERSION, BoxSet, draw_banner, draw_boxes
from labelnext.paths import is_url
from labelnext.runs import ModelRun

__all__ = [
    "DEFAULT_SIZE",
    "MAX_PIXELS",
    "OUTSIDE_ROOTS",
    "detail_image",
    "fit_square",
    "is_url",
    "load_image",
    "placeholder",
    "placeholder_thumbnail",
    "reason_text",
    "row_image",
    "row_thumbnail",
    "thumb_cache",
    "thumbnail",
    "thumbs_dir",
]

#: Default side of a thumbnail, in pixels (4x a 28x28 MNIST digit).
DEFAULT_SIZE = 112
#: The longer side :func:`load_image` decodes a large image to, about.
_DISPLAY_SIDE = 1024
#: What a placeholder says for an image outside the allowed roots (never which path, or roots).
OUTSIDE_ROOTS = "image outside the allowed roots"
#: Images with more pixels than this are not decoded (placeholder instead).
MAX_PIXELS = 64_000_000
#: Bump when the way thumbnails are drawn changes, so old cache files are not reused.
_FORMAT_VERSION = 4  # 4: huge images reduced first; 16-bit images scaled by range
_BACKGROUND = (246, 247, 249)
_PLACEHOLDER_BG = (233, 236, 240)
_PLACEHOLDER_FG = (90, 96, 105)


def thumbs_dir(home: Path | str | None = None) -> Path:
    """The thumbnail cache folder: ``<home>/thumbs``, home defaulting to ``$LABELNEXT_HOME``."""
    return Path(home) / "thumbs" if home is not None else settings().thumbs_dir


def thumb_cache(home: Path | str | None = None) -> DiskCache:
    """The thumbnail cache: ``thumbs_dir(home)``, bounded by ``$LABELNEXT_THUMB_CACHE_MB``.

    The bound is in megabytes (default 512; fractions allowed); a value that is not a positive
    number falls back to the default.
    """
    megabytes = settings().thumb_cache_mb
    return DiskCache(thumbs_dir(home), max_bytes=max(1, int(megabytes * 1024 * 1024)))


def thumbnail(
    location: Path | str | None,
    *,
    size: int = DEFAULT_SIZE,
    home: Path | str | None = None,
    boxes: BoxSet | None = None,
    threshold: float = 0.0,
) -> Path | str:
    """Return a cached square thumbnail of an image, making it on first use.

    Parameters
    ----------
    location : Path, str or None
        A local image file, an ``http(s)`` URL, or ``None`` (the run has no image column).
    size : int, default 112
        Side of the square thumbnail in pixels.
    home : Path or str, optional
        Data directory; default ``$LABELNEXT_HOME`` or ``.labelnext``.
    boxes : BoxSet, optional
        Detection boxes to draw (thin lines, small ``label score`` tags).
    threshold : float, default 0.0
        Boxes scoring below this are not drawn.

    Returns
    -------
    Path or str
        The path of a PNG file (the thumbnail, or a placeholder naming what went wrong), or the
        URL itself for a remote image, for the browser to load (boxes are not drawn on those).
    """
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    if is_url(location):
        return str(location)
    folder = thumb_cache(home)
    if location is None:
        return _placeholder_file(folder, "no image", size)
    path = Path(location)
    try:
        resolved = path.resolve()
        stat = resolved.stat()
    except OSError as exc:
        return _placeholder_file(folder, f"missing image: {path.name} ({_reason(exc)})", size)
    key = f"{resolved}|{stat.st_mtime_ns}|{stat.st_size}|{size}|v{_FORMAT_VERSION}"
    if boxes is not None and len(boxes):
        key += f"|boxes:{boxes.fingerprint()}|t{threshold:.4f}|o{OVERLAY_VERSION}"
    cached = folder.get(key)
    if cached is not None:
        return cached
    image, reason, source_side = _load(resolved, size)
    # a failure is cached under the source's key too: the key changes when the file does
    if reason is not None:
        return folder.put_image(key, placeholder(reason, size))
    canvas, scale, offset = fit_square(image, size)
    if boxes is not None and len(boxes):
        canvas = _with_boxes(
            canvas, boxes, threshold, scale * max(image.size) / source_side, offset
        )
    return folder.put_image(key, canvas)


def load_image(location: Path | str | None) -> tuple[Image.Image, str | None]:
    """Open an image for display, or make a placeholder saying why it cannot be shown.

    Returns
    -------
    image : PIL.Image.Image
        RGB image, EXIF orientation applied, at most about 1024 pixels on its longer side
        when the source is larger; a 224x224 placeholder on failure.
    reason : str or None
        ``None`` on success, else why the placeholder was drawn (no server path in it).
    """
    image, reason, _ = _load(location, _DISPLAY_SIDE)
    return image, reason


def _load(location: Path | str | None, target: int) -> tuple[Image.Image, str | None, int]:
    """:func:`load_image` for a picture about ``target`` pixels on its longer side, plus the
    longest side of the source in its own pixels.

    Huge sources are made small the cheap way before anything else touches their pixels: a
    JPEG is decoded at a reduced scale (``draft``), other formats are reduced by a whole factor
    (``reduce``, or a nearest-neighbour step for palette images) right after decoding, before
    any conversion to RGB. Box coordinates are in the source's pixels, so drawing them needs the
    ratio of the two sides.
    """
    if location is None:
        return placeholder("no image", 224), "no image", 224
    if is_url(location):
        reason = f"remote image, not fetched by the server: {location}"
        return placeholder(reason, 224), reason, 224
    path = Path(location)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise _TooLarge(f"image too large to show: {width}x{height} pixels")
                source_side = max(width, height)
                orientation = img.getexif().get(_ORIENTATION_TAG)
                # JPEG only: decode at 1/2, 1/4 or 1/8 scale, still at least the target size
                img.draft("RGB", (target, target))
                img.load()
                image = _to_rgb(_shrink(img, target), orientation)
    except _TooLarge as exc:
        reason = str(exc)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        reason = "image too large to decode safely"
    except FileNotFoundError:
        reason = f"missing image: {path.name}"
    except UnidentifiedImageError:
        reason = f"not a readable image: {path.name}"
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt files
        reason = f"unreadable image: {path.name} ({_reason(exc)})"
    else:
        return image, None, source_side
    return placeholder(reason, 224), reason, 224


_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that shows the picture upright (as ImageOps.exif_transpose)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: Modes holding more than 8 bits a channel: scaled to 8 bits by their value range.
_WIDE_MODES = frozenset({"I", "F", "I;16", "I;16B", "I;16L", "I;16N"})
#: Modes whose values are palette indices or bits: subsampled, never averaged.
_INDEXED_MODES = frozenset({"1", "P", "PA"})


def _shrink(img: Image.Image, target: int) -> Image.Image:
    """Reduce a decoded image by a whole factor, keeping at least twice ``target`` pixels on its
    longer side (the Lanczos resize that follows needs them), in its own mode."""
    factor = max(img.size) // (2 * target)
    if factor < 2:
        return img
    if img.mode in _INDEXED_MODES:
        size = (max(1, img.width // factor), max(1, img.height // factor))
        return img.resize(size, Image.Resampling.NEAREST)
    if img.mode.startswith("I;16"):
        return _reduce_wide(img, factor)
    return img.reduce(factor)


def _reduce_wide(img: Image.Image, factor: int) -> Image.Image:
    """Block means of a 16-bit image (Pillow's reduce does not take I;16) as a float image."""
    values = np.asarray(img)
    height = values.shape[0] // factor * factor
    width = values.shape[1] // factor * factor
    blocks = values[:height, :width].reshape(height // factor, factor, width // factor, factor)
    return Image.fromarray(blocks.mean(axis=(1, 3), dtype=np.float32), mode="F")


def _to_rgb(img: Image.Image, orientation: object) -> Image.Image:
    """RGB with the EXIF orientation applied; wide (16-bit, 32-bit, float) images scaled to
    8 bits by their value range, so a 16-bit TIFF is not clipped to white."""
    if img.mode in _WIDE_MODES:
        img = _scale_to_8_bits(img)
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    if method is not None:
        img = img.transpose(method)
    return img if img.mode == "RGB" else img.convert("RGB")


def _scale_to_8_bits(img: Image.Image) -> Image.Image:
    values = np.asarray(img, dtype=np.float32)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Image.new("L", img.size, 0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:  # one value everywhere: black if it is zero, white otherwise
        return Image.new("L", img.size, 0 if high <= 0 else 255)
    values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    scaled = (values - low) * (255.0 / (high - low))
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")


def detail_image(
    location: Path | str | None,
    *,
    label: str,
    confidence: float,
    size: int = 448,
    boxes: BoxSet | None = None,
    threshold: float = 0.0,
) -> Image.Image:
    """The image scaled to ``size`` pixels with a banner showing the prediction.

    Without boxes the banner lies across the bottom of the square picture. With boxes it is
    drawn below the picture (the result is taller than wide) so it never hides a box.

    Parameters
    ----------
    location : Path, str or None
        The row's image.
    label : str
        Predicted label to print on the banner.
    confidence : float
        Confidence of the prediction, ``1 - score`` (lower = less confident).
    size : int, default 448
        Side of the square picture in pixels.
    boxes : BoxSet, optional
        Detection boxes to draw, with ``label score`` tags.
    threshold : float, default 0.0
        Boxes scoring below this are not drawn.
    """
    image, reason, source_side = _load(location, size)
    canvas, scale, offset = fit_square(image, size)
    text = f"predicted {label}  ·  confidence {confidence:.2f}"
    if boxes is None:
        return draw_banner(canvas, text)
    if reason is None and len(boxes):
        canvas = _with_boxes(
            canvas, boxes, threshold, scale * max(image.size) / source_side, offset
        )
    band = max(28, size // 9)
    tall = Image.new("RGB", (size, size + band), _BACKGROUND)
    tall.paste(canvas, (0, 0))
    return draw_banner(tall, text, height=band)


def placeholder_thumbnail(
    reason: str | BaseException, *, size: int = DEFAULT_SIZE, home: Path | str | None = None
) -> Path:
    """A cached placeholder PNG with ``reason`` on it, e.g. for an image path that is refused.

    ``reason`` may be the exception itself: a :class:`~labelnext.errors.PathNotAllowedError`
    becomes "image outside the allowed roots". Server paths are never written on a
    placeholder (see :func:`placeholder`).
    """
    return _placeholder_file(thumb_cache(home), reason_text(reason), size)


def reason_text(reason: str | BaseException) -> str:
    """What a placeholder says for ``reason``: no absolute path, no allowed roots listed.

    Examples
    --------
    >>> reason_text(PathNotAllowedError("image '/etc/passwd' is outside the allowed roots"))
    'image outside the allowed roots'
    >>> reason_text("cannot read /srv/data/img/cat 1.png")
    'cannot read cat 1.png'
    """
    if isinstance(reason, PathNotAllowedError):
        return OUTSIDE_ROOTS
    return _without_paths(str(reason))


def row_image(run: ModelRun, row: int) -> tuple[Path | str | None, str | None]:
    """Where row ``row``'s image is, or why it cannot be shown.

    Returns
    -------
    location : Path, str or None
        A local path inside the allowed roots, a URL, or None.
    reason : str or None
        None when ``location`` can be shown (or the row has no image); else the text to show
        instead ("image outside the allowed roots"...), which names no server path.
    """
    try:
        return run.image_location(row), None
    except LabelnextError as exc:
        return None, reason_text(exc)


def row_thumbnail(
    run: ModelRun,
    row: int,
    *,
    size: int = DEFAULT_SIZE,
    home: Path | str | None = None,
    boxes: BoxSet | None = None,
    threshold: float = 0.0,
) -> Path | str:
    """:func:`thumbnail` of row ``row`` of ``run``; a refused or missing image gives a
    placeholder that says why without naming a server path."""
    location, reason = row_image(run, row)
    if reason is not None:
        return _placeholder_file(thumb_cache(home), reason, size)
    return thumbnail(location, size=size, home=home, boxes=boxes, threshold=threshold)


def placeholder(reason: str, size: int = DEFAULT_SIZE) -> Image.Image:
    """A grey square with ``reason`` written on it (wrapped to fit).

    Absolute paths in ``reason`` are cut to their last part, so a placeholder never shows
    where the server keeps its files.
    """
    reason = _without_paths(reason)
    img = Image.new("RGB", (size, size), _PLACEHOLDER_BG)
    draw = ImageDraw.Draw(img)
    font_size = max(9, size // 10)
    font = _font(font_size)
    chars = max(8, int(size / (font_size * 0.55)))
    lines = textwrap.wrap(reason, width=chars)[: max(1, size // (font_size + 3) - 1)]
    draw.rectangle((1, 1, size - 2, size - 2), outline=(190, 195, 202), width=2)
    draw.multiline_text(
        (size // 2, size // 2),
        "\n".join(lines),
        fill=_PLACEHOLDER_FG,
        font=font,
        anchor="mm",
        align="center",
        spacing=3,
    )
    return img


# an absolute path (POSIX, home-relative or Windows) standing on its own: after a space, a quote
# or a bracket, never inside a URL ("https://host/a" is preceded by ':')
_ABSOLUTE_PATH = re.compile(r"""(?<![\w:/.~-])(?:~|[A-Za-z]:\\|/)[^\s'",;()\[\]]*""")


def _without_paths(text: str) -> str:
    def last_part(match: re.Match[str]) -> str:
        path = match.group(0)
        windows = len(path) > 2 and path[1] == ":"
        return (PureWindowsPath(path) if windows else PurePosixPath(path)).name or "…"

    return _ABSOLUTE_PATH.sub(last_part, text)


class _TooLarge(Exception):
    pass


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def fit_square(image: Image.Image, size: int) -> tuple[Image.Image, float, tuple[int, int]]:
    """Centre ``image`` on a ``size`` x ``size`` canvas, as large as it fits.

    Returns
    -------
    canvas : PIL.Image.Image
        RGB, ``size`` x ``size``.
    scale : float
        Canvas pixels per image pixel.
    offset : (int, int)
        Where the image's top-left corner lies on the canvas.
    """
    width, height = image.size
    longest = max(width, height)
    factor = size // longest
    if factor >= 2 or longest == size:
        # whole multiples keep pixels square and crisp (a 28 px digit at 4x)
        scale = float(factor)
        resized = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    else:
        scale = size / longest
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    canvas = Image.new("RGB", (size, size), _BACKGROUND)
    offset = ((size - resized.width) // 2, (size - resized.height) // 2)
    canvas.paste(resized, offset)
    return canvas, scale, offset


def _with_boxes(
    canvas: Image.Image, boxes: BoxSet, threshold: float, scale: float, offset: tuple[int, int]
) -> Image.Image:
    return draw_boxes(
        canvas,
        boxes.xywh,
        boxes.labels,
        boxes.scores,
        threshold=threshold,
        scale=scale,
        offset=offset,
        class_index=boxes.class_index,
    )


def _placeholder_file(cache: DiskCache, reason: str, size: int) -> Path:
    key = f"placeholder|{reason}|{size}|v{_FORMAT_VERSION}"
    return cache.get(key) or cache.put_image(key, placeholder(reason, size))
