"""Drawing helpers shared by the pages: the sidebar, error boxes, the page style."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import Any

import streamlit as st

from labelnext.errors import FileProblemsError, LabelnextError
from labelnext.runs import ModelRun

from . import auth, runs, safe_text, scoring_state, session

STRATEGY_LABELS = {
    "least_confidence": "Least confidence",
    "margin": "Margin",
    "ratio": "Ratio",
    "entropy": "Entropy",
    "bald": "BALD (members disagree)",
    "vote_entropy": "Vote entropy",
    "variation_ratio": "Variation ratio",
}
STRATEGY_HELP = {
    "least_confidence": "1 − the top probability",
    "margin": "1 − (top − second)",
    "ratio": "second ÷ top",
    "entropy": "how evenly the probability spreads over all classes",
    "bald": "mutual information: the members are each sure but disagree",
    "vote_entropy": "how evenly the members' top-1 votes spread",
    "variation_ratio": "share of members not voting for the majority class",
}
AGGREGATION_LABELS = {
    "max": "Max",
    "mean": "Mean",
    "sum": "Sum",
    "topk": "Mean of top k",
}
EMPTY_LABELS = {0.0: "Certain (label last)", 1.0: "Most uncertain (label first)"}
_MULTILABEL_HELP = (
    "Each class is a yes/no decision, most uncertain at p = 0.5 (1 − |2p − 1|). "
    "**Max**: a row scores its most doubtful class — one doubtful class is enough. "
    "**Mean**: the average over all classes — rows doubtful about many classes first."
)
_DETECTION_HELP = (
    "Each box's uncertainty is 1 − its score (or the strategy on its class probabilities). "
    "**Max**: the image's most doubtful box. **Mean**: the average over its boxes. "
    "**Sum**: doubtful boxes add up, so busy images come first (divided by the most boxes any "
    "image has, to stay in 0–1). **Mean of top k**: the k most doubtful boxes."
)

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


def ensure_entry_point() -> None:
    """Rerun through app.py if Streamlit ran this page file on its own.

    Called first in every page. Streamlit starts a server whose main script has a ``pages/``
    folder in its old folder-based multipage mode, and leaves it only when the main script
    calls ``st.navigation``. A server whose first visitor follows a deep link (``/detail?...``)
    would run the page without app.py (no shared state, no sidebar), and keep doing so for every
    page until someone opened ``/``. Clearing the flag and rerunning runs app.py, which then
    opens the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager  # internal: no public switch

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_style() -> None:
    """Inject the shared CSS (no visible element)."""
    st.html(_STYLE)


def css_ident(text: str) -> str:
    """The class Streamlit gives an element with key ``text`` (after ``st-key-``).

    Streamlit's frontend replaces every character outside ``[a-zA-Z0-9_-]`` with ``-`` (so the
    card of ``canvas-0001.png`` has class ``st-key-review_card_canvas-0001-png``); a selector
    must do the same, not escape the character.
    """
    return re.sub(r"[^a-zA-Z0-9_-]", "-", text.strip())


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


def show_error(exc: LabelnextError | str, *, prefix: str = "") -> None:
    """Show a library error in its own words, exactly as written (it quotes file contents).

    A validation error shows its problems one per line; every message is shown as text (a code
    block inside the error box), never rendered as Markdown. ``prefix`` is ours (Markdown).
    """
    if isinstance(exc, FileProblemsError):
        head = f"{prefix}{len(exc.problems)} problem(s) in the {exc.what}"
        if exc.truncated:
            head += " (more not shown)"
        lines = "\n".join(str(problem) for problem in exc.problems)
        st.error(f"**{head}:**\n\n{safe_text.block(lines)}", icon=":material/error:")
    else:
        st.error(f"{prefix}\n\n{safe_text.block(exc)}", icon=":material/error:")


def show_outcome(outcome: tuple[str, str] | None) -> None:
    """Show an action's ``(kind, markdown)`` outcome: ``success``, ``error`` or ``info``.

    The markdown is ours, built with :func:`labelnext_app.safe_text.md` around every value that
    came from a file, the ledger or a user.
    """
    if outcome is None:
        return
    kind, text = outcome
    {"success": st.success, "info": st.info}.get(kind, st.error)(text)


def _set_scoring(field: str, widget: str, convert: Callable[[Any], Any]) -> None:
    """Widget callback: change one option of the shared Scoring."""
    current = scoring_state.as_scoring(st.session_state.get(session.SCORING))
    value = convert(st.session_state[widget])
    st.session_state["review_page"] = 1  # a new order starts at its first page
    scoring_state.set_scoring(dataclasses.replace(current, **{field: value}))


def scoring_sidebar(run: ModelRun | None) -> None:
    """The scoring options the open run can use, all feeding one shared Scoring."""
    ss = st.session_state
    scoring = scoring_state.current_scoring(run)
    allowed = scoring_state.strategies_for(run)
    ss["sidebar_strategy"] = scoring.strategy
    st.selectbox(
        "Strategy",
        options=allowed,
        format_func=lambda s: STRATEGY_LABELS.get(s, s),
        key="sidebar_strategy",
        on_change=_set_scoring,
        args=("strategy", "sidebar_strategy", str),
        help="How uncertainty is scored; rows are shown least confident first.\n\n"
        + "\n".join(
            f"- **{STRATEGY_LABELS.get(s, s)}**: {STRATEGY_HELP.get(s, '')}" for s in allowed
        ),
    )
    if run is None or run.task == "classification":
        return
    aggregations = scoring_state.aggregations_for(run)
    ss["sidebar_aggregation"] = scoring.aggregation
    st.selectbox(
        "Combine classes by" if run.task == "multilabel" else "Combine boxes by",
        options=aggregations,
        format_func=lambda a: AGGREGATION_LABELS.get(a, a),
        key="sidebar_aggregation",
        on_change=_set_scoring,
        args=("aggregation", "sidebar_aggregation", str),
        help=_MULTILABEL_HELP if run.task == "multilabel" else _DETECTION_HELP,
    )
    if run.task != "detection":
        return
    if scoring.aggregation == "topk":
        ss["sidebar_top_k"] = scoring.top_k
        st.number_input(
            "k (boxes averaged)",
            min_value=1,
            max_value=50,
            step=1,
            key="sidebar_top_k",
            on_change=_set_scoring,
            args=("top_k", "sidebar_top_k", int),
            help="Each image scores the mean uncertainty of its k most uncertain boxes.",
        )
    ss["sidebar_classes"] = list(scoring.classes)
    st.multiselect(
        "Only boxes of",
        options=list(run.classes),
        key="sidebar_classes",
        on_change=_set_scoring,
        args=("classes", "sidebar_classes", tuple),
        placeholder="all classes",
        help="Score only boxes of these classes, e.g. the rare ones you need more labels of. "
        "Empty: every box counts.",
    )
    ss["sidebar_empty"] = scoring.empty_score if scoring.empty_score in EMPTY_LABELS else 0.0
    st.radio(
        "An image with no boxes is",
        options=list(EMPTY_LABELS),
        format_func=EMPTY_LABELS.get,
        key="sidebar_empty",
        on_change=_set_scoring,
        args=("empty_score", "sidebar_empty", float),
        help="Certain (score 0): nothing there, nothing to label. Most uncertain (score 1): "
        "a detector that finds nothing may have missed everything — label those first.",
    )


def _sync_user() -> None:
    st.session_state[session.USER] = st.session_state["sidebar_user"].strip()


def sidebar(run: ModelRun | None) -> None:
    """The sidebar every page shows: run, strategy, selection, who is working."""
    ss = st.session_state
    with st.sidebar:
        st.markdown("### labelnext")
        if run is None:
            if ss.get("run_error"):
                label = runs.run_label(ss.get(session.RUN_KEY))
                st.error(f"Could not open {safe_text.md(label)}.")
            st.caption("No run open — choose one on Home.")
        else:
            st.markdown(f"**Run** · {safe_text.md(run.name)}")
            details = " · ".join(
                safe_text.md(x)
                for x in (run.model, f"v{run.version}" if run.version else None)
                if x
            )
            st.caption(
                f"{details + ' · ' if details else ''}{run.n_rows:,} rows · "
                f"{len(run.classes)} classes"
            )
        scoring_sidebar(run)
        method = session.batch_method()
        if method:
            st.caption(f"Batch method · **{safe_text.md(method)}** (set on Simulate)")
        count = len(session.selection())
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        left.metric("Selected", f"{count:,}")
        right.button(
            "Clear",
            key="sidebar_clear",
            on_click=session.clear_selection,
            disabled=count == 0,
            width="stretch",
        )
        who = auth.identity()
        if who.authenticated:
            st.caption(f"Signed in as {safe_text.md(who.name)}")
            if who.method == "oidc":
                st.button(
                    "Sign out",
                    key="sidebar_logout",
                    on_click=st.logout,
                    icon=":material/logout:",
                    width="stretch",
                )
        else:
            ss["sidebar_user"] = ss.get(session.USER, "")
            st.text_input(
                "Your name",
                key="sidebar_user",
                on_change=_sync_user,
                placeholder="recorded on the batches you submit",
            )
        decision = auth.permission()
        if not decision.allowed:
            st.caption(f"View only: {decision.text(safe_text.md)}.")
