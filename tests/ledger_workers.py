"""Worker script of the ledger concurrency tests: ``python ledger_workers.py COMMAND SPEC_JSON``.

Run as a plain subprocess (see tests/worker_processes.py), never through multiprocessing, so it
does not depend on the test process's ``__main__``. Commands:

``submit``
    Arrive at barrier ``open``, open the ledger (with every sibling at once: the first open
    creates the schema), arrive at barrier ``submit``, submit, write a report.
``hang``
    Submit with the test hook set: after inserting the rows, touch ``marker`` and hang inside
    the transaction until killed.
``die``
    Print something and exit with ``code`` before any barrier (tests the tests).

A failure prints its traceback to stderr and exits non-zero: the test shows both.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pandas as pd
from worker_processes import arrive, write_report


def rows_for(ids: list[str]) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "data_row_id": ids,
            "score": [0.9 - i / (2 * n) for i in range(n)],
            "rank": list(range(1, n + 1)),
        }
    )


def submit(spec: dict[str, Any]) -> None:
    from labelnext.errors import BatchConflictError
    from labelnext.ledger import Ledger

    arrive(spec, "open")
    ledger = Ledger(spec["url"])
    try:
        arrive(spec, "submit")
        try:
            result = ledger.submit(
                project="shared",
                name=spec["name"],
                rows=rows_for(spec["ids"]),
                created_by=f"worker-{os.getpid()}",
                strategy="margin",
                run_id=None,
                client_token=spec.get("client_token"),
                on_conflict=spec["on_conflict"],
            )
        except BatchConflictError as exc:
            write_report(
                spec, {"outcome": "conflict", "conflicts": exc.conflicts, "message": str(exc)}
            )
            return
        write_report(
            spec,
            {
                "outcome": "ok",
                "batch_id": result.batch_id,
                "n_rows": result.n_rows,
                "skipped": result.skipped,
                "created": result.created,
            },
        )
    finally:
        ledger.close()


def hang(spec: dict[str, Any]) -> None:
    from labelnext.config import HOLD_BEFORE_COMMIT_ENV
    from labelnext.ledger import Ledger

    os.environ[HOLD_BEFORE_COMMIT_ENV] = spec["marker"]
    ledger = Ledger(spec["url"])
    ledger.submit(
        project="shared",
        name="killed",
        rows=rows_for(spec["ids"]),
        created_by="doomed",
        strategy="margin",
        run_id=None,
    )
    raise SystemExit("the submit returned: the hold-before-commit hook did not hold")


def die(spec: dict[str, Any]) -> None:
    print(f"{spec['name']}: exiting on purpose", flush=True)
    print("boom: a worker that dies before its barrier", file=sys.stderr, flush=True)
    raise SystemExit(int(spec["code"]))


COMMANDS = {"submit": submit, "hang": hang, "die": die}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
