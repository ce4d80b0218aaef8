"""Lists of data_row_ids given by people: ``--exclude``, ``--rows``, the app's "only these rows".

One reader serves every place an id list arrives, and it reads ids exactly: an id may hold a
comma, spaces or a newline, so nothing is split or stripped.

* ``.csv``: a real CSV reader, the ``data_row_id`` column (a batch's own CSV export reads back;
  the quote its formula guard put before ``=``, ``+``, ``-``, ``@`` is taken off again);
* ``.parquet`` / ``.pq``: the ``data_row_id`` column;
* ``.jsonl`` / ``.ndjson``: the ``data_row_id`` field of each line;
* anything else (``.txt``...): one id per line, exactly as written; empty lines are skipped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from labelnext.csvtext import csv_unsafe
from labelnext.errors import LabelnextError

__all__ = ["parse_id_lines", "read_id_file"]


def parse_id_lines(lines: Iterable[str]) -> list[str]:
    """One id per line, exactly (only the line ending is not part of it), in first-seen order
    without repeats; empty lines are skipped.

    Examples
    --------
    >>> parse_id_lines(["img,1", "a b ", "", "img,1", "c"])
    ['img,1', 'a b ', 'c']
    """
    return _unique(line.rstrip("\r\n") for line in lines)


def read_id_file(path: str | Path, *, option: str, allow_empty: bool = False) -> list[str]:
    """The ids of a file (see the module docstring); ``option`` names it in messages.

    Raises
    ------
    LabelnextError
        If the file cannot be read, has no ``data_row_id`` column (CSV, Parquet, JSON Lines),
        holds an empty or non-text id, or holds no id and ``allow_empty`` is False. Messages name
        the file, the row or line and the field.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelnextError(f"{option} {path}: cannot read it ({exc.strerror})") from None
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        ids = _parquet_ids(data, path, option)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise LabelnextError(f"{option} {path}, line {line}: not UTF-8 text") from None
        if suffix == ".csv":
            ids = _csv_ids(text, path, option)
        elif suffix in (".jsonl", ".ndjson"):
            ids = _jsonl_ids(text, path, option)
        else:
            ids = parse_id_lines(text.splitlines(keepends=True))
    if not ids and not allow_empty:
        raise LabelnextError(f"{option} {path}: no data_row_ids in the file")
    return ids


def _unique(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for value in ids:
        if value and value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _csv_ids(text: str, path: Path, option: str) -> list[str]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "data_row_id" not in reader.fieldnames:
        found = ", ".join(reader.fieldnames or []) or "none"
        raise LabelnextError(
            f"{option} {path}: a CSV id list needs a 'data_row_id' column (columns: {found}); "
            "or give a .txt file with one id per line"
        )
    ids = []
    for row_number, row in enumerate(reader, start=1):
        value = row.get("data_row_id")
        if not value:
            raise LabelnextError(
                f"{option} {path}, row {row_number}, field 'data_row_id': empty data_row_id"
            )
        ids.append(csv_unsafe(value))
    return _unique(ids)


def _parquet_ids(data: bytes, path: Path, option: str) -> list[str]:
    try:
        table = pq.read_table(pa.BufferReader(data), columns=["data_row_id"])
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise LabelnextError(
            f"{option} {path}: no readable 'data_row_id' column in the Parquet file ({exc})"
        ) from None
    values = table.column("data_row_id").to_pylist()
    for row_number, value in enumerate(values, start=1):
        if not isinstance(value, str) or not value:
            raise LabelnextError(
                f"{option} {path}, row {row_number}, field 'data_row_id': expected a non-empty "
                f"text id, got {value!r}"
            )
    return _unique(values)


def _jsonl_ids(text: str, path: Path, option: str) -> list[str]:
    ids = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelnextError(
                f"{option} {path}, line {number}: not valid JSON ({exc.msg})"
            ) from None
        value = record.get("data_row_id") if isinstance(record, dict) else None
        if not isinstance(value, str) or not value:
            raise LabelnextError(
                f"{option} {path}, line {number}, field 'data_row_id': expected a non-empty "
                f"text id, got {value!r}"
            )
        ids.append(value)
    return _unique(ids)
