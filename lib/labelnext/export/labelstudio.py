"""Label Studio: tasks with pre-annotations, and the labeling config they are made for.

The export is a zip (one download, one file for the CLI) holding

``tasks.json``
    Label Studio's task import format: a JSON list of ``{"data": {"image", "data_row_id"},
    "predictions": [...]}``. ``image`` is the row's reference rewritten by the export's
    ``image_url`` (see :mod:`labelnext.export.images`). Each task has at most one prediction,
    ``{"model_version", "score", "result": [...]}``, whose ``score`` is the row's confidence at
    selection time (``1 - score``, so Label Studio's "sort by prediction score" puts the rows
    labelnext ranked first at the top). ``result`` per task:

    * classification: one ``choices`` result with the predicted class (and its probability as
      the result's ``score``);
    * multi-label: one ``choices`` result with every class at or above the run's threshold;
    * detection: one ``rectanglelabels`` result per box, in percent of the image
      (``x, y, width, height`` in 0-100 of ``original_width`` / ``original_height``, clipped to
      the image, ``rotation`` 0, ``image_rotation`` 0) with the box's score.

    A row with nothing predicted (no class, no class above the threshold, no box) has no
    prediction at all, never a pseudo-label.
``config.xml``
    The labeling config the results are written for (:func:`labelstudio_config`): ``<Image
    name="image" value="$image"/>`` and ``<Choices name="choice" toName="image">`` (single, or
    ``choice="multiple"`` for multi-label) or ``<RectangleLabels name="label"
    toName="image">``, with one option per class of the run.
``README.txt``
    How to import: create the project with ``config.xml``, make the images reachable, import
    ``tasks.json``.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import quoteattr

from labelnext.errors import ExportError
from labelnext.export.batch import ExportBatch
from labelnext.export.bundle import model_version, zip_files
from labelnext.export.manifest import clean

__all__ = [
    "LABELSTUDIO_BOX_FROM_NAME",
    "LABELSTUDIO_FROM_NAME",
    "LABELSTUDIO_TO_NAME",
    "labelstudio_config",
    "labelstudio_tasks",
]

LABELSTUDIO_FROM_NAME = "choice"
LABELSTUDIO_BOX_FROM_NAME = "label"
LABELSTUDIO_TO_NAME = "image"


def labelstudio_config(task: str, classes: tuple[str, ...] | list[str]) -> str:
    """The Label Studio labeling config for a task and its classes.

    Parameters
    ----------
    task : {"classification", "multilabel", "detection"}
    classes : sequence of str
        One ``Choice`` (or ``Label``) per class, in this order.

    Returns
    -------
    str
        The ``<View>`` XML.

    Raises
    ------
    ExportError
        An unknown task or no classes.

    Examples
    --------
    >>> print(labelstudio_config("multilabel", ["cat", "dog"]))
    <View>
      <Image name="image" value="$image"/>
      <Choices name="choice" toName="image" choice="multiple" showInLine="true">
        <Choice value="cat"/>
        <Choice value="dog"/>
      </Choices>
    </View>
    <BLANKLINE>
    """
    if not classes:
        raise ExportError("classes: a labeling config needs at least one class")
    image = f'  <Image name="{LABELSTUDIO_TO_NAME}" value="$image"/>'
    if task == "detection":
        options = "".join(f"    <Label value={quoteattr(str(c))}/>\n" for c in classes)
        control = (
            f'  <RectangleLabels name="{LABELSTUDIO_BOX_FROM_NAME}" '
            f'toName="{LABELSTUDIO_TO_NAME}">\n{options}  </RectangleLabels>'
        )
    elif task in ("classification", "multilabel"):
        choice = "multiple" if task == "multilabel" else "single"
        options = "".join(f"    <Choice value={quoteattr(str(c))}/>\n" for c in classes)
        control = (
            f'  <Choices name="{LABELSTUDIO_FROM_NAME}" toName="{LABELSTUDIO_TO_NAME}" '
            f'choice="{choice}" showInLine="true">\n{options}  </Choices>'
        )
    else:
        raise ExportError(f"task: {task!r} has no Label Studio config")
    return f"<View>\n{image}\n{control}\n</View>\n"


def labelstudio_tasks(batch: ExportBatch, images: list[str | None]) -> list[dict[str, Any]]:
    """The batch as Label Studio tasks (see the module docstring), one per row in rank order.

    Parameters
    ----------
    batch : ExportBatch
    images : list of (str or None)
        Each row's image reference as the tool should load it.

    Raises
    ------
    ExportError
        A detection row with boxes but no image size (percent coordinates need it).
    """
    version = model_version(batch.info)
    tasks = []
    rows = zip(
        batch.rows["data_row_id"],
        images,
        batch.rows["confidence"],
        batch.records,
        strict=True,
    )
    for data_row_id, image, confidence, record in rows:
        result = _result(record, data_row_id) if record is not None else []
        predictions: list[dict[str, Any]] = []
        if result:
            prediction: dict[str, Any] = {"model_version": version}
            if clean(confidence) is not None:
                prediction["score"] = float(confidence)
            prediction["result"] = result
            predictions.append(prediction)
        tasks.append(
            {"data": {"image": image, "data_row_id": data_row_id}, "predictions": predictions}
        )
    return tasks


def _result(record: dict[str, Any], data_row_id: str) -> list[dict[str, Any]]:
    task = record["task"]
    if task == "classification":
        if record.get("label") is None:
            return []
        region: dict[str, Any] = {
            "from_name": LABELSTUDIO_FROM_NAME,
            "to_name": LABELSTUDIO_TO_NAME,
            "type": "choices",
            "value": {"choices": [str(record["label"])]},
        }
        if record.get("confidence") is not None:
            region["score"] = float(record["confidence"])
        return [region]
    if task == "multilabel":
        labels = [str(x) for x in record.get("labels") or ()]
        if not labels:
            return []
        return [
            {
                "from_name": LABELSTUDIO_FROM_NAME,
                "to_name": LABELSTUDIO_TO_NAME,
                "type": "choices",
                "value": {"choices": labels},
            }
        ]
    boxes = record.get("boxes") or []
    if not boxes:
        return []
    width, height = record.get("image_width"), record.get("image_height")
    if not width or not height:
        raise ExportError(
            f"row {data_row_id!r}: its image size is unknown, and Label Studio boxes are in "
            "percent of it; give the run image_width and image_height columns, or local images"
        )
    return [_rectangle(box, j, float(width), float(height)) for j, box in enumerate(boxes)]


def _rectangle(box: dict[str, Any], j: int, width: float, height: float) -> dict[str, Any]:
    # Percent of the image, clipped to it: Label Studio refuses values outside 0-100.
    x0 = min(max(float(box["x"]) / width * 100, 0.0), 100.0)
    y0 = min(max(float(box["y"]) / height * 100, 0.0), 100.0)
    x1 = min(max((float(box["x"]) + float(box["w"])) / width * 100, 0.0), 100.0)
    y1 = min(max((float(box["y"]) + float(box["h"])) / height * 100, 0.0), 100.0)
    region: dict[str, Any] = {
        "id": f"box{j + 1}",
        "from_name": LABELSTUDIO_BOX_FROM_NAME,
        "to_name": LABELSTUDIO_TO_NAME,
        "type": "rectanglelabels",
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "value": {
            "x": x0,
            "y": y0,
            "width": x1 - x0,
            "height": y1 - y0,
            "rotation": 0,
            "rectanglelabels": [str(box["label"])],
        },
    }
    if box.get("score") is not None:
        region["score"] = float(box["score"])
    return region


_README = """\
labelnext batch {batch_id} ({name}) for Label Studio: {n_rows} tasks, {task}

config.xml   the labeling config the pre-annotations are written for ({control}).
tasks.json   one task per data row, least confident first: data.image, data.data_row_id and
             the model's prediction (model_version {version!r}, score = the row's confidence).
             Rows with nothing predicted have no prediction.

Import:
  1. Create a project; under Settings > Labeling Interface > Code paste config.xml (or give it
     as label_config when creating the project through the API).
  2. Make the images loadable. This export wrote image references as {template!r}.
     For /data/local-files/?d=... references start Label Studio with
     LOCAL_FILES_SERVING_ENABLED=true and LOCAL_FILES_DOCUMENT_ROOT=<the files root given to
     labelnext>, and add a Local files storage (Settings > Cloud Storage > Add Source Storage,
     absolute path = the folder holding the images, under that root). Do not sync it: the
     tasks come from tasks.json. For s3:// or gs:// references add the bucket as a source
     storage the same way.
  3. Import tasks.json (Import button, or POST /api/projects/<id>/import).
  4. Sort the data manager by prediction score, ascending, to label the least confident first.
"""


def render_labelstudio(batch: ExportBatch, images: list[str | None], template: str) -> bytes:
    """The Label Studio zip (see the module docstring)."""
    tasks = labelstudio_tasks(batch, images)
    config = labelstudio_config(batch.task, batch.classes)
    control = {
        "classification": "Choices, single",
        "multilabel": "Choices, multiple",
        "detection": "RectangleLabels",
    }[batch.task]
    readme = _README.format(
        batch_id=batch.info.batch_id,
        name=batch.info.name,
        n_rows=len(tasks),
        task=batch.task,
        control=control,
        version=model_version(batch.info),
        template=template,
    )
    return zip_files(
        {
            "tasks.json": json.dumps(tasks, indent=1, ensure_ascii=False) + "\n",
            "config.xml": config,
            "README.txt": readme,
        }
    )
