"""Compare page (run 1 against run 2 of the sample) and Home's calibration check."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import assert_clean, ledger_for, make_app, plotly_spec
from streamlit.testing.v1 import AppTest

from labelnext.ledger import Ledger
from labelnext.readers import load_run
from labelnext.select import ranked

MNIST = Path(__file__).resolve().parents[1] / "sample_data" / "mnist"


def _metric(at: AppTest, label: str) -> str:
    return str(next(m.value for m in at.metric if m.label == label))


def _frame(at: AppTest, column: str):  # type: ignore[no-untyped-def]
    """The table with ``column`` (AppTest does not report a dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _labeled_batch_1(ledger: Ledger) -> None:
    """The sample's batch 1 (run 1's top 300) submitted to "digits" and its labels imported."""
    run = load_run(MNIST / "run_001")
    rows = ranked(run, "least_confidence", k=300)
    ledger.submit(
        project="digits", name="b1", rows=rows, created_by="ada",
        strategy="least_confidence", run_id=None, classes=run.classes,
    )  # fmt: skip
    ledger.import_labels(MNIST / "batch_001_labels.csv", project="digits")


def test_compare_opens_on_run_1_against_run_2_with_the_hand_checked_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.switch_page("pages/compare.py").run()
    assert_clean(at)
    assert at.selectbox(key="compare_a").value == "sample:mnist/run_001"
    assert at.selectbox(key="compare_b").value == "sample:mnist/run_002"
    assert _metric(at, "Shared rows") == "4,575"
    assert _metric(at, "Mean confidence A → B") == "0.769 → 0.837"
    assert _metric(at, "Changed predicted class") == "925"
    assert not [m for m in at.metric if m.label == "Accuracy on labeled shared rows"]
    confusion = _frame(at, "9")
    assert int(confusion.to_numpy().sum()) == 4575
    assert int(confusion.to_numpy().trace()) == 4575 - 925
    # accuracy from the sample's ground-truth file
    at.selectbox(key="compare_labels").set_value("(a labels file…)").run()
    truth = (MNIST / "ground_truth.csv").read_bytes()
    at.get("file_uploader")[0].set_value(("ground_truth.csv", truth, "text/csv")).run()
    assert_clean(at)
    assert _metric(at, "Accuracy on labeled shared rows") == "80.8% → 83.5%"
    # the strips: each moved row links to run B's detail view
    assert len([b for b in at.button if b.key.startswith("compare_uncertain_open_")]) == 8
    at.button(key="compare_uncertain_open_0").click().run()
    assert not at.exception


def test_compare_with_imported_labels_follows_the_labeled_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _labeled_batch_1(ledger_for(tmp_path))
    at = make_app(tmp_path, monkeypatch).run()
    at.switch_page("pages/compare.py").run()
    assert_clean(at)
    assert at.selectbox(key="compare_labels").value == "digits"
    batches = _frame(at, "in_both")
    assert batches["batch"].tolist() == ["batch 1: b1"]
    assert batches["rows"].tolist() == [300] and batches["in_b"].tolist() == [0]
    assert batches["accuracy_a"].tolist() == pytest.approx([0.37])
    notes = " ".join(i.value for i in at.info)
    assert "none of its 300 rows is in" in notes


def test_compare_of_runs_with_other_classes_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.switch_page("pages/compare.py").run()
    at.selectbox(key="compare_b").set_value("sample:mnist_multilabel").run()
    assert_clean(at)
    notes = " ".join(i.value for i in at.info)
    assert "different tasks" in notes


def test_home_warns_about_run_1_on_its_labeled_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _labeled_batch_1(ledger_for(tmp_path))
    at = make_app(tmp_path, monkeypatch).run()
    warning = at.warning[0].value
    assert warning.startswith("Probabilities look poorly calibrated: ECE 0.056 on 300 labeled")
    assert "accuracy 37.0%" in warning and "labels imported into digits" in warning
    assert "temperature scaling (T = 1.01)" in warning


def test_home_warns_when_the_probabilities_are_poorly_calibrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 rows at 95% confidence, half of them right: ECE 0.45
    lines = ["data_row_id,prob_a,prob_b,ground_truth"]
    lines += [f"r{i:03d},0.95,0.05,{'a' if i % 2 else 'b'}" for i in range(100)]
    at = make_app(tmp_path, monkeypatch).run()
    at.session_state["home_pending_upload"] = ("overconfident.csv", "\n".join(lines).encode())
    at.run()
    assert not at.exception
    warning = at.warning[0].value
    assert warning.startswith("Probabilities look poorly calibrated: ECE 0.450 on 100 labeled rows")
    assert "T = " in warning
    # the reliability diagram: every row in the 0.95 bin, right half of the time
    spec = plotly_spec(at, "home_reliability")
    bars = spec["data"][0]
    assert bars["y"] == [0.5]
    assert bars["x"] == [pytest.approx(0.9666, abs=1e-3)]


def test_home_offers_to_score_with_the_fitted_temperature_and_batches_record_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _labeled_batch_1(ledger_for(tmp_path))
    at = make_app(tmp_path, monkeypatch).run()
    at.button(key="home_calibrate").click().run()
    assert not at.exception
    scoring = at.session_state["scoring"]
    assert scoring.temperature == pytest.approx(1.01, abs=0.005)
    assert [b.key for b in at.button if b.key == "home_uncalibrate"]
    queued = set(ledger_for(tmp_path).batch_rows(1)["data_row_id"])
    free = [i for i in load_run(MNIST / "run_001").ids if i not in queued][:2]
    at.session_state["selection"] = set(free)
    at.sidebar.text_input(key="sidebar_user").input("Ada").run()
    at.switch_page("pages/batch.py").run()
    at.selectbox(key="batch_project").set_value("digits")
    at.button(key="batch_submit").click().run()
    assert_clean(at)
    stored = ledger_for(tmp_path).batches("digits")  # newest first
    assert stored["n_rows"].tolist() == [2, 300]
    assert stored["strategy_params"].iloc[0]["temperature"] == pytest.approx(scoring.temperature)
