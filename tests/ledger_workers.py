"""Run in child processes by the ledger concurrency tests (spawned, so importable by name)."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd


def rows_for(ids: list[str]) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "data_row_id": ids,
            "score": [0.9 - i / (2 * n) for i in range(n)],
            "rank": list(range(1, n + 1)),
        }
    )


def submit_at_the_barrier(
    url: str,
    barrier: Any,
    results: Any,
    name: str,
    ids: list[str],
    on_conflict: str,
    client_token: str | None,
) -> None:
    """Open the ledger together with every sibling (the first open creates the schema), then
    submit at the same moment; report back."""
    from labelnext.errors import BatchConflictError
    from labelnext.ledger import Ledger

    ledger = None
    try:
        barrier.wait(timeout=600)
        ledger = Ledger(url)
        barrier.wait(timeout=600)
        result = ledger.submit(
            project="shared",
            name=name,
            rows=rows_for(ids),
            created_by=f"worker-{os.getpid()}",
            strategy="margin",
            run_id=None,
            client_token=client_token,
            on_conflict=on_conflict,  # type: ignore[arg-type]
        )
        results.put(
            (name, "ok", result.batch_id, result.n_rows, dict(result.skipped), result.created)
        )
    except BatchConflictError as exc:
        results.put((name, "conflict", exc.conflicts, str(exc)))
    except BaseException as exc:  # reported to the test, which fails on it
        results.put((name, "error", repr(exc)))
    finally:
        if ledger is not None:
            ledger.close()


def submit_and_hang(url: str, ids: list[str], marker: str) -> None:
    """Submit with the test hook set: after inserting the rows, touch ``marker`` and hang."""
    from labelnext.config import HOLD_BEFORE_COMMIT_ENV
    from labelnext.ledger import Ledger

    os.environ[HOLD_BEFORE_COMMIT_ENV] = marker
    ledger = Ledger(url)
    ledger.submit(
        project="shared",
        name="killed",
        rows=rows_for(ids),
        created_by="doomed",
        strategy="margin",
        run_id=None,
    )
