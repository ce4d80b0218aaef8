"""A size-bounded on-disk file cache, safe when several threads and processes share the folder.

Made for thumbnails: many small files, written once per key, read often, by several app sessions
(threads of one server) and several app processes (replicas sharing one data directory).

Layout
    ``<folder>/<h[:2]>/<h><suffix>``, where ``h`` is the SHA-256 hex digest of the key, so a
    folder never holds more than about 1/256 of the files. ``<folder>/.size`` holds the running
    size estimate shared by every process (see below); temporary files start with ``.tmp-``.

Atomic writes
    :meth:`DiskCache.put_bytes` writes a temporary file in the target's own folder and moves it
    into place with :func:`os.replace`, so a reader sees the old complete file, the new complete
    file or no file, never half of one. Two writers of the same key both succeed; the last
    rename wins.

Size bound and eviction
    Every process adds what it writes to a counter in ``.size``, under an exclusive
    :func:`fcntl.flock` on that file, so the estimate covers all writers. When it exceeds
    ``max_bytes``, :meth:`DiskCache.evict` (under the same lock, so one process evicts at a time)
    scans the folder, removes the least recently used files (oldest ``mtime`` first; :meth:`get`
    touches it) until the total is at most :data:`EVICT_TO` of ``max_bytes``, and stores the
    true total in the counter. Overwriting a key counts its bytes twice: the estimate errs high,
    which only makes the next eviction (and its rescan) come sooner. Files that vanish during a
    scan (another process, or a person, removed them) are skipped. Where ``fcntl`` does not
    exist (Windows) the lock only covers threads of one process, and the bound holds per process.

A path returned by :meth:`get` or :meth:`put_bytes` can be evicted by another process before it
is read: read it promptly and treat :class:`FileNotFoundError` as a miss.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> cache = DiskCache(Path(tempfile.mkdtemp()), max_bytes=1_000_000)
>>> path = cache.put_bytes("row-1|112", b"not really a png")
>>> cache.get("row-1|112") == path, cache.get("row-2|112")
(True, None)
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

try:
    import fcntl
except ImportError:  # Windows: no flock; fall back to a lock within this process
    fcntl = None  # type: ignore[assignment]

__all__ = ["EVICT_TO", "DiskCache"]

#: Eviction stops once the cache holds at most this fraction of ``max_bytes``, so that it does
#: not run again on the very next write.
EVICT_TO = 0.9
#: Temporary files older than this (seconds) were left by a crashed writer; eviction removes them.
_STALE_TMP_SECONDS = 3600.0
_TMP_PREFIX = ".tmp-"
_COUNTER = ".size"
_SUFFIX_FOR_FORMAT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}
_THREAD_LOCK = threading.Lock()  # serialises the counter for threads where flock is missing


class DiskCache:
    """Files stored under string keys in ``folder``, kept to about ``max_bytes`` in total.

    Parameters
    ----------
    folder : Path
        The cache folder; created on first write. Several processes may use the same folder.
    max_bytes : int
        Upper bound on the total size of the cached files, in bytes (> 0). When a write takes the
        total above it, least recently used files are removed until the total is at most
        ``EVICT_TO * max_bytes``. A single file larger than the bound is kept until the next write.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        self.folder = Path(folder)
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"DiskCache({str(self.folder)!r}, max_bytes={self.max_bytes})"

    # ----------------------------------------------------------------------------------------
    # Public API

    def path_for(self, key: str, suffix: str = ".png") -> Path:
        """Where the file for ``key`` lives (whether or not it exists)."""
        _check_suffix(suffix)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.folder / digest[:2] / f"{digest}{suffix}"

    def get(self, key: str, suffix: str = ".png") -> Path | None:
        """The cached file for ``key``, or ``None`` if it is not cached.

        A hit sets the file's modification time to now, which is what eviction orders by
        (least recently used first).
        """
        path = self.path_for(key, suffix)
        try:
            os.utime(path)
        except FileNotFoundError:  # never written, or evicted (perhaps just now, elsewhere)
            return None
        return path

    def put_bytes(self, key: str, data: bytes, suffix: str = ".png") -> Path:
        """Store ``data`` under ``key`` atomically and return its path.

        The bytes go to a temporary file in the same folder, moved into place with
        :func:`os.replace`: a concurrent reader sees a complete file or none, and concurrent
        writers of the same key all succeed (the last one wins). May evict other files.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        target = self.path_for(key, suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=_TMP_PREFIX, suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        if self._add_to_estimate(len(data)) > self.max_bytes:
            self._evict(keep=target)
        return target

    def put_image(self, key: str, image: Image.Image, fmt: str = "PNG") -> Path:
        """Encode ``image`` as ``fmt`` (a Pillow format name) and store it under ``key``.

        The file's suffix follows the format (``.png``, ``.jpg``, ``.webp``, ...), so look it up
        with ``get(key, suffix=...)`` to match.
        """
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        return self.put_bytes(key, buffer.getvalue(), suffix=_suffix_for(fmt))

    def evict(self) -> int:
        """Remove least recently used files until at most ``EVICT_TO * max_bytes`` remain.

        Returns the number of bytes freed (0 if the cache was already within the bound; files
        another process removed meanwhile are not counted). Leftover temporary files of crashed
        writers are removed too.
        """
        return self._evict(keep=None)

    def size_bytes(self) -> int:
        """Total size of the cached files now, from a scan of the folder (not the estimate)."""
        return sum(size for _, size, _ in self._scan())

    # ----------------------------------------------------------------------------------------
    # Internals

    def _evict(self, keep: Path | None) -> int:
        with self._locked_counter() as counter:
            entries = self._scan()
            total = sum(size for _, size, _ in entries)
            freed = 0
            if total > self.max_bytes:
                goal = int(self.max_bytes * EVICT_TO)
                entries.sort(key=lambda entry: (entry[2], entry[0].name))  # oldest first
                for path, size, _ in entries:
                    if total <= goal:
                        break
                    if path == keep:
                        continue
                    try:
                        path.unlink()
                    except FileNotFoundError:  # another process evicted it: already gone
                        total -= size
                        continue
                    except OSError:  # e.g. permissions: leave it, try the next one
                        continue
                    total -= size
                    freed += size
            counter.write(total)
        return freed

    def _scan(self) -> list[tuple[Path, int, int]]:
        """(path, size, mtime_ns) of every cached file; drops stale temporary files."""
        found: list[tuple[Path, int, int]] = []
        now = time.time()
        try:
            shards = [e for e in os.scandir(self.folder) if not e.name.startswith(".")]
        except FileNotFoundError:
            return found
        for shard in shards:
            try:
                if not shard.is_dir(follow_symlinks=False):
                    continue
                files = list(os.scandir(shard.path))
            except OSError:  # the shard vanished or cannot be read
                continue
            for entry in files:
                try:
                    stat = entry.stat(follow_symlinks=False)
                except OSError:  # removed between listing and stat
                    continue
                if entry.name.startswith(_TMP_PREFIX):
                    if now - stat.st_mtime > _STALE_TMP_SECONDS:
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
                    continue  # a write in progress is not part of the cache yet
                found.append((Path(entry.path), stat.st_size, stat.st_mtime_ns))
        return found

    def _add_to_estimate(self, nbytes: int) -> int:
        """Add ``nbytes`` to the shared running total and return it (scans if it is unknown)."""
        with self._locked_counter() as counter:
            current = counter.read()
            total = (
                sum(size for _, size, _ in self._scan()) if current is None else current + nbytes
            )
            counter.write(total)
        return total

    @contextlib.contextmanager
    def _locked_counter(self) -> Iterator[_Counter]:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / _COUNTER, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
                yield _Counter(fd)
            else:
                with _THREAD_LOCK:
                    yield _Counter(fd)
        finally:
            os.close(fd)


class _Counter:
    """The integer in ``.size``, read and written through a descriptor the caller has locked."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self) -> int | None:
        raw = os.pread(self._fd, 32, 0) if hasattr(os, "pread") else _read_at_start(self._fd)
        try:
            return int(raw.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):  # new or damaged counter: caller rescans
            return None

    def write(self, value: int) -> None:
        data = f"{value}\n".encode("ascii")
        os.ftruncate(self._fd, 0)
        if hasattr(os, "pwrite"):
            os.pwrite(self._fd, data, 0)
        else:
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, data)


def _read_at_start(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32)


def _check_suffix(suffix: str) -> None:
    if (
        not isinstance(suffix, str)
        or not suffix.startswith(".")
        or len(suffix) > 16
        or any(c in suffix for c in "/\\\0")
    ):
        raise ValueError(
            f"suffix must start with '.' and name no folder (like '.png'), got {suffix!r}"
        )


def _suffix_for(fmt: str) -> str:
    return _SUFFIX_FOR_FORMAT.get(fmt.upper(), f".{fmt.lower()}")
