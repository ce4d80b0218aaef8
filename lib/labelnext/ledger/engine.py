"""Engine set-up for the two backends, and the small helpers every query module shares.

* **SQLite**: WAL journal and a busy timeout let several processes share one file; every write
  transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue for the lock instead of
  failing half-way.
* **PostgreSQL** through psycopg 3 (``postgresql://`` is taken to mean ``postgresql+psycopg``).
"""

from __future__ import annotations

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
    "as_utc",
    "chunks",
    "create_engine",
    "default_url",
    "integrity_errors",
    "now",
    "operational_errors",
    "sqlstate",
]

IN_CHUNK = 500  # ids per IN (...) query; far below SQLite's bound-parameter limit


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
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise BatchInputError(
        f"url: backend {backend!r} is not supported; use sqlite or postgresql (got {url!r})"
    )


def _sqlite_engine(url: URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if not in_memory and url.database is not None:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 60, "check_same_thread": False},
        poolclass=StaticPool if in_memory else None,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite, so BEGIN is ours (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
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
