"""How large a run may grow in memory, checked before the memory is spent.

A small file can expand a long way: a Parquet file of a few KB can hold one long string repeated a
million times (dictionary encoding) or compress a gigabyte of zeros. :class:`Limits` bounds what
a load may expand to (rows, columns, decoded bytes); the readers compare a file against it
*before* decoding it and refuse it with the sizes in the message.

The defaults come from the environment (``LABELNEXT_MAX_RUN_ROWS``, ``LABELNEXT_MAX_RUN_COLUMNS``,
``LABELNEXT_MAX_RUN_MB``; see :mod:`labelnext.config`). A server that accepts uploads passes
tighter ones for them (:meth:`Limits.for_upload`).
"""

from __future__ import annotations

from dataclasses import dataclass

from labelnext.config import settings

__all__ = ["MB", "UPLOAD_EXPANSION", "Limits"]

MB = 1024 * 1024
#: An upload may decode to this many times the upload limit (Parquet compresses 5-20x).
UPLOAD_EXPANSION = 20


@dataclass(frozen=True)
class Limits:
    """The most rows, columns and decoded bytes one run may have.

    Parameters
    ----------
    max_rows : int
        Data rows (>= 1).
    max_columns : int
        Columns of the predictions file (>= 1); a nested Parquet column counts each of its
        leaves.
    max_bytes : int
        Bytes the file's table may take in memory once decoded (>= 1): fixed-width values at
        their width, strings and binaries at their length plus a 4-byte offset.
    origin : str
        How messages name where the limits come from (a setting, an upload limit).

    Examples
    --------
    >>> Limits(max_rows=10, max_columns=5, max_bytes=MB).describe_bytes()
    '1 MB (limits given by the caller)'
    >>> Limits.for_upload(max_upload_mb=1).max_bytes == 20 * MB
    True
    """

    max_rows: int
    max_columns: int
    max_bytes: int
    origin: str = "limits given by the caller"

    def __post_init__(self) -> None:
        for name in ("max_rows", "max_columns", "max_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Limits.{name} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_settings(cls) -> Limits:
        """The limits of the environment (``LABELNEXT_MAX_RUN_ROWS`` / ``_COLUMNS`` / ``_MB``)."""
        s = settings()
        return cls(
            max_rows=s.max_run_rows,
            max_columns=s.max_run_columns,
            max_bytes=max(1, int(s.max_run_mb * MB)),
            origin="LABELNEXT_MAX_RUN_ROWS, LABELNEXT_MAX_RUN_COLUMNS, LABELNEXT_MAX_RUN_MB",
        )

    @classmethod
    def for_upload(
        cls, *, max_upload_mb: float | None = None, expansion: int = UPLOAD_EXPANSION
    ) -> Limits:
        """Limits for an uploaded file: ``expansion`` times the upload limit in decoded bytes.

        Rows and columns stay those of :meth:`from_settings`; the bytes are the smaller of the
        setting and ``expansion x max_upload_mb`` (default ``LABELNEXT_MAX_UPLOAD_MB``).
        """
        if expansion < 1:
            raise ValueError(f"expansion must be >= 1, got {expansion}")
        base = cls.from_settings()
        upload_mb = settings().max_upload_mb if max_upload_mb is None else max_upload_mb
        if not upload_mb > 0:
            raise ValueError(f"max_upload_mb must be > 0, got {upload_mb}")
        upload_bytes = max(1, int(upload_mb * expansion * MB))
        if upload_bytes >= base.max_bytes:
            return base
        return cls(
            max_rows=base.max_rows,
            max_columns=base.max_columns,
            max_bytes=upload_bytes,
            origin=f"{expansion} x the upload limit of {upload_mb:g} MB (LABELNEXT_MAX_UPLOAD_MB)",
        )

    def describe_bytes(self) -> str:
        """The byte limit in MB, with where it comes from, for messages."""
        return f"{_mb(self.max_bytes)} MB ({self.origin})"

    def rows_message(self, n_rows: int) -> str | None:
        """Why ``n_rows`` rows are too many, or None."""
        if n_rows <= self.max_rows:
            return None
        return (
            f"the file holds {n_rows:,} rows, more than the limit of {self.max_rows:,} "
            f"({self.origin}); split the run, or score it with the streaming CLI "
            "(labelnext select --stream)"
        )

    def columns_message(self, n_columns: int) -> str | None:
        """Why ``n_columns`` columns are too many, or None."""
        if n_columns <= self.max_columns:
            return None
        return (
            f"the file has {n_columns:,} columns, more than the limit of {self.max_columns:,} "
            f"({self.origin})"
        )

    def bytes_message(self, n_bytes: int, detail: str = "", *, at_least: bool = False) -> str:
        """The message refusing a file that decodes to ``n_bytes``."""
        size = f"{'at least ' if at_least else ''}{_mb(n_bytes)} MB ({n_bytes:,} bytes)"
        return (
            f"the file would take {size} in memory once decoded{detail}, more than the limit of "
            f"{self.describe_bytes()}; nothing was decoded"
        )


def _mb(n_bytes: int) -> str:
    value = n_bytes / MB
    return f"{value:,.0f}" if value >= 10 else f"{value:,.2g}"
