"""Label Studio bundles by hand: the config, the tasks, percent boxes. The real server's verdict
is in ``test_export_labelstudio_server.py``."""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pandas as pd
import pytest
from export_support import REPO, make_info, sample_batch
from labelstudio_server import START_TIMEOUT_S, Costs, LabelStudioServer

from labelnext.errors import ExportError
from labelnext.export import ExportBatch, labelstudio_config, render


def _bundle(batch: ExportBatch, **options: Any) -> tuple[ElementTree.Element, list[Any], str]:
    archive = zipfile.ZipFile(io.BytesIO(render(batch, "labelstudio", **options)))
    assert archive.namelist() == ["tasks.json", "config.xml", "README.txt"]
    config = ElementTree.fromstring(archive.read("config.xml"))
    return config, json.loads(archive.read("tasks.json")), archive.read("README.txt").decode()


def _batch(
    task: str, records: list[dict[str, Any] | None], classes: tuple[str, ...]
) -> ExportBatch:
    rows = pd.DataFrame(
        {
            "data_row_id": [f"r{k}" for k in range(len(records))],
            "image": [f"https://x.test/{k}.png" for k in range(len(records))],
            "confidence": [0.25] * len(records),
            "prediction": records,
        }
    )
    return ExportBatch(make_info(4, name="hand"), rows, task, classes)


@pytest.mark.parametrize(
    ("task", "tag", "choice"),
    [("classification", "Choices", "single"), ("multilabel", "Choices", "multiple")],
)
def test_config_for_choices(task: str, tag: str, choice: str) -> None:
    view = ElementTree.fromstring(labelstudio_config(task, ["a", 'b"<&>', "ü"]))
    image, control = list(view)
    assert (image.tag, image.attrib) == ("Image", {"name": "image", "value": "$image"})
    assert control.tag == tag
    assert control.attrib["name"] == "choice" and control.attrib["toName"] == "image"
    assert control.attrib["choice"] == choice
    assert [c.attrib["value"] for c in control] == ["a", 'b"<&>', "ü"]  # escaped, read back


def test_config_for_boxes_and_errors() -> None:
    view = ElementTree.fromstring(labelstudio_config("detection", ["1", "2"]))
    control = view[1]
    assert (control.tag, control.attrib) == (
        "RectangleLabels",
        {"name": "label", "toName": "image"},
    )
    assert [c.attrib["value"] for c in control] == ["1", "2"]
    with pytest.raises(ExportError, match=r"classes: a labeling config needs at least one class"):
        labelstudio_config("detection", [])
    with pytest.raises(ExportError, match=r"task: 'keypoints' has no Label Studio config"):
        labelstudio_config("keypoints", ["1"])


def test_classification_task_by_hand() -> None:
    records = [
        {"task": "classification", "label": "7", "confidence": 0.61, "probabilities": {}},
        {"task": "classification", "label": None, "confidence": None},
        None,
    ]
    _, tasks, _ = _bundle(_batch("classification", records, ("3", "7")))
    assert tasks[0] == {
        "data": {"image": "https://x.test/0.png", "data_row_id": "r0"},
        "predictions": [
            {
                "model_version": "logreg:1",
                "score": 0.25,
                "result": [
                    {
                        "from_name": "choice",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": ["7"]},
                        "score": 0.61,
                    }
                ],
            }
        ],
    }
    assert tasks[1]["predictions"] == tasks[2]["predictions"] == []


def test_multilabel_task_holds_every_class_over_the_threshold() -> None:
    records = [
        {"task": "multilabel", "labels": ["1", "5"], "scores": {"1": 0.8, "5": 0.7, "2": 0.1}},
        {"task": "multilabel", "labels": [], "scores": {"2": 0.1}},
    ]
    _, tasks, _ = _bundle(_batch("multilabel", records, ("1", "2", "5")))
    (result,) = tasks[0]["predictions"][0]["result"]
    assert result["value"] == {"choices": ["1", "5"]} and result["type"] == "choices"
    assert tasks[1]["predictions"] == []  # nothing over the threshold: no "(none)"


def test_boxes_in_percent_of_the_image_clipped_to_it() -> None:
    record = {
        "task": "detection",
        "boxes": [
            {"x": 10, "y": 20, "w": 50, "h": 40, "label": "2", "score": 0.9},
            {"x": -4, "y": 150, "w": 30, "h": 100, "label": "1", "score": 0.3},
        ],
        "image_width": 200,
        "image_height": 200,
    }
    _, tasks, _ = _bundle(_batch("detection", [record, {**record, "boxes": []}], ("1", "2")))
    first, second = tasks[0]["predictions"][0]["result"]
    assert first == {
        "id": "box1",
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 200,
        "original_height": 200,
        "image_rotation": 0,
        "value": {
            "x": 5.0,
            "y": 10.0,
            "width": 25.0,
            "height": 20.0,
            "rotation": 0,
            "rectanglelabels": ["2"],
        },
        "score": 0.9,
    }
    assert second["value"]["x"] == 0.0 and second["value"]["width"] == pytest.approx(13.0)
    assert second["value"]["y"] == 75.0 and second["value"]["height"] == 25.0
    assert tasks[1]["predictions"] == []  # no boxes: no "(no boxes)"


def test_boxes_need_the_image_size() -> None:
    record = {"task": "detection", "boxes": [{"x": 1, "y": 1, "w": 1, "h": 1, "label": "1"}]}
    with pytest.raises(ExportError, match=r"row 'r0': its image size is unknown, and Label"):
        render(_batch("detection", [record], ("1",)), "labelstudio")


@pytest.mark.parametrize("sample", ["mnist/run_001", "mnist_detect", "mnist_multilabel"])
def test_sample_bundles_match_their_config(sample: str) -> None:
    batch = sample_batch(sample, k=10)
    config, tasks, readme = _bundle(batch, image_url="label-studio", files_root=REPO)
    control = config[1]
    values = {c.attrib["value"] for c in control}
    assert values == set(batch.classes)
    for task in tasks:
        assert task["data"]["image"].startswith("/data/local-files/?d=sample_data/")
        for prediction in task["predictions"]:
            assert 0 <= prediction["score"] <= 1
            for region in prediction["result"]:
                assert region["from_name"] == control.attrib["name"]
                assert region["to_name"] == control.attrib["toName"] == "image"
                assert (
                    set(region["value"].get("choices", region["value"].get("rectanglelabels")))
                    <= values
                )
    assert "'/data/local-files/?d={relpath}'" in readme


def test_the_server_fixture_reports_a_dead_server_at_once(tmp_path: Path) -> None:
    """The project's own Python has no label_studio: the process dies at once, and the
    fixture says so with its exit code and log instead of waiting for the health URL."""
    (tmp_path / "template.sqlite3").write_bytes(b"")
    server = LabelStudioServer(Path(sys.executable), tmp_path / "data", tmp_path, Costs())
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"Label Studio exited with code 1 while starting"):
        server.start(tmp_path / "template.sqlite3")
    assert time.monotonic() - started < START_TIMEOUT_S / 10
    assert "No module named 'label_studio'" in server.log()
