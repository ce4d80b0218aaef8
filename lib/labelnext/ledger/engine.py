"""Engine set-up for the two backends, and the small helpers every query module shares.

* **SQLite**: WAL journal and a busy timeout let several processes share one file; every write
  transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue for the lock instead of
  failing half-way.
* **PostgreSQL** through psycopg 3 (``postgresql://`` is taken to mean ``postgresql+psycopg``).
  Connecting gives up after :data:`PG_CONNECT_TIMEOUT_S` seconds and TCP keepalives notice a
  server that vanished without closing the connection, unless the URL sets those parameters
  itself (``?connect_timeout=10``); the pool checks a connection before handing it out
  (``pool_pre_ping``), so a ledger reconnects by itself once the server is back.

:func:`unavailable_reason` tells a lost or refused connection (the ledger is *down*) from every
other database error; :class:`~labelnext.ledger.Ledger` turns the former into
:class:`~labelnext.errors.LedgerUnavailableError`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from labelnext.config import settings
from labelnext.errors import BatchInputError

__all__ = [
    "PG_CONNECT_TIMEOUT_S",
    "SQLITE_BUSY_TIMEOUT_S",
    "as_utc",
    "chunks",
    "create_engine",
    "default_url",
    "integrity_errors",
    "is_in_memory",
    "now",
    "operational_errors",
    "sqlstate",
    "unavailable_reason",
]

IN_CHUNK = 500  # ids per IN (...) query; far below SQLite's bound-parameter limit
#: Seconds a PostgreSQL connection attempt may take (libpq's ``connect_timeout``).
PG_CONNECT_TIMEOUT_S = 5
#: libpq parameters that notice a dead server: keepalive probes after 10 s idle, every 5 s, 3
#: missed = dead; data unacknowledged for 20 s = dead. A slow query is not affected.
_PG_LIVENESS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}
#: Seconds a SQLite writer waits for another process's write lock before giving up (the URL's
#: ``?timeout=`` overrides it).
SQLITE_BUSY_TIMEOUT_S = 60.0


def default_url() -> str:
    """The ledger URL used when none is given.

    ``$LABELNEXT_DB_URL`` if set, else a SQLite file ``ledger.db`` in ``$LABELNEXT_HOME``
    (default ``.labelnext`` in the working directory), which is created if missing.

    Returns
    -------
    str
        An SQLAlchemy URL.
    """
    config = settings()
    if config.db_url:
        return config.db_url
    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'ledger.db').resolve()}"


def create_engine(url: str) -> Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise BatchInputError(
            f"url: {url!r} is not a database URL; expected sqlite:///path/ledger.db or "
            "postgresql+psycopg://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args: dict[str, Any] = {"connect_timeout": PG_CONNECT_TIMEOUT_S, **_PG_LIVENESS}
        for given in parsed.query:  # the URL's own settings win
            connect_args.pop(given, None)
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    raise BatchInputError(
        f"url: backend {backend!r} is not supported; use sqlite or postgresql (got {url!r})"
    )


def is_in_memory(url: URL) -> bool:
    """A SQLite database that lives only as long as its one connection."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_engine(url: URL) -> Engine:
    in_memory = is_in_memory(url)
    if not in_memory and url.database is not None:
        # a folder that cannot be made shows up as "unable to open database file" on connect
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    raw_timeout = url.query.get("timeout", SQLITE_BUSY_TIMEOUT_S)
    try:
        busy_s = float(raw_timeout if isinstance(raw_timeout, str | float) else raw_timeout[0])
    except ValueError:
        raise BatchInputError(
            f"url: timeout={raw_timeout!r} is not a number of seconds (in {url!r})"
        ) from None
    engine = sa.create_engine(
        url.difference_update_query(["timeout"]),
        connect_args={"timeout": busy_s, "check_same_thread": False},
        poolclass=StaticPool if in_memory else None,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite, so BEGIN is ours (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_s * 1000)}")
        if not in_memory:
            _set_wal(cursor, busy_s)
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that upgrades to a write
        # in WAL mode fails with SQLITE_BUSY at once instead of waiting for the lock.
        immediate = conn.get_execution_options().get("labelnext_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def chunks(items: list[str], size: int = IN_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def integrity_errors() -> tuple[type[Exception], ...]:
    """IntegrityError as raised through SQLAlchemy, and by psycopg directly (COPY)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return (IntegrityError,)
    return (IntegrityError, psycopg.errors.IntegrityError)


def operational_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return (OperationalError,)
    return (OperationalError, psycopg.errors.OperationalError)


def sqlstate(exc: Exception) -> str | None:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None)


# SQLSTATE classes of a connection that is lost or refused (PostgreSQL appendix A): 08 connection
# exception, 53 insufficient resources (disk full, too many connections), 57 operator
# intervention (server shutting down, query cancelled), 58 system error (I/O); and 42501
# insufficient privilege (the ledger refuses this role).
_DOWN_SQLSTATE_CLASSES = ("08", "53", "57", "58")


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the ledger is unreachable, if ``exc`` says so (None for any other error).

    A lost or refused connection, a server shutting down, an SQLite file that cannot be opened or
    written (including "database is locked" past the busy timeout and disk I/O errors) count;
    integrity errors (the ledger's own rules) and errors in the request do not.
    """
    if isinstance(exc, sa.exc.TimeoutError):  # the pool had no free connection
        return f"no connection was free in time ({exc})"
    if isinstance(exc, sa.exc.PendingRollbackError):
        return "the connection was lost during a transaction"
    if isinstance(exc, sa.exc.DBAPIError):
        if isinstance(exc, sa.exc.IntegrityError):
            return None
        down = exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.InternalError
        )
        # sqlite3.DatabaseError itself: "file is not a database"
        down = down or type(exc) is sa.exc.DatabaseError
        state = sqlstate(exc) or ""
        down = down or state == "42501" or state[:2] in _DOWN_SQLSTATE_CLASSES
        return _one_line(exc.orig if exc.orig is not None else exc) if down else None
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    # raised by psycopg itself (the COPY of a submit uses the driver's cursor directly)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return _one_line(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return _one_line(exc)
    return None


# What to do about the SQLite failures people meet, added to the driver's words.
_SQLITE_HINTS = {
    "database is locked": "another process held the write lock longer than the busy timeout",
    "unable to open database file": "check that the file's folder exists and can be written",
    "readonly database": "the file or its folder cannot be written by this user",
    "disk i/o error": "the disk or file system failed",
    "database or disk is full": "free some disk space",
}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    for words, hint in _SQLITE_HINTS.items():
        if words in text.lower():
            return f"{text} ({hint})"
    return text


def _set_wal(cursor: Any, busy_s: float) -> None:
    """``PRAGMA journal_mode = WAL``, retried while another process holds the file.

    SQLite answers this pragma "database is locked" at once, without its busy handler, when
    another connection is opening or checkpointing the same file at that moment (eight
    processes opening a fresh ledger together hit it), so it is retried here for up to the busy
    timeout; any other error, or the lock outlasting the timeout, is raised.
    """
    deadline = time.monotonic() + busy_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
