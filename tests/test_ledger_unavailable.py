"""The ledger down is never invisible or fatal: LedgerUnavailableError, nothing half-written,
and the same Ledger working again once the database is back.

PostgreSQL is "taken down" by cutting a TCP relay the test runs in front of the shared server
(tests/tcp_proxy.py); the server itself is never stopped. The bounds on elapsed time below only
guard against a hang (minutes), they are not speed checks.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from tcp_proxy import TcpProxy, free_port

import labelnext.ledger.core as core_module
from labelnext.ledger import Ledger, LedgerUnavailableError, actions, batch_rows, batches
from labelnext.ledger import audit as audit_module
from labelnext.ledger.engine import PG_CONNECT_TIMEOUT_S, unavailable_reason

HANG_GUARD_S = 20  # far above the 5 s connect timeout, far below "minutes"


def rows(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"data_row_id": ids, "score": [0.5] * len(ids)})


def submit(ledger: Ledger, ids: list[str], name: str = "batch") -> int:
    return ledger.submit(
        project="cats", name=name, rows=rows(ids), created_by="ana", strategy="s", run_id=None
    ).batch_id


def counts(ledger: Ledger) -> tuple[int, int, int]:
    with ledger.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (batches, batch_rows, actions)
        )


# -- opening a ledger that is not there --------------------------------------------------------


def test_a_closed_port_fails_at_once_naming_the_ledger_without_its_password() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(LedgerUnavailableError, match=r"unavailable \(open\): .*refused") as err:
        Ledger(f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{port}/test")
    assert time.monotonic() - started < HANG_GUARD_S
    message = str(err.value)
    assert f"Ledger('postgresql+psycopg://postgres:***@127.0.0.1:{port}/test')" in message
    assert "s3cret" not in message
    assert "Nothing was half-written" in message
    assert err.value.operation == "open"
    assert "refused" in err.value.reason


def test_a_server_that_never_answers_gives_up_after_the_connect_timeout() -> None:
    with socket.socket() as silent:  # accepts TCP connections (backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(LedgerUnavailableError, match=r"unavailable \(open\): .*timeout"):
            Ledger(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
        elapsed = time.monotonic() - started
    assert PG_CONNECT_TIMEOUT_S - 1 <= elapsed < HANG_GUARD_S


def test_the_urls_own_connect_timeout_wins() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(LedgerUnavailableError, match=r"timeout"):
            Ledger(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=2")
        assert time.monotonic() - started < PG_CONNECT_TIMEOUT_S


def test_a_sqlite_path_that_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(
        LedgerUnavailableError,
        match=r"unavailable \(open\): unable to open database file \(check that the file's "
        r"folder exists and can be written\)",
    ):
        Ledger(f"sqlite:///{tmp_path / 'a-folder'}")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is a text file, not SQLite " * 100)
    with pytest.raises(LedgerUnavailableError, match=r"file is not a database"):
        Ledger(f"sqlite:///{path}")
    assert path.read_bytes().startswith(b"this is a text file")  # left as it was


# -- SQLite: a lock held past the busy timeout -------------------------------------------------


def test_a_sqlite_lock_held_past_the_busy_timeout_then_released(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger(f"sqlite:///{path}") as setup:
        submit(setup, ["a"])
    ledger = Ledger(f"sqlite:///{path}?timeout=0.3")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
        with pytest.raises(
            LedgerUnavailableError,
            match=r"unavailable \(submit\): database is locked \(another process held the write "
            r"lock longer than the busy timeout\)",
        ):
            submit(ledger, ["b"])
        assert ledger.excluded_ids("cats") == {"a"}  # readers go on under WAL
        holder.execute("ROLLBACK")
        submit(ledger, ["b"])  # the same object, once the lock is gone
        assert ledger.excluded_ids("cats") == {"a", "b"}
    finally:
        holder.close()
        ledger.close()


def test_a_busy_timeout_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    from labelnext.ledger import BatchInputError

    with pytest.raises(BatchInputError, match=r"url: timeout='soon' is not a number of seconds"):
        Ledger(f"sqlite:///{tmp_path / 'l.db'}?timeout=soon")


# -- PostgreSQL: the connection dropped mid-session --------------------------------------------


@pytest.fixture
def relayed(pg_schema_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A relay to the test server and the schema's URL through it."""
    url = sa.make_url(pg_schema_url)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)


@pytest.mark.postgres
def test_a_dropped_server_is_reported_by_every_call_and_the_ledger_recovers(
    relayed: tuple[TcpProxy, str], pg_schema_url: str
) -> None:
    proxy, url = relayed
    ledger = Ledger(url)
    first = submit(ledger, ["a", "b"])
    proxy.stop()
    calls: dict[str, Callable[[], Any]] = {
        "submit": lambda: submit(ledger, ["c"]),
        "excluded_ids": lambda: ledger.excluded_ids("cats"),  # never "nothing is queued"
        "batches": ledger.batches,
        "batch_rows": lambda: ledger.batch_rows(first),
        "mark_labeled": lambda: ledger.mark_labeled(first),
        "cancel": lambda: ledger.cancel(first),
        "actions": ledger.actions,
        "projects": ledger.projects,
    }
    for operation, call in calls.items():
        started = time.monotonic()
        with pytest.raises(LedgerUnavailableError, match=rf"unavailable \({operation}\): ") as err:
            call()
        assert time.monotonic() - started < HANG_GUARD_S
        assert f"127.0.0.1:{proxy.port}/test" in err.value.ledger
    with pytest.raises(LedgerUnavailableError, match=r"unavailable \(open\)"):
        Ledger(url)  # a new process starting now fails as clearly

    with Ledger(pg_schema_url) as direct:  # around the relay: nothing of the failed calls
        assert counts(direct) == (1, 2, 1)
        assert direct.batch(first).status == "queued"

    proxy.start()
    assert ledger.excluded_ids("cats") == {"a", "b"}  # the same object works again
    second = submit(ledger, ["c"])
    assert ledger.batch(second).n_rows == 1
    ledger.close()


@pytest.mark.postgres
def test_a_connection_lost_inside_a_submit_stores_nothing(
    relayed: tuple[TcpProxy, str], pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, url = relayed
    ledger = Ledger(url)
    submit(ledger, ["kept"])
    # the rows and the action are inserted; the connection dies before COMMIT
    monkeypatch.setattr(core_module, "hold_before_commit", proxy.stop)
    with pytest.raises(LedgerUnavailableError, match=r"unavailable \(submit\)"):
        submit(ledger, [f"r{i}" for i in range(500)], name="lost")
    monkeypatch.undo()
    with Ledger(pg_schema_url) as direct:
        assert counts(direct) == (1, 1, 1)
        assert direct.excluded_ids("cats") == {"kept"}
    proxy.start()
    again = submit(ledger, [f"r{i}" for i in range(500)], name="again")  # the rows are free
    assert ledger.batch(again).n_rows == 500
    ledger.close()


@pytest.mark.postgres
@pytest.mark.parametrize("change", ["mark_labeled", "cancel", "mark_exported"])
def test_a_connection_lost_inside_a_status_change_changes_nothing(
    relayed: tuple[TcpProxy, str],
    pg_schema_url: str,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    proxy, url = relayed
    ledger = Ledger(url)
    batch_id = submit(ledger, ["a", "b"])
    record = audit_module.record

    def cut_then_record(*args: Any, **kwargs: Any) -> int:
        proxy.stop()  # the rows are updated; the action insert meets a dead connection
        return record(*args, **kwargs)

    monkeypatch.setattr(audit_module, "record", cut_then_record)
    with pytest.raises(LedgerUnavailableError, match=rf"unavailable \({change}\)"):
        getattr(ledger, change)(batch_id)
    monkeypatch.undo()
    with Ledger(pg_schema_url) as direct:
        assert direct.batch(batch_id).status == "queued"
        assert direct.batch_rows(batch_id)["status"].tolist() == ["open", "open"]
        assert counts(direct) == (1, 2, 1)
    proxy.start()
    getattr(ledger, change)(batch_id)
    assert len(ledger.actions(batch_id)) == 2
    ledger.close()


# -- what counts as "down" ---------------------------------------------------------------------


def _wrapped(error: Exception, cls: type[sa.exc.DBAPIError]) -> sa.exc.DBAPIError:
    return cls("SELECT 1", {}, error)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (_wrapped(sqlite3.OperationalError("disk I/O error"), sa.exc.OperationalError), "disk"),
        (
            _wrapped(sqlite3.OperationalError("database or disk is full"), sa.exc.OperationalError),
            "free some disk space",
        ),
        (sqlite3.OperationalError("database is locked"), "busy timeout"),
        (sa.exc.TimeoutError("QueuePool limit reached"), "no connection was free in time"),
        (_wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), sa.exc.IntegrityError), None),
        (_wrapped(sqlite3.ProgrammingError("syntax error"), sa.exc.ProgrammingError), None),
        (ValueError("not a database error"), None),
    ],
)
def test_only_lost_or_refused_connections_count_as_unavailable(
    exc: Exception, reason: str | None
) -> None:
    found = unavailable_reason(exc)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


def test_an_error_that_is_not_an_outage_is_not_disguised_as_one(ledger: Ledger) -> None:
    """The ledger's own rules still speak for themselves (an integrity error is not 'down')."""
    from labelnext.errors import BatchConflictError

    submit(ledger, ["a"])
    with pytest.raises(BatchConflictError, match=r"a \(batch"):
        submit(ledger, ["a"])
