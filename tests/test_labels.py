"""Labels files read back: every reader on its corpus of valid and malformed files.

The corpus is in ``tests/labels/`` (written by ``tests/labels/make_label_fixtures.py``). Each
valid file is first checked by the format's own side: Labelbox export lines and Label Studio
tasks against JSON Schemas transcribed from their documented export formats (the labelbox SDK
writes no export files: Labelbox's server does), COCO files loaded by pycocotools. Then the
labels read are compared with figures worked out by hand from the fixture.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelnext.errors import LabelFileError
from labelnext.labels import (
    LABEL_COLUMNS,
    detect_label_format,
    label_from_json,
    label_to_json,
    read_coco_labels,
    read_csv_labels,
    read_labelbox_labels,
    read_labels,
    read_labelstudio_labels,
    read_parquet_labels,
)

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "labels"
VALID = CORPUS / "valid"
BAD = CORPUS / "malformed"
ANIMALS = ("cat", "dog", "bird")
SAMPLE = HERE.parent / "sample_data" / "mnist"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_label_fixtures", CORPUS / "make_label_fixtures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rows(path: Path | bytes, **options: Any) -> list[tuple[Any, ...]]:
    labels = read_labels(path, **options)
    return [
        (r.data_row_id, r.label, r.labeled_by, r.labeled_at, r.source_row)
        for r in labels.frame.itertuples()
    ]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# -- the corpus is what its script writes ------------------------------------------------------


def test_corpus_on_disk_is_what_the_script_writes() -> None:
    builder = _builder()
    for path, text in builder.text_files().items():
        assert path.read_bytes() == text.encode("utf-8"), path
    expected = pa.table(
        {
            "data_row_id": ["img-1", "img-2", "img-3"],
            "label": pa.array([["dog", "cat"], [], ["bird"]], type=pa.list_(pa.string())),
        }
    )
    shipped = pq.read_table(VALID / "multilabel.parquet")
    assert shipped.select(["data_row_id", "label"]).equals(expected)


# -- Labelbox export NDJSON ----------------------------------------------------------------------

_LB_ANSWER = {
    "type": "object",
    "required": ["feature_id", "feature_schema_id", "name", "value"],
    "properties": {
        "feature_id": {"type": "string"},
        "feature_schema_id": {"type": "string"},
        "name": {"type": "string"},
        "value": {"type": "string"},
        "classifications": {"type": "array"},
    },
}
# Transcribed from docs.labelbox.com "Export quick reference" (image project export) and
# "Export image annotations" (bounding box, radio, checklist, free text formats).
LABELBOX_EXPORT_LINE = {
    "type": "object",
    "required": ["data_row", "projects"],
    "properties": {
        "data_row": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string"},
                "global_key": {"type": "string"},
                "external_id": {"type": "string"},
                "row_data": {"type": "string"},
                "details": {"type": "object"},
            },
        },
        "media_attributes": {"type": "object"},
        "projects": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["name", "labels"],
                "properties": {
                    "name": {"type": "string"},
                    "labels": {"type": "array", "items": {"$ref": "#/$defs/label"}},
                    "project_details": {"type": "object"},
                },
            },
        },
    },
    "$defs": {
        "label": {
            "type": "object",
            "required": ["id", "label_kind", "annotations"],
            "properties": {
                "id": {"type": "string"},
                "label_kind": {"type": "string"},
                "version": {"type": "string"},
                "label_details": {
                    "type": "object",
                    "properties": {
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "created_by": {"type": "string"},
                    },
                },
                "performance_details": {
                    "type": "object",
                    "properties": {"skipped": {"type": "boolean"}},
                },
                "annotations": {
                    "type": "object",
                    "required": ["objects", "classifications", "relationships"],
                    "properties": {
                        "objects": {"type": "array", "items": {"$ref": "#/$defs/object"}},
                        "classifications": {
                            "type": "array",
                            "items": {"$ref": "#/$defs/classification"},
                        },
                        "relationships": {"type": "array"},
                    },
                },
            },
        },
        "object": {
            "type": "object",
            "required": ["feature_id", "feature_schema_id", "name", "annotation_kind"],
            "properties": {
                "annotation_kind": {"enum": ["ImageBoundingBox", "ImagePolygon"]},
                "bounding_box": {
                    "type": "object",
                    "required": ["top", "left", "height", "width"],
                    "additionalProperties": {"type": "number"},
                },
                "polygon": {"type": "array"},
                "classifications": {"type": "array"},
            },
        },
        "classification": {
            "type": "object",
            "required": ["feature_id", "feature_schema_id", "name", "value"],
            "oneOf": [
                {"required": ["radio_answer"]},
                {"required": ["checklist_answers"]},
                {"required": ["text_answer"]},
            ],
            "properties": {
                "radio_answer": _LB_ANSWER,
                "checklist_answers": {"type": "array", "items": _LB_ANSWER},
                "text_answer": {"type": "object", "required": ["content"]},
            },
        },
    },
}


@pytest.mark.parametrize(
    "name", ["labelbox_radio.ndjson", "labelbox_checklist.ndjson", "labelbox_boxes.ndjson"]
)
def test_labelbox_fixtures_follow_the_documented_export_format(name: str) -> None:
    lines = (VALID / name).read_text(encoding="utf-8").splitlines()
    assert lines
    for line in lines:
        jsonschema.validate(json.loads(line), LABELBOX_EXPORT_LINE)


def test_labelbox_radio_reads_answers_by_global_key_then_id() -> None:
    labels = read_labelbox_labels(VALID / "labelbox_radio.ndjson", classes=ANIMALS)
    assert labels.task == "classification" and labels.format == "labelbox"
    assert rows(VALID / "labelbox_radio.ndjson", classes=ANIMALS) == [
        ("img-1", "cat", "ana@example.test", utc("2024-04-08T16:34:02+00:00"), 1),
        # two labels that agree: the later one (ben's) is kept
        ("img-2", "dog", "ben@example.test", utc("2024-04-08T17:00:00+00:00"), 2),
        ("clrow03", "bird", "ben@example.test", utc("2024-04-09T08:15:30+00:00"), 3),
    ]
    assert labels.notes == (
        "line 4: data row not labeled yet",
        f"line 5: projects.{_builder().PROJECT}.labels[0] was skipped by the labeler",
    )


def test_labelbox_answer_class_is_the_option_value_unless_only_its_label_is_a_class() -> None:
    # options were made with lb.Option(value="cat", label="Cat"): the value is the class
    assert [r[1] for r in rows(VALID / "labelbox_radio.ndjson")] == ["cat", "dog", "bird"]
    labels = read_labelbox_labels(VALID / "labelbox_radio.ndjson", classes=["Cat", "Dog", "Bird"])
    assert labels.frame["label"].tolist() == ["Cat", "Dog", "Bird"]


def test_labelbox_key_option_names_rows_by_the_chosen_field() -> None:
    labels = read_labelbox_labels(VALID / "labelbox_radio.ndjson", key="id")
    assert labels.frame["data_row_id"].tolist() == ["clrow01", "clrow02", "clrow03"]
    with pytest.raises(LabelFileError, match=r"row 3, field 'data_row.global_key': empty or"):
        read_labelbox_labels(VALID / "labelbox_radio.ndjson", key="global_key")
    with pytest.raises(ValueError, match="key must be one of auto, global_key, id, external_id"):
        read_labelbox_labels(VALID / "labelbox_radio.ndjson", key="uid")


def test_labelbox_checklist_is_multilabel_in_class_order() -> None:
    assert rows(VALID / "labelbox_checklist.ndjson", classes=ANIMALS) == [
        ("img-11", ("cat", "dog"), "ana@example.test", utc("2024-04-08T16:34:02+00:00"), 1),
        ("img-12", (), "ana@example.test", utc("2024-04-08T17:00:00+00:00"), 2),
        ("img-13", (), "ben@example.test", utc("2024-04-09T08:15:30+00:00"), 3),
    ]


def test_labelbox_boxes_in_pixels_from_the_chosen_project() -> None:
    labels = read_labels(VALID / "labelbox_boxes.ndjson", project="Animals", classes=ANIMALS)
    assert labels.task == "detection"
    assert labels.frame["label"].tolist() == [
        [
            {"x": 5.0, "y": 5.0, "w": 20.0, "h": 10.0, "label": "dog"},
            {"x": 10.0, "y": 20.0, "w": 40.0, "h": 60.0, "label": "cat"},
        ],
        [],
        [{"x": 0.5, "y": 1.5, "w": 10.0, "h": 2.5, "label": "bird"}],
    ]
    assert any("objects[2] is not a bounding box" in note for note in labels.notes)
    other = read_labels(VALID / "labelbox_boxes.ndjson", project=_builder().OTHER_PROJECT)
    assert other.mapping() == {"img-23": [{"x": 0.0, "y": 0.0, "w": 1.0, "h": 1.0, "label": "cat"}]}


LABELBOX_BAD = [
    ("bad_json_line.ndjson", {}, r"bad_json_line.ndjson, row 2: malformed line: not valid JSON"),
    ("import_format.ndjson", {}, r"row 1, field 'dataRow': this is Labelbox import NDJSON"),
    ("missing_key.ndjson", {}, r"row 2, field 'data_row.id': empty or missing data row key"),
    (
        "conflict_in_line.ndjson",
        {},
        r"row 1, field '.*radio_answer': data row 'img-2' is labeled twice with different labels: "
        r"line 1 \(projects\.\w+\.labels\[0\]\) says 'cat', line 1 \(projects\.\w+\.labels\[1\]\) "
        r"says 'dog'",
    ),
    (
        "duplicate_row.ndjson",
        {},
        r"row 2: duplicate row: data row 'img-1' is labeled again with the same label \(first on "
        r"line 1",
    ),
    ("zero_width_box.ndjson", {}, r"row 1, field '.*objects\[0\]': width must be > 0, got 0"),
    ("mixed_kinds.ndjson", {}, r"several kinds of annotation: radio .*, bbox .*; give task="),
    (
        "two_questions.ndjson",
        {},
        r"several radio questions: animal, mood; choose one with question",
    ),
    ("two_projects.ndjson", {}, r"labels of several projects: \w+ \(Animals\), \w+ \(Animals QA\)"),
    ("two_projects.ndjson", {"project": "nope"}, r"no project with id or name 'nope'; found:"),
    ("bad_time.ndjson", {}, r"updated_at': not an ISO 8601 time: 'last tuesday'"),
    ("empty.ndjson", {}, r"empty.ndjson: the file is empty"),
]


@pytest.mark.parametrize(("name", "options", "match"), LABELBOX_BAD)
def test_malformed_labelbox_exports_are_refused(
    name: str, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(LabelFileError, match=match):
        read_labels(BAD / "labelbox" / name, **options)


def test_labelbox_task_and_question_pick_what_a_mixed_file_holds() -> None:
    mixed = BAD / "labelbox" / "mixed_kinds.ndjson"
    assert read_labels(mixed, task="classification").mapping() == {"img-4": "cat"}
    assert read_labels(mixed, task="detection").mapping() == {
        "img-4": [{"x": 1.0, "y": 1.0, "w": 3.0, "h": 3.0, "label": "cat"}]
    }
    two = BAD / "labelbox" / "two_questions.ndjson"
    assert read_labels(two, question="mood").mapping() == {"img-5": "dog"}
    with pytest.raises(LabelFileError, match=r"no radio question named 'age'; found: animal, mood"):
        read_labels(two, question="age")
    with pytest.raises(LabelFileError, match=r"task 'multilabel' reads checklist annotations"):
        read_labels(mixed, task="multilabel")


# -- Label Studio JSON export --------------------------------------------------------------------

_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
# Transcribed from Label Studio's docs, "Label Studio JSON format of annotated tasks" (task_format):
# a task with data, annotations (result, was_cancelled, completed_by, times) and predictions.
LABEL_STUDIO_EXPORT = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "data", "annotations"],
        "properties": {
            "id": {"type": "integer"},
            "data": {"type": "object"},
            "predictions": {"type": "array"},
            "annotations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "id",
                        "result",
                        "was_cancelled",
                        "completed_by",
                        "created_at",
                        "updated_at",
                    ],
                    "properties": {
                        "id": {"type": ["integer", "string"]},
                        "completed_by": {"type": ["integer", "object"]},
                        "was_cancelled": {"type": "boolean"},
                        "ground_truth": {"type": "boolean"},
                        "lead_time": {"type": ["number", "null"]},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "task": {"type": "integer"},
                        "result": {"type": "array", "items": {"$ref": "#/$defs/result"}},
                    },
                },
            },
        },
    },
    "$defs": {
        "result": {
            "type": "object",
            "required": ["from_name", "to_name", "type", "value"],
            "properties": {
                "id": {"type": "string"},
                "from_name": {"type": "string"},
                "to_name": {"type": "string"},
                "type": {"enum": ["choices", "rectanglelabels"]},
                "original_width": {"type": "integer"},
                "original_height": {"type": "integer"},
                "value": {"type": "object"},
            },
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "choices"}}},
                    "then": {
                        "properties": {
                            "value": {
                                "required": ["choices"],
                                "properties": {
                                    "choices": {"type": "array", "items": {"type": "string"}}
                                },
                            }
                        }
                    },
                },
                {
                    "if": {"properties": {"type": {"const": "rectanglelabels"}}},
                    "then": {
                        "required": ["original_width", "original_height"],
                        "properties": {
                            "value": {
                                "required": ["x", "y", "width", "height", "rectanglelabels"],
                                "properties": {
                                    "x": _PERCENT,
                                    "y": _PERCENT,
                                    "width": _PERCENT,
                                    "height": _PERCENT,
                                    "rotation": {"type": "number"},
                                    "rectanglelabels": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                    },
                                },
                            }
                        },
                    },
                },
            ],
        }
    },
}


@pytest.mark.parametrize(
    "name",
    ["labelstudio_choices.json", "labelstudio_multichoice.json", "labelstudio_boxes.json"],
)
def test_label_studio_fixtures_follow_the_documented_export_format(name: str) -> None:
    jsonschema.validate(json.loads((VALID / name).read_text(encoding="utf-8")), LABEL_STUDIO_EXPORT)


def test_label_studio_choices_skip_cancelled_and_unannotated_tasks() -> None:
    labels = read_labelstudio_labels(VALID / "labelstudio_choices.json", classes=ANIMALS)
    assert labels.task == "classification"
    assert rows(VALID / "labelstudio_choices.json") == [
        ("img-1", "cat", "1", utc("2024-03-09T22:16:08.728353+00:00"), 1),
        # two annotations agree: the later one, by an expanded user, is kept
        ("img-2", "dog", "ben@example.test", utc("2024-03-10T08:00:00+00:00"), 2),
        ("img-5", "bird", "2", utc("2024-03-09T22:16:08.728353+00:00"), 5),
    ]
    assert labels.notes == (
        "task 3: annotation 0 was cancelled (skipped), left out",
        "task 3: no annotation, left out",
        "task 4: no annotation, left out",
    )


def test_label_studio_several_choices_make_a_multilabel_file() -> None:
    labels = read_labels(VALID / "labelstudio_multichoice.json", classes=ANIMALS)
    assert labels.task == "multilabel"
    assert labels.mapping() == {"img-1": ("cat", "dog"), "img-2": ("bird",), "img-3": ()}


def test_label_studio_boxes_go_from_percent_to_pixels() -> None:
    # 640 x 480 image: x 10% = 64 px, y 20% = 96 px, w 5% = 32 px, h 10% = 48 px
    assert read_labels(VALID / "labelstudio_boxes.json").mapping() == {
        "img-1": [
            {"x": 64.0, "y": 96.0, "w": 32.0, "h": 48.0, "label": "cat"},
            {"x": 320.0, "y": 240.0, "w": 160.0, "h": 60.0, "label": "dog"},
        ],
        "img-2": [],
    }


LABEL_STUDIO_BAD = [
    (
        "object.json",
        {},
        r"object.json: holds a single JSON object; a Label Studio export is a JSON",
    ),
    ("json_min.json", {}, r"row 1: .*looks like Label Studio's JSON_MIN or CSV export"),
    ("missing_id.json", {}, r"row 2, field 'data.data_row_id': empty or missing data row id"),
    (
        "conflict.json",
        {},
        r"row 1, field 'annotations\[1\]\.result': data row 'img-3' is labeled twice with "
        r"different labels: task 1, annotation 0 says 'cat', task 1, annotation 1 says 'dog'",
    ),
    ("duplicate_task.json", {}, r"row 2: duplicate row: data row 'img-1' .* \(first on task 1,"),
    ("rotated_box.json", {}, r"rotation': rotated boxes are not supported, got 30"),
    (
        "box_without_size.json",
        {},
        r"result\[0\]': original_width must be a finite number, got None: a box in percent",
    ),
    ("bad_time.json", {}, r"row 1, field 'annotations\[0\].updated_at': not an ISO 8601 time"),
    ("two_controls.json", {}, r"several choices controls: choice, time; choose one with question"),
    ("not_json.json", {}, r"not_json.json: not valid JSON: .* \(line 1, column"),
]


@pytest.mark.parametrize(("name", "options", "match"), LABEL_STUDIO_BAD)
def test_malformed_label_studio_exports_are_refused(
    name: str, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(LabelFileError, match=match):
        read_labelstudio_labels(BAD / "labelstudio" / name, **options)


def test_label_studio_question_and_id_field_options() -> None:
    two = BAD / "labelstudio" / "two_controls.json"
    assert read_labels(two, question="time").mapping() == {"img-7": "day"}
    by_image = read_labels(VALID / "labelstudio_choices.json", id_field="image")
    assert by_image.frame["data_row_id"].iloc[0] == "/data/local-files/?d=images/img-1.png"
    with pytest.raises(LabelFileError, match=r"2 choices \['dog', 'cat'\] in a single-choice"):
        read_labels(VALID / "labelstudio_multichoice.json", task="classification")


# -- COCO ----------------------------------------------------------------------------------------


def test_coco_labels_match_what_pycocotools_loads() -> None:
    from pycocotools.coco import COCO

    coco = COCO(str(VALID / "coco.json"))
    expected = {}
    for image in coco.loadImgs(coco.getImgIds()):
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        expected[image["file_name"]] = sorted(
            (*map(float, a["bbox"]), coco.loadCats(a["category_id"])[0]["name"])
            for a in annotations
        )
    labels = read_coco_labels(VALID / "coco.json", classes=ANIMALS)
    assert labels.task == "detection" and labels.format == "coco"
    got = {
        row_id: sorted((b["x"], b["y"], b["w"], b["h"], b["label"]) for b in boxes)
        for row_id, boxes in labels.mapping().items()
    }
    assert got == expected
    assert got["b.png"] == []  # an image with no annotation: no objects
    assert labels.frame["labeled_by"].isna().all() and labels.frame["labeled_at"].isna().all()


def test_coco_empty_images_can_be_left_out() -> None:
    labels = read_labels(VALID / "coco.json", include_empty=False)
    assert labels.frame["data_row_id"].tolist() == ["a.png", "c.png"]


COCO_BAD = [
    ("results_array.json", r"holds a JSON array: COCO detection results"),
    ("unknown_image.json", r"row 4, field 'annotations.image_id': unknown image_id 99"),
    ("unknown_category.json", r"row 4, field 'annotations.category_id': unknown category_id 42"),
    ("bad_bbox.json", r"row 1, field 'annotations.bbox': w must be > 0, got -2"),
    ("duplicate_file_name.json", r"row 4, field 'images.file_name': duplicate file_name 'a.png'"),
    ("duplicate_annotation_id.json", r"row 4, field 'annotations.id': duplicate annotation id 1"),
    ("no_annotations_array.json", r"field 'annotations': a COCO annotations file needs an"),
]


@pytest.mark.parametrize(("name", "match"), COCO_BAD)
def test_malformed_coco_files_are_refused(name: str, match: str) -> None:
    with pytest.raises(LabelFileError, match=match):
        read_coco_labels(BAD / "coco" / name)


def test_coco_category_list_must_be_the_runs_class_list() -> None:
    with pytest.raises(
        LabelFileError,
        match=r"field 'categories': the file's class list differs from the run's \(not among the "
        r"run's classes: 'bird'; missing from the file: 'fish'\)",
    ):
        read_coco_labels(VALID / "coco.json", classes=["cat", "dog", "fish"])
    with pytest.raises(ValueError, match="COCO annotations are detection labels"):
        read_coco_labels(VALID / "coco.json", task="classification")


# -- CSV and Parquet -----------------------------------------------------------------------------


def test_csv_reads_optional_columns_and_converts_times_to_utc() -> None:
    assert rows(VALID / "labels.csv", classes=ANIMALS) == [
        ("img-1", "cat", "ana", utc("2024-04-08T16:34:02+00:00"), 1),
        ("img-2", "dog", "ben", utc("2024-04-08T17:00:00+00:00"), 2),
        ("img-3", "bird", None, None, 3),
    ]


def test_csv_multilabel_and_detection() -> None:
    labels = read_labels(VALID / "multilabel.csv", classes=ANIMALS)
    assert labels.task == "multilabel"
    assert labels.mapping() == {"img-1": ("cat", "dog"), "img-2": ("bird",), "img-3": ("cat",)}
    assert read_labels(VALID / "detection.csv").mapping() == {
        "a.png": [{"x": 10.0, "y": 5.0, "w": 20.0, "h": 10.0, "label": "dog"}],
        "b.png": [],
    }


def test_parquet_list_column_and_timestamps() -> None:
    assert rows(VALID / "multilabel.parquet", classes=ANIMALS) == [
        ("img-1", ("cat", "dog"), "ana", datetime(2024, 4, 8, 16, 24, 2, tzinfo=UTC), 1),
        ("img-2", (), None, None, 2),
        ("img-3", ("bird",), "ben", datetime(2024, 4, 9, 8, 15, 30, tzinfo=UTC), 3),
    ]
    assert read_parquet_labels(VALID / "labels.parquet").mapping() == {
        "img-1": "cat",
        "img-2": "dog",
    }


CSV_BAD = [
    ("ragged.csv", r"ragged.csv, row 2: malformed line: 3 field\(s\), the header has 2"),
    (
        "missing_label_column.csv",
        r"field 'label': missing column 'label'; found: data_row_id, class",
    ),
    ("empty_id.csv", r"row 1, field 'data_row_id': empty or missing data_row_id"),
    ("empty_label.csv", r"row 1, field 'label': empty label"),
    (
        "conflict.csv",
        r"row 3, field 'label': data row 'img-1' is labeled twice with different labels: row 1 "
        r"says 'cat', row 3 says 'dog'",
    ),
    ("duplicate.csv", r"row 2: duplicate row: data row 'img-1' .* \(first on row 1\)"),
    ("bad_time.csv", r"row 1, field 'labeled_at': not an ISO 8601 time: 'yesterday'"),
    ("empty.csv", r"empty.csv: the file is empty"),
    ("header_only.csv", r"header_only.csv: the file has a header but no rows"),
    ("bad_boxes.csv", r"row 1, field 'label\[0\]': w must be > 0, got 0"),
    ("unclosed_quote.csv", r"unclosed_quote.csv, row 1: malformed CSV line: unexpected end"),
    ("latin1.csv", r"latin1.csv: unreadable encoding: byte 0xe9 on line 2 is not UTF-8"),
]


@pytest.mark.parametrize(("name", "match"), CSV_BAD)
def test_malformed_csv_files_are_refused(name: str, match: str) -> None:
    with pytest.raises(LabelFileError, match=match):
        read_csv_labels(BAD / "csv" / name)


def test_malformed_parquet_files_are_refused() -> None:
    with pytest.raises(LabelFileError, match=r"field 'data_row_id': missing column 'data_row_id'"):
        read_labels(BAD / "parquet" / "missing_id.parquet")
    with pytest.raises(LabelFileError, match=r"corrupt.parquet: not a readable Parquet file"):
        read_labels(BAD / "parquet" / "corrupt.parquet")


def test_every_problem_is_listed_in_file_order() -> None:
    data = b"data_row_id,label\nimg-1,cat\n,dog\nimg-3,fish\nimg-1,dog\nimg-5,cat,extra\n"
    with pytest.raises(LabelFileError) as caught:
        read_csv_labels(data, filename="batch7.csv", classes=ANIMALS)
    assert [(p.row, p.field) for p in caught.value.problems] == [
        (2, "data_row_id"),
        (3, "label"),
        (4, "label"),
        (5, None),
    ]
    assert str(caught.value).startswith("Invalid labels file: 4 problem(s):\n  - batch7.csv, row 2")


# -- checks shared by every reader ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("labelbox_radio.ndjson", {}),
        ("labelstudio_choices.json", {}),
        ("coco.json", {}),
        ("labels.csv", {}),
        ("labels.parquet", {}),
    ],
)
def test_unknown_classes_and_ids_are_refused_by_every_reader(
    name: str, options: dict[str, Any]
) -> None:
    with pytest.raises(
        LabelFileError, match=r"unknown class .* the run's classes are 'ant'|differs"
    ):
        read_labels(VALID / name, classes=["ant"], **options)
    with pytest.raises(LabelFileError, match=r"unknown data row '.+': not among the rows"):
        read_labels(VALID / name, known_ids={"someone-else"}, **options)
    everything = read_labels(VALID / name, **options)
    known = set(everything.frame["data_row_id"])
    assert len(read_labels(VALID / name, known_ids=known, **options)) == len(everything)
    assert tuple(everything.frame.columns) == LABEL_COLUMNS


def test_the_shipped_batch_labels_read_against_run_001() -> None:
    from labelnext import load_run

    run = load_run(SAMPLE / "run_001")
    labels = read_labels(
        SAMPLE / "batch_001_labels.csv", classes=run.classes, known_ids=set(run.ids)
    )
    assert len(labels) == 300 and labels.task == "classification"
    truth = pd.read_csv(SAMPLE / "ground_truth.csv", dtype=str).set_index("data_row_id")["label"]
    assert labels.mapping() == truth[labels.frame["data_row_id"]].to_dict()
    assert set(labels.frame["labeled_by"]) == {"mnist-ground-truth"}
    assert set(labels.frame["labeled_at"]) == {datetime(2026, 11, 26, 15, 0, tzinfo=UTC)}


# -- format detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("labelbox_radio.ndjson", "labelbox"),
        ("labelstudio_boxes.json", "labelstudio"),
        ("coco.json", "coco"),
        ("labels.csv", "csv"),
        ("multilabel.parquet", "parquet"),
    ],
)
def test_format_is_recognised_from_the_content_without_a_name(name: str, fmt: str) -> None:
    data = (VALID / name).read_bytes()
    assert detect_label_format(data) == fmt
    assert detect_label_format(data, filename=f"upload{Path(name).suffix}") == fmt
    assert (
        len(
            read_labels(io.BytesIO(data), filename="upload", project="Animals")
            if fmt == "labelbox"
            else read_labels(data)
        )
        >= 2
    )


def test_refusals_of_files_that_are_not_labels() -> None:
    with pytest.raises(LabelFileError, match=r"COCO detection results \(a model's predictions"):
        read_labels(BAD / "coco" / "results_array.json")
    with pytest.raises(LabelFileError, match=r"a JSON object that is not a COCO file"):
        read_labels(b'{"hello": 1}', filename="x.json")
    with pytest.raises(
        LabelFileError, match=r"<upload>: file not found|missing.csv: file not found"
    ):
        read_labels(Path("/nonexistent/missing.csv"))
    with pytest.raises(ValueError, match=r"fmt must be one of labelbox, labelstudio, coco, csv"):
        read_labels(VALID / "labels.csv", fmt="yolo")
    with pytest.raises(ValueError, match=r"task must be one of classification, multilabel"):
        read_labels(VALID / "labels.csv", task="segmentation")
    with pytest.raises(TypeError, match=r"option\(s\) project do not apply to csv files"):
        read_labels(VALID / "labels.csv", project="p")
    with pytest.raises(TypeError, match=r"source must be a path, bytes or a binary file object"):
        read_labels(42)  # type: ignore[arg-type]


# -- labels as JSON ------------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
numbers = st.floats(min_value=0, max_value=1e4, allow_nan=False, width=32)
boxes = st.lists(
    st.fixed_dictionaries({"x": numbers, "y": numbers, "w": numbers, "h": numbers, "label": names}),
    max_size=4,
)


@given(
    st.one_of(
        names.map(lambda n: ("classification", n)),
        st.lists(names, max_size=4, unique=True).map(lambda n: ("multilabel", tuple(n))),
        boxes.map(lambda b: ("detection", b)),
    )
)
@settings(max_examples=200, deadline=None)
def test_label_json_round_trips(case: tuple[str, Any]) -> None:
    task, label = case
    back = label_from_json(label_to_json(label, task), task)
    if task == "detection":
        key = lambda b: (b["x"], b["y"], b["w"], b["h"], b["label"])  # noqa: E731
        assert back == sorted(
            ({k: (float(v) if k != "label" else v) for k, v in b.items()} for b in label), key=key
        )
    else:
        assert back == label


@given(
    st.dictionaries(
        st.text(
            st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
            min_size=1,
            max_size=10,
        ).filter(lambda s: s.strip() == s),
        st.sampled_from(ANIMALS),
        min_size=1,
        max_size=20,
    )
)
@settings(max_examples=100, deadline=None)
def test_any_csv_pandas_writes_reads_back_to_the_same_labels(labels: dict[str, str]) -> None:
    frame = pd.DataFrame({"data_row_id": list(labels), "label": list(labels.values())})
    data = frame.to_csv(index=False).encode("utf-8")
    assert read_csv_labels(data, classes=ANIMALS).mapping() == labels


# -- the vectorised path reads what the row-by-row path reads --------------------------------------

label_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp", "Zs")),
    min_size=1,
    max_size=6,
).filter(lambda s: "|" not in s and not s.startswith("["))
moments = st.one_of(
    st.just(""),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat()),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
        lambda d: d.isoformat(sep=" ")
    ),
)


@given(
    st.lists(
        st.tuples(label_text, st.sampled_from(["", "ana", "ben o'hara"]), moments),
        min_size=1,
        max_size=25,
    )
)
@settings(max_examples=150, deadline=None)
def test_the_vectorised_path_gives_the_row_by_row_table(cases: list[tuple[str, str, str]]) -> None:
    from labelnext.labels import tabular

    frame = pd.DataFrame(
        {
            "data_row_id": [f"row-{i}" for i in range(len(cases))],
            "label": [c[0] for c in cases],
            "labeled_by": [c[1] for c in cases],
            "labeled_at": [c[2] for c in cases],
        }
    )
    data = frame.to_csv(index=False).encode("utf-8")
    fast = tabular._fast_csv(data, "f.csv", None, None, None)
    assert fast is not None  # these files take the vectorised path
    problems = tabular.label_problems("f.csv")
    records = list(tabular._csv_records(data.decode("utf-8"), problems))
    slow = tabular._finish_records(records, problems, "csv", None, None, None)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert (fast.task, fast.classes) == (slow.task, slow.classes)
