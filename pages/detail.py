"""Detail: one data row, its image with the prediction, probabilities and scores.

Deep link: ``?run=<run key>&row=<data_row_id>``. Previous/next follow the Review order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from labelnext import thumbnails
from labelnext import view as views
from labelnext.errors import LabelnextError
from labelnext.uncertainty import scores_for_row
from labelnext_app import charts, state, ui

ss = st.session_state


def _go(data_row_id: str) -> None:
    st.query_params["run"] = ss.get(state.RUN_KEY, "")
    st.query_params["row"] = data_row_id


def _show(value: object) -> str:
    """A metadata value as people read it: floats to 4 significant digits."""
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


def _toggle(data_row_id: str) -> None:
    state.set_selection(views.toggle(state.selection(), data_row_id))


run = state.current_run()
if run is None:
    st.info("No model run is open. Choose one on Home.")
    st.stop()

strategy = state.current_strategy(run)
scores = state.run_scores(run, strategy)
try:
    view = views.build_view(
        run, scores, state.review_filter(run), full_order=state.run_order(run, strategy)
    )
except LabelnextError as exc:
    ui.show_error(exc)
    st.stop()

row_id = st.query_params.get("row") or ss.get("detail_last_row")
if not row_id:
    if len(view) == 0:
        st.info("No row to show: the current Review filters leave no rows.")
        st.stop()
    row_id = view.top_ids(1)[0]
try:
    row = run.row_index(row_id)
except LabelnextError as exc:
    ui.show_error(exc)
    st.stop()
ss["detail_last_row"] = row_id
if st.query_params.get("row") != row_id:
    _go(row_id)

label = str(run.predicted_labels[row])
conf = float(1.0 - scores[row])
prev_id, next_id = view.neighbours(row_id)
position = view.position(row_id)
selected = row_id in state.selection()

top = st.columns([6, 1.3, 1.3, 1.6, 1.6], vertical_alignment="center")
top[0].title(f"Row {row_id}")
top[1].button(
    "← Previous",
    key="detail_prev",
    on_click=_go,
    args=(prev_id,),
    disabled=prev_id is None,
    width="stretch",
)
top[2].button(
    "Next →",
    key="detail_next",
    on_click=_go,
    args=(next_id,),
    disabled=next_id is None,
    width="stretch",
)
top[3].button(
    "Unselect" if selected else "Select",
    key="detail_select",
    on_click=_toggle,
    args=(row_id,),
    type="secondary" if selected else "primary",
    width="stretch",
    icon=":material/check_box:" if selected else ":material/check_box_outline_blank:",
)
if top[4].button("Back to grid", key="detail_back", width="stretch", icon=":material/grid_view:"):
    page = view.page_of(row_id, int(ss.get("review_page_size", views.PAGE_SIZES[0])))
    if page is not None:
        ss["review_page"] = page
    st.switch_page("pages/review.py")

where = (
    f"#{position + 1:,} of {len(view):,} in the current view"
    if position is not None
    else "not in the current view (filtered out or already in a batch)"
)
st.caption(f"{run.name} · {where} · {'selected' if selected else 'not selected'}")

left, right = st.columns([5, 4], gap="large")
with left:
    try:
        location = run.image_location(row)
    except LabelnextError as exc:
        location = None
        st.warning(str(exc))
    with st.spinner("Drawing…"):
        picture = thumbnails.detail_image(location, label=label, confidence=conf, size=448)
    st.image(picture, width=448, caption=Path(str(location)).name if location else "no image")
    if len(run.metadata.columns):
        st.markdown("**Metadata**")
        values = run.metadata.iloc[row]
        meta = pd.DataFrame(
            {
                "field": [str(c) for c in run.metadata.columns],
                "value": [_show(v) for v in values.tolist()],
            }
        )
        st.dataframe(meta, hide_index=True, key="detail_meta", width=448)

with right:
    c1, c2 = st.columns(2)
    c1.metric("Predicted", label)
    c2.metric("Confidence", f"{conf:.3f}")
    if run.probabilities is not None:
        st.markdown("**Class probabilities**")
        st.plotly_chart(
            charts.class_probabilities(run.classes, run.probabilities[row], top=10),
            key="detail_probs",
            config={"displayModeBar": False},
        )
    st.markdown("**Uncertainty score** (higher = label first)")
    table = pd.DataFrame(
        [
            {
                "strategy": ui.STRATEGY_LABELS.get(s, s),
                "score": round(v, 4),
                "in use": "✓" if s == strategy else "",
            }
            for s, v in scores_for_row(run, row).items()
        ]
    )
    st.dataframe(table, hide_index=True, key="detail_scores", width="stretch")
