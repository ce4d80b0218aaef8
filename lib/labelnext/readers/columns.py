"""Column validators: ids, numbers, probabilities, lists, embeddings, image references.

Each takes an Arrow column (or an array) and a :class:`~labelnext.errors.ProblemLog`, reports
every bad cell with its 1-based row and the field, and returns the column in canonical form. They
are vectorised (Arrow compute or numpy): they run on every row of a million-row run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from labelnext.errors import PathNotAllowedError, ProblemLog, RunValidationError
from labelnext.paths import resolve_image_path

__all__ = [
    "MAX_ID_CHARS",
    "SUM_TOLERANCE",
    "check_class_count",
    "check_confidence",
    "check_id_text",
    "check_ids",
    "check_image_refs",
    "check_probabilities",
    "check_probabilities_collecting",
    "column_names",
    "is_number",
    "list_column",
    "numeric",
    "read_embedding",
    "report_bad_values",
    "softmax",
    "softmax_checked",
    "strings",
    "text_array",
]

SUM_TOLERANCE = 1e-3
#: The longest data_row_id the ledger stores (its data_row_id columns hold 500 characters).
MAX_ID_CHARS = 500


def column_names(columns: Sequence[str], limit: int = 12) -> str:
    """The first ``limit`` column names, for messages that list what a file has."""
    shown = ", ".join(columns[:limit])
    return shown + (f" (+{len(columns) - limit} more)" if len(columns) > limit else "")


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (``true``/``false`` are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_confidence(value: object) -> str | None:
    """Why ``value`` is not a confidence in [0, 1], or None if it is one."""
    if value is None:
        return "missing: a prediction needs a confidence in [0, 1]"
    if not is_number(value):
        return f"must be a finite number in [0, 1], got {value!r}"
    if not 0.0 <= float(value) <= 1.0:
        return f"must lie in [0, 1], got {value!r}"
    return None


def strings(column: pa.ChunkedArray) -> NDArray[np.object_]:
    """A column as an object array of Python strings (None for nulls)."""
    return np.asarray(_text_column(column).to_numpy(zero_copy_only=False), dtype=object)


def _text_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return pc.cast(column, pa.string())


def text_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A text column as one Arrow string array (chunks combined; other types cast to text)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_string(column.type):
        return column
    return pc.cast(column, pa.string())


def check_ids(
    column: pa.ChunkedArray, problems: ProblemLog
) -> tuple[pa.Array, NDArray[np.int64] | None]:
    """The ids as one Arrow string array, and each id's rank in sorted order (None when there
    are duplicates).

    The ids stay in Arrow: a Python string per row would cost more than reading the file.
    """
    # Arrow compute, not pandas string methods: this runs on every row of a million-row run
    try:
        text = text_array(column)
    except pa.ArrowException as exc:
        raise problems.fail(None, "data_row_id", f"cannot be read as text ({exc})") from None
    blank = pc.or_(pc.equal(pc.binary_length(text), 0), pc.utf8_is_space(text))
    empty = pc.fill_null(pc.or_kleene(pc.is_null(text), blank), True)
    if text.null_count or pc.any(empty).as_py():
        empty_np = np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)
        problems.add_rows(np.flatnonzero(empty_np), "data_row_id", "empty data_row_id")
    else:
        empty_np = None
    check_id_text(text, problems)
    n = len(text)
    # a file written in id order (as most producers write) needs no sort: strictly increasing
    # neighbours mean sorted and unique, in one comparison per row
    if n < 2 or pc.all(pc.less(text.slice(0, n - 1), text.slice(1))).as_py():
        return text, np.arange(n, dtype=np.int64)
    # one sort finds duplicates (equal neighbours) and gives the rank every ranking breaks ties
    # by; hashing for count_distinct cost three times as much at a million rows
    by_id = pc.sort_indices(text)
    ordered = text.take(by_id)
    if not pc.any(pc.equal(ordered.slice(1), ordered.slice(0, n - 1))).as_py():
        rank = np.empty(n, dtype=np.int64)
        rank[by_id.to_numpy()] = np.arange(n, dtype=np.int64)
        return text, rank
    ids = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    if empty_np is None:
        empty_np = np.zeros(n, dtype=bool)
    series = pd.Series(ids, dtype=object)
    dup = series.duplicated(keep="first").to_numpy() & ~empty_np
    if dup.any():
        first: dict[str, int] = {}
        for i in np.flatnonzero(series.duplicated(keep=False).to_numpy() & ~empty_np):
            first.setdefault(ids[i], int(i) + 1 + problems.offset)
        for i in np.flatnonzero(dup)[: problems.limit + 1]:
            problems.add(
                int(i) + 1,
                "data_row_id",
                f"duplicate data_row_id '{ids[i]}' (first seen on row {first[ids[i]]})",
            )
    return text, None


def _holds_nul(text: pa.Array) -> bool:
    """Whether any value of a string array holds a NUL byte: one memchr over its data buffer.

    Bytes outside the array's slice may give a false positive, never a false negative; the
    caller then looks row by row.
    """
    data = text.buffers()[2]
    return data is not None and bool(np.any(np.frombuffer(data, dtype=np.uint8) == 0))


def check_id_text(text: pa.Array | pa.ChunkedArray, problems: ProblemLog) -> None:
    """Report ids the ledger cannot store: with a NUL character, or over :data:`MAX_ID_CHARS`.

    PostgreSQL refuses NUL in text (SQLite would take it, so the two ledgers would differ);
    an id longer than the ledger's column would be refused at submit time, after a user has
    built a batch around it. Both are refused at load, naming the row.
    """
    text = text_array(text)
    if _holds_nul(text):
        nul = pc.fill_null(pc.match_substring(text, "\x00"), False)
        if pc.any(nul).as_py():
            rows = np.flatnonzero(np.asarray(nul.to_numpy(zero_copy_only=False), dtype=bool))
            problems.add_rows(
                rows,
                "data_row_id",
                "data_row_id contains a NUL character (\\x00), which the ledger (PostgreSQL) "
                "cannot store",
            )
    # a character takes at least one byte: ids of at most MAX_ID_CHARS bytes need no counting
    if (pc.max(pc.binary_length(text)).as_py() or 0) <= MAX_ID_CHARS:
        return
    lengths = pc.fill_null(pc.utf8_length(text), 0)
    if pc.max(lengths).as_py() > MAX_ID_CHARS:
        long_np = np.asarray(lengths.to_numpy(zero_copy_only=False))
        for i in np.flatnonzero(long_np > MAX_ID_CHARS)[: problems.limit + 1]:
            problems.add(
                int(i) + 1,
                "data_row_id",
                f"data_row_id is {int(long_np[i]):,} characters long; the ledger stores ids of "
                f"at most {MAX_ID_CHARS} characters",
            )


def numeric(
    table: pa.Table, name: str, problems: ProblemLog, *, dtype: type[np.floating[Any]] = np.float64
) -> NDArray[np.floating[Any]]:
    """A column as float64 (or ``dtype`` for a numeric column: float32 probabilities are not
    widened only to be narrowed again). Empty and non-numeric cells are reported here and read
    as 0, so that later checks (NaN, sums) do not report the same cell twice."""
    column = table.column(name)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = np.array(column.to_numpy(zero_copy_only=False), dtype=dtype)
        if column.null_count:
            missing = np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))
            problems.add_rows(missing, name, "missing or NaN value")
            values[missing] = 0.0
        return values
    raw = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    empty = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    problems.add_rows(np.flatnonzero(empty), name, "missing or NaN value")
    bad = np.flatnonzero(np.isnan(values) & ~empty)
    for i in bad[: problems.limit + 1]:
        problems.add(int(i) + 1, name, f"not a number: {raw.iloc[i]!r}")
    values[empty | np.isnan(values)] = 0.0
    return values


def report_bad_values(
    matrix: NDArray[np.floating[Any]],
    names: Sequence[str],
    problems: ProblemLog,
    *,
    negative: bool = True,
) -> None:
    """Report NaN, infinite and (unless ``negative=False``) negative cells, column by column."""
    if np.isfinite(matrix).all() and (not negative or matrix.min(initial=0.0) >= 0):
        return  # the common case, in one pass
    for j, name in enumerate(names):
        col = matrix[:, j]
        checks = [("NaN", np.isnan(col)), ("infinite", np.isinf(col))]
        if negative:
            checks.append(("negative", col < 0))
        for kind, bad in checks:
            rows = np.flatnonzero(bad)
            if len(rows):
                problems.add_rows(rows, name, f"{kind} value")


def check_probabilities(
    matrix: NDArray[np.floating[Any]],
    names: Sequence[str],
    renormalize: bool,
    problems: ProblemLog,
) -> NDArray[np.float32]:
    """Rows of class probabilities: finite, non-negative, summing to 1 (or renormalised)."""
    report_bad_values(matrix, names, problems)
    problems.raise_if_any()
    if matrix.dtype == np.float32:
        # summed in float32 (rounding error ~1e-7 a class, far below the tolerance), and only
        # the rows near the tolerance again in float64: the verdict is the float64 one
        sums = matrix.sum(axis=1, dtype=np.float64) if matrix.shape[1] > 1000 else None
        if sums is None:
            near = np.flatnonzero(np.abs(matrix.sum(axis=1) - 1.0) > SUM_TOLERANCE / 2)
            sums = np.ones(matrix.shape[0], dtype=np.float64)
            sums[near] = matrix[near].sum(axis=1, dtype=np.float64)
    else:
        sums = matrix.sum(axis=1, dtype=np.float64)
    off = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if len(off):
        if renormalize:
            sums = matrix.sum(axis=1, dtype=np.float64)  # every row divided by its exact sum
            zero = off[sums[off] <= 0]
            problems.add_rows(zero, names[0], "all probabilities are 0; cannot renormalise")
            problems.raise_if_any()
            matrix = matrix / sums[:, None]
        else:
            for i in off[: problems.limit + 1]:
                problems.add(
                    int(i) + 1,
                    ",".join(names) if len(names) <= 4 else f"{names[0]}..{names[-1]}",
                    f"probabilities sum to {sums[i]:.6g}, not 1 (tolerance {SUM_TOLERANCE}); "
                    "pass renormalize=True (CLI: --renormalize) to divide by the sum",
                )
            problems.raise_if_any()
    return np.ascontiguousarray(matrix, dtype=np.float32)


def check_probabilities_collecting(
    matrix: NDArray[np.float64], names: Sequence[str], renormalize: bool, problems: ProblemLog
) -> NDArray[np.float32]:
    """Like :func:`check_probabilities`, but leaves the problems in ``problems`` unraised."""
    try:
        return check_probabilities(matrix, names, renormalize, problems)
    except RunValidationError:
        return np.zeros(matrix.shape, dtype=np.float32)


def softmax(logits: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """Row-wise softmax, shifted by the row maximum so large logits cannot overflow.

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])).round(3).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    values = np.asarray(logits, dtype=np.float64)
    shifted: NDArray[np.float64] = values - values.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def softmax_checked(
    logits: NDArray[np.float64], names: Sequence[str], problems: ProblemLog
) -> NDArray[np.float32]:
    """Logit columns to probabilities, after reporting NaN and infinite logits."""
    for j, name in enumerate(names):
        col = logits[:, j]
        problems.add_rows(np.flatnonzero(np.isnan(col)), name, "NaN logit")
        problems.add_rows(np.flatnonzero(np.isinf(col)), name, "infinite logit")
    problems.raise_if_any()
    return softmax(logits).astype(np.float32)


def list_column(column: pa.ChunkedArray, name: str, problems: ProblemLog) -> NDArray[np.float64]:
    """A list column (or, in CSV, JSON lists in text cells) as an (n, width) float array."""
    values = column.to_pylist()
    if values and isinstance(values[0], str):  # CSV: a JSON list in a text cell
        parsed: list[Any] = []
        for i, v in enumerate(values):
            try:
                parsed.append(json.loads(v) if v else None)
            except json.JSONDecodeError:
                problems.add(i + 1, name, "not a JSON list of numbers")
                parsed.append(None)
        values = parsed
    lengths = [len(v) if isinstance(v, list) else -1 for v in values]
    width = max(set(lengths), key=lengths.count) if lengths else 0
    for i, length in enumerate(lengths):
        if length != width:
            problems.add(
                i + 1,
                name,
                f"holds {max(length, 0)} values, expected {width} (the width of most rows)",
            )
    problems.raise_if_any()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            try:
                np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                problems.add(i + 1, name, "holds a value that is not a number")
        problems.raise_if_any()
        raise


def read_embedding(table: pa.Table, problems: ProblemLog) -> NDArray[np.float32] | None:
    """The ``embedding`` column as an (n, d) float32 matrix, every row finite and of one width."""
    column = table.column("embedding")
    fast = _numeric_lists(column)
    if fast is not None:
        bad = np.flatnonzero(~np.isfinite(fast).all(axis=1))
        problems.add_rows(bad, "embedding", "NaN or infinite value")
        return fast
    values = column.to_pylist()
    if values and isinstance(values[0], str):
        parsed = []
        for i, v in enumerate(values):
            try:
                parsed.append(json.loads(v))
            except (json.JSONDecodeError, TypeError):
                problems.add(i + 1, "embedding", "not a JSON list of numbers")
                parsed.append(None)
        values = parsed
    lengths = [len(v) if isinstance(v, list) else -1 for v in values]
    width = max(set(lengths), key=lengths.count)
    for i, length in enumerate(lengths):
        if length != width:
            problems.add(i + 1, "embedding", f"holds {max(length, 0)} values, expected {width}")
    if problems.items:
        return None
    try:
        matrix = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        problems.add(None, "embedding", "holds values that are not numbers")
        return None
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    problems.add_rows(bad, "embedding", "NaN or infinite value")
    return matrix


def _numeric_lists(column: pa.ChunkedArray) -> NDArray[np.float32] | None:
    """A Parquet list column of numbers, every row the same length, as (n, d) without Python.

    ``None`` when the column is anything else (JSON text, ragged rows, nulls): the row-by-row
    reader then names each bad row. A million 16-float rows take milliseconds here and tens of
    seconds through ``to_pylist``.
    """
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and not (
        pa.types.is_fixed_size_list(kind)
    ):
        return None
    if not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        return None
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if array.null_count or len(array) == 0:
        return None
    lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
    if lengths.min() != lengths.max() or lengths[0] == 0:
        return None
    values = array.flatten()
    if values.null_count:
        return None
    flat = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return np.ascontiguousarray(flat.reshape(len(array), int(lengths[0])))


def check_image_refs(
    images: NDArray[np.object_] | pa.Array,
    image_root: Path | None,
    roots: Sequence[Path],
    problems: ProblemLog,
) -> None:
    """Refuse image references that leave the image root and the allowed roots.

    Only absolute paths and paths with ``..`` can leave the image root, so only those are resolved
    here (cheap at a million rows); :meth:`ModelRun.image_location` checks again when reading.
    """
    text = (
        text_array(images) if isinstance(images, pa.Array) else pa.array(images, type=pa.string())
    ).fill_null("")
    if not _may_leave(text):
        return
    suspicious = pc.or_(
        pc.or_(pc.starts_with(text, "/"), pc.starts_with(text, "~")),
        pc.match_substring(text, ".."),
    )
    url = pc.or_(pc.starts_with(text, "http://"), pc.starts_with(text, "https://"))
    flagged = pc.and_(suspicious, pc.invert(url)).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(flagged):
        try:
            resolve_image_path(str(text[int(i)].as_py()), image_root, roots)
        except PathNotAllowedError as exc:
            problems.add(int(i) + 1, "image", str(exc))


def _may_leave(text: pa.Array) -> bool:
    """Whether any reference may start with ``/`` or ``~`` or hold ``..``, from the raw buffers.

    The first byte of every non-empty value and one search of the data buffer: a few
    milliseconds at a million rows where three Arrow string kernels took a tenth of a second.
    False positives (``..`` across two values) only send the caller to the exact check.
    """
    offsets_buffer, data = text.buffers()[1], text.buffers()[2]
    if data is None or offsets_buffer is None or len(text) == 0:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    dots = raw == ord(".")
    if bool(np.any(dots[1:] & dots[:-1])):
        return True
    every = np.frombuffer(offsets_buffer, dtype=np.int32)
    offsets = every[text.offset : text.offset + len(text) + 1]
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    first = raw[starts]
    return bool(np.any((first == ord("/")) | (first == ord("~"))))


def check_class_count(
    classes: list[str], problems: ProblemLog, *, task: str = "classification"
) -> None:
    """Enough classes for ``task``, no name twice.

    A classification run needs two classes (one softmax over them); a multi-label run may have
    one (a single sigmoid: is the class present or not).
    """
    needed = 1 if task == "multilabel" else 2
    if len(classes) < needed:
        problems.add(
            None,
            "classes",
            f"a {'multi-label' if task == 'multilabel' else task} run needs >= {needed} "
            f"class{'es' if needed > 1 else ''}, got {len(classes)}",
        )
    dup = sorted({c for c in classes if classes.count(c) > 1})
    if dup:
        problems.add(None, "classes", f"duplicate class names: {', '.join(dup)}")
    problems.raise_if_any()
