"""A run's scores and orders kept on disk, so a restarted server or a second process skips them.

Scoring a million rows and sorting them costs a few hundred milliseconds; it depends only on the
run's content and the :class:`~labelnext.scoring.Scoring`. :func:`scored_order` computes

* ``scores``: every row's uncertainty (higher = more uncertain = label first);
* ``order``: every row, most uncertain first, ties by ``data_row_id``
  (:func:`labelnext.select.order`);
* ``by_class`` and ``class_starts``: for a classification run, ``order`` grouped by predicted
  class (each group keeps the order), so "class c, first page" is a slice;

once, stores them as ``.npy`` files beside the thumbnail cache (``$LABELNEXT_HOME/orders``) and
afterwards opens them memory-mapped: a reopen reads the pages it touches, not the arrays.

Key and trust
    The files are named by a SHA-256 of the run's ``content_hash`` (which covers the predictions
    file and run.json), the Scoring's parameters, the row count and :data:`FORMAT`; a changed
    file or Scoring is another key, never a stale order. A manifest written last (atomically,
    like every file here) holds each array's shape, dtype and CRC-32; an array that does not
    open, has another shape or dtype, or fails its CRC is computed again and replaced, never
    used. The folder is a :class:`~labelnext.diskcache.DiskCache`: bounded, shared safely by
    several processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from labelnext.config import settings
from labelnext.diskcache import DiskCache
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring, run_scores

__all__ = ["FORMAT", "ScoredOrder", "order_cache", "orders_dir", "scored_order"]

#: Bumped when what is stored (or how an order is made) changes: old files are then ignored.
FORMAT = 1
_ARRAYS = ("scores", "order", "by_class", "class_starts")
#: Bound of the folder unless the caller says otherwise (a 1M-row run takes ~25 MB a Scoring).
DEFAULT_MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class ScoredOrder:
    """A run's scores and orders under one Scoring (read-only arrays, possibly memory-mapped).

    Parameters
    ----------
    scores : ndarray of float64, shape (n_rows,)
        Uncertainty of every row; higher = more uncertain = label first.
    order : ndarray of int64, shape (n_rows,)
        Every row, most uncertain first, ties by ``data_row_id``.
    by_class : ndarray of int64, shape (n_rows,) or (0,)
        ``order`` grouped by predicted class, each group in ``order``'s order (classification
        runs; empty otherwise).
    class_starts : ndarray of int64, shape (n_classes + 1,) or (0,)
        Class ``c``'s rows are ``by_class[class_starts[c]:class_starts[c + 1]]``.
    from_disk : bool
        Whether the arrays were opened from the cache (False: computed now).
    """

    scores: NDArray[np.float64]
    order: NDArray[np.int64]
    by_class: NDArray[np.int64]
    class_starts: NDArray[np.int64]
    from_disk: bool = False

    def class_order(self, index: int) -> NDArray[np.int64] | None:
        """Rows predicted as class ``index``, most uncertain first; None without the groups."""
        if len(self.class_starts) == 0:
            return None
        return self.by_class[int(self.class_starts[index]) : int(self.class_starts[index + 1])]


def orders_dir(home: Path | str | None = None) -> Path:
    """``<home>/orders`` (default ``$LABELNEXT_HOME``), beside the thumbnail cache."""
    return (Path(home) if home is not None else settings().home) / "orders"


def order_cache(home: Path | str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> DiskCache:
    """The DiskCache holding the orders of ``home`` (default ``$LABELNEXT_HOME``)."""
    return DiskCache(orders_dir(home), max_bytes=max_bytes)


def cache_key(run: ModelRun, scoring: Scoring) -> str:
    """The files' key: run content, Scoring parameters, row count and :data:`FORMAT`."""
    text = json.dumps(
        {
            "run": run.content_hash,
            "rows": run.n_rows,
            "scoring": scoring.params(),
            "format": FORMAT,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scored_order(
    run: ModelRun,
    scoring: Scoring,
    cache: DiskCache | None = None,
    *,
    store_in_background: bool = False,
) -> ScoredOrder:
    """The run's scores and orders under ``scoring``: from ``cache`` if it holds a sound copy,
    else computed (and stored there).

    Parameters
    ----------
    run : ModelRun
    scoring : Scoring
    cache : DiskCache, optional
        Where the arrays are kept; None computes them and stores nothing.
    store_in_background : bool, default False
        Write the new files on a thread, so the caller (a page waiting for its first grid) does
        not wait for the disk; the manifest still goes last, so a process reading meanwhile sees
        no entry rather than half of one.

    Returns
    -------
    ScoredOrder
        Read-only arrays; memory-mapped when they came from the cache.
    """
    key = cache_key(run, scoring)
    if cache is not None:
        held = _open(cache, key, run.n_rows)
        if held is not None:
            return held
    computed = _compute(run, scoring)
    if cache is not None:
        if store_in_background:
            threading.Thread(
                target=_store_quietly, args=(cache, key, computed), daemon=True
            ).start()
        else:
            _store(cache, key, computed)
    return computed


def _store_quietly(cache: DiskCache, key: str, held: ScoredOrder) -> None:
    # a full disk or a removed folder costs the next process a recomputation, nothing else
    with contextlib.suppress(OSError):
        _store(cache, key, held)


def _compute(run: ModelRun, scoring: Scoring) -> ScoredOrder:
    from labelnext.select import order as full_order

    scores = np.ascontiguousarray(run_scores(run, scoring), dtype=np.float64)
    order = full_order(scores, run.ids_arrow, id_rank=run.id_rank)
    by_class = np.empty(0, dtype=np.int64)
    starts = np.empty(0, dtype=np.int64)
    if run.task == "classification" and len(run.classes) < 2**15:
        classes = run.predicted_index[order].astype(np.int16)
        grouped = np.argsort(classes, kind="stable")  # radix sort: small integers
        by_class = order[grouped]
        counts = np.bincount(classes, minlength=len(run.classes))
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    for array in (scores, order, by_class, starts):
        array.flags.writeable = False
    return ScoredOrder(scores, order, by_class, starts)


def _store(cache: DiskCache, key: str, held: ScoredOrder) -> None:
    manifest: dict[str, Any] = {"format": FORMAT, "arrays": {}}
    for name in _ARRAYS:
        array = np.ascontiguousarray(getattr(held, name))
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        cache.put_bytes(f"{key}|{name}", buffer.getvalue(), suffix=".npy")
        manifest["arrays"][name] = {
            "shape": list(array.shape),
            "dtype": array.dtype.str,
            "crc32": _crc32(array),
        }
    # written last: arrays without a manifest (a writer that died midway) are never trusted
    cache.put_bytes(f"{key}|manifest", json.dumps(manifest).encode("utf-8"), suffix=".json")


def _crc32(array: NDArray[Any]) -> int:
    """CRC-32 of the array's bytes, read in place (a memory map is not copied)."""
    raw: Any = np.ascontiguousarray(array).view(np.uint8)
    return zlib.crc32(raw)


def _open(cache: DiskCache, key: str, n_rows: int) -> ScoredOrder | None:
    """The stored arrays if every one opens and matches the manifest; else None."""
    path = cache.get(f"{key}|manifest", suffix=".json")
    if path is None:
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            return None
        arrays: dict[str, NDArray[Any]] = {}
        for name in _ARRAYS:
            expected = manifest["arrays"][name]
            file = cache.get(f"{key}|{name}", suffix=".npy")
            if file is None:
                return None
            mapped: Literal["r"] | None = "r" if int(np.prod(expected["shape"])) else None
            array = np.load(file, mmap_mode=mapped, allow_pickle=False)
            if list(array.shape) != expected["shape"] or array.dtype.str != expected["dtype"]:
                return None
            if _crc32(array) != expected["crc32"]:
                return None
            # a plain ndarray over the same pages (np.memmap leaks its type into every result)
            arrays[name] = array.view(np.ndarray) if isinstance(array, np.memmap) else array
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None  # missing, truncated or not ours: computed again
    if arrays["scores"].shape != (n_rows,) or arrays["order"].shape != (n_rows,):
        return None
    return ScoredOrder(
        arrays["scores"],
        arrays["order"],
        arrays["by_class"],
        arrays["class_starts"],
        from_disk=True,
    )
