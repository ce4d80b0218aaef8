"""Detail: one data row, its image with the prediction, probabilities and scores.

Deep link: ``?run=<run key>&row=<data_row_id>``. Previous/next follow the Review order.
Detection rows show their boxes on the image and in a table; multi-label rows every class's
probability against the decision threshold; ensemble rows the spread of their members.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from labelnext import thumbnails
from labelnext import view as views
from labelnext.errors import LabelnextError, LedgerError
from labelnext.select import Filter
from labelnext_app import charts, review, runs, safe_text, scoring_state, session, ui
from labelnext_app import detail_actions as actions

ui.ensure_entry_point()

ss = st.session_state
#: Every box is drawn until the user raises the slider: the low-score boxes are the uncertain
#: ones that put an image at the top of the queue, so hiding them by default would hide why.
DEFAULT_BOX_THRESHOLD = 0.0


def _show(value: object) -> str:
    """A metadata value as people read it: floats to 4 significant digits."""
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


run = runs.current_run()
if run is None:
    st.info("No model run is open. Choose one on Home.")
    st.stop()

scoring = scoring_state.current_scoring(run)
scores = scoring_state.run_scores(run, scoring)
queue_unknown: LedgerError | None = None
try:
    flt = review.review_filter(run)
except LedgerError as exc:  # the queue is unknown: no Review order to step through
    queue_unknown, flt = exc, Filter()
try:
    view = views.build_view(run, scores, flt, full_order=scoring_state.run_order(run, scoring))
except LabelnextError as exc:
    ui.show_error(exc)
    st.stop()
if queue_unknown is not None:
    ui.show_error(
        queue_unknown,
        prefix="**The ledger cannot be read**: whether this row is already in a batch is "
        "unknown, and previous/next are off until it answers.",
    )

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
    actions.go(row_id)

label = str(run.predicted_labels[row])
conf = float(1.0 - scores[row])
position = view.row_position(row)
prev_id, next_id = view.neighbours(row_id) if queue_unknown is None else (None, None)
selected = row_id in session.selection()

top = st.columns([6, 1.3, 1.3, 1.6, 1.6], vertical_alignment="center")
top[0].title(f"Row {safe_text.md(row_id)}")
top[1].button(
    "← Previous",
    key="detail_prev",
    on_click=actions.go,
    args=(prev_id,),
    disabled=prev_id is None,
    width="stretch",
)
top[2].button(
    "Next →",
    key="detail_next",
    on_click=actions.go,
    args=(next_id,),
    disabled=next_id is None,
    width="stretch",
)
top[3].button(
    "Unselect" if selected else "Select",
    key="detail_select",
    on_click=actions.toggle,
    args=(row_id,),
    type="secondary" if selected else "primary",
    width="stretch",
    icon=":material/check_box:" if selected else ":material/check_box_outline_blank:",
)
if top[4].button("Back to grid", key="detail_back", width="stretch", icon=":material/grid_view:"):
    actions.return_page(view, row_id)
    st.switch_page("pages/review.py")

where = (
    f"#{position + 1:,} of {len(view):,} in the current view"
    if position is not None
    else "not in the current view (filtered out or already in a batch)"
)
st.caption(f"{safe_text.md(run.name)} · {where} · {'selected' if selected else 'not selected'}")

boxes = review.boxes_of(run, row)
ss.setdefault("detail_box_threshold", DEFAULT_BOX_THRESHOLD)
left, right = st.columns([5, 5] if boxes is not None else [5, 4], gap="large")
with left:
    location, why_not = thumbnails.row_image(run, row)
    if why_not is not None:
        st.warning(safe_text.md(why_not))
    threshold = 0.0
    if boxes is not None:
        threshold = float(
            st.slider(
                "Show boxes scoring at least",
                min_value=0.0,
                max_value=1.0,
                step=0.05,
                key="detail_box_threshold",
                help="Hides low-score boxes in the picture and the table. Every box still "
                "counts in the image's uncertainty score.",
            )
        )
    with st.spinner("Drawing…"):
        picture = thumbnails.detail_image(
            location, label=label, confidence=conf, size=448, boxes=boxes, threshold=threshold
        )
    st.image(
        picture,
        width=448,
        caption=safe_text.md(Path(str(location)).name) if location else "no image",
    )
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
    c1.metric("Predicted", safe_text.md(label))
    c2.metric("Confidence", f"{conf:.3f}")
    if boxes is not None:
        table = views.box_table(run, row, scoring, threshold=threshold)
        hidden = len(boxes) - len(table)
        st.markdown(
            f"**Boxes** ({len(table)} shown"
            + (f", {hidden} below {threshold:.2f} hidden)" if hidden else ")")
        )
        if len(boxes) == 0:
            st.caption(
                "No boxes on this image: it scores "
                f"{'1 (most uncertain)' if scoring.empty_score else '0 (certain)'}, as chosen "
                "in the sidebar."
            )
        st.dataframe(
            table,
            hide_index=True,
            key="detail_boxes",
            width="stretch",
            column_config={
                "box": st.column_config.NumberColumn("#", format="%d", width="small"),
                "score": st.column_config.NumberColumn(
                    "score", format="%.3f", help="The detector's confidence in the box"
                ),
                **{c: st.column_config.NumberColumn(c, format="%.1f") for c in "xywh"},
                "uncertainty": st.column_config.NumberColumn(
                    "uncertainty",
                    format="%.3f",
                    help="This box's uncertainty (higher = label first)",
                ),
                "counted": st.column_config.CheckboxColumn(
                    "counted", help="Whether the sidebar's class choice counts this box"
                ),
            },
        )
        st.caption(
            f"Image score = {scoring_state.describe_scoring(run, scoring)} = "
            f"{scores[row]:.3f} "
            "(x, y = top-left corner, in image pixels)."
        )
    elif run.task == "multilabel" and run.probabilities is not None:
        probs = run.probabilities[row]
        present = [str(c) for c, p in zip(run.classes, probs, strict=True) if p >= run.threshold]
        st.markdown(
            f"**Predicted classes** (probability ≥ {run.threshold:.2f}): "
            + (", ".join(safe_text.md(c) for c in present) if present else "none")
        )
        st.plotly_chart(
            charts.multilabel_probabilities(run.classes, probs, threshold=run.threshold),
            key="detail_multilabel",
            config={"displayModeBar": False},
        )
    elif run.probabilities is not None and run.samples is None:
        st.markdown("**Class probabilities**")
        st.plotly_chart(
            charts.class_probabilities(run.classes, run.probabilities[row], top=10),
            key="detail_probs",
            config={"displayModeBar": False},
        )
    if run.samples is not None:  # the spread shows the mean too: no separate bars
        members = run.samples[row]
        votes = np.bincount(members.argmax(axis=1), minlength=len(run.classes))
        st.markdown(
            f"**Ensemble spread** — {members.shape[0]} members; "
            f"{int(votes.max())} of {members.shape[0]} vote for "
            f"{safe_text.md(run.classes[int(votes.argmax())])}"
        )
        st.plotly_chart(
            charts.ensemble_spread(run.classes, members, top=10),
            key="detail_members",
            config={"displayModeBar": False},
        )
        st.caption("Bars: mean probability; whiskers: lowest to highest member; dots: members.")
    st.markdown("**Uncertainty score** (higher = label first)")
    table = pd.DataFrame(
        [
            {
                "strategy": ui.STRATEGY_LABELS.get(s, s),
                "score": round(v, 4),
                "in use": "✓" if s == scoring.strategy else "",
            }
            for s, v in scoring_state.row_scores(run, row, scoring).items()
        ]
    )
    st.dataframe(table, hide_index=True, key="detail_scores", width="stretch")
