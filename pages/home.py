"""Home: choose a model run and see what it holds."""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from labelnext.errors import LabelnextError
from labelnext.paths import allowed_roots as allowed_roots_from_env
from labelnext_app import charts, state, ui

ui.ensure_entry_point()


def _max_upload_mb() -> int:
    """LABELNEXT_MAX_UPLOAD_MB, default 200 (also the default when the value is not a number)."""
    try:
        return max(0, int(os.environ.get("LABELNEXT_MAX_UPLOAD_MB", "200")))
    except ValueError:
        return 200


MAX_UPLOAD_MB = _max_upload_mb()
TASK_LABELS = {
    "classification": "classification",
    "multilabel": "multi-label",
    "detection": "detection",
}


def _choose_sample() -> None:
    state.set_run(st.session_state["home_sample"])


def load_pending_upload() -> None:
    """Validate and open the upload waiting in ``home_pending_upload`` (name, bytes), if any."""
    pending = st.session_state.pop("home_pending_upload", None)
    if pending is None:
        return
    filename, data = pending
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        st.session_state["home_error"] = (
            f"{filename} is {len(data) / 1e6:.0f} MB; the limit is {MAX_UPLOAD_MB} MB "
            "(LABELNEXT_MAX_UPLOAD_MB)."
        )
        return
    try:
        with st.spinner(f"Checking {filename}…", show_time=True):
            key = state.adopt_upload(filename, data)
    except LabelnextError as exc:
        st.session_state["home_error"] = exc
    else:
        state.set_run(key)
        st.session_state.pop("home_error", None)
        st.rerun()  # redraw the sidebar with the new run


def _load_server_path() -> None:
    path = st.session_state.get("home_server_path", "").strip()
    if not path:
        return
    key = f"path:{path}"
    try:
        state.open_run(key)
    except LabelnextError as exc:
        st.session_state["home_error"] = exc
    else:
        state.set_run(key)
        st.session_state.pop("home_error", None)


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
            max_upload_size=max(1, MAX_UPLOAD_MB),  # the widget needs >= 1; bytes checked below
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
            st.session_state["home_pending_upload"] = (upload.name, upload.getvalue())
    elif source == "Path on the server":
        roots = ", ".join(f"`{r}`" for r in allowed_roots_from_env())
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
        st.button("Open path", key="home_open_path", on_click=_load_server_path, type="primary")
    else:
        samples = state.sample_runs()
        if samples:
            current = st.session_state.get(state.RUN_KEY)
            st.session_state["home_sample"] = current if current in samples else next(iter(samples))
            st.selectbox(
                "Sample run",
                options=list(samples),
                format_func=samples.get,
                key="home_sample",
                on_change=_choose_sample,
            )
        else:
            st.info("No sample runs found under sample_data/.")

    load_pending_upload()
    error = st.session_state.get("home_error")
    if isinstance(error, LabelnextError):
        ui.show_error(error)
    elif error:
        st.error(error, icon=":material/error:")

# -- what the run holds ------------------------------------------------------------------------
run = state.current_run()
if run is None:
    if st.session_state.get("run_error"):
        st.error(st.session_state["run_error"], icon=":material/error:")
    st.info("Open a model run above to begin.")
    st.stop()

scoring = state.current_scoring(run)
scores = state.run_scores(run, scoring)
described = state.describe_scoring(run, scoring)
excluded = state.excluded_ids()
in_ledger = int(np.isin(run.ids, list(excluded)).sum()) if excluded else 0

st.subheader(run.name)
meta = [x for x in (run.model, f"version {run.version}" if run.version else None, run.created) if x]
if meta:
    st.caption(" · ".join(meta))
cols = st.columns(4)
cols[0].metric("Rows", f"{run.n_rows:,}")
cols[1].metric("Classes", f"{len(run.classes)}")
cols[2].metric("Task", TASK_LABELS.get(run.task, run.task))
cols[3].metric("Already queued or labeled", f"{in_ledger:,}")

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
    f"classes: {', '.join(run.classes[:20])}{' …' if len(run.classes) > 20 else ''}"
)
