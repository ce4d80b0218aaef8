"""Views over a model run, paging, and the bulk operations on a selection.

A *view* is a model run filtered by a :class:`labelnext.select.Filter` and ordered by score, most
uncertain first (highest score = lowest confidence = label first; ties break by ``data_row_id``).
The dashboard draws one page of a view at a time; everything it computes about a view lives here
as plain functions so that it can be tested without Streamlit.

A *selection* is a set of ``data_row_id`` strings. The bulk operations below never mutate their
input: each returns a new ``frozenset``, so a caller can store the result in whatever state it
keeps (``st.session_state`` in the dashboard).

Examples
--------
>>> import numpy as np
>>> v = View(order=np.array([4, 2, 0, 1, 3]), ids=np.array(list("abcde"), dtype=object))
>>> v.n_pages(2)
3
>>> v.page_ids(3, 2)
['d']
>>> sorted(select_top_n(frozenset({"x"}), v, 2))
['c', 'e', 'x']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from labelnext import select
from labelnext.errors import SelectionError
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring, box_uncertainty
from labelnext.select import Filter

__all__ = [
    "PAGE_SIZES",
    "View",
    "box_table",
    "build_view",
    "clamp_page",
    "class_shares",
    "invert_page",
    "select_confidence_range",
    "select_page",
    "select_top_n",
    "selection_frame",
    "toggle",
]

#: Page sizes the dashboard offers (thumbnails per page).
PAGE_SIZES: tuple[int, ...] = (24, 48, 96)
_BOUND_TOLERANCE = 1e-6


@dataclass(frozen=True)
class View:
    """An ordered subset of a model run's rows.

    Parameters
    ----------
    order : ndarray of int64, shape (n_view,)
        Row indices into the run, most uncertain first.
    ids : ndarray of object or pyarrow.Array, shape (n_rows,)
        Every ``data_row_id`` of the run, indexed by row (``ModelRun.ids_arrow`` from
        :func:`build_view`: only the rows a page shows become Python strings).
    n_pool : int, optional
        Rows in the run before filtering; defaults to ``len(ids)``.
    id_index : pandas.Index, optional
        ``ModelRun.id_index`` (id -> row), so that finding a row by id is a hash lookup plus one
        integer comparison over the view instead of a string comparison over every row.
    find_row : callable, optional
        ``ModelRun.find_row`` (id -> row or None, a binary search over the sorted ids), used
        when there is no ``id_index``; :func:`build_view` passes it.
    """

    order: NDArray[np.int64]
    ids: np.ndarray | pa.Array
    n_pool: int = -1
    id_index: pd.Index | None = field(default=None, repr=False, compare=False)
    find_row: Callable[[str], int | None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", np.asarray(self.order, dtype=np.int64))
        if self.n_pool < 0:
            object.__setattr__(self, "n_pool", len(self.ids))

    def __len__(self) -> int:
        return int(self.order.shape[0])

    @property
    def view_ids(self) -> np.ndarray:
        """The ``data_row_id`` of every row of the view, in view order."""
        return np.asarray(self.ids_at(self.order), dtype=object)

    def ids_at(self, rows: NDArray[np.int64]) -> list[str]:
        """The ``data_row_id`` of run rows ``rows`` as Python strings (only those rows)."""
        if isinstance(self.ids, pa.Array):
            return [str(x) for x in self.ids.take(pa.array(rows, type=pa.int64())).to_pylist()]
        return [str(x) for x in self.ids[rows]]

    def n_pages(self, page_size: int) -> int:
        """Number of pages of ``page_size`` rows (at least 1, even for an empty view)."""
        _check_page_size(page_size)
        return max(1, math.ceil(len(self) / page_size))

    def page(self, page: int, page_size: int) -> NDArray[np.int64]:
        """Row indices of 1-based ``page``; a page past either end is clamped to the last/first."""
        page = clamp_page(page, self.n_pages(page_size))
        start = (page - 1) * page_size
        return self.order[start : start + page_size]

    def page_ids(self, page: int, page_size: int) -> list[str]:
        """The ``data_row_id`` values of 1-based ``page``, in view order."""
        return self.ids_at(self.page(page, page_size))

    def top_ids(self, n: int) -> list[str]:
        """The first ``n`` ids of the view (the ``n`` most uncertain rows that pass the filter)."""
        if n < 0:
            raise SelectionError(f"n must be >= 0, got {n}")
        return self.ids_at(self.order[:n])

    def position(self, data_row_id: str) -> int | None:
        """0-based position of ``data_row_id`` in the view, or ``None`` if it is not in the view."""
        if self.id_index is not None:
            row = self.id_index.get_indexer(pd.Index([data_row_id]))[0]
            return None if row < 0 else self.row_position(int(row))
        if self.find_row is not None:
            found = self.find_row(data_row_id)
            return None if found is None else self.row_position(found)
        # no index: compare every id (slow on a large run)
        hits = np.flatnonzero(self.view_ids == data_row_id)
        return int(hits[0]) if hits.size else None

    def row_position(self, row: int) -> int | None:
        """0-based position of run row ``row`` in the view, or ``None`` if it is not in it.

        One vectorised integer comparison over the view's order (about 1 ms at a million rows);
        no id strings are touched.
        """
        hits = np.flatnonzero(self.order == row)
        return int(hits[0]) if hits.size else None

    def page_of(self, data_row_id: str, page_size: int) -> int | None:
        """1-based page holding ``data_row_id``, or ``None`` if it is not in the view."""
        pos = self.position(data_row_id)
        return None if pos is None else pos // page_size + 1

    def neighbours(self, data_row_id: str) -> tuple[str | None, str | None]:
        """The ids before and after ``data_row_id`` in view order (``None`` at either end).

        A row that is not in the view (filtered out, say) has no neighbours: ``(None, None)``.
        """
        pos = self.position(data_row_id)
        if pos is None:
            return None, None
        prev_id = self.ids_at(self.order[pos - 1 : pos])[0] if pos > 0 else None
        next_id = self.ids_at(self.order[pos + 1 : pos + 2])[0] if pos + 1 < len(self) else None
        return prev_id, next_id


def build_view(
    run: ModelRun,
    scores: NDArray[np.floating[Any]],
    flt: Filter | None = None,
    *,
    full_order: NDArray[np.int64] | None = None,
    class_order: Callable[[int], NDArray[np.int64] | None] | None = None,
) -> View:
    """Filter and order a run's rows, most uncertain first.

    Parameters
    ----------
    run : labelnext.runs.ModelRun
        The model run.
    scores : ndarray of float, shape (n_rows,)
        Uncertainty scores of every row (higher = more uncertain = label first), as returned by
        :func:`labelnext.scoring.run_scores`.
    flt : labelnext.select.Filter, optional
        Which rows to keep; ``None`` keeps every row.
    full_order : ndarray of int64, shape (n_rows,), optional
        ``select.order(scores, run.ids)`` computed earlier (the dashboard caches it per run and
        strategy), so that a filter change costs one mask instead of a sort.
    class_order : callable, optional
        Class index -> the rows predicted as that class in ``full_order``'s order
        (:meth:`labelnext.ordercache.ScoredOrder.class_order`). A filter on one class of a
        classification run then starts from that slice instead of a mask over every row.

    Returns
    -------
    View
        Rows passing the filter, ordered by descending score, ties by ``data_row_id``.

    Raises
    ------
    SelectionError
        If the filter names a class or metadata column the run does not have.
    """
    scores = np.asarray(scores)
    if scores.shape != (run.n_rows,):
        raise ValueError(f"scores must have shape ({run.n_rows},), got {scores.shape}")
    if full_order is None:
        full_order = select.order(scores, run.ids_arrow, id_rank=run.id_rank)
    elif full_order.shape != (run.n_rows,):
        raise ValueError(f"full_order must have shape ({run.n_rows},), got {full_order.shape}")
    kept = full_order
    if flt is not None:
        start = _one_class_rows(run, flt, class_order)
        if start is not None:
            rest = dataclasses.replace(flt, classes=())
            if rest == Filter():
                kept = start
            else:
                kept = start[select.filter_mask(run, scores, rest)[start]]
        else:
            mask = select.filter_mask(run, scores, flt)
            kept = full_order[mask[full_order]]
    return View(order=kept, ids=run.ids_arrow, n_pool=run.n_rows, find_row=run.find_row)


def _one_class_rows(
    run: ModelRun, flt: Filter, class_order: Callable[[int], NDArray[np.int64] | None] | None
) -> NDArray[np.int64] | None:
    """The precomputed rows of the filter's one class, when there are some to start from."""
    if class_order is None or len(flt.classes) != 1 or run.task != "classification":
        return None
    (index,) = run.class_indices(flt.classes, error=SelectionError)
    return class_order(index)


def selection_frame(
    run: ModelRun,
    scores: NDArray[np.floating[Any]],
    selected: Iterable[str],
    *,
    full_order: NDArray[np.int64] | None = None,
) -> pd.DataFrame:
    """The selected rows as a table for :meth:`labelnext.ledger.Ledger.submit`.

    Rows come most uncertain first (the run's order under the strategy the scores come from);
    ``rank`` is the position within the selection (1 = label first). Ids that are not in the run
    are ignored.

    Returns
    -------
    pandas.DataFrame
        Columns of :func:`labelnext.select.ranked`: ``data_row_id, image, predicted_label, score,
        confidence, rank``.
    """
    if full_order is None:
        full_order = select.order(np.asarray(scores), run.ids_arrow, id_rank=run.id_rank)
    wanted = run.mask_of(selected if isinstance(selected, frozenset) else frozenset(selected))
    return select.rows_frame(run, full_order[wanted[full_order]], scores)


def box_table(
    run: ModelRun, row: int, scoring: Scoring | None = None, *, threshold: float = 0.0
) -> pd.DataFrame:
    """The detection boxes of row ``row`` scoring at least ``threshold``, as a table.

    Parameters
    ----------
    run : ModelRun
        A detection run (``run.boxes`` is set).
    row : int
        Row position in the run.
    scoring : Scoring, optional
        The strategy for each box's uncertainty and the class restriction; default
        least confidence over every class.
    threshold : float, default 0.0
        Leave out boxes whose detector score is below this (what the view hides).

    Returns
    -------
    pandas.DataFrame
        One line per box in the run's box order: ``box`` (1-based number within the row),
        ``label``, ``score`` (detector confidence), ``x, y, w, h`` (pixels, top-left corner),
        ``uncertainty`` (the box's score under the strategy: ``1 - score`` for least confidence
        without class probabilities; higher = more uncertain) and ``counted`` (whether the
        class restriction lets the box into the image's score).
    """
    if run.boxes is None:
        raise ValueError(f"run '{run.name}' has no detection boxes (task {run.task!r})")
    scoring = scoring or Scoring()
    part = run.boxes.of(row)
    labels = [str(run.classes[i]) for i in run.boxes.label[part]]
    score = run.boxes.score[part].astype(np.float64)
    per_box = box_uncertainty(run, scoring.strategy)[part]
    xywh = run.boxes.xywh[part].astype(np.float64)
    table = pd.DataFrame(
        {
            "box": np.arange(1, len(labels) + 1),
            "label": labels,
            "score": score,
            "x": xywh[:, 0],
            "y": xywh[:, 1],
            "w": xywh[:, 2],
            "h": xywh[:, 3],
            "uncertainty": per_box,
            "counted": [not scoring.classes or c in scoring.classes for c in labels],
        }
    )
    return table[score >= threshold].reset_index(drop=True)


def class_shares(run: ModelRun, mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """The share of the masked rows that predict each class, shape (n_classes,).

    Classification: the top-1 class (shares sum to 1). Multi-label: rows with the class at or
    above the threshold; detection: rows with a box of the class (a row may count for several).
    Integer work only: no per-row strings, whatever the row or class count.

    Examples
    --------
    >>> import numpy as np
    >>> from labelnext import load_run
    >>> from labelnext.paths import SAMPLE_DATA_DIR
    >>> run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    >>> round(float(class_shares(run, np.ones(run.n_rows, dtype=bool)).sum()), 6)
    1.0
    """
    n = int(mask.sum())
    counts = np.zeros(len(run.classes), dtype=np.float64)
    if n == 0:
        return counts
    if run.boxes is not None:
        keep = mask[run.boxes.row]
        pairs = np.unique(run.boxes.row[keep] * len(run.classes) + run.boxes.label[keep])
        counts += np.bincount(pairs % len(run.classes), minlength=len(run.classes))
    elif run.task == "multilabel" and run.probabilities is not None:
        rows = np.flatnonzero(mask)
        for start in range(0, len(rows), 65_536):  # bounded temporaries at any size
            block = run.probabilities[rows[start : start + 65_536]]
            counts += (block >= run.threshold).sum(axis=0)
    else:
        index = run.predicted_index[mask]
        counts += np.bincount(index[index >= 0], minlength=len(run.classes))
    return counts / n


def clamp_page(page: int, n_pages: int) -> int:
    """Clamp a 1-based page number into ``[1, n_pages]``."""
    return int(min(max(1, int(page)), max(1, int(n_pages))))


def toggle(selection: Iterable[str], data_row_id: str) -> frozenset[str]:
    """Add ``data_row_id`` to the selection, or remove it if it is already there."""
    current = frozenset(selection)
    return current - {data_row_id} if data_row_id in current else current | {data_row_id}


def select_page(selection: Iterable[str], page_ids: Sequence[str]) -> frozenset[str]:
    """Add every id of the page to the selection."""
    return frozenset(selection) | frozenset(page_ids)


def invert_page(selection: Iterable[str], page_ids: Sequence[str]) -> frozenset[str]:
    """Flip the selected state of every id of the page; ids on other pages are kept as they are."""
    return frozenset(selection) ^ frozenset(page_ids)


def select_top_n(selection: Iterable[str], view: View, n: int) -> frozenset[str]:
    """Add the ``n`` most uncertain rows of the view (fewer if the view is shorter)."""
    return frozenset(selection) | frozenset(view.top_ids(n))


def select_confidence_range(
    selection: Iterable[str],
    view: View,
    confidence: NDArray[np.floating[Any]],
    low: float,
    high: float,
) -> frozenset[str]:
    """Add every row of the view whose confidence lies in ``[low, high]``.

    Parameters
    ----------
    selection : iterable of str
        The current selection.
    view : View
        Only rows of this view are added.
    confidence : ndarray of float, shape (n_rows,)
        ``1 - score`` for every row of the run (lower = less confident = label first).
    low, high : float
        Inclusive bounds, ``0 <= low <= high <= 1`` (with a 1e-6 tolerance for float32 values).
    """
    if not 0.0 <= low <= high <= 1.0:
        raise SelectionError(
            f"confidence range must satisfy 0 <= low <= high <= 1, got [{low}, {high}]"
        )
    conf = np.asarray(confidence)[view.order]
    # float32 probabilities: a row shown as 0.55 must count as inside a 0.55 bound
    keep = view.order[(conf >= low - _BOUND_TOLERANCE) & (conf <= high + _BOUND_TOLERANCE)]
    return frozenset(selection) | frozenset(view.ids_at(keep))


def _check_page_size(page_size: int) -> None:
    if int(page_size) < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
