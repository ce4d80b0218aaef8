"""What the ledger hands back: the outcome of a submit, a batch as stored, and what it reads
from a model run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["HISTORY_COLUMNS", "ActionResult", "BatchInfo", "RunLike", "SubmitResult"]

#: The columns of :meth:`labelnext.ledger.Ledger.batches` that a batch history shows people
#: (the CLI's ``batches`` and the Batch page).
HISTORY_COLUMNS = (
    "batch_id",
    "name",
    "project",
    "priority",
    "status",
    "n_rows",
    "n_open",
    "n_labeled",
    "created_by",
    "created_at",
    "strategy",
    "run_name",
    "note",
)


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
    task: str = "classification"
    classes: tuple[str, ...] = ()
    method: str = "top"
    method_params: dict[str, Any] = field(default_factory=dict)
    embedding_source: str | None = None


@dataclass(frozen=True)
class ActionResult:
    """The outcome of :meth:`Ledger.reopen` and :meth:`Ledger.revert`.

    Attributes
    ----------
    action_id : int
        The action just recorded (a ``reopen`` or an ``unmark``).
    kind : str
        Its kind.
    batch_id : int
        The batch it changed.
    n_rows : int
        Rows put back to ``open``.
    status : str
        The batch's status now.
    """

    action_id: int
    kind: str
    batch_id: int
    n_rows: int
    status: str
