"""Tabular manifests of a batch: CSV, Parquet, JSON Lines.

One row per batch row in rank order, with the columns of :data:`MANIFEST_COLUMNS`:
``data_row_id, image, rank, score, confidence, predicted_label, priority``. ``score`` is the
uncertainty at selection time (higher = more uncertain = label first), ``confidence = 1 -
score``, ``rank`` 1 = label first, ``priority`` 1 = most urgent; ``image`` is the reference
rewritten by the export's ``image_url`` (as written by default). Missing values are empty in
CSV and ``null`` in Parquet and JSON Lines.

CSV is UTF-8 with CRLF line ends (RFC 4180). Its cells are neutralised against formula injection
as OWASP recommends: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is written with a single quote before it (``'=HYPERLINK(...)``), so a
spreadsheet shows it as text instead of running it. Numbers stay numbers (``-0.5`` in a number
column is left alone). Parquet and JSON Lines keep the exact values: they are read by
programs, not spreadsheets.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labelnext.csvtext import FORMULA_PREFIXES, csv_safe
from labelnext.export.batch import ExportBatch

__all__ = ["FORMULA_PREFIXES", "MANIFEST_COLUMNS", "csv_safe", "manifest_table"]

MANIFEST_COLUMNS = (
    "data_row_id",
    "image",
    "rank",
    "score",
    "confidence",
    "predicted_label",
    "priority",
)
_TEXT_COLUMNS = ("data_row_id", "image", "predicted_label")
_PARQUET_SCHEMA = pa.schema(
    [
        ("data_row_id", pa.string()),
        ("image", pa.string()),
        ("rank", pa.int64()),
        ("score", pa.float64()),
        ("confidence", pa.float64()),
        ("predicted_label", pa.string()),
        ("priority", pa.int64()),
    ]
)


def manifest_table(batch: ExportBatch, images: list[str | None]) -> pd.DataFrame:
    """The batch as a table of :data:`MANIFEST_COLUMNS`, with ``images`` as its image column."""
    rows = batch.rows
    table = pd.DataFrame(
        {
            # pandas' own text dtype for the version at hand (str with NaN in pandas 3)
            "data_row_id": _text_column(rows["data_row_id"]),
            "image": _text_column(images),
            "rank": pd.to_numeric(rows["rank"]).astype("Int64"),
            "score": pd.to_numeric(rows["score"]).astype("float64"),
            "confidence": pd.to_numeric(rows["confidence"]).astype("float64"),
            "predicted_label": _text_column(rows["predicted_label"]),
        }
    )
    table["priority"] = batch.info.priority
    return table


def _text_column(values: Any) -> pd.Series:
    return pd.Series(list(values), dtype=object).infer_objects()


def render_csv(table: pd.DataFrame) -> bytes:
    safe = table.copy()
    for column in _TEXT_COLUMNS:
        safe[column] = safe[column].map(csv_safe)
    # CRLF line ends (RFC 4180): the writer then quotes every cell holding a CR or an LF, so a
    # stray carriage return cannot split a row in a reader that ends lines at CR.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def render_parquet(table: pd.DataFrame) -> bytes:
    arrow = pa.Table.from_pandas(table, schema=_PARQUET_SCHEMA, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    return buffer.getvalue()


def render_jsonl(table: pd.DataFrame) -> bytes:
    lines = [json.dumps(r, ensure_ascii=False) for r in records(table)]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts (numpy scalars to Python, NaN and NA to None)."""
    columns = list(table.columns)
    return [
        {c: clean(v) for c, v in zip(columns, row, strict=True)}
        for row in table.itertuples(index=False, name=None)
    ]


def clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/NA/None to None."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
