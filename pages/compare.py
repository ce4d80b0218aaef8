"""Compare: run N against run N + 1, over the rows both predict."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from labelnext.errors import LabelnextError
from labelnext_app import charts, compare_actions, review, runs, safe_text, session, ui

ui.ensure_entry_point()

STRIP = 8  # thumbnails per strip
ss = st.session_state

st.title("Compare runs")
st.caption(
    "What the last labeling iteration changed: run A (before) against run B (after, trained "
    "with the labels), on the rows both predict."
)

options = compare_actions.run_options()
if len(options) < 1:
    st.info("No model run to compare. Open one on Home.")
    st.stop()
first, second = compare_actions.default_pair(options, ss.get(session.RUN_KEY))
ss.setdefault("compare_a", first)
ss.setdefault("compare_b", second)
c1, c2, c3, c4 = st.columns(4)
keys: list[str] = list(options)
key_a = str(c1.selectbox("Run A (before)", keys, format_func=options.__getitem__, key="compare_a"))
key_b = str(c2.selectbox("Run B (after)", keys, format_func=options.__getitem__, key="compare_b"))
try:
    run_a, run_b = runs.open_run(key_a), runs.open_run(key_b)
except LabelnextError as exc:
    ui.show_error(exc, prefix="A run cannot be opened: ")
    st.stop()
strategy = c3.selectbox(
    "Confidence under", compare_actions.strategies(run_a, run_b), key="compare_strategy"
)
label_sources = [
    compare_actions.GROUND_TRUTH,
    compare_actions.LABELS_FILE,
    *compare_actions.projects(),
]
if ss.get("compare_labels") not in label_sources:
    queued_for = review.queue_project()
    ss["compare_labels"] = queued_for if queued_for in label_sources else label_sources[0]
project = c4.selectbox(
    "Labels",
    label_sources,
    key="compare_labels",
    format_func=lambda p: p if p.startswith("(") else f"imported: {p}",
    help="A project's imported labels (and its labeled batches), the runs' ground_truth "
    "column, or a labels file (Labelbox, Label Studio, COCO, CSV, Parquet).",
)
upload = None
if project == compare_actions.LABELS_FILE:
    uploaded = st.file_uploader(
        "Labels file", type=["ndjson", "jsonl", "json", "csv", "parquet", "pq"],
        key="compare_labels_file",
    )  # fmt: skip
    if uploaded is not None:
        upload = (uploaded.name, uploaded.getvalue())
try:
    with st.spinner("Comparing…"):
        result = compare_actions.compare(key_a, key_b, str(strategy), str(project), upload)
except LabelnextError as exc:
    ui.show_error(exc, prefix="The runs cannot be compared: ")
    st.stop()

n_shared = len(result.shared_ids)
acc = result.accuracy
m = st.columns(4)
m[0].metric("Shared rows", f"{n_shared:,}", help=f"Only in A: {result.only_in_a:,} · only in B: "
            f"{result.only_in_b:,}")  # fmt: skip
if n_shared:
    m[1].metric(
        "Mean confidence A → B",
        f"{result.confidence_a.mean():.3f} → {result.confidence_b.mean():.3f}",
        delta=f"{result.change.mean():+.3f}",
    )
    m[2].metric("Changed predicted class", f"{result.changed_prediction:,}")
shared_acc = acc["shared_accuracy"]
if shared_acc.notna().all():
    m[3].metric(
        "Accuracy on labeled shared rows",
        f"{shared_acc['a']:.1%} → {shared_acc['b']:.1%}",
        delta=f"{100 * (shared_acc['b'] - shared_acc['a']):+.1f} pts",
    )
for note in result.notes:
    st.info(safe_text.md(note), icon=":material/info:")

if n_shared:
    h1, h2 = st.columns(2)
    with h1:
        st.markdown("**Confidence of both runs**")
        st.plotly_chart(
            charts.two_run_histogram(
                result.confidence_a, result.confidence_b, run_a.name, run_b.name
            ),
            key="compare_confidence",
            config={"displayModeBar": False},
        )
    with h2:
        st.markdown("**Per-row change of confidence (right: B is surer)**")
        st.plotly_chart(
            charts.change_histogram(result.change),
            key="compare_change",
            config={"displayModeBar": False},
        )

st.subheader("Per class")
per_class = result.per_class.reset_index().rename(columns={"index": "class"})
per_class.columns = [str(c) for c in per_class.columns]
st.dataframe(per_class, hide_index=True, key="compare_per_class", width="stretch")


def _strip(title: str, moved: pd.DataFrame, key: str) -> None:
    st.markdown(f"**{title}** ({len(moved):,} rows)")
    if moved.empty:
        st.caption("None.")
        return
    head = moved.head(STRIP)
    positions = run_b.id_index.get_indexer(pd.Index(head["data_row_id"]))
    cells = st.columns(STRIP)
    for k, (row, pos) in enumerate(zip(head.itertuples(index=False), positions, strict=True)):
        with cells[k], st.container(border=True, key=f"{key}_card_{k}"):
            if pos >= 0:
                st.image(
                    str(review.thumb_for(run_b, int(pos))), width="stretch", output_format="PNG"
                )
            st.caption(
                f"{safe_text.md(row.data_row_id)} · {row.confidence_a:.2f} → {row.confidence_b:.2f}"
                f" · {safe_text.md(row.predicted_a)} → {safe_text.md(row.predicted_b)}"
            )
            if pos >= 0 and st.button(
                ":material/open_in_full:",
                key=f"{key}_open_{k}",
                help="Open this row of run B in the detail view",
                type="tertiary",
            ):
                st.switch_page(
                    "pages/detail.py", query_params={"run": key_b, "row": str(row.data_row_id)}
                )


_strip("Became confident", result.became_confident, "compare_confident")
_strip("Became uncertain", result.became_uncertain, "compare_uncertain")

st.subheader("Old against new prediction")
st.caption(
    f"{result.changed_prediction:,} of {n_shared:,} shared rows changed predicted class. Rows: "
    "run A's prediction; columns: run B's."
)
confusion = result.confusion.copy()
confusion.index = [str(i) for i in confusion.index]
confusion.columns = [str(c) for c in confusion.columns]
st.dataframe(confusion, key="compare_confusion", width="stretch")

st.subheader("Accuracy where labels are known")
st.dataframe(acc, key="compare_accuracy", width="stretch")
if not result.batches.empty:
    st.subheader("Batches labeled between the runs")
    shown = result.batches.reset_index()
    shown.columns = [str(c) for c in shown.columns]
    st.dataframe(shown, hide_index=True, key="compare_batches", width="stretch")
