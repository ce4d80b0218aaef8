"""Status changes reported back from labeling: exported, labeled (a batch or some rows), cancelled.

Each function runs inside the write transaction :class:`~labelnext.ledger.Ledger` opens.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from labelnext.errors import LedgerError
from labelnext.ledger.engine import chunks, now
from labelnext.ledger.queries import require_batch
from labelnext.ledger.schema import batch_rows, batches

__all__ = ["cancel", "mark_exported", "mark_labeled"]


def mark_exported(conn: Connection, batch_id: int) -> None:
    """See :meth:`labelnext.ledger.Ledger.mark_exported`."""
    require_batch(conn, batch_id)
    conn.execute(
        batches.update()
        .where(batches.c.id == batch_id, batches.c.status == "queued")
        .values(status="exported")
    )


def mark_labeled(conn: Connection, batch_id: int, rows: Iterable[str] | None = None) -> int:
    """See :meth:`labelnext.ledger.Ledger.mark_labeled`."""
    wanted = None if rows is None else sorted({str(r) for r in rows})
    status = require_batch(conn, batch_id)
    if status == "cancelled":
        raise LedgerError(f"batch {batch_id} is cancelled; its rows cannot be marked labeled")
    condition = sa.and_(batch_rows.c.batch_id == batch_id, batch_rows.c.status == "open")
    if wanted is not None:
        known: set[str] = set()
        for known_chunk in chunks(wanted):
            known.update(
                conn.execute(
                    sa.select(batch_rows.c.data_row_id).where(
                        batch_rows.c.batch_id == batch_id,
                        batch_rows.c.data_row_id.in_(known_chunk),
                    )
                ).scalars()
            )
        unknown = [r for r in wanted if r not in known]
        if unknown:
            shown = ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else "")
            raise LedgerError(f"rows: {len(unknown)} row(s) are not in batch {batch_id}: {shown}")
    labeled_at = now()
    changed = 0
    parts: list[list[str] | None] = [None] if wanted is None else list(chunks(wanted))
    for chunk in parts:
        where = condition if chunk is None else condition & batch_rows.c.data_row_id.in_(chunk)
        result = conn.execute(
            batch_rows.update().where(where).values(status="labeled", labeled_at=labeled_at)
        )
        changed += int(result.rowcount)
    still_open = conn.execute(
        sa.select(sa.func.count()).where(
            batch_rows.c.batch_id == batch_id, batch_rows.c.status == "open"
        )
    ).scalar_one()
    if still_open == 0:
        conn.execute(batches.update().where(batches.c.id == batch_id).values(status="labeled"))
    return changed


def cancel(conn: Connection, batch_id: int) -> int:
    """See :meth:`labelnext.ledger.Ledger.cancel`."""
    status = require_batch(conn, batch_id)
    if status == "labeled":
        raise LedgerError(f"batch {batch_id} is labeled; a labeled batch cannot be cancelled")
    freed = conn.execute(
        batch_rows.update()
        .where(batch_rows.c.batch_id == batch_id, batch_rows.c.status == "open")
        .values(status="cancelled")
    ).rowcount
    conn.execute(batches.update().where(batches.c.id == batch_id).values(status="cancelled"))
    return int(freed)
