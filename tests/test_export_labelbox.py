"""Labelbox bundles checked with the labelbox SDK 7.x itself.

Every line of ``predictions.ndjson`` parses with the SDK's NDJSON annotation models (``NDRadio``,
``NDChecklist``, ``NDRectangle``; 7.x has no ``NDJsonConverter.deserialize``) and converts to its
common types with ``to_common()``; the same annotations built with the SDK's types serialise
(``NDJsonConverter.serialize``) to equal JSON objects (structural equality: the key order
differs). ``batch.json`` binds to ``Project.create_batch``; ``ontology.json`` is what
``OntologyBuilder(...).asdict()`` writes; ``data_rows.json`` passes the SDK's own data-row
checks; every SDK call in the bundle's README binds to the SDK's signature.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from export_support import REPO, make_info, sample_batch

from labelnext.export import ExportBatch, labelbox_ontology, render

lb = pytest.importorskip("labelbox")
import labelbox.types as lbt  # noqa: E402
from labelbox.data.serialization import NDJsonConverter  # noqa: E402
from labelbox.data.serialization.ndjson.classification import (  # noqa: E402
    NDChecklist,
    NDClassification,
    NDRadio,
)
from labelbox.data.serialization.ndjson.objects import NDObject, NDRectangle  # noqa: E402

SAMPLES = ["mnist/run_001", "mnist_multilabel", "mnist_detect"]


def _bundle(batch: ExportBatch, **options: Any) -> dict[str, Any]:
    archive = zipfile.ZipFile(io.BytesIO(render(batch, "labelbox", **options)))
    files: dict[str, Any] = {}
    for name in archive.namelist():
        text = archive.read(name).decode("utf-8")
        if name.endswith(".ndjson"):
            files[name] = [json.loads(line) for line in text.splitlines()]
        elif name.endswith(".json"):
            files[name] = json.loads(text)
        else:
            files[name] = text
    return files


@pytest.fixture(scope="module", params=SAMPLES)
def sample(request: pytest.FixtureRequest) -> tuple[ExportBatch, dict[str, Any]]:
    batch = sample_batch(request.param, k=25)
    return batch, _bundle(batch)


def _parse(line: dict[str, Any]) -> Any:
    """The SDK's model for a line, by its shape."""
    if "bbox" in line:
        return NDRectangle(**line)
    if isinstance(line["answer"], list):
        return NDChecklist(**line)
    return NDRadio(**line)


def test_the_bundle_holds_its_files(sample: tuple[ExportBatch, dict[str, Any]]) -> None:
    _, files = sample
    assert sorted(files) == [
        "README.txt",
        "batch.json",
        "data_rows.json",
        "ontology.json",
        "predictions.ndjson",
    ]


def test_every_line_parses_with_the_sdk_models_and_converts(
    sample: tuple[ExportBatch, dict[str, Any]],
) -> None:
    batch, files = sample
    lines = files["predictions.ndjson"]
    records = dict(zip(batch.rows["data_row_id"], batch.records, strict=True))
    assert lines
    for line in lines:
        model = _parse(line)
        record = records[line["dataRow"]["globalKey"]]
        assert record is not None
        if isinstance(model, NDRectangle):
            (common,) = [NDObject.to_common(model)]
            assert isinstance(common, lbt.ObjectAnnotation)
            assert isinstance(common.value, lbt.Rectangle)
            matches = [
                b
                for b in record["boxes"]
                if (b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"])
                == pytest.approx(
                    (
                        common.value.start.x,
                        common.value.start.y,
                        common.value.end.x,
                        common.value.end.y,
                    )
                )
            ]
            assert matches and common.name == matches[0]["label"]
            assert common.confidence == pytest.approx(matches[0]["score"])
        else:
            (common,) = NDClassification.to_common(model)
            assert isinstance(common, lbt.ClassificationAnnotation) and common.name == "label"
            if isinstance(common.value, lbt.Radio):
                assert common.value.answer.name == record["label"]
                assert common.value.answer.confidence == pytest.approx(record["confidence"])
            else:
                assert isinstance(common.value, lbt.Checklist)
                assert [a.name for a in common.value.answer] == record["labels"]
                assert [a.confidence for a in common.value.answer] == pytest.approx(
                    [record["scores"][x] for x in record["labels"]]
                )
    if batch.task == "detection":
        assert len(lines) == sum(len(r["boxes"]) for r in batch.records if r)


def _sdk_labels(lines: list[dict[str, Any]]) -> list[Any]:
    """The same annotations built with the SDK's own types, one Label per line."""
    labels = []
    for line in lines:
        data = lbt.GenericDataRowData(global_key=line["dataRow"]["globalKey"])
        if "bbox" in line:
            box = line["bbox"]
            annotation: Any = lbt.ObjectAnnotation(
                name=line["name"],
                value=lbt.Rectangle(
                    start=lbt.Point(x=box["left"], y=box["top"]),
                    end=lbt.Point(x=box["left"] + box["width"], y=box["top"] + box["height"]),
                ),
                confidence=line["confidence"],
                extra={"uuid": line["uuid"]},
            )
        elif isinstance(line["answer"], list):
            annotation = lbt.ClassificationAnnotation(
                name=line["name"],
                value=lbt.Checklist(
                    answer=[
                        lbt.ClassificationAnswer(name=a["name"], confidence=a["confidence"])
                        for a in line["answer"]
                    ]
                ),
                extra={"uuid": line["uuid"]},
            )
        else:
            annotation = lbt.ClassificationAnnotation(
                name=line["name"],
                value=lbt.Radio(
                    answer=lbt.ClassificationAnswer(
                        name=line["answer"]["name"], confidence=line["answer"]["confidence"]
                    )
                ),
                extra={"uuid": line["uuid"]},
            )
        labels.append(lbt.Label(data=data, annotations=[annotation]))
    return labels


def test_lines_equal_what_the_sdk_serialises(sample: tuple[ExportBatch, dict[str, Any]]) -> None:
    _, files = sample
    ours = files["predictions.ndjson"]
    assert list(NDJsonConverter.serialize(_sdk_labels(ours))) == ours


def test_batch_json_binds_to_create_batch(sample: tuple[ExportBatch, dict[str, Any]]) -> None:
    batch, files = sample
    arguments = files["batch.json"]["create_batch"]
    inspect.signature(lb.Project.create_batch).bind(None, **arguments)
    assert arguments == {
        "name": batch.info.name,
        "global_keys": list(batch.rows["data_row_id"]),
        "priority": 2,
    }
    assert files["batch.json"]["labelnext"]["batch_id"] == batch.info.batch_id


def _sdk_ontology(task: str, classes: tuple[str, ...]) -> dict[str, Any]:
    if task == "detection":
        tools = [lb.Tool(tool=lb.Tool.Type.BBOX, name=c) for c in classes]
        return dict(lb.OntologyBuilder(tools=tools).asdict())
    kind = (
        lb.Classification.Type.CHECKLIST if task == "multilabel" else lb.Classification.Type.RADIO
    )
    question = lb.Classification(
        class_type=kind, name="label", options=[lb.Option(value=c) for c in classes]
    )
    return dict(lb.OntologyBuilder(classifications=[question]).asdict())


def test_ontology_is_what_the_ontology_builder_writes(
    sample: tuple[ExportBatch, dict[str, Any]],
) -> None:
    batch, files = sample
    ontology = files["ontology.json"]
    assert ontology == _sdk_ontology(batch.task, batch.classes)
    assert lb.OntologyBuilder.from_dict(ontology).asdict() == ontology
    names = {line["name"] for line in files["predictions.ndjson"]}
    if batch.task == "detection":
        assert names <= {tool["name"] for tool in ontology["tools"]}
    else:
        assert names == {"label"}
        options = {o["value"] for o in ontology["classifications"][0]["options"]}
        answers = [line["answer"] for line in files["predictions.ndjson"]]
        flat = [a for answer in answers for a in (answer if isinstance(answer, list) else [answer])]
        assert {a["name"] for a in flat} <= options


def test_ontology_colours_follow_the_builder_for_many_tools() -> None:
    classes = tuple(f"c{k}" for k in range(37))
    assert labelbox_ontology("detection", classes) == _sdk_ontology("detection", classes)


class _UploadingClient:
    """Stands in for ``lb.Client`` where the SDK uploads a local file."""

    def __init__(self) -> None:
        self.uploaded: list[str] = []

    def upload_file(self, path: str) -> str:
        self.uploaded.append(path)
        return f"https://storage.test/{Path(path).name}"


def test_data_rows_pass_the_sdks_checks_and_local_images_are_uploaded(
    sample: tuple[ExportBatch, dict[str, Any]],
) -> None:
    from labelbox.schema.internal.data_row_upsert_item import DataRowCreateItem
    from labelbox.schema.internal.descriptor_file_creator import DescriptorFileCreator

    batch, files = sample
    items = files["data_rows.json"]
    assert [item["global_key"] for item in items] == list(batch.rows["data_row_id"])
    client = _UploadingClient()
    prepared = DescriptorFileCreator(client)._prepare_items_for_upload(  # type: ignore[arg-type]
        DataRowCreateItem.build("dataset-id", [dict(item) for item in items])
    )
    assert sorted(client.uploaded) == sorted(r["image_path"] for r in batch.records if r)
    assert {p["payload"]["row_data"] for p in prepared} == {
        f"https://storage.test/{Path(r['image_path']).name}" for r in batch.records if r
    }


def test_data_rows_give_fetchable_urls_as_they_are() -> None:
    batch = sample_batch("mnist/run_001", k=3)
    files = _bundle(batch, image_url="gs://bucket/b7", files_root=REPO)
    assert [item["row_data"] for item in files["data_rows.json"]] == [
        f"gs://bucket/b7/sample_data/mnist/images/{image}" for image in batch.rows["image"]
    ]
    s3 = _bundle(batch, image_url="s3://bucket/b7", files_root=REPO)
    # the SDK refuses s3:// row data: the local file goes instead
    assert [item["row_data"] for item in s3["data_rows.json"]] == [
        r["image_path"] for r in batch.records if r
    ]


def test_rows_with_nothing_predicted_have_no_line() -> None:
    rows = pd.DataFrame(
        {
            "data_row_id": ["a", "b", "c"],
            "image": ["https://x.test/a.png"] * 3,
            "prediction": [
                {"task": "multilabel", "labels": ["1"], "scores": {"1": 0.8}},
                {"task": "multilabel", "labels": [], "scores": {"1": 0.2}},
                None,
            ],
        }
    )
    batch = ExportBatch(make_info(3), rows, "multilabel", ("1", "2"))
    files = _bundle(batch, classification_name="digits present")
    assert [line["dataRow"]["globalKey"] for line in files["predictions.ndjson"]] == ["a"]
    assert files["predictions.ndjson"][0]["name"] == "digits present"
    assert files["ontology.json"]["classifications"][0]["name"] == "digits present"
    assert files["batch.json"]["create_batch"]["global_keys"] == ["a", "b", "c"]


def _readme_calls(readme: str) -> list[ast.Call]:
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    import "))
    code = "\n".join(line[4:] for line in lines[start:])
    return [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Call)]


def _sdk_function(name: str) -> Callable[..., Any] | None:
    from labelbox.schema.annotation_import import MEAPredictionImport
    from labelbox.schema.task import DataUpsertTask

    return {
        "Client": lb.Client,
        "create_dataset": lb.Client.create_dataset,
        "create_data_rows": lb.Dataset.create_data_rows,
        "wait_till_done": DataUpsertTask.wait_till_done,
        "create_ontology": lb.Client.create_ontology,
        "create_model": lb.Client.create_model,
        "create_model_run": lb.Model.create_model_run,
        "upsert_data_rows": lb.ModelRun.upsert_data_rows,
        "add_predictions": lb.ModelRun.add_predictions,
        "wait_until_done": MEAPredictionImport.wait_until_done,
        "create_project": lb.Client.create_project,
        "connect_ontology": lb.Project.connect_ontology,
        "create_batch": lb.Project.create_batch,
        "create_from_objects": lb.MALPredictionImport.create_from_objects,
    }.get(name)


def test_every_sdk_call_in_the_readme_binds(sample: tuple[ExportBatch, dict[str, Any]]) -> None:
    _, files = sample
    readme = files["README.txt"]
    checked = set()
    for call in _readme_calls(readme):
        name = (
            call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        )
        function = _sdk_function(name)
        if function is None:
            continue
        signature = inspect.signature(function)
        bound_self = [None] if "self" in signature.parameters else []
        args = [None] * len(call.args)
        kwargs = {k.arg: None for k in call.keywords if k.arg is not None}
        if any(k.arg is None for k in call.keywords):  # create_batch(**batch["create_batch"])
            assert name == "create_batch"
            kwargs.update(dict.fromkeys(files["batch.json"]["create_batch"]))
        signature.bind(*bound_self, *args, **kwargs)
        checked.add(name)
    assert {"add_predictions", "create_from_objects", "create_batch", "create_data_rows"} <= checked
    # the README says which import keeps the confidences
    assert re.search(r"KEEPS THE CONFIDENCES: a model run", readme)
    assert re.search(r"DROPS THE CONFIDENCES: .*pre-labels", readme)
