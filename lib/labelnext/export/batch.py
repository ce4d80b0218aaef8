"""What an exporter renders: a batch's information, its rows with their prediction records, the
task and the class list (:class:`ExportBatch`)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from labelnext.errors import ExportError
from labelnext.export.records import prediction_records
from labelnext.ledger import BatchInfo
from labelnext.runs import TASKS

if TYPE_CHECKING:
    from labelnext.ledger import Ledger
    from labelnext.runs import ModelRun

__all__ = ["ROW_COLUMNS", "ExportBatch"]

ROW_COLUMNS = ("data_row_id", "image", "rank", "score", "confidence", "predicted_label")
# What the first ledger stored as predicted_label for a row with nothing predicted.
_PSEUDO_LABELS = frozenset({"(none)", "(no boxes)"})


@dataclass(frozen=True, eq=False)
class ExportBatch:
    """A batch ready to render.

    Parameters
    ----------
    info : BatchInfo
        The batch as stored (name, project, priority, run, strategy, who, when...).
    rows : pandas.DataFrame
        One row per batch row, in rank order: ``data_row_id`` (required), ``image``, ``rank``,
        ``score`` (uncertainty at selection time, higher = more uncertain), ``confidence``
        (``1 - score``), ``predicted_label`` and ``prediction`` (a record of
        :mod:`labelnext.export.records`, a dict or its JSON text, or None). Missing columns are
        filled with nulls; a missing ``prediction`` is made from ``predicted_label`` and
        ``confidence`` as a classification record (what a batch stored before records were
        kept), leaving out the pseudo-labels ``(none)`` and ``(no boxes)``.
    task : {"classification", "multilabel", "detection"}, default "classification"
    classes : sequence of str, optional
        The run's classes, in the run's order. Default: the labels the records name, sorted.

    Raises
    ------
    ExportError
        An unknown task, a record of another task, or a label that is not one of ``classes``
        (naming the row).
    """

    info: BatchInfo
    rows: pd.DataFrame
    task: str = "classification"
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ExportError(f"task: {self.task!r} is not a task; expected one of {TASKS}")
        if "data_row_id" not in self.rows.columns:
            raise ExportError(
                f"rows: a data_row_id column is required; got {list(self.rows.columns)}"
            )
        rows = self.rows.reset_index(drop=True).copy()
        for column in ROW_COLUMNS:
            if column not in rows.columns:
                rows[column] = None
        rows["data_row_id"] = pd.Series(
            [str(v) for v in rows["data_row_id"]], index=rows.index, dtype=object
        )
        for column in ("image", "predicted_label"):
            texts = [_text(v) for v in rows[column]]
            rows[column] = pd.Series(texts, index=rows.index, dtype=object)
        if "prediction" in rows.columns:
            pairs = zip(rows["data_row_id"], rows["prediction"], strict=True)
            records = [_parse(value, row) for row, value in pairs]
        else:
            records = [
                _legacy(label, confidence)
                for label, confidence in zip(
                    rows["predicted_label"], rows["confidence"], strict=True
                )
            ]
        rows["prediction"] = pd.Series(records, index=rows.index, dtype=object)
        classes = tuple(str(c) for c in self.classes) or _classes_named(records)
        for row, record in zip(rows["data_row_id"], records, strict=True):
            if record is not None:
                _check_record(record, row, self.task, classes)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "classes", classes)

    @property
    def records(self) -> list[dict[str, Any] | None]:
        """Each row's prediction record (None: nothing predicted), in rank order."""
        return list(self.rows["prediction"])

    @classmethod
    def from_ledger(cls, ledger: Ledger, batch_id: int) -> ExportBatch:
        """A stored batch: :meth:`Ledger.batch` and :meth:`Ledger.batch_rows`.

        The batch's task and classes are read from ``BatchInfo.task`` / ``BatchInfo.classes``
        and each row's record from the ``prediction`` column of ``batch_rows`` when the ledger
        stores them; otherwise the batch exports as classification from ``predicted_label``.

        Raises
        ------
        LedgerError
            An unknown batch.
        """
        info = ledger.batch(batch_id)
        rows = ledger.batch_rows(batch_id)
        task = getattr(info, "task", None) or "classification"
        classes = tuple(getattr(info, "classes", None) or ())
        if not classes and "prediction" in rows.columns and rows["prediction"].isna().all():
            # stored before records were kept (or without them): export from predicted_label
            rows = rows.drop(columns=["prediction"])
        return cls(info=info, rows=rows, task=str(task), classes=classes)

    @classmethod
    def from_run(cls, info: BatchInfo, rows: pd.DataFrame, run: ModelRun) -> ExportBatch:
        """The batch ``rows`` of ``run``, with the records that a submit stores for them.

        Parameters
        ----------
        info : BatchInfo
        rows : pandas.DataFrame
            As for the class; ``data_row_id`` must name rows of ``run``.
        run : ModelRun
        """
        records = prediction_records(run, rows["data_row_id"].astype(str))
        with_records = rows.reset_index(drop=True).copy()
        with_records["prediction"] = pd.Series(records, dtype=object)
        return cls(info=info, rows=with_records, task=run.task, classes=run.classes)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _legacy(label: str | None, confidence: Any) -> dict[str, Any] | None:
    if label is None or label in _PSEUDO_LABELS:
        return None
    conf = None if confidence is None or pd.isna(confidence) else float(confidence)
    return {"task": "classification", "label": label, "confidence": conf}


def _parse(value: Any, row: str) -> dict[str, Any] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ExportError(f"row {row!r}: prediction is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ExportError(f"row {row!r}: prediction must be a JSON object, got {value!r}")
    return value


def _classes_named(records: Sequence[dict[str, Any] | None]) -> tuple[str, ...]:
    names: set[str] = set()
    for record in records:
        if record is None:
            continue
        names.update(_labels_of(record))
    return tuple(sorted(names))


def _labels_of(record: dict[str, Any]) -> list[str]:
    task = record.get("task")
    if task == "classification":
        label = record.get("label")
        return [str(label)] if label is not None else []
    if task == "multilabel":
        return [str(x) for x in record.get("labels") or ()]
    if task == "detection":
        return [str(box.get("label")) for box in record.get("boxes") or ()]
    return []


def _check_record(record: dict[str, Any], row: str, task: str, classes: tuple[str, ...]) -> None:
    if record.get("task") != task:
        raise ExportError(
            f"row {row!r}: prediction is for task {record.get('task')!r}, the batch is {task!r}"
        )
    if task == "detection":
        for box in record.get("boxes") or ():
            if not isinstance(box, dict) or not {"x", "y", "w", "h", "label"} <= set(box):
                raise ExportError(f"row {row!r}: a box needs x, y, w, h and label; got {box!r}")
    known = set(classes)
    for label in _labels_of(record):
        if label not in known:
            raise ExportError(
                f"row {row!r}: prediction label {label!r} is not one of the batch's classes "
                f"({', '.join(classes[:12])}{'...' if len(classes) > 12 else ''})"
            )
