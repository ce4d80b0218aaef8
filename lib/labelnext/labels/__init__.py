"""Labels in: what the labeling team gave each row, read back from the labeling tool's files.

Every reader returns a :class:`LabelSet` whose ``frame`` is one canonical table
(:data:`LABEL_COLUMNS`: ``data_row_id, label, labeled_by, labeled_at, source, source_row``),
whatever the file:

===============  =======================================================================
format           file (reader)
===============  =======================================================================
``labelbox``     Labelbox export NDJSON, export v2: radio, checklist, bounding boxes
                 (:func:`read_labelbox_labels`)
``labelstudio``  Label Studio JSON export: choices, rectanglelabels
                 (:func:`read_labelstudio_labels`)
``coco``         COCO annotations: images, annotations, categories (:func:`read_coco_labels`)
``csv``          ``data_row_id,label[,labeled_by,labeled_at]`` (:func:`read_csv_labels`)
``parquet``      the same columns; a list column for multi-label (:func:`read_parquet_labels`)
===============  =======================================================================

:func:`read_labels` recognises the format and calls the reader. Every reader checks the file
whole and raises :class:`~labelnext.errors.LabelFileError` listing every problem (up to 50) with
the file, the row or line and the field: malformed lines, empty ids, ids outside ``known_ids``,
classes outside ``classes``, a class list that differs from the run's, duplicate rows, and a row
labeled twice with different labels (naming both places). Nothing is returned half read.

A label is a class name (classification), a tuple of class names (multi-label) or a list of
boxes ``{x, y, w, h, label}`` in pixels (detection); :func:`label_to_json` and
:func:`label_from_json` store it as text.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Collection, Sequence
from pathlib import PurePath
from typing import Any

from labelnext.labels.coco import read_coco_labels
from labelnext.labels.labelbox import read_labelbox_labels
from labelnext.labels.labelstudio import read_labelstudio_labels
from labelnext.labels.table import (
    LABEL_COLUMNS,
    MAX_PROBLEMS,
    Box,
    Label,
    LabelSet,
    Source,
    label_from_json,
    label_problems,
    label_to_json,
    read_source,
)
from labelnext.labels.tabular import read_csv_labels, read_parquet_labels
from labelnext.runs import TASKS

__all__ = [
    "LABEL_COLUMNS",
    "LABEL_FORMATS",
    "MAX_PROBLEMS",
    "TASKS",
    "Box",
    "Label",
    "LabelSet",
    "detect_label_format",
    "label_from_json",
    "label_to_json",
    "read_coco_labels",
    "read_csv_labels",
    "read_labelbox_labels",
    "read_labels",
    "read_labelstudio_labels",
    "read_parquet_labels",
]

LABEL_FORMATS = ("labelbox", "labelstudio", "coco", "csv", "parquet")
_READERS: dict[str, Callable[..., LabelSet]] = {
    "labelbox": read_labelbox_labels,
    "labelstudio": read_labelstudio_labels,
    "coco": read_coco_labels,
    "csv": read_csv_labels,
    "parquet": read_parquet_labels,
}
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".ndjson": "labelbox"}
_PEEK = 65_536
_COMMON = ("source", "filename", "classes", "task", "known_ids")


def read_labels(
    path_or_bytes: Source,
    *,
    filename: str | None = None,
    fmt: str | None = None,
    classes: Sequence[str] | None = None,
    task: str | None = None,
    known_ids: Collection[str] | None = None,
    **options: Any,
) -> LabelSet:
    """Read a labels file of any supported format into a :class:`LabelSet`.

    Parameters
    ----------
    path_or_bytes : path, bytes or binary file object
        The file (an upload's bytes need ``filename`` or ``fmt`` unless the content tells).
    filename : str, optional
        The file's name: how messages name it, and its suffix hints the format.
    fmt : {"labelbox", "labelstudio", "coco", "csv", "parquet"}, optional
        Skip detection and read the file as this format.
    classes : sequence of str, optional
        The run's classes: a label outside them, or a declared class list that differs, is a
        problem.
    task : {"classification", "multilabel", "detection"}, optional
        What the labels are; inferred from the file when not given.
    known_ids : collection of str, optional
        The data rows labels may be given for; any other id is a problem.
    **options
        Passed to the format's reader: ``key``, ``project``, ``question`` (Labelbox);
        ``id_field``, ``question`` (Label Studio); ``include_empty`` (COCO).

    Returns
    -------
    LabelSet
        ``frame`` has the columns :data:`LABEL_COLUMNS`, one row per labeled data row.

    Raises
    ------
    LabelFileError
        If the file is malformed; every problem names file, row (or line) and field.
    ValueError
        If ``fmt`` or ``task`` is unknown.
    TypeError
        If an option does not apply to the format.

    Examples
    --------
    >>> labels = read_labels(b"data_row_id,label\\nr1,cat|dog\\n", filename="labels.csv")
    >>> labels.task, labels.frame.loc[0, "label"]
    ('multilabel', ('cat', 'dog'))
    """
    data, label = read_source(path_or_bytes, filename)
    if fmt is None:
        fmt = detect_label_format(data, filename=label)
    elif fmt not in LABEL_FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(LABEL_FORMATS)}, got {fmt!r}")
    reader = _READERS[fmt]
    accepted = set(inspect.signature(reader).parameters) - set(_COMMON)
    foreign = sorted(set(options) - accepted)
    if foreign:
        raise TypeError(
            f"option(s) {', '.join(foreign)} do not apply to {fmt} files; {fmt} takes: "
            f"{', '.join(sorted(accepted)) or 'no options'}"
        )
    return reader(data, filename=label, classes=classes, task=task, known_ids=known_ids, **options)


def detect_label_format(data: bytes, *, filename: str | None = None) -> str:
    """The format of a labels file, from its suffix and its first bytes.

    ``.csv``, ``.parquet``/``.pq`` and ``.ndjson`` decide by name; otherwise (``.json``,
    ``.jsonl``, no name) the content does: Parquet's magic bytes; a JSON object with ``images``
    is COCO; an array of tasks with ``data``/``annotations`` is Label Studio; lines (or an
    array) of objects with ``data_row`` are a Labelbox export; other text is CSV.

    Raises
    ------
    LabelFileError
        If the content is recognisably something else (COCO results, Labelbox import NDJSON,
        JSON that fits no format).
    """
    label = filename or "<upload>"
    suffix = PurePath(label).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if data[:4] == b"PAR1":
        return "parquet"
    head = data[:_PEEK].decode("utf-8-sig", errors="replace").lstrip()
    if not head.startswith(("[", "{")):
        return "csv"
    problems = label_problems(label)
    first_line = head.splitlines()[0] if head else ""
    try:
        first: Any = json.loads(first_line)
    except json.JSONDecodeError:
        first = None
    if isinstance(first, dict) and "data_row" in first:
        return "labelbox"
    if isinstance(first, dict) and "dataRow" in first:
        return "labelbox"  # the reader explains that this is an import file, not an export
    try:
        document = json.loads(data.decode("utf-8-sig", errors="replace"))
    except json.JSONDecodeError as exc:
        if suffix == ".jsonl":
            return "labelbox"
        raise problems.fail(
            exc.lineno, None, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if isinstance(document, dict):
        if "images" in document or "annotations" in document or "categories" in document:
            return "coco"
        raise problems.fail(
            None,
            None,
            "a JSON object that is not a COCO file; labels files are Labelbox export NDJSON, "
            "Label Studio JSON exports, COCO annotations, CSV or Parquet",
        )
    if isinstance(document, list) and document and isinstance(document[0], dict):
        if "data_row" in document[0]:
            return "labelbox"
        if "image_id" in document[0] and "annotations" not in document[0]:
            raise problems.fail(
                None,
                None,
                "COCO detection results (a model's predictions [{image_id, category_id, bbox, "
                "score}]), not labels: load them as a model run, or give COCO annotations",
            )
    return "labelstudio"
