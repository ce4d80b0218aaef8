"""The labelnext exception hierarchy.

Every error a user can cause is a :class:`LabelnextError`. Messages carry the numbers and names a
user needs to fix the input: the file, the 1-based row (or line), the field, the value received and
what is allowed. The dashboard shows them with ``st.error`` in the same words; the CLI prints them
to stderr and exits 2 (3 for a batch conflict).
"""

from __future__ import annotations

from dataclasses import dataclass


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


class RunValidationError(LabelnextError, ValueError):
    """A model run file (or run folder) is malformed. Nothing of it was loaded.

    ``problems`` lists what was found, up to a limit; ``truncated`` says whether more exist.
    """

    def __init__(self, problems: list[Problem], *, truncated: bool = False) -> None:
        if not problems:
            raise ValueError("RunValidationError needs at least one problem")
        self.problems = list(problems)
        self.truncated = truncated
        head = f"{len(self.problems)} problem(s)" + (" (more not shown)" if truncated else "")
        lines = [f"Invalid model run: {head}:"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class StrategyError(LabelnextError, ValueError):
    """An unknown strategy, or one that the run's predictions cannot support."""


class SelectionError(LabelnextError, ValueError):
    """A selection request that cannot be met (k < 1, k larger than the pool...)."""


class EmptyPoolError(SelectionError):
    """Nothing is left to select from after filters and exclusions."""


class PathNotAllowedError(LabelnextError, ValueError):
    """A file path that lies outside the configured allowed roots."""


class LedgerError(LabelnextError):
    """A ledger operation was refused (unknown batch, bad status change...)."""


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


class ProjectionError(LabelnextError, ValueError):
    """Map coordinates cannot be made: an unknown method, bad coordinates, a missing extra."""


class NoEmbeddingError(ProjectionError):
    """The run has no 2-D coordinate columns and no embedding to project."""
