"""Write the containment corpus: run folders whose files name paths outside the run folder.

One folder per case, each naming one path that leaves the run folder and the allowed roots (an
absolute path, a ``..`` path, a symbolic link): run.json ``predictions``, ``image_root``, COCO
``coco``, YOLO ``labels``, Labelbox ``image_root``, and links in place of files. The files the
cases point at beside the case folders (``outside*``) are valid inputs, so a case that is not
refused would load. ``tests/test_readers_containment.py`` holds what each refusal must say.
Rebuild with ``.venv/bin/python tests/malformed_paths/make_paths_cases.py`` (symbolic links are
committed as links).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from PIL import Image

HERE = Path(__file__).parent
PREDICTIONS = "data_row_id,image,prob_cat,prob_dog\na,a.png,0.6,0.4\nb,b.png,0.3,0.7\n"
COCO_FILE = {
    "images": [{"id": 1, "file_name": "a.png"}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
}
COCO_RESULTS = [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]
YOLO_LABEL = "0 0.5 0.5 0.2 0.2 0.9\n"
LABELBOX_LINE = {
    "name": "digit",
    "answer": {"name": "7", "confidence": 0.9},
    "dataRow": {"globalKey": "a.png"},
}
MISSING = "/nonexistent-labelnext-outside"

# case -> (run.json or None, {file: text, or ("link", target)})
CASES: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "predictions_absolute_existing": ({"predictions": "/etc/passwd"}, {}),
    "predictions_absolute_missing": ({"predictions": f"{MISSING}/secret.csv"}, {}),
    "predictions_climbs_out": ({"predictions": "../outside.csv"}, {}),
    "image_root_absolute_existing": (
        {"predictions": "predictions.csv", "image_root": "/etc"},
        {"predictions.csv": PREDICTIONS},
    ),
    "image_root_absolute_missing": (
        {"predictions": "predictions.csv", "image_root": f"{MISSING}/images"},
        {"predictions.csv": PREDICTIONS},
    ),
    "image_root_climbs_out": (
        {"predictions": "predictions.csv", "image_root": "../outside_images"},
        {"predictions.csv": PREDICTIONS},
    ),
    "coco_file_outside": (
        {"format": "coco", "coco": "../outside_coco.json", "predictions": "results.json"},
        {"results.json": json.dumps(COCO_RESULTS)},
    ),
    "coco_file_absolute_missing": (
        {"format": "coco", "coco": f"{MISSING}/coco.json", "predictions": "results.json"},
        {"results.json": json.dumps(COCO_RESULTS)},
    ),
    "yolo_labels_outside": (
        {"format": "yolo", "labels": "../outside_labels"},
        {"classes.txt": "cat\ndog\n", "images/a.png": "png"},
    ),
    "labelbox_image_root_outside": (
        {"format": "labelbox", "predictions": "predictions.ndjson", "image_root": "/etc"},
        {"predictions.ndjson": json.dumps(LABELBOX_LINE) + "\n"},
    ),
    "linked_predictions": ({}, {"predictions.csv": ("link", "../outside.csv")}),
    "linked_run_json": (None, {"run.json": ("link", "../outside_run.json")}),
    "yolo_linked_image": (
        None,
        {
            "classes.txt": "cat\ndog\n",
            "images/a.png": ("link", "../../outside_images/a.png"),
            "labels/a.txt": YOLO_LABEL,
        },
    ),
    "yolo_linked_label": (
        None,
        {
            "classes.txt": "cat\ndog\n",
            "images/a.png": "png",
            "labels/a.txt": ("link", "../../outside_labels/a.txt"),
        },
    ),
    "yolo_linked_image_folder": (
        None,
        {"classes.txt": "cat\ndog\n", "images": ("link", "../outside_images"), "labels/a.txt": ""},
    ),
    "coco_pair_linked_results": (
        None,
        {"coco.json": json.dumps(COCO_FILE), "results.json": ("link", "../outside_results.json")},
    ),
}


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)


def main() -> None:
    # what the cases point at: valid inputs outside every case folder
    (HERE / "outside.csv").write_text(PREDICTIONS)
    (HERE / "outside_run.json").write_text(json.dumps({"predictions": "/etc/passwd"}))
    (HERE / "outside_coco.json").write_text(json.dumps(COCO_FILE))
    (HERE / "outside_results.json").write_text(json.dumps(COCO_RESULTS))
    _png(HERE / "outside_images" / "a.png")
    (HERE / "outside_labels").mkdir(exist_ok=True)
    (HERE / "outside_labels" / "a.txt").write_text(YOLO_LABEL)
    for name, (run_json, files) in CASES.items():
        folder = HERE / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        if run_json is not None:
            (folder / "run.json").write_text(json.dumps(run_json, indent=1) + "\n")
        for rel, content in files.items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, tuple):
                os.symlink(content[1], target)
            elif rel.endswith(".png"):
                _png(target)
            else:
                target.write_text(content)
    print(f"wrote {len(CASES)} cases to {HERE}")


if __name__ == "__main__":
    main()
