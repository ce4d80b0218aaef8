"""Drawing helpers shared by the pages: the sidebar, error boxes, the page style."""

from __future__ import annotations

import re
from collections.abc import Iterable

import streamlit as st

from labelnext.errors import LabelnextError, RunValidationError
from labelnext.runs import ModelRun

from . import state

STRATEGY_LABELS = {
    "least_confidence": "Least confidence",
    "margin": "Margin",
    "ratio": "Ratio",
    "entropy": "Entropy",
}

# Larger captions and calmer spacing, so a projector audience can read the grid.
_STYLE = """
<style>
[data-testid="stCaptionContainer"] { font-size: 0.95rem; }
[data-testid="stSidebar"] [data-testid="stMetricValue"] { font-size: 1.6rem; }
div[class*="st-key-review_card_"] { padding: 0.45rem 0.45rem 0.3rem 0.45rem; gap: 0.3rem; }
div[class*="st-key-review_card_"] p { margin-bottom: 0; font-size: 1rem; }
div[class*="st-key-review_card_"] img { border-radius: 4px; }
</style>
"""


def page_style() -> None:
    """Inject the shared CSS (no visible element)."""
    st.html(_STYLE)


def css_ident(text: str) -> str:
    """Escape ``text`` for use inside a CSS class selector."""
    return re.sub(r"([^a-zA-Z0-9_-])", r"\\\1", text)


def highlight_cards(ids: Iterable[str]) -> None:
    """Draw a thick border and tint around the Review cards of these (selected) rows."""
    selectors = [f".st-key-review_card_{css_ident(i)}" for i in ids]
    if not selectors:
        return
    rule = ", ".join(selectors)
    st.html(
        f"<style>{rule} {{ border: 3px solid #1d4ed8 !important; "
        f"background: #e8efff !important; box-shadow: 0 0 0 2px #bfd2ff; }}</style>"
    )


def show_error(exc: LabelnextError, *, prefix: str = "") -> None:
    """Show a library error in its own words (a validation error as a list of problems)."""
    if isinstance(exc, RunValidationError):
        head = f"{prefix}{len(exc.problems)} problem(s) in the model run"
        if exc.truncated:
            head += " (more not shown)"
        lines = "\n".join(f"- {problem}" for problem in exc.problems)
        st.error(f"**{head}:**\n\n{lines}", icon=":material/error:")
    else:
        st.error(f"{prefix}{exc}", icon=":material/error:")


def _sync_strategy() -> None:
    st.session_state[state.STRATEGY] = st.session_state["sidebar_strategy"]


def _sync_user() -> None:
    st.session_state[state.USER] = st.session_state["sidebar_user"].strip()


def sidebar(run: ModelRun | None) -> None:
    """The sidebar every page shows: run, strategy, selection, who is working."""
    ss = st.session_state
    with st.sidebar:
        st.markdown("### labelnext")
        if run is None:
            if ss.get("run_error"):
                st.error(f"Could not open {state.run_label(ss.get(state.RUN_KEY))}.")
            st.caption("No run open — choose one on Home.")
        else:
            st.markdown(f"**Run** · {run.name}")
            details = " · ".join(
                x for x in (run.model, f"v{run.version}" if run.version else None) if x
            )
            st.caption(
                f"{details + ' · ' if details else ''}{run.n_rows:,} rows · "
                f"{len(run.classes)} classes"
            )
        allowed = state.strategies_for(run)
        ss["sidebar_strategy"] = state.current_strategy(run)
        st.selectbox(
            "Strategy",
            options=allowed,
            format_func=lambda s: STRATEGY_LABELS.get(s, s),
            key="sidebar_strategy",
            on_change=_sync_strategy,
            help="How uncertainty is scored. Rows are shown least confident first.",
        )
        count = len(state.selection())
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        left.metric("Selected", f"{count:,}")
        right.button(
            "Clear",
            key="sidebar_clear",
            on_click=state.clear_selection,
            disabled=count == 0,
            width="stretch",
        )
        user = state.signed_in_user()
        if user:
            ss[state.USER] = user
            st.caption(f"Signed in as **{user}**")
        else:
            ss["sidebar_user"] = ss.get(state.USER, "")
            st.text_input(
                "Your name",
                key="sidebar_user",
                on_change=_sync_user,
                placeholder="recorded on the batches you submit",
            )
