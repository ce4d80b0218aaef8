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
from labelnext.readers.source import PARQUET_SUFFIXES, decode, iter_json_objects

__all__ = ["RESERVED_COLUMNS", "TEXT_COLUMNS", "read_parquet", "read_table", "schema_classes"]

#: Columns with a meaning of their own; every other column is metadata.
RESERVED_COLUMNS = frozenset(
    {"data_row_id", "image", "embedding", "ground_truth", "probabilities", "boxes"}
)
#: Columns read as text whatever their cells look like.
TEXT_COLUMNS = frozenset({"data_row_id", "image", "ground_truth", "predicted_label"})


def read_parquet(source: pa.NativeFile, problems: ProblemLog) -> pa.Table:
    """A Parquet file (a memory map or a buffer) as a table."""
    try:
        return pq.read_table(source)
    except (pa.ArrowException, OSError) as exc:
        raise problems.fail(None, None, f"not a readable Parquet file ({exc})") from None


def read_table(data: bytes, suffix: str, problems: ProblemLog) -> pa.Table:
    """The bytes of a ``.csv``, ``.parquet``/``.pq`` or ``.jsonl``/``.ndjson`` file as a table."""
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(pa.BufferReader(data), problems)
    text = decode(data, problems)
    if suffix == ".csv":
        return _read_csv(text, problems)
    return _read_jsonl(text, problems)


def _read_csv(text: str, problems: ProblemLog) -> pa.Table:
    header = text.splitlines()[0] if text else ""
    names = [h.strip().strip('"') for h in header.split(",")]
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


def _read_jsonl(text: str, problems: ProblemLog) -> pa.Table:
    records = [record for _, record in iter_json_objects(text, problems)]
    problems.raise_if_any()
    if not records:
        raise problems.fail(None, None, "the file holds no JSON objects")
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


def schema_classes(schema: pa.Schema) -> list[str] | None:
    """Class names from the Parquet schema metadata key ``labelnext.classes`` (a JSON list)."""
    meta = schema.metadata or {}
    raw = meta.get(b"labelnext.classes") or meta.get(b"classes")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return [str(c) for c in value] if isinstance(value, list) else None
