"""Our uncertainty rankings agree with two peer implementations: scikit-activeml and modAL.

Scores differ in scale between libraries (entropy normalised by ln C here, modAL's margin is
``p1 - p2`` with "small = uncertain"), so the tests compare *rankings*: most uncertain first,
ties broken by position. Probabilities are continuous Dirichlet draws, so exact ties do not
occur; scores that differ only by rounding can, and where a peer does different float
arithmetic from ours the test allows such neighbours to swap (a few units in the last place).
"""

from __future__ import annotations

import numpy as np
import pytest

skal = pytest.importorskip("skactiveml.pool._uncertainty_sampling")
modal = pytest.importorskip("modAL.uncertainty")

from labelnext.select import top_k  # noqa: E402
from labelnext.uncertainty import uncertainty_scores  # noqa: E402

SKAL_METHOD = {
    "least_confidence": "least_confident",
    "margin": "margin_sampling",
    "entropy": "entropy",
}
# (strategy, peer) pairs that do exactly our float operations: the orders must be identical
SAME_ARITHMETIC = {
    ("least_confidence", "skactiveml"),
    ("least_confidence", "modAL"),
    ("margin", "skactiveml"),
}
SHAPES = [(500, 2), (2_000, 3), (2_000, 10), (1_000, 100)]
SEEDS = [0, 1]
DTYPES = [np.float32, np.float64]


class ProbaShim:
    """A fitted-classifier stand-in for modAL: ``predict_proba`` returns the given array."""

    def __init__(self, proba: np.ndarray) -> None:
        self.proba = proba

    def predict_proba(self, X: object, **_: object) -> np.ndarray:
        return self.proba


def probabilities(seed: int, shape: tuple[int, int], dtype: type) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(shape[1]), size=shape[0]).astype(dtype)


def descending_order(scores: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(len(scores)), -np.asarray(scores)))


def modal_scores(p: np.ndarray, strategy: str) -> np.ndarray:
    """modAL's scores turned to "higher = more uncertain" (its margin is p1 - p2)."""
    shim = ProbaShim(p)
    if strategy == "least_confidence":
        return np.asarray(modal.classifier_uncertainty(shim, p))
    if strategy == "margin":
        return -np.asarray(modal.classifier_margin(shim, p))
    return np.asarray(modal.classifier_entropy(shim, p))


def peer_scores(peer: str, p: np.ndarray, strategy: str) -> np.ndarray:
    if peer == "skactiveml":
        return np.asarray(skal.uncertainty_scores(p, method=SKAL_METHOD[strategy]))
    return modal_scores(p, strategy)


def assert_same_ranking(ours: np.ndarray, theirs: np.ndarray, *, exact: bool) -> None:
    our_order = descending_order(ours)
    if exact:
        np.testing.assert_array_equal(our_order, descending_order(theirs))
        return
    # the peer's scores, read in our order, may only rise by rounding noise
    eps = np.finfo(ours.dtype).eps
    rises = np.diff(theirs[our_order].astype(np.float64))
    assert rises.max(initial=0.0) <= 16 * eps * max(1.0, float(np.abs(theirs).max()))
    # and the disagreement is confined to near-ties: almost every position matches
    assert np.mean(our_order == descending_order(theirs)) > 0.99


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("strategy", list(SKAL_METHOD))
@pytest.mark.parametrize("peer", ["skactiveml", "modAL"])
def test_rankings_equal_peer(
    peer: str, strategy: str, seed: int, shape: tuple[int, int], dtype: type
) -> None:
    p = probabilities(seed, shape, dtype)
    ours = uncertainty_scores(p, strategy)
    theirs = peer_scores(peer, p, strategy)
    exact = (strategy, peer) in SAME_ARITHMETIC or dtype is np.float64
    assert_same_ranking(ours, theirs, exact=exact)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("strategy", list(SKAL_METHOD))
def test_top_k_picks_the_rows_modal_samples(strategy: str, dtype: type) -> None:
    p = probabilities(7, (5_000, 10), dtype)
    k = 100
    sample = {
        "least_confidence": modal.uncertainty_sampling,
        "margin": modal.margin_sampling,
        "entropy": modal.entropy_sampling,
    }[strategy]
    picked, _ = sample(ProbaShim(p), p, n_instances=k)
    ours = top_k(uncertainty_scores(p, strategy), np.arange(len(p)), k)
    assert set(ours.tolist()) == set(np.asarray(picked).tolist())
    # and ours come ordered most uncertain first
    theirs = modal_scores(p, strategy)
    assert np.all(np.diff(theirs[ours]) <= 16 * np.finfo(dtype).eps)


def test_peer_directions_are_what_we_assume() -> None:
    """Pin the peers' conventions the comparisons above rely on, on a hand-worked pair of rows."""
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(skal.uncertainty_scores(p, method="margin_sampling"), [0.5, 1.0])
    np.testing.assert_allclose(modal.classifier_margin(ProbaShim(p), p), [0.5, 0.0])
    np.testing.assert_allclose(uncertainty_scores(p, "margin"), [0.5, 1.0])
    entropy = -np.sum(p * np.log(p), axis=1)
    np.testing.assert_allclose(skal.uncertainty_scores(p, method="entropy"), entropy)
    np.testing.assert_allclose(uncertainty_scores(p, "entropy"), entropy / np.log(3))
