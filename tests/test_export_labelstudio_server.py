"""Label Studio exports imported into a real Label Studio server with strict prediction validation.

The server (see ``labelstudio_server.py``) starts once per session. Each test creates a project
from the generated ``config.xml``, adds a local-files storage for the images and imports
``tasks.json`` through the API, then checks that every task is stored, every prediction is
accepted (the import's counts, the stored predictions, and nothing about validation in the
server's log) and every image loads through the server. A first test proves that the strict
validation is on: without it an invalid prediction would be stored with HTTP 201 too.

Skipped with the reason where Label Studio cannot be installed; a failure under ``CI=true``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from export_support import REPO, make_info, sample_batch
from labelstudio_server import Costs, LabelStudioServer, Unavailable, ensure_venv, template_database
from PIL import Image

from labelnext.export import ExportBatch, render

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

N_ROWS = 30


@pytest.fixture(scope="session")
def labelstudio(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LabelStudioServer]:
    costs = Costs()
    try:
        python = ensure_venv(costs)
        template = template_database(python, costs)
    except Unavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but Label Studio cannot be installed: {exc}", pytrace=False)
        pytest.skip(f"Label Studio cannot be installed here: {exc}")
    root = tmp_path_factory.mktemp("labelstudio")
    server = LabelStudioServer(python, root / "data", root / "files", costs)
    server.document_root.mkdir()
    try:
        server.start(template)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        (Path(root) / "costs.json").write_text(json.dumps(costs.__dict__))
        # the cost of this fixture, on the terminal whatever the capture mode
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"\n{costs.describe()}")


def _sample_batch(sample: str, batch_id: int) -> ExportBatch:
    batch = sample_batch(sample, batch_id=batch_id, k=N_ROWS)
    records = batch.records
    # Rows with nothing predicted: they must import with no prediction at all.
    if batch.task == "classification":
        records[-1] = {**records[-1], "label": None, "confidence": None}
    if batch.task == "detection":
        records[-1] = {**records[-1], "boxes": []}
    if batch.task == "multilabel":
        records[-1] = {**records[-1], "labels": []}
    table = batch.rows.copy()
    table["prediction"] = records
    return ExportBatch(batch.info, table, batch.task, batch.classes)


def _copy_images(batch: ExportBatch, files_root: Path, document_root: Path) -> set[Path]:
    """Put the batch's images under the server's document root, in the layout they have under
    ``files_root``; return the folders (each gets a local-files storage)."""
    folders = set()
    for record in batch.records:
        assert record is not None and record["image_path"] is not None
        relative = Path(record["image_path"]).relative_to(files_root)
        target = document_root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record["image_path"], target)
        folders.add(target.parent)
    return folders


def _bundle(batch: ExportBatch, files_root: Path) -> tuple[str, list[dict[str, Any]]]:
    data = render(batch, "labelstudio", image_url="label-studio", files_root=files_root)
    archive = zipfile.ZipFile(io.BytesIO(data))
    return archive.read("config.xml").decode("utf-8"), json.loads(archive.read("tasks.json"))


def _project(server: LabelStudioServer, title: str, config: str, folders: set[Path]) -> int:
    created = server.call("POST", "/api/projects/", {"title": title, "label_config": config})
    assert created.status == 201, created.body[:500]
    project = int(created.json()["id"])
    for folder in sorted(folders):
        storage = server.call(
            "POST",
            "/api/storages/localfiles/",
            {"project": project, "path": str(folder), "title": folder.name, "use_blob_urls": True},
        )
        assert storage.status == 201, storage.body[:500]
    return project


def _stored_tasks(server: LabelStudioServer, project: int) -> dict[str, Any]:
    answer = server.call("GET", f"/api/tasks/?project={project}&page_size=1000&fields=all")
    assert answer.status == 200, answer.body[:500]
    return dict(answer.json())


def _regions(prediction: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("from_name", "to_name", "type", "value", "score", "original_width", "original_height")
    return [{k: r[k] for k in keys if k in r} for r in prediction["result"]]


def test_strict_validation_is_on(labelstudio: LabelStudioServer) -> None:
    """The control: the labels-joined-by-'+' answer the first exporter wrote is refused."""
    config = (
        '<View><Image name="image" value="$image"/><Choices name="choice" toName="image" '
        'choice="multiple"><Choice value="1"/><Choice value="2"/></Choices></View>'
    )
    project = _project(labelstudio, "control", config, set())
    bad = [
        {
            "data": {"image": "/data/local-files/?d=x.png"},
            "predictions": [
                {
                    "result": [
                        {
                            "from_name": "choice",
                            "to_name": "image",
                            "type": "choices",
                            "value": {"choices": ["1+2"]},
                        }
                    ]
                }
            ],
        }
    ]
    answer = labelstudio.call("POST", f"/api/projects/{project}/import?commit_to_project=true", bad)
    assert answer.status == 400
    assert "Prediction validation failed" in answer.body.decode()
    assert _stored_tasks(labelstudio, project)["total"] == 0


@pytest.mark.parametrize(
    ("sample", "batch_id"),
    [("mnist/run_001", 1), ("mnist_detect", 2), ("mnist_multilabel", 3)],
)
def test_batch_imports_with_every_prediction_and_image(
    labelstudio: LabelStudioServer, sample: str, batch_id: int
) -> None:
    batch = _sample_batch(sample, batch_id)
    folders = _copy_images(batch, REPO, labelstudio.document_root)
    config, tasks = _bundle(batch, REPO)
    expected = [t for t in tasks if t["predictions"]]
    assert 0 < len(expected) < len(tasks)  # one row has nothing predicted
    project = _project(labelstudio, sample, config, folders)

    log_before = len(labelstudio.log())
    answer = labelstudio.call(
        "POST", f"/api/projects/{project}/import?commit_to_project=true", tasks
    )
    assert answer.status == 201, answer.body[:2000]
    counts = answer.json()
    assert (counts["task_count"], counts["prediction_count"]) == (len(tasks), len(expected))

    stored = _stored_tasks(labelstudio, project)
    assert (stored["total"], stored["total_predictions"]) == (len(tasks), len(expected))
    by_id = {t["data"]["data_row_id"]: t for t in stored["tasks"]}
    assert set(by_id) == set(batch.rows["data_row_id"])
    for ours in tasks:
        theirs = by_id[ours["data"]["data_row_id"]]
        assert theirs["data"]["image"] == ours["data"]["image"]
        assert len(theirs["predictions"]) == len(ours["predictions"])
        for mine, kept in zip(ours["predictions"], theirs["predictions"], strict=True):
            assert _regions(kept) == _regions(mine)
            assert kept["score"] == pytest.approx(mine["score"])
            assert kept["model_version"] == mine["model_version"]
    log = labelstudio.log()[log_before:]
    assert "validation failed" not in log.lower() and "Traceback" not in log

    for task in stored["tasks"]:
        image = labelstudio.call("GET", task["data"]["image"])
        assert image.status == 200, task["data"]["image"]
        assert image.content_type.startswith("image/")
        assert image.body.startswith(b"\x89PNG\r\n\x1a\n")


def test_file_names_needing_escapes_load_through_the_server(
    labelstudio: LabelStudioServer,
) -> None:
    """Spaces, '#', '&', '%', '+' and non-ASCII in a path survive the {relpath} encoding."""
    folder = labelstudio.document_root / "odd names" / "ünï"
    folder.mkdir(parents=True)
    names = ["a b.png", "c#d.png", "e&f=g.png", "h%20i.png", "j+k.png", "ø.png"]
    rng = np.random.default_rng(0)
    for name in names:
        pixels = rng.integers(0, 255, size=(8, 8), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
    rows = [
        {
            "data_row_id": f"odd-{k}",
            "image": name,
            "rank": k + 1,
            "score": 0.5,
            "confidence": 0.5,
            "predicted_label": "1",
            "prediction": {
                "task": "classification",
                "label": "1",
                "confidence": 0.5,
                "image_path": str(folder / name),
            },
        }
        for k, name in enumerate(names)
    ]
    batch = ExportBatch(make_info(9, name="odd"), pd.DataFrame(rows), "classification", ("1", "2"))
    config, tasks = _bundle(batch, labelstudio.document_root)
    project = _project(labelstudio, "odd", config, {folder})
    answer = labelstudio.call(
        "POST", f"/api/projects/{project}/import?commit_to_project=true", tasks
    )
    assert answer.status == 201, answer.body[:2000]
    for task, name in zip(tasks, names, strict=True):
        image = labelstudio.call("GET", task["data"]["image"])
        assert image.status == 200, (name, task["data"]["image"])
        assert image.body == (folder / name).read_bytes()
