"""Review: the least confident rows as thumbnails, filters, paging and selection."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from labelnext import view as views
from labelnext.config import settings
from labelnext.errors import LabelnextError, LedgerError
from labelnext_app import cache, grid, review, runs, safe_text, scoring_state, session, ui
from labelnext_app import review_actions as actions

ui.ensure_entry_point()

GRID_COLUMNS = 8
#: Detection thumbnails are larger (160 px) so box tags stay readable: fewer per line.
DETECTION_GRID_COLUMNS = 6
#: Every box is drawn until the user raises the slider: the low-score boxes are the uncertain
#: ones that put an image at the top of the queue, so hiding them by default would hide why.
DEFAULT_BOX_THRESHOLD = 0.0
ss = st.session_state


# Callbacks live in labelnext_app.review_actions: a function defined here would keep this run's
# whole namespace (view, scores) alive through the widget state that stores it.
# -- the screen --------------------------------------------------------------------------------
run = runs.current_run()
if run is None:
    st.info("No model run is open. Choose one on Home.")
    st.page_link("pages/home.py", label="Go to Home", icon=":material/home:")
    st.stop()

scoring = scoring_state.current_scoring(run)
scores = scoring_state.run_scores(run, scoring)
detection = run.boxes is not None

ss.setdefault("review_classes", [])
ss.setdefault("review_conf", (0.0, 1.0))
ss.setdefault("review_meta_col", "(none)")
ss.setdefault("review_hide_queued", True)
ss.setdefault("review_hide_elsewhere", False)
ss.setdefault("review_page_size", views.PAGE_SIZES[0])
ss.setdefault("review_page", 1)
ss.setdefault("review_topn", 10)
ss.setdefault("review_range", (0.0, 0.5))
ss.setdefault("review_box_threshold", DEFAULT_BOX_THRESHOLD)

st.title("Review")

with st.container(border=True):
    f1, f2, f3, f4 = st.columns([3, 3, 4, 2.2], vertical_alignment="bottom")
    f1.multiselect(
        "Predicted class",
        options=list(run.classes),
        key="review_classes",
        on_change=actions.first_page,
        placeholder="all classes",
    )
    f2.slider(
        "Confidence",
        min_value=0.0,
        max_value=1.0,
        step=0.01,
        key="review_conf",
        on_change=actions.first_page,
    )
    with f3:
        filters = cache.metadata_filters(run.content_hash, run)
        meta_columns = [str(c) for c in filters.equality]  # lists, structs, inf, empty: none
        m1, m2 = st.columns(2, vertical_alignment="bottom")
        if ss.get("review_meta_col") not in ["(none)", *meta_columns]:
            ss["review_meta_col"] = "(none)"
        column = m1.selectbox(
            "Metadata",
            options=["(none)", *meta_columns],
            key="review_meta_col",
            on_change=actions.first_page,
            help="Columns of lists or structs, with infinite values or without values cannot "
            "be filtered on."
            if filters.not_filterable
            else None,
        )
        if column != "(none)":
            values = run.metadata[column]
            if column in filters.numeric_range:
                lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
                ss.setdefault(f"review_meta_range_{column}", (lo, hi))
                m2.slider(
                    safe_text.md(column),
                    min_value=lo,
                    max_value=hi,
                    key=f"review_meta_range_{column}",
                    on_change=actions.first_page,
                )
            else:
                choices = cache.metadata_choices(run.content_hash, column, run)
                m2.selectbox(
                    safe_text.md(column),
                    options=choices,
                    key=f"review_meta_eq_{column}",
                    on_change=actions.first_page,
                )
    with f4:
        queue = review.queue()
        if queue.projects:
            ss["review_project"] = queue.project or queue.projects[0]
            st.selectbox(
                "Next batch is for",
                options=list(queue.projects),
                key="review_project",
                on_change=actions.choose_project,
                help="Rows queued or labeled in this project are hidden; the Batch page submits "
                "to it by default.",
            )
        st.checkbox(
            "Hide rows in a batch",
            key="review_hide_queued",
            on_change=actions.first_page,
            help="Rows queued, exported or labeled in the chosen project are left out.",
        )
        if queue.projects:
            st.checkbox(
                "Hide other projects",
                key="review_hide_elsewhere",
                on_change=actions.first_page,
                help="Rows queued or labeled in another project are shown with a badge; tick "
                "to leave them out too.",
            )
    if detection:
        t1, t2 = st.columns([3, 6], vertical_alignment="bottom")
        t1.slider(
            "Show boxes scoring at least",
            min_value=0.0,
            max_value=1.0,
            step=0.05,
            key="review_box_threshold",
            help="Hides low-score boxes on the thumbnails. It changes only what is drawn: "
            "every box still counts in the image's uncertainty score.",
        )
        t2.caption(
            "Boxes: class colour, label and detector score. The slider only hides boxes; "
            f"the order is by {scoring_state.describe_scoring(run, scoring)}."
        )

only = ss.get("review_only_ids")
if only is not None:
    o1, o2 = st.columns([6, 2], vertical_alignment="center")
    o1.info(f"Showing only the {len(only):,} rows of a selection on the map.")
    o2.button(
        "Show all rows", key="review_clear_only", on_click=actions.clear_map_rows, width="stretch"
    )
try:
    flt = review.review_filter(run)
except LedgerError as exc:
    # the queue is unknown: never show queued rows as free
    ui.show_error(
        exc,
        prefix="**The ledger cannot be read, so rows already in a batch cannot be hidden.** "
        "Nothing is shown until it answers again (this page retries on every action); untick "
        "*Hide rows in a batch* to review every row anyway, knowing some may be queued.",
    )
    st.button("Retry", key="review_retry", icon=":material/refresh:")
    st.stop()
try:
    view = views.build_view(
        run,
        scores,
        flt,
        full_order=scoring_state.run_order(run, scoring),
        class_order=scoring_state.run_class_order(run, scoring),
    )
except LabelnextError as exc:
    ui.show_error(exc)
    st.stop()

page_size = int(ss["review_page_size"])
ss["review_topn"] = min(int(ss["review_topn"]), max(1, len(view)))
n_pages = view.n_pages(page_size)
ss["review_page"] = views.clamp_page(ss["review_page"], n_pages)
page_rows = view.page(ss["review_page"], page_size)
page_ids = run.ids_of(page_rows)
chosen = session.selection()

# -- bulk actions ------------------------------------------------------------------------------
with st.container(border=True):
    b1, b2, b3 = st.columns([4, 3, 4], vertical_alignment="bottom")
    with b1:
        a, b, c = st.columns(3)
        a.button(
            "Select page",
            key="review_select_page",
            on_click=actions.select_page,
            args=(page_ids,),
            width="stretch",
            icon=":material/select_all:",
        )
        b.button(
            "Invert page",
            key="review_invert_page",
            on_click=actions.invert_page,
            args=(page_ids,),
            width="stretch",
            icon=":material/flip:",
        )
        c.button(
            "Clear",
            key="review_clear",
            on_click=session.clear_selection,
            width="stretch",
            icon=":material/deselect:",
            disabled=not chosen,
        )
    with b2:
        n_col, go_col = st.columns([1, 1], vertical_alignment="bottom")
        n_col.number_input(
            "Top N of this view",
            min_value=1,
            max_value=max(1, len(view)),
            step=1,
            key="review_topn",
        )
        go_col.button(
            "Select top N",
            key="review_select_top",
            on_click=actions.select_top,
            width="stretch",
            disabled=len(view) == 0,
        )
    with b3:
        r_col, go_col = st.columns([3, 2], vertical_alignment="bottom")
        r_col.slider(
            "Confidence range", min_value=0.0, max_value=1.0, step=0.01, key="review_range"
        )
        go_col.button(
            "Select range",
            key="review_select_range",
            on_click=actions.select_range,
            width="stretch",
            disabled=len(view) == 0,
        )

# -- paging ------------------------------------------------------------------------------------
shown_from = (ss["review_page"] - 1) * page_size + 1 if len(view) else 0
shown_to = shown_from + len(page_ids) - 1 if len(view) else 0
p1, p2, p3, p4, p5 = st.columns([3, 1.2, 1.4, 1.2, 1.6], vertical_alignment="bottom")
on_page = sum(1 for i in page_ids if i in chosen)
p1.markdown(
    f"**{len(view):,}** of {run.n_rows:,} rows · least confident first "
    f"({scoring_state.describe_scoring(run, scoring)}) · showing {shown_from:,}–"
    f"{shown_to:,} · **{len(chosen):,} selected** ({on_page} on this page)"
)
p2.button(
    "← Previous",
    key="review_prev",
    on_click=actions.step_page,
    args=(-1, n_pages),
    disabled=ss["review_page"] <= 1,
    width="stretch",
)
p3.number_input(f"Page (of {n_pages:,})", min_value=1, max_value=n_pages, step=1, key="review_page")
p4.button(
    "Next →",
    key="review_next",
    on_click=actions.step_page,
    args=(1, n_pages),
    disabled=ss["review_page"] >= n_pages,
    width="stretch",
)
p5.selectbox(
    "Per page", options=list(views.PAGE_SIZES), key="review_page_size", on_change=actions.first_page
)

if len(view) == 0:
    st.info(
        "No rows match these filters. Widen the confidence range, pick other classes, or "
        "untick “Hide rows in a batch”."
    )
    st.stop()

# -- the grid ----------------------------------------------------------------------------------
thumbs: list[Path | str] = []
progress = None
started = time.perf_counter()
for done, row in enumerate(page_rows.tolist()):
    thumbs.append(review.thumb_for(run, row, box_threshold=float(ss["review_box_threshold"])))
    if progress is None and time.perf_counter() - started > 0.3:
        progress = st.progress(0.0, text="Making thumbnails…")
    if progress is not None:
        progress.progress((done + 1) / len(page_rows), text="Making thumbnails…")
if progress is not None:
    progress.empty()

run_key = str(ss.get(session.RUN_KEY) or "")
first_rank = (ss["review_page"] - 1) * page_size
columns = DETECTION_GRID_COLUMNS if detection else GRID_COLUMNS
elsewhere = queue.elsewhere(page_ids)

if settings().review_grid == "component":
    # one component for the page: the browser draws 48 cards in milliseconds
    cards = grid.card_data(
        run,
        page_rows,
        page_ids,
        thumbs=thumbs,
        scores=scores,
        first_rank=first_rank,
        chosen=chosen,
        elsewhere=elsewhere,
    )
    grid.draw_grid(
        cards,
        columns=columns,
        page_key=f"{run_key}|{ss['review_page']}|{page_size}|{len(view)}",
        on_toggle=actions.grid_toggle,
        on_open=actions.grid_open,
    )
    st.caption(
        "Keys: j / k or arrows move, x or space picks, o or Enter opens; shift-click picks a range."
    )
    target = ss.pop("review_open_row", None)
    if target is not None:
        st.switch_page("pages/detail.py", query_params={"run": run_key, "row": target})
    st.stop()

labels = run.predicted_labels[page_rows]
for rid in page_ids:
    ss[f"review_pick_{rid}"] = rid in chosen
ui.highlight_cards(rid for rid in page_ids if rid in chosen)

for start in range(0, len(page_ids), columns):
    cells = st.columns(columns)
    for offset in range(min(columns, len(page_ids) - start)):
        pos = start + offset
        rid, row = page_ids[pos], int(page_rows[pos])
        with cells[offset], st.container(border=True, key=f"review_card_{rid}"):
            # thumbnails are PNG files: saying so lets Streamlit send the bytes as they are
            # instead of decoding and re-encoding each one as JPEG (20-30 ms a page)
            st.image(str(thumbs[pos]), width="stretch", output_format="PNG")
            st.markdown(
                f"**{safe_text.md(labels[pos])}** · {1.0 - scores[row]:.2f} · "
                f"#{first_rank + pos + 1}"
            )
            if rid in elsewhere:
                st.caption("in another project")
            left, right = st.columns([3, 2], vertical_alignment="center", gap="small")
            left.checkbox("Pick", key=f"review_pick_{rid}", on_change=actions.pick, args=(rid,))
            if right.button(
                ":material/open_in_full:",
                key=f"review_open_{rid}",
                help=f"Open {safe_text.md(rid)} in the detail view",
                type="tertiary",
            ):
                st.switch_page("pages/detail.py", query_params={"run": run_key, "row": rid})
