"""Thumbnails and detail images, made once with Pillow and cached on disk.

A thumbnail is a square PNG under ``$LABELNEXT_HOME/thumbs`` (``.labelnext/thumbs`` in the working
directory by default). Its file name is a hash of the source's resolved path, ``st_mtime_ns``,
byte size, the thumbnail size and a format version, so an image that changes on disk is made
again and an unchanged one never is. Files are written to a temporary name in the same folder
and moved into place with :func:`os.replace`, so a reader never sees half a file, even with
several app processes sharing the folder.

An image that is missing, unreadable, not an image, or too large to decode safely
(more than :data:`MAX_PIXELS` pixels, or a Pillow ``DecompressionBombError``) gives a placeholder
image with the reason written on it; this module never raises for a bad image.

Remote images (``http://`` or ``https://``) are **not fetched by the server**: fetching arbitrary
URLs from a shared server is a request-forgery risk and slow. :func:`thumbnail` returns the URL
unchanged so the *browser* loads it; :func:`detail_image` returns a placeholder that says so.

Small images are upscaled with nearest-neighbour resampling (a 28x28 MNIST digit becomes a crisp
112x112 block image); larger ones are downscaled with Lanczos. Either way the picture is centred
on a square canvas so a grid of thumbnails lines up.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import textwrap
import warnings
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

__all__ = [
    "DEFAULT_SIZE",
    "MAX_PIXELS",
    "detail_image",
    "is_url",
    "load_image",
    "placeholder",
    "placeholder_thumbnail",
    "thumbnail",
    "thumbs_dir",
]

#: Default side of a thumbnail, in pixels (4x a 28x28 MNIST digit).
DEFAULT_SIZE = 112
#: Images with more pixels than this are not decoded (placeholder instead).
MAX_PIXELS = 64_000_000
#: Bump when the way thumbnails are drawn changes, so old cache files are not reused.
_FORMAT_VERSION = 2
_BACKGROUND = (246, 247, 249)
_PLACEHOLDER_BG = (233, 236, 240)
_PLACEHOLDER_FG = (90, 96, 105)


def thumbs_dir(home: Path | str | None = None) -> Path:
    """The thumbnail cache folder: ``<home>/thumbs``, home defaulting to ``$LABELNEXT_HOME``."""
    base = Path(home) if home is not None else Path(os.environ.get("LABELNEXT_HOME", ".labelnext"))
    return base / "thumbs"


def is_url(location: object) -> bool:
    """Whether ``location`` is an ``http(s)`` URL (which the server does not fetch)."""
    return isinstance(location, str) and location.lower().startswith(("http://", "https://"))


def thumbnail(
    location: Path | str | None,
    *,
    size: int = DEFAULT_SIZE,
    home: Path | str | None = None,
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

    Returns
    -------
    Path or str
        The path of a PNG file (the thumbnail, or a placeholder naming what went wrong), or the
        URL itself for a remote image, for the browser to load.
    """
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels, got {size}")
    if is_url(location):
        return str(location)
    folder = thumbs_dir(home)
    if location is None:
        return _placeholder_file(folder, "no image", size)
    path = Path(location)
    try:
        resolved = path.resolve()
        stat = resolved.stat()
    except OSError as exc:
        return _placeholder_file(folder, f"missing image: {path.name} ({_reason(exc)})", size)
    key = f"{resolved}|{stat.st_mtime_ns}|{stat.st_size}|{size}|v{_FORMAT_VERSION}"
    target = _cache_path(folder, key)
    if target.is_file():
        return target
    image, reason = load_image(resolved)
    # a failure is cached under the source's key too: the key changes when the file does
    _atomic_save(_fit_square(image, size) if reason is None else placeholder(reason, size), target)
    return target


def load_image(location: Path | str | None) -> tuple[Image.Image, str | None]:
    """Open an image for display, or make a placeholder saying why it cannot be shown.

    Returns
    -------
    image : PIL.Image.Image
        RGB image, EXIF orientation applied; a 224x224 placeholder on failure.
    reason : str or None
        ``None`` on success, else why the placeholder was drawn.
    """
    if location is None:
        return placeholder("no image", 224), "no image"
    if is_url(location):
        reason = f"remote image, not fetched by the server: {location}"
        return placeholder(reason, 224), reason
    path = Path(location)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise _TooLarge(f"image too large to show: {width}x{height} pixels")
                img.draft("RGB", (1024, 1024))  # JPEG only: decode at a reduced scale, cheaply
                img.load()
                image = ImageOps.exif_transpose(img).convert("RGB")
    except _TooLarge as exc:
        reason = str(exc)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        reason = "image too large to decode safely"
    except FileNotFoundError:
        reason = f"missing image: {path.name}"
    except Image.UnidentifiedImageError:
        reason = f"not a readable image: {path.name}"
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt files
        reason = f"unreadable image: {path.name} ({_reason(exc)})"
    else:
        return image, None
    return placeholder(reason, 224), reason


def detail_image(
    location: Path | str | None,
    *,
    label: str,
    confidence: float,
    size: int = 448,
) -> Image.Image:
    """The image scaled to ``size`` pixels with a banner showing the prediction.

    Parameters
    ----------
    location : Path, str or None
        The row's image.
    label : str
        Predicted label to print on the banner.
    confidence : float
        Confidence of the prediction, ``1 - score`` (lower = less confident).
    size : int, default 448
        Side of the square output image in pixels.
    """
    image, _ = load_image(location)
    canvas = _fit_square(image, size)
    draw = ImageDraw.Draw(canvas)
    banner = max(28, size // 9)
    draw.rectangle((0, size - banner, size, size), fill=(20, 24, 31))
    font = _font(int(banner * 0.6))
    text = f"predicted {label}  ·  confidence {confidence:.2f}"
    draw.text((size // 2, size - banner // 2), text, fill=(255, 255, 255), font=font, anchor="mm")
    return canvas


def placeholder_thumbnail(
    reason: str, *, size: int = DEFAULT_SIZE, home: Path | str | None = None
) -> Path:
    """A cached placeholder PNG with ``reason`` on it, e.g. for an image path that is refused."""
    return _placeholder_file(thumbs_dir(home), reason, size)


def placeholder(reason: str, size: int = DEFAULT_SIZE) -> Image.Image:
    """A grey square with ``reason`` written on it (wrapped to fit)."""
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


class _TooLarge(Exception):
    pass


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _fit_square(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    if max(width, height) <= size:
        factor = max(1, size // max(width, height))  # whole multiples keep pixels square
        resized = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    else:
        resized = image.copy()
        resized.thumbnail((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), _BACKGROUND)
    canvas.paste(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
    return canvas


def _cache_path(folder: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return folder / digest[:2] / f"{digest}.png"


def _placeholder_file(folder: Path, reason: str, size: int) -> Path:
    target = _cache_path(folder, f"placeholder|{reason}|{size}|v{_FORMAT_VERSION}")
    if not target.is_file():
        _atomic_save(placeholder(reason, size), target)
    return target


def _atomic_save(image: Image.Image, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="PNG", optimize=False)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
