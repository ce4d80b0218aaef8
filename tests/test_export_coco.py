"""COCO exports for CVAT and other COCO importers, read back with pycocotools."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from export_support import make_info, sample_batch

from labelnext.errors import ExportError
from labelnext.export import ExportBatch, render
from labelnext.export.coco import COCO_ANNOTATIONS

COCO = pytest.importorskip("pycocotools.coco").COCO


def _open(data: bytes, tmp_path: Path) -> tuple[zipfile.ZipFile, Any]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    target = tmp_path / "instances.json"
    target.write_bytes(archive.read(COCO_ANNOTATIONS))
    return archive, COCO(str(target))


def test_pycocotools_reads_the_batchs_boxes(tmp_path: Path) -> None:
    batch = sample_batch("mnist_detect", k=30)
    _, coco = _open(render(batch, "coco"), tmp_path)
    categories = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert list(categories.values()) == list(batch.classes)
    images = coco.loadImgs(coco.getImgIds())
    assert [i["labelnext_data_row_id"] for i in images] == list(batch.rows["data_row_id"])
    assert [i["file_name"] for i in images] == list(batch.rows["image"])
    for image, record in zip(images, batch.records, strict=True):
        assert record is not None
        assert (image["width"], image["height"]) == (record["image_width"], record["image_height"])
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        assert [
            (a["bbox"], categories[a["category_id"]], a["score"], a["area"], a["iscrowd"])
            for a in annotations
        ] == [
            ([b["x"], b["y"], b["w"], b["h"]], b["label"], b["score"], b["w"] * b["h"], 0)
            for b in record["boxes"]
        ]
    assert len(coco.getAnnIds()) == sum(len(r["boxes"]) for r in batch.records if r)


def test_the_zip_carries_the_images_under_their_file_names(tmp_path: Path) -> None:
    batch = sample_batch("mnist_detect", k=5)
    archive, _ = _open(render(batch, "coco"), tmp_path)
    names = sorted(n for n in archive.namelist() if n.startswith("images/"))
    assert names == sorted(f"images/{image}" for image in batch.rows["image"])
    first = batch.records[0]
    assert first is not None
    assert (
        archive.read(f"images/{batch.rows['image'][0]}") == Path(first["image_path"]).read_bytes()
    )
    readme = archive.read("README.txt").decode()
    assert "5 of the 5 image files" in readme and "COCO 1.0" in readme


def test_images_that_cannot_be_carried_are_listed(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "data_row_id": ["a", "b", "c"],
            "image": ["https://x.test/a.png", "../b.png", "c.png"],
            "prediction": [
                {"task": "detection", "boxes": [], "image_width": 4, "image_height": 3}
                for _ in range(3)
            ],
        }
    )
    batch = ExportBatch(make_info(2), rows, "detection", ("1",))
    archive, coco = _open(render(batch, "coco"), tmp_path)
    assert [n for n in archive.namelist() if n.startswith("images/")] == []
    readme = archive.read("README.txt").decode()
    assert "0 of the 3 image files (not included: https://x.test/a.png, ../b.png, c.png)" in readme
    assert len(coco.getImgIds()) == 3 and coco.getAnnIds() == []


def test_a_detection_row_needs_its_image_size(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "data_row_id": ["a"],
            "image": ["https://x.test/a.png"],
            "prediction": [{"task": "detection", "boxes": [], "image_width": None}],
        }
    )
    batch = ExportBatch(make_info(2), rows, "detection", ("1",))
    with pytest.raises(ExportError, match=r"row 'a': a COCO image needs an image size"):
        render(batch, "coco")


def test_coco_is_deterministic_and_json(tmp_path: Path) -> None:
    batch = sample_batch("mnist_detect", k=4)
    first = render(batch, "coco")
    assert render(batch, "coco") == first
    dataset = json.loads(zipfile.ZipFile(io.BytesIO(first)).read(COCO_ANNOTATIONS))
    assert dataset["info"]["labelnext"]["batch_id"] == 1
    assert [c["id"] for c in dataset["categories"]] == list(range(1, 11))
