"""Ranking and selection: order, ties by data_row_id, top-k, filters, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelnext.errors import EmptyPoolError, SelectionError
from labelnext.readers import load_run
from labelnext.select import Filter, descending_stable, filter_mask, order, ranked, top_k


def test_order_is_most_uncertain_first_with_ties_by_id() -> None:
    scores = np.array([0.2, 0.9, 0.5, 0.9, 0.5])
    ids = np.array(["e", "d", "c", "b", "a"], dtype=object)
    # 0.9: b (3) before d (1); 0.5: a (4) before c (2); then 0.2
    assert order(scores, ids).tolist() == [3, 1, 4, 2, 0]


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_top_k_equals_the_head_of_the_full_order(k: int) -> None:
    scores = np.array([0.2, 0.9, 0.5, 0.9, 0.5])
    ids = np.array(["e", "d", "c", "b", "a"], dtype=object)
    assert top_k(scores, ids, k).tolist() == order(scores, ids).tolist()[:k]


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.5, 0.9, 1.0]), min_size=1, max_size=300),
    k=st.integers(1, 300),
    seed=st.integers(0, 1000),
)
def test_top_k_with_many_ties_matches_a_full_sort(values: list[float], k: int, seed: int) -> None:
    scores = np.array(values)
    ids = np.array([f"id{i:04d}" for i in range(len(values))], dtype=object)
    np.random.default_rng(seed).shuffle(ids)
    k = min(k, len(values))
    expected = sorted(range(len(values)), key=lambda i: (-scores[i], ids[i]))[:k]
    assert top_k(scores, ids, k).tolist() == expected
    rank = np.argsort(np.argsort(ids.astype(str)))
    assert top_k(scores, ids, k, id_rank=rank).tolist() == expected


def test_top_k_errors_carry_the_numbers() -> None:
    scores = np.array([0.1, 0.2, 0.3])
    ids = np.array(["a", "b", "c"], dtype=object)
    with pytest.raises(SelectionError, match="k must be >= 1, got 0"):
        top_k(scores, ids, 0)
    with pytest.raises(SelectionError, match="k=5 is larger than the pool of 3 row"):
        top_k(scores, ids, 5)
    with pytest.raises(EmptyPoolError, match="pool is empty"):
        top_k(scores, ids, 1, mask=np.zeros(3, dtype=bool))


@pytest.fixture
def run(tmp_path: Path):
    path = tmp_path / "run.csv"
    path.write_text(
        "data_row_id,prob_cat,prob_dog,camera,lux\n"
        "a,0.9,0.1,left,10\n"
        "b,0.6,0.4,right,20\n"
        "c,0.2,0.8,left,30\n"
        "d,0.5,0.5,right,40\n"
        "e,0.45,0.55,left,50\n"
    )
    return load_run(path)


def test_ranked_frame(run) -> None:
    frame = ranked(run, "least_confidence")
    assert frame["data_row_id"].tolist() == ["d", "e", "b", "c", "a"]
    assert frame["rank"].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(frame["confidence"], 1 - frame["score"])
    np.testing.assert_allclose(frame["confidence"], [0.5, 0.55, 0.6, 0.8, 0.9], atol=1e-6)
    assert frame["predicted_label"].tolist() == ["cat", "dog", "cat", "dog", "cat"]


def test_filters_are_plain_data(run) -> None:
    assert ranked(run, "margin", flt=Filter(classes=("dog",)))["data_row_id"].tolist() == [
        "e",
        "c",
    ]
    in_range = Filter(min_confidence=0.55, max_confidence=0.8)
    assert ranked(run, "least_confidence", flt=in_range)["data_row_id"].tolist() == ["e", "b", "c"]
    left = Filter(metadata_equals=(("camera", "left"),))
    assert set(ranked(run, "entropy", flt=left)["data_row_id"]) == {"a", "c", "e"}
    bright = Filter(metadata_ranges=(("lux", 25.0, 45.0),))
    assert set(ranked(run, "entropy", flt=bright)["data_row_id"]) == {"c", "d"}
    queued = Filter(exclude_ids=frozenset({"d", "e", "not-in-run"}))
    assert ranked(run, "least_confidence", flt=queued, k=2)["data_row_id"].tolist() == ["b", "c"]
    assert Filter(classes=("dog",)) == Filter(classes=("dog",))  # hashable value objects


def test_filter_errors(run) -> None:
    scores = np.zeros(run.n_rows)
    with pytest.raises(SelectionError, match="Unknown class\\(es\\) bird; the run's classes"):
        filter_mask(run, scores, Filter(classes=("bird",)))
    with pytest.raises(SelectionError, match="Unknown metadata column 'iso'; the run has: camera"):
        filter_mask(run, scores, Filter(metadata_equals=(("iso", 1),)))
    with pytest.raises(SelectionError, match="min_confidence must be in \\[0, 1\\], got 1.5"):
        Filter(min_confidence=1.5)
    with pytest.raises(SelectionError, match="above max_confidence"):
        Filter(min_confidence=0.8, max_confidence=0.2)
    everything = Filter(exclude_ids=frozenset(run.ids.tolist()))
    with pytest.raises(EmptyPoolError):
        ranked(run, "margin", flt=everything)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=1, max_size=200),
    seed=st.integers(0, 1000),
    keep=st.integers(0, 3),
)
def test_order_with_id_rank_equals_the_plain_two_key_sort(
    values: list[float], seed: int, keep: int
) -> None:
    scores = np.array(values)
    ids = np.array([f"id{i:04d}" for i in range(len(values))], dtype=object)
    np.random.default_rng(seed).shuffle(ids)
    rank = np.argsort(np.argsort(ids.astype(str)))
    mask = np.arange(len(values)) % 4 != keep
    for m in (None, mask):
        assert (
            order(scores, ids, mask=m, id_rank=rank).tolist() == order(scores, ids, mask=m).tolist()
        )


def test_load_run_precomputes_the_id_rank(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("data_row_id,prob_a,prob_b\nb,0.5,0.5\nc,0.1,0.9\na,0.3,0.7\n")
    run = load_run(path)
    # the duplicate check sorted the ids already: the run carries those ranks, not a new sort
    assert run.presorted_id_rank is not None
    assert run.id_rank is run.presorted_id_rank
    assert run.id_rank.tolist() == [1, 2, 0]


def test_only_ids_keeps_just_those_rows() -> None:
    from labelnext.paths import SAMPLE_DATA_DIR

    run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    keep = frozenset(run.ids[[3, 10, 40]])
    table = ranked(run, "margin", flt=Filter(only_ids=keep, exclude_ids=frozenset([run.ids[10]])))
    assert set(table["data_row_id"]) == {run.ids[3], run.ids[40]}
    with pytest.raises(EmptyPoolError):
        ranked(run, "margin", flt=Filter(only_ids=frozenset()))


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.sampled_from([0.0, -0.0, 0.25, 0.5, 1.0]),
            st.floats(0.0, 1.0, width=32),
            st.floats(0.0, 1e-300),
            st.floats(-1.0, 1.0),
        ),
        min_size=0,
        max_size=300,
    ),
)
def test_descending_stable_is_the_stable_argsort(values: list[float]) -> None:
    # the integer-key sort and its exact repair of near-equal values give the same permutation
    x = np.array(values, dtype=np.float64)
    assert descending_stable(x).tolist() == np.argsort(-x, kind="stable").tolist()


def test_descending_stable_repairs_values_that_differ_only_in_low_bits() -> None:
    base = np.float64(0.5)
    x = np.array([base + i * np.finfo(np.float64).eps for i in (0, 3, 1, 2, 3, 0)])
    assert descending_stable(x).tolist() == np.argsort(-x, kind="stable").tolist()


def test_load_keeps_ids_and_image_paths_in_arrow_until_a_page_needs_them(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "data_row_id,image,prob_a,prob_b\nb,b.png,0.5,0.5\nc,c.png,0.1,0.9\né,a.png,0.3,0.7\n"
    )
    run = load_run(path)
    table = ranked(run, "least_confidence", k=2)
    assert table["data_row_id"].tolist() == ["b", "é"]
    assert table["image"].tolist() == ["b.png", "a.png"]
    # no Python string per row was made, and no hash index: lookups are a binary search
    assert "_ids_objects" not in run.__dict__ and "_images_objects" not in run.__dict__
    assert run.find_row("é") == 2 and run.find_row("c") == 1 and run.find_row("zz") is None
    assert run.row_index("b") == 0 and "id_index" not in run.__dict__
    assert run.ids.tolist() == ["b", "c", "é"]  # the numpy view is still there on demand
    assert run.images is not None and run.images.tolist() == ["b.png", "c.png", "a.png"]


def test_a_file_in_id_order_needs_no_id_sort(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("data_row_id,prob_a,prob_b\na,0.5,0.5\nb,0.1,0.9\nc,0.3,0.7\n")
    run = load_run(path)
    assert run.id_rank.tolist() == [0, 1, 2] and run.by_id.tolist() == [0, 1, 2]
