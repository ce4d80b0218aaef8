"""Home: choose a model run and see what it holds."""

from __future__ import annotations

import streamlit as st

from labelnext.config import settings
from labelnext.errors import LabelnextError
from labelnext.paths import allowed_roots
from labelnext_app import (
    catalogue,
    charts,
    home_actions,
    review,
    runs,
    safe_text,
    scoring_state,
    session,
    ui,
)

ui.ensure_entry_point()

MAX_UPLOAD_MB = settings().max_upload_mb
TASK_LABELS = {
    "classification": "classification",
    "multilabel": "multi-label",
    "detection": "detection",
}

st.title("Which rows should we label next?")
st.caption(
    "Open a model run, review its least confident predictions, and send the rows worth "
    "labeling to a project as a batch."
)

# -- choose a run ------------------------------------------------------------------------------
with st.container(border=True):
    st.subheader("Model run")
    source = st.segmented_control(
        "Source",
        options=["Shipped sample", "Upload a file", "Path on the server"],
        default="Shipped sample",
        key="home_source",
        label_visibility="collapsed",
    )
    if source == "Upload a file":
        upload = st.file_uploader(
            f"Predictions file (CSV, Parquet, JSON Lines or Labelbox NDJSON, up to "
            f"{MAX_UPLOAD_MB} MB)",
            type=["csv", "parquet", "jsonl", "ndjson", "json"],
            key="home_upload",
            # the widget takes what the server takes; labelnext's own limit is checked below,
            # so a file over it gets a message that says so, not just a red icon
            max_upload_size=max(1, int(st.get_option("server.maxUploadSize")), MAX_UPLOAD_MB),
            help="labelnext's own files (classification, multi-label, ensembles, detection) and "
            "Labelbox prediction NDJSON (radio, checklist, bounding boxes).",
        )
        st.caption(
            "COCO results (`[{image_id, category_id, bbox, score}]`) need the COCO file that "
            "names the images and categories, and YOLO predictions need their image folder: "
            "open those as a folder under *Path on the server*."
        )
        if upload is not None and st.button(
            "Open this file", key="home_open_upload", type="primary"
        ):
            st.session_state[home_actions.PENDING_UPLOAD] = (upload.name, upload.getvalue())
    elif source == "Path on the server":
        roots = ", ".join(f"`{r}`" for r in allowed_roots())
        st.text_input(
            "File or run folder on the server",
            key="home_server_path",
            placeholder="/data/runs/run_042  or  /data/runs/predictions.parquet",
            help="A predictions file (CSV, Parquet, JSON Lines, Labelbox NDJSON); a run folder "
            "with run.json; a COCO folder holding the COCO file and a results file (or run.json "
            'with "format": "coco"); or a YOLO folder with images/, labels/*.txt '
            f"(`class cx cy w h conf`) and classes.txt.\n\nReadable folders: {roots}. Set "
            "LABELNEXT_ALLOWED_ROOTS to add more.",
        )
        st.button(
            "Open path",
            key="home_open_path",
            on_click=home_actions.load_server_path,
            type="primary",
        )
    else:
        samples = catalogue.sample_runs()
        if samples:
            current = st.session_state.get(session.RUN_KEY)
            st.session_state["home_sample"] = current if current in samples else next(iter(samples))
            st.selectbox(
                "Sample run",
                options=list(samples.keys()),
                format_func=lambda key: samples[key],
                key="home_sample",
                on_change=home_actions.choose_sample,
            )
        else:
            st.info("No sample runs found under sample_data/.")

    if home_actions.load_pending_upload():
        st.rerun()  # redraw the sidebar with the new run
    error = st.session_state.get(home_actions.ERROR)
    if isinstance(error, LabelnextError):
        ui.show_error(error)
    elif error:
        ui.show_error(str(error))

# -- what the run holds ------------------------------------------------------------------------
run = runs.current_run()
if run is None:
    if st.session_state.get("run_error"):
        ui.show_error(st.session_state["run_error"])
    st.info("Open a model run above to begin.")
    st.stop()

scoring = scoring_state.current_scoring(run)
scores = scoring_state.run_scores(run, scoring)
described = scoring_state.describe_scoring(run, scoring)
queue = review.queue()
in_ledger = int(run.mask_of(queue.excluded).sum())

st.subheader(safe_text.md(run.name))
meta = [x for x in (run.model, f"version {run.version}" if run.version else None, run.created) if x]
if meta:
    st.caption(" · ".join(safe_text.md(x) for x in meta))
if queue.unavailable is not None:
    ui.show_error(
        queue.unavailable,
        prefix="**The ledger cannot be read**: how many rows are already queued is unknown.",
    )
cols = st.columns(4)
cols[0].metric("Rows", f"{run.n_rows:,}")
cols[1].metric("Classes", f"{len(run.classes)}")
cols[2].metric("Task", TASK_LABELS.get(run.task, run.task))
cols[3].metric(
    "Already queued or labeled",
    "unknown" if queue.unavailable is not None else f"{in_ledger:,}",
    help=f"In project {safe_text.md(queue.project)}" if queue.project else "No batch yet",
)

home_actions.calibration_check(run, queue.project)

st.markdown(f"**Confidence under {described}**")
st.plotly_chart(
    charts.confidence_histogram(1.0 - scores, strategy=described),
    key="home_histogram",
    config={"displayModeBar": False},
)
left, right = st.columns([1, 3], vertical_alignment="center")
if left.button("Review least confident →", key="home_go_review", type="primary"):
    st.switch_page("pages/review.py")
held = ""
if run.boxes is not None:
    held = (
        f"{run.boxes.n_boxes:,} boxes, {int((run.boxes.counts == 0).sum()):,} images without any · "
    )
elif run.samples is not None:
    held = f"{run.samples.shape[1]} ensemble members per row · "
elif run.task == "multilabel":
    held = f"decision threshold {run.threshold:.2f} per class · "
right.caption(
    f"{int((1.0 - scores < 0.5).sum()):,} rows below 0.5 confidence · {held}"
    f"classes: {', '.join(safe_text.md(c) for c in run.classes[:20])}"
    f"{' …' if len(run.classes) > 20 else ''}"
)
