"""Batch page: the labels box (upload, preview, import) and the training-set download."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import assert_clean, ledger_for, make_app, sample_run
from streamlit.testing.v1 import AppTest

from labelnext.labels import read_labels
from labelnext.select import ranked

NEW = "New project…"
MNIST = Path(__file__).resolve().parents[1] / "sample_data" / "mnist"


def _submitted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int = 6) -> AppTest:
    """Run 1's top ``k`` submitted to project "digits" from the page, by Ada."""
    at = make_app(tmp_path, monkeypatch).run()
    at.session_state["selection"] = set(
        ranked(sample_run(), "least_confidence", k=k)["data_row_id"]
    )
    at.sidebar.text_input(key="sidebar_user").input("Ada").run()
    at.switch_page("pages/batch.py").run()
    at.selectbox(key="batch_project").set_value(NEW)
    at.text_input(key="batch_new_project").input("digits")
    at.button(key="batch_submit").click().run()
    assert_clean(at)
    return at


def _labels_csv(ids: list[str], label: str = "3") -> bytes:
    return ("data_row_id,label\n" + "".join(f"{i},{label}\n" for i in ids)).encode()


def _uploader(at: AppTest):  # type: ignore[no-untyped-def]
    return next(u for u in at.get("file_uploader") if u.key.startswith("batch_labels_file"))


def test_upload_previews_then_imports_and_offers_the_training_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _submitted(tmp_path, monkeypatch)
    ids = list(ledger_for(tmp_path).batch_rows(1)["data_row_id"])
    assert any("No labels imported for this project yet" in c.value for c in at.caption)
    _uploader(at).set_value(("done.csv", _labels_csv(ids), "text/csv")).run()
    assert_clean(at)
    preview = "\n".join(c.value for c in at.code)
    assert "done.csv (csv, classification): would import 6 label(s)" in preview
    assert "batch 1: queued -> labeled" in preview
    assert ledger_for(tmp_path).labels("digits").empty  # a preview stores nothing
    at.button(key="batch_labels_import").click().run()
    assert_clean(at)
    assert any("imported 6 label(s)" in s.value for s in at.success)
    ledger = ledger_for(tmp_path)
    assert ledger.batch(1).status == "labeled"
    assert ledger.actions(batch_id=1)[["kind", "actor", "origin"]].values.tolist()[0] == [
        "import_labels",
        "Ada",
        "app",
    ]
    # the uploader is new (the file is done) and the training set is offered
    assert _uploader(at).value is None or _uploader(at).value == []
    keys = {b.key for b in at.get("download_button")}
    assert {"batch_training_csv", "batch_training_parquet"} <= keys
    assert "batch_training_coco" not in keys  # classification labels: no COCO / YOLO
    history = next(d.value for d in at.dataframe if "batch_id" in d.value.columns)
    assert history["status"].tolist() == ["labeled"]


def test_a_bad_file_is_refused_with_its_problems_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _submitted(tmp_path, monkeypatch)
    ids = list(ledger_for(tmp_path).batch_rows(1)["data_row_id"])
    bad = _labels_csv(ids[:2]) + b"not-in-a-batch,3\n" + f"{ids[0]},7\n".encode()
    _uploader(at).set_value(("bad.csv", bad, "text/csv")).run()
    assert not at.exception
    shown = "\n".join(e.value for e in at.error)
    assert "bad.csv, row 4, field 'label'" in shown and "labeled twice" in shown
    assert not [b for b in at.button if b.key == "batch_labels_import"]
    assert ledger_for(tmp_path).labels("digits").empty


def test_rows_outside_every_batch_need_the_checkbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _submitted(tmp_path, monkeypatch)
    ids = list(ledger_for(tmp_path).batch_rows(1)["data_row_id"])
    data = _labels_csv(ids[:1]) + b"mnist-09999,3\n"
    _uploader(at).set_value(("more.csv", data, "text/csv")).run()
    assert "is in no batch of project 'digits'" in "\n".join(e.value for e in at.error)
    at.checkbox(key="batch_labels_unbatched").check().run()
    assert_clean(at)
    assert "1 row(s) are in no batch" in "\n".join(c.value for c in at.code)
    at.button(key="batch_labels_import").click().run()
    assert len(ledger_for(tmp_path).labels("digits")) == 2


def test_hostile_labels_are_shown_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _submitted(tmp_path, monkeypatch)
    hostile = b'data_row_id,label\n"![x](https://evil.example/p.png)",**bold**\n'
    _uploader(at).set_value(("<b>x</b>.csv", hostile, "text/csv")).run()
    assert not at.exception and at.error
    for error in at.error:  # quoted inside a code block, never rendered
        assert "```" in error.value


def test_the_sample_batch_labels_import_on_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _submitted(tmp_path, monkeypatch, k=300)
    data = (MNIST / "batch_001_labels.csv").read_bytes()
    _uploader(at).set_value(("batch_001_labels.csv", data, "text/csv")).run()
    at.button(key="batch_labels_import").click().run()
    assert_clean(at)
    stored = ledger_for(tmp_path).labels("digits")
    assert dict(zip(stored["data_row_id"], stored["label"], strict=True)) == (
        read_labels(MNIST / "batch_001_labels.csv").mapping()
    )


def test_a_non_editor_cannot_import_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _submitted(tmp_path, monkeypatch)
    ids = list(ledger_for(tmp_path).batch_rows(1)["data_row_id"])
    _uploader(at).set_value(("done.csv", _labels_csv(ids), "text/csv")).run()
    assert not at.button(key="batch_labels_import").disabled  # no editors list: anyone may
    monkeypatch.setenv("LABELNEXT_EDITORS", "@lab.org")  # the list changes under the drawn page
    at.button(key="batch_labels_import").click().run()
    assert not at.exception
    assert any("Not imported" in e.value and "editors" in e.value for e in at.error)
    assert ledger_for(tmp_path).labels("digits").empty
    assert ledger_for(tmp_path).batch(1).status == "queued"
    assert at.button(key="batch_labels_import").disabled
