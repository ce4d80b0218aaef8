"""labelnext.view: ordering, paging and the bulk operations on a selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelnext.errors import SelectionError
from labelnext.readers import load_run
from labelnext.runs import ModelRun
from labelnext.scoring import run_scores
from labelnext.select import Filter
from labelnext.view import (
    View,
    build_view,
    clamp_page,
    invert_page,
    select_confidence_range,
    select_page,
    select_top_n,
    selection_frame,
    toggle,
)

# Seven rows, two classes. Least confidence = 1 - max(p): worked out by hand below.
#   id  p(cat)  max   score  colour
#   r1  0.90    0.90  0.10   red
#   r2  0.55    0.55  0.45   blue
#   r3  0.30    0.70  0.30   red
#   r4  0.50    0.50  0.50   blue
#   r5  0.45    0.55  0.45   red      (ties with r2: r2 first by id)
#   r6  0.99    0.99  0.01   blue
#   r7  0.20    0.80  0.20   red
CSV = """data_row_id,prob_cat,prob_dog,colour,size
r1,0.90,0.10,red,1
r2,0.55,0.45,blue,2
r3,0.30,0.70,red,3
r4,0.50,0.50,blue,4
r5,0.45,0.55,red,5
r6,0.99,0.01,blue,6
r7,0.20,0.80,red,7
"""
EXPECTED_ORDER = ["r4", "r2", "r5", "r3", "r7", "r1", "r6"]


@pytest.fixture
def run(tmp_path: Path) -> ModelRun:
    path = tmp_path / "tiny.csv"
    path.write_text(CSV)
    return load_run(path)


@pytest.fixture
def scores(run: ModelRun) -> np.ndarray:
    return run_scores(run, "least_confidence")


def test_view_orders_most_uncertain_first_ties_by_id(run: ModelRun, scores: np.ndarray) -> None:
    view = build_view(run, scores)
    assert list(view.view_ids) == EXPECTED_ORDER
    assert len(view) == 7 and view.n_pool == 7


def test_precomputed_order_gives_the_same_view(run: ModelRun, scores: np.ndarray) -> None:
    full = build_view(run, scores).order
    flt = Filter(classes=("dog",))
    assert list(build_view(run, scores, flt, full_order=full).order) == list(
        build_view(run, scores, flt).order
    )


def test_filters_keep_view_order(run: ModelRun, scores: np.ndarray) -> None:
    assert list(build_view(run, scores, Filter(classes=("dog",))).view_ids) == [
        "r5",
        "r3",
        "r7",
    ]
    conf = build_view(run, scores, Filter(min_confidence=0.5, max_confidence=0.7))
    assert list(conf.view_ids) == ["r4", "r2", "r5", "r3"]
    meta = build_view(run, scores, Filter(metadata_equals=(("colour", "blue"),)))
    assert list(meta.view_ids) == ["r4", "r2", "r6"]
    ranged = build_view(run, scores, Filter(metadata_ranges=(("size", 2.0, 4.0),)))
    assert list(ranged.view_ids) == ["r4", "r2", "r3"]
    excluded = build_view(run, scores, Filter(exclude_ids=frozenset({"r4", "r5"})))
    assert list(excluded.view_ids) == ["r2", "r3", "r7", "r1", "r6"]
    assert excluded.n_pool == 7


def test_unknown_filter_column_raises(run: ModelRun, scores: np.ndarray) -> None:
    with pytest.raises(SelectionError, match="Unknown metadata column 'weight'"):
        build_view(run, scores, Filter(metadata_equals=(("weight", 1),)))


def test_scores_shape_is_checked(run: ModelRun) -> None:
    with pytest.raises(ValueError, match=r"scores must have shape \(7,\), got \(3,\)"):
        build_view(run, np.zeros(3))


@pytest.fixture
def view(run: ModelRun, scores: np.ndarray) -> View:
    return build_view(run, scores)


def test_paging(view: View) -> None:
    assert view.n_pages(3) == 3
    assert view.page_ids(1, 3) == ["r4", "r2", "r5"]
    assert view.page_ids(2, 3) == ["r3", "r7", "r1"]
    assert view.page_ids(3, 3) == ["r6"]
    assert view.page_ids(99, 3) == ["r6"]  # clamped to the last page
    assert view.page_ids(0, 3) == ["r4", "r2", "r5"]
    assert view.n_pages(7) == 1 and view.n_pages(100) == 1
    with pytest.raises(ValueError, match="page_size must be >= 1, got 0"):
        view.n_pages(0)


def test_empty_view_has_one_empty_page(run: ModelRun, scores: np.ndarray) -> None:
    empty = build_view(run, scores, Filter(exclude_ids=frozenset(run.ids.tolist())))
    assert len(empty) == 0 and empty.n_pages(24) == 1 and empty.page_ids(1, 24) == []
    assert empty.top_ids(5) == []


def test_clamp_page() -> None:
    assert clamp_page(0, 5) == 1 and clamp_page(6, 5) == 5 and clamp_page(3, 5) == 3
    assert clamp_page(3, 0) == 1


def test_positions_pages_and_neighbours(view: View) -> None:
    assert view.position("r4") == 0 and view.position("r6") == 6
    assert view.position("nope") is None
    assert view.page_of("r3", 3) == 2 and view.page_of("nope", 3) is None
    assert view.neighbours("r4") == (None, "r2")
    assert view.neighbours("r3") == ("r5", "r7")
    assert view.neighbours("r6") == ("r1", None)
    assert view.neighbours("nope") == (None, None)


def test_lookups_by_id_use_the_run_index_not_the_id_strings(
    view: View, run: ModelRun, scores: np.ndarray
) -> None:
    # a binary search over the run's sorted ids: no hash index, no id string per row
    assert view.find_row == run.find_row and view.id_index is None
    assert "id_index" not in run.__dict__
    plain = View(order=view.order, ids=view.ids)  # no index: the slow path, same answers
    filtered = build_view(run, scores, Filter(classes=("cat",)))
    for rid in [*run.ids.tolist(), "nope"]:
        assert view.position(rid) == plain.position(rid)
        assert view.neighbours(rid) == plain.neighbours(rid)
        slow = View(order=filtered.order, ids=filtered.ids)
        assert filtered.position(rid) == slow.position(rid)
    assert view.row_position(run.row_index("r3")) == 3
    assert filtered.row_position(run.row_index("r7")) is None  # r7 is a dog: not in the view


def test_toggle() -> None:
    assert toggle({"a"}, "b") == frozenset({"a", "b"})
    assert toggle({"a", "b"}, "b") == frozenset({"a"})


def test_select_and_invert_page_keep_other_pages(view: View) -> None:
    before = frozenset({"r6", "r4"})
    page = view.page_ids(1, 3)
    assert select_page(before, page) == {"r6", "r4", "r2", "r5"}
    assert invert_page(before, page) == {"r6", "r2", "r5"}
    assert invert_page(invert_page(before, page), page) == before


def test_select_top_n_takes_the_view_head(view: View, run: ModelRun, scores: np.ndarray) -> None:
    assert select_top_n(frozenset(), view, 3) == {"r4", "r2", "r5"}
    assert select_top_n({"r6"}, view, 2) == {"r6", "r4", "r2"}
    assert select_top_n(frozenset(), view, 100) == set(EXPECTED_ORDER)
    dogs = build_view(run, scores, Filter(classes=("dog",)))
    assert select_top_n(frozenset(), dogs, 2) == {"r5", "r3"}
    with pytest.raises(SelectionError, match="n must be >= 0, got -1"):
        select_top_n(frozenset(), view, -1)


def test_select_confidence_range(view: View, scores: np.ndarray) -> None:
    confidence = 1.0 - scores
    assert select_confidence_range(frozenset(), view, confidence, 0.5, 0.55) == {
        "r4",
        "r2",
        "r5",
    }
    assert select_confidence_range({"r6"}, view, confidence, 0.0, 0.1) == {"r6"}
    with pytest.raises(SelectionError, match=r"0 <= low <= high <= 1, got \[0.6, 0.2\]"):
        select_confidence_range(frozenset(), view, confidence, 0.6, 0.2)


def test_bulk_ops_do_not_mutate_their_input(view: View) -> None:
    original = {"r1"}
    select_page(original, ["r2"])
    invert_page(original, ["r1"])
    select_top_n(original, view, 3)
    toggle(original, "r1")
    assert original == {"r1"}


def test_selection_frame_is_in_view_order(run: ModelRun, scores: np.ndarray) -> None:
    frame = selection_frame(run, scores, {"r6", "r2", "r3", "unknown"})
    assert list(frame.columns) == [
        "data_row_id",
        "image",
        "predicted_label",
        "score",
        "confidence",
        "rank",
    ]
    assert list(frame["data_row_id"]) == ["r2", "r3", "r6"]
    assert list(frame["rank"]) == [1, 2, 3]
    assert list(frame["predicted_label"]) == ["cat", "dog", "cat"]
    assert frame["score"].tolist() == pytest.approx([0.45, 0.30, 0.01], abs=1e-6)
    assert frame["confidence"].tolist() == pytest.approx([0.55, 0.70, 0.99], abs=1e-6)
    assert selection_frame(run, scores, set()).empty
