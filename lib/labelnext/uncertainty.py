"""Uncertainty scores: how much a model's prediction on a row leaves to doubt.

Naming rule: every function here returns **scores in [0, 1] where higher means more uncertain**,
that is, *label this row first*. A row's confidence is ``1 - score``; the dashboard sorts by
ascending confidence. With ``p1 >= p2 >= ...`` a row's sorted class probabilities and ``C`` the
number of classes:

=================  =================================  ===========================================
strategy           score                              0 when ... / 1 when ...
=================  =================================  ===========================================
least_confidence   ``1 - p1``                         one-hot / never reaches 1 (max ``1 - 1/C``)
margin             ``1 - (p1 - p2)``                  one-hot / top two tie
ratio              ``p2 / p1``                        one-hot / top two tie
entropy            ``-sum(p * ln p) / ln C``          one-hot / uniform
=================  =================================  ===========================================

All four are computed with vectorised numpy over row blocks, never a Python loop per row, and
with at most one temporary of a block's shape. float32 input is scored in float32.

Other tasks (the kernels below; :class:`labelnext.scoring.Scoring` picks among them for a run):

* **Ensembles and MC dropout**, probabilities of shape (n, T, C): the four strategies above on
  the mean over the T members, plus ``bald`` (mutual information
  ``H(mean_t p_t) - mean_t H(p_t)``, divided by ``ln C``), ``vote_entropy`` (entropy of the
  members' top-1 votes, divided by ``ln C``) and ``variation_ratio`` (``1 - votes for the
  modal class / T``).
* **Multi-label** (an independent sigmoid ``p`` per class): per class ``margin`` and
  ``least_confidence`` are ``1 - |2p - 1|`` (least confidence of the binary decision rescaled to
  [0, 1]), ``ratio`` is ``min(p, 1-p) / max(p, 1-p)`` and ``entropy`` the binary entropy in bits;
  a row's score aggregates its classes by ``max`` (default) or ``mean``.
* **Object detection**: per box ``1 - score`` (``least_confidence``), or any classification
  strategy on the box's class probabilities when the detector gives them; an image aggregates
  its boxes by ``max`` (default), ``mean``, ``sum`` (divided by the largest box count in the run,
  so it stays in [0, 1] and ranks like the sum) or ``topk`` (mean of its ``top_k`` most
  uncertain boxes), optionally over boxes of chosen ``classes`` only. An image with no (chosen)
  boxes scores ``empty_score``: 0 (certain: nothing there, the default) or 1 (most uncertain:
  a detector that finds nothing may have missed everything).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelnext.errors import StrategyError

__all__ = [
    "AGGREGATIONS",
    "ENSEMBLE_STRATEGIES",
    "STRATEGIES",
    "aggregate_boxes",
    "ensemble_scores",
    "multilabel_scores",
    "uncertainty_scores",
]

STRATEGIES = ("least_confidence", "margin", "ratio", "entropy")
ENSEMBLE_STRATEGIES = ("bald", "vote_entropy", "variation_ratio")
AGGREGATIONS = {"multilabel": ("max", "mean"), "detection": ("max", "mean", "sum", "topk")}

# Rows per block: 8,192 rows keep a block's columns in L2 cache. numpy's reductions along a
# short row (axis=1) cost ~10 ns per element; walking the columns of a cached block with
# element-wise ufuncs is 4-14x faster for C <= 32 (benchmarks/bench_scoring.py). Above that the
# per-column calls cost more than they save, and the row-wise kernels take over.
BLOCK_ROWS = 8_192
COLUMNWISE_MAX_CLASSES = 32

Floats = NDArray[np.floating[Any]]


def _least_confidence(p: Floats, out: Floats) -> None:
    if p.shape[1] <= COLUMNWISE_MAX_CLASSES:
        np.maximum(p[:, 0], p[:, 1], out=out)
        for j in range(2, p.shape[1]):
            np.maximum(out, p[:, j], out=out)
    else:
        np.max(p, axis=1, out=out)
    np.subtract(1, out, out=out)


def _top_two(p: Floats) -> tuple[Floats, Floats]:
    """Each row's largest and second-largest probability."""
    if p.shape[1] > COLUMNWISE_MAX_CLASSES:
        part = np.partition(p, p.shape[1] - 2, axis=1)  # the one (block, C) temporary
        return part[:, -1], part[:, -2]
    # a running max and second max over the columns: only (block,) buffers
    p1 = np.maximum(p[:, 0], p[:, 1])
    p2 = np.minimum(p[:, 0], p[:, 1])
    spare = np.empty_like(p1)
    for j in range(2, p.shape[1]):
        column = p[:, j]
        np.minimum(p1, column, out=spare)
        np.maximum(p2, spare, out=p2)
        np.maximum(p1, column, out=p1)
    return p1, p2


def _margin(p: Floats, out: Floats) -> None:
    p1, p2 = _top_two(p)
    np.subtract(p1, p2, out=out)
    np.subtract(1, out, out=out)


def _ratio(p: Floats, out: Floats) -> None:
    p1, p2 = _top_two(p)
    # p1 >= 1/C > 0 for a probability row, so the division is safe
    np.divide(p2, p1, out=out)


def _entropy(p: Floats, out: Floats) -> None:
    tmp = np.maximum(p, np.finfo(p.dtype).tiny)  # the one (block, C) temporary; 0 ln 0 := 0
    np.log(tmp, out=tmp)
    tmp *= p
    if p.shape[1] <= COLUMNWISE_MAX_CLASSES:
        np.copyto(out, tmp[:, 0])
        for j in range(1, p.shape[1]):
            np.add(out, tmp[:, j], out=out)
    else:
        np.sum(tmp, axis=1, out=out)
    out *= -1.0 / np.log(p.shape[1])


_KERNELS: dict[str, Callable[[Floats, Floats], None]] = {
    "least_confidence": _least_confidence,
    "margin": _margin,
    "ratio": _ratio,
    "entropy": _entropy,
}


def _check_strategy(strategy: str) -> None:
    if strategy not in _KERNELS:
        raise StrategyError(
            f"Unknown strategy {strategy!r}; valid strategies: {', '.join(STRATEGIES)}."
        )


def uncertainty_scores(
    probabilities: NDArray[Any], strategy: str = "least_confidence", *, block_rows: int = BLOCK_ROWS
) -> Floats:
    """Score each row's uncertainty from its class probabilities; higher = label first.

    Parameters
    ----------
    probabilities : array-like of shape (n_rows, n_classes)
        Class probabilities, each row summing to 1. float32 stays float32; anything else is
        converted to float64.
    strategy : {"least_confidence", "margin", "ratio", "entropy"}, default="least_confidence"
        See the module docstring for the formulas.
    block_rows : int, default=8192
        Rows scored per block, bounding the temporary memory.

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        In [0, 1]; **higher = more uncertain**. ``confidence = 1 - scores``.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])
    >>> uncertainty_scores(p, "margin").round(3).tolist()
    [0.5, 1.0]
    >>> uncertainty_scores(p, "least_confidence").round(3).tolist()
    [0.3, 0.6]
    """
    _check_strategy(strategy)
    p = np.asarray(probabilities)
    if p.ndim != 2:
        raise ValueError(f"probabilities must have shape (n_rows, n_classes), got shape {p.shape}")
    if p.shape[1] < 2:
        raise ValueError(f"probabilities need at least 2 classes, got {p.shape[1]}")
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    if p.dtype != np.float32:
        p = p.astype(np.float64, copy=False)
    return _scores(p, strategy, block_rows)


def _scores(p: Floats, strategy: str, block_rows: int) -> Floats:
    """Assumes a valid (n, C>=2) float array and a known strategy."""
    kernel = _KERNELS[strategy]
    out = np.empty(p.shape[0], dtype=p.dtype)
    for start in range(0, p.shape[0], block_rows):
        stop = min(start + block_rows, p.shape[0])
        kernel(p[start:stop], out[start:stop])
    np.clip(out, 0.0, 1.0, out=out)  # rounding can step a hair outside
    return out


def multilabel_scores(
    probabilities: NDArray[Any], strategy: str = "margin", *, aggregation: str = "max"
) -> NDArray[np.float64]:
    """Multi-label uncertainty: each class a binary decision, aggregated per row.

    Parameters
    ----------
    probabilities : array-like of shape (n_rows, n_classes)
        Independent per-class probabilities (sigmoids), each in [0, 1].
    strategy : str, default="margin"
        ``margin`` / ``least_confidence``: ``1 - |2p - 1|``; ``ratio``: ``min(p, 1-p) /
        max(p, 1-p)``; ``entropy``: binary entropy in bits.
    aggregation : {"max", "mean"}, default="max"

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        In [0, 1]; higher = more uncertain.

    Examples
    --------
    >>> multilabel_scores([[0.5, 0.9], [0.95, 0.05]], "margin").round(3).tolist()
    [1.0, 0.1]
    """
    if aggregation not in AGGREGATIONS["multilabel"]:
        raise StrategyError(
            f"Unknown aggregation {aggregation!r} for multi-label; valid: "
            f"{', '.join(AGGREGATIONS['multilabel'])}."
        )
    if strategy not in STRATEGIES:
        raise StrategyError(
            f"Unknown strategy {strategy!r}; valid strategies: {', '.join(STRATEGIES)}."
        )
    p = np.asarray(probabilities, dtype=np.float64)
    per_class = _binary_uncertainty(p, strategy)
    reduced = per_class.max(axis=1) if aggregation == "max" else per_class.mean(axis=1)
    return np.asarray(np.clip(reduced, 0.0, 1.0), dtype=np.float64)


def _binary_uncertainty(p: NDArray[np.float64], strategy: str) -> NDArray[np.float64]:
    if strategy in ("margin", "least_confidence"):
        return 1.0 - np.abs(2.0 * p - 1.0)
    if strategy == "ratio":
        q = 1.0 - p
        high = np.maximum(p, q)
        return np.minimum(p, q) / high
    tiny = np.finfo(np.float64).tiny
    q = 1.0 - p
    return -(p * np.log2(np.maximum(p, tiny)) + q * np.log2(np.maximum(q, tiny)))


def ensemble_scores(samples: NDArray[Any], strategy: str) -> NDArray[np.float64]:
    """Scores from ensemble members or MC-dropout samples; higher = more uncertain.

    Parameters
    ----------
    samples : array-like of shape (n_rows, n_members, n_classes)
    strategy : {"bald", "vote_entropy", "variation_ratio"} or a classification strategy
        Classification strategies score the mean over members.

    Examples
    --------
    Two members that are each sure, but of different classes, disagree completely:

    >>> s = [[[1.0, 0.0], [0.0, 1.0]], [[0.9, 0.1], [0.9, 0.1]]]
    >>> ensemble_scores(s, "bald").round(3).tolist()
    [1.0, 0.0]
    """
    t = np.asarray(samples, dtype=np.float64)
    if t.ndim != 3:
        raise ValueError(f"samples must have shape (n_rows, n_members, n_classes), got {t.shape}")
    n, members, c = t.shape
    mean = t.mean(axis=1)
    if strategy in STRATEGIES:
        return np.asarray(_scores(mean, strategy, BLOCK_ROWS), dtype=np.float64)
    log_c = np.log(c)
    if strategy == "bald":
        tiny = np.finfo(np.float64).tiny
        entropy_of_mean = -(mean * np.log(np.maximum(mean, tiny))).sum(axis=1)
        mean_entropy = -(t * np.log(np.maximum(t, tiny))).sum(axis=2).mean(axis=1)
        return np.asarray(np.clip((entropy_of_mean - mean_entropy) / log_c, 0.0, 1.0))
    votes = np.zeros((n, c))
    np.add.at(votes, (np.repeat(np.arange(n), members), t.argmax(axis=2).ravel()), 1.0)
    if strategy == "vote_entropy":
        share = votes / members
        tiny = np.finfo(np.float64).tiny
        spread = -(share * np.log(np.maximum(share, tiny))).sum(axis=1) / log_c
        return np.asarray(np.clip(spread, 0.0, 1.0), dtype=np.float64)
    if strategy == "variation_ratio":
        return np.asarray(1.0 - votes.max(axis=1) / members, dtype=np.float64)
    raise StrategyError(
        f"Unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES + ENSEMBLE_STRATEGIES)}."
    )


def aggregate_boxes(
    values: NDArray[np.float64],
    rows: NDArray[np.int64],
    n_rows: int,
    *,
    how: str = "max",
    top_k: int = 3,
    empty_score: float = 0.0,
    max_count: int | None = None,
) -> NDArray[np.float64]:
    """Combine per-box uncertainties into one score per image (row).

    ``rows`` must be non-decreasing (as in :class:`~labelnext.boxes.Boxes`). ``sum`` is divided
    by ``max_count`` (the largest box count in the run) so it stays in [0, 1].

    Examples
    --------
    >>> aggregate_boxes(np.array([0.2, 0.6, 0.4]), np.array([0, 0, 2]), 3, how="mean").tolist()
    [0.4, 0.0, 0.4]
    """
    if how not in AGGREGATIONS["detection"]:
        raise StrategyError(
            f"Unknown aggregation {how!r}; valid: {', '.join(AGGREGATIONS['detection'])}."
        )
    counts = np.bincount(rows, minlength=n_rows).astype(np.float64)
    out = np.full(n_rows, float(empty_score))
    has = counts > 0
    if not has.any():
        return out
    if how == "max":
        starts = np.searchsorted(rows, np.flatnonzero(has))
        out[has] = np.maximum.reduceat(values, starts)
    elif how == "mean":
        out[has] = np.bincount(rows, weights=values, minlength=n_rows)[has] / counts[has]
    elif how == "sum":
        denominator = float(max_count or counts.max())
        out[has] = np.bincount(rows, weights=values, minlength=n_rows)[has] / denominator
    else:  # topk: mean of each image's top_k most uncertain boxes
        order = np.lexsort((-values, rows))
        sorted_rows = rows[order]
        first = np.searchsorted(sorted_rows, sorted_rows)  # index of each row's first box
        within = np.arange(len(order)) - first
        take = order[within < top_k]
        kept = np.bincount(rows[take], minlength=n_rows).astype(np.float64)
        sums = np.bincount(rows[take], weights=values[take], minlength=n_rows)
        out[has] = sums[has] / kept[has]
    return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float64)
