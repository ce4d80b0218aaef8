"""The Batch page's labels box: labels back from the labeling tool, and the training set out.

:func:`labels_box` draws it (pages/batch.py calls it once): upload a labels file (Labelbox
NDJSON, Label Studio JSON, COCO, CSV, Parquet), see what importing it would change (the ledger's
own import run as a dry run, so the preview is exactly what the import does, refusals included),
import it, and download the project's training set. Every string from the file or the ledger is
shown as text (:mod:`labelnext_app.safe_text`).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import streamlit as st

from labelnext.errors import LabelnextError
from labelnext.export.training import TRAINING_FORMATS, training_file_name, training_set
from labelnext.ledger import LabelImportResult

from . import auth, batch_actions, cache, safe_text, ui

if TYPE_CHECKING:
    from labelnext.ledger import Ledger

__all__ = ["IMPORT_RESULT", "TRAINING_LABELS", "import_file", "labels_box", "preview"]

IMPORT_RESULT = "batch_labels_result"
_ROUND = "batch_labels_round"  # a new uploader after each import (the old file is done)
_PREVIEW = "batch_labels_preview"
TRAINING_LABELS = {
    "csv": "CSV",
    "parquet": "Parquet",
    "coco": "COCO (detection)",
    "yolo": "YOLO zip (detection)",
}
_MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _import(
    ledger: Ledger,
    project: str,
    filename: str,
    data: bytes,
    allow_unbatched: bool,
    *,
    dry_run: bool,
) -> LabelImportResult:
    return ledger.import_labels(
        data,
        project=project,
        filename=filename,
        allow_unbatched=allow_unbatched,
        dry_run=dry_run,
        actor=batch_actions.actor(),
        origin="app",
    )


def preview(
    ledger: Ledger, project: str, filename: str, data: bytes, allow_unbatched: bool
) -> LabelImportResult | LabelnextError:
    """What importing the file would do (a dry run), or the error that refuses it.

    Kept per file, project and flag for the session: a rerun does not read the file again.
    """
    key = (hashlib.sha256(data).hexdigest(), project, filename, allow_unbatched)
    cached = st.session_state.get(_PREVIEW)
    if cached is not None and cached[0] == key:
        result: LabelImportResult | LabelnextError = cached[1]
        return result
    try:
        result = _import(ledger, project, filename, data, allow_unbatched, dry_run=True)
    except LabelnextError as exc:
        result = exc
    st.session_state[_PREVIEW] = (key, result)
    return result


def import_file(project: str, filename: str, data: bytes, allow_unbatched: bool) -> None:
    """The Import button: store the labels (one transaction) and say what changed."""
    refused = auth.refusal()  # checked again here: the page may have been drawn before a change
    if refused is not None:
        st.session_state[IMPORT_RESULT] = ("error", f"**Not imported:** {refused}.")
        return
    try:
        result = _import(cache.ledger(), project, filename, data, allow_unbatched, dry_run=False)
    except LabelnextError as exc:
        st.session_state[IMPORT_RESULT] = ("error", "**Not imported:**\n\n" + safe_text.block(exc))
        return
    cache.forget_excluded_ids()
    st.session_state.pop(_PREVIEW, None)
    st.session_state[_ROUND] = int(st.session_state.get(_ROUND, 0)) + 1
    st.session_state[IMPORT_RESULT] = ("success", safe_text.block("\n".join(result.summary())))


def _training_maker(ledger: Ledger, project: str, fmt: str) -> Any:
    def make() -> bytes:
        data, _ = training_set(ledger, project, fmt)
        return data

    return make


def labels_box(ledger: Ledger, project: str) -> None:
    """Draw the labels box for ``project``."""
    with st.container(border=True, key="batch_labels"):
        st.markdown(f"**Labels back for project “{safe_text.md(project)}”**")
        st.caption(
            "Upload what the labeling tool exported (Labelbox NDJSON, Label Studio JSON, COCO, "
            "CSV or Parquet with data_row_id,label). Labeled rows are marked labeled, a batch "
            "whose every row is labeled becomes labeled, and a row labeled again keeps its "
            "earlier labels as history."
        )
        ui.show_outcome(st.session_state.pop(IMPORT_RESULT, None))
        round_ = int(st.session_state.get(_ROUND, 0))
        upload = st.file_uploader(
            "Labels file",
            type=["ndjson", "jsonl", "json", "csv", "parquet", "pq"],
            key=f"batch_labels_file_{round_}",
        )
        allow = st.checkbox(
            "Also import rows that are in no batch of this project",
            key="batch_labels_unbatched",
        )
        if upload is not None:
            data = upload.getvalue()
            outcome = preview(ledger, project, upload.name, data, allow)
            if isinstance(outcome, LabelnextError):
                ui.show_error(outcome, prefix="This file cannot be imported: ")
            else:
                st.markdown("**What importing it will do**")
                st.code("\n".join(outcome.summary()), language="text")
                refused = auth.refusal()
                if refused is not None:
                    st.caption(f"View only: {refused}.")
                st.button(
                    f"Import {outcome.n_labels:,} label(s)",
                    key="batch_labels_import",
                    type="primary",
                    disabled=refused is not None,
                    on_click=import_file,
                    args=(project, upload.name, data, allow),
                    icon=":material/upload:",
                )
        _training_downloads(ledger, project)


def _training_downloads(ledger: Ledger, project: str) -> None:
    try:
        current = ledger.labels(project)
    except LabelnextError as exc:
        ui.show_error(exc, prefix="The project's labels cannot be read: ")
        return
    if current.empty:
        st.caption("No labels imported for this project yet: the training set comes after.")
        return
    task = str(current["task"].iloc[0])
    st.markdown(
        f"**Training set**: {len(current):,} labeled row(s), each with its latest label and "
        "image reference."
    )
    buttons = st.container(horizontal=True)
    for fmt in TRAINING_FORMATS:
        if fmt in ("coco", "yolo") and task != "detection":
            continue
        buttons.download_button(
            TRAINING_LABELS[fmt],
            data=_training_maker(ledger, project, fmt),
            file_name=training_file_name(project, fmt),
            mime=_MIME.get(fmt, "application/octet-stream"),
            key=f"batch_training_{fmt}",
            icon=":material/download:",
        )
