"""labelnext.thumbnails: disk cache, remake on change, placeholders, atomic writes."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labelnext import thumbnails
from labelnext.errors import PathNotAllowedError
from labelnext.thumbnails import detail_image, load_image, thumbnail


def _digit(path: Path, value: int = 255) -> Path:
    img = Image.new("L", (28, 28), 0)
    img.putpixel((14, 14), value)
    img.save(path)
    return path


def test_thumbnail_is_made_once_and_then_read_from_cache(tmp_path: Path) -> None:
    src = _digit(tmp_path / "a.png")
    first = thumbnail(src, home=tmp_path / "home")
    assert isinstance(first, Path) and first.is_file()
    assert first.is_relative_to(tmp_path / "home" / "thumbs")
    made = first.stat().st_ino
    second = thumbnail(src, home=tmp_path / "home")
    assert second == first
    # not rewritten: a rewrite moves a new file into place (a new inode); a read only touches
    # the file's mtime, which is what the cache's least-recently-used eviction orders by
    assert second.stat().st_ino == made


def test_small_images_are_upscaled_with_nearest_to_a_square(tmp_path: Path) -> None:
    src = _digit(tmp_path / "a.png")
    out = thumbnail(src, size=112, home=tmp_path)
    with Image.open(out) as img:
        assert img.size == (112, 112)
        # the single white pixel at (14, 14) becomes a crisp 4x4 block at (56..59, 56..59)
        assert img.getpixel((56, 56)) == (255, 255, 255)
        assert img.getpixel((59, 59)) == (255, 255, 255)
        assert img.getpixel((55, 55)) == (0, 0, 0)


def test_large_images_are_downscaled_keeping_aspect(tmp_path: Path) -> None:
    src = tmp_path / "wide.jpg"
    Image.new("RGB", (800, 400), (200, 10, 10)).save(src)
    with Image.open(thumbnail(src, size=100, home=tmp_path)) as img:
        assert img.size == (100, 100)
        assert img.getpixel((50, 50))[0] > 150  # the picture, centred
        assert img.getpixel((50, 5)) == thumbnails._BACKGROUND  # padding above a 100x50 band


def test_changed_image_is_made_again(tmp_path: Path) -> None:
    src = _digit(tmp_path / "a.png", value=255)
    first = thumbnail(src, home=tmp_path)
    _digit(src, value=128)
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 1_000_000_000))
    second = thumbnail(src, home=tmp_path)
    assert second != first
    with Image.open(second) as img:
        assert img.getpixel((56, 56)) == (128, 128, 128)


def test_thumb_size_is_part_of_the_key(tmp_path: Path) -> None:
    src = _digit(tmp_path / "a.png")
    assert thumbnail(src, size=56, home=tmp_path) != thumbnail(src, size=112, home=tmp_path)


def test_home_defaults_to_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "envhome"))
    out = thumbnail(_digit(tmp_path / "a.png"))
    assert isinstance(out, Path) and out.is_relative_to(tmp_path / "envhome" / "thumbs")


def _is_placeholder(path: Path | str, size: int = 112) -> bool:
    with Image.open(path) as img:
        return img.size == (size, size) and img.getpixel((size // 2, 3)) == (
            thumbnails._PLACEHOLDER_BG
        )


def test_missing_image_gives_a_placeholder(tmp_path: Path) -> None:
    out = thumbnail(tmp_path / "nope.png", home=tmp_path)
    assert _is_placeholder(out)
    image, reason = load_image(tmp_path / "nope.png")
    assert reason is not None and "missing image: nope.png" in reason
    assert image.size == (224, 224)


def test_corrupt_image_gives_a_placeholder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    assert _is_placeholder(thumbnail(bad, home=tmp_path))
    _, reason = load_image(bad)
    assert reason == "not a readable image: bad.png"


def test_truncated_image_gives_a_placeholder(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.effect_noise((200, 200), 60).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:300])
    _, reason = load_image(cut)
    assert reason is not None and reason.startswith("unreadable image: cut.png")
    assert _is_placeholder(thumbnail(cut, home=tmp_path))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims a huge size; decoding it would allocate gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(("width", "height"), [(10_000, 10_000), (60_000, 60_000)])
def test_huge_image_gives_a_placeholder(tmp_path: Path, width: int, height: int) -> None:
    huge = _png_header_only(tmp_path / "huge.png", width, height)
    _, reason = load_image(huge)
    assert reason is not None and "too large" in reason
    assert _is_placeholder(thumbnail(huge, home=tmp_path))


def test_urls_are_not_fetched(tmp_path: Path) -> None:
    url = "https://example.org/cat.jpg"
    assert thumbnail(url, home=tmp_path) == url
    assert not (tmp_path / "thumbs").exists()
    _, reason = load_image(url)
    assert reason is not None and "not fetched" in reason


def test_no_image_column_gives_a_placeholder(tmp_path: Path) -> None:
    assert _is_placeholder(thumbnail(None, home=tmp_path))


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _digit(tmp_path / "a.png")
    real_replace = os.replace

    def failing_replace(a: str, b: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        thumbnail(src, home=tmp_path)
    # nothing half-written under the final name, and no temporary file left behind
    assert [p for p in (tmp_path / "thumbs").rglob("*") if p.is_file()] == []
    monkeypatch.setattr(os, "replace", real_replace)
    out = thumbnail(src, home=tmp_path)
    assert isinstance(out, Path) and out.is_file()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".tmp-")] == []


def test_detail_image_has_a_banner(tmp_path: Path) -> None:
    img = detail_image(_digit(tmp_path / "a.png"), label="7", confidence=0.42, size=448)
    assert img.size == (448, 448)
    assert img.getpixel((2, 446)) == (20, 24, 31)  # banner background, bottom-left corner


def test_detail_image_for_missing_file_does_not_raise(tmp_path: Path) -> None:
    img = detail_image(tmp_path / "nope.png", label="3", confidence=0.9, size=300)
    assert img.size == (300, 300)


def test_the_cache_is_bounded_by_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELNEXT_THUMB_CACHE_MB", "0.05")  # 52,428 bytes
    cache = thumbnails.thumb_cache(tmp_path)
    assert cache.max_bytes == 52_428
    made = []
    for i in range(12):
        src = tmp_path / f"noise{i}.png"
        Image.effect_noise((64, 64), 80 + i).save(src)
        made.append(thumbnail(src, home=tmp_path))  # ~ 10-30 kB of noise each
    assert cache.size_bytes() <= cache.max_bytes
    assert made[-1].is_file()  # the newest one is kept
    assert not made[0].is_file()  # the oldest ones went
    # an evicted thumbnail is simply made again
    again = thumbnail(tmp_path / "noise0.png", home=tmp_path)
    assert again == made[0] and again.is_file()


@pytest.mark.parametrize("value", ["lots", "-3", "0", "nan"])
def test_a_bad_cache_bound_falls_back_to_512_mb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LABELNEXT_THUMB_CACHE_MB", value)
    assert thumbnails.thumb_cache(tmp_path).max_bytes == 512 * 1024 * 1024


# ----------------------------------------------------------------------------------------------
# Huge images are made small the cheap way; wide images keep their contrast; placeholders say
# why an image is missing without saying where the server keeps its files


def _halves(path: Path, side: int) -> Path:
    """A square image, red on the left half and blue on the right."""
    img = Image.new("RGB", (side, side), (220, 20, 20))
    img.paste((20, 20, 220), (side // 2, 0, side, side))
    img.save(path)
    return path


@pytest.mark.parametrize(("name", "largest_decoded"), [("big.png", 448), ("big.jpg", 448)])
def test_huge_images_are_reduced_before_any_rgb_conversion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, largest_decoded: int
) -> None:
    src = _halves(tmp_path / name, 3000)
    seen: list[tuple[int, int]] = []
    real = thumbnails._to_rgb

    def spying(img: Image.Image, orientation: object) -> Image.Image:
        seen.append(img.size)
        return real(img, orientation)

    monkeypatch.setattr(thumbnails, "_to_rgb", spying)
    out = thumbnail(src, size=112, home=tmp_path / "home")
    # draft (JPEG) or reduce (PNG) leaves at most 4x the thumbnail before conversion and resize
    assert seen and max(seen[0]) <= largest_decoded
    with Image.open(out) as img:
        left, right = img.getpixel((20, 56)), img.getpixel((92, 56))
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0]


def test_boxes_on_a_reduced_image_stay_where_they_were(tmp_path: Path) -> None:
    from labelnext.overlay import BoxSet

    src = tmp_path / "big.png"
    Image.new("RGB", (2400, 2400), (255, 255, 255)).save(src)
    box = BoxSet(
        xywh=np.array([[1200.0, 1200.0, 1100.0, 1100.0]], dtype=np.float32),
        labels=("cat",),
        scores=np.array([0.9], dtype=np.float32),
        class_index=np.array([0], dtype=np.intp),
    )
    out = thumbnail(src, size=112, home=tmp_path, boxes=box)
    with Image.open(out) as img:
        pixels = np.asarray(img.convert("RGB"))
    # the box's left edge sits at x = 1200 / 2400 * 112 = 56 of the thumbnail, not elsewhere
    coloured = np.flatnonzero(np.abs(pixels[80].astype(int) - 255).sum(axis=1) > 60)
    assert coloured.size and abs(int(coloured.min()) - 56) <= 2


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F"])
def test_a_wide_tiff_is_scaled_by_its_range_not_clipped_to_white(tmp_path: Path, mode: str) -> None:
    # a horizontal ramp from 1,000 to 9,000: every value is above 255, so clipping gives white
    ramp = np.tile(np.linspace(1000, 9000, 64), (32, 1))
    dtype = {"I;16": "<u2", "I;16B": ">u2", "I": "<i4", "F": "<f4"}[mode]
    img = Image.fromarray(ramp.astype(dtype))
    if img.mode != mode:  # Pillow picks I;16 for <u2 and I;16B for >u2, I for i4, F for f4
        pytest.fail(f"made a {img.mode} image, wanted {mode}")
    src = tmp_path / "wide.tif"
    img.save(src)
    with Image.open(src) as check:
        assert check.mode == mode
    shown, reason = load_image(src)
    assert reason is None
    grey = np.asarray(shown.convert("L"), dtype=float)
    assert grey.max() == 255 and grey.min() == 0  # the range fills 0..255
    assert (np.diff(grey.mean(axis=0)) >= 0).all()  # relative brightness kept: a rising ramp
    out = thumbnail(src, size=112, home=tmp_path)
    with Image.open(out) as thumb:
        row = np.asarray(thumb.convert("L"), dtype=float)[56]
    assert row[20] < row[90] and row.min() < 100


def test_a_constant_wide_image_is_not_white_unless_it_has_a_value(tmp_path: Path) -> None:
    src = tmp_path / "zero.tif"
    Image.fromarray(np.zeros((8, 8), "<u2")).save(src)
    shown, _ = load_image(src)
    assert shown.getpixel((4, 4)) == (0, 0, 0)


def test_exif_orientation_is_applied_after_reducing(tmp_path: Path) -> None:
    src = tmp_path / "rotated.jpg"
    img = Image.new("RGB", (1200, 600), (220, 20, 20))
    img.paste((20, 20, 220), (600, 0, 1200, 600))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    img.save(src, exif=exif.tobytes())
    shown, _ = load_image(src)
    assert shown.height > shown.width  # shown upright: 600 x 1200
    assert shown.getpixel((shown.width // 2, 10))[0] > 150  # red (the left half) is now on top


@pytest.fixture
def drawn_text(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text written on a placeholder."""
    from PIL import ImageDraw

    texts: list[str] = []
    real = ImageDraw.ImageDraw.multiline_text

    def spying(
        self: ImageDraw.ImageDraw, xy: object, text: str, *args: object, **kwargs: object
    ) -> None:
        texts.append(text.replace("\n", " "))
        real(self, xy, text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageDraw.ImageDraw, "multiline_text", spying)
    return texts


def _run_with_images(tmp_path: Path, references: list[str]):  # type: ignore[no-untyped-def]
    from labelnext.runs import ModelRun

    n = len(references)
    return ModelRun(
        name="r",
        task="classification",
        classes=("a", "b"),
        ids=np.array([str(i) for i in range(n)], dtype=object),
        probabilities=np.full((n, 2), 0.5, np.float32),
        metadata=__import__("pandas").DataFrame(index=range(n)),
        source="-",
        content_hash="-",
        images=np.array(references, dtype=object),
        image_root=tmp_path / "images",
        allowed_roots=(tmp_path / "images",),
    )


def test_no_placeholder_shows_a_server_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drawn_text: list[str]
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "text.png").write_text("not an image")
    _halves(images / "huge.png", 64)
    (tmp_path / "secret.png").write_bytes(b"x")
    monkeypatch.setattr(thumbnails, "MAX_PIXELS", 100)
    run = _run_with_images(
        tmp_path,
        [
            str(tmp_path / "secret.png"),  # outside the allowed roots (absolute)
            "../secret.png",  # outside (climbing)
            "missing.png",  # inside, missing
            "text.png",  # inside, not an image
            "huge.png",  # inside, over the pixel cap
        ],
    )
    home = tmp_path / "home"
    for row in range(run.n_rows):
        thumbnails.row_thumbnail(run, row, home=home)
        detail_image(thumbnails.row_image(run, row)[0], label="a", confidence=0.5)
    thumbnail(tmp_path / "gone" / "away.png", home=home)
    # what the dashboard passes today: the exception's text, cut to 90 characters
    try:
        run.image_location(0)
    except PathNotAllowedError as exc:
        thumbnails.placeholder_thumbnail(str(exc)[:90], home=home)
        thumbnails.placeholder_thumbnail(exc, home=home)
    assert drawn_text, "no placeholder was drawn"
    for text in drawn_text:
        assert str(tmp_path) not in text
        assert "/" not in text, text
    assert "image outside the allowed roots" in drawn_text
    assert any(t.startswith("missing image: missing.png") for t in drawn_text)
    assert any(t.startswith("missing image: away.png") for t in drawn_text)
    assert any("not a readable image: text.png" in t for t in drawn_text)


def test_row_image_says_why_without_a_path(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    run = _run_with_images(tmp_path, ["/etc/passwd", "ok.png", ""])
    assert thumbnails.row_image(run, 0) == (None, thumbnails.OUTSIDE_ROOTS)
    assert thumbnails.row_image(run, 1) == ((tmp_path / "images" / "ok.png").resolve(), None)
    assert thumbnails.row_image(run, 2) == (None, None)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("cannot read /srv/data/cat.png now", "cannot read cat.png now"),
        ("image '/etc/passwd' is outside", "image 'passwd' is outside"),
        ("see ~/runs/x.csv", "see x.csv"),
        ("C:\\data\\cat.png failed", "cat.png failed"),
        ("remote image, not fetched by the server: https://x.org/a/b.png", None),
        ("a/b relative stays", None),
    ],
)
def test_reason_text_cuts_absolute_paths(text: str, shown: str | None) -> None:
    assert thumbnails.reason_text(text) == (text if shown is None else shown)
