"""The Detail page's actions: move to another row, pick this one, go back to the grid."""

from __future__ import annotations

import streamlit as st

from labelnext import view as views

from . import session

__all__ = ["go", "return_page", "toggle"]


def go(data_row_id: str) -> None:
    """Show another row (the deep link follows: ``?run=..&row=..``)."""
    st.query_params["run"] = str(st.session_state.get(session.RUN_KEY, ""))
    st.query_params["row"] = data_row_id


def toggle(data_row_id: str) -> None:
    """Pick or unpick the row shown."""
    session.set_selection(views.toggle(session.selection(), data_row_id))


def return_page(view: views.View, data_row_id: str) -> None:
    """Before going back to the grid: open the Review page that holds this row."""
    page_size = int(st.session_state.get("review_page_size", views.PAGE_SIZES[0]))
    page = view.page_of(data_row_id, page_size)
    if page is not None:
        st.session_state["review_page"] = page
