"""Start (or reuse) the Spark session a selection runs in, and fail clearly when it cannot.

Three things go wrong in practice, and each gets a message instead of a hang or a Java stack:
pyspark or Java is missing; a ``spark://`` master does not answer (checked with a plain TCP
connection, with a timeout, before any JVM starts); the master answers but never grants an
executor (no live worker, or none with the cores and memory asked for).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from labelnext.errors import LabelnextError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "DEFAULT_MASTER",
    "SparkMasterError",
    "SparkUnavailableError",
    "check_master",
    "get_session",
    "spark_available",
]

DEFAULT_MASTER = "local[*]"
CONNECT_TIMEOUT_S = 10.0
EXECUTOR_TIMEOUT_S = 60.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SparkUnavailableError(LabelnextError):
    """pyspark is not installed, or no Java runtime was found to run it."""


class SparkMasterError(LabelnextError):
    """The Spark master does not answer, or gives no executors within the timeout."""


def spark_available() -> str | None:
    """None when pyspark and Java are both present, else the reason they are not."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'labelnext[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return None
    if shutil.which("java") is None:
        return (
            "no Java runtime: Spark needs Java 17 or later on PATH or in JAVA_HOME "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    return None


def _master_addresses(master: str) -> list[tuple[str, int]]:
    """host:port pairs of a ``spark://h1:p1,h2:p2`` master URL."""
    rest = master[len("spark://") :]
    out = []
    for part in rest.split(","):
        parsed = urlsplit("//" + part)
        if parsed.hostname is None:
            raise SparkMasterError(f"--master {master!r}: cannot read a host in {part!r}")
        out.append((parsed.hostname, parsed.port or 7077))
    return out


def check_master(master: str, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`SparkMasterError` unless a ``spark://`` master accepts a TCP connection.

    Other masters (``local[...]``, ``yarn``, ``k8s://...``) are left to Spark.
    """
    if not master.startswith("spark://"):
        return
    failures = []
    deadline = time.monotonic() + timeout
    for host, port in _master_addresses(master):
        remaining = max(deadline - time.monotonic(), 0.5)
        try:
            with socket.create_connection((host, port), timeout=remaining):
                return
        except OSError as exc:
            failures.append(f"{host}:{port}: {exc.strerror or exc}")
    raise SparkMasterError(
        f"Spark master {master} does not answer within {timeout:g} s ({'; '.join(failures)}). "
        "Check the URL (the master's log prints it: 'Starting Spark master at spark://...') and "
        "that the master is running."
    )


def _wants_local_python(master: str) -> bool:
    if master.startswith("local"):
        return True
    if master.startswith("spark://"):
        return all(host in LOOPBACK for host, _ in _master_addresses(master))
    return False


def get_session(
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    *,
    app_name: str = "labelnext",
    connect_timeout: float = CONNECT_TIMEOUT_S,
    executor_timeout: float = EXECUTOR_TIMEOUT_S,
) -> SparkSession:
    """The active Spark session, or a new one on ``master`` with ``conf``.

    Parameters
    ----------
    master : str, optional
        ``local[N]``, ``spark://host:port``, ``yarn``, ``k8s://...``. None: the active session
        if there is one (a notebook's, Databricks'), else ``local[*]``.
    conf : mapping of str to str, optional
        Spark settings (``--conf k=v``) for a new session.
    connect_timeout : float, default=10
        Seconds to wait for a ``spark://`` master to accept a connection.
    executor_timeout : float, default=60
        Seconds to wait for the first executor of a ``spark://`` master.

    Raises
    ------
    SparkUnavailableError
        No pyspark or no Java.
    SparkMasterError
        The master does not answer, gives no executor in time, or another session with a
        different master is already running in this process (Spark allows one per process).
    """
    reason = spark_available()
    if reason is not None:
        raise SparkUnavailableError(f"The Spark engine cannot run: {reason}.")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        running = active.sparkContext.master
        if master is not None and master != running:
            raise SparkMasterError(
                f"A Spark session on master {running} is already running in this process; "
                f"Spark allows one per process, so --master {master} cannot be used here "
                "(run it in a new process, or stop the session first)."
            )
        return active
    chosen = master or DEFAULT_MASTER
    check_master(chosen, timeout=connect_timeout)
    settings = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "true" if sys.stderr.isatty() else "false",
    }
    settings.update(conf or {})
    # pyspark ships each Python function with the interpreter named by $PYSPARK_PYTHON (not by
    # the spark.pyspark.python setting); executors on this machine run this interpreter, which
    # has labelnext installed
    if "spark.pyspark.python" in settings:
        os.environ["PYSPARK_PYTHON"] = settings["spark.pyspark.python"]
    elif _wants_local_python(chosen) and not os.environ.get("PYSPARK_PYTHON"):
        os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = SparkSession.builder.master(chosen).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: Java missing or broken, bad --conf
        raise SparkUnavailableError(
            f"Spark did not start on master {chosen}: {str(exc).strip().splitlines()[0]}"
        ) from None
    if chosen.startswith("spark://"):
        _await_executor(session, chosen, executor_timeout)
    return session


def _await_executor(session: SparkSession, master: str, timeout: float) -> None:
    """Wait until the cluster has given this application an executor; else stop and raise."""
    deadline = time.monotonic() + timeout
    context = session.sparkContext
    while time.monotonic() < deadline:
        # the driver is listed too: more than one entry means an executor registered
        if context._jsc.sc().getExecutorMemoryStatus().size() > 1:
            return
        time.sleep(0.2)
    session.stop()
    raise SparkMasterError(
        f"Spark master {master} accepted the application but gave it no executor within "
        f"{timeout:g} s: no worker is alive, or none has the cores and memory asked for "
        "(spark.executor.cores / spark.executor.memory). See the master's web UI."
    )
