"""Plain label tables: CSV and Parquet with ``data_row_id,label`` per row.

Columns: ``data_row_id`` and ``label`` (or ``labels``) are required; ``labeled_by`` and
``labeled_at`` (ISO 8601; a Parquet timestamp) are optional; other columns are ignored, so a
training-set export reads back. A label is

* classification: the class name;
* multi-label: names joined by ``|`` (``cat|dog``), a JSON list (``["cat", "dog"]``) or, in
  Parquet, a list column; an empty cell is "none of the classes" only when ``task="multilabel"``
  is given;
* detection: a JSON list of boxes ``[{"x": .., "y": .., "w": .., "h": .., "label": ..}]`` in
  pixels.

Without ``task`` the kind is inferred: JSON box lists are detection, any ``|`` or JSON name list
makes the file multi-label, else classification. Problems name the file, the 1-based data row
(the header is not counted) and the column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from labelnext.errors import ProblemLog
from labelnext.labels.table import (
    Entry,
    LabelSet,
    Reading,
    Source,
    box_problem,
    check_classes_argument,
    check_task,
    finish,
    label_problems,
    make_box,
    multilabel,
    parse_time,
    read_source,
    sort_boxes,
    text_or_none,
)
from labelnext.readers.source import decode

__all__ = ["read_csv_labels", "read_parquet_labels"]

_ID = "data_row_id"
_LABEL_COLUMNS = ("label", "labels")


def read_csv_labels(
    source: Source,
    *,
    filename: str | None = None,
    classes: Sequence[str] | None = None,
    task: str | None = None,
    known_ids: Collection[str] | None = None,
) -> LabelSet:
    """Read a CSV labels file (``data_row_id,label[,labeled_by,labeled_at]``).

    Parameters
    ----------
    source : path, bytes or binary file object
    filename : str, optional
        How messages name the file (default: the path, or ``<upload>`` for bytes).
    classes : sequence of str, optional
        The run's classes; a label outside them is a problem.
    task : {"classification", "multilabel", "detection"}, optional
        Inferred from the labels when not given.
    known_ids : collection of str, optional
        The data rows labels may be given for; any other id is a problem.

    Returns
    -------
    LabelSet

    Raises
    ------
    LabelFileError
        Every problem found (up to 50), each naming file, row and column.

    Examples
    --------
    >>> labels = read_csv_labels(b"data_row_id,label\\nr1,cat\\nr2,dog\\n")
    >>> labels.frame[["data_row_id", "label"]].values.tolist()
    [['r1', 'cat'], ['r2', 'dog']]
    """
    check_task(task)
    wanted = check_classes_argument(classes)
    data, label = read_source(source, filename)
    problems = label_problems(label)
    fast = _fast_csv(data, label, wanted, task, known_ids)
    if fast is not None:
        return fast
    records = list(_csv_records(decode(data, problems), problems))
    return _finish_records(records, problems, "csv", wanted, task, known_ids)


def read_parquet_labels(
    source: Source,
    *,
    filename: str | None = None,
    classes: Sequence[str] | None = None,
    task: str | None = None,
    known_ids: Collection[str] | None = None,
) -> LabelSet:
    """Read a Parquet labels file; the same columns and rules as :func:`read_csv_labels`.

    A ``label`` column of type list<string> holds multi-label labels; a timestamp
    ``labeled_at`` is used as it is (UTC when it has no time zone).

    Raises
    ------
    LabelFileError
        Every problem found (up to 50), each naming file, row and column.
    """
    check_task(task)
    wanted = check_classes_argument(classes)
    data, label = read_source(source, filename)
    problems = label_problems(label)
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise problems.fail(None, None, f"not a readable Parquet file: {exc}") from None
    columns = table.column_names
    _check_header(columns, problems)
    problems.raise_if_any()
    fast = _fast_table(table, label, "parquet", wanted, task, known_ids)
    if fast is not None:
        return fast
    present = [c for c in (_ID, _label_column(columns), "labeled_by", "labeled_at") if c]
    values = {c: table.column(c).to_pylist() for c in present if c in columns}
    label_column = _label_column(columns)
    records: list[tuple[int, dict[str, Any]]] = []
    for i in range(table.num_rows):
        record = {c: values[c][i] for c in values}
        record["label"] = record.pop(label_column) if label_column != "label" else record["label"]
        records.append((i + 1, record))
    return _finish_records(records, problems, "parquet", wanted, task, known_ids)


# --------------------------------------------------------------------------------------------
# The common case in one vectorised pass: single class names, every row valid. Anything else
# (or any problem) returns None and the file is read row by row, which names each problem, so
# both paths give the same table or the same error.


def _fast_csv(
    data: bytes,
    label: str,
    classes: tuple[str, ...] | None,
    task: str | None,
    known_ids: Collection[str] | None,
) -> LabelSet | None:
    data = data.removeprefix(b"\xef\xbb\xbf")
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        header = next(csv.reader([first.decode("utf-8")], strict=True))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    if len(set(header)) != len(header) or any(h != h.strip() or not h for h in header):
        return None
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.column_names != header:
        return None
    return _fast_table(table, label, "csv", classes, task, known_ids)


def _fast_table(
    table: pa.Table,
    label: str,
    fmt: str,
    classes: tuple[str, ...] | None,
    task: str | None,
    known_ids: Collection[str] | None,
) -> LabelSet | None:
    names = table.column_names
    if task not in (None, "classification") or table.num_rows == 0:
        return None
    if _ID not in names or _label_column(names) not in names:
        return None
    ids = _clean_text(table.column(_ID))
    labels = _clean_text(table.column(_label_column(names)))
    if ids is None or labels is None:
        return None
    if (
        pc.any(pc.match_substring(labels, "|")).as_py()
        or pc.any(pc.starts_with(labels, "[")).as_py()
    ):
        return None  # multi-label or boxes
    if pc.count_distinct(ids).as_py() != len(ids):
        return None  # duplicates: the row path names them
    if classes is not None and not pc.all(pc.is_in(labels, pa.array(classes))).as_py():
        return None
    if known_ids is not None:
        known = pa.array(list(known_ids), type=pa.string())
        if not pc.all(pc.is_in(ids, known)).as_py():
            return None
    by: list[str | None] = [None] * len(ids)
    if "labeled_by" in names:
        column = table.column("labeled_by")
        if not _is_text(column.type):
            return None
        trimmed = pc.utf8_trim_whitespace(column).to_pylist()
        by = [v if v else None for v in trimmed]
    at: list[datetime | None] = [None] * len(ids)
    if "labeled_at" in names:
        times = _times(table.column("labeled_at"))
        if times is None:
            return None
        at = times
    id_list = ids.to_pylist()
    label_list = labels.to_pylist()
    used = classes if classes is not None else tuple(sorted(set(label_list)))
    frame = pd.DataFrame(
        {
            "data_row_id": pd.Series(id_list, dtype=object),
            "label": pd.Series(label_list, dtype=object),
            "labeled_by": pd.Series(by, dtype=object),
            "labeled_at": pd.Series(at, dtype=object),
            "source": pd.Series([label] * len(id_list), dtype=object),
            "source_row": pd.Series(range(1, len(id_list) + 1), dtype="int64"),
        }
    )
    return LabelSet(frame=frame, task="classification", format=fmt, source=label, classes=used)


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _clean_text(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A string column with no null, empty or padded value, else None."""
    if not _is_text(column.type) or column.null_count:
        return None
    if not pc.all(pc.equal(pc.utf8_trim_whitespace(column), column)).as_py():
        return None
    if pc.any(pc.equal(pc.utf8_length(column), 0)).as_py():
        return None
    return column


def _times(column: pa.ChunkedArray) -> list[datetime | None] | None:
    """``labeled_at`` as UTC datetimes (None where empty), or None if any value is not a time.

    Each distinct value is parsed once (a batch's labels share few times; Arrow's per-element
    conversion of time-zone-aware timestamps is slow).
    """
    if not (pa.types.is_timestamp(column.type) or _is_text(column.type)):
        return None
    encoded = column.combine_chunks().dictionary_encode()
    parsed: list[datetime | None] = []
    for value in encoded.dictionary.to_pylist():
        moment, why = parse_time(value)
        if why is not None:
            return None
        parsed.append(moment)
    parsed.append(None)  # where the value is null
    indices = pc.fill_null(encoded.indices, len(parsed) - 1).to_numpy(zero_copy_only=False)
    lookup = np.asarray(parsed, dtype=object)
    result: list[datetime | None] = lookup[indices].tolist()
    return result


def _label_column(columns: Sequence[str]) -> str:
    return next((c for c in _LABEL_COLUMNS if c in columns), "label")


def _check_header(columns: Sequence[str], problems: ProblemLog) -> None:
    if _ID not in columns:
        problems.add(
            None, _ID, f"missing column '{_ID}'; found: {', '.join(columns) or '(no columns)'}"
        )
    if not any(c in columns for c in _LABEL_COLUMNS):
        problems.add(
            None, "label", f"missing column 'label'; found: {', '.join(columns) or '(no columns)'}"
        )


def _csv_records(text: str, problems: ProblemLog) -> Iterator[tuple[int, dict[str, Any]]]:
    if not text.strip():
        raise problems.fail(None, None, "the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise problems.fail(None, None, f"unreadable CSV header: {exc}") from None
    _check_header(header, problems)
    problems.raise_if_any()
    label_column = _label_column(header)
    number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            number += 1
            problems.add(number, None, f"malformed CSV line: {exc}")
            continue
        if not fields:
            continue  # a blank line
        number += 1
        if len(fields) != len(header):
            problems.add(
                number,
                None,
                f"malformed line: {len(fields)} field(s), the header has {len(header)}",
            )
            continue
        record: dict[str, Any] = dict(zip(header, fields, strict=True))
        record["label"] = record.pop(label_column) if label_column != "label" else record["label"]
        yield number, record
    if number == 0:
        problems.add(None, None, "the file has a header but no rows")


def _finish_records(
    records: list[tuple[int, dict[str, Any]]],
    problems: ProblemLog,
    fmt: str,
    classes: tuple[str, ...] | None,
    task: str | None,
    known_ids: Collection[str] | None,
) -> LabelSet:
    kind = task or _infer_task(records, problems)
    reading = Reading()
    for number, record in records:
        data_row_id = text_or_none(record.get(_ID))
        if data_row_id is None:
            problems.add(number, _ID, f"empty or missing data_row_id, got {record.get(_ID)!r}")
            continue
        parsed = _parse_label(record.get("label"), kind, classes, number, problems)
        labeled_at, why = parse_time(record.get("labeled_at"))
        if why is not None:
            problems.add(number, "labeled_at", why)
            continue
        if parsed is None:
            continue
        reading.entries.append(
            Entry(
                data_row_id=data_row_id,
                label=parsed,
                labeled_by=text_or_none(record.get("labeled_by")),
                labeled_at=labeled_at,
                row=number,
                where=f"row {number}",
            )
        )
    return finish(reading, problems, task=kind, fmt=fmt, classes=classes, known_ids=known_ids)


def _infer_task(records: list[tuple[int, dict[str, Any]]], problems: ProblemLog) -> str:
    first: dict[str, int] = {}
    for number, record in records:
        value = record.get("label")
        if isinstance(value, list):
            kind = "multilabel"
        elif isinstance(value, str) and value.lstrip().startswith("["):
            if value.replace(" ", "") == "[]":
                continue  # no boxes, or no class: fits either
            kind = "detection" if "{" in value else "multilabel"
        elif isinstance(value, str) and "|" in value:
            kind = "multilabel"
        else:
            continue
        first.setdefault(kind, number)
    if "detection" in first and "multilabel" in first:
        raise problems.fail(
            None,
            "label",
            f"the file mixes box lists (first on row {first['detection']}) and class-name "
            f"lists (first on row {first['multilabel']}); give task to say which it holds",
        )
    if "detection" in first:
        return "detection"
    return "multilabel" if "multilabel" in first else "classification"


def _parse_label(
    value: Any, task: str, classes: Sequence[str] | None, number: int, problems: ProblemLog
) -> str | tuple[str, ...] | list[dict[str, Any]] | None:
    if task == "classification":
        if isinstance(value, list):
            problems.add(
                number, "label", f"a list of class names {value!r}: give task='multilabel'"
            )
            return None
        name = text_or_none(value)
        if name is None:
            problems.add(number, "label", f"empty label, got {value!r}")
            return None
        return name
    if task == "multilabel":
        return _parse_names(value, classes, number, problems)
    return _parse_boxes(value, number, problems)


def _parse_names(
    value: Any, classes: Sequence[str] | None, number: int, problems: ProblemLog
) -> tuple[str, ...] | None:
    if value is None:
        problems.add(number, "label", "missing label (an empty list means no class)")
        return None
    names: list[Any]
    if isinstance(value, list):
        names = value
    elif isinstance(value, str) and value.lstrip().startswith("["):
        try:
            names = json.loads(value)
        except json.JSONDecodeError as exc:
            problems.add(number, "label", f"not a JSON list of class names: {exc.msg}")
            return None
        if not isinstance(names, list):
            problems.add(number, "label", "must be a JSON list of class names")
            return None
    elif isinstance(value, str):
        names = [part.strip() for part in value.split("|") if part.strip()]
    else:
        problems.add(number, "label", f"must be class names joined by '|', got {value!r}")
        return None
    if not all(isinstance(n, str) and n.strip() for n in names):
        problems.add(number, "label", f"class names must be non-empty text, got {names!r}")
        return None
    stripped = [n.strip() for n in names]
    twice = sorted({n for n in stripped if stripped.count(n) > 1})
    if twice:
        problems.add(number, "label", f"class(es) listed twice: {', '.join(twice)}")
        return None
    return multilabel(stripped, classes)


def _parse_boxes(value: Any, number: int, problems: ProblemLog) -> list[dict[str, Any]] | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(number, "label", f"must be a JSON list of boxes, got {value!r}")
        return None
    try:
        boxes = json.loads(value)
    except json.JSONDecodeError as exc:
        problems.add(number, "label", f"not a JSON list of boxes: {exc.msg}")
        return None
    if not isinstance(boxes, list):
        problems.add(number, "label", "must be a JSON list of boxes {x, y, w, h, label}")
        return None
    out = []
    for k, box in enumerate(boxes):
        if not isinstance(box, dict):
            problems.add(number, f"label[{k}]", "must be an object {x, y, w, h, label}")
            return None
        why = box_problem([box.get(c) for c in "xywh"], list("xywh"))
        name = text_or_none(box.get("label"))
        if why is None and name is None:
            why = f"label must be a class name, got {box.get('label')!r}"
        if why is not None:
            problems.add(number, f"label[{k}]", why)
            return None
        out.append(make_box(box["x"], box["y"], box["w"], box["h"], str(name)))
    return sort_boxes(out)
