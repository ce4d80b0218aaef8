"""Top-k over a Parquet run too large for memory: stream record batches, keep a bounded top-k.

Memory holds one record batch and the ``k`` best rows so far, whatever the file's row count.
The result is the same table, in the same order, as :func:`labelnext.select.ranked` on the whole
run loaded in memory (most uncertain first, ties by ``data_row_id``); a test checks that.

Every batch is validated like :func:`labelnext.readers.load_run` validates a whole file, with rows
numbered from the start of the file. Two checks need the whole file and are not made here:
duplicate ``data_row_id`` across batches, and ``--renormalize`` is per row so it still works.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from labelnext import paths
from labelnext.errors import EmptyPoolError, ProblemLog, SelectionError
from labelnext.readers.native import build_run
from labelnext.readers.source import PARQUET_SUFFIXES, locate_run
from labelnext.scoring import Scoring, run_scores
from labelnext.select import Filter, filter_mask, rows_frame, top_k

__all__ = ["StreamResult", "stream_top_k"]

DEFAULT_BATCH_ROWS = 262_144


@dataclass(frozen=True)
class StreamResult:
    """The top-k table and the counts a report needs."""

    top: pd.DataFrame
    n_rows: int
    n_pool: int


def stream_top_k(
    source: str | os.PathLike[str],
    strategy: str | Scoring,
    k: int,
    *,
    flt: Filter | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    allowed_roots: Sequence[Path] | None = None,
    renormalize: bool = False,
    max_problems: int = 50,
    progress: Callable[[int], None] | None = None,
) -> StreamResult:
    """The ``k`` most uncertain rows of a Parquet run, reading it one record batch at a time.

    Parameters
    ----------
    source : path
        A ``.parquet`` predictions file or a run folder whose predictions are Parquet.
    strategy : str or Scoring
        A strategy name or a :class:`~labelnext.scoring.Scoring`; higher = label first.
    k : int
        How many rows to keep.
    flt : Filter, optional
        Pool filter (classes, confidence range, metadata, excluded ids).
    batch_rows : int, default=262144
        Rows read per batch; memory is about one batch plus ``k`` rows.
    progress : callable, optional
        Called with the number of rows read so far after each batch.

    Returns
    -------
    StreamResult
        ``top`` has the columns of :func:`labelnext.select.ranked`.

    Raises
    ------
    RunValidationError, SelectionError, EmptyPoolError
    """
    if k < 1:
        raise SelectionError(f"k must be >= 1, got {k}")
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    roots = tuple(
        Path(r).resolve()
        for r in (allowed_roots if allowed_roots is not None else paths.allowed_roots())
    )
    # run.json's files are contained as load_run contains them
    found = locate_run(source, max_problems=max_problems, roots=roots)
    if found.suffix not in PARQUET_SUFFIXES or found.path is None:
        raise SelectionError(
            f"Streaming reads Parquet files only; {found.label} is '{found.suffix}'. "
            "Convert it to Parquet, or load it in memory without --stream."
        )
    try:
        # pre_buffer (pyarrow's default) keeps every column chunk it has read: RSS grew by
        # ~90 MB per million rows. Plain buffered reads keep memory flat.
        parquet = pq.ParquetFile(found.path, pre_buffer=False, buffer_size=1 << 20)
    except FileNotFoundError:
        raise ProblemLog(found.label, max_problems).fail(None, None, "file not found") from None
    except (pa.ArrowException, OSError) as exc:
        raise ProblemLog(found.label, max_problems).fail(
            None, None, f"not a readable Parquet file ({exc})"
        ) from None
    schema_metadata = parquet.schema_arrow.metadata

    best: dict[str, NDArray[Any]] | None = None
    n_rows = n_pool = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        table = pa.Table.from_batches([batch]).replace_schema_metadata(schema_metadata)
        problems = ProblemLog(found.label, max_problems, offset=n_rows)
        run = build_run(table, found, roots, problems, renormalize, content_hash="")
        scores = run_scores(run, strategy)
        mask = filter_mask(run, scores, flt) if flt is not None else np.ones(run.n_rows, bool)
        n_rows += run.n_rows
        n_pool += int(mask.sum())
        if mask.any():
            keep = top_k(scores, run.ids, min(k, int(mask.sum())), mask=mask)
            part = rows_frame(run, keep, scores)
            chunk = {c: part[c].to_numpy() for c in ("data_row_id", "image", "predicted_label")}
            chunk["score"] = scores[keep]
            best = chunk if best is None else _merge(best, chunk, k)
        del table, run, scores, mask
        pa.default_memory_pool().release_unused()  # keep the allocator from growing its cache
        if progress is not None:
            progress(n_rows)

    if n_rows == 0:
        raise ProblemLog(found.label, max_problems).fail(
            None, None, "the file has a header but no data rows"
        )
    if best is None:
        raise EmptyPoolError("The pool is empty: no row is left after filters and exclusions.")
    if k > n_pool:
        raise SelectionError(f"k={k} is larger than the pool of {n_pool} row(s).")
    score = best["score"].astype(np.float64)
    top = pd.DataFrame(
        {
            "data_row_id": best["data_row_id"],
            "image": best["image"],
            "predicted_label": best["predicted_label"],
            "score": score,
            "confidence": 1.0 - score,
            "rank": np.arange(1, len(score) + 1, dtype=np.int64),
        }
    )
    return StreamResult(top=top, n_rows=n_rows, n_pool=n_pool)


def _merge(
    best: dict[str, NDArray[Any]], chunk: dict[str, NDArray[Any]], k: int
) -> dict[str, NDArray[Any]]:
    """The top ``k`` of two candidate sets, in ranking order (score desc, id asc)."""
    joined = {c: np.concatenate([best[c], chunk[c]]) for c in best}
    keep = top_k(joined["score"], joined["data_row_id"], min(k, len(joined["score"])))
    return {c: v[keep] for c, v in joined.items()}
