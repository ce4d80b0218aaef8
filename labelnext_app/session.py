"""Shared session state of the dashboard: its keys, set once, and the selection.

State that must outlive a page lives under plain (non-widget) keys set once with ``setdefault``:

``run_key``
    Which run is open (see :mod:`labelnext_app.runs`).
``scoring``
    How rows are scored: one :class:`labelnext.scoring.Scoring` (see
    :mod:`labelnext_app.scoring`).
``selection``
    A ``frozenset`` of ``data_row_id`` strings; survives paging, filters and page switches. It
    is replaced, never changed in place, so a rerun with the same selection reuses its row mask.
``user_name``
    The name typed in the sidebar when nobody is signed in (see :mod:`labelnext_app.auth`,
    which decides who is recorded on batches and actions).
``project``
    The project the next batch is for: Review hides the rows queued or labeled in it, and Batch
    submits to it by default.
``batch_method``
    The batch method (:data:`labelnext.batch.METHODS`) batches default to, or None: set by the
    Simulate page's "Use as default", shown in the sidebar.

Widgets carry a page prefix (``home_``, ``review_``, ``detail_``, ``batch_``, ``sidebar_``).
"""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from labelnext.scoring import Scoring

__all__ = [
    "BATCH_METHOD",
    "PROJECT",
    "PROPOSAL",
    "RUN_KEY",
    "SCORING",
    "SELECTION",
    "USER",
    "batch_method",
    "clear_selection",
    "init_state",
    "project",
    "selection",
    "set_batch_method",
    "set_project",
    "set_selection",
]

RUN_KEY = "run_key"
SCORING = "scoring"
SELECTION = "selection"
USER = "user_name"
PROJECT = "project"
PROPOSAL = "builder_proposal"
"""The Batch page builder's last proposed batch (ids in pick order, how they were picked); the
Explore map colours its picks."""
BATCH_METHOD = "batch_method"
DEFAULT_STRATEGY = "margin"
"""The sidebar's first strategy: on the shipped MNIST runs margin reached 95% of full-pool accuracy
with 29-45% fewer labels than random, least confidence (Labelbox's sort) with 6-14% fewer
(``benchmarks/bench_label_efficiency.py``, README "Batches that save labels")."""


def init_state(default_run_key: str | None) -> None:
    """Set the shared keys once per session (``setdefault``: never overwrites)."""
    ss = st.session_state
    ss.setdefault(RUN_KEY, default_run_key)
    ss.setdefault(SCORING, Scoring(strategy=DEFAULT_STRATEGY))
    ss.setdefault(SELECTION, frozenset())
    ss.setdefault(USER, "")
    ss.setdefault(PROJECT, None)
    ss.setdefault(BATCH_METHOD, None)


def selection() -> frozenset[str]:
    """The selected ``data_row_id`` values."""
    chosen = st.session_state.setdefault(SELECTION, frozenset())
    if not isinstance(chosen, frozenset):  # seeded by a test or an older session as a set
        chosen = frozenset(chosen)
        st.session_state[SELECTION] = chosen
    return chosen


def set_selection(ids: Iterable[str]) -> None:
    """Replace the selection."""
    st.session_state[SELECTION] = ids if isinstance(ids, frozenset) else frozenset(ids)


def clear_selection() -> None:
    """Empty the selection (an ``on_click`` callback)."""
    st.session_state[SELECTION] = frozenset()


def project() -> str | None:
    """The project the next batch is for, or None before one is chosen."""
    value = st.session_state.get(PROJECT)
    return str(value) if value else None


def set_project(name: str | None) -> None:
    """Choose the project the next batch is for."""
    st.session_state[PROJECT] = name or None


def batch_method() -> str | None:
    """The batch method batches default to, or None before one is chosen."""
    value = st.session_state.get(BATCH_METHOD)
    return str(value) if value else None


def set_batch_method(method: str | None) -> None:
    """Choose the batch method batches default to (one of labelnext.batch.METHODS)."""
    from labelnext.batch import METHODS

    if method is not None and method not in METHODS:
        raise ValueError(f"batch method must be one of {', '.join(METHODS)}, got {method!r}")
    st.session_state[BATCH_METHOD] = method
