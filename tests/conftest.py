"""Shared pytest fixtures.

``ledger_url`` runs a test once per storage backend: a SQLite file in ``tmp_path``, and a fresh
schema in the PostgreSQL database ``test`` at 127.0.0.1:5432 (user postgres, trust auth), dropped
afterwards. Without a reachable PostgreSQL the PostgreSQL cases are skipped, except under
``CI=true``, where they fail: CI must run both backends.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_DSN = os.environ.get(
    "LABELNEXT_TEST_PG_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres"
)
PG_URL_BASE = os.environ.get(
    "LABELNEXT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

_pg_state: dict[str, str | None] = {}


def _pg_unavailable_reason() -> str | None:
    """None if PostgreSQL answers, else why not (checked once per session)."""
    if "reason" not in _pg_state:
        try:
            import psycopg

            with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["reason"] = None
        except Exception as exc:  # any failure to connect means "no server for the tests"
            _pg_state["reason"] = f"no PostgreSQL at {PG_ADMIN_DSN!r}: {exc}".strip()
    return _pg_state["reason"]


def require_postgres() -> None:
    """Skip (or, under CI=true, fail) the calling test when PostgreSQL is not reachable."""
    reason = _pg_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}; CI must run the PostgreSQL tests", pytrace=False)
    pytest.skip(
        f"{reason}; start it with "
        "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
    )


@contextlib.contextmanager
def new_pg_schema() -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a new, empty PostgreSQL schema (dropped after)."""
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a new, empty PostgreSQL schema (dropped after)."""
    with new_pg_schema() as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty ledger database, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield request.getfixturevalue("pg_schema_url")


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A SQLite ledger URL in the test's own folder (the CLI tests' ``--db``)."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[object]:
    """A :class:`labelnext.ledger.Ledger` on each backend, closed afterwards."""
    from labelnext.ledger import Ledger

    with Ledger(ledger_url) as opened:
        yield opened


# -- real-browser tests: one Chromium and one dashboard server per session ----------------------


@pytest.fixture(scope="session")
def chromium():  # type: ignore[no-untyped-def]
    """Debian's Chromium through Playwright, launched once."""
    from browser_support import CHROMIUM, LAUNCH_ARGS, require_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The dashboard on a free port with a SQLite ledger in its own home (shared by tests:
    each test uses its own project names)."""
    from browser_support import make_server, require_chromium

    require_chromium()
    server = make_server(tmp_path_factory.mktemp("app")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(chromium, app_server):  # type: ignore[no-untyped-def]
    """A fresh browser session (its own Streamlit session) on the shared server."""
    context = chromium.new_context(viewport={"width": 1600, "height": 1700})
    try:
        yield context.new_page()
    finally:
        context.close()
        app_server.check_alive()


# -- Apache Spark (tests/test_spark.py) ---------------------------------------------------------
# One local[2] session and one standalone cluster (a master and two workers from the pyspark
# wheel, on loopback) per test session. Without pyspark or Java they skip, except under CI=true.


def require_spark() -> None:
    """Skip (or, under CI=true, fail) the calling test when pyspark or Java is missing."""
    from labelnext.spark import spark_available

    reason = spark_available()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}; CI must run the Spark tests", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A local[2] SparkSession, small batches and partitions so that boundaries are crossed."""
    require_spark()
    from labelnext.spark import get_session

    session = get_session(
        "local[2]",
        {
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.execution.arrow.maxRecordsPerBatch": "700",
            "spark.sql.files.maxPartitionBytes": "48k",
            "spark.sql.files.openCostInBytes": "0",
            "spark.driver.memory": "1g",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``spark://127.0.0.1:PORT`` of a standalone master with two 1-core workers."""
    require_spark()
    from labelnext.spark import SparkMasterError
    from labelnext.spark.local_cluster import LocalCluster

    cluster = LocalCluster(2, cores=1, memory="1g", base=tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()  # a JVM that dies is reported at once, with its log
    except SparkMasterError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster.url
    finally:
        cluster.stop()
