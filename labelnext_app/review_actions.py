"""The Review page's widget callbacks.

They live in a module, not in pages/review.py, for memory's sake: Streamlit keeps each widget's
callback (in its WidgetMetadata) for as long as the widget's state lives, and a function defined
in a page file holds that run's whole page namespace through its globals. A thumbnail checkbox
from page 1 then kept page 1's view, scores and confidence arrays alive: 16 MB per rerun at a
million rows, without bound. Callbacks here take only ids and small numbers, and rebuild what
they need from the caches.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from numpy.typing import NDArray

from labelnext import view as views

from . import grid, review, runs, scoring_state, session

__all__ = [
    "choose_project",
    "clear_map_rows",
    "first_page",
    "grid_open",
    "grid_toggle",
    "invert_page",
    "pick",
    "select_page",
    "select_range",
    "select_top",
    "step_page",
]


def first_page() -> None:
    st.session_state["review_page"] = 1


def step_page(delta: int, n_pages: int) -> None:
    current = st.session_state.get("review_page", 1)
    st.session_state["review_page"] = views.clamp_page(current + delta, n_pages)


def clear_map_rows() -> None:
    """Back to every row after "show these in Review" from the map."""
    st.session_state.pop("review_only_ids", None)
    first_page()


def choose_project() -> None:
    """The project picker changed: its queue is what Review now hides."""
    session.set_project(st.session_state.get("review_project"))
    first_page()


def pick(data_row_id: str) -> None:
    chosen = session.selection()
    if st.session_state.get(f"review_pick_{data_row_id}"):
        session.set_selection(chosen | {data_row_id})
    else:
        session.set_selection(chosen - {data_row_id})


def grid_toggle() -> None:
    """The grid sent one pick action: ``{"ids": [...], "picked": bool}`` for ids on its page."""
    result = st.session_state.get(grid.GRID_KEY) or {}
    payload = result.get("toggle") if hasattr(result, "get") else None
    if not isinstance(payload, dict) or not isinstance(payload.get("ids"), list):
        return
    shown = set(st.session_state.get(grid.PAGE_IDS_KEY, ()))
    ids = frozenset(str(i) for i in payload["ids"] if str(i) in shown)
    chosen = session.selection()
    session.set_selection(chosen | ids if payload.get("picked") else chosen - ids)


def grid_open() -> None:
    """The grid asked to open a card: remembered for the page to switch to Detail."""
    result = st.session_state.get(grid.GRID_KEY) or {}
    target = result.get("open") if hasattr(result, "get") else None
    if isinstance(target, str) and target in set(st.session_state.get(grid.PAGE_IDS_KEY, ())):
        st.session_state["review_open_row"] = target


def select_page(page_ids: list[str]) -> None:
    session.set_selection(views.select_page(session.selection(), page_ids))


def invert_page(page_ids: list[str]) -> None:
    session.set_selection(views.invert_page(session.selection(), page_ids))


def _current_view() -> tuple[views.View, NDArray[np.float64]] | None:
    """The view the Review widgets describe, from the cached scores and order."""
    run = runs.current_run()
    if run is None:
        return None
    scoring = scoring_state.current_scoring(run)
    scores = scoring_state.run_scores(run, scoring)
    order = scoring_state.run_order(run, scoring)
    class_order = scoring_state.run_class_order(run, scoring)
    flt = review.review_filter(run)
    return views.build_view(run, scores, flt, full_order=order, class_order=class_order), scores


def select_top() -> None:
    current = _current_view()
    if current is not None:
        n = int(st.session_state["review_topn"])
        session.set_selection(views.select_top_n(session.selection(), current[0], n))


def select_range() -> None:
    current = _current_view()
    if current is not None:
        view, scores = current
        low, high = st.session_state["review_range"]
        session.set_selection(
            views.select_confidence_range(session.selection(), view, 1.0 - scores, low, high)
        )
