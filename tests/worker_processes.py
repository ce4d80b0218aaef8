"""Worker processes for tests: plain subprocesses of a script, a file barrier, liveness polling.

Why not ``multiprocessing``: its spawn start method re-imports the parent's ``__main__`` in every
child, and after a Streamlit ``AppTest`` in the same pytest process ``sys.modules["__main__"]``
is an app script, which the children then run (one died before its barrier and the test hung for
ten minutes). Here every worker is ``[sys.executable, script, command, json]``: a fresh
interpreter that knows nothing of the parent.

Synchronisation is a folder: a worker arriving at barrier ``step`` creates ``<step>.ready.<name>``
and waits for ``<step>.go``, which the test creates once every worker is ready. While it waits,
the test polls each worker: one that exits before reporting fails the test at once with its exit
code, stdout and stderr. The worker side is :func:`arrive`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

POLL_S = 0.02
#: Only a guard against a worker that is alive and stuck (a deadlock), not a speed check; a worker
#: that dies is reported within one poll.
HANG_GUARD_S = 300.0
#: How long a worker waits for a "go" before giving up (its parent is gone).
WORKER_GIVE_UP_S = 300.0


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    result: Path

    def output(self) -> str:
        def tail(path: Path) -> str:
            text = path.read_text(errors="replace") if path.exists() else ""
            return text[-4000:] or "(empty)"

        return f"--- stdout of {self.name}:\n{tail(self.stdout)}\n--- stderr:\n{tail(self.stderr)}"

    def report(self) -> dict[str, Any] | None:
        return json.loads(self.result.read_text()) if self.result.exists() else None


class WorkerGroup:
    """Start workers, release them at barriers together, and collect their reports.

    Parameters
    ----------
    folder : Path
        For the barrier files, the workers' output and their reports.
    script : Path
        The worker script, run as ``python script COMMAND SPEC_JSON``.
    """

    def __init__(self, folder: Path, script: Path) -> None:
        self.folder = folder
        self.script = script
        self.barrier = folder / "barrier"
        self.barrier.mkdir(parents=True, exist_ok=True)
        self.workers: dict[str, Worker] = {}

    def start(
        self,
        name: str,
        command: str,
        spec: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> Worker:
        result = self.folder / f"{name}.result.json"
        full = {**spec, "name": name, "barrier": str(self.barrier), "result": str(result)}
        stdout, stderr = self.folder / f"{name}.out", self.folder / f"{name}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, str(self.script), command, json.dumps(full)],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        worker = Worker(name, process, stdout, stderr, result)
        self.workers[name] = worker
        return worker

    def check(self, *, expect_exit: bool = False) -> None:
        """Fail at once if a worker exited without reporting, or with a non-zero code."""
        for worker in self.workers.values():
            code = worker.process.poll()
            if code is None:
                continue
            if code != 0 or (not expect_exit and worker.report() is None):
                self.kill()
                pytest.fail(
                    f"worker {worker.name} died with exit code {code}:\n{worker.output()}",
                    pytrace=False,
                )

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Poll ``ready`` and every worker's liveness until ``ready()`` or a worker dies."""
        deadline = time.monotonic() + HANG_GUARD_S
        while not ready():
            self.check(expect_exit=True)
            if time.monotonic() > deadline:
                alive = [w for w in self.workers.values() if w.process.poll() is None]
                self.kill()
                outputs = "\n".join(w.output() for w in alive)
                pytest.fail(f"no {what} after {HANG_GUARD_S:.0f} s:\n{outputs}", pytrace=False)
            time.sleep(POLL_S)

    def release(self, step: str) -> None:
        """Wait until every worker has arrived at ``step``, then let them all go at once."""

        def everyone_ready() -> bool:
            return all((self.barrier / f"{step}.ready.{n}").exists() for n in self.workers)

        self.wait_until(everyone_ready, f"arrival of every worker at barrier {step!r}")
        (self.barrier / f"{step}.go").touch()

    def reports(self) -> dict[str, dict[str, Any]]:
        """Wait for every worker to exit 0 with a report; return the reports by name."""

        def all_exited() -> bool:
            return all(w.process.poll() is not None for w in self.workers.values())

        self.wait_until(all_exited, "exit of every worker")
        self.check()
        return {name: w.report() or {} for name, w in self.workers.items()}

    def kill(self) -> None:
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait(timeout=30)


@contextmanager
def worker_group(folder: Path, script: Path) -> Iterator[WorkerGroup]:
    """A :class:`WorkerGroup` whose workers are killed on the way out, whatever happens."""
    group = WorkerGroup(folder, script)
    try:
        yield group
    finally:
        group.kill()


# -- the worker side ----------------------------------------------------------------------------


def arrive(spec: Mapping[str, Any], step: str) -> None:
    """In a worker: say it reached ``step``, then wait for the test's go."""
    barrier = Path(spec["barrier"])
    (barrier / f"{step}.ready.{spec['name']}").touch()
    go = barrier / f"{step}.go"
    deadline = time.monotonic() + WORKER_GIVE_UP_S
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{spec['name']}: no go for barrier {step!r}; the test is gone")
        time.sleep(0.002)


def write_report(spec: Mapping[str, Any], report: Mapping[str, Any]) -> None:
    """In a worker: write the report atomically (the test never reads half a file)."""
    path = Path(spec["result"])
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(dict(report)))
    partial.replace(path)
