"""A Spark standalone cluster on loopback from the pyspark wheel: one master, N workers.

For tests and benchmarks (and for trying ``--master spark://...`` on a laptop): the same
``spark-class`` launcher and ``org.apache.spark.deploy`` classes a real standalone cluster runs,
on random free ports of 127.0.0.1. A process that dies while starting is reported at once with
the end of its log.

    python -m labelnext.spark.local_cluster --workers 2    # prints the master URL; Ctrl-C stops
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from labelnext.spark.session import SparkMasterError, SparkUnavailableError, spark_available

__all__ = ["LocalCluster"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """Start with ``with LocalCluster(workers=2) as cluster: cluster.url``.

    Parameters
    ----------
    workers : int, default=2
    cores, memory : per worker (``--cores``, ``--memory``), default 1 core and ``1g``.
    base : Path, optional
        Folder for logs and work directories (default: a new temporary folder).
    start_timeout : float, default=180
        Seconds to wait for the master and every worker to be ALIVE (JVMs start slowly on a
        busy machine); a process that exits fails at once.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        cores: int = 1,
        memory: str = "1g",
        base: Path | None = None,
        start_timeout: float = 180.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.cores = cores
        self.memory = memory
        self.base = base or Path(tempfile.mkdtemp(prefix="labelnext-spark-"))
        self.start_timeout = start_timeout
        self.port = _free_port()
        self.ui_port = _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the master, then the workers; return when all are ALIVE.

        Raises
        ------
        SparkUnavailableError
            No pyspark or no Java.
        SparkMasterError
            A process exited (its log is in the message) or the cluster was not up in time.
        """
        reason = spark_available()
        if reason is not None:
            raise SparkUnavailableError(f"Cannot start a local Spark cluster: {reason}.")
        import pyspark

        home = Path(pyspark.__file__).parent
        self.base.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "SPARK_HOME": str(home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_DAEMON_MEMORY": "256m",
            "SPARK_NO_DAEMONIZE": "1",
            "SPARK_LOG_DIR": str(self.base / "logs"),
        }
        launcher = str(home / "bin" / "spark-class")
        try:
            self._spawn(
                "master",
                [
                    *(launcher, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--webui-port", str(self.ui_port)),
                ],
                env,
            )
            self._wait(lambda: self.state().get("status") == "ALIVE", "the master ALIVE")
            for i in range(self.workers):
                self._spawn(
                    f"worker{i}",
                    [
                        *(launcher, "org.apache.spark.deploy.worker.Worker"),
                        *("--host", "127.0.0.1", "--cores", str(self.cores)),
                        *("--memory", self.memory, "--port", str(_free_port())),
                        *(
                            "--webui-port",
                            str(_free_port()),
                            "--work-dir",
                            str(self.base / f"work{i}"),
                        ),
                        self.url,
                    ],
                    env,
                )
            self._wait(
                lambda: self.alive_workers() == self.workers, f"{self.workers} ALIVE worker(s)"
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate every process (workers first), killing any that lingers."""
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()

    # -- state ----------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The master's JSON status (its web UI's ``/json/``)."""
        url = f"http://127.0.0.1:{self.ui_port}/json/"
        with urllib.request.urlopen(url, timeout=2) as answer:
            return dict(json.load(answer))

    def alive_workers(self) -> int:
        return sum(w.get("state") == "ALIVE" for w in self.state().get("workers", []))

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process, _ in self.processes}

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = self.base / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.base
            )
        self.processes.append((name, process, log))

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for name, process, log in self.processes:
                if process.poll() is not None:
                    tail = log.read_text(errors="replace")[-4000:]
                    raise SparkMasterError(
                        f"Spark {name} exited with code {process.returncode} while waiting for "
                        f"{what}; the end of {log}:\n{tail}"
                    )
            try:
                if ready():
                    return
            except OSError:  # the web UI is not listening yet
                pass
            time.sleep(0.3)
        raise SparkMasterError(
            f"Spark cluster: no {what} within {self.start_timeout:g} s (logs in {self.base})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="1g")
    args = parser.parse_args()
    with LocalCluster(args.workers, cores=args.cores, memory=args.memory) as cluster:
        print(cluster.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
