"""Explore: the pool as a map of its embeddings, with lasso and box selection over every row."""

from __future__ import annotations

import contextlib
import dataclasses

import streamlit as st

from labelnext.embeddings import FALLBACK_SOURCE
from labelnext.errors import LabelnextError, LedgerError, NoEmbeddingError
from labelnext.map_figure import build_map
from labelnext.select import filter_mask
from labelnext_app import explore, review, runs, safe_text, scoring_state, session, ui
from labelnext_app import explore_actions as actions

ui.ensure_entry_point()

ss = st.session_state
MAX_POINTS = 100_000

st.title("Explore")
run = runs.current_run()
if run is None:
    st.info("No model run is open. Choose one on Home.")
    st.stop()

scoring = scoring_state.current_scoring(run)
scores = scoring_state.run_scores(run, scoring)

colors = explore.color_options(run)
if ss.get("explore_color") not in colors:  # e.g. "picks" after the proposal was dropped
    ss["explore_color"] = "confidence"
ss.setdefault("explore_method", "auto")
c1, c2, c3 = st.columns([3, 3, 3], vertical_alignment="bottom")
c1.selectbox(
    "Colour by",
    options=colors,
    format_func=lambda c: explore.COLOR_LABELS[c],
    key="explore_color",
)
c2.selectbox(
    "Map from",
    options=explore.method_options(run),
    format_func=lambda m: explore.METHODS[m],
    key="explore_method",
    help="The run's own map_x/map_y columns when it has them, else a projection of its "
    "embedding column (PCA: exact and quick; UMAP: slower, keeps neighbourhoods).",
)
c3.toggle(
    "Lasso removes rows",
    key="explore_remove",
    help="Off: rows inside a lasso or box are added to the selection. On: they are taken out.",
)

try:
    progress = st.progress(0.0, text="Placing the rows on the map…")
    slow = explore.uses_image_embedding(run) and run.embedding is None
    waiting = st.spinner("Reading the images for the map (once per run)…", show_time=True)
    with waiting if slow else contextlib.nullcontext():
        found = explore.coordinates(
            run,
            str(ss["explore_method"]),
            0,
            lambda fraction, message: progress.progress(min(1.0, fraction), text=message),
        )
    progress.empty()
    xy = found.xy
except NoEmbeddingError as exc:
    progress.empty()
    ui.show_error(exc, prefix="**This run cannot be drawn as a map yet.**")
    if run.images is not None:
        st.button(
            "Use the image embedding",
            key="explore_use_images",
            icon=":material/image:",
            on_click=explore.use_image_embedding,
            args=(run,),
            help=f"Map the rows from their images: {FALLBACK_SOURCE} (each image as 16 x 16 "
            "grayscale pixels, projected on their 32 leading principal components; computed "
            "once per run and cached). The Batch page's diverse methods use the same embedding.",
        )
    st.stop()
except LabelnextError as exc:
    progress.empty()
    ui.show_error(exc)
    st.stop()

try:
    flt = review.review_filter(run, map_rows=False)
except LedgerError as exc:
    ui.show_error(
        exc,
        prefix="**The ledger cannot be read**, so rows already in a batch cannot be told apart; "
        "untick *Hide rows in a batch* on Review to map every row anyway.",
    )
    st.stop()
color_by = str(ss["explore_color"])
queue = review.queue()
status = explore.row_status(queue) if color_by == "status" else None
if status is not None:  # colouring by status shows the rows already in a batch too
    flt = dataclasses.replace(flt, exclude_ids=frozenset())
view = build_map(
    run,
    xy,
    scores,
    color_by=color_by,
    within=filter_mask(run, scores, flt),
    queued=status["queued"] if status else (),
    labeled=status["labeled"] if status else (),
    selected=session.selection(),
    picks=explore.proposed_picks(run) or (),
    max_points=MAX_POINTS,
)
explore.remember_drawn(view.drawn)

left, right = st.columns([7, 3], gap="medium")
with left:
    st.plotly_chart(
        view.figure,
        key=explore.MAP_KEY,
        on_select=actions.on_select,
        selection_mode=("points", "box", "lasso"),
        config={"displaylogo": False, "scrollZoom": True},
    )
    source = found.source
    st.caption(f"{view.caption} Map from {safe_text.md(source)}. The Review page's filters apply.")
    if color_by == "status":
        hides = bool(ss.get("review_hide_queued", True))
        st.caption(explore.status_caption(queue, status, hides_batched=hides))
    elif "picks" not in colors:
        st.caption("Propose a batch on the Batch page to colour its picks on this map.")
with right:
    ui.show_outcome(ss.get(actions.MESSAGE))
    st.metric("Selected", f"{len(session.selection()):,}")
    if st.button(
        "Show these in Review",
        key="explore_to_review",
        disabled=not ss.get(actions.LAST_ROWS),
        help="Open the Review grid on just the rows of the last lasso or box.",
    ):
        actions.show_in_review()
        st.switch_page("pages/review.py")
    clicked = ss.get(actions.CLICKED)
    if clicked:
        row: int | None
        try:
            row = run.row_index(clicked)
        except LabelnextError:
            row = None
        if row is not None:
            with st.container(border=True, key="explore_point"):
                st.image(str(review.thumb_for(run, row)), width=160, output_format="PNG")
                st.markdown(
                    f"**{safe_text.md(run.predicted_labels[row])}** · confidence "
                    f"{1.0 - scores[row]:.2f}"
                )
                st.caption(safe_text.md(clicked))
                if st.button("Open", key="explore_open", icon=":material/open_in_full:"):
                    st.switch_page(
                        "pages/detail.py",
                        query_params={"run": str(ss.get(session.RUN_KEY)), "row": clicked},
                    )
