"""Write the malformed corpus of the foreign-format readers (COCO, YOLO, Labelbox NDJSON).

One case per file or folder, each with one thing wrong; ``tests/test_formats.py`` holds what
each error must say (file, row or line, field). Rebuild with
``.venv/bin/python tests/malformed_formats/make_formats_cases.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from PIL import Image

HERE = Path(__file__).parent

# --------------------------------------------------------------------------------------------
# COCO: a run folder (run.json + coco.json + results.json) per case

COCO_FILE = {
    "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
}
RUN_JSON = {"format": "coco", "coco": "coco.json", "predictions": "results.json"}
OK = {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}

COCO_CASES: dict[str, dict[str, Any]] = {
    "bad_bbox": {"results": [OK, {**OK, "bbox": [1, 2, 3]}]},
    "zero_width_bbox": {"results": [OK, {**OK, "bbox": [0, 0, 0, 5]}]},
    "score_above_one": {"results": [{**OK, "score": 1.5}]},
    "missing_score": {"results": [OK, {k: v for k, v in OK.items() if k != "score"}]},
    "unknown_category": {"results": [OK, {**OK, "category_id": 9}]},
    "unknown_image": {"results": [OK, OK, {**OK, "image_id": 99}]},
    "results_not_json": {"results_text": '[{"image_id": 1,\n  "bbox": ]\n'},
    "results_is_object": {"results": COCO_FILE},
    "duplicate_file_name": {
        "coco": {
            **COCO_FILE,
            "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "a.png"}],
        }
    },
    "category_without_name": {
        "coco": {**COCO_FILE, "categories": [{"id": 1, "name": "cat"}, {"id": 2}]}
    },
    "missing_categories": {"coco": {"images": COCO_FILE["images"]}},
    "classes_mismatch": {"run": {**RUN_JSON, "classes": ["dog", "cat"]}},
    "run_json_without_coco": {"run": {"format": "coco", "predictions": "results.json"}},
}

# --------------------------------------------------------------------------------------------
# YOLO: a folder (images/, labels/, classes.txt) per case

YOLO_CASES: dict[str, dict[str, Any]] = {
    "wrong_field_count": {"labels": {"a.txt": "0 0.5 0.5 0.2 0.2 0.9\n0 0.5 0.5 0.2 0.2\n"}},
    "non_numeric": {"labels": {"a.txt": "0 0.5 abc 0.2 0.2 0.9\n"}},
    "class_out_of_range": {"labels": {"a.txt": "0 0.5 0.5 0.2 0.2 0.9\n2 0.5 0.5 0.2 0.2 0.9\n"}},
    "coordinate_outside": {"labels": {"a.txt": "0 0.5 0.5 1.2 0.2 0.9\n"}},
    "conf_outside": {"labels": {"b.txt": "1 0.5 0.5 0.2 0.2 1.3\n"}},
    "label_without_image": {"labels": {"a.txt": "0 0.5 0.5 0.2 0.2 0.9\n", "c.txt": ""}},
    "no_class_names": {"classes": None},
    "classes_blank_line": {"classes": "cat\n\ndog\n"},
    "unreadable_image": {"broken_image": "a.png"},
    "data_yaml_bad_indices": {"classes": None, "data_yaml": "names:\n  0: cat\n  2: dog\n"},
}

# --------------------------------------------------------------------------------------------
# Labelbox NDJSON: one file per case (the first line is always well formed, as sniffing reads it)

RADIO_OK = {"name": "digit", "answer": {"name": "7", "confidence": 0.9}, "dataRow": {"id": "r1"}}
BOX_OK = {
    "name": "cat",
    "bbox": {"top": 1, "left": 2, "height": 3, "width": 4},
    "confidence": 0.5,
    "dataRow": {"id": "r1"},
}
CHECK_OK = {
    "name": "contains",
    "answer": [{"name": "cat", "confidence": 0.9}],
    "dataRow": {"globalKey": "a.png"},
}


def _row(line: dict[str, Any], row: str) -> dict[str, Any]:
    return {**line, "dataRow": {"id": row}}


LABELBOX_CASES: dict[str, list[Any]] = {
    "bad_json_line": [RADIO_OK, '{"name": "digit", "answer": '],
    "missing_data_row": [RADIO_OK, {k: v for k, v in RADIO_OK.items() if k != "dataRow"}],
    "empty_global_key": [RADIO_OK, {**RADIO_OK, "dataRow": {"globalKey": ""}}],
    "both_id_and_global_key": [RADIO_OK, {**RADIO_OK, "dataRow": {"id": "r2", "globalKey": "k"}}],
    "missing_name": [RADIO_OK, {k: v for k, v in _row(RADIO_OK, "r2").items() if k != "name"}],
    "radio_confidence_above_one": [
        RADIO_OK,
        _row(RADIO_OK, "r2"),
        {**_row(RADIO_OK, "r3"), "answer": {"name": "1", "confidence": 1.2}},
    ],
    "radio_without_confidence": [RADIO_OK, {**_row(RADIO_OK, "r2"), "answer": {"name": "1"}}],
    "duplicate_radio": [RADIO_OK, _row(RADIO_OK, "r2"), RADIO_OK],
    "two_questions": [RADIO_OK, {**_row(RADIO_OK, "r2"), "name": "quality"}],
    "checklist_missing_confidence": [
        CHECK_OK,
        {
            **CHECK_OK,
            "dataRow": {"globalKey": "b.png"},
            "answer": [{"name": "cat", "confidence": 0.2}, {"name": "dog"}],
        },
    ],
    "checklist_duplicate_answer": [
        CHECK_OK,
        {
            **CHECK_OK,
            "dataRow": {"globalKey": "b.png"},
            "answer": [{"name": "dog", "confidence": 0.2}, {"name": "dog", "confidence": 0.3}],
        },
    ],
    "bbox_negative_width": [BOX_OK, {**BOX_OK, "bbox": {**BOX_OK["bbox"], "width": -4}}],
    "bbox_non_numeric_top": [
        BOX_OK,
        _row(BOX_OK, "r2"),
        {**BOX_OK, "bbox": {**BOX_OK["bbox"], "top": "1"}},
    ],
    "bbox_without_confidence": [BOX_OK, {k: v for k, v in BOX_OK.items() if k != "confidence"}],
    "mixed_kinds": [RADIO_OK, BOX_OK],
    "polygon": [
        BOX_OK,
        {"name": "cat", "polygon": [{"x": 1, "y": 2}, {"x": 3, "y": 4}], "dataRow": {"id": "r2"}},
    ],
}


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")


def _png(path: Path, size: tuple[int, int] = (8, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, color=200).save(path)


def main() -> None:
    for kind in ("coco", "yolo", "labelbox"):
        shutil.rmtree(HERE / kind, ignore_errors=True)

    for name, case in COCO_CASES.items():
        folder = HERE / "coco" / name
        folder.mkdir(parents=True)
        _write_json(folder / "run.json", case.get("run", RUN_JSON))
        _write_json(folder / "coco.json", case.get("coco", COCO_FILE))
        if "results_text" in case:
            (folder / "results.json").write_text(case["results_text"], encoding="utf-8")
        else:
            _write_json(folder / "results.json", case.get("results", [OK]))
    _write_json(HERE / "coco" / "bare_results.json", [OK])

    for name, case in YOLO_CASES.items():
        folder = HERE / "yolo" / name
        for image in ("a.png", "b.png"):
            _png(folder / "images" / image)
        if "broken_image" in case:
            (folder / "images" / case["broken_image"]).write_bytes(b"not an image")
        (folder / "labels").mkdir(parents=True)
        labels = case.get("labels", {"a.txt": "0 0.5 0.5 0.2 0.2 0.9\n"})
        for file, text in labels.items():
            (folder / "labels" / file).write_text(text, encoding="utf-8")
        classes = case.get("classes", "cat\ndog\n")
        if classes is not None:
            (folder / "classes.txt").write_text(classes, encoding="utf-8")
        if "data_yaml" in case:
            (folder / "data.yaml").write_text(case["data_yaml"], encoding="utf-8")

    (HERE / "labelbox").mkdir()
    for name, lines in LABELBOX_CASES.items():
        text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
        (HERE / "labelbox" / f"{name}.ndjson").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
