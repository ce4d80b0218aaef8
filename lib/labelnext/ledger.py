"""The batch ledger: projects, model runs, submitted batches and their rows.

One SQL layer (SQLAlchemy Core) over two backends:

* **SQLite** by default, a file at ``$LABELNEXT_HOME/ledger.db`` (``LABELNEXT_HOME`` defaults to
  ``.labelnext`` in the working directory and is created on first use). WAL journal and a busy
  timeout let several processes share it; every write transaction starts with ``BEGIN IMMEDIATE``
  so concurrent writers queue for the lock instead of failing half-way.
* **PostgreSQL** through ``LABELNEXT_DB_URL`` or the ``url`` argument
  (``postgresql+psycopg://user@host/db``), when several people or app replicas share one ledger.

The schema is created and upgraded by the Alembic migrations in ``labelnext/migrations`` when a
:class:`Ledger` opens the database.

Invariants, enforced by the database rather than by a check-then-insert:

* A data row is in at most one *open* batch (status ``queued`` or ``exported``) per project: a
  partial unique index on ``batch_rows(project_id, data_row_id) WHERE status = 'open'``.
* A submit is one transaction (all rows or none); a ``client_token`` (unique) makes a retried or
  double-clicked submit return the batch it already created.
* Priority is 1-5 and statuses are from a fixed set (CHECK constraints).

Priority follows Labelbox: **1 is the most urgent**, 5 the least.

Examples
--------
>>> ledger = Ledger("sqlite://")
>>> rows = pd.DataFrame({"data_row_id": ["a", "b"], "score": [0.9, 0.8], "rank": [1, 2]})
>>> result = ledger.submit(project="cats", name="first", rows=rows, created_by="ana",
...                        strategy="least_confidence", run_id=None)
>>> result.n_rows, result.created
(2, True)
>>> sorted(ledger.excluded_ids("cats"))
['a', 'b']
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from labelnext.errors import (
    BatchConflictError,
    BatchInputError,
    LedgerError,
    NothingToSubmitError,
)

__all__ = [
    "BATCH_STATUSES",
    "OPEN_BATCH_STATUSES",
    "BatchInfo",
    "BatchInputError",
    "Ledger",
    "NothingToSubmitError",
    "SubmitResult",
    "default_url",
]

BATCH_STATUSES = ("queued", "exported", "labeled", "cancelled")
OPEN_BATCH_STATUSES = ("queued", "exported")
ROW_STATUSES = ("open", "labeled", "cancelled")
ON_CONFLICT = ("fail", "skip")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA_HEAD = "0002"  # the newest revision in migrations/versions (a test keeps them in step)
# Test hook: when set to a file path, submit() creates that file after inserting the rows and then
# sleeps before committing, so a test can kill the process inside the transaction.
HOLD_BEFORE_COMMIT_ENV = "LABELNEXT_TEST_HOLD_BEFORE_COMMIT"
_SUBMIT_ATTEMPTS = 8
_IN_CHUNK = 500  # ids per IN (...) query; far below SQLite's bound-parameter limit
_PG_MIGRATION_LOCK = 0x6C6E6C64  # "lnld": serialises concurrent first starts on PostgreSQL


# --------------------------------------------------------------------------------------------
# Schema as the queries see it (the head revision of the migrations; a test compares the two).

metadata = sa.MetaData()
_OPEN = sa.text("status = 'open'")

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

model_runs = sa.Table(
    "model_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("model", sa.String(500)),
    sa.Column("version", sa.String(200)),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("strategy", sa.String(100), nullable=False),
    sa.Column("strategy_params", sa.Text, nullable=False),
    sa.Column("model_run_id", sa.Integer, sa.ForeignKey("model_runs.id")),
    sa.Column("client_token", sa.String(200), unique=True),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.CheckConstraint("priority BETWEEN 1 AND 5", name="ck_batches_priority"),
    sa.CheckConstraint(
        "status IN ('queued', 'exported', 'labeled', 'cancelled')", name="ck_batches_status"
    ),
    sa.Index("ix_batches_project", "project_id", "created_at"),
)

batch_rows = sa.Table(
    "batch_rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "batch_id", sa.Integer, sa.ForeignKey("batches.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("data_row_id", sa.String(500), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("confidence", sa.Float),
    sa.Column("predicted_label", sa.String(500)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("image", sa.Text),
    sa.Column("labeled_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("status IN ('open', 'labeled', 'cancelled')", name="ck_batch_rows_status"),
    sa.Index("ix_batch_rows_batch", "batch_id", "rank"),
    sa.Index("ix_batch_rows_project_row", "project_id", "data_row_id"),
    sa.Index(
        "uq_batch_rows_open_row",
        "project_id",
        "data_row_id",
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    ),
)


# --------------------------------------------------------------------------------------------
# Public result types


class RunLike(Protocol):
    """What :meth:`Ledger.register_run` reads from a model run (a ``labelnext.runs.ModelRun``)."""

    @property
    def name(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def source(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def n_rows(self) -> int: ...


@dataclass(frozen=True)
class SubmitResult:
    """The outcome of :meth:`Ledger.submit`.

    Attributes
    ----------
    batch_id : int
        The batch holding the rows (a new one, or the one a ``client_token`` already made).
    n_rows : int
        Rows in that batch.
    skipped : dict of str to int
        Under ``on_conflict="skip"``: each data_row_id left out, and the open batch holding it.
    created : bool
        False when ``client_token`` matched an earlier submit and nothing new was stored.
    """

    batch_id: int
    n_rows: int
    skipped: dict[str, int] = field(default_factory=dict)
    created: bool = True


@dataclass(frozen=True)
class BatchInfo:
    """One batch as stored, with its project and model run (see :meth:`Ledger.batch`)."""

    batch_id: int
    name: str
    project: str
    priority: int
    status: str
    note: str
    created_by: str
    created_at: datetime
    strategy: str
    strategy_params: dict[str, Any]
    run_id: int | None
    run_name: str | None
    run_model: str | None
    run_version: str | None
    client_token: str | None
    n_rows: int


# --------------------------------------------------------------------------------------------
# Engine set-up


def default_url() -> str:
    """The ledger URL used when none is given.

    ``$LABELNEXT_DB_URL`` if set, else a SQLite file ``ledger.db`` in ``$LABELNEXT_HOME``
    (default ``.labelnext`` in the working directory), which is created if missing.

    Returns
    -------
    str
        An SQLAlchemy URL.
    """
    env_url = os.environ.get("LABELNEXT_DB_URL", "").strip()
    if env_url:
        return env_url
    home = Path(os.environ.get("LABELNEXT_HOME", "").strip() or ".labelnext")
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'ledger.db').resolve()}"


def _create_engine(url: str) -> Engine:
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


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _chunks(items: list[str], size: int = _IN_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------------
# The ledger


class Ledger:
    """The store of projects, model runs, batches and batch rows.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL: ``sqlite:///path/ledger.db`` or ``postgresql+psycopg://user@host/db``
        (``postgresql://`` is taken to mean psycopg 3). Default: :func:`default_url`.

    Notes
    -----
    Opening a ledger creates the schema or upgrades it to the newest revision (Alembic),
    under a lock, so several processes may open the same new database at once.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url if url is not None else default_url()
        self._engine = _create_engine(self.url)
        self._backend = self._engine.dialect.name
        try:
            self._migrate()
        except sa.exc.DBAPIError as exc:
            self._engine.dispose()
            raise LedgerError(f"Cannot open the ledger at {self!r}: {exc.orig}") from exc
        except Exception:
            self._engine.dispose()
            raise

    # -- plumbing ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        shown = sa.make_url(self.url).render_as_string(hide_password=True)
        return f"Ledger({shown!r})"

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests, benchmarks and ad-hoc queries)."""
        return self._engine

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` on SQLite, a plain ``BEGIN`` elsewhere."""
        with self._engine.connect() as conn:
            conn = conn.execution_options(labelnext_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _current_revision(self) -> str | None:
        with self._engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def _migrate(self) -> None:
        # Alembic takes a quarter of a second to import: skip it when the schema is current.
        current = self._current_revision()
        if current == SCHEMA_HEAD:
            return
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
        if current is not None and current not in known:
            raise LedgerError(
                f"The ledger at {self!r} has schema revision {current!r}, which this version of "
                f"labelnext does not know (newest known: {SCHEMA_HEAD!r}). Upgrade labelnext."
            )
        with self._write() as conn:
            if self._backend == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    # -- projects and runs ------------------------------------------------------------------

    def _insert_ignore(self, table: sa.Table, values: dict[str, Any], key: str) -> Any:
        """Insert unless a row with the same unique ``key`` exists; return that row's id."""
        if self._backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(table).values(**values).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).values(**values).on_conflict_do_nothing()
        with self._write() as conn:
            conn.execute(stmt)
            return conn.execute(
                sa.select(table.c.id).where(table.c[key] == values[key])
            ).scalar_one()

    def ensure_project(self, name: str) -> int:
        """Return the id of project ``name``, creating the project if needed.

        Parameters
        ----------
        name : str
            Non-empty project name (leading and trailing spaces are removed).

        Returns
        -------
        int
            The project id.
        """
        name = _check_name("project", name)
        return int(self._insert_ignore(projects, {"name": name, "created_at": _now()}, key="name"))

    def projects(self) -> list[str]:
        """Names of all projects, sorted."""
        with self._read() as conn:
            return list(
                conn.execute(sa.select(projects.c.name).order_by(projects.c.name)).scalars()
            )

    def register_run(self, run: RunLike) -> int:
        """Record a model run (idempotent on its ``content_hash``) and return its id.

        Parameters
        ----------
        run : labelnext.runs.ModelRun
            Anything with ``name``, ``model``, ``version``, ``source``, ``content_hash`` and
            ``n_rows``.

        Returns
        -------
        int
            The id of the run's row in ``model_runs`` (the existing one if the same file was
            registered before).
        """
        content_hash = str(run.content_hash)
        if not content_hash:
            raise BatchInputError("run.content_hash is empty; expected the sha256 of the file")
        values = {
            "name": str(run.name),
            "model": run.model,
            "version": run.version,
            "source": str(run.source),
            "content_hash": content_hash,
            "imported_at": _now(),
            "row_count": int(run.n_rows),
        }
        return int(self._insert_ignore(model_runs, values, key="content_hash"))

    def runs(self) -> pd.DataFrame:
        """All registered model runs, newest first.

        Returns
        -------
        pandas.DataFrame
            Columns ``run_id, name, model, version, source, content_hash, imported_at,
            row_count``.
        """
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
        with self._read() as conn:
            frame = pd.DataFrame(
                conn.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
            )
        frame["imported_at"] = pd.to_datetime(frame["imported_at"], utc=True)
        return frame

    # -- submit -----------------------------------------------------------------------------

    def submit(
        self,
        *,
        project: str,
        name: str,
        rows: pd.DataFrame,
        priority: int = 3,
        note: str = "",
        created_by: str,
        strategy: str,
        strategy_params: Mapping[str, Any] | None = None,
        run_id: int | None,
        client_token: str | None = None,
        on_conflict: Literal["fail", "skip"] = "fail",
    ) -> SubmitResult:
        """Store ``rows`` as a new batch of ``project``, atomically.

        Parameters
        ----------
        project : str
            Destination project (created if new).
        name : str
            Batch name.
        rows : pandas.DataFrame
            The selection, as returned by ``labelnext.select.ranked``: ``data_row_id``
            (required, unique, non-empty) and optionally ``image``, ``predicted_label``,
            ``score`` (higher = more uncertain), ``confidence`` and ``rank`` (1 = label first;
            default: the order of ``rows``).
        priority : int, default 3
            1 (most urgent) to 5.
        note : str, default ""
            Free text for the annotation team.
        created_by : str
            Who submits (the signed-in user, the name given in the app, or the OS user).
        strategy : str
            The uncertainty strategy the rows were ranked by.
        strategy_params : mapping, optional
            JSON-serialisable parameters of the selection (filters, k...).
        run_id : int or None
            The model run the scores come from (:meth:`register_run`), or None.
        client_token : str, optional
            Idempotency key: a submit with a token already used returns that batch with
            ``created=False`` and stores nothing.
        on_conflict : {"fail", "skip"}, default "fail"
            What to do with rows already in an open (queued or exported) batch of ``project``:
            ``"fail"`` refuses the whole submit, ``"skip"`` leaves those rows out.

        Returns
        -------
        SubmitResult

        Raises
        ------
        BatchConflictError
            Under ``"fail"``, naming each conflicting row and the open batch holding it.
            Nothing is stored.
        NothingToSubmitError
            Under ``"skip"``, when every row is already in an open batch.
        BatchInputError
            On invalid arguments.
        """
        if on_conflict not in ON_CONFLICT:
            raise BatchInputError(
                f"on_conflict: {on_conflict!r} is not allowed; expected one of {ON_CONFLICT}"
            )
        project = _check_name("project", project)
        name = _check_name("name", name)
        created_by = _check_name("created_by", created_by)
        strategy = _check_name("strategy", strategy)
        priority = _check_priority(priority)
        if not isinstance(note, str):
            raise BatchInputError(f"note: expected a str, got {type(note).__name__}")
        params_json = _params_json(strategy_params)
        if client_token is not None and not (isinstance(client_token, str) and client_token):
            raise BatchInputError(f"client_token: expected a non-empty str, got {client_token!r}")
        records = _row_records(rows)

        if client_token is not None:
            existing = self._batch_for_token(client_token, project)
            if existing is not None:
                return existing
        project_id = self.ensure_project(project)
        if run_id is not None:
            self._check_run(run_id)

        skipped: dict[str, int] = {}
        last_error: Exception | None = None
        for _attempt in range(_SUBMIT_ATTEMPTS):
            batch_values = {
                "name": name,
                "project_id": project_id,
                "priority": priority,
                "note": note,
                "created_by": created_by,
                "created_at": _now(),
                "status": "queued",
                "strategy": strategy,
                "strategy_params": params_json,
                "model_run_id": run_id,
                "client_token": client_token,
            }
            try:
                with self._write() as conn:
                    inserted = conn.execute(batches.insert().values(**batch_values))
                    batch_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
                    for record in records:
                        record["batch_id"] = batch_id
                        record["project_id"] = project_id
                    self._insert_rows(conn, records)
                    _hold_before_commit()
                return SubmitResult(batch_id, len(records), dict(skipped), True)
            except _integrity_errors() as exc:
                # The unique index (or the client token) refused the insert; nothing is stored.
                last_error = exc
                if client_token is not None:
                    existing = self._batch_for_token(client_token, project)
                    if existing is not None:
                        return existing
                conflicts = self._open_conflicts(project_id, [r["data_row_id"] for r in records])
                if not conflicts:
                    continue  # the conflicting batch was cancelled meanwhile: try again
                if on_conflict == "fail":
                    raise BatchConflictError(project, conflicts) from None
                skipped.update(conflicts)
                records = [r for r in records if r["data_row_id"] not in conflicts]
                if not records:
                    raise NothingToSubmitError(project, skipped) from None
            except _operational_errors() as exc:
                # PostgreSQL deadlock / serialisation failure between concurrent submits: retry.
                if _sqlstate(exc) not in ("40P01", "40001"):
                    raise
                last_error = exc
                time.sleep(0.05)
        raise LedgerError(
            f"Could not store batch {name!r} in project {project!r} after {_SUBMIT_ATTEMPTS} "
            f"attempts; last error: {last_error}"
        )

    def _insert_rows(self, conn: Connection, records: list[dict[str, Any]]) -> None:
        """Bulk insert: COPY on PostgreSQL (about 3x faster than executemany), else executemany."""
        if self._backend != "postgresql":
            conn.execute(batch_rows.insert(), records)
            return
        columns = list(_ROW_COLUMNS)
        copy_sql = f"COPY batch_rows ({', '.join(columns)}) FROM STDIN"
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(copy_sql) as copy:
            for record in records:
                copy.write_row([record[c] for c in columns])

    def _check_run(self, run_id: int) -> None:
        with self._read() as conn:
            found = conn.execute(
                sa.select(model_runs.c.id).where(model_runs.c.id == run_id)
            ).scalar_one_or_none()
        if found is None:
            raise BatchInputError(
                f"run_id: no model run with id {run_id}; register the run first (register_run)"
            )

    def _batch_for_token(self, client_token: str, project: str) -> SubmitResult | None:
        query = (
            sa.select(batches.c.id, projects.c.name)
            .join(projects, projects.c.id == batches.c.project_id)
            .where(batches.c.client_token == client_token)
        )
        with self._read() as conn:
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

    def _open_conflicts(self, project_id: int, ids: list[str]) -> dict[str, int]:
        """Each of ``ids`` that is in an open batch of the project, with that batch's id."""
        conflicts: dict[str, int] = {}
        with self._read() as conn:
            for chunk in _chunks(ids):
                query = sa.select(batch_rows.c.data_row_id, batch_rows.c.batch_id).where(
                    batch_rows.c.project_id == project_id,
                    batch_rows.c.status == "open",
                    batch_rows.c.data_row_id.in_(chunk),
                )
                conflicts.update({row: int(batch) for row, batch in conn.execute(query)})
        return conflicts

    # -- reading ----------------------------------------------------------------------------

    def batches(self, project: str | None = None) -> pd.DataFrame:
        """One row per batch, newest first.

        Parameters
        ----------
        project : str, optional
            Only this project's batches.

        Returns
        -------
        pandas.DataFrame
            Columns ``batch_id, name, project, priority, status, n_rows, n_open, n_labeled,
            n_cancelled, created_by, created_at, strategy, strategy_params, run_id, run_name,
            note, client_token``. ``strategy_params`` holds dicts.
        """
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
            )
            .join(projects, projects.c.id == batches.c.project_id)
            .outerjoin(counts, counts.c.batch_id == batches.c.id)
            .outerjoin(model_runs, model_runs.c.id == batches.c.model_run_id)
            .order_by(batches.c.created_at.desc(), batches.c.id.desc())
        )
        if project is not None:
            query = query.where(projects.c.name == project)
        with self._read() as conn:
            frame = pd.DataFrame(
                conn.execute(query).mappings().all(), columns=list(query.selected_columns.keys())
            )
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        frame["strategy_params"] = [json.loads(p) for p in frame["strategy_params"]]
        for column in ("batch_id", "priority", "n_rows", "n_open", "n_labeled", "n_cancelled"):
            frame[column] = frame[column].astype("int64")
        frame["run_id"] = frame["run_id"].astype("Int64")
        return frame

    def batch(self, batch_id: int) -> BatchInfo:
        """One batch with its project and model run.

        Raises
        ------
        LedgerError
            If there is no batch ``batch_id``.
        """
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
        with self._read() as conn:
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
            created_at=_as_utc(found["created_at"]),
            strategy=found["strategy"],
            strategy_params=json.loads(found["strategy_params"]),
            run_id=found["model_run_id"],
            run_name=found["run_name"],
            run_model=found["run_model"],
            run_version=found["run_version"],
            client_token=found["client_token"],
            n_rows=int(n_rows),
        )

    def batch_rows(self, batch_id: int) -> pd.DataFrame:
        """The rows of a batch, in rank order.

        Returns
        -------
        pandas.DataFrame
            Columns ``data_row_id, image, rank, score, confidence, predicted_label, status,
            labeled_at``; ``score`` is the uncertainty at selection time (higher = more
            uncertain), ``confidence = 1 - score``.

        Raises
        ------
        LedgerError
            If there is no batch ``batch_id``.
        """
        self._require_batch(batch_id)
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
            )
            .where(batch_rows.c.batch_id == batch_id)
            .order_by(batch_rows.c.rank, batch_rows.c.data_row_id)
        )
        with self._read() as conn:
            frame = pd.DataFrame(
                conn.execute(query).all(), columns=list(query.selected_columns.keys())
            )
        frame["rank"] = frame["rank"].astype("int64")
        for column in ("score", "confidence"):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        frame["labeled_at"] = pd.to_datetime(frame["labeled_at"], utc=True)
        return frame

    def excluded_ids(self, project: str | None = None) -> frozenset[str]:
        """Data rows to leave out of a review queue: open (queued/exported) or labeled.

        Parameters
        ----------
        project : str, optional
            Only this project's batches (all projects if None). Labeled rows count whatever
            model run they were selected from: the match is by ``data_row_id``.

        Returns
        -------
        frozenset of str
        """
        query = sa.select(batch_rows.c.data_row_id).where(
            batch_rows.c.status.in_(("open", "labeled"))
        )
        if project is not None:
            query = query.join(projects, projects.c.id == batch_rows.c.project_id).where(
                projects.c.name == project
            )
        with self._read() as conn:
            return frozenset(conn.execute(query).scalars())

    # -- status changes ---------------------------------------------------------------------

    def _require_batch(self, batch_id: int, conn: Connection | None = None) -> str:
        query = sa.select(batches.c.status).where(batches.c.id == batch_id)
        if conn is None:
            with self._read() as own:
                status = own.execute(query).scalar_one_or_none()
        else:
            status = conn.execute(query).scalar_one_or_none()
        if status is None:
            raise LedgerError(f"batch_id: there is no batch {batch_id}")
        return str(status)

    def mark_exported(self, batch_id: int) -> None:
        """Record that a queued batch was handed to a labeling tool (status ``exported``).

        A batch already exported, labeled or cancelled keeps its status. Exported batches are
        still open: their rows stay reserved.
        """
        with self._write() as conn:
            self._require_batch(batch_id, conn)
            conn.execute(
                batches.update()
                .where(batches.c.id == batch_id, batches.c.status == "queued")
                .values(status="exported")
            )

    def mark_labeled(self, batch_id: int, rows: Iterable[str] | None = None) -> int:
        """Record that a batch (or some of its rows) has been labeled.

        Parameters
        ----------
        batch_id : int
        rows : iterable of str, optional
            data_row_ids of the batch that were labeled; default all its open rows. Once no
            row of the batch is open the batch's status becomes ``labeled``.

        Returns
        -------
        int
            Rows newly marked labeled (rows already labeled are not counted again).

        Raises
        ------
        LedgerError
            Unknown batch, a cancelled batch, or rows that are not in the batch (named).
        """
        wanted = None if rows is None else sorted({str(r) for r in rows})
        with self._write() as conn:
            status = self._require_batch(batch_id, conn)
            if status == "cancelled":
                raise LedgerError(
                    f"batch {batch_id} is cancelled; its rows cannot be marked labeled"
                )
            condition = sa.and_(batch_rows.c.batch_id == batch_id, batch_rows.c.status == "open")
            if wanted is not None:
                known: set[str] = set()
                for known_chunk in _chunks(wanted):
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
                    raise LedgerError(
                        f"rows: {len(unknown)} row(s) are not in batch {batch_id}: {shown}"
                    )
            labeled_at = _now()
            changed = 0
            chunks: list[list[str] | None] = [None] if wanted is None else list(_chunks(wanted))
            for chunk in chunks:
                where = (
                    condition if chunk is None else condition & batch_rows.c.data_row_id.in_(chunk)
                )
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
                conn.execute(
                    batches.update().where(batches.c.id == batch_id).values(status="labeled")
                )
        return changed

    def cancel(self, batch_id: int) -> int:
        """Cancel a batch: its open rows are freed for other batches.

        Rows already labeled stay labeled. Cancelling a cancelled batch does nothing.

        Returns
        -------
        int
            Rows freed.

        Raises
        ------
        LedgerError
            Unknown batch, or a batch whose every row is labeled (status ``labeled``).
        """
        with self._write() as conn:
            status = self._require_batch(batch_id, conn)
            if status == "labeled":
                raise LedgerError(
                    f"batch {batch_id} is labeled; a labeled batch cannot be cancelled"
                )
            freed = conn.execute(
                batch_rows.update()
                .where(batch_rows.c.batch_id == batch_id, batch_rows.c.status == "open")
                .values(status="cancelled")
            ).rowcount
            conn.execute(
                batches.update().where(batches.c.id == batch_id).values(status="cancelled")
            )
        return int(freed)


# --------------------------------------------------------------------------------------------
# Input checks


def _check_name(parameter: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BatchInputError(f"{parameter}: expected a non-empty str, got {value!r}")
    return value.strip()


def _check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
        raise BatchInputError(
            f"priority: expected an int from 1 (most urgent) to 5, got {priority!r}"
        )
    return priority


def _params_json(params: Mapping[str, Any] | None) -> str:
    try:
        return json.dumps(dict(params or {}), sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise BatchInputError(f"strategy_params: not JSON-serialisable ({exc})") from exc


def _json_default(value: Any) -> Any:
    # numpy scalars, frozensets and tuples from Filter objects
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _float_or_none(values: list[Any]) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        f = float(v)
        out.append(f if math.isfinite(f) else None)
    return out


def _str_or_none(values: list[Any]) -> list[str | None]:
    return [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values
    ]


def _row_records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Validate a selection and turn it into insert parameters, sorted by data_row_id.

    Sorting makes concurrent PostgreSQL inserts take index locks in one order (no deadlocks).
    """
    if not isinstance(rows, pd.DataFrame):
        raise BatchInputError(f"rows: expected a pandas DataFrame, got {type(rows).__name__}")
    if "data_row_id" not in rows.columns:
        raise BatchInputError(
            f"rows: no 'data_row_id' column (columns: {', '.join(map(str, rows.columns))})"
        )
    n = len(rows)
    if n == 0:
        raise BatchInputError("rows: the selection is empty; nothing to submit")
    raw_ids = rows["data_row_id"].tolist()
    bad = [i for i, v in enumerate(raw_ids) if not isinstance(v, str) or not v.strip()]
    if bad:
        raise BatchInputError(
            f"rows: data_row_id must be a non-empty str; bad value(s) at position(s) "
            f"{', '.join(map(str, bad[:20]))}: {', '.join(repr(raw_ids[i]) for i in bad[:5])}"
        )
    ids: list[str] = raw_ids
    if len(set(ids)) != n:
        counts = pd.Series(ids).value_counts()
        dups = sorted(counts[counts > 1].index)
        raise BatchInputError(
            f"rows: data_row_id must be unique; repeated: {', '.join(dups[:20])}"
            + (" ..." if len(dups) > 20 else "")
        )

    def column(name: str) -> list[Any]:
        if name in rows.columns:
            return list(rows[name].astype(object).where(rows[name].notna(), None))
        return [None] * n

    if "rank" in rows.columns:
        rank_values = pd.to_numeric(rows["rank"], errors="coerce")
        if rank_values.isna().any():
            raise BatchInputError("rows: rank must be an integer on every row")
        ranks = [int(r) for r in rank_values.tolist()]
    else:
        ranks = list(range(1, n + 1))
    try:
        scores = _float_or_none(column("score"))
        confidences = _float_or_none(column("confidence"))
    except (TypeError, ValueError) as exc:
        raise BatchInputError(f"rows: score and confidence must be numbers ({exc})") from exc
    labels = _str_or_none(column("predicted_label"))
    images = _str_or_none(column("image"))
    records: list[dict[str, Any]] = [
        {
            "data_row_id": ids[i],
            "rank": ranks[i],
            "score": scores[i],
            "confidence": confidences[i],
            "predicted_label": labels[i],
            "image": images[i],
            "status": "open",
        }
        for i in range(n)
    ]
    records.sort(key=lambda r: r["data_row_id"])
    return records


_ROW_COLUMNS = (
    "batch_id",
    "project_id",
    "data_row_id",
    "rank",
    "score",
    "confidence",
    "predicted_label",
    "image",
    "status",
)


def _integrity_errors() -> tuple[type[Exception], ...]:
    """IntegrityError as raised through SQLAlchemy, and by psycopg directly (COPY)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return (IntegrityError,)
    return (IntegrityError, psycopg.errors.IntegrityError)


def _operational_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return (OperationalError,)
    return (OperationalError, psycopg.errors.OperationalError)


def _sqlstate(exc: Exception) -> str | None:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None)


def _hold_before_commit() -> None:
    marker = os.environ.get(HOLD_BEFORE_COMMIT_ENV)
    if marker:
        Path(marker).touch()
        time.sleep(300)
