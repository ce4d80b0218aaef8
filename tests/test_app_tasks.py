"""Detection, multi-label and ensemble runs in the dashboard: scoring options, boxes, bars."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from app_support import (
    DETECT_KEY,
    MULTILABEL_KEY,
    assert_clean,
    ledger_for,
    make_app,
    open_detail,
    open_run,
    page_ids,
    plotly_spec,
)
from streamlit.testing.v1 import AppTest

from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.readers import load_run
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring
from labelnext.select import ranked
from labelnext.uncertainty import ENSEMBLE_STRATEGIES, STRATEGIES


@pytest.fixture(scope="module")
def detect_run() -> ModelRun:
    return load_run(SAMPLE_DATA_DIR / "mnist_detect")


@pytest.fixture(scope="module")
def multilabel_run() -> ModelRun:
    return load_run(SAMPLE_DATA_DIR / "mnist_multilabel")


def _box_rows(at: AppTest) -> list[dict[str, object]]:
    table = next(d.value for d in at.dataframe if "uncertainty" in d.value.columns)
    return table.to_dict("records")  # type: ignore[no-any-return]


def _busiest_row(run: ModelRun) -> int:
    assert run.boxes is not None
    return int(np.argmax(run.boxes.counts))


# ---- detection ------------------------------------------------------------------------------


def test_detection_detail_lists_exactly_the_rows_boxes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detect_run: ModelRun
) -> None:
    row = _busiest_row(detect_run)
    at = open_detail(open_run(tmp_path, monkeypatch, DETECT_KEY), str(detect_run.ids[row]))
    assert detect_run.boxes is not None
    part = detect_run.boxes.of(row)
    shown = _box_rows(at)
    assert len(shown) == detect_run.boxes.counts[row] >= 3
    for line, xywh, label, score in zip(
        shown,
        detect_run.boxes.xywh[part],
        detect_run.boxes.label[part],
        detect_run.boxes.score[part],
        strict=True,
    ):
        assert line["label"] == detect_run.classes[label]
        assert line["score"] == pytest.approx(float(score))
        assert [line[c] for c in "xywh"] == pytest.approx(xywh.tolist())
        assert line["uncertainty"] == pytest.approx(1.0 - float(score))
    assert at.slider(key="detail_box_threshold").value == 0.0
    assert len(at.image) == 1
    assert any("Image score = least_confidence, max over boxes" in c.value for c in at.caption)


def test_the_box_threshold_hides_low_score_boxes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detect_run: ModelRun
) -> None:
    assert detect_run.boxes is not None
    row = _busiest_row(detect_run)
    scores = detect_run.boxes.score[detect_run.boxes.of(row)]
    cut = float(np.round(np.median(scores), 2))  # a cut that keeps some boxes and hides others
    at = open_detail(open_run(tmp_path, monkeypatch, DETECT_KEY), str(detect_run.ids[row]))
    before = _box_rows(at)
    at.slider(key="detail_box_threshold").set_value(cut).run()
    assert_clean(at)
    after = _box_rows(at)
    assert 0 < len(after) < len(before)
    assert [r["score"] for r in after] == pytest.approx([float(s) for s in scores if s >= cut])
    hidden = len(before) - len(after)
    assert any(f"{hidden} below {cut:.2f} hidden" in m.value for m in at.markdown)


def test_detection_review_orders_by_the_chosen_aggregation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detect_run: ModelRun
) -> None:
    at = open_run(tmp_path, monkeypatch, DETECT_KEY)
    at.switch_page("pages/review.py").run()
    assert_clean(at)
    assert page_ids(at) == list(ranked(detect_run, Scoring(), k=24)["data_row_id"])
    at.sidebar.selectbox(key="sidebar_aggregation").set_value("mean").run()
    assert_clean(at)
    assert at.session_state["scoring"] == Scoring(aggregation="mean")
    expected = ranked(detect_run, Scoring(aggregation="mean"), k=24)
    assert page_ids(at) == list(expected["data_row_id"])
    assert page_ids(at) != list(ranked(detect_run, Scoring(), k=24)["data_row_id"])
    # the caption under each thumbnail: predicted labels and the confidence under this scoring
    first = expected.iloc[0]
    assert any(
        m.value.startswith(f"**{first['predicted_label']}** · {first['confidence']:.2f}")
        for m in at.markdown
    )
    assert at.slider(key="review_box_threshold").value == 0.0


def test_detection_options_top_k_classes_and_no_box_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detect_run: ModelRun
) -> None:
    at = open_run(tmp_path, monkeypatch, DETECT_KEY)
    at.switch_page("pages/review.py").run()
    assert at.sidebar.selectbox(key="sidebar_strategy").options == ["Least confidence"]
    at.sidebar.selectbox(key="sidebar_aggregation").set_value("topk").run()
    at.sidebar.number_input(key="sidebar_top_k").set_value(2).run()
    at.sidebar.multiselect(key="sidebar_classes").select("7").run()
    at.sidebar.radio(key="sidebar_empty").set_value(1.0).run()
    assert_clean(at)
    chosen = Scoring(aggregation="topk", top_k=2, classes=("7",), empty_score=1.0)
    assert at.session_state["scoring"] == chosen
    assert page_ids(at) == list(ranked(detect_run, chosen, k=24)["data_row_id"])
    # images without a 7 score 1 (most uncertain) and so come first
    assert detect_run.boxes is not None
    sevens = set(detect_run.boxes.row[detect_run.boxes.label == detect_run.classes.index("7")])
    assert not {detect_run.row_index(i) for i in page_ids(at)} & sevens


def test_detection_batch_records_the_scoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detect_run: ModelRun
) -> None:
    at = open_run(tmp_path, monkeypatch, DETECT_KEY)
    at.sidebar.selectbox(key="sidebar_aggregation").set_value("mean").run()
    chosen = ranked(detect_run, Scoring(aggregation="mean"), k=4)
    at.session_state["selection"] = set(chosen["data_row_id"])
    at.sidebar.text_input(key="sidebar_user").input("Ada").run()
    at.switch_page("pages/batch.py").run()
    at.selectbox(key="batch_project").set_value("New project…")
    at.text_input(key="batch_new_project").input("boxes")
    at.button(key="batch_submit").click().run()
    assert_clean(at)
    info = ledger_for(tmp_path).batch(1)
    assert info.strategy == "least_confidence"
    params = info.strategy_params
    assert {k: params[k] for k in Scoring().params()} == Scoring(aggregation="mean").params()
    assert params["description"] == "least_confidence, mean over boxes"
    assert params["task"] == "detection"
    stored = ledger_for(tmp_path).batch_rows(1)
    assert list(stored["data_row_id"]) == list(chosen["data_row_id"])
    assert list(stored["score"]) == pytest.approx(list(chosen["score"]))


# ---- multi-label ----------------------------------------------------------------------------


def test_multilabel_detail_bars_every_class_and_the_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, multilabel_run: ModelRun
) -> None:
    run = multilabel_run
    assert run.probabilities is not None
    row = int(np.argmax((run.probabilities >= run.threshold).sum(axis=1)))
    at = open_detail(open_run(tmp_path, monkeypatch, MULTILABEL_KEY), str(run.ids[row]))
    spec = plotly_spec(at, "detail_multilabel")
    bars = spec["data"][0]
    assert bars["y"] == list(run.classes)
    assert bars["x"] == pytest.approx(run.probabilities[row].tolist(), abs=1e-6)
    lines = [s for s in spec["layout"]["shapes"] if s["type"] == "line"]
    assert [(s["x0"], s["x1"]) for s in lines] == [(run.threshold, run.threshold)]
    notes = [a["text"] for a in spec["layout"]["annotations"]]
    assert f"threshold {run.threshold:.2f}" in notes
    present = [c for c, p in zip(run.classes, run.probabilities[row], strict=True) if p >= 0.5]
    assert len(present) >= 2
    assert any(m.value.endswith(": " + ", ".join(present)) for m in at.markdown)
    assert {m.label: m.value for m in at.metric}["Predicted"] == "+".join(present)


def test_multilabel_aggregation_orders_review_and_captions_show_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, multilabel_run: ModelRun
) -> None:
    at = open_run(tmp_path, monkeypatch, MULTILABEL_KEY)
    at.switch_page("pages/review.py").run()
    assert at.sidebar.selectbox(key="sidebar_aggregation").options == ["Max", "Mean"]
    at.sidebar.selectbox(key="sidebar_strategy").set_value("entropy").run()
    at.sidebar.selectbox(key="sidebar_aggregation").set_value("mean").run()
    assert_clean(at)
    scoring = Scoring(strategy="entropy", aggregation="mean")
    expected = ranked(multilabel_run, scoring, k=24)
    assert page_ids(at) == list(expected["data_row_id"])
    captions = [m.value for m in at.markdown if re.search(r" · #\d+$", m.value)]  # under thumbnails
    assert len(captions) == 24
    for (_, line), caption in zip(expected.iterrows(), captions, strict=True):
        assert caption.startswith(f"**{line['predicted_label']}** · {line['confidence']:.2f}")
    assert any("+" in str(label) for label in expected["predicted_label"])


# ---- ensembles ------------------------------------------------------------------------------


def _ensemble_folder(root: Path) -> Path:
    """Four rows, three members, three classes: probabilities nested (n, T, C)."""
    folder = root / "ensemble"
    folder.mkdir(parents=True)
    members = [
        [[0.9, 0.05, 0.05], [0.85, 0.1, 0.05], [0.8, 0.1, 0.1]],  # members agree: a
        [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]],  # each sure, all differ
        [[0.4, 0.3, 0.3], [0.35, 0.35, 0.3], [0.3, 0.4, 0.3]],  # all unsure
        [[0.6, 0.4, 0.0], [0.5, 0.5, 0.0], [0.4, 0.6, 0.0]],  # a or b
    ]
    table = pa.table(
        {
            "data_row_id": ["agree", "disagree", "unsure", "a-or-b"],
            "probabilities": pa.array(members, type=pa.list_(pa.list_(pa.float32()))),
        }
    )
    pq.write_table(table, folder / "predictions.parquet")
    (folder / "run.json").write_text(
        json.dumps({"name": "tiny-ensemble", "classes": ["a", "b", "c"]}), encoding="utf-8"
    )
    return folder


@pytest.fixture
def ensemble(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AppTest, ModelRun]:
    folder = _ensemble_folder(tmp_path / "runs")
    at = make_app(tmp_path, monkeypatch)
    monkeypatch.setenv("LABELNEXT_ALLOWED_ROOTS", str(tmp_path / "runs"))
    at.query_params["run"] = f"path:{folder}"
    at.run()
    assert_clean(at)
    return at, load_run(folder)


def test_ensemble_strategies_are_offered_and_order_review(
    ensemble: tuple[AppTest, ModelRun],
) -> None:
    at, run = ensemble
    assert run.samples is not None and run.samples.shape == (4, 3, 3)
    options = at.sidebar.selectbox(key="sidebar_strategy").options
    assert len(options) == len(STRATEGIES + ENSEMBLE_STRATEGIES)
    at.switch_page("pages/review.py").run()
    at.sidebar.selectbox(key="sidebar_strategy").set_value("bald").run()
    assert_clean(at)
    assert page_ids(at) == list(ranked(run, "bald")["data_row_id"])
    assert page_ids(at)[0] == "disagree"


def test_ensemble_detail_shows_the_member_spread(ensemble: tuple[AppTest, ModelRun]) -> None:
    at, run = ensemble
    open_detail(at, "disagree")
    spec = plotly_spec(at, "detail_members")
    bars, dots = spec["data"]
    assert run.samples is not None
    members = run.samples[run.row_index("disagree")].astype(float)
    mean = members.mean(axis=0)
    by_class = dict(zip(bars["y"], bars["x"], strict=True))
    assert sorted(by_class) == ["a", "b", "c"]
    for i, name in enumerate(run.classes):
        assert by_class[name] == pytest.approx(mean[i], abs=1e-6)
    order = [run.classes.index(c) for c in bars["y"]]
    assert bars["error_x"]["array"] == pytest.approx(members.max(axis=0)[order] - mean[order])
    assert bars["error_x"]["arrayminus"] == pytest.approx(mean[order] - members.min(axis=0)[order])
    assert len(dots["x"]) == 9  # three members x three classes
    assert any("3 members; 1 of 3 vote for" in m.value for m in at.markdown)
    table = next(d.value for d in at.dataframe if "strategy" in d.value.columns)
    assert len(table) == 7
