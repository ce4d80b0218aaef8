"""Export a batch in the formats labeling tools import.

Formats (``fmt``):

``csv``, ``parquet``, ``jsonl``
    A manifest, one row per batch row in rank order, with the columns of
    :data:`MANIFEST_COLUMNS`: ``data_row_id, image, rank, score, confidence, predicted_label,
    priority``. ``score`` is the uncertainty at selection time (higher = more uncertain = label
    first), ``confidence = 1 - score``, ``rank`` 1 = label first, ``priority`` 1 = most urgent.
    Missing values are empty in CSV and ``null`` in Parquet and JSON Lines.

``labelbox``
    A zip archive (one download, one file for the CLI) holding

    * ``batch.json``: ``{"create_batch": {"name", "global_keys", "priority"}, "labelnext": {...}}``.
      ``create_batch`` holds exactly the keyword arguments of Labelbox's
      ``project.create_batch(...)``; the data rows are given by global key, which must be the
      labelnext ``data_row_id`` (upload the data rows with ``global_key=data_row_id``).
      ``labelnext`` carries the batch's provenance (project, run, strategy, who, when, note).
    * ``predictions.ndjson``: the model's predictions as pre-labels in Labelbox's NDJSON import
      format, one radio classification per row: ``{"uuid", "name": <question>, "answer":
      {"name": <predicted label>, "confidence": <confidence>}, "dataRow": {"globalKey": <id>}}``.
      The ontology needs a radio question called ``classification_name`` (default ``"label"``)
      whose options are the model's class names. Import them with
      ``labelbox.MALPredictionImport.create_from_objects(client, project.uid, name, predictions)``.
    * ``README.txt``: these steps.

``labelstudio``
    Label Studio's task import format: a JSON list of ``{"data": {"image", "data_row_id"},
    "predictions": [{"model_version", "score", "result": [{"from_name": "choice", "to_name":
    "image", "type": "choices", "value": {"choices": [<predicted label>]}}]}]}``; ``score`` is the
    model's confidence, so Label Studio's "sort by prediction score" puts the least confident
    first. The labeling config must name its tags accordingly:
    ``<Image name="image" value="$image"/><Choices name="choice" toName="image">...``.

Exporting and the ``exported`` status
-------------------------------------
By default :func:`export_batch` marks a *queued* batch ``exported``: writing the file the
annotation team imports is the hand-over, and the batch history should show it. The status is
information only: exported batches stay open and keep their rows reserved, exactly like queued
ones, so exporting twice (or in two formats) is harmless. The dashboard renders download buttons
before anyone clicks them; it passes ``mark_exported=False`` there and calls
:meth:`labelnext.ledger.Ledger.mark_exported` from the button's ``on_click``, so that merely
looking at the batch history does not mark every batch exported.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labelnext.ledger import BatchInfo, BatchInputError, Ledger

__all__ = [
    "FORMATS",
    "LABELSTUDIO_FROM_NAME",
    "LABELSTUDIO_TO_NAME",
    "MANIFEST_COLUMNS",
    "export_batch",
    "file_name",
    "manifest",
    "media_type",
]

FORMATS = ("csv", "parquet", "jsonl", "labelbox", "labelstudio")
MANIFEST_COLUMNS = (
    "data_row_id",
    "image",
    "rank",
    "score",
    "confidence",
    "predicted_label",
    "priority",
)
LABELSTUDIO_FROM_NAME = "choice"
LABELSTUDIO_TO_NAME = "image"
_EXTENSIONS = {
    "csv": "csv",
    "parquet": "parquet",
    "jsonl": "jsonl",
    "labelbox": "labelbox.zip",
    "labelstudio": "labelstudio.json",
}
_MEDIA_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/jsonl",
    "labelbox": "application/zip",
    "labelstudio": "application/json",
}
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
# Fixed zip timestamps: the same batch exports to the same bytes.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_UUID_NAMESPACE = uuid.UUID("5d0f3a52-8f0e-4d1e-9a51-6c61626e7874")


def manifest(ledger: Ledger, batch_id: int) -> pd.DataFrame:
    """The batch as a table of :data:`MANIFEST_COLUMNS`, in rank order.

    Parameters
    ----------
    ledger : Ledger
    batch_id : int

    Returns
    -------
    pandas.DataFrame
        ``score`` is the uncertainty at selection time (higher = more uncertain).
    """
    info = ledger.batch(batch_id)
    rows = ledger.batch_rows(batch_id)
    table = rows[["data_row_id", "image", "rank", "score", "confidence", "predicted_label"]].copy()
    table["priority"] = info.priority
    return table.reset_index(drop=True)


def file_name(info: BatchInfo, fmt: str) -> str:
    """A download file name for a batch: ``batch-<id>-<name>.<ext>``, safe on every OS."""
    _check_format(fmt)
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in info.name).strip("-")
    return f"batch-{info.batch_id}-{safe[:60] or 'unnamed'}.{_EXTENSIONS[fmt]}"


def media_type(fmt: str) -> str:
    """The MIME type of an export format (for download buttons)."""
    _check_format(fmt)
    return _MEDIA_TYPES[fmt]


def export_batch(
    ledger: Ledger,
    batch_id: int,
    fmt: str,
    out: str | Path | None = None,
    *,
    mark_exported: bool = True,
    classification_name: str = "label",
) -> bytes:
    """Render a batch in a labeling tool's import format.

    Parameters
    ----------
    ledger : Ledger
    batch_id : int
    fmt : {"csv", "parquet", "jsonl", "labelbox", "labelstudio"}
        See the module docstring for each format.
    out : str or Path, optional
        Also write the bytes to this file (atomically: a partial file never appears).
    mark_exported : bool, default True
        Mark a queued batch ``exported`` (see "Exporting and the exported status" above).
    classification_name : str, default "label"
        Labelbox only: the name of the radio question the predictions answer.

    Returns
    -------
    bytes
        The file contents.

    Raises
    ------
    BatchInputError
        An unknown ``fmt``.
    LedgerError
        An unknown batch.
    """
    _check_format(fmt)
    info = ledger.batch(batch_id)
    table = manifest(ledger, batch_id)
    data = _RENDERERS[fmt](info, table, classification_name)
    if out is not None:
        _write_atomically(Path(out), data)
    if mark_exported:
        ledger.mark_exported(batch_id)
    return data


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise BatchInputError(f"fmt: {fmt!r} is not an export format; expected one of {FORMATS}")


def _clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/None to None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    columns = list(table.columns)
    return [
        {c: _clean(v) for c, v in zip(columns, row, strict=True)}
        for row in table.itertuples(index=False, name=None)
    ]


def _csv(_info: BatchInfo, table: pd.DataFrame, _name: str) -> bytes:
    return table.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _parquet(_info: BatchInfo, table: pd.DataFrame, _name: str) -> bytes:
    arrow = pa.Table.from_pandas(table, schema=_PARQUET_SCHEMA, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    return buffer.getvalue()


def _jsonl(_info: BatchInfo, table: pd.DataFrame, _name: str) -> bytes:
    lines = [json.dumps(r, ensure_ascii=False) for r in _records(table)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _model_version(info: BatchInfo) -> str:
    if info.run_model and info.run_version:
        return f"{info.run_model}:{info.run_version}"
    return info.run_model or info.run_name or "labelnext"


def _provenance(info: BatchInfo) -> dict[str, Any]:
    return {
        "batch_id": info.batch_id,
        "project": info.project,
        "note": info.note,
        "created_by": info.created_by,
        "created_at": info.created_at.isoformat(),
        "strategy": info.strategy,
        "strategy_params": info.strategy_params,
        "run": info.run_name,
        "model_version": _model_version(info),
        "n_rows": info.n_rows,
    }


_LABELBOX_README = """\
labelnext batch {batch_id} ({name!r}) for Labelbox

batch.json         create_batch: the arguments of project.create_batch (data rows by global
                   key = labelnext data_row_id); labelnext: where the batch came from.
predictions.ndjson the model's predictions as pre-labels: one radio answer per data row, for a
                   radio question named {question!r} whose options are the class names.

    import json, zipfile, labelbox as lb
    archive = zipfile.ZipFile("{file}")
    batch = json.loads(archive.read("batch.json"))
    project.create_batch(**batch["create_batch"])
    predictions = [json.loads(line) for line in archive.read("predictions.ndjson").splitlines()]
    lb.MALPredictionImport.create_from_objects(client, project.uid, "labelnext-{batch_id}",
                                               predictions).wait_until_done()
"""


def _labelbox(info: BatchInfo, table: pd.DataFrame, question: str) -> bytes:
    batch = {
        "create_batch": {
            "name": info.name,
            "global_keys": table["data_row_id"].tolist(),
            "priority": info.priority,
        },
        "labelnext": _provenance(info),
    }
    predictions = []
    for row in _records(table):
        if row["predicted_label"] is None:
            continue
        answer: dict[str, Any] = {"name": row["predicted_label"]}
        if row["confidence"] is not None:
            answer["confidence"] = row["confidence"]
        predictions.append(
            {
                "uuid": str(uuid.uuid5(_UUID_NAMESPACE, f"{info.batch_id}/{row['data_row_id']}")),
                "name": question,
                "answer": answer,
                "dataRow": {"globalKey": row["data_row_id"]},
            }
        )
    files = {
        "batch.json": json.dumps(batch, indent=2, ensure_ascii=False) + "\n",
        "predictions.ndjson": "".join(
            json.dumps(p, ensure_ascii=False) + "\n" for p in predictions
        ),
        "README.txt": _LABELBOX_README.format(
            batch_id=info.batch_id,
            name=info.name,
            question=question,
            file=file_name(info, "labelbox"),
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, text.encode("utf-8"))
    return buffer.getvalue()


def _labelstudio(info: BatchInfo, table: pd.DataFrame, _name: str) -> bytes:
    model_version = _model_version(info)
    tasks = []
    for row in _records(table):
        predictions = []
        if row["predicted_label"] is not None:
            prediction: dict[str, Any] = {
                "model_version": model_version,
                "result": [
                    {
                        "from_name": LABELSTUDIO_FROM_NAME,
                        "to_name": LABELSTUDIO_TO_NAME,
                        "type": "choices",
                        "value": {"choices": [row["predicted_label"]]},
                    }
                ],
            }
            if row["confidence"] is not None:
                prediction["score"] = row["confidence"]
            predictions.append(prediction)
        tasks.append(
            {
                "data": {"image": row["image"], "data_row_id": row["data_row_id"]},
                "predictions": predictions,
            }
        )
    return (json.dumps(tasks, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


_RENDERERS = {
    "csv": _csv,
    "parquet": _parquet,
    "jsonl": _jsonl,
    "labelbox": _labelbox,
    "labelstudio": _labelstudio,
}


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
