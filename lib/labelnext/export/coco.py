"""COCO for CVAT and other COCO importers: a detection batch's images and pre-annotations.

The export is a zip in the layout CVAT's "COCO 1.0" dataset import reads:

``annotations/instances_default.json``
    A COCO object detection file: ``images`` (``id`` 1..n in rank order, ``file_name`` = the
    image reference rewritten by the export's ``image_url``, ``width``, ``height``, and
    ``labelnext_data_row_id``), ``categories`` (``id`` 1..C for the run's classes in order,
    ``name``, ``supercategory`` ""), ``annotations`` (one per predicted box: ``id``,
    ``image_id``, ``category_id``, ``bbox`` ``[x, y, w, h]`` in pixels, ``area`` = ``w * h``,
    ``iscrowd`` 0, ``score`` the detector's confidence), and ``info`` with the batch's
    provenance.
``images/<file_name>``
    The image files themselves, for every row whose image is a local file and whose
    ``file_name`` is a plain relative path (no ``..``, no URL); the README lists the others.
``README.txt``
    How to import it into CVAT (and read it with pycocotools).

Only detection batches export to COCO: COCO has no place for image-level classes.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from labelnext.errors import ExportError
from labelnext.export.batch import ExportBatch
from labelnext.export.bundle import provenance, zip_files

__all__ = ["COCO_ANNOTATIONS", "coco_dataset"]

COCO_ANNOTATIONS = "annotations/instances_default.json"


def coco_dataset(batch: ExportBatch, file_names: list[str | None]) -> dict[str, Any]:
    """The batch as a COCO detection dict (see the module docstring).

    Parameters
    ----------
    batch : ExportBatch
        A detection batch.
    file_names : list of (str or None)
        Each row's ``file_name``.

    Raises
    ------
    ExportError
        A batch of another task, or a row without an image or without an image size.
    """
    if batch.task != "detection":
        raise ExportError(
            f"fmt: 'coco' holds detection batches only; batch {batch.info.batch_id} is "
            f"{batch.task} (export it for Label Studio or Labelbox, or as a manifest)"
        )
    category = {name: k + 1 for k, name in enumerate(batch.classes)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    rows = zip(batch.rows["data_row_id"], file_names, batch.records, strict=True)
    for image_id, (data_row_id, file_name, record) in enumerate(rows, start=1):
        width = record.get("image_width") if record else None
        height = record.get("image_height") if record else None
        if file_name is None or not width or not height:
            missing = "an image" if file_name is None else "an image size"
            raise ExportError(
                f"row {data_row_id!r}: a COCO image needs {missing}; give the run local images "
                "or image_width and image_height columns"
            )
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": int(width),
                "height": int(height),
                "labelnext_data_row_id": data_row_id,
            }
        )
        for box in (record or {}).get("boxes") or ():
            w, h = float(box["w"]), float(box["h"])
            annotation: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category[str(box["label"])],
                "bbox": [float(box["x"]), float(box["y"]), w, h],
                "area": w * h,
                "iscrowd": 0,
                "segmentation": [],
            }
            if box.get("score") is not None:
                annotation["score"] = float(box["score"])
            annotations.append(annotation)
    info = provenance(batch.info)
    return {
        "info": {
            "description": f"labelnext batch {batch.info.batch_id}: {batch.info.name}",
            "version": info["model_version"],
            "date_created": info["created_at"],
            "labelnext": info,
        },
        "licenses": [],
        "images": images,
        "categories": [
            {"id": k, "name": name, "supercategory": ""} for name, k in category.items()
        ],
        "annotations": annotations,
    }


def _archive_name(file_name: str) -> str | None:
    """``images/<file_name>`` when ``file_name`` is a plain relative path, else None."""
    if "://" in file_name or file_name.startswith(("/", "\\")) or "?" in file_name:
        return None
    parts = PurePosixPath(file_name.replace("\\", "/")).parts
    if not parts or any(p in ("..", ".") for p in parts):
        return None
    return "images/" + "/".join(parts)


_README = """\
labelnext batch {batch_id} ({name}) as COCO: {n_images} images, {n_boxes} predicted boxes

{annotations}  images, categories and the predicted boxes (each with its score)
images/                            {n_included} of the {n_images} image files{left_out}

CVAT: create a project or task with labels named as the categories ({categories}), then
  * a new task: Actions > Import dataset (or Upload annotations), format "COCO 1.0", this zip;
  * or create the task from the files in images/ first and upload this zip as annotations.
  CVAT matches images by file_name.
pycocotools: COCO("{annotations}").loadAnns(...) reads it as it is.
"""


def render_coco(batch: ExportBatch, file_names: list[str | None]) -> bytes:
    """The COCO zip (see the module docstring)."""
    dataset = coco_dataset(batch, file_names)
    files: dict[str, str | bytes] = {COCO_ANNOTATIONS: json.dumps(dataset, indent=1) + "\n"}
    left_out: list[str] = []
    for image, record in zip(dataset["images"], batch.records, strict=True):
        name = _archive_name(image["file_name"])
        local = record.get("image_path") if record else None
        if name is None or local is None or not Path(local).is_file() or name in files:
            left_out.append(image["file_name"])
            continue
        files[name] = Path(local).read_bytes()
    shown = ", ".join(left_out[:5]) + ("..." if len(left_out) > 5 else "")
    readme = _README.format(
        batch_id=batch.info.batch_id,
        name=batch.info.name,
        n_images=len(dataset["images"]),
        n_boxes=len(dataset["annotations"]),
        annotations=COCO_ANNOTATIONS,
        n_included=len(dataset["images"]) - len(left_out),
        left_out=f" (not included: {shown})" if left_out else "",
        categories=", ".join(batch.classes),
    )
    files["README.txt"] = readme
    return zip_files(files)
