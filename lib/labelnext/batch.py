"""Batch methods: which ``k`` rows of a scored pool to label next, as one batch.

Why one module of this length: every method shares the input checks, the blockwise distance
space, the quotas and the near-duplicate suppressor; split by method, each would reach into the
others' private helpers. About a third of it is docstrings.

The one place batch picking lives: the dashboard, the CLI and the benchmarks call
:func:`select_batch` (the row positions) or :func:`pick_batch` (the positions plus what a preview
shows: the method ``auto`` resolved to, how many near-duplicates were passed over, the
parameters to record with the batch). Pure functions over arrays: probabilities ``(n, C)`` (or
ready-made uncertainty ``scores``, higher = more uncertain = label first) and embeddings
``(n, d)``.

Methods
-------
``top``
    The ``k`` most uncertain rows under ``strategy``, ties by ``tie_ids`` (``data_row_id``).
    What :func:`labelnext.select.top_k` does; the other options still apply.
``diverse``
    Core-set selection (Sener & Savarese, *Active Learning for Convolutional Neural Networks: A
    Core-Set Approach*, ICLR 2018): the ``candidates`` most uncertain rows (default
    ``candidate_factor * k``), then farthest-first traversal (the greedy 2-approximation of
    k-center): each pick is the candidate farthest from every earlier pick and from every
    labeled or covered row. The first pick, when nothing is labeled, is the most uncertain
    candidate. Distances are kept per candidate and updated with the triangle inequality, so a
    new pick only touches the candidates it can come closer to; never an ``n x n`` matrix.
``cluster``
    Cluster-Margin (Citovsky et al., *Batch Active Learning at Scale*, NeurIPS 2021): the
    ``candidates`` most uncertain rows are clustered by k-means into ``n_clusters`` (default
    ``k``); picks go round-robin over the clusters, smallest cluster first, each time the most
    uncertain row left in that cluster.
``typical``
    TypiClust (Hacohen, Dekel & Weinshall, *Active Learning on a Budget: Opposite Strategies
    Suit High and Low Budgets*, ICML 2022), for a cold start: needs no probabilities. The pool
    is clustered by k-means into ``k + n_labeled`` clusters (at most ``max(k, 500)``, as the
    paper's code caps them); labeled and covered rows mark the cluster nearest to them as
    covered; each pick takes the cluster with the fewest labeled-or-picked rows (the largest
    first, clusters under 5 rows last) and its most typical row left, typicality being the
    inverse mean distance to the row's 20 nearest neighbours within its cluster. Pools over
    ``typical_sample`` rows (100,000) are clustered on a seeded uniform sample of that size.
``auto``
    The recommended default, measured by ``benchmarks/bench_label_efficiency.py``: ``typical``
    while at most ``max(20, 2 * n_classes, 4 * k)`` rows are labeled (or without probabilities),
    then ``cluster``. See :func:`resolve_method` and ``docs/batch.md`` for the figures behind it.

Options of every method
-----------------------
* ``min_distance``: near-duplicate suppression. No two picks, and no pick and a labeled or
  covered row, closer than this (``metric`` "euclidean", or "cosine" = ``1 - cos``). A row the
  method would take next but that lies too close is passed over (counted in
  :attr:`BatchPick.n_suppressed`); if fewer than ``k`` rows fit, the error says how many did.
* ``quotas`` over predicted classes (``predicted``, default the argmax of ``probabilities``):
  ``"balanced"`` (equal shares, a class with too few rows gives its share to the others),
  ``"proportional"`` (shares of the pool, largest remainder), or ``{class: n}`` /
  ``{class: (min, max)}``. Exact shares are ``min = max``.
* ``exclude`` (never picked) and ``covered`` (never picked, and counted as labeled: rows
  already queued or labeled in this pool).

Every random step draws from ``numpy.random.default_rng(seed)`` after the rows are put in a
canonical order (by ``tie_ids`` when given), so the same inputs and seed give the same batch
and reordering the input rows does not change it.

Examples
--------
>>> import numpy as np
>>> x = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
>>> p = np.array([[0.5, 0.5], [0.6, 0.4], [0.7, 0.3], [0.8, 0.2], [0.9, 0.1]])
>>> select_batch(p, x, 3, method="top").tolist()
[0, 1, 2]
>>> select_batch(p, x, 3, method="diverse").tolist()  # most uncertain, then farthest first
[0, 4, 3]
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labelnext.embeddings import EmbeddingError, check_embeddings
from labelnext.errors import EmptyPoolError, SelectionError
from labelnext.select import order, top_k
from labelnext.uncertainty import STRATEGIES, uncertainty_scores

__all__ = [
    "AUTO_METHOD",
    "AUTO_TYPICAL_BATCHES",
    "AUTO_TYPICAL_LABELS_PER_CLASS",
    "AUTO_TYPICAL_MIN_LABELED",
    "CANDIDATE_FACTOR",
    "METHODS",
    "METRICS",
    "BatchPick",
    "covering_radius",
    "pick_batch",
    "resolve_method",
    "select_batch",
]

METHODS = ("top", "diverse", "cluster", "typical", "auto")
METRICS = ("euclidean", "cosine")
QUOTA_MODES = ("balanced", "proportional")
CANDIDATE_FACTOR = 3.0
"""``diverse`` and ``cluster`` consider ``CANDIDATE_FACTOR * k`` most uncertain rows by default
(3 saved more labels than 5 and 10 in ``benchmarks/bench_label_efficiency.py``)."""
AUTO_TYPICAL_MIN_LABELED = 20
AUTO_TYPICAL_LABELS_PER_CLASS = 2
AUTO_TYPICAL_BATCHES = 4
"""``auto`` runs ``typical`` while at most ``max(AUTO_TYPICAL_MIN_LABELED,
AUTO_TYPICAL_LABELS_PER_CLASS * n_classes, AUTO_TYPICAL_BATCHES * k)`` rows are labeled or
covered (see :func:`resolve_method`)."""
AUTO_METHOD = "cluster"
"""What ``auto`` runs once the model has labels to learn from."""
TYPICAL_NEIGHBORS = 20
TYPICAL_MAX_CLUSTERS = 500
TYPICAL_MIN_CLUSTER_SIZE = 5
TYPICAL_SAMPLE = 100_000
_TYPICAL_MAX_CANDIDATES = (
    1024  # rows of a big cluster whose typicality is measured (nearest its centre)
)
_TYPICAL_MAX_REFERENCES = 4096  # rows of a big cluster they are measured against (a seeded sample)
_KMEANS_ITERATIONS = 6
_KMEANS_ROWS_PER_CLUSTER = 16  # Lloyd iterations run on a seeded sample this many rows per cluster
_KMEANS_SEED_ROWS_PER_CLUSTER = 4  # k-means++ seeding draws from this many rows per cluster
_WINDOWS = (64, 512, 4096)  # diverse: candidates measured against pending picks before a flush
_ROW_BLOCK = 4096  # rows per block of a distance computation
_BLOCK_ELEMENTS = 1 << 20  # entries of one block of a distance matrix (4 MiB of float32)
_EXACT_BELOW = 1e-3  # squared distances below this share of |x|^2 + |y|^2 are recomputed exactly

Floats = NDArray[np.floating[Any]]
Index = NDArray[np.intp]


@dataclass(frozen=True)
class BatchPick:
    """A picked batch and what a preview (and the ledger) says about it.

    Attributes
    ----------
    indices : ndarray of shape (k,), int64
        Row positions in pick order (the first is picked first).
    method : str
        The method that ran (what ``auto`` resolved to).
    requested_method : str
        The method asked for (``auto`` or the same as ``method``).
    reason : str
        One sentence on why this method ran (``auto``'s rule, or "requested").
    n_suppressed : int
        Rows the method would have taken at their turn but passed over because they lay within
        ``min_distance`` of an earlier pick or of a labeled or covered row (0 without
        ``min_distance``; always 0 for ``diverse``, whose farthest-first order never reaches such
        a row before every row is one).
    n_candidates : int
        Rows the method chose among (the pool for ``top`` and ``typical``).
    n_pool : int
        Rows that could be picked (not excluded, not covered).
    params : dict
        JSON-ready options that determine the batch (method, seed, strategy, candidates,
        n_clusters, metric, min_distance, quotas): record them with the batch.
    """

    indices: NDArray[np.int64]
    method: str
    requested_method: str
    reason: str
    n_suppressed: int
    n_candidates: int
    n_pool: int
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.indices)


def select_batch(
    probabilities: ArrayLike | None,
    embeddings: ArrayLike | None,
    k: int,
    *,
    method: str = "auto",
    seed: int = 0,
    labeled_embeddings: ArrayLike | None = None,
    **options: Any,
) -> NDArray[np.int64]:
    """Pick ``k`` rows to label next; their positions in pick order.

    The same as ``pick_batch(...).indices``; see :func:`pick_batch` for every option.

    Returns
    -------
    ndarray of shape (k,), int64
        Row positions into ``probabilities`` / ``embeddings``, no position twice.
    """
    return pick_batch(
        probabilities,
        embeddings,
        k,
        method=method,
        seed=seed,
        labeled_embeddings=labeled_embeddings,
        **options,
    ).indices


def pick_batch(
    probabilities: ArrayLike | None,
    embeddings: ArrayLike | None,
    k: int,
    *,
    method: str = "auto",
    seed: int = 0,
    labeled_embeddings: ArrayLike | None = None,
    covered: ArrayLike | None = None,
    exclude: ArrayLike | None = None,
    quotas: str | Mapping[Any, int | tuple[int, int]] | None = None,
    predicted: ArrayLike | None = None,
    classes: Sequence[str] | None = None,
    min_distance: float | None = None,
    metric: str = "euclidean",
    strategy: str = "margin",
    scores: ArrayLike | None = None,
    candidates: int | None = None,
    candidate_factor: float = CANDIDATE_FACTOR,
    n_clusters: int | None = None,
    typical_sample: int = TYPICAL_SAMPLE,
    tie_ids: ArrayLike | None = None,
    expected_dim: int | None = None,
) -> BatchPick:
    """Pick ``k`` rows to label next with one of :data:`METHODS`.

    Parameters
    ----------
    probabilities : array-like of shape (n_rows, n_classes), or None
        Class probabilities; scored by ``strategy`` (higher = more uncertain). May be None for
        ``typical`` (and for ``auto``, which then runs ``typical``), or when ``scores`` is given.
    embeddings : array-like of shape (n_rows, dim), or None
        One vector per row (:func:`labelnext.embeddings.embedding_for`). Needed by every method
        except ``top`` without ``min_distance``.
    k : int
        Batch size, 1 <= k <= rows in the pool.
    method : {"auto", "top", "diverse", "cluster", "typical"}, default="auto"
    seed : int, default=0
        Seeds every random step (k-means seeding and samples); no global random state is used.
    labeled_embeddings : array-like of shape (n_labeled, dim), optional
        Rows already labeled (or queued) that are not in this pool: ``diverse`` counts them as
        covered, ``typical`` as covering their cluster, ``min_distance`` keeps picks away.
    covered : array-like of int or bool, optional
        Rows of this pool already labeled or queued: never picked, and counted like
        ``labeled_embeddings``.
    exclude : array-like of int or bool, optional
        Rows never picked (a filter; they count as nothing else).
    quotas : {"balanced", "proportional"} or mapping, optional
        Class quotas over ``predicted``: a mapping gives per class an exact count or a
        ``(min, max)`` pair; classes not named are unconstrained.
    predicted : array-like of shape (n_rows,), optional
        Each row's class for ``quotas`` (ints or labels); default the argmax of
        ``probabilities``, named by ``classes`` when given.
    classes : sequence of str, optional
        Class names, so that the default ``predicted`` (and quota keys) use names.
    min_distance : float, optional
        Near-duplicate suppression distance in ``metric`` (>= 0; cosine at most 2).
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance of every method (cosine works on unit-normalised rows).
    strategy : str, default="margin"
        Uncertainty strategy for ``probabilities`` (:data:`labelnext.uncertainty.STRATEGIES`).
    scores : array-like of shape (n_rows,), optional
        Ready-made uncertainty scores in [0, 1] (for example ``run_scores`` of a detection run),
        used instead of scoring ``probabilities``.
    candidates : int, optional
        ``diverse`` and ``cluster``: how many of the most uncertain rows to choose among
        (>= k; default ``candidate_factor * k``, at most the pool).
    candidate_factor : float, default=3
    n_clusters : int, optional
        ``cluster``: clusters of the candidates (default ``k``); ``typical``: clusters of the pool
        (default ``min(k + n_labeled, max(k, 500))``).
    typical_sample : int, default=100000
        ``typical`` clusters a seeded uniform sample of this many pool rows when the pool is
        larger.
    tie_ids : array-like of shape (n_rows,), optional
        Each row's ``data_row_id``: breaks ties between equal scores and fixes the canonical row
        order (so shuffling the input rows does not change the batch). Default: row positions.
    expected_dim : int, optional
        Refuse embeddings of another dimension (a run's declared one).

    Returns
    -------
    BatchPick
        ``indices`` (k row positions in pick order) and what a preview shows.

    Raises
    ------
    EmbeddingError
        Embeddings with NaN or inf (the row and column named), rows of different lengths, a
        dimension other than ``expected_dim`` or than the pool's, a zero row under cosine.
    SelectionError
        ``k`` larger than the pool (both numbers), impossible quotas (minimums over ``k``, a
        class with too few rows), a ``min_distance`` that leaves fewer than ``k`` rows (how many
        fit), an unknown method, metric or strategy; :class:`EmptyPoolError` for an empty pool.
    TypeError
        Arguments of the wrong type.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [0.01], [1.0], [2.0]])
    >>> p = np.array([[0.5, 0.5], [0.5, 0.5], [0.7, 0.3], [0.9, 0.1]])
    >>> pick = pick_batch(p, x, 2, method="top", min_distance=0.1, tie_ids=["a", "b", "c", "d"])
    >>> pick.indices.tolist(), pick.n_suppressed
    ([0, 2], 1)
    """
    _check_choice("method", method, METHODS)
    _check_choice("metric", metric, METRICS)
    _check_choice("strategy", strategy, STRATEGIES)
    k = _check_int("k", k, minimum=1)
    seed = _check_int("seed", seed, minimum=0)
    typical_sample = _check_int("typical_sample", typical_sample, minimum=1)
    if candidates is not None:
        candidates = _check_int("candidates", candidates, minimum=1)
        if candidates < k:
            raise SelectionError(f"candidates={candidates} must be >= k={k}.")
    if n_clusters is not None:
        n_clusters = _check_int("n_clusters", n_clusters, minimum=1)
    if isinstance(candidate_factor, bool) or not isinstance(candidate_factor, int | float):
        raise TypeError(f"candidate_factor must be a number, got {candidate_factor!r}")
    if not (math.isfinite(candidate_factor) and candidate_factor >= 1):
        raise SelectionError(f"candidate_factor must be >= 1, got {candidate_factor}")

    n = _pool_size(probabilities, embeddings, scores)
    ties = _check_ties(tie_ids, n)
    score = _check_scores(probabilities, scores, strategy, n, ties)
    if min_distance is not None:
        min_distance = _check_min_distance(min_distance, metric)

    requested = method
    eligible = np.ones(n, dtype=bool)
    covered_rows = _rows_arg("covered", covered, n)
    eligible[covered_rows] = False
    eligible[_rows_arg("exclude", exclude, n)] = False
    n_pool = int(eligible.sum())
    n_labeled = len(covered_rows) + (0 if labeled_embeddings is None else len(labeled_embeddings))  # type: ignore[arg-type]
    if requested == "auto":
        n_classes = np.shape(probabilities)[1] if probabilities is not None else None
        method, reason = resolve_method(
            n_labeled=n_labeled, has_scores=score is not None, k=k, n_classes=n_classes
        )
    else:
        reason = "requested"
    if method in ("diverse", "cluster", "top") and score is None:
        raise SelectionError(
            f"method {method!r} ranks rows by uncertainty and needs probabilities or scores; "
            "method 'typical' needs only embeddings."
        )
    needs_space = method != "top" or min_distance is not None
    if needs_space and embeddings is None:
        raise EmbeddingError(
            f"method {method!r}"
            + (" with min_distance" if method == "top" else "")
            + " needs embeddings (an (n_rows, dim) array); see labelnext.embeddings.embedding_for."
        )
    if n_pool == 0:
        raise EmptyPoolError(
            f"The pool is empty: all {n} row(s) are excluded or covered; nothing to pick."
        )
    if k > n_pool:
        raise SelectionError(
            f"k={k} is larger than the pool of {n_pool} row(s)"
            + (f" ({n - n_pool} of {n} excluded or covered)." if n_pool < n else ".")
        )

    space = None
    if needs_space:
        assert embeddings is not None
        space = _Space.build(
            embeddings,
            metric=metric,
            n_rows=n,
            expected_dim=expected_dim,
            ids=ties,
            labeled=labeled_embeddings,
            covered_rows=covered_rows,
        )
    quota = _build_quota(quotas, predicted, probabilities, classes, n, eligible, k, ties)
    threshold_sq = None if min_distance is None or space is None else space.to_sq(min_distance)
    rng = np.random.default_rng(seed)
    tie_order = ties if ties is not None else np.arange(n)

    n_candidates = n_pool
    if method == "top":
        assert score is not None
        picks, n_suppressed = _top(score, tie_order, eligible, k, quota, space, threshold_sq)
    elif method == "typical":
        assert space is not None
        picks, n_suppressed, used_clusters = _typical(
            space, eligible, k, quota, threshold_sq, rng, tie_order, n_clusters, typical_sample
        )
        n_clusters = used_clusters
    else:
        assert score is not None and space is not None
        size = candidates if candidates is not None else math.ceil(candidate_factor * k)
        cand = _candidates(score, tie_order, eligible, min(size, n_pool), quota)
        n_candidates = len(cand)
        if method == "diverse":
            picks, n_suppressed = _diverse(space, cand, k, quota, threshold_sq)
        else:
            n_clusters = min(n_clusters or k, len(cand))
            picks, n_suppressed = _cluster(space, cand, k, quota, threshold_sq, rng, n_clusters)

    if len(picks) < k:
        raise _too_few(len(picks), k, min_distance, metric, quota)
    params: dict[str, Any] = {
        "method": method,
        "requested_method": requested,
        "seed": seed,
        "strategy": strategy if scores is None else "scores",
        "metric": metric,
        "min_distance": min_distance,
        "quotas": quota.describe() if quota is not None else None,
        "n_labeled": n_labeled,
    }
    if method in ("diverse", "cluster"):
        params["candidates"] = n_candidates
    if method in ("cluster", "typical"):
        params["n_clusters"] = n_clusters
    return BatchPick(
        indices=np.asarray(picks, dtype=np.int64),
        method=method,
        requested_method=requested,
        reason=reason,
        n_suppressed=n_suppressed,
        n_candidates=n_candidates,
        n_pool=n_pool,
        params=params,
    )


def resolve_method(
    *, n_labeled: int, has_scores: bool, k: int, n_classes: int | None = None
) -> tuple[str, str]:
    """What ``method="auto"`` runs, and why (one sentence for the UI).

    ``typical`` when there are no scores, or while the labeled (and queued) rows number at most
    ``max(20, 2 * n_classes, 4 * k)``: a batch that adds a quarter or more of everything labeled
    so far is a low-budget batch, where a model's uncertainty is a poor guide and typical rows
    of uncovered clusters teach it more (Hacohen et al. 2022). After that, :data:`AUTO_METHOD`
    (``cluster``: the ``3 * k`` most uncertain rows, one per cluster). On real MNIST and
    scikit-learn's digits, over 20 seeds and batches of 20 and 100, this rule had the best
    worst case of the rules tried and never fell below random (``docs/batch.md``).

    Parameters
    ----------
    n_labeled : int
        Rows already labeled or queued (``labeled_embeddings`` plus ``covered``).
    has_scores : bool
        Whether probabilities or scores were given.
    k : int
        The batch size.
    n_classes : int, optional
        Classes of the probabilities; unknown for ready-made scores.

    Examples
    --------
    >>> resolve_method(n_labeled=0, has_scores=False, k=20)[0]
    'typical'
    >>> resolve_method(n_labeled=80, has_scores=True, k=20, n_classes=10)[0]
    'typical'
    >>> resolve_method(n_labeled=100, has_scores=True, k=20, n_classes=10)[0]
    'cluster'
    """
    if not has_scores:
        return "typical", "no probabilities or scores: typical (cold start) needs only embeddings"
    cold = max(
        AUTO_TYPICAL_MIN_LABELED,
        AUTO_TYPICAL_LABELS_PER_CLASS * (n_classes or 0),
        AUTO_TYPICAL_BATCHES * k,
    )
    if n_labeled <= cold:
        return (
            "typical",
            f"{n_labeled} labeled row(s), at most {cold} (max of 20, 2 per class, 4 batches): a "
            "low budget, where typical rows teach the model more than its uncertain ones",
        )
    return (
        AUTO_METHOD,
        f"{n_labeled} labeled row(s), more than {cold}: {AUTO_METHOD} (the most uncertain rows, "
        "one per cluster)",
    )


def covering_radius(
    embeddings: ArrayLike,
    picks: ArrayLike,
    *,
    metric: str = "euclidean",
    labeled_embeddings: ArrayLike | None = None,
    rows: ArrayLike | None = None,
) -> float:
    """The largest distance from a row to its nearest pick (or labeled row): k-center's objective.

    Parameters
    ----------
    embeddings : array-like of shape (n_rows, dim)
    picks : array-like of int
        Row positions of the picks.
    metric : {"euclidean", "cosine"}, default="euclidean"
    labeled_embeddings : array-like of shape (n_labeled, dim), optional
        Rows that cover as picks do.
    rows : array-like of int, optional
        Measure over these rows only (default every row).

    Returns
    -------
    float
        Lower is better: every row has a pick (or labeled row) within this distance. Computed
        blockwise; no ``n x n`` matrix.

    Examples
    --------
    >>> covering_radius([[0.0], [1.0], [5.0], [6.0]], [0, 3])
    1.0
    """
    _check_choice("metric", metric, METRICS)
    x = check_embeddings(embeddings)
    space = _Space.build(x, metric=metric, n_rows=len(x), labeled=labeled_embeddings)
    chosen = _rows_arg("picks", picks, len(x))
    if len(chosen) == 0 and space.covered is None:
        raise SelectionError("covering_radius needs at least one pick or labeled row.")
    centres = space.vectors(chosen)
    if space.covered is not None:
        centres = np.concatenate([centres, space.covered])
    over = np.arange(len(x)) if rows is None else _rows_arg("rows", rows, len(x))
    sq, _ = space.nearest_sq(over, centres)
    return space.from_sq(float(sq.max())) if len(sq) else 0.0


# ------------------------------------------------------------------------------------------
# Input checks (once, in the public functions)


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise SelectionError(f"Unknown {name} {value!r}; valid: {', '.join(allowed)}.")


def _check_int(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise SelectionError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _pool_size(
    probabilities: ArrayLike | None, embeddings: ArrayLike | None, scores: ArrayLike | None
) -> int:
    sizes = {
        name: len(value)  # type: ignore[arg-type]
        for name, value in (
            ("probabilities", probabilities),
            ("embeddings", embeddings),
            ("scores", scores),
        )
        if value is not None
    }
    if not sizes:
        raise SelectionError("Give probabilities, scores or embeddings: all are None.")
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name} {size}" for name, size in sizes.items())
        raise SelectionError(f"The inputs disagree on the number of rows: {listed}.")
    return next(iter(sizes.values()))


def _check_ties(tie_ids: ArrayLike | None, n: int) -> NDArray[Any] | None:
    if tie_ids is None:
        return None
    ties = np.asarray(tie_ids)
    if ties.ndim != 1 or len(ties) != n:
        raise SelectionError(f"tie_ids must have one value per row ({n}), got shape {ties.shape}.")
    return ties


def _check_scores(
    probabilities: ArrayLike | None,
    scores: ArrayLike | None,
    strategy: str,
    n: int,
    ties: NDArray[Any] | None,
) -> Floats | None:
    def where(i: int) -> str:
        return f"row {i}" if ties is None else f"row {i} (data_row_id {str(ties[i])!r})"

    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 1:
            raise SelectionError(f"scores must have shape (n_rows,), got shape {s.shape}.")
        bad = np.flatnonzero(~(np.isfinite(s) & (s >= 0) & (s <= 1)))
        if len(bad):
            raise SelectionError(
                f"scores {where(int(bad[0]))} is {s[bad[0]]}; scores must be finite and in "
                f"[0, 1] ({len(bad)} row(s) are not)."
            )
        return s
    if probabilities is None:
        return None
    p = np.asarray(probabilities)
    if p.ndim != 2:
        raise SelectionError(
            f"probabilities must have shape (n_rows, n_classes), got shape {p.shape}."
        )
    if not np.issubdtype(p.dtype, np.number):
        raise TypeError(f"probabilities must be numbers, got dtype {p.dtype}")
    if not np.isfinite(p).all():  # one flat pass; the rows only when something is wrong
        bad = np.flatnonzero(~np.isfinite(p).all(axis=1))
        raise SelectionError(
            f"probabilities {where(int(bad[0]))} holds NaN or infinite values ({len(bad)} row(s) "
            "do)."
        )
    return np.asarray(uncertainty_scores(p, strategy), dtype=np.float64)


def _check_min_distance(value: object, metric: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise TypeError(f"min_distance must be a number, got {value!r}")
    value = float(value)
    top = 2.0 if metric == "cosine" else math.inf
    if not (math.isfinite(value) and 0 <= value <= top):
        allowed = "in [0, 2] for cosine" if metric == "cosine" else "finite and >= 0"
        raise SelectionError(f"min_distance must be {allowed}, got {value}.")
    return value


def _rows_arg(name: str, value: ArrayLike | None, n: int) -> Index:
    """Row positions from an int array or a boolean mask, checked against ``n`` rows."""
    if value is None:
        return np.empty(0, dtype=np.intp)
    arr = np.asarray(value)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise SelectionError(f"{name} as a mask must have {n} values, got shape {arr.shape}.")
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.empty(0, dtype=np.intp)
    if not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
        raise TypeError(f"{name} must be row positions (ints) or a boolean mask, got {arr.dtype}")
    outside = arr[(arr < 0) | (arr >= n)]
    if len(outside):
        raise SelectionError(
            f"{name} holds row position {int(outside[0])}, outside 0..{n - 1} "
            f"({len(outside)} such value(s))."
        )
    return np.unique(arr).astype(np.intp)


# ------------------------------------------------------------------------------------------
# The embedding space: squared euclidean distances, blockwise, on unit rows for cosine


@dataclass
class _Space:
    x: Floats
    sqn: Floats
    covered: Floats | None  # labeled rows and covered pool rows, in the same space
    cosine: bool

    @classmethod
    def build(
        cls,
        embeddings: ArrayLike,
        *,
        metric: str,
        n_rows: int,
        expected_dim: int | None = None,
        ids: NDArray[Any] | None = None,
        labeled: ArrayLike | None = None,
        covered_rows: Index | None = None,
    ) -> _Space:
        x = check_embeddings(embeddings, n_rows=n_rows, expected_dim=expected_dim, ids=ids)
        cosine = metric == "cosine"
        if cosine:
            x = _unit_rows(x, "embeddings", ids)
        sqn = _row_sq_norms(x)
        parts = []
        if labeled is not None:
            lab = check_embeddings(labeled, field="labeled_embeddings", expected_dim=x.shape[1])
            if cosine:
                lab = _unit_rows(lab, "labeled_embeddings", None)
            parts.append(lab.astype(x.dtype, copy=False))
        if covered_rows is not None and len(covered_rows):
            parts.append(x[covered_rows])
        covered = np.concatenate(parts) if parts else None
        if covered is not None and len(covered) == 0:
            covered = None
        return cls(x=x, sqn=sqn, covered=covered, cosine=cosine)

    def to_sq(self, distance: float) -> float:
        """A distance in the metric as a squared euclidean distance here."""
        return 2.0 * distance if self.cosine else distance * distance

    def from_sq(self, sq: float) -> float:
        return sq / 2.0 if self.cosine else math.sqrt(sq)

    def vectors(self, rows: Index) -> Floats:
        return self.x[rows]

    def nearest_sq(self, rows: Index, centres: Floats) -> tuple[Floats, Index]:
        """For each of ``rows``, the squared distance to its nearest centre and which one."""
        best = np.empty(len(rows), dtype=self.x.dtype)
        which = np.empty(len(rows), dtype=np.intp)
        centres = np.asarray(centres, dtype=self.x.dtype)
        sqc = _row_sq_norms(centres)
        for start in range(0, len(rows), _ROW_BLOCK):
            part = rows[start : start + _ROW_BLOCK]
            b, w = _nearest_sq(self.x[part], self.sqn[part], centres, sqc)
            best[start : start + len(part)] = b
            which[start : start + len(part)] = w
        return best, which


def _nearest_sq(x: Floats, sqn: Floats, centres: Floats, sqc: Floats) -> tuple[Floats, Index]:
    """Each row of ``x``'s squared distance to its nearest centre, and which, in bounded blocks.

    ``|x|^2 - 2 x.c + |c|^2`` through matrix products; where that cancels (a distance tiny next
    to the norms: near-duplicates) the distance is recomputed as a sum of squared differences.
    """
    best = np.full(len(x), np.inf, dtype=x.dtype)
    which = np.zeros(len(x), dtype=np.intp)
    if len(centres) == 0 or len(x) == 0:
        return best, which
    c_block = max(1, min(len(centres), _BLOCK_ELEMENTS // 256))
    r_block = max(1, _BLOCK_ELEMENTS // c_block)
    for start in range(0, len(x), r_block):
        sub = x[start : start + r_block]
        b_best, b_which = best[start : start + len(sub)], which[start : start + len(sub)]
        rows_ = np.arange(len(sub))
        for c0 in range(0, len(centres), c_block):
            block = sub @ centres[c0 : c0 + c_block].T
            block *= -2.0
            block += sqc[None, c0 : c0 + c_block]
            arg = block.argmin(axis=1)
            val = block[rows_, arg]
            better = val < b_best
            b_best[better] = val[better]
            b_which[better] = arg[better] + c0
        b_best += sqn[start : start + len(sub)]
        small = np.flatnonzero(
            b_best < _EXACT_BELOW * (sqn[start : start + len(sub)] + sqc[b_which])
        )
        if len(small):
            diff = sub[small] - centres[b_which[small]]
            b_best[small] = np.einsum("ij,ij->i", diff, diff)
        np.maximum(b_best, 0.0, out=b_best)
    return best, which


def _row_sq_norms(x: Floats) -> Floats:
    out = np.empty(len(x), dtype=x.dtype)
    for start in range(0, len(x), _ROW_BLOCK):
        block = x[start : start + _ROW_BLOCK]
        out[start : start + len(block)] = np.einsum("ij,ij->i", block, block)
    return out


def _unit_rows(x: Floats, field: str, ids: NDArray[Any] | None) -> Floats:
    norms = np.sqrt(_row_sq_norms(x))
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        i = int(zero[0])
        where = f"row {i}" if ids is None else f"row {i} (data_row_id {str(ids[i])!r})"
        raise EmbeddingError(
            f"{field} {where} is all zeros, which has no cosine distance ({len(zero)} such "
            "row(s)); use metric='euclidean' or fix the embedding."
        )
    return x / norms[:, None].astype(x.dtype)


# ------------------------------------------------------------------------------------------
# Class quotas


class _Quota:
    """Per-class minimum and maximum over coded classes; ``allowed`` says which may take a row."""

    def __init__(
        self, codes: Index, names: list[Any], lo: NDArray[np.int64], hi: NDArray[np.int64], k: int
    ) -> None:
        self.codes = codes
        self.names = names
        self.lo = lo
        self.hi = hi
        self.k = k
        self.count = np.zeros(len(names), dtype=np.int64)
        self.taken = 0

    def allowed(self) -> NDArray[np.bool_]:
        outstanding = np.maximum(self.lo - self.count, 0)
        if outstanding.sum() >= self.k - self.taken:
            return np.asarray(outstanding > 0, dtype=bool)
        return np.asarray(self.count < self.hi, dtype=bool)

    def take(self, row: int) -> None:
        self.count[self.codes[row]] += 1
        self.taken += 1

    def describe(self) -> dict[str, list[int]]:
        return {
            str(n): [int(a), int(b)] for n, a, b in zip(self.names, self.lo, self.hi, strict=True)
        }


def _build_quota(
    quotas: str | Mapping[Any, int | tuple[int, int]] | None,
    predicted: ArrayLike | None,
    probabilities: ArrayLike | None,
    classes: Sequence[str] | None,
    n: int,
    eligible: NDArray[np.bool_],
    k: int,
    ties: NDArray[Any] | None,
) -> _Quota | None:
    if quotas is None:
        return None
    if predicted is None:
        if probabilities is None:
            raise SelectionError(
                "quotas need each row's class: give predicted=... or probabilities."
            )
        index = np.asarray(np.asarray(probabilities).argmax(axis=1), dtype=np.intp)
        labels: NDArray[Any] = (
            np.asarray(classes, dtype=object)[index] if classes is not None else index
        )
    else:
        labels = np.asarray(predicted)
        if labels.shape != (n,):
            raise SelectionError(
                f"predicted must have one class per row ({n}), got shape {labels.shape}."
            )
    names_arr, codes = np.unique(labels, return_inverse=True)
    names: list[Any] = [x.item() if isinstance(x, np.generic) else x for x in names_arr]
    codes = codes.astype(np.intp)
    counts = np.bincount(codes[eligible], minlength=len(names)).astype(np.int64)
    if isinstance(quotas, str):
        _check_choice("quotas", quotas, QUOTA_MODES)
        share = _balanced(counts, k) if quotas == "balanced" else _proportional(counts, k)
        return _Quota(codes, names, share.copy(), share.copy(), k)
    if not isinstance(quotas, Mapping):
        raise TypeError(
            f"quotas must be 'balanced', 'proportional' or a mapping of class to n or (min, max), "
            f"got {quotas!r}"
        )
    lo = np.zeros(len(names), dtype=np.int64)
    hi = np.full(len(names), k, dtype=np.int64)
    lookup = {_key(name): i for i, name in enumerate(names)}
    present = [str(nm) for nm, c in zip(names, counts, strict=True) if c]
    extra_names: list[Any] = []
    for key, value in quotas.items():
        low, high = _quota_pair(key, value)
        if _key(key) not in lookup:
            if low > 0:
                raise SelectionError(
                    f"quotas ask for at least {low} row(s) of class {key!r}, but the pool has no "
                    f"row predicted as {key!r} (its classes: {', '.join(present)})."
                )
            extra_names.append(key)
            continue
        i = lookup[_key(key)]
        if low > 0 and counts[i] == 0:
            raise SelectionError(
                f"quotas ask for at least {low} row(s) of class {key!r}, but no row of the pool "
                f"is predicted as {key!r} (all are excluded or covered)."
            )
        if low > counts[i]:
            raise SelectionError(
                f"quotas ask for at least {low} row(s) of class {key!r}, but the pool has only "
                f"{counts[i]}."
            )
        lo[i], hi[i] = low, high
    if lo.sum() > k:
        raise SelectionError(
            f"quotas ask for at least {int(lo.sum())} row(s) in total (the sum of the minimums), "
            f"more than k={k}."
        )
    room = int(np.minimum(hi, counts).sum())
    if room < k:
        raise SelectionError(
            f"quotas allow at most {room} row(s) (the maximums, capped by the rows of each class "
            f"in the pool), fewer than k={k}."
        )
    return _Quota(codes, names, lo, hi, k)


def _key(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _quota_pair(key: Hashable, value: object) -> tuple[int, int]:
    if isinstance(value, bool):
        raise TypeError(f"quota for class {key!r} must be an int or (min, max), got {value!r}")
    if isinstance(value, int | np.integer):
        low = high = int(value)
    elif isinstance(value, tuple | list) and len(value) == 2:
        low, high = (
            _check_int(f"quota min for class {key!r}", value[0], minimum=0),
            _check_int(f"quota max for class {key!r}", value[1], minimum=0),
        )
    else:
        raise TypeError(f"quota for class {key!r} must be an int or (min, max), got {value!r}")
    if low < 0 or high < low:
        raise SelectionError(
            f"quota for class {key!r} must satisfy 0 <= min <= max, got ({low}, {high})."
        )
    return low, high


def _balanced(counts: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """Equal shares of ``k`` over the classes present; a small class gives its surplus away.

    Water-filling: every class gets ``min(count, level)`` for the highest level that fits in
    ``k``, and the rows left over go one each to the lowest class codes that still have rows.
    """
    low, high = 0, int(counts.max())
    while low < high:  # the highest level whose shares sum to at most k
        mid = (low + high + 1) // 2
        if int(np.minimum(counts, mid).sum()) <= k:
            low = mid
        else:
            high = mid - 1
    share = np.minimum(counts, low).astype(np.int64)
    left = k - int(share.sum())
    share[np.flatnonzero(counts > low)[:left]] += 1
    return share


def _proportional(counts: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """Shares of ``k`` proportional to the pool's class counts, by largest remainder."""
    exact = counts * (k / counts.sum())
    share = np.floor(exact).astype(np.int64)
    remainder = exact - share
    order_ = np.lexsort((np.arange(len(counts)), -remainder))
    share[order_[: k - int(share.sum())]] += 1
    return np.asarray(np.minimum(share, counts), dtype=np.int64)


# ------------------------------------------------------------------------------------------
# Near-duplicate suppression


class _Suppressor:
    """Says whether a row lies at least ``min_distance`` from every pick and covered row."""

    def __init__(self, space: _Space, threshold_sq: float, capacity: int) -> None:
        self.space = space
        self.threshold_sq = threshold_sq
        self.picks = np.empty((capacity, space.x.shape[1]), dtype=space.x.dtype)
        self.n = 0
        self.suppressed = 0

    def fits(self, row: int, covered_sq: float | None = None) -> bool:
        if covered_sq is None and self.space.covered is not None:
            covered_sq = float(self.space.nearest_sq(np.array([row]), self.space.covered)[0][0])
        if covered_sq is not None and covered_sq < self.threshold_sq:
            self.suppressed += 1
            return False
        if self.n:
            diff = self.picks[: self.n] - self.space.x[row]
            if np.einsum("ij,ij->i", diff, diff).min() < self.threshold_sq:
                self.suppressed += 1
                return False
        return True

    def add(self, row: int) -> None:
        self.picks[self.n] = self.space.x[row]
        self.n += 1


def _too_few(
    n_fit: int, k: int, min_distance: float | None, metric: str, quota: _Quota | None
) -> SelectionError:
    if min_distance is not None:
        within = " within the quotas" if quota is not None else ""
        return SelectionError(
            f"min_distance={min_distance:g} ({metric}) leaves only {n_fit} row(s) that are that "
            f"far from each other and from labeled or covered rows{within}, fewer than k={k}; "
            "lower min_distance or k."
        )
    return SelectionError(
        f"Only {n_fit} row(s) could be picked under the quotas, fewer than k={k}."
    )


# ------------------------------------------------------------------------------------------
# The methods (inputs valid; each returns row positions in pick order and the suppressed count)


def _top(
    score: Floats,
    ties: NDArray[Any],
    eligible: NDArray[np.bool_],
    k: int,
    quota: _Quota | None,
    space: _Space | None,
    threshold_sq: float | None,
) -> tuple[list[int], int]:
    if quota is None and threshold_sq is None:
        return top_k(score, ties, k, mask=eligible).tolist(), 0
    ranking = order(score, ties, mask=eligible)
    picks: list[int] = []
    suppressor = (
        _Suppressor(space, threshold_sq, k)
        if space is not None and threshold_sq is not None
        else None
    )
    allowed = quota.allowed() if quota is not None else None
    codes = quota.codes.tolist() if quota is not None else None
    chunk = 1024
    for start in range(0, len(ranking), chunk):
        part = ranking[start : start + chunk]
        covered_sq = (
            space.nearest_sq(part, space.covered)[0].tolist()
            if suppressor is not None and space is not None and space.covered is not None
            else None
        )
        for j, row in enumerate(part.tolist()):
            if quota is not None and codes is not None and allowed is not None:
                if not allowed[codes[row]]:
                    continue
            if suppressor is not None:
                if not suppressor.fits(row, covered_sq[j] if covered_sq is not None else None):
                    continue
                suppressor.add(row)
            picks.append(row)
            if quota is not None:
                quota.take(row)
                allowed = quota.allowed()
            if len(picks) == k:
                return picks, suppressor.suppressed if suppressor is not None else 0
    return picks, suppressor.suppressed if suppressor is not None else 0


def _candidates(
    score: Floats, ties: NDArray[Any], eligible: NDArray[np.bool_], size: int, quota: _Quota | None
) -> Index:
    """The ``size`` most uncertain rows (plus enough of each class with a quota minimum),
    most uncertain first."""
    chosen = top_k(score, ties, size, mask=eligible)
    if quota is not None and (quota.lo > 0).any():
        factor = max(1.0, size / quota.k)
        extra = [chosen]
        for code in np.flatnonzero(quota.lo > 0):
            in_class = eligible & (quota.codes == code)
            want = min(int(in_class.sum()), math.ceil(factor * quota.lo[code]))
            extra.append(top_k(score, ties, want, mask=in_class))
        union = np.unique(np.concatenate(extra))
        mask = np.zeros(len(score), dtype=bool)
        mask[union] = True
        chosen = order(score, ties, mask=mask)
    return np.asarray(chosen, dtype=np.intp)


def _diverse(
    space: _Space, cand: Index, k: int, quota: _Quota | None, threshold_sq: float | None
) -> tuple[list[int], int]:
    """Farthest-first traversal over the candidates, exact, measuring lazily.

    Each candidate keeps an upper bound on its squared distance to the nearest pick (or covered
    row): exact as of the picks applied to it, which may lag behind. The next pick is the
    candidate with the largest *exact* value; it is found by applying the missing picks to the
    candidates with the largest bounds only (a small matrix product), widening the window until
    the best exact value there is at least every bound outside it, and re-ranking when that takes
    too long. Candidates far from the top are never measured against later picks at all. The
    result is the same as recomputing every distance after every pick; never an ``n x n`` matrix.
    """
    x = space.x[cand]  # contiguous: the matrix products below read it in order
    sqn = space.sqn[cand]
    m = len(cand)
    best = np.full(m, np.inf, dtype=x.dtype)
    if space.covered is not None:
        best = _nearest_sq(x, sqn, space.covered, _row_sq_norms(space.covered))[0]
    by_code: list[Index] = []
    open_codes = None
    if quota is not None:
        codes = quota.codes[cand]
        order_ = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order_], np.arange(len(quota.names) + 1))
        by_code = [order_[bounds[c] : bounds[c + 1]] for c in range(len(quota.names))]
        open_codes = quota.allowed()
        for code in np.flatnonzero(~open_codes):
            best[by_code[code]] = -np.inf
    threshold = threshold_sq if threshold_sq is not None else -math.inf
    chosen = np.empty((k, x.shape[1]), dtype=x.dtype)
    chosen_sq = np.empty(k, dtype=x.dtype)
    n_chosen = 0
    applied = np.zeros(m, dtype=np.intp)  # picks already applied to each candidate's bound
    ranking = np.argsort(-best, kind="stable")  # by the bounds at the last re-ranking
    ranked_bound = best[ranking]
    head = 0  # ranking[:head] are picked or blocked
    region = max(4 * _WINDOWS[-1], m // 8)
    picks: list[int] = []

    def refresh(rows_: Index) -> None:
        """Apply to ``rows_`` the picks each has not seen yet (grouped, a few products)."""
        if len(rows_) == 0:
            return
        seen = applied[rows_]
        low = int(seen.min())
        if low == n_chosen:
            return
        step = max(8, (n_chosen - low + 3) // 4)
        bucket = (seen - low) // step
        for g in np.unique(bucket):
            start = low + int(g) * step
            if start >= n_chosen:
                continue
            in_bucket = rows_[bucket == g]
            for b0 in range(0, len(in_bucket), _ROW_BLOCK):  # gathered copies stay small
                group = in_bucket[b0 : b0 + _ROW_BLOCK]
                d, _ = _nearest_sq(
                    x[group], sqn[group], chosen[start:n_chosen], chosen_sq[start:n_chosen]
                )
                best[group] = np.minimum(best[group], d)
        applied[rows_] = n_chosen

    while len(picks) < k:
        j = -1
        while j < 0:
            while head < m and best[ranking[head]] == -np.inf:
                head += 1
            if head == m:
                break
            for width in _WINDOWS:
                window = ranking[head : head + width]
                window = window[best[window] > -np.inf]
                refresh(window)
                values = best[window]
                top = int(np.argmax(values))
                beyond = ranked_bound[head + width] if head + width < m else -np.inf
                if values[top] >= beyond:
                    j = int(window[top])
                    break
            else:  # no small window settles it: bring the top region up to date, re-rank
                top_region = ranking[head : head + region]
                refresh(top_region[best[top_region] > -np.inf])
                ranking = np.argsort(-best, kind="stable")
                ranked_bound = best[ranking]
                head = 0
        if j < 0 or best[j] < threshold:
            break
        row = int(cand[j])
        picks.append(row)
        best[j] = -np.inf
        chosen[n_chosen] = x[j]
        chosen_sq[n_chosen] = sqn[j]
        n_chosen += 1
        if quota is not None and open_codes is not None:
            quota.take(row)
            now = quota.allowed()
            for code in np.flatnonzero(open_codes & ~now):
                best[by_code[code]] = -np.inf
            open_codes = now
    return picks, 0


def _cluster(
    space: _Space,
    cand: Index,
    k: int,
    quota: _Quota | None,
    threshold_sq: float | None,
    rng: np.random.Generator,
    n_clusters: int,
) -> tuple[list[int], int]:
    _, labels = _kmeans(space, cand, n_clusters, rng)
    # members of each cluster keep the candidates' order: most uncertain first
    members = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[members], np.arange(n_clusters + 1))
    # smallest cluster first; among equals, the one whose best row is more uncertain
    spans = sorted(
        (int(bounds[c + 1] - bounds[c]), int(members[bounds[c]]), c)
        for c in range(n_clusters)
        if bounds[c + 1] > bounds[c]
    )
    groups = [cand[members[bounds[c] : bounds[c + 1]]] for _, _, c in spans]
    suppressor = _Suppressor(space, threshold_sq, k) if threshold_sq is not None else None
    pointers = [0] * len(groups)
    active = list(range(len(groups)))
    picks: list[int] = []
    allowed = quota.allowed() if quota is not None else None
    while active and len(picks) < k:
        still = []
        for g in active:
            group, p = groups[g], pointers[g]
            while p < len(group):
                row = int(group[p])
                p += 1
                if quota is not None and allowed is not None and not allowed[quota.codes[row]]:
                    continue
                if suppressor is not None and not suppressor.fits(row):
                    continue
                picks.append(row)
                if suppressor is not None:
                    suppressor.add(row)
                if quota is not None:
                    quota.take(row)
                    allowed = quota.allowed()
                break
            pointers[g] = p
            if p < len(group):
                still.append(g)
            if len(picks) == k:
                break
        active = still
    return picks, suppressor.suppressed if suppressor is not None else 0


def _typical(
    space: _Space,
    eligible: NDArray[np.bool_],
    k: int,
    quota: _Quota | None,
    threshold_sq: float | None,
    rng: np.random.Generator,
    ties: NDArray[Any],
    n_clusters: int | None,
    sample_size: int,
) -> tuple[list[int], int, int]:
    # canonical row order, so that the random steps do not depend on the input order
    pool = np.flatnonzero(eligible)
    pool = pool[np.argsort(ties[pool], kind="stable")]
    if len(pool) > sample_size:
        keep = np.zeros(len(pool), dtype=bool)
        keep[rng.choice(len(pool), sample_size, replace=False)] = True
        if quota is not None:  # enough rows of each class with a minimum stay in the sample
            for code in np.flatnonzero(quota.lo > 0):
                in_class = np.flatnonzero(quota.codes[pool] == code)
                want = min(len(in_class), 4 * int(quota.lo[code]))
                if keep[in_class].sum() < want:
                    keep[rng.choice(in_class, want, replace=False)] = True
        pool = pool[keep]
    n_covered = 0 if space.covered is None else len(space.covered)
    if n_clusters is None:
        n_clusters = min(k + n_covered, max(k, TYPICAL_MAX_CLUSTERS))
    n_clusters = min(n_clusters, len(pool))
    centres, labels = _kmeans(space, pool, n_clusters, rng)
    coverage = np.zeros(n_clusters, dtype=np.int64)
    if space.covered is not None:
        nearest = _nearest_centre(space.covered, centres)
        coverage += np.bincount(nearest, minlength=n_clusters)
    members = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[members], np.arange(n_clusters + 1))
    sizes = np.diff(bounds)
    big_enough = sizes >= TYPICAL_MIN_CLUSTER_SIZE
    if big_enough.sum() < min(k, n_clusters):  # too few proper clusters: use the small ones too
        big_enough = sizes > 0
    heap = [
        (int(coverage[c]), not bool(big_enough[c]), -int(sizes[c]), c)
        for c in range(n_clusters)
        if sizes[c] > 0
    ]
    heapq.heapify(heap)
    suppressor = _Suppressor(space, threshold_sq, k) if threshold_sq is not None else None
    ordered: dict[int, list[int]] = {}
    pointers: dict[int, int] = {}
    picks: list[int] = []
    allowed = quota.allowed() if quota is not None else None
    while heap and len(picks) < k:
        cov, small, neg_size, c = heapq.heappop(heap)
        if c not in ordered:
            rows = pool[members[bounds[c] : bounds[c + 1]]]
            ordered[c] = _by_typicality(space, rows, centres[c], rng).tolist()
            pointers[c] = 0
        rows_c, p = ordered[c], pointers[c]
        picked = False
        while p < len(rows_c):
            row = rows_c[p]
            p += 1
            if quota is not None and allowed is not None and not allowed[quota.codes[row]]:
                continue
            if suppressor is not None and not suppressor.fits(row):
                continue
            picks.append(row)
            picked = True
            if suppressor is not None:
                suppressor.add(row)
            if quota is not None:
                quota.take(row)
                allowed = quota.allowed()
            break
        pointers[c] = p
        if p < len(rows_c):
            heapq.heappush(heap, (cov + (1 if picked else 0), small, neg_size, c))
    return picks, suppressor.suppressed if suppressor is not None else 0, n_clusters


def _by_typicality(space: _Space, rows: Index, centre: Floats, rng: np.random.Generator) -> Index:
    """A cluster's rows, most typical first: highest inverse mean distance to their nearest
    neighbours within the cluster (ties by position in ``rows``)."""
    if len(rows) == 1:
        return rows
    neighbours = min(TYPICAL_NEIGHBORS, len(rows) - 1)
    if len(rows) > _TYPICAL_MAX_CANDIDATES:  # measure the rows nearest the centre only
        to_centre, _ = space.nearest_sq(rows, centre[None, :])
        near = np.argsort(to_centre, kind="stable")
        cand_pos = np.sort(near[:_TYPICAL_MAX_CANDIDATES])
    else:
        cand_pos = np.arange(len(rows))
    if len(rows) > _TYPICAL_MAX_REFERENCES:
        ref_pos = np.sort(rng.choice(len(rows), _TYPICAL_MAX_REFERENCES, replace=False))
    else:
        ref_pos = np.arange(len(rows))
    refs = space.x[rows[ref_pos]]
    ref_sq = space.sqn[rows[ref_pos]]
    in_refs = np.zeros(len(rows), dtype=bool)
    in_refs[ref_pos] = True
    mean_dist = np.empty(len(cand_pos), dtype=np.float64)
    block = max(1, _BLOCK_ELEMENTS // len(refs))
    for start in range(0, len(cand_pos), block):
        pos = cand_pos[start : start + block]
        sub = space.x[rows[pos]]
        sq = sub @ refs.T
        sq *= -2.0
        sq += space.sqn[rows[pos]][:, None]
        sq += ref_sq[None, :]
        np.maximum(sq, 0.0, out=sq)
        # a row among the references meets itself at distance 0: skip that one
        take = neighbours + 1
        take = min(take, sq.shape[1])
        part = np.partition(sq, take - 1, axis=1)[:, :take]
        part.sort(axis=1)
        dist = np.sqrt(part.astype(np.float64))
        self_in = in_refs[pos]
        mean_dist[start : start + len(pos)] = np.where(
            self_in,
            dist[:, 1 : neighbours + 1].mean(axis=1),
            dist[:, :neighbours].mean(axis=1),
        )
    typicality = 1.0 / (mean_dist + 1e-12)
    best_first = cand_pos[np.argsort(-typicality, kind="stable")]
    rest = np.setdiff1d(np.arange(len(rows)), cand_pos, assume_unique=True)
    return np.asarray(rows[np.concatenate([best_first, rest])], dtype=np.intp)


# ------------------------------------------------------------------------------------------
# k-means: k-means++ seeding and Lloyd iterations on a seeded sample, then every row assigned


def _kmeans(
    space: _Space, rows: Index, n_clusters: int, rng: np.random.Generator
) -> tuple[Floats, Index]:
    """Centres (n_clusters, dim) and each row's cluster, with bounded memory.

    k-means++ seeding on a seeded sample of ``_KMEANS_SEED_ROWS_PER_CLUSTER`` rows per cluster,
    Lloyd iterations on a larger one (``_KMEANS_ROWS_PER_CLUSTER``), then every row assigned to
    its nearest centre: a mini-batch flavour of k-means whose cost does not grow with the
    iterations times the rows.
    """
    m = len(rows)
    if n_clusters >= m:
        return space.x[rows].copy(), np.arange(m, dtype=np.intp)
    n_sample = min(m, n_clusters * _KMEANS_ROWS_PER_CLUSTER)
    shuffled = rng.permutation(m)[:n_sample]
    data = space.x[rows[np.sort(shuffled)]]
    n_seed = min(n_sample, n_clusters * _KMEANS_SEED_ROWS_PER_CLUSTER)
    centres = _kmeans_plus_plus(space.x[rows[np.sort(shuffled[:n_seed])]], n_clusters, rng)
    labels = None
    for _ in range(_KMEANS_ITERATIONS):
        new = _nearest_centre(data, centres)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        _update_centres(data, labels, centres)
    return centres, _nearest_centre_rows(space, rows, centres)


def _kmeans_plus_plus(data: Floats, n_clusters: int, rng: np.random.Generator) -> Floats:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each centre drawn with probability
    proportional to the squared distance to the nearest centre so far."""
    sqn = _row_sq_norms(data)
    best = np.full(len(data), np.inf)
    centres = np.empty((n_clusters, data.shape[1]), dtype=data.dtype)
    j = int(rng.integers(len(data)))
    for i in range(n_clusters):
        if i:
            total = best.sum()
            if total > 0:
                j = int(np.searchsorted(np.cumsum(best), rng.random() * total, side="right"))
                j = min(j, len(data) - 1)
            if not total > 0 or best[j] == 0:  # every row sits on a centre: any row not chosen
                free = np.flatnonzero(best > 0)
                j = (
                    int(free[rng.integers(len(free))])
                    if len(free)
                    else int(rng.integers(len(data)))
                )
        c = data[j]
        centres[i] = c
        d = data @ c
        d *= -2.0
        d += sqn
        d += float(c @ c)
        np.maximum(d, 0.0, out=d)
        np.minimum(best, d, out=best)
        best[j] = 0.0
    return centres


def _nearest_centre(data: Floats, centres: Floats) -> Index:
    """Each row's nearest centre; blockwise, the (rows, centres) block bounded."""
    sqc = _row_sq_norms(centres)
    out = np.empty(len(data), dtype=np.intp)
    block = max(1, _BLOCK_ELEMENTS // max(1, len(centres)))
    for start in range(0, len(data), block):
        d = data[start : start + block] @ centres.T
        d *= -2.0
        d += sqc[None, :]
        out[start : start + len(d)] = d.argmin(axis=1)
    return out


def _nearest_centre_rows(space: _Space, rows: Index, centres: Floats) -> Index:
    out = np.empty(len(rows), dtype=np.intp)
    block = max(1, _BLOCK_ELEMENTS // max(1, len(centres)))
    for start in range(0, len(rows), block):
        out[start : start + block] = _nearest_centre(space.x[rows[start : start + block]], centres)
    return out


def _update_centres(data: Floats, labels: Index, centres: Floats) -> None:
    """Each centre to the mean of its rows (an empty cluster keeps its centre)."""
    order_ = np.argsort(labels, kind="stable")
    sorted_labels = labels[order_]
    present, starts = np.unique(sorted_labels, return_index=True)
    sums = np.add.reduceat(data[order_], starts, axis=0, dtype=np.float64)
    counts = np.diff(np.append(starts, len(labels)))
    centres[present] = (sums / counts[:, None]).astype(centres.dtype)
