"""The training set out: every labeled row of a project with its latest label and image reference.

What the team joins to the next training split, from :meth:`labelnext.ledger.Ledger.labels`:

``csv``
    ``data_row_id, image, label, labeled_by, labeled_at, batch_id, source``; a multi-label
    label is its classes joined by ``|``, a detection label a JSON list of boxes ``{x, y, w, h,
    label}`` in pixels, so :func:`labelnext.labels.read_labels` reads the file back to the same
    labels. Text cells are neutralised against formula injection (:mod:`labelnext.csvtext`).
``parquet``
    The same columns with exact values: a list<string> ``label`` for multi-label, JSON text
    for detection.
``coco``
    Detection only: one COCO object detection JSON (``images`` with ``file_name`` = the
    data_row_id, as labelnext's COCO reader names rows, ``width``, ``height`` and
    ``labelnext_image`` the image reference; ``categories`` 1..C in the project's class order;
    one annotation per box).
``yolo``
    Detection only: a zip of ``labels/<stem>.txt`` (one ``class x_center y_center width
    height`` line per box, normalised to 0-1, class = index in ``data.yaml``'s ``names``),
    ``data.yaml``, and ``images.txt`` listing each label file's image reference (``<stem>`` is
    the image file's name without its suffix, so Ultralytics pairs them).

COCO and YOLO need each image's size: it comes from the prediction record the batch stored at
submit (``image_width``/``image_height``); a row without one is refused, named.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Hashable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labelnext.csvtext import csv_safe
from labelnext.errors import ExportError
from labelnext.export.bundle import write_atomically, zip_files

if TYPE_CHECKING:
    from labelnext.ledger import Ledger

__all__ = [
    "TRAINING_COLUMNS",
    "TRAINING_FORMATS",
    "render_training_set",
    "training_file_name",
    "training_set",
    "training_table",
]

TRAINING_FORMATS = ("csv", "parquet", "coco", "yolo")
TRAINING_COLUMNS = (
    "data_row_id",
    "image",
    "label",
    "labeled_by",
    "labeled_at",
    "batch_id",
    "source",
)
_SHOWN = 10
_UNSAFE_STEM = re.compile(r"[^A-Za-z0-9._-]+")


def training_set(
    ledger: Ledger, project: str, fmt: str, *, out: str | os.PathLike[str] | None = None
) -> tuple[bytes, int]:
    """Render ``project``'s training set from the ledger (and write it to ``out`` if given).

    Returns
    -------
    (bytes, int)
        The file's bytes and the number of labeled rows in it.

    Raises
    ------
    ExportError
        See :func:`render_training_set`. Nothing is written.
    """
    current = ledger.labels(project)
    data = render_training_set(
        current, fmt, classes=ledger.project_classes(project), project=project
    )
    if out is not None:
        write_atomically(Path(out), data)
    return data, len(current)


def training_file_name(project: str, fmt: str) -> str:
    """A download name: ``<project>-training.<ext>`` (yolo: a zip), safe on every system."""
    stem = _UNSAFE_STEM.sub("_", project).strip("._") or "project"
    return f"{stem}-training.{'zip' if fmt == 'yolo' else 'json' if fmt == 'coco' else fmt}"


def training_table(labels: pd.DataFrame) -> pd.DataFrame:
    """The columns :data:`TRAINING_COLUMNS` of :meth:`Ledger.labels`'s frame, by data_row_id."""
    table = labels.loc[:, list(TRAINING_COLUMNS)].sort_values("data_row_id", kind="stable")
    return table.reset_index(drop=True)


def render_training_set(
    labels: pd.DataFrame, fmt: str, *, classes: Sequence[str] = (), project: str = ""
) -> bytes:
    """The training set as file bytes.

    Parameters
    ----------
    labels : pandas.DataFrame
        :meth:`labelnext.ledger.Ledger.labels` of a project (current labels; one task).
    fmt : {"csv", "parquet", "coco", "yolo"}
    classes : sequence of str
        The project's classes in order (COCO category ids, YOLO class indices); default the
        names the labels use, sorted.
    project : str
        Named in messages and in the COCO ``info``.

    Returns
    -------
    bytes
        CSV text, a Parquet file, COCO JSON, or a zip (YOLO).

    Raises
    ------
    ExportError
        No labels; an unknown format; COCO or YOLO for labels that are not detection; rows
        without an image size (COCO, YOLO) or an image reference (YOLO), each named.
    """
    if fmt not in TRAINING_FORMATS:
        raise ExportError(
            f"fmt: {fmt!r} is not a training-set format; expected one of "
            f"{', '.join(TRAINING_FORMATS)}"
        )
    if labels.empty:
        raise ExportError(f"project {project!r} has no labels yet: import labels first")
    tasks = sorted(set(labels["task"]))
    if len(tasks) != 1:
        raise ExportError(
            f"project {project!r} holds labels of several tasks ({', '.join(tasks)}); a "
            "training set takes one"
        )
    task = tasks[0]
    names = list(classes) or sorted({n for label in labels["label"] for n in _names(label, task)})
    if fmt in ("coco", "yolo") and task != "detection":
        raise ExportError(
            f"fmt: {fmt!r} holds detection labels only; project {project!r} has {task} labels "
            "(export them as csv or parquet)"
        )
    table = training_table(labels)
    if fmt == "csv":
        return _render_csv(table, task)
    if fmt == "parquet":
        return _render_parquet(table, task)
    sized = labels.sort_values("data_row_id", kind="stable").reset_index(drop=True)
    _require_sizes(sized, project)
    if fmt == "coco":
        return json.dumps(_coco(sized, names, project), indent=1).encode("utf-8")
    return _yolo(sized, names, project)


def _names(label: Any, task: str) -> list[str]:
    if task == "classification":
        return [str(label)]
    if task == "multilabel":
        return [str(n) for n in label]
    return [str(b["label"]) for b in label]


def _label_text(label: Any, task: str) -> str:
    if task == "classification":
        return str(label)
    if task == "multilabel":
        return "|".join(label)
    return json.dumps(label, ensure_ascii=False, separators=(",", ":"))


def _times(values: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in values]


def _render_csv(table: pd.DataFrame, task: str) -> bytes:
    out = pd.DataFrame(
        {
            "data_row_id": table["data_row_id"].map(csv_safe),
            "image": [None if pd.isna(i) else csv_safe(i) for i in table["image"]],
            "label": [csv_safe(_label_text(v, task)) for v in table["label"]],
            "labeled_by": [None if pd.isna(v) else csv_safe(v) for v in table["labeled_by"]],
            "labeled_at": _times(table["labeled_at"]),
            "batch_id": table["batch_id"],
            "source": table["source"].map(csv_safe),
        }
    )
    return out.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _render_parquet(table: pd.DataFrame, task: str) -> bytes:
    label_type = pa.list_(pa.string()) if task == "multilabel" else pa.string()
    labels = [list(v) if task == "multilabel" else _label_text(v, task) for v in table["label"]]
    arrow = pa.table(
        {
            "data_row_id": pa.array(table["data_row_id"].tolist(), pa.string()),
            "image": pa.array(
                [None if pd.isna(i) else str(i) for i in table["image"]], pa.string()
            ),
            "label": pa.array(labels, label_type),
            "labeled_by": pa.array(
                [None if pd.isna(v) else str(v) for v in table["labeled_by"]], pa.string()
            ),
            "labeled_at": pa.array(
                [
                    None if pd.isna(v) else pd.Timestamp(v).to_pydatetime()
                    for v in table["labeled_at"]
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "batch_id": pa.array(
                [None if pd.isna(v) else int(v) for v in table["batch_id"]], pa.int64()
            ),
            "source": pa.array(table["source"].tolist(), pa.string()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    return buffer.getvalue()


def _require_sizes(labels: pd.DataFrame, project: str) -> None:
    missing = [
        str(i)
        for i, w, h in zip(
            labels["data_row_id"], labels["image_width"], labels["image_height"], strict=True
        )
        if pd.isna(w) or pd.isna(h)
    ]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:_SHOWN]) + (
            " ..." if len(missing) > _SHOWN else ""
        )
        raise ExportError(
            f"project {project!r}: {len(missing)} labeled row(s) have no image size (their "
            f"batch stored none, or they are in no batch): {shown}; COCO and YOLO need it"
        )


def _coco(labels: pd.DataFrame, classes: list[str], project: str) -> dict[str, Any]:
    category = {name: k + 1 for k, name in enumerate(classes)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    rows: list[dict[Hashable, Any]] = labels.to_dict("records")
    for image_id, row in enumerate(rows, start=1):
        images.append(
            {
                "id": image_id,
                "file_name": str(row["data_row_id"]),
                "width": int(row["image_width"]),
                "height": int(row["image_height"]),
                "labelnext_image": None if pd.isna(row["image"]) else str(row["image"]),
            }
        )
        for box in row["label"]:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": _category(category, box, row["data_row_id"]),
                    "bbox": [float(box["x"]), float(box["y"]), float(box["w"]), float(box["h"])],
                    "area": float(box["w"]) * float(box["h"]),
                    "iscrowd": 0,
                }
            )
    return {
        "info": {"description": f"labelnext training set of project {project}"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k, "name": n, "supercategory": ""} for n, k in category.items()],
    }


def _category(category: dict[str, int], box: dict[str, Any], data_row_id: str) -> int:
    name = str(box["label"])
    if name not in category:
        raise ExportError(
            f"data row {data_row_id!r}: class {name!r} is not among the project's classes"
        )
    return category[name]


def _yolo(labels: pd.DataFrame, classes: list[str], project: str) -> bytes:
    category = {name: k for k, name in enumerate(classes)}
    files: dict[str, str | bytes] = {}
    listing: list[str] = []
    stems: dict[str, str] = {}
    rows: list[dict[Hashable, Any]] = labels.to_dict("records")
    for row in rows:
        image = None if pd.isna(row["image"]) else str(row["image"])
        source = PurePosixPath(image.replace("\\", "/")).stem if image else str(row["data_row_id"])
        stem = _UNSAFE_STEM.sub("_", source).strip("._") or "row"
        if stem in stems:
            raise ExportError(
                f"project {project!r}: rows {stems[stem]!r} and {row['data_row_id']!r} would both "
                f"write labels/{stem}.txt (their images share a name); YOLO pairs labels with "
                "images by file name"
            )
        stems[stem] = str(row["data_row_id"])
        width, height = float(row["image_width"]), float(row["image_height"])
        lines = []
        for box in row["label"]:
            k = category.get(str(box["label"]))
            if k is None:
                _category({}, box, str(row["data_row_id"]))
            x, y, w, h = (float(box[c]) for c in ("x", "y", "w", "h"))
            lines.append(
                f"{k} {(x + w / 2) / width:.6f} {(y + h / 2) / height:.6f} "
                f"{w / width:.6f} {h / height:.6f}"
            )
        files[f"labels/{stem}.txt"] = "".join(line + "\n" for line in lines)
        listing.append(f"labels/{stem}.txt\t{image or ''}\t{row['data_row_id']}")
    names = "\n".join(f"  {k}: {json.dumps(n, ensure_ascii=False)}" for n, k in category.items())
    files["data.yaml"] = (
        f"# labelnext training set of project {project}\nnc: {len(category)}\nnames:\n{names}\n"
    )
    files["images.txt"] = "label_file\timage\tdata_row_id\n" + "".join(
        f"{line}\n" for line in listing
    )
    return zip_files(files)
