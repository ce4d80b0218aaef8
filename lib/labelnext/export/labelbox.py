"""Labelbox: a zip with the data rows, the batch, the ontology and the predictions.

``data_rows.json``
    ``[{"row_data", "global_key", "media_type": "IMAGE"}]`` for
    ``dataset.create_data_rows(...)``. ``global_key`` is the labelnext ``data_row_id``;
    ``row_data`` is the image reference rewritten by the export's ``image_url`` when that is a
    URL Labelbox can fetch (``https://``, or ``gs://`` with the bucket's IAM integration), else
    the image's absolute local path, which the SDK uploads from the machine running the import.
``batch.json``
    ``{"create_batch": {"name", "global_keys", "priority"}, "labelnext": {...}}``:
    ``create_batch`` holds exactly keyword arguments of ``project.create_batch(...)``;
    ``labelnext`` the batch's provenance (project, run, strategy, who, when, note).
``ontology.json``
    The ontology the predictions are written for, in the shape of the SDK's
    ``OntologyBuilder(...).asdict()`` (for ``client.create_ontology(name, normalized,
    media_type=MediaType.Image)``): classification a radio question named
    ``classification_name`` (default ``"label"``) with one option per class, multi-label a
    checklist question of that name, detection one bounding-box tool per class.
``predictions.ndjson``
    One line per annotation in Labelbox's NDJSON import format, each with its confidence:
    classification ``{"uuid", "name": <question>, "answer": {"name", "confidence"}, "dataRow":
    {"globalKey"}}``; multi-label ``{"uuid", "name": <question>, "answer": [{"name",
    "confidence"}, ...], "dataRow"}`` with every class at or above the run's threshold;
    detection one ``{"uuid", "name": <class>, "bbox": {"top", "left", "height", "width"},
    "confidence", "classifications": [], "dataRow"}`` per box, in pixels. Rows with nothing
    predicted have no line. Each line is equal, as a JSON object, to what the labelbox SDK's
    ``NDJsonConverter.serialize`` writes for the same annotations (key order aside), and parses
    with the SDK's NDJSON models (``NDRadio``, ``NDChecklist``, ``NDRectangle``).
``README.txt``
    The import steps. Confidences are kept by a model-run import
    (``model_run.add_predictions``, Model > Experiments); a project import as pre-labels
    (``MALPredictionImport``) takes the same lines but drops the confidences.
"""

from __future__ import annotations

import colorsys
import json
import uuid
from typing import Any

from labelnext.export.batch import ExportBatch
from labelnext.export.bundle import model_version, provenance, zip_files
from labelnext.export.images import LABELBOX_SCHEMES

__all__ = ["labelbox_data_rows", "labelbox_ontology", "labelbox_predictions"]

_UUID_NAMESPACE = uuid.UUID("5d0f3a52-8f0e-4d1e-9a51-6c61626e7874")


def labelbox_ontology(
    task: str, classes: tuple[str, ...] | list[str], *, classification_name: str = "label"
) -> dict[str, Any]:
    """The ontology a batch's predictions assume, as ``OntologyBuilder(...).asdict()`` gives it.

    Parameters
    ----------
    task : {"classification", "multilabel", "detection"}
    classes : sequence of str
    classification_name : str, default "label"
        The question's name (classification and multi-label).

    Returns
    -------
    dict
        ``{"tools": [...], "classifications": [...]}``.
    """
    if task == "detection":
        tools: list[dict[str, Any]] = [
            {
                "tool": "rectangle",
                "name": str(name),
                "required": False,
                "color": _tool_color(k, len(classes)),
                "classifications": [],
                "schemaNodeId": None,
                "featureSchemaId": None,
                "attributes": None,
            }
            for k, name in enumerate(classes)
        ]
        return {"tools": tools, "classifications": []}
    question: dict[str, Any] = {
        "type": "checklist" if task == "multilabel" else "radio",
        "instructions": classification_name,
        "name": classification_name,
        "required": False,
        "options": [
            {
                "schemaNodeId": None,
                "featureSchemaId": None,
                "label": str(name),
                "value": str(name),
                "options": [],
            }
            for name in classes
        ],
        "schemaNodeId": None,
        "featureSchemaId": None,
        "attributes": None,
        "scope": "global",
    }
    return {"tools": [], "classifications": [question]}


def _tool_color(index: int, count: int) -> str:
    # OntologyBuilder's own colouring: hues spread evenly over the tools.
    rgb = tuple(int(255 * x) for x in colorsys.hsv_to_rgb(index / count, 1, 1))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def labelbox_predictions(
    batch: ExportBatch, *, classification_name: str = "label"
) -> list[dict[str, Any]]:
    """The batch's predictions as Labelbox NDJSON objects (see the module docstring)."""
    out: list[dict[str, Any]] = []
    batch_id = batch.info.batch_id
    for data_row_id, record in zip(batch.rows["data_row_id"], batch.records, strict=True):
        if record is None:
            continue
        data_row = {"globalKey": data_row_id}
        key = f"{batch_id}/{data_row_id}"
        if record["task"] == "classification":
            if record.get("label") is None:
                continue
            answer: dict[str, Any] = {"name": str(record["label"])}
            if record.get("confidence") is not None:
                answer["confidence"] = float(record["confidence"])
            out.append(
                {
                    "uuid": _uuid(key),
                    "name": classification_name,
                    "answer": answer,
                    "dataRow": data_row,
                }
            )
        elif record["task"] == "multilabel":
            labels = [str(x) for x in record.get("labels") or ()]
            if not labels:
                continue
            scores = record.get("scores") or {}
            answers = []
            for label in labels:
                item: dict[str, Any] = {"name": label}
                if scores.get(label) is not None:
                    item["confidence"] = float(scores[label])
                answers.append(item)
            out.append(
                {
                    "uuid": _uuid(key),
                    "name": classification_name,
                    "answer": answers,
                    "dataRow": data_row,
                }
            )
        else:
            for j, box in enumerate(record.get("boxes") or ()):
                line: dict[str, Any] = {
                    "uuid": _uuid(f"{key}/{j}"),
                    "name": str(box["label"]),
                    "bbox": {
                        "top": float(box["y"]),
                        "left": float(box["x"]),
                        "height": float(box["h"]),
                        "width": float(box["w"]),
                    },
                    "classifications": [],
                    "dataRow": data_row,
                }
                if box.get("score") is not None:
                    line["confidence"] = float(box["score"])
                out.append(line)
    return out


def _uuid(key: str) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, key))


def labelbox_data_rows(batch: ExportBatch, images: list[str | None]) -> list[dict[str, Any]]:
    """The ``dataset.create_data_rows`` items for the batch (rows without an image left out)."""
    items = []
    for data_row_id, image, record in zip(
        batch.rows["data_row_id"], images, batch.records, strict=True
    ):
        row_data = image
        if image is not None and not image.startswith(LABELBOX_SCHEMES):
            local = record.get("image_path") if record else None
            row_data = local or image
        if row_data is None:
            continue
        items.append({"row_data": row_data, "global_key": data_row_id, "media_type": "IMAGE"})
    return items


_README = """\
labelnext batch {batch_id} ({name}) for Labelbox: {n_rows} data rows, {task}

data_rows.json      dataset.create_data_rows items: row_data (a URL, or a local file the SDK
                    uploads), global_key = labelnext data_row_id.
batch.json          create_batch: the arguments of project.create_batch; labelnext: provenance.
ontology.json       the ontology the predictions assume ({ontology}), as
                    OntologyBuilder(...).asdict() writes it.
predictions.ndjson  {n_predictions} annotations in Labelbox's NDJSON import format, each with
                    its confidence (model version {version!r}).

    import json, zipfile
    import labelbox as lb
    client = lb.Client(api_key="...")
    archive = zipfile.ZipFile("{file}")
    read = lambda name: json.loads(archive.read(name))
    predictions = [json.loads(l) for l in archive.read("predictions.ndjson").splitlines()]

    # 1. the images, as data rows keyed by global key (skip if they are in Labelbox already)
    dataset = client.create_dataset(name="labelnext-{batch_id}")
    dataset.create_data_rows(read("data_rows.json")).wait_till_done()
    # 2. the ontology (or reuse one whose names match ontology.json)
    ontology = client.create_ontology("labelnext-{batch_id}", read("ontology.json"),
                                      media_type=lb.MediaType.Image)

    # 3a. KEEPS THE CONFIDENCES: a model run (Model > Experiments), which can send the rows
    #     to a project from there
    model = client.create_model(name="labelnext-{batch_id}", ontology_id=ontology.uid)
    model_run = model.create_model_run("{version}")
    model_run.upsert_data_rows(global_keys=read("batch.json")["create_batch"]["global_keys"])
    model_run.add_predictions(name="labelnext-{batch_id}",
                              predictions=predictions).wait_until_done()

    # 3b. DROPS THE CONFIDENCES: the batch in a project, with the predictions as pre-labels
    project = client.create_project(name="...", media_type=lb.MediaType.Image)
    project.connect_ontology(ontology)
    project.create_batch(**read("batch.json")["create_batch"])
    lb.MALPredictionImport.create_from_objects(client, project.uid, "labelnext-{batch_id}",
                                               predictions).wait_until_done()
"""


def render_labelbox(
    batch: ExportBatch, images: list[str | None], *, classification_name: str, file: str
) -> bytes:
    """The Labelbox zip (see the module docstring)."""
    predictions = labelbox_predictions(batch, classification_name=classification_name)
    ontology = labelbox_ontology(batch.task, batch.classes, classification_name=classification_name)
    batch_json = {
        "create_batch": {
            "name": batch.info.name,
            "global_keys": list(batch.rows["data_row_id"]),
            "priority": batch.info.priority,
        },
        "labelnext": provenance(batch.info),
    }
    kind = {
        "classification": f"a radio question {classification_name!r}",
        "multilabel": f"a checklist question {classification_name!r}",
        "detection": "one bounding-box tool per class",
    }[batch.task]
    readme = _README.format(
        batch_id=batch.info.batch_id,
        name=batch.info.name,
        n_rows=len(batch.rows),
        task=batch.task,
        ontology=kind,
        n_predictions=len(predictions),
        version=model_version(batch.info),
        file=file,
    )
    return zip_files(
        {
            "data_rows.json": _json(labelbox_data_rows(batch, images)),
            "batch.json": _json(batch_json),
            "ontology.json": _json(ontology),
            "predictions.ndjson": "".join(
                json.dumps(p, ensure_ascii=False) + "\n" for p in predictions
            ),
            "README.txt": readme,
        }
    )


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
