"""Run in child processes by tests/test_diskcache.py (spawned, so importable by name)."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

from PIL import Image


def png_for(key: str, side: int = 48) -> bytes:
    """A PNG whose pixels depend on the key (noise, so it does not compress to nothing)."""
    rng = random.Random(key)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_and_read(
    folder: str,
    max_bytes: int,
    worker: int,
    keys: list[str],
    rounds: int,
    barrier: Any,
    results: Any,
) -> None:
    """Put and get overlapping keys in a shuffled order; decode every file that is read.

    Puts (puts, reads that decoded, problems) on ``results``; a problem is a read that did not
    decode as a complete PNG, or bytes other than the key's own.
    """
    from labelnext.diskcache import DiskCache

    cache = DiskCache(Path(folder), max_bytes)
    rng = random.Random(worker)
    problems: list[str] = []
    puts = reads = 0
    barrier.wait(timeout=120)
    for _ in range(rounds):
        order = keys[:]
        rng.shuffle(order)
        for key in order:
            path = cache.get(key)
            if path is None:
                path = cache.put_bytes(key, png_for(key))
                puts += 1
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # evicted by another process after get/put: a miss
                continue
            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                if data != png_for(key):
                    problems.append(f"{key}: other bytes than the key's PNG")
                reads += 1
            except Exception as exc:  # any decode failure is what the test is looking for
                problems.append(f"{key}: {type(exc).__name__}: {exc} ({len(data)} bytes)")
    results.put((puts, reads, problems))
