"""Exporting a stored batch: the manifests, the common behaviour of every format, the ledger path.

Format-specific checks against the consuming tools live beside this file:
``test_export_labelstudio*.py`` (a real Label Studio server), ``test_export_labelbox.py`` (the
labelbox SDK's own models), ``test_export_coco.py`` (pycocotools); prediction records in
``test_export_records.py``, image references in ``test_export_images.py``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from export_support import make_info

from labelnext.errors import ExportError, LedgerError
from labelnext.export import (
    FORMATS,
    MANIFEST_COLUMNS,
    ExportBatch,
    csv_safe,
    export_batch,
    file_name,
    formats_for,
    manifest,
    media_type,
    render,
)
from labelnext.ledger import BatchInfo, BatchInputError, Ledger


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


def _submit(ledger: Ledger, rows: pd.DataFrame = ROWS) -> int:
    run_id = ledger.register_run(Run())
    return ledger.submit(
        project="digits",
        name="week 48: hard 7s",
        rows=rows,
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


def test_manifests_write_the_rewritten_image_reference(exported: tuple[Ledger, int]) -> None:
    ledger, batch_id = exported
    data = export_batch(ledger, batch_id, "jsonl", image_url="https://cdn.test/{data_row_id}.png")
    images = [json.loads(line)["image"] for line in data.splitlines()]
    # a row without an image keeps none
    cdn = "https://cdn.test/"
    assert images == [f"{cdn}img-7.png", f"{cdn}img-3.png", None, f"{cdn}img-é.png"]


# -- CSV neutralisation (OWASP "CSV injection") ----------------------------------------------

HOSTILE = ['=HYPERLINK("http://x.test")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "a=b"]


def test_csv_text_cells_that_start_a_formula_are_quoted(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "data_row_id": HOSTILE,
            "image": ["=cmd|'/c calc'!A1", "x.png", "-x.png", "@x", "+x", "ok.png", "=1"],
            "predicted_label": ["-1", "+", "=", "@", "7", "\t7", "7"],
            "score": [0.5, -0.0, 0.25, 0.5, 0.5, 0.5, 0.5],
            "confidence": [0.5, 1.0, 0.75, 0.5, 0.5, 0.5, 0.5],
            "rank": list(range(1, 8)),
        }
    )
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        batch_id = _submit(ledger, rows)
        data = export_batch(ledger, batch_id, "csv")
        jsonl = export_batch(ledger, batch_id, "jsonl")
        parquet = export_batch(ledger, batch_id, "parquet")
    back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    for column in ("data_row_id", "image", "predicted_label"):
        for ours, written in zip(rows[column], back[column], strict=True):
            expected = "'" + ours if ours[0] in "=+-@\t\r" else ours
            assert written == expected
    assert back["data_row_id"].tolist()[-1] == "a=b"  # only a leading character counts
    # numbers stay numbers: the score column parses as floats, unquoted
    assert pd.read_csv(io.BytesIO(data))["score"].tolist() == rows["score"].tolist()
    # JSON Lines and Parquet keep the exact values
    assert [json.loads(line)["data_row_id"] for line in jsonl.splitlines()] == HOSTILE
    assert pq.read_table(io.BytesIO(parquet)).column("image").to_pylist() == rows["image"].tolist()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1", "'=1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@a", "'@a"),
        ("\t", "'\t"),
        ("\r\n", "'\r\n"),
        ("", ""),
        ("a-1", "a-1"),
        (-1.5, -1.5),
        (3, 3),
        (None, None),
    ],
)
def test_csv_safe_by_hand(value: Any, expected: Any) -> None:
    assert csv_safe(value) == expected


# -- behaviour common to every format --------------------------------------------------------


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "coco"])
def test_export_is_deterministic_and_writes_out(
    exported: tuple[Ledger, int], fmt: str, tmp_path: Path
) -> None:
    ledger, batch_id = exported
    out = tmp_path / "sub" / file_name(ledger.batch(batch_id), fmt)
    data = export_batch(ledger, batch_id, fmt, out=out)
    assert out.read_bytes() == data
    assert export_batch(ledger, batch_id, fmt) == data
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left
    if media_type(fmt) == "application/zip":
        assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def test_formats_per_task() -> None:
    assert formats_for("classification") == ("csv", "parquet", "jsonl", "labelbox", "labelstudio")
    assert formats_for("multilabel") == formats_for("classification")
    assert formats_for("detection") == FORMATS


def test_coco_refuses_a_classification_batch(exported: tuple[Ledger, int]) -> None:
    ledger, batch_id = exported
    with pytest.raises(ExportError, match=r"fmt: 'coco' holds detection batches only; batch 1"):
        export_batch(ledger, batch_id, "coco")
    assert ledger.batch(batch_id).status == "queued"  # nothing marked


def test_file_names_are_safe() -> None:
    info = make_info(7, name="week 48: hard 7s/../x")
    assert file_name(info, "labelbox") == "batch-7-week-48--hard-7s----x.labelbox.zip"
    assert file_name(info, "labelstudio") == "batch-7-week-48--hard-7s----x.labelstudio.zip"
    assert file_name(info, "coco") == "batch-7-week-48--hard-7s----x.coco.zip"
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


def test_an_image_that_cannot_be_rewritten_fails_the_export_and_marks_nothing(
    exported: tuple[Ledger, int], tmp_path: Path
) -> None:
    ledger, batch_id = exported
    out = tmp_path / "never.zip"
    with pytest.raises(ExportError, match=r"image_url: 2 image reference\(s\) cannot be rewritten"):
        export_batch(
            ledger, batch_id, "labelstudio", out, image_url="label-studio", files_root=tmp_path
        )
    assert not out.exists()
    assert ledger.batch(batch_id).status == "queued"


# -- the batch as the ledger stores it -------------------------------------------------------


def test_a_batch_stored_without_records_exports_as_classification(
    exported: tuple[Ledger, int],
) -> None:
    ledger, batch_id = exported
    batch = ExportBatch.from_ledger(ledger, batch_id)
    assert batch.task == "classification"
    assert batch.classes == ("1", "3", "7")  # the labels named, sorted
    assert batch.records[0] == {"task": "classification", "label": "7", "confidence": 0.39}
    assert batch.records[2] is None


def test_the_first_ledgers_pseudo_labels_are_not_exported(tmp_path: Path) -> None:
    rows = ROWS.assign(predicted_label=["(none)", "3", "(no boxes)", "1"])
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        batch_id = _submit(ledger, rows)
        batch = ExportBatch.from_ledger(ledger, batch_id)
        archive = zipfile.ZipFile(io.BytesIO(export_batch(ledger, batch_id, "labelstudio")))
    assert [r is None for r in batch.records] == [True, False, True, False]
    tasks = json.loads(archive.read("tasks.json"))
    assert [len(t["predictions"]) for t in tasks] == [0, 1, 0, 1]
    assert "(none)" not in archive.read("config.xml").decode()


class StoredLedger:
    """A ledger that stores prediction records (JSON text per row) with the batch."""

    def __init__(self, rows: pd.DataFrame) -> None:
        base = make_info(5, name="stored")
        self.info = dataclasses.replace(base, task="multilabel", classes=("cat", "dog", "eel"))
        self.rows = rows
        self.marked: list[int] = []

    def batch(self, batch_id: int) -> BatchInfo:
        return self.info

    def batch_rows(self, batch_id: int) -> pd.DataFrame:
        return self.rows

    def mark_exported(self, batch_id: int) -> None:
        self.marked.append(batch_id)


def test_export_uses_the_stored_records_task_and_classes() -> None:
    records = [
        {"task": "multilabel", "labels": ["cat", "eel"], "scores": {"cat": 0.9, "eel": 0.6}},
        {"task": "multilabel", "labels": [], "scores": {"dog": 0.4}},
    ]
    rows = pd.DataFrame(
        {
            "data_row_id": ["a", "b"],
            "image": ["https://x.test/a.png", "https://x.test/b.png"],
            "rank": [1, 2],
            "score": [0.8, 0.2],
            "confidence": [0.2, 0.8],
            "predicted_label": ["cat+eel", "(none)"],
            "prediction": [json.dumps(r) for r in records],
        }
    )
    ledger = StoredLedger(rows)
    data = export_batch(ledger, 5, "labelstudio")  # type: ignore[arg-type]
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert 'choice="multiple"' in archive.read("config.xml").decode()
    assert '<Choice value="dog"/>' in archive.read("config.xml").decode()
    tasks = json.loads(archive.read("tasks.json"))
    assert tasks[0]["predictions"][0]["result"][0]["value"] == {"choices": ["cat", "eel"]}
    assert tasks[1]["predictions"] == []
    assert ledger.marked == [5]


def test_records_that_do_not_fit_the_batch_are_refused() -> None:
    info = make_info(3)
    rows = pd.DataFrame({"data_row_id": ["a"], "prediction": [{"task": "detection", "boxes": []}]})
    with pytest.raises(ExportError, match=r"row 'a': prediction is for task 'detection', the"):
        ExportBatch(info, rows, "classification", ("1",))
    rows = pd.DataFrame(
        {"data_row_id": ["a"], "prediction": [{"task": "classification", "label": "9"}]}
    )
    with pytest.raises(ExportError, match=r"row 'a': prediction label '9' is not one of the"):
        ExportBatch(info, rows, "classification", ("1", "2"))
    with pytest.raises(ExportError, match=r"row 'a': prediction is not JSON"):
        ExportBatch(info, rows.assign(prediction=["{"]), "classification", ("1",))
    with pytest.raises(ExportError, match=r"task: 'segmentation' is not a task; expected one of"):
        ExportBatch(info, rows, "segmentation", ("1",))
    with pytest.raises(ExportError, match=r"rows: a data_row_id column is required"):
        ExportBatch(info, pd.DataFrame({"id": ["a"]}))
    box = {"task": "detection", "boxes": [{"x": 1, "y": 1, "label": "1"}]}
    with pytest.raises(ExportError, match=r"row 'a': a box needs x, y, w, h and label"):
        ExportBatch(info, rows.assign(prediction=[box]), "detection", ("1",))


def test_render_of_an_empty_batch_is_well_formed() -> None:
    empty = pd.DataFrame({"data_row_id": pd.Series([], dtype=str)})
    batch = ExportBatch(make_info(4), empty, "classification", ("1",))
    assert render(batch, "jsonl") == b""
    assert pd.read_csv(io.BytesIO(render(batch, "csv"))).columns.tolist() == list(MANIFEST_COLUMNS)
    tasks = zipfile.ZipFile(io.BytesIO(render(batch, "labelstudio"))).read("tasks.json")
    assert json.loads(tasks) == []
