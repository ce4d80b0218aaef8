"""Status changes reported back from labeling, each recorded as an action, and their undoing.

Exported, labeled (a batch or some rows), cancelled; reopened (a cancelled batch back to open) and
unmarked (a mark labeled reverted). Each function runs inside the write transaction
:class:`~labelnext.ledger.Ledger` opens, takes the batch's row lock first (``SELECT ... FOR
UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers) so that two
people changing one batch at once take turns, and records its action in the same transaction.

Rows put back to ``open`` (reopen, unmark) go through the partial unique index: if another open
batch of the project holds one of them now, the database refuses the update and the caller
reports which rows and batches (:class:`~labelnext.errors.ReopenConflictError`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from labelnext.errors import LedgerError
from labelnext.ledger import audit
from labelnext.ledger.engine import chunks, now
from labelnext.ledger.queries import locked_batch
from labelnext.ledger.results import ActionResult
from labelnext.ledger.schema import OPEN_BATCH_STATUSES, batch_rows, batches

__all__ = [
    "cancel",
    "label_batch_if_done",
    "mark_exported",
    "mark_labeled",
    "move_rows",
    "reopen",
    "revert",
    "revertible",
]

_NOT_REVERTIBLE = {
    "submit": "to take a batch back, cancel it",
    "export": "files handed out cannot be taken back",
    "reopen": "to undo it, cancel the batch again",
    "unmark": "to undo it, mark the rows labeled again",
    "import_labels": "import a corrected file: earlier labels are kept as history",
}


# Looking rows up by id within a batch, chunk after chunk: the (project_id, data_row_id) index finds
# each id, while the batch index would scan the whole batch once per chunk (SQLite, which keeps no
# statistics, picks it: a 100,000-row revert took over a minute). An expression is no index key.
_NOT_BY_BATCH_INDEX = batch_rows.c.batch_id + 0


def _set_status(conn: Connection, batch_id: int, status: str) -> None:
    conn.execute(batches.update().where(batches.c.id == batch_id).values(status=status))


def _open_rows(conn: Connection, batch_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                batch_rows.c.batch_id == batch_id, batch_rows.c.status == "open"
            )
        ).scalar_one()
    )


def move_rows(
    conn: Connection,
    project_id: int,
    batch_id: int,
    ids: list[str],
    *,
    before: str,
    after: str,
    labeled_at: datetime | None,
) -> list[str]:
    """Set the rows ``ids`` of a batch that have status ``before`` to ``after`` (and
    ``labeled_at``); return the ids changed."""
    changed: list[str] = []
    for chunk in chunks(ids):
        changed.extend(
            conn.execute(
                batch_rows.update()
                .where(
                    batch_rows.c.project_id == project_id,
                    _NOT_BY_BATCH_INDEX == batch_id,
                    batch_rows.c.status == before,
                    batch_rows.c.data_row_id.in_(chunk),
                )
                .values(status=after, labeled_at=labeled_at)
                .returning(batch_rows.c.data_row_id)
            ).scalars()
        )
    return changed


def label_batch_if_done(conn: Connection, batch_id: int, status: str) -> str:
    """An open batch with no open row left becomes ``labeled``; return its status now."""
    if status in OPEN_BATCH_STATUSES and _open_rows(conn, batch_id) == 0:
        _set_status(conn, batch_id, "labeled")
        return "labeled"
    return status


def mark_exported(conn: Connection, batch_id: int, actor: str | None, origin: str) -> None:
    """See :meth:`labelnext.ledger.Ledger.mark_exported`."""
    before, project_id = locked_batch(conn, batch_id)
    after = "exported" if before == "queued" else before
    if after != before:
        _set_status(conn, batch_id, after)
    audit.record(
        conn,
        batch_id=batch_id,
        project_id=project_id,
        kind="export",
        actor=actor,
        origin=origin,
        details={"from_status": before, "to_status": after},
    )


def mark_labeled(
    conn: Connection,
    batch_id: int,
    rows: Iterable[str] | None,
    actor: str | None,
    origin: str,
) -> int:
    """See :meth:`labelnext.ledger.Ledger.mark_labeled`."""
    wanted = None if rows is None else sorted(set(rows))
    before, project_id = locked_batch(conn, batch_id)
    if before == "cancelled":
        raise LedgerError(f"batch {batch_id} is cancelled; its rows cannot be marked labeled")
    condition = sa.and_(batch_rows.c.batch_id == batch_id, batch_rows.c.status == "open")
    if wanted is not None:
        known: set[str] = set()
        for known_chunk in chunks(wanted):
            known.update(
                conn.execute(
                    sa.select(batch_rows.c.data_row_id).where(
                        batch_rows.c.project_id == project_id,
                        _NOT_BY_BATCH_INDEX == batch_id,
                        batch_rows.c.data_row_id.in_(known_chunk),
                    )
                ).scalars()
            )
        unknown = [r for r in wanted if r not in known]
        if unknown:
            shown = ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else "")
            raise LedgerError(f"rows: {len(unknown)} row(s) are not in batch {batch_id}: {shown}")
    labeled_at = now()
    if wanted is None:
        changed = list(
            conn.execute(
                batch_rows.update()
                .where(condition)
                .values(status="labeled", labeled_at=labeled_at)
                .returning(batch_rows.c.data_row_id)
            ).scalars()
        )
    else:
        changed = move_rows(
            conn,
            project_id,
            batch_id,
            wanted,
            before="open",
            after="labeled",
            labeled_at=labeled_at,
        )
    after = label_batch_if_done(conn, batch_id, before)
    if changed or after != before:
        audit.record(
            conn,
            batch_id=batch_id,
            project_id=project_id,
            kind="mark_labeled",
            actor=actor,
            origin=origin,
            details={
                "data_row_ids": sorted(changed),
                "n_rows": len(changed),
                "from_status": before,
                "to_status": after,
            },
        )
    return len(changed)


def cancel(conn: Connection, batch_id: int, actor: str | None, origin: str) -> int:
    """See :meth:`labelnext.ledger.Ledger.cancel`."""
    before, project_id = locked_batch(conn, batch_id)
    if before == "labeled":
        raise LedgerError(f"batch {batch_id} is labeled; a labeled batch cannot be cancelled")
    if before == "cancelled":
        return 0  # nothing changes, nothing to record
    freed = list(
        conn.execute(
            batch_rows.update()
            .where(batch_rows.c.batch_id == batch_id, batch_rows.c.status == "open")
            .values(status="cancelled")
            .returning(batch_rows.c.data_row_id)
        ).scalars()
    )
    _set_status(conn, batch_id, "cancelled")
    audit.record(
        conn,
        batch_id=batch_id,
        project_id=project_id,
        kind="cancel",
        actor=actor,
        origin=origin,
        details={
            "data_row_ids": sorted(freed),
            "n_rows": len(freed),
            "from_status": before,
            "to_status": "cancelled",
        },
    )
    return len(freed)


def reopen(
    conn: Connection,
    batch_id: int,
    actor: str | None,
    origin: str,
    cancel_action: dict[str, Any] | None = None,
) -> ActionResult:
    """See :meth:`labelnext.ledger.Ledger.reopen` (raises IntegrityError on a taken row).

    ``cancel_action``: the cancel being reverted (default: the batch's newest unreverted one).
    """
    before, project_id = locked_batch(conn, batch_id)
    if before != "cancelled":
        raise LedgerError(
            f"batch {batch_id} is {before}, not cancelled; only a cancelled batch can be reopened"
        )
    # The rows a cancel freed are exactly the batch's rows with status "cancelled": nothing else
    # sets it, and a reopen puts them back. A batch cancelled before actions were recorded
    # (schema 0002) has no cancel action: it goes back to queued.
    cancelled_by = cancel_action or audit.latest(conn, batch_id, "cancel")
    restored = "queued"
    if cancelled_by is not None and cancelled_by["details"].get("from_status") in (
        OPEN_BATCH_STATUSES
    ):
        restored = str(cancelled_by["details"]["from_status"])
    reopened = list(
        conn.execute(
            batch_rows.update()
            .where(batch_rows.c.batch_id == batch_id, batch_rows.c.status == "cancelled")
            .values(status="open")
            .returning(batch_rows.c.data_row_id)
        ).scalars()
    )
    after = restored if reopened or _open_rows(conn, batch_id) else "labeled"
    _set_status(conn, batch_id, after)
    reverts = None if cancelled_by is None else int(cancelled_by["id"])
    action_id = audit.record(
        conn,
        batch_id=batch_id,
        project_id=project_id,
        kind="reopen",
        actor=actor,
        origin=origin,
        details={
            "data_row_ids": sorted(reopened),
            "n_rows": len(reopened),
            "from_status": before,
            "to_status": after,
            "reverts": reverts,
        },
    )
    if reverts is not None and not audit.claim(conn, reverts, action_id):
        raise LedgerError(f"action {reverts} was reverted meanwhile; nothing was changed")
    return ActionResult(action_id, "reopen", batch_id, len(reopened), after)


def revert(conn: Connection, action_id: int, actor: str | None, origin: str) -> ActionResult:
    """See :meth:`labelnext.ledger.Ledger.revert` (raises IntegrityError on a taken row)."""
    target = revertible(conn, action_id)
    batch_id = int(target["batch_id"])
    locked_batch(conn, batch_id)
    target = revertible(conn, action_id)  # again under the batch's lock: no one else reverts it
    if target["kind"] == "cancel":
        status, _ = locked_batch(conn, batch_id)
        if status != "cancelled":  # pragma: no cover - a reopen claims the cancel it undoes
            raise LedgerError(f"action {action_id}: batch {batch_id} is {status} again already")
        return reopen(conn, batch_id, actor, origin, target)
    return _unmark(conn, target, actor, origin)


def revertible(conn: Connection, action_id: int) -> dict[str, Any]:
    """The action ``action_id`` if it can be reverted; else a LedgerError saying why not."""
    target = audit.find(conn, action_id)
    if target is None:
        raise LedgerError(f"action_id: there is no action {action_id}")
    kind = str(target["kind"])
    if kind in _NOT_REVERTIBLE:
        raise LedgerError(
            f"action {action_id} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} of batch "
            f"{target['batch_id']}, which cannot be "
            f"reverted ({_NOT_REVERTIBLE[kind]})"
        )
    if target["reverted_by"] is not None:
        raise LedgerError(
            f"action {action_id} ({kind} of batch {target['batch_id']}) was already reverted by "
            f"action {target['reverted_by']}"
        )
    return target


def _unmark(
    conn: Connection, target: dict[str, Any], actor: str | None, origin: str
) -> ActionResult:
    """Undo a mark_labeled: its rows back to open, the batch's status back."""
    action_id = int(target["id"])
    batch_id = int(target["batch_id"])
    before, project_id = locked_batch(conn, batch_id)
    if before == "cancelled":
        cancel_action = audit.latest(conn, batch_id, "cancel")
        which = "" if cancel_action is None else f" (action {cancel_action['id']})"
        raise LedgerError(
            f"action {action_id}: batch {batch_id} was cancelled after it{which}; reopen the "
            "batch first, then revert the mark"
        )
    unmarked = move_rows(
        conn,
        project_id,
        batch_id,
        list(target["details"].get("data_row_ids", [])),
        before="labeled",
        after="open",
        labeled_at=None,
    )
    after = before
    if before == "labeled" and _open_rows(conn, batch_id):
        restored = target["details"].get("from_status")
        after = str(restored) if restored in OPEN_BATCH_STATUSES else "queued"
        _set_status(conn, batch_id, after)
    new_id = audit.record(
        conn,
        batch_id=batch_id,
        project_id=project_id,
        kind="unmark",
        actor=actor,
        origin=origin,
        details={
            "data_row_ids": sorted(unmarked),
            "n_rows": len(unmarked),
            "from_status": before,
            "to_status": after,
            "reverts": action_id,
        },
    )
    if not audit.claim(conn, action_id, new_id):  # pragma: no cover - serialised by the lock
        raise LedgerError(f"action {action_id} was reverted meanwhile; nothing was changed")
    return ActionResult(new_id, "unmark", batch_id, len(unmarked), after)
