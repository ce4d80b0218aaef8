"""labelnext.thumbnails: disk cache, remake on change, placeholders, atomic writes."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from labelnext import thumbnails
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
