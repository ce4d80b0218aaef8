"""The Explore page's callbacks: a lasso, box or click on the map, and "show these in Review".

A map selection event is applied once (its signature is remembered), to **every** row inside
the shape, drawn or not: the library turns Streamlit's selection state (the polygon, the box,
the clicked points' ids from ``custom_data``) into a mask over the whole run.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from labelnext.errors import LabelnextError
from labelnext.map_data import apply_to_selection, selection_from_state
from labelnext.select import filter_mask

from . import explore, review, runs, safe_text, scoring_state, session

__all__ = ["CLICKED", "LAST_ROWS", "MESSAGE", "on_select", "show_in_review"]

MESSAGE = "explore_message"
CLICKED = "explore_clicked"
LAST_ROWS = "explore_last_rows"  # the rows the last shape held (for "show these in Review")


def on_select() -> None:
    """The map's selection changed: add (or remove) the rows inside, or show a clicked point."""
    ss = st.session_state
    run = runs.current_run()
    if run is None:
        return
    try:
        scoring = scoring_state.current_scoring(run)
        scores = scoring_state.run_scores(run, scoring)
        within = filter_mask(run, scores, review.review_filter(run, map_rows=False))
        xy = explore.coordinates(run, ss.get("explore_method", "auto"), 0).xy
        state, drawn = ss.get(explore.MAP_KEY), ss.get(explore.DRAWN)
        result = selection_from_state(state, xy, ids=run.id_index, drawn=drawn, within=within)
    except LabelnextError as exc:
        ss[MESSAGE] = ("error", safe_text.block(exc))
        return
    if result.signature and ss.get(explore.LAST) == result.signature:
        return  # the same event again (a rerun): applied already
    ss[explore.LAST] = result.signature
    if result.kind == "points":
        ss[CLICKED] = result.point_ids[0] if result.point_ids else None
        return
    if result.kind == "none" or result.is_empty:
        ss[MESSAGE] = (
            "info",
            safe_text.md(result.message) if result.message else "Nothing chosen.",
        )
        return
    remove = bool(ss.get("explore_remove", False))
    before = len(session.selection())
    session.set_selection(apply_to_selection(session.selection(), result, run.ids, remove=remove))
    ss[LAST_ROWS] = frozenset(str(i) for i in run.ids[np.flatnonzero(result.mask)])
    change = len(session.selection()) - before
    verb = "removed from" if remove else "added to"
    ss[MESSAGE] = (
        "success",
        f"{result.message} {abs(change):,} row(s) {verb} the selection "
        f"({len(session.selection()):,} selected).",
    )


def show_in_review() -> None:
    """Open the Review grid on just the rows of the last lasso or box."""
    rows = st.session_state.get(LAST_ROWS)
    if rows:
        st.session_state["review_only_ids"] = rows
        st.session_state["review_page"] = 1
