"""The labelnext exception hierarchy.

Every error a user can cause is a :class:`LabelnextError`. Messages carry the numbers and names a
user needs to fix the input: the file, the 1-based row (or line), the field, the value received and
what is allowed. The dashboard shows them with ``st.error`` in the same words; the CLI prints them
to stderr and exits 2 (3 for a batch conflict).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BatchConflictError",
    "BatchInputError",
    "EmptyPoolError",
    "FileProblemsError",
    "LabelFileError",
    "LabelnextError",
    "LedgerError",
    "LedgerUnavailableError",
    "NoEmbeddingError",
    "NothingToSubmitError",
    "PathNotAllowedError",
    "Problem",
    "ProblemLog",
    "ProjectionError",
    "ReopenConflictError",
    "RunValidationError",
    "SelectionError",
    "SimulationCancelledError",
    "SimulationError",
    "StrategyError",
    "refuse",
]


class LabelnextError(Exception):
    """Base class of every error labelnext raises on bad input or a refused operation."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    ``row`` is 1-based over data rows (the header of a CSV is not counted; line numbers of a JSON
    Lines file are lines of the file). ``None`` means the problem concerns the whole file.
    """

    file: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.field is not None:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class FileProblemsError(LabelnextError, ValueError):
    """An input file is malformed; nothing of it was read.

    ``problems`` lists what was found, up to a limit, each naming the file, the 1-based row or
    line and the field; ``truncated`` says whether more exist.
    """

    #: What the message calls the file ("model run", "labels file").
    what = "input file"

    def __init__(self, problems: list[Problem], *, truncated: bool = False) -> None:
        if not problems:
            raise ValueError(f"{type(self).__name__} needs at least one problem")
        self.problems = list(problems)
        self.truncated = truncated
        head = f"{len(self.problems)} problem(s)" + (" (more not shown)" if truncated else "")
        lines = [f"Invalid {self.what}: {head}:"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class RunValidationError(FileProblemsError):
    """A model run file (or run folder) is malformed. Nothing of it was loaded."""

    what = "model run"


class LabelFileError(FileProblemsError):
    """A labels file (labeling results coming back) is malformed. Nothing of it was read."""

    what = "labels file"


class ProblemLog:
    """Collects the problems of one input file, up to a limit, and raises them all at once.

    Every reader reports through one of these, so that a bad file is refused with every problem
    listed (file, 1-based row or line, field) and never half-loads.

    Parameters
    ----------
    file : str
        How messages name the file.
    limit : int
        Problems kept; past it ``truncated`` is set and further problems are dropped.
    offset : int, default 0
        Rows before this part of the file (a file read in batches numbers rows from its start).
    error : type, default RunValidationError
        The error raised (:class:`LabelFileError` for a labels file).
    by_row : bool, default False
        Raise the problems ordered by row (file-wide ones first) instead of as found.

    Examples
    --------
    >>> log = ProblemLog("runs.csv", limit=10)
    >>> log.add(3, "prob_cat", "NaN value")
    >>> str(log.items[0])
    "runs.csv, row 3, field 'prob_cat': NaN value"
    """

    def __init__(
        self,
        file: str,
        limit: int = 50,
        offset: int = 0,
        *,
        error: type[FileProblemsError] = RunValidationError,
        by_row: bool = False,
    ) -> None:
        self.file = file
        self.limit = limit
        self.offset = offset
        self.error = error
        self.by_row = by_row
        self.items: list[Problem] = []
        self.truncated = False

    def add(self, row: int | None, field: str | None, message: str) -> None:
        """A problem with this log's file (``row`` 1-based within this part of the file)."""
        if row is not None:
            row += self.offset
        self.add_about(self.file, row, field, message)

    def add_about(self, file: str, row: int | None, field: str | None, message: str) -> None:
        """A problem with another file than ``self.file`` (run.json, a class-names file...)."""
        if len(self.items) >= self.limit:
            self.truncated = True
            return
        self.items.append(Problem(file, row, field, message))

    def add_rows(self, rows: NDArray[np.intp], field: str, message: str) -> None:
        """One problem per offending 0-based row position (reported 1-based)."""
        for r in rows[: max(self.limit - len(self.items), 0) + 1]:
            self.add(int(r) + 1, field, message)

    def raise_if_any(self) -> None:
        """Raise every problem collected so far as one error (``error``, by default a
        :class:`RunValidationError`)."""
        if self.items:
            raise self._error()

    def fail(self, row: int | None, field: str | None, message: str) -> FileProblemsError:
        """Add a problem and return the error to raise (``raise log.fail(...)``)."""
        self.add(row, field, message)
        return self._error()

    def _error(self) -> FileProblemsError:
        items = self.items
        if self.by_row:  # file-wide problems first, then by row: the order a reader goes
            items = sorted(items, key=lambda p: -1 if p.row is None else p.row)
        return self.error(items, truncated=self.truncated)


def refuse(file: str, field: str | None, message: str) -> RunValidationError:
    """A one-problem error about a whole file."""
    return RunValidationError([Problem(file, None, field, message)])


class StrategyError(LabelnextError, ValueError):
    """An unknown strategy, or one that the run's predictions cannot support."""


class SelectionError(LabelnextError, ValueError):
    """A selection request that cannot be met (k < 1, k larger than the pool...)."""


class EmptyPoolError(SelectionError):
    """Nothing is left to select from after filters and exclusions."""


class SimulationError(LabelnextError, ValueError):
    """A labeling simulation cannot run as asked: no labels or embeddings, too few labeled rows
    for the split, a single class, a budget larger than the pool (the message has the numbers)."""


class SimulationCancelledError(LabelnextError):
    """A simulation was cancelled; ``rounds_done`` rounds had finished."""

    def __init__(self, rounds_done: int) -> None:
        super().__init__(f"Simulation cancelled after {rounds_done:,} round(s).")
        self.rounds_done = rounds_done


class PathNotAllowedError(LabelnextError, ValueError):
    """A file path that lies outside the configured allowed roots."""


class ExportError(LabelnextError, ValueError):
    """A batch cannot be exported as asked (an image reference that cannot be rewritten, a
    format the batch's task has no place in, a prediction record that does not fit the batch)."""


class LedgerError(LabelnextError):
    """A ledger operation was refused (unknown batch, bad status change...)."""


class LedgerUnavailableError(LedgerError):
    """The ledger's database could not be reached or refused the connection.

    Raised by every :class:`labelnext.ledger.Ledger` method (and by opening one) when the server
    is down or unreachable, the connection dropped, the SQLite file cannot be opened or written,
    or another process held the SQLite write lock past the busy timeout. Nothing is half-written:
    each change is one transaction, stored whole or not at all. The same ``Ledger`` works again
    once the database is back.

    Attributes
    ----------
    ledger : str
        Which ledger, as ``repr(ledger)`` shows it (the URL with its password hidden).
    reason : str
        Why, in the database driver's words (one line).
    operation : str
        What was being done (``"open"``, ``"submit"``, ``"excluded_ids"``...).
    """

    def __init__(self, ledger: str, reason: str, *, operation: str) -> None:
        self.ledger = ledger
        self.reason = reason
        self.operation = operation
        stop = "" if reason.endswith((".", "?", "!")) else "."
        super().__init__(
            f"The ledger {ledger} is unavailable ({operation}): {reason}{stop} Nothing was "
            "half-written: each change is stored whole or not at all. Try again when the "
            "database is back."
        )


class BatchInputError(LedgerError, ValueError):
    """A submit or mark request with invalid arguments (names the parameter and the value)."""


class BatchConflictError(LedgerError):
    """A submission overlaps rows already in an open batch of the same project.

    ``conflicts`` maps each conflicting data_row_id to the id of the open batch holding it.
    """

    def __init__(self, project: str, conflicts: dict[str, int]) -> None:
        self.project = project
        self.conflicts = dict(conflicts)
        shown = sorted(self.conflicts.items())[:20]
        listed = ", ".join(f"{row} (batch {batch})" for row, batch in shown)
        more = f" and {len(self.conflicts) - len(shown)} more" if len(self.conflicts) > 20 else ""
        super().__init__(
            f"{len(self.conflicts)} row(s) are already in an open batch of project "
            f"'{project}': {listed}{more}. Nothing was submitted; to leave them out, "
            "submit again with on_conflict='skip' (CLI: --on-conflict skip; app: Trim)."
        )


class NothingToSubmitError(BatchConflictError):
    """Under ``on_conflict="skip"`` every row was already in an open batch: nothing was stored."""

    def __init__(self, project: str, conflicts: dict[str, int]) -> None:
        super().__init__(project, conflicts)
        shown = sorted(self.conflicts.items())[:20]
        listed = ", ".join(f"{row} (batch {batch})" for row, batch in shown)
        more = f" and {len(self.conflicts) - len(shown)} more" if len(self.conflicts) > 20 else ""
        self.args = (
            f"All {len(self.conflicts)} row(s) are already in an open batch of project "
            f"'{project}': {listed}{more}. Nothing was submitted.",
        )


class ProjectionError(LabelnextError, ValueError):
    """Map coordinates cannot be made: an unknown method, bad coordinates, a missing extra."""


class NoEmbeddingError(ProjectionError):
    """The run has no 2-D coordinate columns and no embedding to project."""


class ReopenConflictError(BatchConflictError):
    """Rows a reopen (or the revert of a mark) would put back are now in another open batch.

    ``conflicts`` maps each such data_row_id to the open batch holding it. Nothing was changed.
    """

    def __init__(
        self, project: str, conflicts: dict[str, int], *, batch_id: int, what: str
    ) -> None:
        super().__init__(project, conflicts)
        self.batch_id = batch_id
        shown = sorted(self.conflicts.items())[:20]
        listed = ", ".join(f"{row} (batch {batch})" for row, batch in shown)
        more = f" and {len(self.conflicts) - len(shown)} more" if len(self.conflicts) > 20 else ""
        self.args = (
            f"Cannot {what} batch {batch_id}: {len(self.conflicts)} of its row(s) are now in "
            f"another open batch of project '{project}': {listed}{more}. Nothing was changed; "
            "cancel those batches (or mark them labeled) first.",
        )
