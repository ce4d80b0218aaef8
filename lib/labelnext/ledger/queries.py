"""Reading the ledger: each function takes an open connection and returns plain values.

:class:`~labelnext.ledger.Ledger` opens the transaction and calls these, so that a query can also
run inside a write transaction (a submit looks up its conflicts in the one that failed).
"""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from labelnext.errors import BatchInputError, LedgerError
from labelnext.ledger.engine import as_utc, chunks
from labelnext.ledger.results import BatchInfo, SubmitResult
from labelnext.ledger.schema import (
    ROW_STATUSES,
    batch_rows,
    batches,
    labels,
    model_runs,
    projects,
)

__all__ = [
    "batch_for_token",
    "batch_info",
    "batch_project",
    "batch_rows_frame",
    "batches_frame",
    "cancelled_rows",
    "excluded",
    "last_project",
    "locked_batch",
    "open_conflicts",
    "project_name",
    "project_names",
    "require_batch",
    "row_status",
    "runs_frame",
]


def project_names(conn: Connection) -> list[str]:
    """Names of all projects, sorted."""
    return list(conn.execute(sa.select(projects.c.name).order_by(projects.c.name)).scalars())


def last_project(conn: Connection) -> str | None:
    """The project of the newest batch, or None when there is no batch."""
    query = (
        sa.select(projects.c.name)
        .join(batches, batches.c.project_id == projects.c.id)
        .order_by(batches.c.created_at.desc(), batches.c.id.desc())
        .limit(1)
    )
    found = conn.execute(query).scalar_one_or_none()
    return None if found is None else str(found)


def runs_frame(conn: Connection) -> pd.DataFrame:
    """See :meth:`labelnext.ledger.Ledger.runs`."""
    query = sa.select(
        model_runs.c.id.label("run_id"),
        model_runs.c.name,
        model_runs.c.model,
        model_runs.c.version,
        model_runs.c.source,
        model_runs.c.content_hash,
        model_runs.c.imported_at,
        model_runs.c.row_count,
    ).order_by(model_runs.c.imported_at.desc(), model_runs.c.id.desc())
    frame = pd.DataFrame(
        conn.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
    )
    frame["imported_at"] = pd.to_datetime(frame["imported_at"], utc=True)
    return frame


def batches_frame(conn: Connection, project: str | None = None) -> pd.DataFrame:
    """See :meth:`labelnext.ledger.Ledger.batches`."""
    counts = (
        sa.select(
            batch_rows.c.batch_id,
            sa.func.count().label("n_rows"),
            *[
                sa.func.sum(sa.case((batch_rows.c.status == s, 1), else_=0)).label(f"n_{s}")
                for s in ROW_STATUSES
            ],
        )
        .group_by(batch_rows.c.batch_id)
        .subquery()
    )
    query = (
        sa.select(
            batches.c.id.label("batch_id"),
            batches.c.name,
            projects.c.name.label("project"),
            batches.c.priority,
            batches.c.status,
            sa.func.coalesce(counts.c.n_rows, 0).label("n_rows"),
            sa.func.coalesce(counts.c.n_open, 0).label("n_open"),
            sa.func.coalesce(counts.c.n_labeled, 0).label("n_labeled"),
            sa.func.coalesce(counts.c.n_cancelled, 0).label("n_cancelled"),
            batches.c.created_by,
            batches.c.created_at,
            batches.c.strategy,
            batches.c.strategy_params,
            batches.c.model_run_id.label("run_id"),
            model_runs.c.name.label("run_name"),
            batches.c.note,
            batches.c.client_token,
            batches.c.task,
            batches.c.method,
        )
        .join(projects, projects.c.id == batches.c.project_id)
        .outerjoin(counts, counts.c.batch_id == batches.c.id)
        .outerjoin(model_runs, model_runs.c.id == batches.c.model_run_id)
        .order_by(batches.c.created_at.desc(), batches.c.id.desc())
    )
    if project is not None:
        query = query.where(projects.c.name == project)
    frame = pd.DataFrame(
        conn.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
    )
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["strategy_params"] = [json.loads(p) for p in frame["strategy_params"]]
    for column in ("batch_id", "priority", "n_rows", "n_open", "n_labeled", "n_cancelled"):
        frame[column] = frame[column].astype("int64")
    frame["run_id"] = frame["run_id"].astype("Int64")
    return frame


def batch_info(conn: Connection, batch_id: int) -> BatchInfo:
    """See :meth:`labelnext.ledger.Ledger.batch`."""
    query = (
        sa.select(
            batches,
            projects.c.name.label("project"),
            model_runs.c.name.label("run_name"),
            model_runs.c.model.label("run_model"),
            model_runs.c.version.label("run_version"),
        )
        .join(projects, projects.c.id == batches.c.project_id)
        .outerjoin(model_runs, model_runs.c.id == batches.c.model_run_id)
        .where(batches.c.id == batch_id)
    )
    found = conn.execute(query).mappings().first()
    if found is None:
        raise LedgerError(f"batch_id: there is no batch {batch_id}")
    n_rows = conn.execute(
        sa.select(sa.func.count()).where(batch_rows.c.batch_id == batch_id)
    ).scalar_one()
    return BatchInfo(
        batch_id=int(found["id"]),
        name=found["name"],
        project=found["project"],
        priority=int(found["priority"]),
        status=found["status"],
        note=found["note"],
        created_by=found["created_by"],
        created_at=as_utc(found["created_at"]),
        strategy=found["strategy"],
        strategy_params=json.loads(found["strategy_params"]),
        run_id=found["model_run_id"],
        run_name=found["run_name"],
        run_model=found["run_model"],
        run_version=found["run_version"],
        client_token=found["client_token"],
        n_rows=int(n_rows),
        task=found["task"],
        classes=tuple(json.loads(found["classes"])),
        method=found["method"],
        method_params=json.loads(found["method_params"]),
        embedding_source=found["embedding_source"],
    )


def batch_rows_frame(conn: Connection, batch_id: int) -> pd.DataFrame:
    """See :meth:`labelnext.ledger.Ledger.batch_rows`."""
    require_batch(conn, batch_id)
    query = (
        sa.select(
            batch_rows.c.data_row_id,
            batch_rows.c.image,
            batch_rows.c.rank,
            batch_rows.c.score,
            batch_rows.c.confidence,
            batch_rows.c.predicted_label,
            batch_rows.c.status,
            batch_rows.c.labeled_at,
            batch_rows.c.prediction,
        )
        .where(batch_rows.c.batch_id == batch_id)
        .order_by(batch_rows.c.rank, batch_rows.c.data_row_id)
    )
    found = conn.execute(query).all()
    frame = pd.DataFrame(found, columns=list(query.selected_columns.keys()))
    frame["rank"] = frame["rank"].astype("int64")
    for column in ("score", "confidence"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    frame["labeled_at"] = pd.to_datetime(frame["labeled_at"], utc=True)
    # from the rows themselves: pandas 3 reads a text column with NULLs as strings and NaN
    frame["prediction"] = pd.Series(
        [None if row.prediction is None else json.loads(row.prediction) for row in found],
        index=frame.index,
        dtype=object,
    )
    return frame


def excluded(conn: Connection, project: str | None = None) -> frozenset[str]:
    """See :meth:`labelnext.ledger.Ledger.excluded_ids`."""
    query = sa.select(batch_rows.c.data_row_id).where(batch_rows.c.status.in_(("open", "labeled")))
    labeled = sa.select(labels.c.data_row_id).where(labels.c.superseded_at.is_(None))
    if project is not None:
        query = query.join(projects, projects.c.id == batch_rows.c.project_id).where(
            projects.c.name == project
        )
        labeled = labeled.join(projects, projects.c.id == labels.c.project_id).where(
            projects.c.name == project
        )
    return frozenset(conn.execute(sa.union(query, labeled)).scalars())


def row_status(conn: Connection, project: str) -> dict[str, frozenset[str]]:
    """See :meth:`labelnext.ledger.Ledger.row_status`."""
    query = (
        sa.select(batch_rows.c.data_row_id, batch_rows.c.status)
        .join(projects, projects.c.id == batch_rows.c.project_id)
        .where(projects.c.name == project, batch_rows.c.status.in_(("open", "labeled")))
    )
    found: dict[str, set[str]] = {"open": set(), "labeled": set()}
    for data_row_id, status in conn.execute(query):
        found[status].add(data_row_id)
    queued = frozenset(found["open"])
    return {"queued": queued, "labeled": frozenset(found["labeled"] - queued)}


def require_batch(conn: Connection, batch_id: int) -> str:
    """The status of batch ``batch_id``.

    Raises
    ------
    LedgerError
        If there is no such batch.
    """
    status = conn.execute(
        sa.select(batches.c.status).where(batches.c.id == batch_id)
    ).scalar_one_or_none()
    if status is None:
        raise LedgerError(f"batch_id: there is no batch {batch_id}")
    return str(status)


def locked_batch(conn: Connection, batch_id: int) -> tuple[str, int]:
    """The status and project id of batch ``batch_id``, holding its row lock to the end of the
    transaction (PostgreSQL; SQLite writers hold the database's write lock already).

    Raises
    ------
    LedgerError
        If there is no such batch.
    """
    found = conn.execute(
        sa.select(batches.c.status, batches.c.project_id)
        .where(batches.c.id == batch_id)
        .with_for_update()
    ).first()
    if found is None:
        raise LedgerError(f"batch_id: there is no batch {batch_id}")
    return str(found.status), int(found.project_id)


def batch_project(conn: Connection, batch_id: int) -> tuple[str, int]:
    """The status and project id of batch ``batch_id`` (no lock; see :func:`locked_batch`)."""
    found = conn.execute(
        sa.select(batches.c.status, batches.c.project_id).where(batches.c.id == batch_id)
    ).first()
    if found is None:
        raise LedgerError(f"batch_id: there is no batch {batch_id}")
    return str(found.status), int(found.project_id)


def project_id(conn: Connection, name: str) -> int | None:
    """The id of project ``name`` (None if there is none)."""
    found = conn.execute(sa.select(projects.c.id).where(projects.c.name == name)).scalar()
    return None if found is None else int(found)


def project_name(conn: Connection, project_id: int) -> str:
    """The name of project ``project_id``."""
    return str(
        conn.execute(sa.select(projects.c.name).where(projects.c.id == project_id)).scalar_one()
    )


def batch_for_token(conn: Connection, client_token: str, project: str) -> SubmitResult | None:
    query = (
        sa.select(batches.c.id, projects.c.name)
        .join(projects, projects.c.id == batches.c.project_id)
        .where(batches.c.client_token == client_token)
    )
    found = conn.execute(query).first()
    if found is None:
        return None
    n_rows = conn.execute(
        sa.select(sa.func.count()).where(batch_rows.c.batch_id == found.id)
    ).scalar_one()
    if found.name != project:
        raise BatchInputError(
            f"client_token: {client_token!r} was already used for batch {found.id} of "
            f"project {found.name!r}, not {project!r}"
        )
    return SubmitResult(int(found.id), int(n_rows), {}, False)


def open_conflicts(
    conn: Connection, project_id: int, ids: list[str], *, besides: int | None = None
) -> dict[str, int]:
    """Each of ``ids`` that is in an open batch of the project (other than batch ``besides``),
    with that batch's id."""
    conflicts: dict[str, int] = {}
    for chunk in chunks(ids):
        query = sa.select(batch_rows.c.data_row_id, batch_rows.c.batch_id).where(
            batch_rows.c.project_id == project_id,
            batch_rows.c.status == "open",
            batch_rows.c.data_row_id.in_(chunk),
        )
        if besides is not None:
            query = query.where(batch_rows.c.batch_id != besides)
        conflicts.update({row: int(batch) for row, batch in conn.execute(query)})
    return conflicts


def cancelled_rows(conn: Connection, batch_id: int) -> list[str]:
    """The data_row_ids a cancel freed from the batch (status ``cancelled``)."""
    return list(
        conn.execute(
            sa.select(batch_rows.c.data_row_id).where(
                batch_rows.c.batch_id == batch_id, batch_rows.c.status == "cancelled"
            )
        ).scalars()
    )
