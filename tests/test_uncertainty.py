"""Uncertainty scores: hand-worked cases and properties (higher score = label first)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labelnext.errors import StrategyError
from labelnext.readers import load_run
from labelnext.scoring import run_scores, scores_for_row
from labelnext.uncertainty import STRATEGIES, uncertainty_scores

P = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.4, 0.4, 0.2],
        [1.0, 0.0, 0.0],
        [1 / 3, 1 / 3, 1 / 3],
    ]
)

# worked by hand from the formulas in the module docstring
EXPECTED = {
    "least_confidence": [0.3, 0.6, 0.0, 2 / 3],
    "margin": [1 - 0.5, 1 - 0.0, 0.0, 1.0],
    "ratio": [0.2 / 0.7, 1.0, 0.0, 1.0],
    "entropy": [
        -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)) / math.log(3),
        -(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2)) / math.log(3),
        0.0,
        1.0,
    ],
}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hand_worked_scores(strategy: str, dtype: type) -> None:
    scores = uncertainty_scores(P.astype(dtype), strategy)
    assert scores.dtype == dtype
    np.testing.assert_allclose(scores, EXPECTED[strategy], atol=1e-6)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_blocks_do_not_change_scores(strategy: str) -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=1001)
    np.testing.assert_array_equal(
        uncertainty_scores(p, strategy, block_rows=7), uncertainty_scores(p, strategy)
    )


def test_two_classes() -> None:
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    np.testing.assert_allclose(uncertainty_scores(p, "margin"), [0.2, 1.0])
    np.testing.assert_allclose(uncertainty_scores(p, "ratio"), [1 / 9, 1.0])


def test_unknown_strategy_lists_the_valid_ones() -> None:
    with pytest.raises(StrategyError, match="Unknown strategy 'random'; valid strategies: least_c"):
        uncertainty_scores(P, "random")


def test_bad_shapes_name_the_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(n_rows, n_classes\), got shape \(3,\)"):
        uncertainty_scores(np.ones(3), "margin")
    with pytest.raises(ValueError, match="at least 2 classes, got 1"):
        uncertainty_scores(np.ones((3, 1)), "margin")


def test_top1_only_runs_support_least_confidence_only(tmp_path) -> None:
    path = tmp_path / "top1.csv"
    path.write_text("data_row_id,predicted_label,confidence\na,cat,0.9\nb,dog,0.6\n")
    run = load_run(path)
    np.testing.assert_allclose(run_scores(run, "least_confidence"), [0.1, 0.4], atol=1e-6)
    with pytest.raises(StrategyError, match="top-1 predictions only.*'margin' needs every class"):
        run_scores(run, "margin")
    assert list(scores_for_row(run, 0)) == ["least_confidence"]


def _probability_rows(max_classes: int = 8) -> st.SearchStrategy[np.ndarray]:
    shapes = st.tuples(st.integers(1, 20), st.integers(2, max_classes))
    matrices = shapes.flatmap(
        lambda shape: arrays(np.float64, shape, elements=st.floats(0.0, 1.0, width=64))
    )
    return matrices.filter(lambda a: bool((a.sum(axis=1) > 1e-6).all())).map(
        lambda a: a / a.sum(axis=1, keepdims=True)
    )


@settings(max_examples=200, deadline=None)
@given(p=_probability_rows(), strategy=st.sampled_from(STRATEGIES), seed=st.integers(0, 2**32 - 1))
def test_properties(p: np.ndarray, strategy: str, seed: int) -> None:
    scores = uncertainty_scores(p, strategy)
    assert ((scores >= 0) & (scores <= 1)).all()
    # permuting the classes changes nothing
    perm = np.random.default_rng(seed).permutation(p.shape[1])
    np.testing.assert_allclose(uncertainty_scores(p[:, perm], strategy), scores, atol=1e-12)


@given(c=st.integers(2, 50), strategy=st.sampled_from(STRATEGIES))
def test_uniform_rows_are_most_uncertain_and_one_hot_rows_certain(c: int, strategy: str) -> None:
    uniform = np.full((1, c), 1.0 / c)
    one_hot = np.eye(c)
    expected_uniform = 1 - 1 / c if strategy == "least_confidence" else 1.0
    np.testing.assert_allclose(uncertainty_scores(uniform, strategy), [expected_uniform], atol=1e-9)
    np.testing.assert_allclose(uncertainty_scores(one_hot, strategy), np.zeros(c), atol=1e-12)


def _reference(p: np.ndarray, strategy: str) -> np.ndarray:
    """The formulas written the obvious way, row by row."""
    s = np.sort(p, axis=1)[:, ::-1]
    if strategy == "least_confidence":
        return 1 - s[:, 0]
    if strategy == "margin":
        return 1 - (s[:, 0] - s[:, 1])
    if strategy == "ratio":
        return s[:, 1] / s[:, 0]
    return -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1) / np.log(p.shape[1])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("classes", [3, 10, 32, 33, 100])  # column-wise up to 32, row-wise above
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_kernel_paths_match_the_formulas(strategy: str, classes: int, dtype: type) -> None:
    p = np.random.default_rng(classes).dirichlet(np.full(classes, 0.5), size=3000).astype(dtype)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        uncertainty_scores(p, strategy, block_rows=1000),
        _reference(p.astype(np.float64), strategy),
        atol=tolerance,
    )
