"""Labels into the ledger and the training set out, on SQLite and PostgreSQL (``ledger``)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from labelnext.errors import ExportError, LabelFileError, LedgerError
from labelnext.export.training import render_training_set
from labelnext.labels import read_labels
from labelnext.ledger import Ledger, actions, batch_rows, labels

CLASSES = ("cat", "dog", "bird")


def submit(
    ledger: Ledger,
    ids: list[str],
    *,
    project: str = "pets",
    task: str = "classification",
    records: list[dict[str, object]] | None = None,
) -> int:
    n = len(ids)
    rows = pd.DataFrame(
        {
            "data_row_id": ids,
            "image": [f"images/{i}.png" for i in ids],
            "predicted_label": ["cat"] * n,
            "score": np.linspace(0.9, 0.5, n),
            "rank": np.arange(1, n + 1),
        }
    )
    if records is not None:
        rows["prediction"] = records
    return ledger.submit(
        project=project,
        name="b",
        rows=rows,
        created_by="ana",
        strategy="least_confidence",
        run_id=None,
        task=task,
        classes=CLASSES,
    ).batch_id


def csv(*lines: str) -> bytes:
    return ("data_row_id,label,labeled_by\n" + "\n".join(lines) + "\n").encode()


def stored(ledger: Ledger) -> tuple[int, int, list[tuple[str, str]]]:
    """Counts of labels and actions, and every batch row's status: what a refusal must keep."""
    with ledger.engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(labels)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(actions)).scalar_one(),
            sorted(conn.execute(sa.select(batch_rows.c.data_row_id, batch_rows.c.status)).all()),
        )


def test_import_marks_rows_and_the_whole_batch_labeled(ledger: Ledger) -> None:
    first = submit(ledger, ["a", "b", "c"])
    result = ledger.import_labels(
        csv("a,cat,lu", "b,dog,lu"), filename="part.csv", project="pets", actor="cy", origin="cli"
    )
    assert (result.n_labels, result.n_new, result.n_marked) == (2, 2, 2)
    assert result.batches == {first: ("queued", "queued")}
    assert ledger.batch_rows(first)["status"].tolist() == ["labeled", "labeled", "open"]
    result = ledger.import_labels(csv("c,bird,mo"), filename="rest.csv", project="pets")
    assert result.batches == {first: ("queued", "labeled")}
    assert result.labeled_batches == (first,)
    assert ledger.batch(first).status == "labeled"
    current = ledger.labels("pets")
    assert current[["data_row_id", "label", "labeled_by", "source"]].values.tolist() == [
        ["a", "cat", "lu", "part.csv"],
        ["b", "dog", "lu", "part.csv"],
        ["c", "bird", "mo", "rest.csv"],
    ]
    assert current["image"].tolist() == ["images/a.png", "images/b.png", "images/c.png"]
    log = ledger.actions(batch_id=first)
    assert log["kind"].tolist() == ["import_labels", "import_labels", "submit"]
    assert log["actor"].tolist()[1:] == ["cy", "ana"]
    assert log["origin"].tolist()[1] == "cli"
    assert log["details"].iloc[0]["to_status"] == "labeled"
    assert not log["revertible"].iloc[0]
    with pytest.raises(LedgerError, match="import a corrected file"):
        ledger.revert(int(log["action_id"].iloc[0]))


def test_relabeling_keeps_the_earlier_label_as_history(ledger: Ledger) -> None:
    submit(ledger, ["a", "b"])
    ledger.import_labels(csv("a,cat,lu", "b,dog,lu"), filename="one.csv", project="pets")
    result = ledger.import_labels(csv("a,bird,mo", "b,dog,lu"), filename="two.csv", project="pets")
    assert (result.n_new, result.n_relabeled, result.n_unchanged) == (0, 1, 1)
    assert any("had another label before" in n for n in result.notes)
    assert ledger.labels("pets")["label"].tolist() == ["bird", "dog"]
    history = ledger.labels("pets", history=True)
    a = history[history["data_row_id"] == "a"]
    assert a["label"].tolist() == ["cat", "bird"]
    assert a["superseded_at"].notna().tolist() == [True, False]
    assert a["superseded_by"].iloc[0] == a["label_id"].iloc[1]
    # the same file again changes nothing and records nothing
    before = stored(ledger)
    again = ledger.import_labels(csv("a,bird,mo", "b,dog,lu"), filename="two.csv", project="pets")
    assert (again.n_unchanged, again.action_ids) == (2, ())
    assert stored(ledger) == before


def test_rows_in_no_batch_are_refused_unless_asked(ledger: Ledger) -> None:
    submit(ledger, ["a"])
    before = stored(ledger)
    with pytest.raises(LabelFileError, match=r"x.csv, row 2, field 'data_row_id': data row 'z'"):
        ledger.import_labels(csv("a,cat,lu", "z,dog,lu"), filename="x.csv", project="pets")
    assert stored(ledger) == before
    result = ledger.import_labels(
        csv("a,cat,lu", "z,dog,lu"), filename="x.csv", project="pets", allow_unbatched=True
    )
    assert result.unbatched == ("z",)
    assert any("in no batch" in n for n in result.notes)
    current = ledger.labels("pets")
    assert current["batch_id"].isna().tolist() == [False, True]
    unbatched_action = ledger.actions(project="pets")
    assert unbatched_action["batch_id"].isna().sum() == 1
    assert "z" in ledger.excluded_ids("pets")


def test_unknown_project_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="there is no project 'nope'"):
        ledger.import_labels(csv("a,cat,lu"), filename="x.csv", project="nope")
    assert ledger.projects() == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (csv("a,cat,lu", "b,fish,lu"), r"row 2, field 'label': unknown class 'fish'"),
        (
            csv("a,cat,lu", "b,dog,lu", "a,dog,mo"),
            r"row 3, field 'label': data row 'a' is labeled twice with different labels",
        ),
        (b"data_row_id,label\na,cat\n,dog\n", r"row 2, field 'data_row_id'"),
    ],
)
def test_a_bad_file_changes_nothing(ledger: Ledger, content: bytes, message: str) -> None:
    batch = submit(ledger, ["a", "b"])
    ledger.import_labels(csv("a,dog,lu"), filename="first.csv", project="pets")
    before = stored(ledger)
    with pytest.raises(LabelFileError, match=message):
        ledger.import_labels(content, filename="bad.csv", project="pets")
    assert stored(ledger) == before
    assert ledger.batch(batch).status == "queued"


def test_a_failure_inside_the_transaction_stores_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The labels are the last write of an import: a failure there rolls back the marks and the
    actions already written in the same transaction."""
    batch = submit(ledger, ["a", "b"])
    before = stored(ledger)
    from labelnext.ledger import labeling as label_store

    real_insert = labels.insert

    def broken() -> object:
        raise RuntimeError("disk full")

    monkeypatch.setattr(label_store.labels, "insert", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ledger.import_labels(csv("a,cat,lu", "b,dog,lu"), filename="x.csv", project="pets")
    monkeypatch.setattr(label_store.labels, "insert", real_insert)
    assert stored(ledger) == before
    assert ledger.batch(batch).status == "queued"


def test_dry_run_reports_and_stores_nothing(ledger: Ledger) -> None:
    batch = submit(ledger, ["a", "b"])
    before = stored(ledger)
    preview = ledger.import_labels(
        csv("a,cat,lu", "b,dog,lu"), filename="x.csv", project="pets", dry_run=True
    )
    assert preview.dry_run and preview.batches == {batch: ("queued", "labeled")}
    assert preview.summary()[0].startswith("x.csv (csv, classification): would import 2")
    assert stored(ledger) == before


def test_a_row_only_in_a_cancelled_batch_keeps_its_label_and_status(ledger: Ledger) -> None:
    batch = submit(ledger, ["a", "b"])
    ledger.cancel(batch)
    result = ledger.import_labels(csv("a,cat,lu"), filename="x.csv", project="pets")
    assert result.in_cancelled == ("a",)
    assert ledger.batch_rows(batch)["status"].tolist() == ["cancelled", "cancelled"]
    assert ledger.labels("pets")["batch_id"].tolist() == [batch]


def test_labels_of_another_task_are_refused(ledger: Ledger) -> None:
    submit(ledger, ["a"])
    with pytest.raises(LabelFileError, match="unknown class"):
        # classes are checked against the batches' classes: 'cat|dog' is not one class
        ledger.import_labels(csv("a,cat|dog,lu"), filename="x.csv", project="pets")


def _box_record(width: int = 100, height: int = 50) -> dict[str, object]:
    return {"boxes": [], "image_width": width, "image_height": height}


def test_detection_round_trip_through_every_training_format(ledger: Ledger) -> None:
    submit(ledger, ["r1", "r2"], task="detection", records=[_box_record(), _box_record()])
    boxes = {
        "r1": [{"x": 10.0, "y": 5.0, "w": 20.0, "h": 10.0, "label": "dog"}],
        "r2": [],
    }
    content = b"data_row_id,label\n" + b"".join(
        f'{k},"{json.dumps(v).replace(chr(34), chr(34) * 2)}"\n'.encode() for k, v in boxes.items()
    )
    ledger.import_labels(content, filename="boxes.csv", project="pets")
    current = ledger.labels("pets")
    assert current["image_width"].tolist() == [100, 100]
    for fmt in ("csv", "parquet"):
        data = render_training_set(current, fmt, classes=CLASSES, project="pets")
        back = read_labels(data, filename=f"train.{fmt}", task="detection")
        assert back.mapping() == boxes
    coco = json.loads(render_training_set(current, "coco", classes=CLASSES, project="pets"))
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)
    assert coco["annotations"][0]["bbox"] == [10.0, 5.0, 20.0, 10.0]
    assert coco["annotations"][0]["category_id"] == 2
    back = read_labels(json.dumps(coco).encode(), filename="train.json", classes=CLASSES)
    assert back.mapping() == boxes
    with zipfile.ZipFile(io.BytesIO(render_training_set(current, "yolo", classes=CLASSES))) as z:
        assert z.read("labels/r1.txt").decode() == "1 0.200000 0.200000 0.200000 0.200000\n"
        assert z.read("labels/r2.txt") == b""
        assert "images/r1.png" in z.read("images.txt").decode()


def test_classification_training_set_round_trips_and_refuses_coco(ledger: Ledger) -> None:
    submit(ledger, ["a", "b", "=c"])
    ledger.import_labels(
        csv("a,cat,lu", "b,dog,lu", "=c,bird,lu"), filename="x.csv", project="pets"
    )
    current = ledger.labels("pets")
    data = render_training_set(current, "csv", classes=CLASSES, project="pets")
    assert b"'=c" in data  # a spreadsheet does not run it
    parquet = read_labels(render_training_set(current, "parquet"), filename="t.parquet")
    assert parquet.mapping() == {"a": "cat", "b": "dog", "=c": "bird"}
    with pytest.raises(ExportError, match="'coco' holds detection labels only"):
        render_training_set(current, "coco", project="pets")
    with pytest.raises(ExportError, match="has no labels yet"):
        render_training_set(current.iloc[0:0], "csv", project="pets")


def _sample_batch(ledger: Ledger, k: int = 20) -> tuple[int, dict[str, str]]:
    """Run 1's top ``k`` of the sample submitted as the CLI does, and their true labels."""
    from labelnext import load_run
    from labelnext.export import with_predictions
    from labelnext.paths import SAMPLE_DATA_DIR
    from labelnext.select import ranked

    run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    rows = with_predictions(ranked(run, "least_confidence", k=k), run)
    batch = ledger.submit(
        project="digits", name="b1", rows=rows, created_by="ana", strategy="least_confidence",
        run_id=None, task=run.task, classes=run.classes,
    ).batch_id  # fmt: skip
    truth = pd.read_csv(SAMPLE_DATA_DIR / "mnist" / "ground_truth.csv", dtype=str)
    labels = dict(zip(truth["data_row_id"], truth["label"], strict=True))
    return batch, {i: labels[i] for i in rows["data_row_id"]}


def test_round_trip_through_label_studio(ledger: Ledger) -> None:
    """Export the batch for Label Studio, answer every task as Label Studio's JSON export writes
    it, import that, and the training set holds exactly those labels."""
    from labelnext.export import export_batch

    batch, truth = _sample_batch(ledger)
    with zipfile.ZipFile(io.BytesIO(export_batch(ledger, batch, "labelstudio"))) as z:
        tasks = json.loads(z.read("tasks.json"))
    for n, task in enumerate(tasks, start=1):
        task["id"] = n
        answer = truth[task["data"]["data_row_id"]]
        task["annotations"] = [
            {
                "id": 100 + n,
                "completed_by": 7,
                "was_cancelled": False,
                "updated_at": "2026-12-01T10:00:00Z",
                "result": [
                    {"from_name": "label", "to_name": "image", "type": "choices",
                     "value": {"choices": [answer]}}
                ],
            }
        ]  # fmt: skip
    result = ledger.import_labels(
        json.dumps(tasks).encode(), filename="project-1-at-2026-12-01.json", project="digits"
    )
    assert (result.format, result.n_new) == ("labelstudio", len(truth))
    assert ledger.batch(batch).status == "labeled"
    data = render_training_set(ledger.labels("digits"), "parquet", project="digits")
    assert read_labels(data, filename="train.parquet").mapping() == truth


def test_round_trip_through_labelbox(ledger: Ledger) -> None:
    """The batch's rows answered as a Labelbox export v2 NDJSON (radio, by global key)."""
    batch, truth = _sample_batch(ledger)
    lines = []
    for n, (rid, answer) in enumerate(truth.items()):
        label = {
            "label_kind": "Default",
            "id": f"cllabel{n:05d}",
            "label_details": {"created_at": "2026-12-01T10:00:00.000+00:00",
                              "updated_at": "2026-12-01T10:00:00.000+00:00",
                              "created_by": "lu@example.test", "reviews": []},
            "performance_details": {"skipped": False},
            "annotations": {
                "objects": [],
                "classifications": [
                    {"name": "label", "value": "label",
                     "radio_answer": {"name": answer, "value": answer, "classifications": []}}
                ],
                "relationships": [],
            },
        }  # fmt: skip
        lines.append(
            json.dumps(
                {
                    "data_row": {"id": f"cl{n:05d}", "global_key": rid, "row_data": f"{rid}.png"},
                    "projects": {"clproject1": {"name": "digits", "labels": [label]}},
                }
            )
        )
    result = ledger.import_labels(
        ("\n".join(lines) + "\n").encode(), filename="export.ndjson", project="digits"
    )
    assert (result.format, result.n_new) == ("labelbox", len(truth))
    assert ledger.batch(batch).status == "labeled"
    assert set(ledger.labels("digits")["labeled_by"]) == {"lu@example.test"}
    data = render_training_set(ledger.labels("digits"), "csv", project="digits")
    assert read_labels(data, filename="train.csv").mapping() == truth
