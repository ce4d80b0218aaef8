"""Shared builders for the export tests: batch information and batches from the shipped samples."""

from __future__ import annotations

from datetime import UTC, datetime

from labelnext.export import ExportBatch
from labelnext.ledger import BatchInfo
from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.readers import load_run
from labelnext.select import ranked

REPO = SAMPLE_DATA_DIR.parent


def make_info(batch_id: int = 1, *, name: str = "batch", n_rows: int = 0) -> BatchInfo:
    """A :class:`BatchInfo` as the ledger returns it."""
    return BatchInfo(
        batch_id=batch_id,
        name=name,
        project="digits",
        priority=2,
        status="queued",
        note="",
        created_by="ana",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        strategy="margin",
        strategy_params={},
        run_id=1,
        run_name=name,
        run_model="logreg",
        run_version="1",
        client_token=None,
        n_rows=n_rows,
    )


def sample_batch(sample: str, *, batch_id: int = 1, k: int = 30) -> ExportBatch:
    """The ``k`` most uncertain rows of a shipped sample run, as a submit would store them."""
    run = load_run(SAMPLE_DATA_DIR / sample)
    strategy = "margin" if run.task == "classification" else "least_confidence"
    rows = ranked(run, strategy, k=k)
    return ExportBatch.from_run(make_info(batch_id, name=sample, n_rows=k), rows, run)
