"""Several processes against one ledger, on each backend: the database keeps the invariants.

The workers are plain subprocesses of tests/ledger_workers.py released together at file barriers
(tests/worker_processes.py): nothing depends on this process's ``__main__`` (which an AppTest
earlier in the session replaces), and a worker that dies fails the test within a poll, with its
exit code and output, instead of hanging it.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from _pytest.outcomes import Failed
from ledger_workers import rows_for
from worker_processes import worker_group

from labelnext.errors import BatchConflictError
from labelnext.ledger import Ledger, actions, batch_rows, batches

WORKER_SCRIPT = Path(__file__).resolve().parent / "ledger_workers.py"
N_OVERLAPPING = 6  # each takes 15 of 45 rows, overlapping both neighbours


def test_processes_submitting_at_once_never_share_a_row(ledger_url: str, tmp_path: Path) -> None:
    """The workers also open the new, empty database at once: the migration runs once."""
    pool = [f"row-{i:03d}" for i in range(45)]
    plans = [
        (f"w{i}", pool[i * 5 : i * 5 + 15], "fail" if i % 2 else "skip", None)
        for i in range(N_OVERLAPPING)
    ]
    # a double click: two submits of the same rows with the same client token
    double = [f"dbl-{i}" for i in range(10)]
    plans += [("click-1", double, "fail", "token-dbl"), ("click-2", double, "fail", "token-dbl")]

    with worker_group(tmp_path, WORKER_SCRIPT) as group:
        for name, ids, on_conflict, token in plans:
            spec = {"url": ledger_url, "ids": ids, "on_conflict": on_conflict}
            group.start(name, "submit", {**spec, "client_token": token})
        group.release("open")
        group.release("submit")
        reports = group.reports()
    assert set(reports) == {p[0] for p in plans}  # every process answered

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
        submit_actions = conn.execute(
            sa.select(actions.c.batch_id).where(actions.c.kind == "submit")
        ).scalars()
        assert sorted(submit_actions) == sorted(stored)  # one submit action per batch

    ok = {name: r for name, r in reports.items() if r["outcome"] == "ok"}
    # no batch lost, none made twice: the stored batches are exactly the reported ones
    assert set(stored) == {r["batch_id"] for r in ok.values()}
    for name, ids, _, _ in plans:
        report = reports[name]
        if report["outcome"] == "ok":
            assert stored[report["batch_id"]] == set(ids) - set(report["skipped"])
            assert report["n_rows"] == len(stored[report["batch_id"]])
            for row, holder in report["skipped"].items():
                assert row in stored[holder]
        else:
            assert report["outcome"] == "conflict"
            conflicts = report["conflicts"]
            assert conflicts and set(conflicts) <= set(ids)
            assert "Nothing was submitted" in report["message"]
            for row, holder in conflicts.items():
                assert row in stored[holder]
    assert ok["click-1"]["batch_id"] == ok["click-2"]["batch_id"]
    assert sorted([ok["click-1"]["created"], ok["click-2"]["created"]]) == [False, True]
    # the first overlapping submit to commit under "skip" got everything it asked for, at least
    assert any(r["skipped"] == {} for n, r in ok.items() if n.startswith("w"))


def test_a_process_killed_inside_the_submit_leaves_no_partial_batch(
    ledger_url: str, tmp_path: Path
) -> None:
    with Ledger(ledger_url) as ledger:
        ledger.ensure_project("shared")
    ids = [f"row-{i:04d}" for i in range(2000)]
    marker = tmp_path / "rows-inserted"
    with worker_group(tmp_path, WORKER_SCRIPT) as group:
        doomed = group.start(
            "doomed", "hang", {"url": ledger_url, "ids": ids, "marker": str(marker)}
        )
        group.wait_until(marker.exists, "sign that the doomed submit inserted its rows")
        doomed.process.send_signal(signal.SIGKILL)
        assert doomed.process.wait(timeout=30) == -signal.SIGKILL

    with Ledger(ledger_url) as ledger:
        with ledger.engine.connect() as conn:
            for table in (batches, batch_rows, actions):
                assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
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


def test_a_worker_that_dies_before_its_barrier_fails_the_test_at_once(tmp_path: Path) -> None:
    """The machinery itself: no waiting out a timeout, and the dead worker's words shown."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    started = time.monotonic()
    with worker_group(tmp_path, WORKER_SCRIPT) as group:
        for i in range(3):
            group.start(f"w{i}", "submit", {"url": url, "ids": ["a"], "on_conflict": "skip"})
        group.start("dies", "die", {"code": 7})
        with pytest.raises(Failed) as failed:
            group.release("open")
        survivors = [w.process.poll() for w in group.workers.values()]
    message = str(failed.value)
    assert "worker dies died with exit code 7" in message
    assert "dies: exiting on purpose" in message  # its stdout
    assert "boom: a worker that dies before its barrier" in message  # its stderr
    assert time.monotonic() - started < 60  # a hang guard, not a speed check
    assert None not in survivors  # the siblings waiting at the barrier were stopped


def test_workers_do_not_run_this_processes_main_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an AppTest leaves behind: ``__main__`` is some app script. Spawned multiprocessing
    children ran it (and died); plain subprocesses of the worker script never see it."""
    import sys
    import types

    app_script = tmp_path / "app_script.py"
    app_script.write_text("raise SystemExit(99)  # an app script that must not run in a worker\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(app_script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with worker_group(tmp_path, WORKER_SCRIPT) as group:
        for name, ids in (("left", ["a", "b"]), ("right", ["b", "c"])):
            group.start(name, "submit", {"url": url, "ids": ids, "on_conflict": "skip"})
        group.release("open")
        group.release("submit")
        reports = group.reports()
    assert sorted(r["outcome"] for r in reports.values()) == ["ok", "ok"]
    assert sum(r["n_rows"] for r in reports.values()) == 3  # "b" went to exactly one of them
