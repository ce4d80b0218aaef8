"""Export a batch in the formats labeling tools import.

Formats (``fmt``), each described in its module:

``csv``, ``parquet``, ``jsonl``
    Manifests, one row per batch row (:mod:`labelnext.export.manifest`); CSV cells are
    neutralised against formula injection.
``labelstudio``
    A zip of ``tasks.json`` (tasks with pre-annotations), ``config.xml`` (the labeling config
    they are written for) and ``README.txt`` (:mod:`labelnext.export.labelstudio`).
``labelbox``
    A zip of ``data_rows.json``, ``batch.json``, ``ontology.json``, ``predictions.ndjson`` and
    ``README.txt`` (:mod:`labelnext.export.labelbox`).
``coco``
    Detection batches only: a zip of ``annotations/instances_default.json`` and the images
    (:mod:`labelnext.export.coco`), for CVAT and other COCO importers.

What is rendered is an :class:`ExportBatch`: the batch's information, its rows in rank order
each with a prediction record (:func:`prediction_record`, stored at submit), the task and the
run's classes. :func:`render` turns one into bytes; :func:`export_batch` reads a stored batch
from the ledger, renders it and marks it exported.

Image references are rewritten with ``image_url`` (a preset, a bucket or web prefix, or a
template with ``{image}``, ``{data_row_id}``, ``{relpath}``; see
:mod:`labelnext.export.images`), so the tool can load them; :func:`image_url_warnings` says
beforehand what would leave it with a broken image, :func:`preview_image_url` shows one.

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

from pathlib import Path

import pandas as pd

from labelnext.export.batch import ExportBatch
from labelnext.export.bundle import write_atomically
from labelnext.export.coco import render_coco
from labelnext.export.images import (
    IMAGE_URL_PRESETS,
    ImageReferences,
    image_url_template,
    image_url_warnings,
    preview_image_url,
)
from labelnext.export.labelbox import labelbox_ontology, render_labelbox
from labelnext.export.labelstudio import (
    LABELSTUDIO_BOX_FROM_NAME,
    LABELSTUDIO_FROM_NAME,
    LABELSTUDIO_TO_NAME,
    labelstudio_config,
    render_labelstudio,
)
from labelnext.export.manifest import (
    MANIFEST_COLUMNS,
    csv_safe,
    manifest_table,
    render_csv,
    render_jsonl,
    render_parquet,
)
from labelnext.export.records import prediction_record, prediction_records, with_predictions
from labelnext.ledger import BatchInfo, BatchInputError, Ledger

__all__ = [
    "FORMATS",
    "IMAGE_URL_PRESETS",
    "LABELSTUDIO_BOX_FROM_NAME",
    "LABELSTUDIO_FROM_NAME",
    "LABELSTUDIO_TO_NAME",
    "MANIFEST_COLUMNS",
    "ExportBatch",
    "csv_safe",
    "export_batch",
    "file_name",
    "formats_for",
    "image_url_template",
    "image_url_warnings",
    "labelbox_ontology",
    "labelstudio_config",
    "manifest",
    "media_type",
    "prediction_record",
    "prediction_records",
    "preview_image_url",
    "render",
    "with_predictions",
]

FORMATS = ("csv", "parquet", "jsonl", "labelbox", "labelstudio", "coco")
_EXTENSIONS = {
    "csv": "csv",
    "parquet": "parquet",
    "jsonl": "jsonl",
    "labelbox": "labelbox.zip",
    "labelstudio": "labelstudio.zip",
    "coco": "coco.zip",
}
_MEDIA_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/jsonl",
    "labelbox": "application/zip",
    "labelstudio": "application/zip",
    "coco": "application/zip",
}


def formats_for(task: str) -> tuple[str, ...]:
    """The formats a batch of ``task`` exports to (COCO holds detection only).

    Examples
    --------
    >>> formats_for("classification")
    ('csv', 'parquet', 'jsonl', 'labelbox', 'labelstudio')
    >>> formats_for("detection")[-1]
    'coco'
    """
    return FORMATS if task == "detection" else tuple(f for f in FORMATS if f != "coco")


def manifest(ledger: Ledger, batch_id: int) -> pd.DataFrame:
    """A stored batch as a table of :data:`MANIFEST_COLUMNS`, in rank order, images as written.

    Parameters
    ----------
    ledger : Ledger
    batch_id : int

    Returns
    -------
    pandas.DataFrame
        ``score`` is the uncertainty at selection time (higher = more uncertain).
    """
    batch = ExportBatch.from_ledger(ledger, batch_id)
    return manifest_table(batch, list(batch.rows["image"]))


def file_name(info: BatchInfo, fmt: str) -> str:
    """A download file name for a batch: ``batch-<id>-<name>.<ext>``, safe on every OS."""
    _check_format(fmt)
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in info.name).strip("-")
    return f"batch-{info.batch_id}-{safe[:60] or 'unnamed'}.{_EXTENSIONS[fmt]}"


def media_type(fmt: str) -> str:
    """The MIME type of an export format (for download buttons)."""
    _check_format(fmt)
    return _MEDIA_TYPES[fmt]


def render(
    batch: ExportBatch,
    fmt: str,
    *,
    image_url: str = "{image}",
    files_root: str | Path | None = None,
    classification_name: str = "label",
) -> bytes:
    """Render a batch in a labeling tool's import format.

    Parameters
    ----------
    batch : ExportBatch
    fmt : {"csv", "parquet", "jsonl", "labelbox", "labelstudio", "coco"}
        See the module docstring; ``coco`` only for detection batches.
    image_url : str, default "{image}"
        How to write each image reference: a preset (``"as-written"``, ``"label-studio"``), a
        bucket or web prefix (``"s3://bucket/prefix"``...), or a template with ``{image}``,
        ``{data_row_id}``, ``{relpath}`` (:func:`image_url_template`).
    files_root : str or Path, optional
        The folder ``{relpath}`` is relative to (required when the template uses it).
    classification_name : str, default "label"
        Labelbox only: the name of the radio or checklist question.

    Returns
    -------
    bytes
        The file contents; the same batch gives the same bytes.

    Raises
    ------
    BatchInputError
        An unknown ``fmt``.
    ExportError
        A bad ``image_url``, a missing ``files_root``, images that cannot be rewritten (naming
        the rows), ``coco`` for a batch that is not detection, or a detection row without an
        image size for ``labelstudio`` / ``coco``.
    """
    _check_format(fmt)
    refs = ImageReferences(image_url, files_root)
    images = refs.references(batch)
    if fmt == "csv":
        return render_csv(manifest_table(batch, images))
    if fmt == "parquet":
        return render_parquet(manifest_table(batch, images))
    if fmt == "jsonl":
        return render_jsonl(manifest_table(batch, images))
    if fmt == "labelstudio":
        return render_labelstudio(batch, images, refs.image_url)
    if fmt == "labelbox":
        return render_labelbox(
            batch,
            images,
            classification_name=classification_name,
            file=file_name(batch.info, fmt),
        )
    return render_coco(batch, images)


def export_batch(
    ledger: Ledger,
    batch_id: int,
    fmt: str,
    out: str | Path | None = None,
    *,
    mark_exported: bool = True,
    classification_name: str = "label",
    image_url: str = "{image}",
    files_root: str | Path | None = None,
) -> bytes:
    """Render a stored batch in a labeling tool's import format (see :func:`render`).

    Parameters
    ----------
    ledger : Ledger
    batch_id : int
    fmt : {"csv", "parquet", "jsonl", "labelbox", "labelstudio", "coco"}
    out : str or Path, optional
        Also write the bytes to this file (atomically: a partial file never appears).
    mark_exported : bool, default True
        Mark a queued batch ``exported`` (see "Exporting and the exported status" above).
    classification_name : str, default "label"
        Labelbox only: the name of the question the predictions answer.
    image_url : str, default "{image}"
        How to write image references (:func:`render`).
    files_root : str or Path, optional
        The folder ``{relpath}`` is relative to.

    Returns
    -------
    bytes
        The file contents.

    Raises
    ------
    BatchInputError
        An unknown ``fmt``.
    ExportError
        As for :func:`render`; nothing is written and the status does not change.
    LedgerError
        An unknown batch.
    """
    _check_format(fmt)
    batch = ExportBatch.from_ledger(ledger, batch_id)
    data = render(
        batch,
        fmt,
        image_url=image_url,
        files_root=files_root,
        classification_name=classification_name,
    )
    if out is not None:
        write_atomically(Path(out), data)
    if mark_exported:
        ledger.mark_exported(batch_id)
    return data


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise BatchInputError(f"fmt: {fmt!r} is not an export format; expected one of {FORMATS}")
