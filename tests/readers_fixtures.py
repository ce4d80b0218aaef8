"""Small prediction files in foreign formats, with values chosen so that tests can work the
expected ranking out by hand.

The Labelbox files in ``tests/fixtures/labelbox/`` are written by the labelbox SDK's own
serializer (``NDJsonConverter.serialize``), with fixed annotation uuids so that they are
reproducible. Rebuild them with ``.venv/bin/python tests/readers_fixtures.py`` (needs
``labelbox[data]``); ``test_formats.py`` checks that the SDK still writes exactly these bytes.
COCO and YOLO fixtures are written into a test's ``tmp_path``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

LABELBOX_DIR = Path(__file__).parent / "fixtures" / "labelbox"

# --------------------------------------------------------------------------------------------
# Labelbox: (data row id or global key, answer / boxes) per row

# radio question "digit", rows by data row id: (row, answer, confidence)
RADIO = [
    ("ck-a", "7", 0.91),
    ("ck-b", "1", 0.55),
    ("ck-c", "7", 0.30),
    ("ck-d", "3", 0.55),  # ties with ck-b: the id breaks the tie
    ("ck-e", "1", 0.99),
]
# checklist question "contains", rows by global key: (row, [(answer, confidence)])
CHECKLIST = [
    ("img/a.png", [("cat", 0.9), ("dog", 0.2)]),
    ("img/b.png", [("dog", 0.55)]),
    ("img/c.png", [("bird", 0.97), ("cat", 0.03)]),
]
# bounding boxes, rows by data row id: (row, [(tool name, (x0, y0, x1, y1), confidence)])
BOXES = [
    ("ck-1", [("cat", (10, 20, 50, 80), 0.9), ("dog", (5, 5, 25, 15), 0.4)]),
    ("ck-2", [("dog", (0, 0, 100, 50), 0.8)]),
    (
        "ck-3",
        [("cat", (30, 30, 40, 45), 0.65), ("cat", (1, 1, 2, 2), 0.95), ("dog", (3, 4, 9, 9), 0.6)],
    ),
]
# a file mixing kinds: every BOXES row, plus a radio "quality" answer on ck-1..ck-4
MIXED_RADIO = [
    ("ck-1", "good", 0.8),
    ("ck-2", "bad", 0.6),
    ("ck-3", "good", 0.7),
    ("ck-4", "bad", 0.9),
]


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def labelbox_labels(kind: str) -> list[Any]:
    """The SDK ``Label`` objects of fixture ``kind`` (radio, checklist, boxes, mixed)."""
    import labelbox.types as lb

    counter = iter(range(1, 1000))

    def radio(question: str, answer: str, confidence: float) -> Any:
        return lb.ClassificationAnnotation(
            name=question,
            value=lb.Radio(answer=lb.ClassificationAnswer(name=answer, confidence=confidence)),
            extra={"uuid": _uuid(next(counter))},
        )

    def box(name: str, corners: tuple[int, int, int, int], confidence: float) -> Any:
        x0, y0, x1, y1 = corners
        return lb.ObjectAnnotation(
            name=name,
            value=lb.Rectangle(start=lb.Point(x=x0, y=y0), end=lb.Point(x=x1, y=y1)),
            confidence=confidence,
            extra={"uuid": _uuid(next(counter))},
        )

    if kind == "radio":
        return [
            lb.Label(data=lb.GenericDataRowData(uid=row), annotations=[radio("digit", a, c)])
            for row, a, c in RADIO
        ]
    if kind == "checklist":
        return [
            lb.Label(
                data=lb.GenericDataRowData(global_key=row),
                annotations=[
                    lb.ClassificationAnnotation(
                        name="contains",
                        value=lb.Checklist(
                            answer=[
                                lb.ClassificationAnswer(name=a, confidence=c) for a, c in answers
                            ]
                        ),
                        extra={"uuid": _uuid(next(counter))},
                    )
                ],
            )
            for row, answers in CHECKLIST
        ]
    if kind == "boxes":
        return [
            lb.Label(
                data=lb.GenericDataRowData(uid=row),
                annotations=[box(name, corners, c) for name, corners, c in boxes],
            )
            for row, boxes in BOXES
        ]
    if kind == "mixed":
        boxes_of = dict(BOXES)
        return [
            lb.Label(
                data=lb.GenericDataRowData(uid=row),
                annotations=[
                    radio("quality", a, c),
                    *(box(name, corners, conf) for name, corners, conf in boxes_of.get(row, [])),
                ],
            )
            for row, a, c in MIXED_RADIO
        ]
    raise ValueError(kind)


def serialize_labelbox(kind: str) -> str:
    """Fixture ``kind`` as NDJSON text, written by the labelbox SDK's serializer."""
    from labelbox.data.serialization import NDJsonConverter

    lines = NDJsonConverter.serialize(labelbox_labels(kind))
    return "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)


LABELBOX_KINDS = ("radio", "checklist", "boxes", "mixed")


# --------------------------------------------------------------------------------------------
# COCO: categories out of id order, an image without results

COCO = {
    "images": [
        {"id": 10, "file_name": "a.jpg", "width": 100, "height": 80},
        {"id": 11, "file_name": "b.jpg", "width": 100, "height": 80},
        {"id": 12, "file_name": "c.jpg", "width": 100, "height": 80},
    ],
    "categories": [
        {"id": 3, "name": "car"},
        {"id": 1, "name": "person"},
        {"id": 7, "name": "dog"},
    ],
    "annotations": [],
}
COCO_RESULTS = [
    {"image_id": 10, "category_id": 3, "bbox": [1, 2, 30, 40], "score": 0.9},
    {"image_id": 11, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.3},
    {"image_id": 10, "category_id": 7, "bbox": [5, 5, 5, 5], "score": 0.5},
    {"image_id": 11, "category_id": 3, "bbox": [2.5, 3.5, 4, 4], "score": 0.6},
]


def write_coco(folder: Path, *, run_json: dict[str, Any] | None = None) -> Path:
    """coco.json + results.json (+ run.json) in ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "coco.json").write_text(json.dumps(COCO), encoding="utf-8")
    (folder / "results.json").write_text(json.dumps(COCO_RESULTS), encoding="utf-8")
    if run_json is not None:
        (folder / "run.json").write_text(json.dumps(run_json), encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------
# YOLO: images of different sizes, one in a subfolder, one without a label file, one empty

YOLO_IMAGES = {"a.png": (200, 100), "sub/b.png": (64, 64), "c.png": (32, 32), "d.png": (16, 16)}
YOLO_LABELS = {
    "a.txt": "0 0.5 0.5 0.2 0.4 0.9\n1 0.25 0.75 0.1 0.1 0.35\n",
    "sub/b.txt": "1 0.5 0.5 1 1 0.6\n",
    "d.txt": "",
}


def write_yolo(
    folder: Path,
    *,
    classes_txt: str | None = "cat\ndog\n",
    labels: dict[str, str] | None = None,
    images: dict[str, tuple[int, int]] | None = None,
) -> Path:
    """images/, labels/ and classes.txt in ``folder``; returns the folder."""
    for name, size in (YOLO_IMAGES if images is None else images).items():
        path = folder / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", size, color=128).save(path)
    for name, text in (YOLO_LABELS if labels is None else labels).items():
        path = folder / "labels" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    if classes_txt is not None:
        (folder / "classes.txt").write_text(classes_txt, encoding="utf-8")
    return folder


if __name__ == "__main__":
    LABELBOX_DIR.mkdir(parents=True, exist_ok=True)
    for fixture in LABELBOX_KINDS:
        target = LABELBOX_DIR / f"{fixture}.ndjson"
        target.write_text(serialize_labelbox(fixture), encoding="utf-8")
        print(f"wrote {target}")
