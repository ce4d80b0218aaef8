"""Write the labels-file corpus in tests/labels/: valid files of every format and malformed ones.

Rebuild with ``.venv/bin/python tests/labels/make_label_fixtures.py``; ``tests/test_labels.py``
checks that the files on disk are what this script writes.

Where each format's shape comes from:

* **Labelbox export NDJSON** (export v2). The labelbox SDK writes no export files (Labelbox's
  server does; the SDK's export stream only ``json.loads`` each line), so the lines are built
  from the documented export format (docs.labelbox.com, "Export image annotations" and "Export
  quick reference": ``data_row``, ``projects.<id>.labels[].label_details`` and
  ``annotations.classifications`` / ``objects`` with ``radio_answer``, ``checklist_answers``,
  ``bounding_box``), with the answers' ``name``/``value`` pairs taken from the SDK's own
  ontology classes (``lb.Option(value, label)``, ``OntologyBuilder.asdict()``) and boxes from its
  ``lb.types.Rectangle``. ``tests/test_labels.py`` validates every line against a JSON Schema
  transcribed from those pages.
* **Label Studio JSON export**: the documented task format ("Label Studio JSON format of
  annotated tasks"); validated against a JSON Schema transcribed from it in the tests.
* **COCO**: written here, loaded by pycocotools in the tests.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VALID = HERE / "valid"
MALFORMED = HERE / "malformed"

PROJECT = "clproject000000000000000001"
OTHER_PROJECT = "clproject000000000000000002"
ANIMALS = ("cat", "dog", "bird")


# --------------------------------------------------------------------------------------------
# Labelbox export v2


def _ontology() -> dict[str, Any]:
    """The project's ontology as the SDK describes it: option label/value pairs per question."""
    import labelbox as lb

    builder = lb.OntologyBuilder(
        tools=[lb.Tool(lb.Tool.Type.BBOX, name) for name in ANIMALS]
        + [lb.Tool(lb.Tool.Type.POLYGON, "puddle")],
        classifications=[
            lb.Classification(
                lb.Classification.Type.RADIO,
                "animal",
                options=[lb.Option(value=name, label=name.title()) for name in ANIMALS],
            ),
            lb.Classification(
                lb.Classification.Type.CHECKLIST,
                "contains",
                options=[lb.Option(value=name) for name in ANIMALS],
            ),
            lb.Classification(lb.Classification.Type.TEXT, "comment"),
        ],
    )
    result: dict[str, Any] = builder.asdict()
    return result


def _option(question: str, value: str) -> dict[str, Any]:
    for classification in _ontology()["classifications"]:
        if classification["name"] == question:
            for option in classification["options"]:
                if option["value"] == value:
                    return {"name": option["label"], "value": option["value"]}
    raise KeyError((question, value))


def _feature_id(n: int) -> str:
    return f"clfeature{n:017d}"


def _radio(n: int, question: str, value: str) -> dict[str, Any]:
    answer = _option(question, value)
    return {
        "feature_id": _feature_id(n),
        "feature_schema_id": f"clschema-{question}",
        "name": question,
        "value": question,
        "radio_answer": {
            "feature_id": _feature_id(n + 500),
            "feature_schema_id": f"clschema-{question}-{value}",
            **answer,
            "classifications": [],
        },
    }


def _checklist(n: int, question: str, values: list[str]) -> dict[str, Any]:
    return {
        "feature_id": _feature_id(n),
        "feature_schema_id": f"clschema-{question}",
        "name": question,
        "value": question,
        "checklist_answers": [
            {
                "feature_id": _feature_id(n + 500 + k),
                "feature_schema_id": f"clschema-{question}-{value}",
                **_option(question, value),
                "classifications": [],
            }
            for k, value in enumerate(values)
        ],
    }


def _text(n: int, question: str, content: str) -> dict[str, Any]:
    return {
        "feature_id": _feature_id(n),
        "feature_schema_id": f"clschema-{question}",
        "name": question,
        "value": question,
        "text_answer": {"content": content},
    }


def _box(n: int, name: str, corners: tuple[float, float, float, float]) -> dict[str, Any]:
    import labelbox.types as lbt

    x0, y0, x1, y1 = corners
    rectangle = lbt.Rectangle(start=lbt.Point(x=x0, y=y0), end=lbt.Point(x=x1, y=y1))
    return {
        "feature_id": _feature_id(n),
        "feature_schema_id": f"clschema-{name}",
        "name": name,
        "value": name,
        "annotation_kind": "ImageBoundingBox",
        "classifications": [],
        "bounding_box": {
            "top": rectangle.start.y,
            "left": rectangle.start.x,
            "height": rectangle.end.y - rectangle.start.y,
            "width": rectangle.end.x - rectangle.start.x,
        },
    }


def _polygon(n: int) -> dict[str, Any]:
    return {
        "feature_id": _feature_id(n),
        "feature_schema_id": "clschema-puddle",
        "name": "puddle",
        "value": "puddle",
        "annotation_kind": "ImagePolygon",
        "classifications": [],
        "polygon": [{"x": 1.0, "y": 1.0}, {"x": 5.0, "y": 1.0}, {"x": 3.0, "y": 4.0}],
    }


def _label(
    n: int,
    by: str,
    at: str,
    *,
    classifications: list[dict[str, Any]] | None = None,
    objects: list[dict[str, Any]] | None = None,
    skipped: bool = False,
) -> dict[str, Any]:
    return {
        "label_kind": "Default",
        "version": "1.0.0",
        "id": f"cllabel{n:019d}",
        "label_details": {
            "created_at": at,
            "updated_at": at,
            "created_by": by,
            "content_last_updated_at": at,
            "reviews": [],
        },
        "performance_details": {
            "seconds_to_create": 12.5,
            "seconds_to_review": 0.0,
            "skipped": skipped,
        },
        "annotations": {
            "objects": objects or [],
            "classifications": classifications or [],
            "relationships": [],
        },
    }


def _line(
    row_id: str,
    global_key: str | None,
    labels: list[dict[str, Any]],
    *,
    project: str = PROJECT,
    more: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    data_row: dict[str, Any] = {"id": row_id}
    if global_key is not None:
        data_row["global_key"] = global_key
    data_row["row_data"] = f"https://example.test/{global_key or row_id}.png"
    data_row["details"] = {
        "dataset_id": "cldataset0000000000000001",
        "dataset_name": "animals",
        "created_at": "2024-04-01T09:00:00.000+00:00",
        "updated_at": "2024-04-01T09:00:00.000+00:00",
        "last_activity_at": "2024-04-08T16:34:01.000+00:00",
        "created_by": "lead@example.test",
    }
    projects = {project: {"name": "Animals", "labels": labels, "project_details": {}}}
    for pid, extra in (more or {}).items():
        projects[pid] = {"name": "Animals QA", "labels": extra, "project_details": {}}
    return {
        "data_row": data_row,
        "media_attributes": {"height": 480, "width": 640, "mime_type": "image/png"},
        "attachments": [],
        "metadata_fields": [],
        "projects": projects,
    }


T1, T2, T3 = (
    "2024-04-08T16:34:02.000+00:00",
    "2024-04-08T17:00:00.000+00:00",
    "2024-04-09T08:15:30Z",
)


def labelbox_files() -> dict[str, list[dict[str, Any]]]:
    """Valid export files: name -> lines."""
    radio = [
        _line(
            "clrow01",
            "img-1",
            [
                _label(
                    1,
                    "ana@example.test",
                    T1,
                    classifications=[_radio(1, "animal", "cat"), _text(2, "comment", "fluffy")],
                )
            ],
        ),
        # consensus: two labels that agree; the later one is kept
        _line(
            "clrow02",
            "img-2",
            [
                _label(2, "ana@example.test", T1, classifications=[_radio(3, "animal", "dog")]),
                _label(3, "ben@example.test", T2, classifications=[_radio(4, "animal", "dog")]),
            ],
        ),
        # no global key: the row is named by its Labelbox id
        _line(
            "clrow03",
            None,
            [_label(4, "ben@example.test", T3, classifications=[_radio(5, "animal", "bird")])],
        ),
        _line("clrow04", "img-4", []),  # not labeled yet
        _line("clrow05", "img-5", [_label(5, "ana@example.test", T1, skipped=True)]),
    ]
    checklist = [
        _line(
            "clrow11",
            "img-11",
            [
                _label(
                    11,
                    "ana@example.test",
                    T1,
                    classifications=[_checklist(11, "contains", ["dog", "cat"])],
                )
            ],
        ),
        _line(
            "clrow12",
            "img-12",
            [_label(12, "ana@example.test", T2, classifications=[_checklist(12, "contains", [])])],
        ),
        _line(  # submitted with nothing checked: "none of the classes"
            "clrow13", "img-13", [_label(13, "ben@example.test", T3)]
        ),
    ]
    boxes = [
        _line(
            "clrow21",
            "img-21",
            [
                _label(
                    21,
                    "ana@example.test",
                    T1,
                    objects=[
                        _box(21, "dog", (5, 5, 25, 15)),
                        _box(22, "cat", (10, 20, 50, 80)),
                        _polygon(23),
                    ],
                )
            ],
        ),
        _line("clrow22", "img-22", [_label(22, "ben@example.test", T2)]),  # no objects
        _line(
            "clrow23",
            "img-23",
            [_label(23, "ben@example.test", T2, objects=[_box(24, "bird", (0.5, 1.5, 10.5, 4))])],
            more={
                OTHER_PROJECT: [
                    _label(24, "qa@example.test", T3, objects=[_box(25, "cat", (0, 0, 1, 1))])
                ]
            },
        ),
    ]
    return {
        "labelbox_radio.ndjson": radio,
        "labelbox_checklist.ndjson": checklist,
        "labelbox_boxes.ndjson": boxes,
    }


def labelbox_malformed() -> dict[str, str]:
    """Malformed export files: name -> text."""
    good = _line(
        "clrow01", "img-1", [_label(1, "a@x", T1, classifications=[_radio(1, "animal", "cat")])]
    )
    conflict = _line(
        "clrow02",
        "img-2",
        [
            _label(2, "a@x", T1, classifications=[_radio(2, "animal", "cat")]),
            _label(3, "b@x", T2, classifications=[_radio(3, "animal", "dog")]),
        ],
    )
    zero_box = _line(
        "clrow03", "img-3", [_label(4, "a@x", T1, objects=[_box(4, "cat", (5, 5, 5, 9))])]
    )
    mixed = _line(
        "clrow04",
        "img-4",
        [
            _label(
                5,
                "a@x",
                T1,
                classifications=[_radio(5, "animal", "cat")],
                objects=[_box(6, "cat", (1, 1, 4, 4))],
            )
        ],
    )
    two_questions = _line(
        "clrow05",
        "img-5",
        [_label(6, "a@x", T1, classifications=[_radio(7, "animal", "cat")])],
    )
    two_questions["projects"][PROJECT]["labels"][0]["annotations"]["classifications"].append(
        {**_radio(8, "animal", "dog"), "name": "mood", "value": "mood"}
    )
    no_key = json.loads(json.dumps(good))
    no_key["data_row"] = {"row_data": "https://example.test/x.png"}
    bad_time = json.loads(json.dumps(good))
    bad_time["projects"][PROJECT]["labels"][0]["label_details"]["updated_at"] = "last tuesday"
    two_projects = _line(
        "clrow06",
        "img-6",
        [_label(7, "a@x", T1, classifications=[_radio(9, "animal", "cat")])],
        more={OTHER_PROJECT: [_label(8, "b@x", T2, classifications=[_radio(10, "animal", "dog")])]},
    )

    def ndjson(*lines: dict[str, Any]) -> str:
        return "".join(json.dumps(line) + "\n" for line in lines)

    import_line = {
        "uuid": "00000000-0000-4000-8000-000000000001",
        "name": "animal",
        "answer": {"name": "cat"},
        "dataRow": {"globalKey": "img-1"},
    }
    return {
        "bad_json_line.ndjson": ndjson(good) + '{"data_row": {"id": "x"}, "projects": \n',
        "import_format.ndjson": ndjson(import_line),
        "missing_key.ndjson": ndjson(good, no_key),
        "conflict_in_line.ndjson": ndjson(conflict),
        "duplicate_row.ndjson": ndjson(good, good),
        "zero_width_box.ndjson": ndjson(zero_box),
        "mixed_kinds.ndjson": ndjson(mixed),
        "two_questions.ndjson": ndjson(two_questions),
        "two_projects.ndjson": ndjson(two_projects),
        "bad_time.ndjson": ndjson(bad_time),
        "empty.ndjson": "",
    }


# --------------------------------------------------------------------------------------------
# Label Studio JSON export


def _ls_result(n: int, choices: list[str], from_name: str = "choice") -> dict[str, Any]:
    return {
        "id": f"r{n}",
        "from_name": from_name,
        "to_name": "image",
        "type": "choices",
        "origin": "manual",
        "value": {"choices": choices},
    }


def _ls_rect(
    n: int, name: str, x: float, y: float, w: float, h: float, **extra: Any
) -> dict[str, Any]:
    value: dict[str, Any] = {"x": x, "y": y, "width": w, "height": h, "rotation": 0}
    value.update(extra.pop("value", {}))
    value["rectanglelabels"] = [name]
    result = {
        "id": f"b{n}",
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "origin": "manual",
        "original_width": 640,
        "original_height": 480,
        "image_rotation": 0,
        "value": value,
    }
    result.update(extra)
    return result


def _ls_annotation(
    n: int,
    results: list[dict[str, Any]],
    *,
    by: Any = 1,
    at: str = "2024-03-09T22:16:08.728353Z",
    cancelled: bool = False,
) -> dict[str, Any]:
    return {
        "id": n,
        "completed_by": by,
        "result": results,
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": at,
        "updated_at": at,
        "draft_created_at": None,
        "lead_time": 4.288,
        "prediction": {},
        "result_count": len(results),
        "unique_id": f"00000000-0000-4000-8000-{n:012d}",
        "import_id": None,
        "last_action": None,
        "task": 0,
        "project": 3,
        "updated_by": by if isinstance(by, int) else 1,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


def _ls_task(
    n: int, data_row_id: str, annotations: list[dict[str, Any]], **data: Any
) -> dict[str, Any]:
    for annotation in annotations:
        annotation["task"] = n
    return {
        "id": n,
        "annotations": annotations,
        "file_upload": "tasks.json",
        "drafts": [],
        "predictions": [],
        "data": {
            "image": f"/data/local-files/?d=images/{data_row_id}.png",
            "data_row_id": data_row_id,
            **data,
        },
        "meta": {},
        "created_at": "2024-03-09T21:52:49.513742Z",
        "updated_at": "2024-03-09T22:16:08.746926Z",
        "inner_id": n,
        "total_annotations": len(annotations),
        "cancelled_annotations": sum(a["was_cancelled"] for a in annotations),
        "total_predictions": 0,
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 3,
        "updated_by": 1,
        "comment_authors": [],
    }


def labelstudio_files() -> dict[str, list[dict[str, Any]]]:
    choices = [
        _ls_task(1, "img-1", [_ls_annotation(11, [_ls_result(1, ["cat"])], by=1)]),
        _ls_task(  # two annotators agree; an expanded user gives an email
            2,
            "img-2",
            [
                _ls_annotation(12, [_ls_result(2, ["dog"])], by=1),
                _ls_annotation(
                    13,
                    [_ls_result(3, ["dog"])],
                    by={"id": 2, "email": "ben@example.test"},
                    at="2024-03-10T08:00:00.000000Z",
                ),
            ],
        ),
        _ls_task(3, "img-3", [_ls_annotation(14, [_ls_result(4, ["cat"])], cancelled=True)]),
        _ls_task(4, "img-4", []),
        _ls_task(5, "img-5", [_ls_annotation(15, [_ls_result(5, ["bird"])], by=2)]),
    ]
    multi = [
        _ls_task(1, "img-1", [_ls_annotation(21, [_ls_result(1, ["dog", "cat"])])]),
        _ls_task(2, "img-2", [_ls_annotation(22, [_ls_result(2, ["bird"])])]),
        _ls_task(3, "img-3", [_ls_annotation(23, [])]),  # nothing chosen: no class
    ]
    boxes = [
        _ls_task(
            1,
            "img-1",
            [
                _ls_annotation(
                    31,
                    [_ls_rect(1, "cat", 10, 20, 5, 10), _ls_rect(2, "dog", 50, 50, 25, 12.5)],
                )
            ],
        ),
        _ls_task(2, "img-2", [_ls_annotation(32, [])]),  # no objects
    ]
    return {
        "labelstudio_choices.json": choices,
        "labelstudio_multichoice.json": multi,
        "labelstudio_boxes.json": boxes,
    }


def labelstudio_malformed() -> dict[str, Any]:
    one = _ls_task(1, "img-1", [_ls_annotation(1, [_ls_result(1, ["cat"])])])
    missing_id = _ls_task(2, "img-2", [_ls_annotation(2, [_ls_result(2, ["dog"])])])
    del missing_id["data"]["data_row_id"]
    conflict = _ls_task(
        3,
        "img-3",
        [
            _ls_annotation(3, [_ls_result(3, ["cat"])], by=1),
            _ls_annotation(4, [_ls_result(4, ["dog"])], by=2),
        ],
    )
    rotated = _ls_task(
        4, "img-4", [_ls_annotation(5, [_ls_rect(5, "cat", 1, 1, 5, 5, value={"rotation": 30})])]
    )
    no_size = _ls_task(5, "img-5", [_ls_annotation(6, [_ls_rect(6, "cat", 1, 1, 5, 5)])])
    del no_size["annotations"][0]["result"][0]["original_width"]
    bad_time = _ls_task(6, "img-6", [_ls_annotation(7, [_ls_result(7, ["cat"])], at="noon")])
    two_controls = _ls_task(
        7,
        "img-7",
        [_ls_annotation(8, [_ls_result(8, ["cat"]), _ls_result(9, ["day"], from_name="time")])],
    )
    return {
        "object.json": {"tasks": [one]},
        "json_min.json": [{"image": "x.png", "data_row_id": "img-1", "choice": "cat", "id": 1}],
        "missing_id.json": [one, missing_id],
        "conflict.json": [conflict],
        "duplicate_task.json": [one, json.loads(json.dumps(one))],
        "rotated_box.json": [rotated],
        "box_without_size.json": [no_size],
        "bad_time.json": [bad_time],
        "two_controls.json": [two_controls],
        "not_json.json": "[{'data': 1}",
    }


# --------------------------------------------------------------------------------------------
# COCO


def coco_file() -> dict[str, Any]:
    return {
        "info": {"description": "labelnext label fixture", "version": "1"},
        "licenses": [],
        "images": [
            {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "b.png", "width": 64, "height": 48},
            {"id": 7, "file_name": "c.png", "width": 64, "height": 48},
        ],
        "categories": [
            {"id": 1, "name": "cat", "supercategory": "animal"},
            {"id": 2, "name": "dog", "supercategory": "animal"},
            {"id": 3, "name": "bird", "supercategory": "animal"},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 2,
                "bbox": [10, 5, 20, 10],
                "area": 200,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [1.5, 2.5, 3, 4],
                "area": 12,
                "iscrowd": 0,
            },
            {
                "id": 3,
                "image_id": 7,
                "category_id": 3,
                "bbox": [0, 0, 64, 48],
                "area": 3072,
                "iscrowd": 0,
            },
        ],
    }


def coco_malformed() -> dict[str, Any]:
    def variant(**changes: Any) -> dict[str, Any]:
        base = coco_file()
        for key, value in changes.items():
            base[key] = value
        return base

    base = coco_file()
    return {
        "results_array.json": [
            {"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.9}
        ],
        "unknown_image.json": variant(
            annotations=[
                *base["annotations"],
                {"id": 9, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]},
            ]
        ),
        "unknown_category.json": variant(
            annotations=[
                *base["annotations"],
                {"id": 9, "image_id": 1, "category_id": 42, "bbox": [1, 1, 2, 2]},
            ]
        ),
        "bad_bbox.json": variant(
            annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, -2, 2]}]
        ),
        "duplicate_file_name.json": variant(
            images=[*base["images"], {"id": 8, "file_name": "a.png"}]
        ),
        "duplicate_annotation_id.json": variant(
            annotations=[*base["annotations"], {**base["annotations"][0]}]
        ),
        "no_annotations_array.json": {"images": base["images"], "categories": base["categories"]},
    }


# --------------------------------------------------------------------------------------------
# CSV and Parquet

CSV_VALID = {
    "labels.csv": (
        "data_row_id,label,labeled_by,labeled_at,image\n"
        "img-1,cat,ana,2024-04-08T16:34:02+00:00,img-1.png\n"
        "img-2,dog,ben,2024-04-08 19:00:00+02:00,img-2.png\n"
        "img-3,bird,,,img-3.png\n"
    ),
    "multilabel.csv": 'data_row_id,label\nimg-1,dog|cat\nimg-2,bird\nimg-3,"[""cat""]"\n',
    "detection.csv": (
        "data_row_id,label\n"
        'a.png,"[{""x"": 10, ""y"": 5, ""w"": 20, ""h"": 10, ""label"": ""dog""}]"\n'
        "b.png,[]\n"
    ),
}
CSV_MALFORMED = {
    "ragged.csv": "data_row_id,label\nimg-1,cat\nimg-2,dog,extra\nimg-3,bird\n",
    "missing_label_column.csv": "data_row_id,class\nimg-1,cat\n",
    "empty_id.csv": "data_row_id,label\n,cat\nimg-2,dog\n",
    "empty_label.csv": "data_row_id,label\nimg-1,\n",
    "conflict.csv": "data_row_id,label\nimg-1,cat\nimg-2,dog\nimg-1,dog\n",
    "duplicate.csv": "data_row_id,label\nimg-1,cat\nimg-1,cat\n",
    "bad_time.csv": "data_row_id,label,labeled_at\nimg-1,cat,yesterday\n",
    "empty.csv": "",
    "header_only.csv": "data_row_id,label\n",
    "bad_boxes.csv": (
        "data_row_id,label\n"
        'a.png,"[{""x"": 1, ""y"": 1, ""w"": 0, ""h"": 2, ""label"": ""cat""}]"\n'
    ),
    "unclosed_quote.csv": 'data_row_id,label\nimg-1,"cat\n',
}


def write_parquet(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "data_row_id": ["img-1", "img-2", "img-3"],
            "label": pa.array([["dog", "cat"], [], ["bird"]], type=pa.list_(pa.string())),
            "labeled_by": ["ana", None, "ben"],
            "labeled_at": pa.array(
                [1712593442_000, None, 1712650530_000], type=pa.timestamp("ms", tz="UTC")
            ),
        }
    )
    pq.write_table(table, folder / "multilabel.parquet")
    classification = pa.table({"data_row_id": ["img-1", "img-2"], "label": ["cat", "dog"]})
    pq.write_table(classification, folder / "labels.parquet")


def write_parquet_malformed(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["img-1"], "label": ["cat"]}), folder / "missing_id.parquet")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"data_row_id": ["img-1"], "label": ["cat"]}), buffer)
    (folder / "corrupt.parquet").write_bytes(buffer.getvalue()[:40])


# --------------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False) + "\n"


def text_files() -> dict[Path, str]:
    """Every text fixture: path -> content (what the tests compare the disk with)."""
    files: dict[Path, str] = {}
    for name, lines in labelbox_files().items():
        files[VALID / name] = "".join(json.dumps(line) + "\n" for line in lines)
    for name, tasks in labelstudio_files().items():
        files[VALID / name] = _json(tasks)
    files[VALID / "coco.json"] = _json(coco_file())
    for name, text in CSV_VALID.items():
        files[VALID / name] = text
    for name, text in labelbox_malformed().items():
        files[MALFORMED / "labelbox" / name] = text
    for name, value in labelstudio_malformed().items():
        files[MALFORMED / "labelstudio" / name] = value if isinstance(value, str) else _json(value)
    for name, value in coco_malformed().items():
        files[MALFORMED / "coco" / name] = _json(value)
    for name, text in CSV_MALFORMED.items():
        files[MALFORMED / "csv" / name] = text
    return files


def main() -> None:
    for path, text in text_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    write_parquet(VALID)
    (MALFORMED / "parquet").mkdir(parents=True, exist_ok=True)
    write_parquet_malformed(MALFORMED / "parquet")
    (MALFORMED / "csv" / "latin1.csv").write_bytes(
        "data_row_id,label\nimg-é,cat\n".encode("latin-1")
    )


if __name__ == "__main__":
    main()
