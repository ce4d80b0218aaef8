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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from labelnext.errors import StrategyError

if TYPE_CHECKING:
    from labelnext.runs import ModelRun

__all__ = ["STRATEGIES", "run_scores", "scores_for_row", "uncertainty_scores"]

STRATEGIES = ("least_confidence", "margin", "ratio", "entropy")

# Rows per block: temporaries of (block, C) stay in cache; measured in benchmarks/bench_scoring.py
BLOCK_ROWS = 65_536

Floats = NDArray[np.floating[Any]]


def _least_confidence(p: Floats, out: Floats) -> None:
    np.max(p, axis=1, out=out)
    np.subtract(1, out, out=out)


def _top_two(p: Floats) -> tuple[Floats, Floats]:
    if p.shape[1] == 2:
        return np.maximum(p[:, 0], p[:, 1]), np.minimum(p[:, 0], p[:, 1])
    part = np.partition(p, p.shape[1] - 2, axis=1)  # the one (block, C) temporary
    return part[:, -1], part[:, -2]


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
    block_rows : int, default=65536
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


def supported_strategies(run: ModelRun) -> tuple[str, ...]:
    """Strategies defined for this run: all four, or least confidence only for top-1 runs."""
    return ("least_confidence",) if run.top1_only else STRATEGIES


def run_scores(run: ModelRun, strategy: str) -> NDArray[np.float64]:
    """Uncertainty score of every row of a run under ``strategy``; higher = label first.

    Raises
    ------
    StrategyError
        If the strategy is unknown, or the run has top-1 predictions only and the strategy needs
        the full distribution.
    """
    _check_strategy(strategy)
    if run.probabilities is None:
        if strategy != "least_confidence":
            raise StrategyError(
                f"Run '{run.name}' has top-1 predictions only (predicted_label + confidence), "
                f"so only least_confidence is defined; {strategy!r} needs every class's "
                "probability."
            )
        assert run.top1_confidence is not None
        return np.clip(1.0 - run.top1_confidence.astype(np.float64), 0.0, 1.0)
    return _scores(run.probabilities, strategy, BLOCK_ROWS).astype(np.float64, copy=False)


def scores_for_row(run: ModelRun, i: int) -> dict[str, float]:
    """Row ``i``'s score under every strategy the run supports (higher = more uncertain)."""
    if run.probabilities is None:
        assert run.top1_confidence is not None
        return {"least_confidence": float(1.0 - run.top1_confidence[i])}
    row = run.probabilities[i : i + 1].astype(np.float64)
    return {s: float(_scores(row, s, 1)[0]) for s in STRATEGIES}
