"""Batch page, the batch builder: a method's proposal previewed, used as the selection, and
recorded with the batch (method, parameters, seed, embedding)."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import assert_clean, ledger_for, make_app, plotly_spec, sample_run, selection
from streamlit.testing.v1 import AppTest

from labelnext.ledger import Ledger
from labelnext.proposal import propose_batch
from labelnext.select import ranked
from labelnext_app.batch_builder import PROPOSAL
from labelnext_app.session import DEFAULT_STRATEGY


def _builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    at = make_app(tmp_path, monkeypatch).run()
    at.sidebar.text_input(key="sidebar_user").input("Ada").run()
    at.switch_page("pages/batch.py").run()
    assert_clean(at)
    return at


def _propose(at: AppTest, **widgets: object) -> list[str]:
    for key, value in widgets.items():
        widget = at.get("selectbox") + at.get("number_input") + at.get("text_input")
        found = [w for w in widget if w.key == f"builder_{key}"]
        assert found, key
        found[0].set_value(value).run()
    at.button(key="builder_propose").click().run()
    assert_clean(at)
    return list(at.session_state[PROPOSAL]["ids"])


def test_the_preview_is_the_librarys_pick_and_records_with_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _builder(tmp_path, monkeypatch)
    assert at.selectbox(key="builder_method").value == "auto"  # the measured default
    ids = _propose(at, method="diverse", size=30, seed=4)
    expected = propose_batch(sample_run(), 30, scoring=DEFAULT_STRATEGY, method="diverse", seed=4)
    assert ids == expected.rows["data_row_id"].tolist()
    assert [m.value for m in at.metric][:2] == ["30", "diverse"]
    picks_map = plotly_spec(at, "builder_map")
    assert picks_map["data"], "the picks are drawn over the map of the pool"
    assert len(at.get("imgs")) > 0  # thumbnails of the picks

    at.button(key="builder_use").click().run()
    assert selection(at) == set(ids)
    at.selectbox(key="batch_project").set_value("New project…")
    at.text_input(key="batch_new_project").input("p")
    at.button(key="batch_submit").click().run()
    assert_clean(at)
    assert at.success, "the batch is stored"
    info = ledger_for(tmp_path).batch(1)
    assert info.method == "diverse"
    assert info.method_params["seed"] == 4
    assert info.method_params["removed_by_hand"] == 0
    assert info.embedding_source == "run"
    assert sorted(ledger_for(tmp_path).batch_rows(1)["data_row_id"]) == sorted(ids)


def test_rows_unpicked_by_hand_are_counted_and_hand_picks_are_manual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _builder(tmp_path, monkeypatch)
    ids = _propose(at, method="cluster", size=10)
    at.button(key="builder_use").click().run()
    at.session_state["selection"] = frozenset(ids[:8])  # two unpicked on Review
    at.run()
    at.selectbox(key="batch_project").set_value("New project…")
    at.text_input(key="batch_new_project").input("p")
    at.button(key="batch_submit").click().run()
    ledger = ledger_for(tmp_path)
    assert ledger.batch(1).method == "cluster"
    assert ledger.batch(1).method_params["removed_by_hand"] == 2

    # a selection that owes nothing to a proposal is recorded as picked by hand
    hand = list(ranked(sample_run(), DEFAULT_STRATEGY, k=40)["data_row_id"])[30:33]
    at.session_state["selection"] = frozenset(hand)
    at.run()
    at.selectbox(key="batch_project").set_value("p")
    at.button(key="batch_submit").click().run()
    assert_clean(at)
    assert ledger.batch(2).method == "manual"


def test_queued_rows_are_never_proposed_and_count_as_covered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sample_run()
    first = propose_batch(run, 25, scoring=DEFAULT_STRATEGY, method="diverse")
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ledger.submit(
            project="p",
            name="b1",
            rows=first.rows,
            created_by="Bo",
            strategy="margin",
            run_id=ledger.register_run(run),
        )
    at = make_app(tmp_path, monkeypatch).run()
    at.session_state["project"] = "p"
    at.switch_page("pages/batch.py").run()
    ids = _propose(at, method="diverse", size=25)
    assert not set(ids) & set(first.rows["data_row_id"])
    again = propose_batch(
        run, 25, scoring=DEFAULT_STRATEGY, method="diverse", covered_ids=first.rows["data_row_id"]
    )
    assert ids == again.rows["data_row_id"].tolist()


@pytest.mark.parametrize(
    ("widgets", "message"),
    [
        ({"size": 5000}, "larger than the pool"),
        ({"quotas": "custom", "quota_text": "3=40, 5=40", "size": 50}, "quota"),
        ({"quotas": "custom", "quota_text": "three", "size": 5}, "Per-class quotas 'three'"),
        ({"method": "top", "min_distance": 1000.0, "size": 50}, "leaves only 1 row(s)"),
    ],
)
def test_impossible_requests_say_why_and_store_nothing(
    widgets: dict[str, object], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _builder(tmp_path, monkeypatch)
    for key, value in widgets.items():
        candidates = at.get("selectbox") + at.get("number_input") + at.get("text_input")
        next(w for w in candidates if w.key == f"builder_{key}").set_value(value).run()
    at.button(key="builder_propose").click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert PROPOSAL not in at.session_state
    assert selection(at) == set()
    assert ledger_for(tmp_path).batches().empty
