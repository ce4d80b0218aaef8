"""Batch: the selection against the pool, submit it to a project, the history of batches, and
labels back from the labeling tool with the training set out."""

from __future__ import annotations

import streamlit as st

from labelnext import export
from labelnext import view as views
from labelnext.errors import BatchConflictError, LabelnextError
from labelnext.ledger import HISTORY_COLUMNS
from labelnext_app import (
    auth,
    batch_actions,
    batch_builder,
    batch_labels,
    cache,
    charts,
    review,
    runs,
    safe_text,
    scoring_state,
    session,
    ui,
)

ui.ensure_entry_point()

NEW_PROJECT = batch_actions.NEW_PROJECT
EXPORT_FORMATS = {
    "csv": "CSV",
    "parquet": "Parquet",
    "jsonl": "JSON Lines",
    "labelbox": "Labelbox",
    "labelstudio": "Label Studio",
    "coco": "COCO (CVAT)",
}
IMAGE_PRESETS = {
    "as-written": "As written in the run",
    "label-studio": "Label Studio local files (/data/local-files/?d=…)",
    "custom": "A bucket or web prefix, or a template",
}
ss = st.session_state

run = runs.current_run()
st.title("Batch")
if run is None:
    st.info("No model run is open. Choose one on Home.")
    st.stop()

scoring = scoring_state.current_scoring(run)
scores = scoring_state.run_scores(run, scoring)
confidence = 1.0 - scores
chosen = session.selection()
# set membership in Arrow, not np.isin over object arrays (136 s at 100,000 selected rows)
in_run = run.mask_of(chosen)
queue = review.queue()
pool = ~run.mask_of(queue.excluded)
if queue.unavailable is not None:
    ui.show_error(
        queue.unavailable,
        prefix="**The ledger cannot be read**: nothing can be submitted, marked or cancelled "
        "until it answers, and the pool below may hold rows already in a batch.",
    )

ui.show_outcome(ss.get(batch_actions.RESULT))
conflict = ss.get(batch_actions.CONFLICT)
if isinstance(conflict, BatchConflictError):
    ui.show_error(conflict, prefix="**Not submitted:**")
    conflicts = [
        {"data_row_id": rid, "open batch": batch}
        for rid, batch in sorted(conflict.conflicts.items())
    ]
    st.dataframe(conflicts, hide_index=True, key="batch_conflicts", width=420)

# -- the batch builder: a method's proposal, previewed before it becomes the selection ----------
batch_builder.draw(run, scoring, pool, queue.excluded)

# -- the selection against the pool ------------------------------------------------------------
m = st.columns(4)
m[0].metric("Selected", f"{int(in_run.sum()):,}")
m[1].metric("Pool (not yet queued)", f"{int(pool.sum()):,}")
m[2].metric(
    "Mean confidence, selection", f"{confidence[in_run].mean():.2f}" if in_run.any() else "–"
)
m[3].metric("Mean confidence, pool", f"{confidence[pool].mean():.2f}" if pool.any() else "–")

if in_run.any():
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Predicted class: selection vs pool**")
        st.plotly_chart(
            charts.class_distribution(
                run.classes, views.class_shares(run, pool), views.class_shares(run, in_run)
            ),
            key="batch_classes",
            config={"displayModeBar": False},
        )
    with c2:
        st.markdown("**Confidence: selection over the pool**")
        st.plotly_chart(
            charts.selection_histogram(confidence[pool], confidence[in_run]),
            key="batch_confidence",
            config={"displayModeBar": False},
        )
else:
    st.info(
        "Nothing is selected yet. Propose a batch above and use it as the selection, or pick "
        "rows on the Review page."
    )

# -- submit ------------------------------------------------------------------------------------
ledger = None
history = None
try:
    ledger = cache.ledger()
    projects = list(cache.projects()[0])
    history = cache.history()
except LabelnextError as exc:
    ui.show_error(exc, prefix="Ledger unavailable: ")
    projects = []

who = auth.identity()
may_edit = auth.permission()
if not who.authenticated:
    st.caption(
        ":material/no_accounts: Actions are not authenticated: the name typed in the sidebar is "
        "recorded as given. A shared URL should sign people in (see docs/team.md)."
    )
if not may_edit.allowed:
    st.info(
        f"**View only:** {may_edit.text(safe_text.md)}. Submitting, marking, cancelling and "
        "undoing are for editors.",
        icon=":material/visibility:",
    )
writes_off = queue.unavailable is not None or not may_edit.allowed

run_key = str(ss.get(session.RUN_KEY) or "")
ss.setdefault(
    "batch_name",
    batch_actions.suggested_name(run, scoring, 0 if history is None else len(history)),
)
batch_actions.client_token()
ss.setdefault("batch_priority", 3)
if ss.get("batch_project") not in [*projects, NEW_PROJECT]:
    queued_for = review.queue_project()
    ss["batch_project"] = queued_for if queued_for in projects else NEW_PROJECT
with st.form("batch_form", border=True):
    st.subheader("Submit as a labeling batch")
    st.caption(
        f"Rows were ranked by {scoring_state.describe_scoring(run, scoring)}; the batch records it."
    )
    f1, f2 = st.columns(2)
    f1.text_input("Batch name", key="batch_name")
    f2.selectbox("Destination project", options=[*projects, NEW_PROJECT], key="batch_project")
    f1.select_slider("Priority (1 = most urgent)", options=[1, 2, 3, 4, 5], key="batch_priority")
    f2.text_input(
        "New project name",
        key="batch_new_project",
        placeholder=f"used when “{NEW_PROJECT}” is chosen",
    )
    st.text_area("Note for the annotators", key="batch_note", height=80)
    st.radio(
        "Rows already in an open batch of this project",
        options=["Refuse the whole batch", "Leave those rows out"],
        key="batch_on_conflict",
        horizontal=True,
    )
    st.form_submit_button(
        f"Submit {int(in_run.sum()):,} rows",
        type="primary",
        on_click=batch_actions.submit,
        args=(run_key, scoring),
        disabled=not in_run.any() or ledger is None or writes_off,
        key="batch_submit",
    )

# -- history -----------------------------------------------------------------------------------
st.subheader("History")
if ledger is None or history is None:
    st.stop()
if history.empty:
    st.caption("No batches yet.")
    st.stop()
shown = history[list(HISTORY_COLUMNS)]
ids = history["batch_id"].astype(int).tolist()
names = dict(zip(ids, history["name"], strict=True))
if ss.get("batch_export_pick") not in ids:
    last = ss.get("batch_last_id")
    ss["batch_export_pick"] = last if last in ids else ids[0]
st.caption("Click a row to download that batch below.")
clicked = st.dataframe(
    shown,
    hide_index=True,
    key="batch_history",
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "batch_id": st.column_config.NumberColumn("batch", format="%d"),
        "n_rows": st.column_config.NumberColumn("rows"),
        "n_labeled": st.column_config.NumberColumn("labeled"),
        "created_at": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
    },
)

# A newly clicked history row picks the batch; the picker below can still change it after.
rows = list(clicked.selection.rows) if clicked is not None else []
if rows != ss.get("batch_history_rows", []):
    ss["batch_history_rows"] = rows
    if rows and 0 <= rows[0] < len(ids):
        ss["batch_export_pick"] = ids[rows[0]]

with st.container(border=True, key="batch_downloads"):
    e1, e2 = st.columns([2, 5], vertical_alignment="bottom")
    pick = int(
        e1.selectbox(
            "Batch to download",
            options=ids,
            format_func=lambda i: f"#{i} · {names[i]}",
            key="batch_export_pick",
        )
    )
    try:
        info = ledger.batch(pick)
    except LabelnextError as exc:  # the ledger went away since the history was read
        ui.show_error(
            exc,
            prefix="**The ledger cannot be read**: downloads and status changes wait until it "
            "answers again.",
        )
        st.stop()
    e2.markdown(
        f"**Batch #{pick} ·** {safe_text.md(info.name)} — {info.n_rows:,} rows for project "
        f"“{safe_text.md(info.project)}”, priority {info.priority}, {info.status}"
    )
    i1, i2, i3 = st.columns([3, 3, 3], vertical_alignment="bottom")
    preset = i1.selectbox(
        "Images for the labeling tool",
        options=list(IMAGE_PRESETS),
        format_func=lambda p: IMAGE_PRESETS[p],
        key="batch_image_preset",
        help="How each image reference is written into the export, so the tool can load it.",
    )
    i2.text_input(
        "Prefix or template",
        key="batch_image_template",
        placeholder="s3://bucket/images  or  https://cdn/{relpath}",
        disabled=preset != "custom",
        help="{image}: the reference as written; {data_row_id}; {relpath}: the image's path "
        "relative to the files root.",
    )
    i3.text_input(
        "Files root",
        key="batch_files_root",
        placeholder="the folder {relpath} starts from",
        help="For Label Studio: its LOCAL_FILES_DOCUMENT_ROOT.",
    )
    image_url, files_root, preview, warnings = batch_actions.image_choice(ledger, pick)
    if preview is not None:
        st.caption(f"First image as exported: {safe_text.md(preview)}")
    for warning in warnings:
        st.warning(safe_text.md(warning), icon=":material/broken_image:")
    buttons = st.container(horizontal=True)
    for fmt in export.formats_for(info.task):
        label = EXPORT_FORMATS[fmt]
        # The file is made only when the button is clicked (a callable); the click marks the
        # batch exported, so drawing the history does not.
        buttons.download_button(
            f"{label} · #{pick}",
            data=batch_actions.export_maker(ledger, pick, fmt, image_url, files_root),
            file_name=export.file_name(info, fmt),
            mime=export.media_type(fmt),
            key=f"batch_download_{fmt}",
            on_click=batch_actions.mark_exported,
            args=(pick,),
            icon=":material/download:",
            help=f"Download batch #{pick} ({safe_text.md(info.name)}) as {label}",
        )

# -- status: what the labeling team reports back -----------------------------------------------
batch_row = history[history["batch_id"] == pick].iloc[0]
n_open = int(batch_row["n_open"])


@st.dialog("Please confirm")
def _confirm_dialog(kind: str, batch_id: int) -> None:
    listed = batch_actions.listed_rows()
    name = safe_text.md(info.name)
    if kind == "mark":
        what = f"{len(listed):,} listed row(s)" if listed else f"all {n_open:,} open row(s)"
        st.markdown(
            f"Mark {what} of batch **#{batch_id}** “{name}” **labeled**? They stay out of "
            f"project “{safe_text.md(info.project)}”'s later queues, whatever the model run."
        )
        label = "Mark labeled"
    else:
        st.markdown(
            f"**Cancel** batch **#{batch_id}** “{name}”? Its {n_open:,} open row(s) are freed "
            "for other batches."
        )
        label = "Cancel the batch"
    st.caption("Recorded with your name; you can undo it afterwards (while the rows are free).")
    d1, d2 = st.columns(2)
    # the callback acts (before any widget is drawn); a dialog then reruns on its own, so a
    # full rerun closes it and shows the outcome and Undo
    if d1.button(label, key="batch_confirm_yes", type="primary", on_click=batch_actions.confirm):
        st.rerun()
    if d2.button("Keep it as it is", key="batch_confirm_no", on_click=batch_actions.dismiss):
        st.rerun()


with st.container(border=True, key="batch_status"):
    st.markdown(f"**Batch #{pick}: what the labeling team reports back**")
    s1, s2, s3 = st.columns([5, 2, 2], vertical_alignment="bottom")
    s1.text_area(
        "Only these rows (data_row_ids, one per line, exactly; leave empty for the whole batch)",
        key=batch_actions.ROWS,
        height=80,
    )
    closed = info.status in ("labeled", "cancelled")
    s2.button(
        "Mark labeled",
        key="batch_mark_labeled",
        on_click=batch_actions.ask,
        args=("mark", pick),
        disabled=closed or writes_off,
        width="stretch",
        icon=":material/task_alt:",
        help="Labeled rows stay out of this project's later queues, whatever model run.",
    )
    if info.status == "cancelled":
        s3.button(
            "Reopen batch",
            key="batch_reopen",
            on_click=batch_actions.reopen,
            args=(pick,),
            disabled=writes_off,
            width="stretch",
            icon=":material/undo:",
            help="Open the batch again with the rows the cancel freed, if none was queued since.",
        )
    else:
        s3.button(
            "Cancel batch",
            key="batch_cancel",
            on_click=batch_actions.ask,
            args=("cancel", pick),
            disabled=closed or writes_off,
            width="stretch",
            icon=":material/cancel:",
            help="Frees the batch's open rows so they can be queued again.",
        )
    ui.show_outcome(ss.pop(batch_actions.STATUS_RESULT, None))
    undo = ss.get(batch_actions.UNDO)
    if undo is not None:
        st.button(
            "Undo",
            key="batch_undo",
            on_click=batch_actions.revert,
            args=(undo,),
            disabled=writes_off,
            icon=":material/undo:",
        )
    try:
        activity = cache.ledger().actions(batch_id=pick)
    except LabelnextError as exc:
        ui.show_error(exc, prefix="The batch's history cannot be read:")
    else:
        st.markdown("**What happened to this batch**")
        st.dataframe(
            activity[["action_id", "at", "kind", "actor", "origin", "n_rows", "reverted_by"]],
            hide_index=True,
            key="batch_activity",
            width="stretch",
            column_config={
                "action_id": st.column_config.NumberColumn("action", format="%d"),
                "at": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm:ss"),
                "n_rows": st.column_config.NumberColumn("rows"),
            },
        )

# -- labels back, training set out (for the picked batch's project) --------------------------
batch_labels.labels_box(ledger, info.project)

pending = ss.get(batch_actions.CONFIRM)
if pending is not None and int(pending[1]) == pick:
    _confirm_dialog(str(pending[0]), pick)
