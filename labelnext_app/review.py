"""The Review view, shared with Detail (previous/next follow the same order): its filter, the
rows the ledger holds for the chosen project, and the thumbnails of a page.

Streamlit forgets a widget's value when its page is not drawn, so the Review filters and paging
are listed in :data:`PERSISTENT_WIDGET_KEYS` and kept alive by :func:`keep_widget_state`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from labelnext import thumbnails
from labelnext.errors import LedgerError
from labelnext.overlay import BoxSet
from labelnext.runs import ModelRun
from labelnext.select import Filter

from . import cache, session

__all__ = [
    "DETECTION_THUMB_SIZE",
    "PERSISTENT_WIDGET_KEYS",
    "THUMB_SIZE",
    "Queue",
    "boxes_of",
    "excluded_ids",
    "keep_widget_state",
    "queue",
    "queue_project",
    "review_filter",
    "thumb_for",
]

PERSISTENT_WIDGET_KEYS = (
    "review_classes",
    "review_conf",
    "review_meta_col",
    "review_hide_queued",
    "review_hide_elsewhere",
    "review_page_size",
    "review_page",
    "review_topn",
    "review_range",
    "review_box_threshold",
    "detail_box_threshold",
)
_PERSISTENT_PREFIXES = ("review_meta_eq_", "review_meta_range_")

#: Thumbnail side: classification images stay at 4x a 28 px digit; detection thumbnails are
#: drawn at about the size a grid card shows them, so box tags are crisp, not stretched.
THUMB_SIZE = 112
DETECTION_THUMB_SIZE = 160


def keep_widget_state() -> None:
    """Re-assign the Review widgets' values so they survive a visit to another page."""
    ss = st.session_state
    for key in list(ss.keys()):
        if key in PERSISTENT_WIDGET_KEYS or str(key).startswith(_PERSISTENT_PREFIXES):
            ss[key] = ss[key]


@dataclass(frozen=True)
class Queue:
    """What the ledger says about the project the next batch is for.

    ``unavailable`` is None when the ledger answered; otherwise it says why it did not, and
    ``excluded`` is empty because nobody knows which rows are queued. Pages must then say so
    and never present the rows as free.
    """

    project: str | None
    projects: tuple[str, ...]
    excluded: frozenset[str]
    unavailable: str | None = None
    #: Rows queued or labeled in any project (``excluded`` is a part of it).
    anywhere: frozenset[str] = frozenset()

    def elsewhere(self, data_row_ids: Iterable[str]) -> frozenset[str]:
        """Those of ``data_row_ids`` queued or labeled in another project, not the chosen one."""
        return frozenset(
            rid for rid in data_row_ids if rid in self.anywhere and rid not in self.excluded
        )


def queue() -> Queue:
    """The project the next batch is for (the session's choice, else the last one used), every
    project, and the rows queued or labeled in the chosen one."""
    chosen = session.project()
    try:
        names, last = cache.projects()
        project = chosen or last
        excluded = cache.excluded_ids(project) if project is not None else frozenset()
        anywhere = cache.excluded_anywhere() if names else frozenset()
    except LedgerError as exc:
        return Queue(chosen, (), frozenset(), str(exc))
    listed = tuple(names) + ((project,) if project is not None and project not in names else ())
    return Queue(project, listed, excluded, anywhere=anywhere)


def queue_project() -> str | None:
    """The project the next batch is for, or None before any batch exists."""
    return queue().project


def excluded_ids() -> frozenset[str]:
    """Rows queued or labeled in the project the next batch is for.

    Raises
    ------
    LedgerError
        When the ledger cannot be read: the rows' status is unknown, not "free".
    """
    state = queue()
    if state.unavailable is not None:
        raise LedgerError(state.unavailable)
    return state.excluded


def review_filter(run: ModelRun, *, map_rows: bool = True) -> Filter:
    """The Filter the Review widgets describe (read from session state, defaults if unset).

    ``map_rows``: keep only the rows a map lasso sent to Review (``review_only_ids``), if any;
    the map itself draws the whole filtered pool (``map_rows=False``).

    Raises
    ------
    LedgerError
        When "hide rows in a batch" is on and the ledger cannot be read.
    """
    ss = st.session_state
    classes = tuple(c for c in ss.get("review_classes", ()) if c in run.classes)
    low, high = ss.get("review_conf", (0.0, 1.0))
    equals: tuple[tuple[str, Any], ...] = ()
    ranges: tuple[tuple[str, float, float], ...] = ()
    column = ss.get("review_meta_col")
    if column and column in run.metadata.columns:
        if f"review_meta_range_{column}" in ss:
            lo, hi = ss[f"review_meta_range_{column}"]
            ranges = ((column, float(lo), float(hi)),)
        elif f"review_meta_eq_{column}" in ss:
            equals = ((column, ss[f"review_meta_eq_{column}"]),)
    exclude = excluded_ids() if ss.get("review_hide_queued", True) else frozenset()
    if ss.get("review_hide_elsewhere", False):
        # every project's rows (a cached set: its mask is kept by identity)
        state = queue()
        if state.unavailable is not None:
            raise LedgerError(state.unavailable)
        exclude = state.anywhere if exclude else state.anywhere - state.excluded
    only = ss.get("review_only_ids") if map_rows else None
    return Filter(
        classes=classes,
        min_confidence=float(low),
        max_confidence=float(high),
        metadata_equals=equals,
        metadata_ranges=ranges,
        exclude_ids=exclude,
        only_ids=frozenset(only) if only is not None else None,
    )


def boxes_of(run: ModelRun, row: int) -> BoxSet | None:
    """Row ``row``'s detection boxes, or ``None`` for a run without boxes."""
    if run.boxes is None:
        return None
    return BoxSet.of_row(run.boxes, run.classes, row)


def thumb_for(run: ModelRun, row: int, *, box_threshold: float = 0.0) -> Path | str:
    """Thumbnail of row ``row`` (a PNG path, or a URL the browser loads), boxes drawn on it."""
    size = DETECTION_THUMB_SIZE if run.boxes is not None else THUMB_SIZE
    return thumbnails.row_thumbnail(
        run, row, size=size, boxes=boxes_of(run, row), threshold=box_threshold
    )
