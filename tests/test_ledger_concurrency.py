"""Several processes against one ledger, on each backend: the database keeps the invariants."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from ledger_workers import rows_for, submit_and_hang, submit_at_the_barrier

from labelnext.errors import BatchConflictError
from labelnext.ledger import Ledger, batch_rows, batches

N_OVERLAPPING = 6  # each takes 15 of 45 rows, overlapping both neighbours
# Only a guard against a hang, not a speed check: eight spawned interpreters importing pandas and
# SQLAlchemy on a busy 2-core machine once took over two minutes to all report back.
HANG_GUARD_S = 600


def test_processes_submitting_at_once_never_share_a_row(ledger_url: str) -> None:
    """The workers also open the new, empty database at once: the migration runs once."""
    pool = [f"row-{i:03d}" for i in range(45)]
    plans = [
        (f"w{i}", pool[i * 5 : i * 5 + 15], "fail" if i % 2 else "skip", None)
        for i in range(N_OVERLAPPING)
    ]
    # a double click: two submits of the same rows with the same client token
    double = [f"dbl-{i}" for i in range(10)]
    plans += [("click-1", double, "fail", "token-dbl"), ("click-2", double, "fail", "token-dbl")]

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(plans))
    results = ctx.Queue()
    workers = [
        ctx.Process(target=submit_at_the_barrier, args=(ledger_url, barrier, results, *plan))
        for plan in plans
    ]
    for worker in workers:
        worker.start()
    reports = {}
    for _ in workers:
        report = results.get(timeout=HANG_GUARD_S)
        reports[report[0]] = report
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    errors = [r for r in reports.values() if r[1] == "error"]
    assert errors == []
    assert len(reports) == len(plans)  # every process answered

    with Ledger(ledger_url) as ledger, ledger.engine.connect() as conn:
        shared_twice = conn.execute(
            sa.select(batch_rows.c.data_row_id)
            .where(batch_rows.c.status == "open")
            .group_by(batch_rows.c.project_id, batch_rows.c.data_row_id)
            .having(sa.func.count() > 1)
        ).all()
        assert shared_twice == []
        stored = {
            batch_id: set(ledger.batch_rows(batch_id)["data_row_id"])
            for batch_id in conn.execute(sa.select(batches.c.id)).scalars()
        }

    ok = {name: r for name, r in reports.items() if r[1] == "ok"}
    # no batch lost, none made twice: the stored batches are exactly the reported ones
    assert set(stored) == {r[2] for r in ok.values()}
    for name, ids, _, _ in plans:
        report = reports[name]
        if report[1] == "ok":
            _, _, batch_id, n_rows, skipped, _ = report
            assert stored[batch_id] == set(ids) - set(skipped)
            assert n_rows == len(stored[batch_id])
            for row, holder in skipped.items():
                assert row in stored[holder]
        else:
            _, _, conflicts, message = report
            assert conflicts and set(conflicts) <= set(ids)
            assert "Nothing was submitted" in message
            for row, holder in conflicts.items():
                assert row in stored[holder]
    assert ok["click-1"][2] == ok["click-2"][2]
    assert sorted([ok["click-1"][5], ok["click-2"][5]]) == [False, True]
    # the first overlapping submit to commit under "skip" got everything it asked for, at least
    assert any(r[4] == {} for n, r in ok.items() if n.startswith("w"))


def test_a_process_killed_inside_the_submit_leaves_no_partial_batch(
    ledger_url: str, tmp_path: Path
) -> None:
    with Ledger(ledger_url) as ledger:
        ledger.ensure_project("shared")
    ids = [f"row-{i:04d}" for i in range(2000)]
    marker = tmp_path / "rows-inserted"
    ctx = multiprocessing.get_context("spawn")
    doomed = ctx.Process(target=submit_and_hang, args=(ledger_url, ids, str(marker)))
    doomed.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert doomed.is_alive(), "the submitting process died before inserting its rows"
        assert time.monotonic() < deadline, "the submitting process never inserted its rows"
        time.sleep(0.02)
    assert doomed.pid is not None
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.join(timeout=30)
    assert doomed.exitcode == -signal.SIGKILL

    with Ledger(ledger_url) as ledger:
        with ledger.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(batches)).scalar() == 0
            assert conn.execute(sa.select(sa.func.count()).select_from(batch_rows)).scalar() == 0
        assert ledger.excluded_ids("shared") == frozenset()
        # the lock died with the process: the same rows go through now
        result = ledger.submit(
            project="shared",
            name="after the crash",
            rows=rows_for(ids),
            created_by="ana",
            strategy="margin",
            run_id=None,
        )
        assert result.n_rows == len(ids)
        with pytest.raises(BatchConflictError, match=r"2000 row\(s\) are already in an open"):
            ledger.submit(
                project="shared",
                name="again",
                rows=rows_for(ids),
                created_by="ana",
                strategy="margin",
                run_id=None,
            )
