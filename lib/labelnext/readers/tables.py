"""labelnext's own predictions files parsed into an Arrow table: CSV, Parquet, JSON Lines.

Parsing only: what the columns mean is checked by :mod:`labelnext.readers.columns` and
:mod:`labelnext.readers.tasks`. Ids, labels and paths stay strings even when they look like
numbers.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from labelnext.errors import ProblemLog
from labelnext.readers.limits import Limits
from labelnext.readers.parquet_size import decoded_size
from labelnext.readers.source import PARQUET_SUFFIXES, decode, iter_json_objects

__all__ = [
    "CLASSES_KEYS",
    "RESERVED_COLUMNS",
    "TEXT_COLUMNS",
    "check_unique_columns",
    "read_parquet",
    "read_table",
    "schema_classes",
]

#: Columns with a meaning of their own; every other column is metadata.
RESERVED_COLUMNS = frozenset(
    {"data_row_id", "image", "embedding", "ground_truth", "probabilities", "boxes"}
)
#: Columns read as text whatever their cells look like.
TEXT_COLUMNS = frozenset({"data_row_id", "image", "ground_truth", "predicted_label"})
#: Parquet schema metadata keys that may hold the class names (a JSON list), first found wins.
CLASSES_KEYS = ("labelnext.classes", "classes")
#: Bytes a cell of a text table costs in memory at least (an 8-byte value or pointer), used to
#: bound CSV and JSON Lines files whose cells are nearly empty.
_CELL_BYTES = 8


def check_unique_columns(names: list[str], problems: ProblemLog) -> None:
    """Refuse a table whose columns are not all named differently (naming the repeated ones)."""
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    repeated = [f"'{name}' ({count} times)" for name, count in seen.items() if count > 1]
    if repeated:
        raise problems.fail(
            None,
            None,
            f"duplicate column names: {', '.join(repeated[:10])}"
            + (f" and {len(repeated) - 10} more" if len(repeated) > 10 else "")
            + "; every column needs its own name",
        )


def read_parquet(source: pa.NativeFile, problems: ProblemLog, limits: Limits) -> pa.Table:
    """A Parquet file (a memory map or a buffer) as a table, once its footer shows it fits.

    Rows, columns and the decoded size (see :mod:`labelnext.readers.parquet_size`) are checked
    against ``limits`` before any column is decoded.
    """
    try:
        parquet = pq.ParquetFile(source)
        meta = parquet.metadata
        for why in (limits.rows_message(meta.num_rows), limits.columns_message(meta.num_columns)):
            if why is not None:
                raise problems.fail(None, None, why)
        check_unique_columns(parquet.schema_arrow.names, problems)
        size = decoded_size(source, parquet, limits.max_bytes)
        if size.total > limits.max_bytes:
            largest = ", ".join(f"'{name}' {n:,} bytes" for name, n in size.largest())
            raise problems.fail(
                None,
                None,
                limits.bytes_message(size.total, f" (largest columns: {largest})", at_least=True),
            )
        return pq.read_table(source)
    except (pa.ArrowException, OSError) as exc:
        raise problems.fail(None, None, f"not a readable Parquet file ({exc})") from None


def read_table(data: bytes, suffix: str, problems: ProblemLog, limits: Limits) -> pa.Table:
    """The bytes of a ``.csv``, ``.parquet``/``.pq`` or ``.jsonl``/``.ndjson`` file as a table.

    A text file is refused when its bytes, its rows or its columns pass ``limits`` (checked
    before its table is built: the header gives the columns, the line count bounds the rows).
    """
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(pa.BufferReader(data), problems, limits)
    if len(data) > limits.max_bytes:
        raise problems.fail(None, None, limits.bytes_message(len(data)))
    text = decode(data, problems)
    if suffix == ".csv":
        return _read_csv(text, problems, limits)
    return _read_jsonl(text, problems, limits)


def _read_csv(text: str, problems: ProblemLog, limits: Limits) -> pa.Table:
    header = text.split("\n", 1)[0].rstrip("\r") if text else ""
    names = [h.strip() for h in next(csv.reader([header]), [])]
    why = limits.columns_message(len(names))
    if why is not None:
        raise problems.fail(None, None, why)
    check_unique_columns(names, problems)
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    # pyarrow's CSV reader takes ~8 bytes a cell even for empty cells ("a,,,,\n")
    if lines * len(names) * _CELL_BYTES > limits.max_bytes:
        raise problems.fail(
            None,
            None,
            limits.bytes_message(
                lines * len(names) * _CELL_BYTES,
                f" ({lines:,} lines x {len(names):,} columns)",
            ),
        )
    as_string = {c: pa.string() for c in names if c in RESERVED_COLUMNS | TEXT_COLUMNS}
    try:
        return pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            convert_options=pa_csv.ConvertOptions(
                column_types=as_string, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        row = None
        if "Expected" in message and "columns" in message:
            for number, line in enumerate(text.splitlines()[1:], start=1):
                if line and len(next(csv.reader([line]))) != len(names):
                    row = number
                    break
        raise problems.fail(row, None, f"malformed CSV: {message.splitlines()[0]}") from None


def _read_jsonl(text: str, problems: ProblemLog, limits: Limits) -> pa.Table:
    records: list[dict[str, object]] = []
    keys: dict[str, None] = {}
    for _, record in iter_json_objects(text, problems):
        records.append(record)
        keys.update(dict.fromkeys(record))
        # a table has a cell for every key of every line: lines with keys of their own would
        # make a huge sparse table out of a small file
        if len(keys) > limits.max_columns:
            raise problems.fail(None, None, limits.columns_message(len(keys)) or "")
        if len(records) > limits.max_rows:
            raise problems.fail(None, None, limits.rows_message(len(records)) or "")
    problems.raise_if_any()
    if not records:
        raise problems.fail(None, None, "the file holds no JSON objects")
    cells = len(records) * len(keys) * _CELL_BYTES
    if cells > limits.max_bytes:
        raise problems.fail(
            None,
            None,
            limits.bytes_message(cells, f" ({len(records):,} lines x {len(keys):,} keys)"),
        )
    frame = pd.DataFrame.from_records(records)
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        # mixed types in one field: keep every field as text, the checks name the rows
        return pa.Table.from_pandas(frame.astype(object).map(_as_text), preserve_index=False)


def _as_text(value: object) -> object:
    if value is None or isinstance(value, list):
        return value
    return str(value)


def schema_classes(schema: pa.Schema, problems: ProblemLog) -> list[str] | None:
    """Class names from the Parquet schema metadata key ``labelnext.classes`` (a JSON list).

    A key that is there but holds no list of names is reported (naming the key), not ignored.
    """
    meta = schema.metadata or {}
    for key in CLASSES_KEYS:
        raw = meta.get(key.encode())
        if raw is not None:
            break
    else:
        return None
    field = f"schema metadata '{key}'"
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.add(None, field, f"not valid JSON ({exc}); expected a JSON list of class names")
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        shown = raw.decode("utf-8", errors="replace")
        problems.add(
            None,
            field,
            "must be a JSON list of class names (non-empty strings), got "
            + (shown if len(shown) <= 80 else shown[:77] + "..."),
        )
        return None
    return list(value)
