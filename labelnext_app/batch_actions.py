"""The Batch page's status actions: what the labeling team reports back.

Callbacks live here rather than in pages/batch.py so that the widget state Streamlit keeps does
not hold a page run's namespace (see labelnext_app.review_actions).
"""

from __future__ import annotations

import streamlit as st

from labelnext.errors import LabelnextError
from labelnext.idfiles import parse_id_lines
from labelnext_app import cache

RESULT = "batch_status_result"
ROWS = "batch_mark_rows"


def mark_labeled(batch_id: int) -> None:
    """Mark the batch (or the rows typed in the text box) labeled."""
    rows = parse_id_lines(str(st.session_state.get(ROWS, "")).splitlines()) or None
    try:
        n = cache.ledger().mark_labeled(batch_id, rows)
    except LabelnextError as exc:
        st.session_state[RESULT] = ("error", str(exc))
        return
    cache.forget_excluded_ids()
    st.session_state[ROWS] = ""
    which = f"{len(rows):,} listed row(s)" if rows else "every open row"
    st.session_state[RESULT] = (
        "success",
        f"Batch #{batch_id}: {n:,} row(s) marked labeled ({which}). Labeled rows stay out of "
        "this project's later queues.",
    )


def cancel(batch_id: int) -> None:
    """Cancel the batch: its open rows are free for later batches."""
    try:
        n = cache.ledger().cancel(batch_id)
    except LabelnextError as exc:
        st.session_state[RESULT] = ("error", str(exc))
        return
    cache.forget_excluded_ids()
    st.session_state[RESULT] = (
        "success",
        f"Batch #{batch_id} cancelled: {n:,} row(s) are free for later batches.",
    )
