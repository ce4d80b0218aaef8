"""The batch ledger: projects, model runs, submitted batches and their rows.

One SQL layer (SQLAlchemy Core) over two backends:

* **SQLite** by default, a file at ``$LABELNEXT_HOME/ledger.db`` (``LABELNEXT_HOME`` defaults to
  ``.labelnext`` in the working directory and is created on first use). WAL journal and a busy
  timeout let several processes share it; every write transaction starts with ``BEGIN IMMEDIATE``
  so concurrent writers queue for the lock instead of failing half-way.
* **PostgreSQL** through ``LABELNEXT_DB_URL`` or the ``url`` argument
  (``postgresql+psycopg://user@host/db``), when several people or app replicas share one ledger.

The schema is created and upgraded by the Alembic migrations in ``labelnext/ledger/migrations``
when a :class:`Ledger` opens the database.

The package: :mod:`.core` the :class:`Ledger` (connections, migrations, submit);
:mod:`.queries` reading; :mod:`.status` status changes and their undoing; :mod:`.audit` the
actions table; :mod:`.inputs` the checks of what callers ask to store (:data:`TEXT_LIMITS`);
:mod:`.labeling` labels imported back and read out (:meth:`Ledger.import_labels`);
:mod:`.schema` the tables; :mod:`.engine` the two backends and what counts as the database being
down; :mod:`.results` the values handed back; :mod:`.testing` a hook for the crash tests.

Invariants, enforced by the database rather than by a check-then-insert:

* A data row is in at most one *open* batch (status ``queued`` or ``exported``) per project: a
  partial unique index on ``batch_rows(project_id, data_row_id) WHERE status = 'open'``.
* A submit is one transaction (all rows or none); a ``client_token`` (unique) makes a retried or
  double-clicked submit return the batch it already created.
* Priority is 1-5 and statuses are from a fixed set (CHECK constraints).
* Text is checked against one set of limits before anything is written (:data:`TEXT_LIMITS`; no
  NUL character), so SQLite and PostgreSQL accept and refuse the same input with the same message.
* Every change is recorded in ``actions`` in its own transaction; a cancel or a mark labeled can
  be reverted (:meth:`Ledger.revert`, :meth:`Ledger.reopen`) while its rows are still free.
* One current label per row and project (a partial unique index on ``labels`` where
  ``superseded_at IS NULL``); an import is one transaction, earlier labels kept as history.
* A database that is down raises :class:`LedgerUnavailableError` from every method, never a
  default value, and the same :class:`Ledger` recovers when it is back.

Priority follows Labelbox: **1 is the most urgent**, 5 the least.

Examples
--------
>>> import pandas as pd
>>> ledger = Ledger("sqlite://")
>>> rows = pd.DataFrame({"data_row_id": ["a", "b"], "score": [0.9, 0.8], "rank": [1, 2]})
>>> result = ledger.submit(project="cats", name="first", rows=rows, created_by="ana",
...                        strategy="least_confidence", run_id=None)
>>> result.n_rows, result.created
(2, True)
>>> sorted(ledger.excluded_ids("cats"))
['a', 'b']
"""

from labelnext.errors import (
    BatchInputError,
    LedgerUnavailableError,
    NothingToSubmitError,
    ReopenConflictError,
)
from labelnext.ledger.audit import ACTION_COLUMNS, REVERTIBLE
from labelnext.ledger.core import Ledger
from labelnext.ledger.engine import default_url
from labelnext.ledger.inputs import TEXT_LIMITS
from labelnext.ledger.labeling import LABEL_FRAME_COLUMNS, LabelImportResult
from labelnext.ledger.results import (
    HISTORY_COLUMNS,
    ActionResult,
    BatchInfo,
    RunLike,
    SubmitResult,
)
from labelnext.ledger.schema import (
    ACTION_KINDS,
    ACTION_ORIGINS,
    BATCH_STATUSES,
    MIGRATIONS_DIR,
    OPEN_BATCH_STATUSES,
    SCHEMA_HEAD,
    actions,
    batch_rows,
    batches,
    labels,
    metadata,
    model_runs,
    projects,
)

__all__ = [
    "ACTION_COLUMNS",
    "ACTION_KINDS",
    "ACTION_ORIGINS",
    "BATCH_STATUSES",
    "HISTORY_COLUMNS",
    "LABEL_FRAME_COLUMNS",
    "MIGRATIONS_DIR",
    "OPEN_BATCH_STATUSES",
    "REVERTIBLE",
    "SCHEMA_HEAD",
    "TEXT_LIMITS",
    "ActionResult",
    "BatchInfo",
    "BatchInputError",
    "LabelImportResult",
    "Ledger",
    "LedgerUnavailableError",
    "NothingToSubmitError",
    "ReopenConflictError",
    "RunLike",
    "SubmitResult",
    "actions",
    "batch_rows",
    "batches",
    "default_url",
    "labels",
    "metadata",
    "model_runs",
    "projects",
]
