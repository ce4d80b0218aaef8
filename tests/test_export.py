"""Batch exports, each read back by the consuming side's library or checked against its schema.

CSV, Parquet and JSON Lines are read with pandas / pyarrow. Labelbox pre-labels are compared with
what the labelbox SDK's own ``NDJsonConverter`` writes for the same radio answers (and checked
against the documented NDJSON schema); ``batch.json`` against the parameters of
``Project.create_batch(name, data_rows=None, priority=5, consensus_settings=None,
global_keys=None)``. Label Studio tasks are checked against a JSON Schema transcribed from its
documented import format ("Import pre-annotated data": tasks with ``data`` and ``predictions``):
label-studio-sdk is not installed, because it pins numpy below the version the project uses.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from labelnext.errors import LedgerError
from labelnext.export import FORMATS, MANIFEST_COLUMNS, export_batch, file_name, manifest
from labelnext.ledger import BatchInputError, Ledger


class Run:
    name = "mnist-iter2"
    model = "logreg"
    version = "2"
    source = "sample_data/mnist/run_002"
    content_hash = "aa" * 32
    n_rows = 500


ROWS = pd.DataFrame(
    {
        "data_row_id": ["img-7", "img-3", "img-9", "img-é"],
        "image": ["images/7.png", "images/3.png", None, "https://x.test/é.png"],
        "predicted_label": ["7", "3", None, "1"],
        "score": [0.61, 0.55, np.nan, 0.25],
        "confidence": [0.39, 0.45, np.nan, 0.75],
        "rank": [1, 2, 3, 4],
    }
)


def _submit(ledger: Ledger) -> int:
    run_id = ledger.register_run(Run())
    return ledger.submit(
        project="digits",
        name="week 48: hard 7s",
        rows=ROWS,
        priority=2,
        note="check the 7s",
        created_by="ana",
        strategy="margin",
        strategy_params={"k": 4},
        run_id=run_id,
    ).batch_id


@pytest.fixture
def exported(tmp_path: Path) -> Iterator[tuple[Ledger, int]]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        yield ledger, _submit(ledger)


def _expected_manifest() -> pd.DataFrame:
    expected = ROWS[list(MANIFEST_COLUMNS[:-1])].copy()
    expected["priority"] = 2
    return expected


# -- tabular manifests -----------------------------------------------------------------------


def test_manifest_round_trips_on_each_backend(ledger: Ledger) -> None:
    batch_id = _submit(ledger)
    table = manifest(ledger, batch_id)
    assert tuple(table.columns) == MANIFEST_COLUMNS
    pd.testing.assert_frame_equal(table, _expected_manifest(), check_dtype=False)
    back = pq.read_table(io.BytesIO(export_batch(ledger, batch_id, "parquet"))).to_pandas()
    pd.testing.assert_frame_equal(back, _expected_manifest(), check_dtype=False)


def test_csv_reads_back_with_pandas(exported: tuple[Ledger, int]) -> None:
    ledger, batch_id = exported
    data = export_batch(ledger, batch_id, "csv")
    back = pd.read_csv(io.BytesIO(data), dtype={"data_row_id": str, "predicted_label": str})
    assert tuple(back.columns) == MANIFEST_COLUMNS
    pd.testing.assert_frame_equal(back, _expected_manifest(), check_dtype=False)
    assert data.decode("utf-8").splitlines()[0] == ",".join(MANIFEST_COLUMNS)


def test_parquet_has_typed_columns(exported: tuple[Ledger, int]) -> None:
    ledger, batch_id = exported
    table = pq.read_table(io.BytesIO(export_batch(ledger, batch_id, "parquet")))
    assert {f.name: str(f.type) for f in table.schema} == {
        "data_row_id": "string",
        "image": "string",
        "rank": "int64",
        "score": "double",
        "confidence": "double",
        "predicted_label": "string",
        "priority": "int64",
    }
    assert table.column("score").null_count == 1


def test_jsonl_is_one_object_per_line_with_nulls(exported: tuple[Ledger, int]) -> None:
    ledger, batch_id = exported
    data = export_batch(ledger, batch_id, "jsonl")
    lines = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert [tuple(line) for line in lines] == [MANIFEST_COLUMNS] * 4
    assert lines[2] == {
        "data_row_id": "img-9",
        "image": None,
        "rank": 3,
        "score": None,
        "confidence": None,
        "predicted_label": None,
        "priority": 2,
    }
    back = pd.read_json(io.BytesIO(data), lines=True, dtype={"predicted_label": str})
    assert back["data_row_id"].tolist() == ROWS["data_row_id"].tolist()


# -- Label Studio ----------------------------------------------------------------------------

LABEL_STUDIO_TASKS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["data"],
        "additionalProperties": False,
        "properties": {
            "data": {
                "type": "object",
                "required": ["image", "data_row_id"],
                "properties": {
                    "image": {"type": ["string", "null"]},
                    "data_row_id": {"type": "string"},
                },
            },
            "predictions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["result"],
                    "properties": {
                        "model_version": {"type": "string"},
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                        "result": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["from_name", "to_name", "type", "value"],
                                "properties": {
                                    "from_name": {"type": "string"},
                                    "to_name": {"type": "string"},
                                    "type": {"const": "choices"},
                                    "value": {
                                        "type": "object",
                                        "required": ["choices"],
                                        "properties": {
                                            "choices": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                                "minItems": 1,
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_label_studio_tasks_follow_the_import_format(exported: tuple[Ledger, int]) -> None:
    ledger, batch_id = exported
    tasks = json.loads(export_batch(ledger, batch_id, "labelstudio"))
    jsonschema.validate(tasks, LABEL_STUDIO_TASKS)
    assert [t["data"]["data_row_id"] for t in tasks] == ROWS["data_row_id"].tolist()
    assert tasks[0] == {
        "data": {"image": "images/7.png", "data_row_id": "img-7"},
        "predictions": [
            {
                "model_version": "logreg:2",
                "score": 0.39,
                "result": [
                    {
                        "from_name": "choice",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": ["7"]},
                    }
                ],
            }
        ],
    }
    assert tasks[2]["predictions"] == []  # no prediction for that row: no pre-annotation
    assert tasks[3]["data"]["image"] == "https://x.test/é.png"


# -- Labelbox --------------------------------------------------------------------------------

LABELBOX_RADIO_PREDICTION = {
    "type": "object",
    "required": ["uuid", "name", "answer", "dataRow"],
    "additionalProperties": False,
    "properties": {
        "uuid": {"type": "string"},
        "name": {"type": "string", "minLength": 1},
        "answer": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "dataRow": {
            "type": "object",
            "required": ["globalKey"],
            "additionalProperties": False,
            "properties": {"globalKey": {"type": "string", "minLength": 1}},
        },
    },
}
CREATE_BATCH_PARAMETERS = {"name", "data_rows", "priority", "consensus_settings", "global_keys"}


def test_labelbox_zip_holds_create_batch_arguments_and_ndjson_predictions(
    exported: tuple[Ledger, int],
) -> None:
    ledger, batch_id = exported
    archive = zipfile.ZipFile(io.BytesIO(export_batch(ledger, batch_id, "labelbox")))
    assert sorted(archive.namelist()) == ["README.txt", "batch.json", "predictions.ndjson"]

    batch = json.loads(archive.read("batch.json"))
    create_batch = batch["create_batch"]
    assert set(create_batch) <= CREATE_BATCH_PARAMETERS
    assert create_batch == {
        "name": "week 48: hard 7s",
        "global_keys": ["img-7", "img-3", "img-9", "img-é"],
        "priority": 2,
    }
    assert batch["labelnext"]["batch_id"] == batch_id
    assert batch["labelnext"]["model_version"] == "logreg:2"
    assert batch["labelnext"]["note"] == "check the 7s"

    lines = archive.read("predictions.ndjson").decode("utf-8").splitlines()
    predictions = [json.loads(line) for line in lines]
    for prediction in predictions:
        jsonschema.validate(prediction, LABELBOX_RADIO_PREDICTION)
        uuid.UUID(prediction["uuid"])
    assert [p["dataRow"]["globalKey"] for p in predictions] == ["img-7", "img-3", "img-é"]
    assert predictions[0]["name"] == "label"
    assert predictions[0]["answer"] == {"name": "7", "confidence": 0.39}
    assert len({p["uuid"] for p in predictions}) == 3
    assert 'create_batch(**batch["create_batch"])' in archive.read("README.txt").decode()


def test_labelbox_question_name_is_configurable(exported: tuple[Ledger, int]) -> None:
    ledger, batch_id = exported
    data = export_batch(ledger, batch_id, "labelbox", classification_name="digit")
    lines = zipfile.ZipFile(io.BytesIO(data)).read("predictions.ndjson").splitlines()
    assert {json.loads(line)["name"] for line in lines} == {"digit"}


# -- behaviour common to every format --------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_is_deterministic_and_writes_out(
    exported: tuple[Ledger, int], fmt: str, tmp_path: Path
) -> None:
    ledger, batch_id = exported
    out = tmp_path / "sub" / file_name(ledger.batch(batch_id), fmt)
    data = export_batch(ledger, batch_id, fmt, out=out)
    assert out.read_bytes() == data
    assert export_batch(ledger, batch_id, fmt) == data
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left


def test_file_names_are_safe() -> None:
    from labelnext.ledger import BatchInfo

    info = BatchInfo(
        batch_id=7,
        name="week 48: hard 7s/../x",
        project="p",
        priority=1,
        status="queued",
        note="",
        created_by="a",
        created_at=pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime(),
        strategy="margin",
        strategy_params={},
        run_id=None,
        run_name=None,
        run_model=None,
        run_version=None,
        client_token=None,
        n_rows=0,
    )
    assert file_name(info, "labelbox") == "batch-7-week-48--hard-7s----x.labelbox.zip"
    assert file_name(info, "csv") == "batch-7-week-48--hard-7s----x.csv"


def test_exporting_marks_a_queued_batch_exported_and_keeps_it_open(
    exported: tuple[Ledger, int],
) -> None:
    ledger, batch_id = exported
    export_batch(ledger, batch_id, "csv", mark_exported=False)
    assert ledger.batch(batch_id).status == "queued"
    export_batch(ledger, batch_id, "csv")
    assert ledger.batch(batch_id).status == "exported"
    assert ledger.excluded_ids("digits") == set(ROWS["data_row_id"])
    ledger.mark_labeled(batch_id)
    export_batch(ledger, batch_id, "jsonl")  # exporting again is harmless
    assert ledger.batch(batch_id).status == "labeled"


def test_bad_format_and_unknown_batch(exported: tuple[Ledger, int]) -> None:
    ledger, batch_id = exported
    with pytest.raises(BatchInputError, match=r"fmt: 'xml' is not an export format; expected"):
        export_batch(ledger, batch_id, "xml")
    with pytest.raises(LedgerError, match=r"batch_id: there is no batch 404"):
        export_batch(ledger, 404, "csv")
    assert ledger.batch(batch_id).status == "queued"


def test_labelbox_predictions_are_what_the_labelbox_sdk_writes(
    exported: tuple[Ledger, int],
) -> None:
    """The same pre-labels built with labelbox's own types serialise to identical NDJSON."""
    pytest.importorskip("labelbox")
    import labelbox.types as lb
    from labelbox.data.serialization import NDJsonConverter

    ledger, batch_id = exported
    archive = zipfile.ZipFile(io.BytesIO(export_batch(ledger, batch_id, "labelbox")))
    ours = [json.loads(line) for line in archive.read("predictions.ndjson").splitlines()]
    labels = [
        lb.Label(
            data=lb.GenericDataRowData(global_key=p["dataRow"]["globalKey"]),
            annotations=[
                lb.ClassificationAnnotation(
                    name=p["name"],
                    value=lb.Radio(
                        answer=lb.ClassificationAnswer(
                            name=p["answer"]["name"], confidence=p["answer"]["confidence"]
                        )
                    ),
                    extra={"uuid": p["uuid"]},
                )
            ],
        )
        for p in ours
    ]
    assert list(NDJsonConverter.serialize(labels)) == ours
