"""The Batch page's actions: submit the selection, and what the labeling team reports back.

Callbacks live here rather than in pages/batch.py so that the widget state Streamlit keeps does
not hold a page run's namespace (see labelnext_app.review_actions), and so the page only draws.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import streamlit as st

from labelnext import export
from labelnext import view as views
from labelnext.errors import BatchConflictError, LabelnextError
from labelnext.idfiles import parse_id_lines
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring

from . import batch_builder, cache, runs, safe_text, scoring_state, session

if TYPE_CHECKING:
    from labelnext.ledger import Ledger

__all__ = [
    "CONFIRM",
    "CONFLICT",
    "NEW_PROJECT",
    "RESULT",
    "ROWS",
    "STATUS_RESULT",
    "UNDO",
    "actor",
    "ask",
    "cancel",
    "client_token",
    "confirm",
    "destination_project",
    "dismiss",
    "export_maker",
    "image_choice",
    "listed_rows",
    "mark_exported",
    "mark_labeled",
    "reopen",
    "revert",
    "strategy_params",
    "submit",
    "suggested_name",
]

NEW_PROJECT = "New project…"
RESULT = "batch_result"
CONFLICT = "batch_conflict"
STATUS_RESULT = "batch_status_result"
ROWS = "batch_mark_rows"
CONFIRM = "batch_confirm"  # (kind, batch id) a dialog asks about
UNDO = "batch_undo_action"  # the action id the last mark or cancel recorded


def client_token() -> str:
    """One idempotency token per form render: a double click stores one batch."""
    token: str = st.session_state.setdefault("batch_client_token", uuid.uuid4().hex)
    return token


def strategy_params(run: ModelRun, scoring: Scoring, run_key: str) -> dict[str, Any]:
    """What a batch records about how its rows were chosen (JSON-ready)."""
    return {
        **scoring.params(),
        "description": scoring.describe(run.task),
        "task": run.task,
        "selected_in": "dashboard",
        "run_key": run_key,
    }


def suggested_name(run: ModelRun, scoring: Scoring, n_batches: int) -> str:
    """``<run>-<strategy>-<date>-b<n>``: n counts the ledger's batches, so names do not repeat."""
    return f"{run.name}-{scoring.strategy}-{date.today().isoformat()}-b{n_batches + 1}"


def destination_project() -> str:
    """The project the form names: an existing one, or the typed name of a new one."""
    ss = st.session_state
    if ss.get("batch_project") == NEW_PROJECT:
        return str(ss.get("batch_new_project", "")).strip()
    return str(ss.get("batch_project") or "")


def _problems(run: ModelRun | None, run_key: str, user: str, project: str) -> list[str]:
    ss = st.session_state
    problems = []
    if run is None or ss.get(session.RUN_KEY) != run_key:
        problems.append("the run changed since the form was drawn; check the selection again")
    if not session.selection():
        problems.append("nothing is selected")
    if not user:
        problems.append("enter your name in the sidebar (it is recorded on the batch)")
    if not project:
        problems.append("choose a project or type the name of a new one")
    if not str(ss.get("batch_name", "")).strip():
        problems.append("give the batch a name")
    return problems


def submit(run_key: str, scoring: Scoring) -> None:
    """Form callback: store the selection as a batch (runs before the page is drawn again)."""
    ss = st.session_state
    if not session.selection() and ss.get(RESULT, ("",))[0] == "success":
        return  # the second click of a double click: the batch is stored, keep saying so
    ss.pop(RESULT, None)
    ss.pop(CONFLICT, None)
    run = runs.current_run()
    user = str(ss.get(session.USER) or "").strip()
    project = destination_project()
    problems = _problems(run, run_key, user, project)
    if problems or run is None:
        ss[RESULT] = ("error", "**Not submitted:** " + "; ".join(problems) + ".")
        return
    rows = views.selection_frame(
        run,
        scoring_state.run_scores(run, scoring),
        session.selection(),
        full_order=scoring_state.run_order(run, scoring),
    )
    ledger = cache.ledger()
    try:
        result = ledger.submit(
            project=project,
            name=str(ss["batch_name"]).strip(),
            rows=export.with_predictions(rows, run),
            priority=int(ss.get("batch_priority", 3)),
            note=str(ss.get("batch_note", "")),
            created_by=user,
            strategy=scoring.strategy,
            strategy_params=strategy_params(run, scoring, run_key),
            run_id=ledger.register_run(run),
            client_token=client_token(),
            actor=user,
            origin="app",
            task=run.task,
            classes=run.classes,
            on_conflict="skip" if ss.get("batch_on_conflict", "").startswith("Leave") else "fail",
            **batch_builder.record_for_submit(session.selection()),
        )
    except BatchConflictError as exc:
        ss[CONFLICT] = exc
        cache.forget_excluded_ids()  # the conflict means the cached exclusions were stale
        return
    except LabelnextError as exc:
        ss[RESULT] = ("error", "**Not submitted:**\n\n" + safe_text.block(exc))
        return
    cache.forget_excluded_ids()
    text = (
        f"Batch #{result.batch_id} stored in project “{safe_text.md(project)}” with "
        f"{result.n_rows:,} rows."
    )
    if result.skipped:
        text += f" Left out {len(result.skipped):,} row(s) already in an open batch."
    if not result.created:
        text += " (It had already been submitted; nothing new was stored.)"
    ss[RESULT] = ("success", text)
    ss["batch_last_id"] = result.batch_id
    ss["batch_export_pick"] = result.batch_id  # the download section shows the new batch
    session.clear_selection()
    ss.pop(batch_builder.USED, None)
    ss.pop(batch_builder.PROPOSAL, None)  # the queue changed: propose again for the next batch
    session.set_project(project)  # Review now hides this project's queue
    ss["batch_client_token"] = uuid.uuid4().hex
    ss.pop("batch_name", None)  # a fresh suggestion for the next batch
    ss["batch_project"] = project  # it exists now: offer it first next time
    ss["batch_new_project"] = ""


def export_maker(
    ledger: Ledger,
    batch_id: int,
    fmt: str,
    image_url: str = "{image}",
    files_root: str | None = None,
) -> Callable[[], bytes]:
    """What a download button calls when clicked: the batch's file, made then, not on drawing.

    The click's own callback marks the batch exported, so merely drawing the history does not.
    """
    return functools.partial(
        export.export_batch,
        ledger,
        batch_id,
        fmt,
        mark_exported=False,
        image_url=image_url,
        files_root=files_root,
    )


def image_choice(ledger: Ledger, batch_id: int) -> tuple[str, str | None, str | None, list[str]]:
    """The image URL template and files root the download section describes, the first image
    as it would be exported, and what would leave a labeling tool with a broken image."""
    ss = st.session_state
    preset = str(ss.get("batch_image_preset", "as-written"))
    spec = str(ss.get("batch_image_template", "")).strip() if preset == "custom" else preset
    files_root = str(ss.get("batch_files_root", "")).strip() or None
    try:
        image_url = export.image_url_template(spec or "as-written")
        batch = export.ExportBatch.from_ledger(ledger, batch_id)
        preview = export.preview_image_url(batch, image_url, files_root=files_root)
        warnings: list[str] = []
        for fmt in ("labelstudio", "labelbox"):
            warnings += [f"{fmt}: {w}" for w in export.image_url_warnings(
                batch, fmt, image_url, files_root=files_root
            )]  # fmt: skip
    except LabelnextError as exc:
        return "{image}", None, None, [str(exc)]
    return image_url, files_root, preview, warnings


def actor() -> str | None:
    """Who acts: the signed-in user or the name given in the sidebar (None if neither)."""
    return str(st.session_state.get(session.USER) or "").strip() or None


def mark_exported(batch_id: int) -> None:
    """A download button was clicked: the batch was handed to a labeling tool."""
    try:
        cache.ledger().mark_exported(batch_id, actor=actor(), origin="app")
    except LabelnextError as exc:
        st.session_state[STATUS_RESULT] = ("error", safe_text.block(exc))
        return
    cache.forget_excluded_ids()


def ask(kind: str, batch_id: int) -> None:
    """Mark labeled and Cancel ask first: a dialog names the batch and the rows it changes."""
    st.session_state[CONFIRM] = (kind, batch_id)


def dismiss() -> None:
    """The dialog's "keep as it is"."""
    st.session_state.pop(CONFIRM, None)


def confirm() -> None:
    """The dialog's confirm button: do what it asked about."""
    pending = st.session_state.pop(CONFIRM, None)
    if pending is None:
        return
    kind, batch_id = pending
    (mark_labeled if kind == "mark" else cancel)(int(batch_id))


def _newest_action(batch_id: int, kind: str) -> int | None:
    actions = cache.ledger().actions(batch_id=batch_id)
    found = actions[(actions["kind"] == kind) & actions["revertible"].astype(bool)]
    return int(found["action_id"].iloc[0]) if len(found) else None


def listed_rows() -> list[str]:
    """The ids typed in "only these rows", one per line, exactly."""
    return parse_id_lines(str(st.session_state.get(ROWS, "")).splitlines())


def mark_labeled(batch_id: int) -> None:
    """Mark the batch (or the rows typed in the text box) labeled; the outcome offers Undo."""
    rows = listed_rows() or None
    try:
        n = cache.ledger().mark_labeled(batch_id, rows, actor=actor(), origin="app")
        undo = _newest_action(batch_id, "mark_labeled") if n else None
    except LabelnextError as exc:
        st.session_state[STATUS_RESULT] = ("error", safe_text.block(exc))
        return
    cache.forget_excluded_ids()
    st.session_state[ROWS] = ""
    st.session_state[UNDO] = undo
    which = f"{len(rows):,} listed row(s)" if rows else "every open row"
    st.session_state[STATUS_RESULT] = (
        "success",
        f"Batch #{batch_id}: {n:,} row(s) marked labeled ({which}). Labeled rows stay out of "
        "this project's later queues.",
    )


def cancel(batch_id: int) -> None:
    """Cancel the batch: its open rows are free for later batches; the outcome offers Undo."""
    try:
        n = cache.ledger().cancel(batch_id, actor=actor(), origin="app")
        undo = _newest_action(batch_id, "cancel")
    except LabelnextError as exc:
        st.session_state[STATUS_RESULT] = ("error", safe_text.block(exc))
        return
    cache.forget_excluded_ids()
    st.session_state[UNDO] = undo
    st.session_state[STATUS_RESULT] = (
        "success",
        f"Batch #{batch_id} cancelled: {n:,} row(s) are free for later batches.",
    )


def revert(action_id: int) -> None:
    """Undo a recorded cancel or mark (refused, naming the rows, if they were queued since)."""
    st.session_state.pop(UNDO, None)
    try:
        result = cache.ledger().revert(int(action_id), actor=actor(), origin="app")
    except LabelnextError as exc:
        st.session_state[STATUS_RESULT] = ("error", "**Not undone:**\n\n" + safe_text.block(exc))
        return
    cache.forget_excluded_ids()
    st.session_state[STATUS_RESULT] = (
        "success",
        f"Undone: batch #{result.batch_id} is {result.status} again ({result.n_rows:,} row(s)).",
    )


def reopen(batch_id: int) -> None:
    """Open a cancelled batch again, if its rows are still free."""
    try:
        result = cache.ledger().reopen(int(batch_id), actor=actor(), origin="app")
    except LabelnextError as exc:
        st.session_state[STATUS_RESULT] = ("error", "**Not reopened:**\n\n" + safe_text.block(exc))
        return
    cache.forget_excluded_ids()
    st.session_state[STATUS_RESULT] = (
        "success",
        f"Batch #{result.batch_id} reopened: {result.n_rows:,} row(s) are {result.status} again.",
    )
