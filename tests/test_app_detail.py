"""Detail page: deep link, prediction, scores, previous/next in view order, select."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import SAMPLE_KEY, assert_clean, make_app, sample_run, selection
from streamlit.testing.v1 import AppTest

from labelnext.scoring import scores_for_row
from labelnext.select import ranked
from labelnext_app.session import DEFAULT_STRATEGY


def _open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: str) -> AppTest:
    at = make_app(tmp_path, monkeypatch)
    at.run()
    at.query_params["run"] = SAMPLE_KEY
    at.query_params["row"] = row
    at.switch_page("pages/detail.py").run()
    assert_clean(at)
    return at


def test_deep_link_shows_the_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = sample_run()
    table = ranked(run, DEFAULT_STRATEGY)
    row = table.iloc[10]
    at = _open(tmp_path, monkeypatch, row["data_row_id"])
    assert at.title[0].value == f"Row {row['data_row_id']}"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Predicted"] == row["predicted_label"]
    assert metrics["Confidence"] == f"{row['confidence']:.3f}"
    assert len(at.image) == 1
    scores = next(d.value for d in at.dataframe if "strategy" in d.value.columns)
    expected = scores_for_row(run, run.row_index(row["data_row_id"]))
    assert len(scores) == len(expected) == 4
    assert list(scores["score"]) == [round(v, 4) for v in expected.values()]
    assert "#11 of" in at.caption[0].value


def test_previous_next_follow_the_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = list(ranked(sample_run(), DEFAULT_STRATEGY, k=5)["data_row_id"])
    at = _open(tmp_path, monkeypatch, ids[1])
    at.button(key="detail_next").click().run()
    assert at.title[0].value == f"Row {ids[2]}"
    at.button(key="detail_prev").click().run()
    at.button(key="detail_prev").click().run()
    assert at.title[0].value == f"Row {ids[0]}"
    assert at.button(key="detail_prev").disabled


def test_select_from_detail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = ranked(sample_run(), DEFAULT_STRATEGY, k=1)["data_row_id"].iloc[0]
    at = _open(tmp_path, monkeypatch, rid)
    at.button(key="detail_select").click().run()
    assert selection(at) == {rid}
    assert at.button(key="detail_select").label == "Unselect"
    at.button(key="detail_select").click().run()
    assert selection(at) == set()


def test_unknown_row_is_an_error_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.query_params["row"] = "no-such-row"
    at.switch_page("pages/detail.py").run()
    assert not at.exception
    assert "has no data row 'no-such-row'" in at.error[0].value


def test_back_to_grid_lands_on_the_rows_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = ranked(sample_run(), DEFAULT_STRATEGY)["data_row_id"].iloc[60]
    at = _open(tmp_path, monkeypatch, rid)
    at.button(key="detail_back").click().run()
    assert_clean(at)
    assert at.session_state["review_page"] == 3
    assert f"review_pick_{rid}" in [c.key for c in at.checkbox]


def test_deep_link_to_a_refused_run_explains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch)
    at.query_params["run"] = "path:/etc"
    at.query_params["row"] = "x"
    at.run()
    assert not at.exception
    assert at.session_state["run_key"] == "path:/etc"
    assert "Could not open /etc" in at.sidebar.error[0].value
    assert "is outside the allowed roots" in at.session_state["run_error"]
    at.switch_page("pages/home.py").run()
    assert "is outside the allowed roots" in at.error[0].value


def test_metadata_is_shown_readably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = sample_run()
    rid = str(run.ids[0])
    at = _open(tmp_path, monkeypatch, rid)
    meta = next(d.value for d in at.dataframe if "field" in d.value.columns)
    shown = dict(zip(meta["field"], meta["value"], strict=True))
    assert list(shown) == [str(c) for c in run.metadata.columns]
    assert shown["mean_intensity"] == f"{float(run.metadata['mean_intensity'].iloc[0]):.4g}"
    assert shown["ink_level"] == str(run.metadata["ink_level"].iloc[0])
