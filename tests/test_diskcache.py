"""labelnext.diskcache: the size bound, least-recently-used eviction and concurrent writers."""

from __future__ import annotations

import io
import multiprocessing
import os
from pathlib import Path

import pytest
from diskcache_workers import png_for, write_and_read
from PIL import Image

from labelnext.diskcache import EVICT_TO, DiskCache


def _age(path: Path, seconds_ago: float) -> None:
    """Set a file's mtime into the past, so LRU order does not depend on clock resolution."""
    when = os.stat(path).st_mtime - seconds_ago
    os.utime(path, (when, when))


def test_put_then_get_returns_the_same_complete_file(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", max_bytes=10_000)
    path = cache.put_bytes("a", b"hello")
    assert cache.get("a") == path
    assert path.read_bytes() == b"hello"
    assert path.parent.parent == tmp_path / "c"  # sharded one level down
    assert len(path.parent.name) == 2 and path.stem.startswith(path.parent.name)
    assert cache.get("b") is None
    assert cache.get("a", suffix=".jpg") is None  # the suffix is part of the entry


def test_overwriting_a_key_replaces_its_bytes(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=10_000)
    first = cache.put_bytes("k", b"old")
    second = cache.put_bytes("k", b"newer")
    assert first == second and second.read_bytes() == b"newer"
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # no temporary file left behind


def test_put_image_writes_a_png_that_decodes(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1_000_000)
    path = cache.put_image("img", Image.new("RGB", (7, 5), (10, 20, 30)))
    assert path.suffix == ".png" and cache.get("img") == path
    with Image.open(path) as image:
        assert image.size == (7, 5) and image.getpixel((0, 0)) == (10, 20, 30)
    jpeg = cache.put_image("img", Image.new("RGB", (4, 4)), fmt="JPEG")
    assert jpeg.suffix == ".jpg" and cache.get("img", suffix=".jpg") == jpeg


def test_eviction_keeps_the_cache_under_the_bound_and_drops_least_recently_used(
    tmp_path: Path,
) -> None:
    cache = DiskCache(tmp_path, max_bytes=10_000)
    paths = {}
    for i in range(9):  # 9 x 1000 bytes: under the bound, nothing evicted
        paths[f"k{i}"] = cache.put_bytes(f"k{i}", bytes(1000))
        _age(paths[f"k{i}"], 1000 - i)  # k0 oldest ... k8 newest
    assert cache.size_bytes() == 9000
    assert cache.get("k0") is not None  # a hit makes k0 the most recently used
    cache.put_bytes("k9", bytes(1000))
    cache.put_bytes("k10", bytes(1000))  # 11,000 > 10,000: evict down to 9,000

    assert cache.size_bytes() <= EVICT_TO * 10_000
    assert cache.get("k1") is None and cache.get("k2") is None  # the two least recently used
    for key in ("k0", "k3", "k8", "k9", "k10"):
        assert cache.get(key) is not None, key


def test_evict_reports_bytes_freed_and_a_get_after_eviction_is_a_miss(tmp_path: Path) -> None:
    writer = DiskCache(tmp_path, max_bytes=100_000)
    for i in range(10):
        _age(writer.put_bytes(f"k{i}", bytes(1000)), 100 - i)
    small = DiskCache(tmp_path, max_bytes=5_000)  # the same folder with a smaller bound
    freed = small.evict()
    assert freed == 10_000 - small.size_bytes() and small.size_bytes() <= 4_500
    assert small.get("k0") is None and small.get("k9") is not None
    assert small.evict() == 0  # already within the bound


def test_eviction_tolerates_files_removed_behind_its_back(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=4_000)
    for i in range(3):
        _age(cache.put_bytes(f"k{i}", bytes(1000)), 100 - i)
    cache.path_for("k0").unlink()  # another process (or a person) removed it
    for i in range(3, 6):
        cache.put_bytes(f"k{i}", bytes(1000))
    assert cache.size_bytes() <= 4_000
    assert cache.get("k5") is not None


def test_a_file_larger_than_the_bound_is_kept_until_the_next_write(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1_000)
    big = cache.put_bytes("big", bytes(5_000))
    assert big.is_file()  # the caller can still read what it just stored
    cache.put_bytes("small", bytes(100))
    assert cache.get("big") is None and cache.size_bytes() <= 1_000


def test_stale_temporary_files_are_removed_and_fresh_ones_not_counted(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=10_000)
    cache.put_bytes("k", bytes(100))
    shard = cache.path_for("k").parent
    stale, fresh = shard / ".tmp-stale.png", shard / ".tmp-fresh.png"
    stale.write_bytes(bytes(50))
    fresh.write_bytes(bytes(50))
    _age(stale, 2 * 3600)
    assert cache.size_bytes() == 100
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5, True])
def test_max_bytes_must_be_a_positive_integer(tmp_path: Path, max_bytes: object) -> None:
    with pytest.raises(ValueError, match="max_bytes must be a positive integer, got"):
        DiskCache(tmp_path, max_bytes)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", ["png", "/x.png", ".a/b", ""])
def test_suffix_must_be_a_plain_extension(tmp_path: Path, suffix: str) -> None:
    cache = DiskCache(tmp_path, max_bytes=1000)
    with pytest.raises(ValueError, match="suffix must start with '.' and name no folder"):
        cache.put_bytes("k", b"x", suffix=suffix)


def test_put_bytes_refuses_text(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="data must be bytes, got str"):
        DiskCache(tmp_path, 1000).put_bytes("k", "text")  # type: ignore[arg-type]


@pytest.mark.slow
def test_eight_processes_on_overlapping_keys_never_read_a_partial_file(tmp_path: Path) -> None:
    """Every worker gets or puts the same 60 keys in its own order, 4 times over, with a bound
    that holds about a third of them, so writes of one key race and eviction runs constantly."""
    keys = [f"row-{i:03d}|112" for i in range(60)]
    png_size = len(png_for(keys[0]))
    max_bytes = 20 * png_size
    folder = tmp_path / "thumbs"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(8)
    queue = ctx.Queue()
    workers = [
        ctx.Process(
            target=write_and_read, args=(str(folder), max_bytes, w, keys, 4, barrier, queue)
        )
        for w in range(8)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    problems = [problem for _, _, found in results for problem in found]
    assert problems == []
    assert sum(reads for _, reads, _ in results) > 0
    assert sum(puts for puts, _, _ in results) > len(keys)  # eviction made them write again
    cache = DiskCache(folder, max_bytes)
    assert cache.size_bytes() <= max_bytes
    assert not list(folder.rglob(".tmp-*"))
    for path in folder.rglob("*.png"):  # what is left is complete too
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            image.load()
