"""Batch page: submit the selection to the ledger, conflicts, history and exports."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import assert_clean, ledger_for, make_app, sample_run, selection
from streamlit.testing.v1 import AppTest

from labelnext.select import ranked
from labelnext_app.session import DEFAULT_STRATEGY

NEW = "New project…"


def _batch_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ids: list[str]) -> AppTest:
    at = make_app(tmp_path, monkeypatch).run()
    at.session_state["selection"] = set(ids)
    at.sidebar.text_input(key="sidebar_user").input("Ada").run()
    at.switch_page("pages/batch.py").run()
    assert_clean(at)
    return at


def _submit(at: AppTest, project: str, *, new: bool = True, on_conflict: str | None = None) -> None:
    if new:
        at.selectbox(key="batch_project").set_value(NEW)
        at.text_input(key="batch_new_project").input(project)
    else:
        at.selectbox(key="batch_project").set_value(project)
    if on_conflict:
        at.radio(key="batch_on_conflict").set_value(on_conflict)
    at.button(key="batch_submit").click().run()


def test_submit_stores_exactly_the_selection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sample_run()
    top = ranked(run, DEFAULT_STRATEGY, k=12)
    ids = list(top["data_row_id"])[::2]
    at = _batch_page(tmp_path, monkeypatch, ids)
    assert at.metric[0].value == "6"
    assert at.text_input(key="batch_name").value.startswith(f"{run.name}-{DEFAULT_STRATEGY}-")
    at.select_slider(key="batch_priority").set_value(2)
    at.text_area(key="batch_note").input("ambiguous 4s and 9s")
    _submit(at, "digits-review")
    assert_clean(at)
    assert at.success[0].value.startswith("Batch #1 stored in project “digits-review” with 6 rows")
    assert selection(at) == set()
    assert at.sidebar.metric[0].value == "0"

    ledger = ledger_for(tmp_path)
    stored = ledger.batch_rows(1)
    assert sorted(stored["data_row_id"]) == sorted(ids)
    info = ledger.batch(1)
    assert (info.project, info.priority, info.note, info.created_by, info.strategy) == (
        "digits-review",
        2,
        "ambiguous 4s and 9s",
        "Ada",
        DEFAULT_STRATEGY,
    )
    # rows keep the order, scores and confidences of the strategy at selection time
    expected = top.set_index("data_row_id").loc[ids]
    assert list(stored["data_row_id"]) == ids
    assert list(stored["score"]) == pytest.approx(list(expected["score"]))
    # the batch shows in the history
    history = next(d.value for d in at.dataframe if "batch_id" in d.value.columns)
    assert list(history["batch_id"]) == [1] and list(history["n_rows"]) == [6]


def test_the_form_token_is_the_client_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = list(ranked(sample_run(), "margin", k=3)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids)
    token = at.session_state["batch_client_token"]
    _submit(at, "p")
    assert ledger_for(tmp_path).batch(1).client_token == token
    assert at.session_state["batch_client_token"] != token  # the next form gets a new one


def test_conflicts_are_refused_or_trimmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = list(ranked(sample_run(), DEFAULT_STRATEGY, k=6)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids[:3])
    _submit(at, "p")
    assert at.success
    at.session_state["selection"] = set(ids[2:5])
    at.run()
    _submit(at, "p", new=False)
    assert not at.exception
    assert f"{ids[2]} (batch 1)" in at.error[0].value
    assert at.dataframe[0].value.to_dict("records") == [{"data_row_id": ids[2], "open batch": 1}]
    assert selection(at) == set(ids[2:5])  # nothing submitted, selection kept
    assert len(ledger_for(tmp_path).batches()) == 1
    _submit(at, "p", new=False, on_conflict="Leave those rows out")
    assert_clean(at)
    assert "with 2 rows. Left out 1 row(s)" in at.success[0].value
    assert sorted(ledger_for(tmp_path).batch_rows(2)["data_row_id"]) == sorted(ids[3:5])


def test_missing_name_and_project_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.session_state["selection"] = {"mnist-00000"}
    at.switch_page("pages/batch.py").run()
    at.button(key="batch_submit").click().run()
    assert not at.exception
    message = at.error[0].value
    assert "enter your name in the sidebar" in message
    assert "choose a project or type the name of a new one" in message
    assert selection(at) == {"mnist-00000"}


def test_empty_selection_cannot_be_submitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.switch_page("pages/batch.py").run()
    assert_clean(at)
    assert at.button(key="batch_submit").disabled
    assert "Nothing is selected yet" in at.info[0].value


def test_the_next_suggested_name_counts_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = list(ranked(sample_run(), DEFAULT_STRATEGY, k=3)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids)
    assert at.text_input(key="batch_name").value.endswith("-b1")
    _submit(at, "p")
    assert_clean(at)
    name = at.text_input(key="batch_name").value
    assert name.endswith("-b2") and not name.endswith("-0")
    assert ledger_for(tmp_path).batch(1).name.endswith("-b1")


def test_download_section_names_the_batch_and_history_rows_pick_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = list(ranked(sample_run(), DEFAULT_STRATEGY, k=6)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids[:2])
    _submit(at, "first")
    at.session_state["selection"] = set(ids[2:6])
    at.run()
    _submit(at, "second")
    assert_clean(at)
    history = next(d.value for d in at.dataframe if "batch_id" in d.value.columns)
    assert list(history["batch_id"]) == [2, 1]  # newest first
    # the batch just submitted is the one offered for download, and every button says so
    assert at.selectbox(key="batch_export_pick").value == 2
    labels = [d.proto.label for d in at.get("download_button")]
    formats = ("CSV", "Parquet", "JSON Lines", "Labelbox", "Label Studio")
    assert labels == [f"{fmt} · #2" for fmt in formats]
    assert any(m.value.startswith("**Batch #2 ·** ") and "4 rows" in m.value for m in at.markdown)
    # clicking the second history row (batch 1) picks batch 1
    at.session_state["batch_history"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    assert at.selectbox(key="batch_export_pick").value == 1
    assert any(m.value.startswith("**Batch #1 ·** ") and "2 rows" in m.value for m in at.markdown)
    # and the picker still works after a click
    at.selectbox(key="batch_export_pick").set_value(2).run()
    assert at.selectbox(key="batch_export_pick").value == 2


def _confirm(at: AppTest) -> None:
    """Press the confirmation dialog's yes."""
    at.button(key="batch_confirm_yes").click().run()


def test_mark_labeled_some_rows_then_the_rest_and_cancel_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sample_run()
    ids = list(ranked(run, DEFAULT_STRATEGY, k=6)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids[:4])
    _submit(at, "digits")
    ledger = ledger_for(tmp_path)
    second = ledger.submit(
        project="digits",
        name="other",
        rows=ranked(run, DEFAULT_STRATEGY, k=6).iloc[4:],
        created_by="t",
        strategy="least_confidence",
        run_id=None,
    ).batch_id
    at.selectbox(key="batch_export_pick").set_value(1).run()

    at.text_area(key="batch_mark_rows").input(f"{ids[0]}\n{ids[1]}").run()
    at.button(key="batch_mark_labeled").click().run()
    _confirm(at)
    assert_clean(at)
    assert "Batch #1: 2 row(s) marked labeled (2 listed row(s))" in at.success[-1].value
    rows = ledger_for(tmp_path).batch_rows(1).set_index("data_row_id")["status"]
    assert rows[ids[0]] == rows[ids[1]] == "labeled"
    assert rows[ids[2]] == "open"

    at.button(key="batch_mark_labeled").click().run()  # the rest of the batch
    _confirm(at)
    assert ledger_for(tmp_path).batch(1).status == "labeled"
    assert at.button(key="batch_cancel").disabled  # a labeled batch cannot be cancelled

    at.selectbox(key="batch_export_pick").set_value(second).run()
    at.button(key="batch_cancel").click().run()
    _confirm(at)
    assert f"Batch #{second} cancelled: 2 row(s) are free" in at.success[-1].value
    assert ledger_for(tmp_path).excluded_ids("digits") == frozenset(ids[:4])


def test_writes_that_change_much_ask_first_and_can_be_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = list(ranked(sample_run(), DEFAULT_STRATEGY, k=5)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids)
    _submit(at, "digits")
    # Cancel asks, naming the batch and its rows; keeping it changes nothing
    at.button(key="batch_cancel").click().run()
    asked = " ".join(m.value for m in at.markdown)
    assert "**Cancel** batch **#1**" in asked and "5 open row(s) are freed" in asked
    at.button(key="batch_confirm_no").click().run()
    assert ledger_for(tmp_path).batch(1).status == "queued"
    # confirmed, it is cancelled; Undo reopens it with its rows
    at.button(key="batch_cancel").click().run()
    _confirm(at)
    assert ledger_for(tmp_path).batch(1).status == "cancelled"
    at.button(key="batch_undo").click().run()
    assert_clean(at)
    assert "Undone: batch #1 is queued again (5 row(s))" in at.success[-1].value
    assert ledger_for(tmp_path).excluded_ids("digits") == frozenset(ids)
    # a mark of every row, then its undo: the rows are open again
    at.button(key="batch_mark_labeled").click().run()
    asked = " ".join(m.value for m in at.markdown)
    assert "Mark all 5 open row(s) of batch **#1**" in asked
    _confirm(at)
    assert ledger_for(tmp_path).batch(1).status == "labeled"
    at.button(key="batch_undo").click().run()
    assert (ledger_for(tmp_path).batch_rows(1)["status"] == "open").all()
    # every step is recorded with who did it, from the app
    actions = ledger_for(tmp_path).actions(batch_id=1)
    assert list(actions["kind"]) == ["unmark", "mark_labeled", "reopen", "cancel", "submit"]
    assert set(actions["actor"]) == {"Ada"} and set(actions["origin"]) == {"app"}


def test_a_cancelled_batch_reopens_only_while_its_rows_are_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sample_run()
    ids = list(ranked(run, DEFAULT_STRATEGY, k=3)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids)
    _submit(at, "digits")
    at.button(key="batch_cancel").click().run()
    _confirm(at)
    ledger_for(tmp_path).submit(
        project="digits",
        name="took them",
        rows=ranked(run, DEFAULT_STRATEGY, k=1),
        created_by="bob",
        strategy="least_confidence",
        run_id=None,
    )
    at.selectbox(key="batch_export_pick").set_value(1).run()
    at.button(key="batch_reopen").click().run()
    assert "Not reopened" in at.error[-1].value and ids[0] in at.error[-1].value
    assert ledger_for(tmp_path).batch(1).status == "cancelled"


def test_marking_rows_that_are_not_in_the_batch_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = list(ranked(sample_run(), DEFAULT_STRATEGY, k=3)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids)
    _submit(at, "digits")
    at.text_area(key="batch_mark_rows").input("not-a-row").run()
    at.button(key="batch_mark_labeled").click().run()
    _confirm(at)
    assert "not-a-row" in at.error[-1].value
    assert (ledger_for(tmp_path).batch_rows(1)["status"] == "open").all()


def test_a_detection_batch_keeps_its_boxes_and_downloads_for_each_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import json
    import zipfile

    from labelnext.paths import SAMPLE_DATA_DIR
    from labelnext.readers import load_run

    run = load_run(SAMPLE_DATA_DIR / "mnist_detect")
    ids = list(ranked(run, "least_confidence", k=3)["data_row_id"])
    at = make_app(tmp_path, monkeypatch)
    at.query_params["run"] = "sample:mnist_detect"
    at.run()
    at.session_state["selection"] = set(ids)
    at.sidebar.text_input(key="sidebar_user").input("Ada").run()
    at.switch_page("pages/batch.py").run()
    _submit(at, "canvases")
    ledger = ledger_for(tmp_path)
    info = ledger.batch(1)
    assert (info.task, info.classes) == ("detection", run.classes)
    stored = ledger.batch_rows(1).set_index("data_row_id")["prediction"]
    first = run.row_index(ids[0])
    assert len(stored[ids[0]]["boxes"]) == int(run.boxes.counts[first])
    # COCO is offered for a detection batch; Label Studio local files are previewed
    downloads = {d.proto.id.rsplit("-", 1)[-1] for d in at.get("download_button")}
    assert "batch_download_coco" in downloads
    at.selectbox(key="batch_image_preset").set_value("label-studio")
    at.text_input(key="batch_files_root").input(str(SAMPLE_DATA_DIR)).run()
    assert_clean(at)
    caption = next(c.value for c in at.caption if "First image as exported" in c.value)
    assert "/data/local-files/?d=mnist_detect" in caption
    data = export_bytes(ledger, 1, "labelstudio", "label-studio", SAMPLE_DATA_DIR)
    tasks = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("tasks.json"))
    assert tasks[0]["data"]["image"].startswith("/data/local-files/?d=mnist_detect")
    assert tasks[0]["predictions"][0]["result"][0]["type"] == "rectanglelabels"


def test_images_the_tool_cannot_load_are_warned_about_before_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = list(ranked(sample_run(), DEFAULT_STRATEGY, k=3)["data_row_id"])
    at = _batch_page(tmp_path, monkeypatch, ids)
    _submit(at, "digits")
    # the sample's references are bare file names: Label Studio cannot load them as written
    assert any("labelstudio" in w.value for w in at.warning)
    at.selectbox(key="batch_image_preset").set_value("custom").run()
    at.text_input(key="batch_image_template").input("https://cdn.example.org/mnist").run()
    assert_clean(at)
    assert not [w.value for w in at.warning if "labelstudio" in w.value]


def export_bytes(ledger, batch_id, fmt, preset, root):  # type: ignore[no-untyped-def]
    from labelnext import export

    return export.export_batch(
        ledger,
        batch_id,
        fmt,
        mark_exported=False,
        image_url=export.image_url_template(preset),
        files_root=root,
    )
