"""The actions table: every write to a batch, who made it, from where, and what undid it.

Each function takes a connection inside the transaction that makes the change, so an action is
stored exactly when its change is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from labelnext.ledger.engine import now
from labelnext.ledger.schema import actions, batches, projects

__all__ = ["ACTION_COLUMNS", "REVERTIBLE", "actions_frame", "claim", "find", "latest", "record"]

#: Kinds :meth:`labelnext.ledger.Ledger.revert` undoes.
REVERTIBLE = ("mark_labeled", "cancel")

#: The columns of :meth:`labelnext.ledger.Ledger.actions`.
ACTION_COLUMNS = (
    "action_id",
    "at",
    "kind",
    "batch_id",
    "batch_name",
    "project",
    "actor",
    "origin",
    "n_rows",
    "reverted_by",
    "revertible",
    "details",
)


def record(
    conn: Connection,
    *,
    batch_id: int | None,
    project_id: int,
    kind: str,
    actor: str | None,
    origin: str,
    details: Mapping[str, Any],
) -> int:
    """Store one action; return its id."""
    inserted = conn.execute(
        actions.insert().values(
            batch_id=batch_id,
            project_id=project_id,
            kind=kind,
            actor=actor,
            origin=origin,
            at=now(),
            details=json.dumps(dict(details), sort_keys=True),
            reverted_by=None,
        )
    )
    return int(inserted.inserted_primary_key[0])  # type: ignore[index]


def claim(conn: Connection, action_id: int, by: int) -> bool:
    """Mark ``action_id`` reverted by ``by``, unless something reverted it already."""
    result = conn.execute(
        actions.update()
        .where(actions.c.id == action_id, actions.c.reverted_by.is_(None))
        .values(reverted_by=by)
    )
    return int(result.rowcount) == 1


def find(conn: Connection, action_id: int) -> dict[str, Any] | None:
    """One action as a dict (``details`` parsed), or None."""
    found = conn.execute(sa.select(actions).where(actions.c.id == action_id)).mappings().first()
    return None if found is None else {**found, "details": json.loads(found["details"])}


def latest(conn: Connection, batch_id: int, kind: str) -> dict[str, Any] | None:
    """The newest action of ``kind`` on the batch that nothing reverted, or None."""
    found = conn.execute(
        sa.select(actions.c.id)
        .where(
            actions.c.batch_id == batch_id,
            actions.c.kind == kind,
            actions.c.reverted_by.is_(None),
        )
        .order_by(actions.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else find(conn, int(found))


def actions_frame(
    conn: Connection, batch_id: int | None = None, project: str | None = None
) -> pd.DataFrame:
    """See :meth:`labelnext.ledger.Ledger.actions`."""
    query = (
        sa.select(
            actions.c.id.label("action_id"),
            actions.c.at,
            actions.c.kind,
            actions.c.batch_id,
            batches.c.name.label("batch_name"),
            projects.c.name.label("project"),
            actions.c.actor,
            actions.c.origin,
            actions.c.reverted_by,
            actions.c.details,
        )
        .outerjoin(batches, batches.c.id == actions.c.batch_id)
        .join(projects, projects.c.id == actions.c.project_id)
        .order_by(actions.c.at.desc(), actions.c.id.desc())
    )
    if batch_id is not None:
        query = query.where(actions.c.batch_id == batch_id)
    if project is not None:
        query = query.where(projects.c.name == project)
    frame = pd.DataFrame(
        conn.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
    )
    details = [json.loads(d) for d in frame["details"]]
    frame["details"] = details
    frame["n_rows"] = pd.Series([int(d.get("n_rows", 0)) for d in details], dtype="int64")
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["reverted_by"] = frame["reverted_by"].astype("Int64")
    frame["actor"] = frame["actor"].astype(object).where(frame["actor"].notna(), None)
    frame["revertible"] = frame["kind"].isin(REVERTIBLE) & frame["reverted_by"].isna()
    frame["action_id"] = frame["action_id"].astype("int64")
    # an import's rows in no batch are recorded with no batch: <NA>
    frame["batch_id"] = frame["batch_id"].astype("Int64")
    return frame[list(ACTION_COLUMNS)]
