"""Review page: order, captions, filters, paging, selection and bulk actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import (
    SAMPLE_KEY,
    assert_clean,
    ledger_for,
    make_app,
    page_ids,
    sample_run,
    selection,
)
from streamlit.testing.v1 import AppTest

from labelnext.select import Filter, ranked
from labelnext_app.session import DEFAULT_STRATEGY


@pytest.fixture
def review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    at = make_app(tmp_path, monkeypatch).run()
    at.switch_page("pages/review.py").run()
    assert_clean(at)
    return at


def test_first_thumbnail_is_the_least_confident_row(review: AppTest) -> None:
    run = sample_run()
    expected = ranked(run, DEFAULT_STRATEGY, k=24)
    assert page_ids(review) == list(expected["data_row_id"])
    assert len(review.image) == 24
    # the caption under the first thumbnail: predicted label and confidence
    first = expected.iloc[0]
    caption = f"**{first['predicted_label']}** · {first['confidence']:.2f}"
    assert any(m.value.startswith(caption) for m in review.markdown)


@pytest.mark.parametrize("strategy", ["margin", "entropy"])
def test_order_follows_the_chosen_strategy(review: AppTest, strategy: str) -> None:
    review.sidebar.selectbox(key="sidebar_strategy").set_value(strategy).run()
    assert_clean(review)
    assert page_ids(review) == list(ranked(sample_run(), strategy, k=24)["data_row_id"])


def test_class_filter_changes_the_view(review: AppTest) -> None:
    before = page_ids(review)
    review.multiselect(key="review_classes").select("3").run()
    assert_clean(review)
    after = page_ids(review)
    assert after != before
    expected = ranked(sample_run(), DEFAULT_STRATEGY, flt=Filter(classes=("3",)), k=24)
    assert after == list(expected["data_row_id"])
    assert set(expected["predicted_label"]) == {"3"}


def test_confidence_and_metadata_filters(review: AppTest) -> None:
    run = sample_run()
    review.slider(key="review_conf").set_value((0.6, 0.7)).run()
    flt = Filter(min_confidence=0.6, max_confidence=0.7)
    assert page_ids(review) == list(ranked(run, DEFAULT_STRATEGY, flt=flt, k=24)["data_row_id"])
    review.selectbox(key="review_meta_col").set_value("ink_level").run()
    review.selectbox(key="review_meta_eq_ink_level").set_value("heavy").run()
    assert_clean(review)
    flt = Filter(min_confidence=0.6, max_confidence=0.7, metadata_equals=(("ink_level", "heavy"),))
    assert page_ids(review) == list(ranked(run, DEFAULT_STRATEGY, flt=flt, k=24)["data_row_id"])


def test_empty_view_says_so(review: AppTest) -> None:
    # under least confidence no row of ten classes is below 0.1
    review.sidebar.selectbox(key="sidebar_strategy").set_value("least_confidence").run()
    review.slider(key="review_conf").set_value((0.0, 0.01)).run()
    assert_clean(review)
    assert page_ids(review) == []
    assert "No rows match these filters" in review.info[0].value


def test_rows_in_a_batch_are_hidden_by_default(tmp_path: Path, review: AppTest) -> None:
    run = sample_run()
    queued = ranked(run, DEFAULT_STRATEGY, k=5)
    ledger_for(tmp_path).submit(
        project="p",
        name="b",
        rows=queued,
        created_by="t",
        strategy="least_confidence",
        run_id=None,
    )
    # a batch stored by someone else shows after cache.EXCLUDED_TTL_S seconds; expire it now
    from labelnext_app import cache

    cache.forget_excluded_ids()
    review.run()
    assert review.checkbox(key="review_hide_queued").value is True
    shown = page_ids(review)
    assert not set(shown) & set(queued["data_row_id"])
    flt = Filter(exclude_ids=frozenset(queued["data_row_id"]))
    assert shown == list(ranked(run, DEFAULT_STRATEGY, flt=flt, k=24)["data_row_id"])
    review.checkbox(key="review_hide_queued").uncheck().run()
    assert page_ids(review)[:5] == list(queued["data_row_id"])


def test_review_hides_the_queue_of_the_chosen_project_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows queued in another project stay in view (they once were hidden for every project)."""
    run = sample_run()
    top = ranked(run, DEFAULT_STRATEGY, k=9)
    in_a, in_b = top.iloc[:5], top.iloc[5:]
    ledger = ledger_for(tmp_path)
    for project, rows in (("a", in_a), ("b", in_b)):
        ledger.submit(
            project=project,
            name=project,
            rows=rows,
            created_by="t",
            strategy="least_confidence",
            run_id=None,
        )
    at = make_app(tmp_path, monkeypatch).run()
    at.switch_page("pages/review.py").run()
    assert_clean(at)
    # the last project used is the default: b's rows are hidden, a's are not
    assert at.selectbox(key="review_project").value == "b"
    assert at.selectbox(key="review_project").options == ["a", "b"]
    flt_b = Filter(exclude_ids=frozenset(in_b["data_row_id"]))
    assert page_ids(at) == list(ranked(run, DEFAULT_STRATEGY, flt=flt_b, k=24)["data_row_id"])
    assert page_ids(at)[:5] == list(in_a["data_row_id"])
    at.selectbox(key="review_project").set_value("a").run()
    assert_clean(at)
    flt_a = Filter(exclude_ids=frozenset(in_a["data_row_id"]))
    assert page_ids(at) == list(ranked(run, DEFAULT_STRATEGY, flt=flt_a, k=24)["data_row_id"])
    # the Batch page submits to the project Review chose, and Home counts its rows
    at.switch_page("pages/batch.py").run()
    assert at.selectbox(key="batch_project").value == "a"
    at.switch_page("pages/home.py").run()
    assert next(m.value for m in at.metric if m.label.startswith("Already queued")) == "5"


def test_select_top_n_selects_exactly_those(review: AppTest) -> None:
    review.number_input(key="review_topn").set_value(30).run()
    review.button(key="review_select_top").click().run()
    assert_clean(review)
    expected = set(ranked(sample_run(), DEFAULT_STRATEGY, k=30)["data_row_id"])
    assert selection(review) == expected
    assert review.sidebar.metric[0].value == "30"  # the sidebar count is current in this run
    # the 24 on this page show as picked
    assert all(review.checkbox(key=f"review_pick_{i}").value for i in page_ids(review))


def test_select_top_n_respects_the_filter(review: AppTest) -> None:
    review.multiselect(key="review_classes").select("8").run()
    review.number_input(key="review_topn").set_value(7).run()
    review.button(key="review_select_top").click().run()
    flt = Filter(classes=("8",))
    assert selection(review) == set(
        ranked(sample_run(), DEFAULT_STRATEGY, flt=flt, k=7)["data_row_id"]
    )


def test_select_page_invert_and_clear(review: AppTest) -> None:
    first_page = page_ids(review)
    review.checkbox(key=f"review_pick_{first_page[0]}").check().run()
    review.checkbox(key=f"review_pick_{first_page[1]}").check().run()
    assert selection(review) == set(first_page[:2])
    review.button(key="review_invert_page").click().run()
    assert selection(review) == set(first_page[2:])
    review.button(key="review_select_page").click().run()
    assert selection(review) == set(first_page)
    review.button(key="review_clear").click().run()
    assert selection(review) == set()
    assert not any(review.checkbox(key=f"review_pick_{i}").value for i in first_page)


def test_select_confidence_range(review: AppTest) -> None:
    review.slider(key="review_range").set_value((0.3, 0.35)).run()
    review.button(key="review_select_range").click().run()
    table = ranked(sample_run(), DEFAULT_STRATEGY)
    inside = table[(table["confidence"] >= 0.3 - 1e-6) & (table["confidence"] <= 0.35 + 1e-6)]
    assert len(inside) > 0
    assert selection(review) == set(inside["data_row_id"])


def test_unpicking_a_thumbnail_removes_it(review: AppTest) -> None:
    rid = page_ids(review)[3]
    review.checkbox(key=f"review_pick_{rid}").check().run()
    assert selection(review) == {rid}
    review.checkbox(key=f"review_pick_{rid}").uncheck().run()
    assert selection(review) == set()


def test_paging_and_page_size(review: AppTest) -> None:
    table = ranked(sample_run(), DEFAULT_STRATEGY)
    ids = list(table["data_row_id"])
    review.button(key="review_next").click().run()
    assert page_ids(review) == ids[24:48]
    review.number_input(key="review_page").set_value(5).run()
    assert page_ids(review) == ids[96:120]
    review.button(key="review_prev").click().run()
    assert page_ids(review) == ids[72:96]
    review.selectbox(key="review_page_size").set_value(48).run()
    assert_clean(review)
    assert page_ids(review) == ids[:48]  # a new page size starts again at page 1
    last = -(-len(ids) // 48)
    review.number_input(key="review_page").set_value(last).run()
    assert page_ids(review) == ids[(last - 1) * 48 :]


def test_selection_survives_paging_filters_and_page_switches(review: AppTest) -> None:
    one = page_ids(review)[:3]
    for rid in one:
        review.checkbox(key=f"review_pick_{rid}").check().run()
    review.button(key="review_next").click().run()
    two = page_ids(review)[:2]
    for rid in two:
        review.checkbox(key=f"review_pick_{rid}").check().run()
    assert selection(review) == set(one + two)
    review.multiselect(key="review_classes").select("1").run()
    assert selection(review) == set(one + two)
    review.switch_page("pages/batch.py").run()
    assert_clean(review)
    assert review.sidebar.metric[0].value == "5"
    review.switch_page("pages/review.py").run()
    assert selection(review) == set(one + two)
    # the filter and page came back too
    assert review.multiselect(key="review_classes").value == ["1"]


def test_open_detail_goes_to_that_row(review: AppTest) -> None:
    rid = page_ids(review)[2]
    review.button(key=f"review_open_{rid}").click().run()
    assert_clean(review)
    assert review.query_params["row"] == [rid] or review.query_params["row"] == rid
    assert review.title[0].value == f"Row {rid}"


def test_changing_run_clears_the_selection(review: AppTest) -> None:
    review.button(key="review_select_page").click().run()
    assert selection(review)
    review.session_state["run_key"] = SAMPLE_KEY.replace("run_001", "run_002")
    review.switch_page("pages/home.py").run()
    review.selectbox(key="home_sample").set_value(SAMPLE_KEY).run()
    assert selection(review) == set()


def test_paging_does_not_keep_old_views_alive(review: AppTest) -> None:
    """A callback defined in the page file kept each run's view and scores alive (16 MB per
    rerun at a million rows); the callbacks now live in labelnext_app.review_actions."""
    import gc

    from labelnext.view import View

    picks = [c for c in review.checkbox if c.key.startswith("review_pick_")]
    picks[0].check().run()  # a picked thumbnail's widget state outlives its page
    for _ in range(5):
        review.button(key="review_next").click().run()
    assert not review.exception
    gc.collect()
    assert sum(isinstance(o, View) for o in gc.get_objects()) <= 1
