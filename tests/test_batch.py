"""Batch methods: hand-worked picks, properties over random pools, and every bad-input message."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelnext.batch import (
    AUTO_METHOD,
    METHODS,
    covering_radius,
    pick_batch,
    resolve_method,
    select_batch,
)
from labelnext.embeddings import EmbeddingError
from labelnext.errors import EmptyPoolError, SelectionError
from labelnext.select import top_k
from labelnext.uncertainty import uncertainty_scores

CONCRETE = ("top", "diverse", "cluster", "typical")


def uniform(n: int, c: int = 2) -> np.ndarray:
    return np.full((n, c), 1.0 / c)


def probs_from_margin(margins: list[float]) -> np.ndarray:
    """Two-class probabilities whose margin score is ``1 - (p1 - p2)`` = the given values."""
    gap = 1.0 - np.asarray(margins)
    return np.stack([(1 + gap) / 2, (1 - gap) / 2], axis=1)


# --------------------------------------------------------------------------------------------
# Hand-worked cases


def test_diverse_is_farthest_first_on_a_line() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [10.0]])
    # all equally uncertain: the first pick is the first by tie id (row 0), then farthest first:
    # 10 (distance 10), 4 (min(4, 6)), then 2 (1 and 3 are 1 away from a pick, 2 is 2 away)
    ids = ["a", "b", "c", "d", "e", "f"]
    assert select_batch(uniform(6), x, 4, method="diverse", tie_ids=ids).tolist() == [0, 5, 4, 2]


def test_diverse_counts_labeled_rows_as_covered() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [10.0]])
    # 10 is labeled: row 0 is farthest from it (10), then 4 (min(4, 6) = 4), then 2
    picks = select_batch(uniform(6), x, 3, method="diverse", labeled_embeddings=[[10.0]])
    assert picks.tolist() == [0, 4, 2]
    # a covered row of the pool works the same way, and is never picked itself
    picks = select_batch(uniform(6), x, 3, method="diverse", covered=[5])
    assert picks.tolist() == [0, 4, 2]


def test_diverse_starts_from_the_most_uncertain_candidate_and_keeps_to_candidates() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0], [50.0]])
    p = probs_from_margin([0.2, 0.9, 0.8, 0.7, 0.1])  # row 4 (the outlier) is the most certain
    # candidates=3: rows 1, 2, 3; start at row 1, then 3 (farthest from 1)
    assert select_batch(p, x, 2, method="diverse", candidates=3).tolist() == [1, 3]


def test_diverse_matches_brute_force_farthest_first() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 16)).astype(np.float32)
    p = rng.dirichlet(np.ones(4), size=3000)
    labeled = rng.normal(size=(7, 16)).astype(np.float32)
    picks = select_batch(p, x, 150, method="diverse", candidates=3000, labeled_embeddings=labeled)
    order = np.lexsort((np.arange(3000), -uncertainty_scores(p, "margin")))
    xc = x[order].astype(np.float64)
    dist = np.min(((xc[:, None, :] - labeled[None].astype(np.float64)) ** 2).sum(-1), axis=1)
    expected = []
    for _ in range(150):
        j = int(np.argmax(dist))
        expected.append(int(order[j]))
        dist = np.minimum(dist, ((xc - xc[j]) ** 2).sum(1))
        dist[j] = -1
    assert picks.tolist() == expected


def test_top_is_top_k_by_margin_with_ties_by_id() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=50).round(1)  # rounded: many ties
    p /= p.sum(axis=1, keepdims=True)
    ids = np.array([f"id{i:02d}" for i in rng.permutation(50)], dtype=object)
    expected = top_k(uncertainty_scores(p, "margin"), ids, 10)
    assert select_batch(p, None, 10, method="top", tie_ids=ids).tolist() == expected.tolist()
    entropy = top_k(uncertainty_scores(p, "entropy"), ids, 10)
    got = select_batch(p, None, 10, method="top", strategy="entropy", tie_ids=ids)
    assert got.tolist() == entropy.tolist()


def test_top_takes_ready_made_scores() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    assert select_batch(None, None, 2, method="top", scores=scores).tolist() == [1, 3]


def test_cluster_goes_round_robin_smallest_cluster_first() -> None:
    # three far-apart groups: {0} (one row), {1, 2} (two), {3, 4, 5} (three)
    x = np.array([[0.0], [100.0], [101.0], [200.0], [201.0], [202.0]])
    p = probs_from_margin([0.5, 0.6, 0.9, 0.3, 0.8, 0.7])
    pick = pick_batch(p, x, 5, method="cluster", n_clusters=3, candidates=6)
    # round 1: row 0 (size 1), row 2 (best of size 2), row 4 (best of size 3);
    # round 2: row 1, row 5
    assert pick.indices.tolist() == [0, 2, 4, 1, 5]
    assert pick.params["n_clusters"] == 3 and pick.n_candidates == 6


def test_typical_picks_each_clusters_medoid() -> None:
    group_a = [0.0, 1.0, 2.0, 3.0, 10.0]  # medoid 2.0 (row 2)
    group_b = [100.0, 101.0, 103.0, 104.0, 110.0]  # medoid 103.0 (row 7)
    x = np.array(group_a + group_b)[:, None]
    for seed in range(5):
        picks = select_batch(None, x, 2, method="typical", seed=seed)
        assert sorted(picks.tolist()) == [2, 7]


def test_typical_skips_clusters_that_labeled_rows_cover() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0, 10.0, 100.0, 101.0, 103.0, 104.0, 110.0])[:, None]
    # one labeled row near group b: with k + 1 = 2 clusters, b is covered, a gets the pick
    picks = select_batch(None, x, 1, method="typical", labeled_embeddings=[[102.0]])
    assert picks.tolist() == [2]


def test_quotas_exact_balanced_and_proportional() -> None:
    n = 40
    predicted = np.array(["a"] * 20 + ["b"] * 15 + ["c"] * 5, dtype=object)
    x = np.arange(n, dtype=float)[:, None]
    p = probs_from_margin(list(np.linspace(0.99, 0.01, n)))  # row 0 most uncertain
    for method in CONCRETE:
        picks = select_batch(p, x, 9, method=method, quotas="balanced", predicted=predicted)
        assert sorted(predicted[picks].tolist()) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3, method
        picks = select_batch(p, x, 8, method=method, quotas="proportional", predicted=predicted)
        assert sorted(predicted[picks].tolist()) == ["a"] * 4 + ["b"] * 3 + ["c"] * 1, method
    # top under per-class (min, max): "a" is capped at 2, "c" needs at least 1; the 20 most
    # uncertain rows are "a", then "b" (rows 20-34), then "c" (rows 35-39)
    picks = select_batch(
        p, x, 6, method="top", predicted=predicted, quotas={"a": (0, 2), "c": (1, 6)}
    )
    assert picks.tolist() == [0, 1, 20, 21, 22, 35]
    # an int is an exact count; classes come from the probabilities' argmax by default
    two = np.array([[0.9, 0.1]] * 5 + [[0.2, 0.8]] * 5)
    picks = select_batch(two, np.arange(10.0)[:, None], 3, method="top", quotas={1: 3})
    assert sorted(picks.tolist()) == [5, 6, 7]
    named = select_batch(
        two, np.arange(10.0)[:, None], 3, method="top", quotas={"yes": 3}, classes=["no", "yes"]
    )
    assert sorted(named.tolist()) == [5, 6, 7]


def test_balanced_gives_a_small_class_share_to_the_others() -> None:
    predicted = np.array([0] * 10 + [1] * 10 + [2] * 1)
    x = np.arange(21, dtype=float)[:, None]
    picks = select_batch(uniform(21), x, 9, method="top", quotas="balanced", predicted=predicted)
    assert np.bincount(predicted[picks]).tolist() == [4, 4, 1]


def test_min_distance_passes_over_near_duplicates_and_counts_them() -> None:
    x = np.array([[0.0], [0.05], [0.08], [1.0], [2.0], [3.0]])
    p = probs_from_margin([0.9, 0.85, 0.8, 0.5, 0.4, 0.3])
    pick = pick_batch(p, x, 3, method="top", min_distance=0.1)
    assert pick.indices.tolist() == [0, 3, 4] and pick.n_suppressed == 2
    # against a labeled row at -0.06: row 0 is 0.06 from it, row 2 is 0.03 from row 1
    pick = pick_batch(p, x, 3, method="top", min_distance=0.1, labeled_embeddings=[[-0.06]])
    assert pick.indices.tolist() == [1, 3, 4] and pick.n_suppressed == 2
    # against a covered (queued) row of the pool: row 1 is queued, so 0 and 2 are too close
    pick = pick_batch(p, x, 3, method="top", min_distance=0.1, covered=[1])
    assert pick.indices.tolist() == [3, 4, 5] and pick.n_suppressed == 2
    for method in CONCRETE:
        picks = select_batch(p, x, 3, method=method, min_distance=0.1)
        chosen = x[picks, 0]
        gaps = np.abs(chosen[:, None] - chosen[None, :])[~np.eye(3, dtype=bool)]
        assert gaps.min() >= 0.1, method


def test_min_distance_in_cosine() -> None:
    # rows 0 and 1 point the same way (cosine distance 0) at different lengths
    x = np.array([[1.0, 0.0], [5.0, 0.01], [0.0, 1.0], [-1.0, 0.0]])
    p = probs_from_margin([0.9, 0.8, 0.5, 0.4])
    pick = pick_batch(p, x, 3, method="top", metric="cosine", min_distance=0.01)
    assert pick.indices.tolist() == [0, 2, 3] and pick.n_suppressed == 1
    # in euclidean distance the same two rows are far apart
    assert select_batch(p, x, 3, method="top", min_distance=0.01).tolist() == [0, 1, 2]


def test_diverse_in_cosine_ignores_the_length_of_rows() -> None:
    x = np.array([[1.0, 0.0], [100.0, 1.0], [0.0, 1.0], [-1.0, 0.1]])
    picks = select_batch(uniform(4), x, 2, method="diverse", metric="cosine")
    assert picks.tolist() == [0, 3]  # row 1 is long but points the same way as row 0


def test_exclude_and_covered_are_never_picked() -> None:
    x = np.arange(10.0)[:, None]
    p = probs_from_margin([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    picks = select_batch(p, x, 3, method="top", exclude=[0, 2], covered=np.arange(10) == 1)
    assert picks.tolist() == [3, 4, 5]


def test_auto_runs_typical_without_labels_and_cluster_with_them() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    p = rng.dirichlet(np.ones(3), size=200)
    cold = pick_batch(None, x, 10)
    assert cold.method == "typical" and cold.requested_method == "auto"
    assert "no probabilities" in cold.reason
    # 40 labeled for a batch of 10: 4 batches, still a low budget
    low = pick_batch(p, x, 10, labeled_embeddings=rng.normal(size=(40, 4)))
    assert low.method == "typical" and "at most 40" in low.reason
    labeled = rng.normal(size=(41, 4))
    warm = pick_batch(p, x, 10, labeled_embeddings=labeled)
    assert warm.method == AUTO_METHOD and "41 labeled" in warm.reason
    same = select_batch(p, x, 10, method=AUTO_METHOD, labeled_embeddings=labeled)
    assert warm.indices.tolist() == same.tolist()
    assert resolve_method(n_labeled=20, has_scores=True, k=1)[0] == "typical"
    assert resolve_method(n_labeled=21, has_scores=True, k=1)[0] == AUTO_METHOD
    assert resolve_method(n_labeled=199, has_scores=True, k=1, n_classes=100)[0] == "typical"


def test_batch_pick_says_what_a_preview_and_the_ledger_need() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 3))
    p = rng.dirichlet(np.ones(3), size=100)
    pick = pick_batch(p, x, 5, method="cluster", seed=7, quotas="balanced", min_distance=0.01)
    assert len(pick) == 5 and pick.n_pool == 100
    # the 15 (3 * k) most uncertain, plus enough of each class for its quota
    assert 15 <= pick.n_candidates <= 100
    assert pick.params["method"] == "cluster" and pick.params["seed"] == 7
    assert pick.params["quotas"] is not None and pick.params["min_distance"] == 0.01
    json.dumps(pick.params)  # JSON-ready, as the ledger stores it


def test_covering_radius() -> None:
    x = [[0.0], [1.0], [5.0], [6.0], [20.0]]
    assert covering_radius(x, [0, 3]) == 14.0
    assert covering_radius(x, [0, 3], labeled_embeddings=[[19.0]]) == 1.0
    assert covering_radius(x, [0], rows=[0, 1]) == 1.0
    assert covering_radius([[1.0, 0.0], [0.0, 1.0]], [0], metric="cosine") == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# Properties


@st.composite
def pools(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(4, 60))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    # few distinct values: ties in scores and duplicate rows are common
    x = rng.integers(0, 6, size=(n, d)).astype(float) + rng.normal(scale=0.01, size=(n, d))
    p = rng.dirichlet(np.ones(3), size=n).round(1) + 1e-3
    p /= p.sum(axis=1, keepdims=True)
    n_excluded = draw(st.integers(0, n // 3))
    exclude = rng.choice(n, n_excluded, replace=False)
    k = draw(st.integers(1, n - n_excluded))
    method = draw(st.sampled_from(METHODS))
    quotas = draw(st.sampled_from([None, "balanced", "proportional"]))
    return {"p": p, "x": x, "k": k, "exclude": exclude, "method": method, "quotas": quotas}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=pools(), seed=st.integers(0, 100))
def test_properties_of_every_method(pool: dict[str, Any], seed: int) -> None:
    p, x, k, exclude = pool["p"], pool["x"], pool["k"], pool["exclude"]
    n = len(x)
    ids = np.array([f"row-{i:03d}" for i in range(n)], dtype=object)
    options = {
        "method": pool["method"],
        "exclude": exclude,
        "quotas": pool["quotas"],
        "tie_ids": ids,
        "seed": seed,
    }
    pick = pick_batch(p, x, k, **options)
    picks = pick.indices
    assert len(picks) == k and len(set(picks.tolist())) == k  # k rows, none twice
    assert not set(picks.tolist()) & set(exclude.tolist())  # excluded rows never picked
    if pool["quotas"] is not None:
        predicted = p.argmax(axis=1)
        eligible = np.setdiff1d(np.arange(n), exclude)
        counts = np.bincount(predicted[eligible], minlength=3)
        got = np.bincount(predicted[picks], minlength=3)
        if pool["quotas"] == "balanced":
            assert got.max() - got[counts > got].min(initial=got.max()) <= 1
        else:
            share = k * counts / counts.sum()
            assert (np.abs(got - share) < 1).all()
    # same seed, same batch
    assert pick_batch(p, x, k, **options).indices.tolist() == picks.tolist()
    # the order of the input rows does not change the batch (ties break by id, not position)
    perm = np.random.default_rng(seed).permutation(n)
    inverse = np.argsort(perm)
    shuffled = dict(options, exclude=inverse[exclude], tie_ids=ids[perm])
    again = pick_batch(p[perm], x[perm], k, **shuffled).indices
    assert sorted(perm[again].tolist()) == sorted(picks.tolist())


@settings(max_examples=60, deadline=None)
@given(pool=pools(), distance=st.floats(0.0, 3.0))
def test_min_distance_holds_between_picks_or_the_error_says_how_many_fit(
    pool: dict[str, Any], distance: float
) -> None:
    p, x, k = pool["p"], pool["x"], pool["k"]
    labeled = x[:2] + 0.5
    try:
        picks = select_batch(
            p, x, k, method=pool["method"], min_distance=distance, labeled_embeddings=labeled
        )
    except SelectionError as exc:
        assert "leaves only" in str(exc) and f"fewer than k={k}" in str(exc)
        return
    chosen = x[picks]
    between = np.sqrt(((chosen[:, None] - chosen[None]) ** 2).sum(-1))[~np.eye(k, dtype=bool)]
    to_labeled = np.sqrt(((chosen[:, None] - labeled[None]) ** 2).sum(-1))
    assert between.min(initial=np.inf) >= distance * (1 - 1e-6)
    assert to_labeled.min() >= distance * (1 - 1e-6)


@pytest.mark.parametrize("method", CONCRETE)
def test_no_n_by_n_matrix_for_20000_rows(method: str) -> None:
    n = 20_000
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    p = rng.dirichlet(np.ones(5), size=n).astype(np.float32)
    labeled = rng.normal(size=(500, 8)).astype(np.float32)
    tracemalloc.start()
    try:
        select_batch(
            p, x, 200, method=method, candidates=n, labeled_embeddings=labeled, min_distance=0.01
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{method}: peak {peak / 2**20:.0f} MiB"  # n*n*8 would be 3,052 MiB


# --------------------------------------------------------------------------------------------
# Bad input: one clear message each


def test_bad_embeddings_are_named_by_row_and_field() -> None:
    p = uniform(4)
    x = np.zeros((4, 3))
    x[2, 1] = np.nan
    ids = ["a", "b", "c", "d"]
    with pytest.raises(
        EmbeddingError, match=r"embeddings row 2 \(data_row_id 'c'\), column 1 is NaN"
    ):
        select_batch(p, x, 2, method="diverse", tie_ids=ids)
    x[2, 1] = np.inf
    with pytest.raises(EmbeddingError, match="row 2, column 1 is infinite"):
        select_batch(p, x, 2, method="diverse")
    with pytest.raises(EmbeddingError, match="embeddings row 1 holds 2 value.s., expected 3"):
        select_batch(p, [[0, 0, 0], [0, 0], [0, 0, 0], [1, 1, 1]], 2, method="diverse")
    with pytest.raises(EmbeddingError, match="embeddings has dimension 3, expected 128"):
        select_batch(p, np.zeros((4, 3)), 2, method="diverse", expected_dim=128)
    with pytest.raises(EmbeddingError, match="labeled_embeddings has dimension 2, expected 3"):
        select_batch(p, np.zeros((4, 3)), 2, method="diverse", labeled_embeddings=np.zeros((1, 2)))
    with pytest.raises(EmbeddingError, match="labeled_embeddings row 0, column 0 is NaN"):
        select_batch(p, np.zeros((4, 1)), 2, method="diverse", labeled_embeddings=[[np.nan]])
    with pytest.raises(EmbeddingError, match="row 3 .data_row_id 'd'. is all zeros"):
        select_batch(p, [[1.0], [2.0], [3.0], [0.0]], 2, metric="cosine", tie_ids=ids)
    with pytest.raises(EmbeddingError, match="method 'diverse' needs embeddings"):
        select_batch(p, None, 2, method="diverse")
    with pytest.raises(SelectionError, match="disagree on the number of rows: probabilities 4, "):
        select_batch(p, np.zeros((5, 2)), 2)


def test_k_and_pool_errors_carry_both_numbers() -> None:
    x = np.arange(5.0)[:, None]
    with pytest.raises(SelectionError, match="k=6 is larger than the pool of 5 row"):
        select_batch(uniform(5), x, 6, method="diverse")
    with pytest.raises(SelectionError, match=r"k=4 is larger than the pool of 3 row.s. \(2 of 5"):
        select_batch(uniform(5), x, 4, method="top", exclude=[0, 1])
    with pytest.raises(EmptyPoolError, match="all 5 row.s. are excluded or covered"):
        select_batch(uniform(5), x, 1, exclude=np.ones(5, dtype=bool))
    with pytest.raises(SelectionError, match="k must be >= 1, got 0"):
        select_batch(uniform(5), x, 0)
    with pytest.raises(TypeError, match="k must be an integer, got 2.5"):
        select_batch(uniform(5), x, 2.5)  # type: ignore[arg-type]
    with pytest.raises(SelectionError, match="candidates=2 must be >= k=3"):
        select_batch(uniform(5), x, 3, method="diverse", candidates=2)
    with pytest.raises(SelectionError, match="exclude holds row position 9, outside 0..4"):
        select_batch(uniform(5), x, 1, exclude=[9])


def test_impossible_quotas_are_refused_with_the_numbers() -> None:
    predicted = np.array(["a", "a", "a", "b", "b"])
    x = np.arange(5.0)[:, None]
    p = uniform(5)
    with pytest.raises(
        SelectionError, match=r"at least 5 row.s. in total .the sum of the minimums., more than k=4"
    ):
        select_batch(p, x, 4, method="top", predicted=predicted, quotas={"a": (3, 3), "b": (2, 2)})
    with pytest.raises(SelectionError, match="class 'c', but the pool has no row predicted as 'c'"):
        select_batch(p, x, 2, method="top", predicted=predicted, quotas={"c": 1})
    with pytest.raises(SelectionError, match="class 'b', but the pool has only 2"):
        select_batch(p, x, 4, method="top", predicted=predicted, quotas={"b": 3})
    with pytest.raises(
        SelectionError, match="class 'b', but no row of the pool is predicted as 'b'"
    ):
        select_batch(p, x, 1, method="top", predicted=predicted, quotas={"b": 1}, exclude=[3, 4])
    with pytest.raises(SelectionError, match=r"quotas allow at most 3 row.s. .+ fewer than k=4"):
        select_batch(p, x, 4, method="top", predicted=predicted, quotas={"a": (0, 1), "b": (0, 2)})
    with pytest.raises(SelectionError, match=r"must satisfy 0 <= min <= max, got \(3, 1\)"):
        select_batch(p, x, 4, method="top", predicted=predicted, quotas={"a": (3, 1)})
    with pytest.raises(
        SelectionError, match="Unknown quotas 'equal'; valid: balanced, proportional"
    ):
        select_batch(p, x, 2, method="top", predicted=predicted, quotas="equal")
    with pytest.raises(SelectionError, match="quotas need each row's class"):
        select_batch(None, x, 2, method="typical", quotas="balanced")


def test_min_distance_that_leaves_too_few_rows_says_how_many_fit() -> None:
    x = np.array([[0.0], [0.1], [0.2], [5.0], [5.1]])
    for method in CONCRETE:
        with pytest.raises(
            SelectionError,
            match=r"min_distance=1 \(euclidean\) leaves only 2 row.s. .+ fewer than k=3",
        ):
            select_batch(uniform(5), x, 3, method=method, min_distance=1.0)
    with pytest.raises(SelectionError, match="min_distance must be in .0, 2. for cosine, got 3.0"):
        select_batch(uniform(5), x + 1, 1, metric="cosine", min_distance=3.0)
    with pytest.raises(SelectionError, match="min_distance must be finite and >= 0, got -1.0"):
        select_batch(uniform(5), x, 1, min_distance=-1.0)


def test_unknown_names_and_missing_inputs() -> None:
    x = np.arange(4.0)[:, None]
    with pytest.raises(
        SelectionError, match="Unknown method 'smart'; valid: top, diverse, cluster"
    ):
        select_batch(uniform(4), x, 1, method="smart")
    with pytest.raises(
        SelectionError, match="Unknown metric 'manhattan'; valid: euclidean, cosine"
    ):
        select_batch(uniform(4), x, 1, metric="manhattan")
    with pytest.raises(SelectionError, match="Unknown strategy 'bald'; valid: least_confidence"):
        select_batch(uniform(4), x, 1, strategy="bald")
    with pytest.raises(
        SelectionError, match="method 'cluster' ranks rows by uncertainty and needs"
    ):
        select_batch(None, x, 1, method="cluster")
    with pytest.raises(SelectionError, match=r"probabilities row 1 \(data_row_id 'b'\) holds NaN"):
        select_batch([[0.5, 0.5], [np.nan, 0.5]], None, 1, method="top", tie_ids=["a", "b"])
    with pytest.raises(SelectionError, match="scores row 0 is 1.5; scores must be finite and in"):
        select_batch(None, None, 1, method="top", scores=[1.5, 0.2])
    with pytest.raises(SelectionError, match="Give probabilities, scores or embeddings"):
        select_batch(None, None, 1)
