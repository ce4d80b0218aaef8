"""Home page: opens on the sample run, summary, strategy, loading runs and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import SAMPLE_KEY, assert_clean, ledger_for, make_app, sample_run
from readers_fixtures import LABELBOX_DIR, write_yolo

from labelnext.errors import RunValidationError
from labelnext.readers import load_run
from labelnext.scoring import Scoring
from labelnext.select import ranked
from labelnext_app.session import DEFAULT_STRATEGY

BAD_CSV = b"data_row_id,prob_a,prob_b\nx1,0.5,0.5\nx1,0.7,0.2\n,0.1,0.9\n"
GOOD_CSV = b"data_row_id,prob_a,prob_b,site\nx1,0.5,0.5,north\nx2,0.9,0.1,south\nx3,0.2,0.8,north\n"


def _metric(at, label: str) -> str:  # type: ignore[no-untyped-def]
    return next(m.value for m in at.metric if m.label == label)


def test_opens_on_the_first_sample_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    assert_clean(at)
    run = sample_run()
    assert at.session_state["run_key"] == SAMPLE_KEY
    assert _metric(at, "Rows") == f"{run.n_rows:,}"
    assert _metric(at, "Classes") == str(len(run.classes))
    assert _metric(at, "Already queued or labeled") == "0"
    assert any(run.name in m.value for m in at.sidebar.markdown)
    assert at.sidebar.selectbox(key="sidebar_strategy").value == DEFAULT_STRATEGY


def test_summary_counts_rows_in_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = sample_run()
    ledger = ledger_for(tmp_path)
    ledger.submit(
        project="p",
        name="b",
        rows=ranked(run, "margin", k=7),
        created_by="t",
        strategy="margin",
        run_id=None,
    )
    at = make_app(tmp_path, monkeypatch).run()
    assert _metric(at, "Already queued or labeled") == "7"


def test_strategy_choice_is_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.sidebar.selectbox(key="sidebar_strategy").set_value("entropy").run()
    assert_clean(at)
    assert at.session_state["scoring"] == Scoring(strategy="entropy")
    assert any("Confidence under entropy" in m.value for m in at.markdown)
    at.switch_page("pages/review.py").run()
    assert at.sidebar.selectbox(key="sidebar_strategy").value == "entropy"


def test_bad_upload_shows_the_library_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RunValidationError) as expected:
        load_run(BAD_CSV, filename="bad.csv")
    at = make_app(tmp_path, monkeypatch).run()
    # AppTest cannot upload; the uploader hands its file to the page through this key.
    at.session_state["home_pending_upload"] = ("bad.csv", BAD_CSV)
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    shown = at.error[0].value
    for problem in expected.value.problems:
        assert str(problem) in shown
    assert "bad.csv, row 2, field 'data_row_id'" in shown
    assert at.session_state["run_key"] == SAMPLE_KEY  # the open run is kept
    assert not list((tmp_path / "uploads").rglob("bad.csv"))  # and the bad file not kept


def test_good_upload_opens_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.session_state["home_pending_upload"] = ("mine.csv", GOOD_CSV)
    at.run()
    assert_clean(at)
    assert at.session_state["run_key"].startswith("upload:")
    assert _metric(at, "Rows") == "3"
    at.switch_page("pages/review.py").run()
    assert_clean(at)
    assert [c.key for c in at.checkbox if c.key.startswith("review_pick_")] == [
        "review_pick_x1",
        "review_pick_x3",
        "review_pick_x2",
    ]


def test_server_path_outside_allowed_roots_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes(GOOD_CSV)
    at = make_app(tmp_path, monkeypatch).run()
    at.segmented_control(key="home_source").set_value("Path on the server").run()
    at.text_input(key="home_server_path").input(str(outside))
    at.button(key="home_open_path").click().run()
    assert not at.exception
    assert "is outside the allowed roots" in at.error[0].value
    assert at.session_state["run_key"] == SAMPLE_KEY


def test_server_path_inside_allowed_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    (root / "good.csv").write_bytes(GOOD_CSV)
    (root / "bad.csv").write_bytes(BAD_CSV)
    at = make_app(tmp_path, monkeypatch)
    monkeypatch.setenv("LABELNEXT_ALLOWED_ROOTS", str(root))
    at.run()
    at.segmented_control(key="home_source").set_value("Path on the server").run()
    at.text_input(key="home_server_path").input(str(root / "bad.csv"))
    at.button(key="home_open_path").click().run()
    assert "row 2, field 'data_row_id'" in at.error[0].value
    at.text_input(key="home_server_path").input(str(root / "good.csv"))
    at.button(key="home_open_path").click().run()
    assert_clean(at)
    assert at.session_state["run_key"] == f"path:{root / 'good.csv'}"
    assert _metric(at, "Rows") == "3"


def test_upload_widget_and_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = make_app(tmp_path, monkeypatch)
    monkeypatch.setenv("LABELNEXT_MAX_UPLOAD_MB", "0")
    at.run()
    at.segmented_control(key="home_source").set_value("Upload a file").run()
    assert not at.exception
    at.session_state["home_pending_upload"] = ("mine.csv", GOOD_CSV)
    at.run()
    assert "the limit is 0 MB (LABELNEXT_MAX_UPLOAD_MB)" in at.error[0].value
    assert at.session_state["run_key"] == SAMPLE_KEY


def test_every_sample_is_offered_with_its_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    box = at.selectbox(key="home_sample")
    assert box.options == [
        "MNIST digits — classification, run 1",
        "MNIST digits — classification, run 2",
        "MNIST canvases — detection (COCO)",
        "MNIST canvases — multi-label",
    ]
    box.set_value("sample:mnist_detect").run()
    assert_clean(at)
    assert at.session_state["run_key"] == "sample:mnist_detect"
    assert _metric(at, "Task") == "detection"
    assert _metric(at, "Rows") == "240"
    box.set_value("sample:mnist_multilabel").run()
    assert _metric(at, "Task") == "multi-label"


@pytest.mark.parametrize(("kind", "task"), [("boxes", "detection"), ("checklist", "multilabel")])
def test_labelbox_ndjson_upload_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, task: str
) -> None:
    data = (LABELBOX_DIR / f"{kind}.ndjson").read_bytes()
    at = make_app(tmp_path, monkeypatch).run()
    at.segmented_control(key="home_source").set_value("Upload a file").run()
    at.session_state["home_pending_upload"] = (f"{kind}.ndjson", data)
    at.run()
    assert_clean(at)
    assert at.session_state["run_key"].endswith(f"/{kind}.ndjson")
    assert _metric(at, "Rows") == str(load_run(data, filename=f"{kind}.ndjson").n_rows)
    assert load_run(data, filename=f"{kind}.ndjson").task == task
    at.switch_page("pages/review.py").run()
    assert_clean(at)


def test_coco_results_upload_says_it_needs_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.segmented_control(key="home_source").set_value("Upload a file").run()
    assert any("open those as a folder" in c.value for c in at.caption)
    results = b'[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.5}]'
    at.session_state["home_pending_upload"] = ("results.json", results)
    at.run()
    assert not at.exception
    assert "need the COCO file that names them" in at.error[0].value
    assert at.session_state["run_key"] == SAMPLE_KEY


def test_server_path_to_a_yolo_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_yolo(tmp_path / "runs" / "yolo")
    at = make_app(tmp_path, monkeypatch)
    monkeypatch.setenv("LABELNEXT_ALLOWED_ROOTS", str(tmp_path / "runs"))
    at.run()
    at.segmented_control(key="home_source").set_value("Path on the server").run()
    at.text_input(key="home_server_path").input(str(folder))
    at.button(key="home_open_path").click().run()
    assert_clean(at)
    assert at.session_state["run_key"] == f"path:{folder}"
    assert _metric(at, "Task") == "detection"
    at.switch_page("pages/review.py").run()
    assert_clean(at)
    assert len(at.image) == len(load_run(folder).ids)
