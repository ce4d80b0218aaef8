"""Prediction records (what a submit stores per batch row), by hand and on the shipped samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from export_support import sample_batch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from labelnext.boxes import Boxes
from labelnext.errors import ExportError
from labelnext.export import prediction_record, prediction_records
from labelnext.export.records import TOP_CLASSES, number
from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.readers import load_run
from labelnext.runs import ModelRun


def _run(tmp_path: Path, task: str, **arrays: object) -> ModelRun:
    ids = np.array(["a", "b", "c"], dtype=object)
    images = np.array(["a.png", "https://x.test/b.png", None], dtype=object)
    base = {
        "name": "hand",
        "task": task,
        "classes": ("cat", "dog", "eel", "fox", "gnu", "hen"),
        "ids": ids,
        "probabilities": None,
        "metadata": pd.DataFrame(index=range(3)),
        "source": str(tmp_path),
        "content_hash": "0" * 64,
        "images": images,
        "image_root": tmp_path,
        "allowed_roots": (tmp_path,),
    }
    base.update(arrays)
    return ModelRun(**base)  # type: ignore[arg-type]


P = np.array(
    [
        [0.05, 0.6, 0.1, 0.1, 0.1, 0.05],
        [1 / 6] * 6,
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
    ],
    dtype=np.float32,
)


def test_classification_record_by_hand(tmp_path: Path) -> None:
    run = _run(tmp_path, "classification", probabilities=P)
    assert prediction_record(run, 0) == {
        "task": "classification",
        "label": "dog",
        "confidence": 0.6,
        # the top 5, most probable first, ties in class order
        "probabilities": {"dog": 0.6, "eel": 0.1, "fox": 0.1, "gnu": 0.1, "cat": 0.05},
        "image_path": str(tmp_path / "a.png"),
    }
    tie = prediction_record(run, 1)
    assert tie["label"] == "cat" and list(tie["probabilities"]) == [
        "cat",
        "dog",
        "eel",
        "fox",
        "gnu",
    ]
    assert tie["image_path"] is None  # a URL has no local path
    assert prediction_record(run, 2)["image_path"] is None  # no image


def test_top1_only_record(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        "classification",
        classes=("cat", "dog"),
        top1_labels=np.array(["dog", "cat", "dog"], dtype=object),
        top1_confidence=np.array([0.7, 0.51, 0.99], dtype=np.float32),
    )
    record = prediction_record(run, 1)
    assert record == {
        "task": "classification",
        "label": "cat",
        "confidence": 0.51,
        "image_path": None,
    }


def test_multilabel_record_by_hand(tmp_path: Path) -> None:
    p = np.array(
        [
            [0.9, 0.5, 0.49, 0.2, 0.1, 0.7],
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
            [0.6, 0.6, 0.6, 0.6, 0.6, 0.6],
        ],
        dtype=np.float32,
    )
    run = _run(tmp_path, "multilabel", probabilities=p, threshold=0.5)
    record = prediction_record(run, 0)
    # every class at or above 0.5, in class order; scores: the top 5, highest first
    assert record["labels"] == ["cat", "dog", "hen"]
    assert record["scores"] == {"cat": 0.9, "hen": 0.7, "dog": 0.5, "eel": 0.49, "fox": 0.2}
    assert record["threshold"] == 0.5
    assert prediction_record(run, 1)["labels"] == []
    assert len(prediction_record(run, 2)["scores"]) == 6  # all six are on: all six scores


def test_detection_record_reads_the_image_size_from_the_file(tmp_path: Path) -> None:
    Image.new("L", (40, 30)).save(tmp_path / "a.png")
    boxes = Boxes.from_arrays(
        row=[0, 0, 1],
        xywh=[[1.5, 2, 10, 5], [0, 0, 40, 30], [3, 3, 3, 3]],
        label=[2, 0, 1],
        score=[0.25, 0.9, 0.333333],
        n_rows=3,
    )
    run = _run(tmp_path, "detection", boxes=boxes)
    assert prediction_record(run, 0) == {
        "task": "detection",
        "boxes": [
            {"x": 1.5, "y": 2.0, "w": 10.0, "h": 5.0, "label": "eel", "score": 0.25},
            {"x": 0.0, "y": 0.0, "w": 40.0, "h": 30.0, "label": "cat", "score": 0.9},
        ],
        "image_width": 40,
        "image_height": 30,
        "image_path": str(tmp_path / "a.png"),
    }
    by_url = prediction_record(run, 1)  # an image by URL: no size
    assert (by_url["image_width"], by_url["image_height"]) == (None, None)
    assert by_url["boxes"][0]["score"] == 0.333333
    assert prediction_record(run, 2)["boxes"] == []


def test_detection_size_columns_win_over_the_file(tmp_path: Path) -> None:
    boxes = Boxes.from_arrays(row=[], xywh=np.zeros((0, 4)), label=[], score=[], n_rows=3)
    metadata = pd.DataFrame({"width": [640, 800, 0], "height": [480, 600, 0]})
    run = _run(tmp_path, "detection", boxes=boxes, metadata=metadata)
    assert prediction_record(run, 1)["image_width"] == 800  # a URL image, sized by its columns
    assert prediction_record(run, 2)["image_width"] is None  # 0 is no size


def test_records_are_json_and_named_rows_come_back_in_order(tmp_path: Path) -> None:
    run = _run(tmp_path, "classification", probabilities=P)
    records = prediction_records(run, ["c", "a"])
    assert [r["label"] for r in records] == ["hen", "dog"]
    assert json.loads(json.dumps(records)) == records


def test_bad_rows_are_refused(tmp_path: Path) -> None:
    run = _run(tmp_path, "classification", probabilities=P)
    with pytest.raises(ExportError, match=r"row: 3 is out of range for a run of 3 rows"):
        prediction_record(run, 3)
    with pytest.raises(ExportError, match=r"row: expected a row position \(int\), got 'a'"):
        prediction_record(run, "a")  # type: ignore[arg-type]
    with pytest.raises(ExportError, match=r"data_row_ids: 2 id\(s\) are not rows of run 'hand':"):
        prediction_records(run, ["a", "zz", "yy"])


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1, width=32))
def test_numbers_read_back_to_the_same_float32(value: float) -> None:
    assert np.float32(number(value)) == np.float32(value)
    assert len(repr(number(value))) <= len(repr(float(np.float32(value))))


@pytest.mark.parametrize("sample", ["mnist/run_001", "mnist_detect", "mnist_multilabel"])
def test_records_of_the_samples_agree_with_the_run(sample: str) -> None:
    run = load_run(SAMPLE_DATA_DIR / sample)
    batch = sample_batch(sample, k=20)
    for data_row_id, record in zip(batch.rows["data_row_id"], batch.records, strict=True):
        i = run.row_index(data_row_id)
        assert record is not None and record["task"] == run.task
        assert record["image_path"] == str(run.image_location(i))
        if run.task == "classification":
            assert run.probabilities is not None
            assert record["label"] == run.predicted_labels[i]
            assert record["confidence"] == pytest.approx(run.probabilities[i].max())
            assert len(record["probabilities"]) == TOP_CLASSES
        elif run.task == "multilabel":
            assert run.probabilities is not None
            on = [c for c, p in zip(run.classes, run.probabilities[i], strict=True) if p >= 0.5]
            assert record["labels"] == on
        else:
            assert run.boxes is not None
            part = run.boxes.of(i)
            xywh = [[b["x"], b["y"], b["w"], b["h"]] for b in record["boxes"]]
            np.testing.assert_allclose(xywh, run.boxes.xywh[part].reshape(-1, 4))
            assert (record["image_width"], record["image_height"]) == (128, 128)
