"""Text cells in CSV files that people open in spreadsheets.

A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula
by Excel, LibreOffice and Google Sheets (CSV injection). Every CSV labelnext writes (batch
exports, the CLI's tables) prefixes such text cells with a single quote, as OWASP recommends;
numbers stay numbers. Parquet and JSON keep exact values. :func:`csv_unsafe` undoes the prefix
when an id list is read back from such a CSV.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "csv_safe", "csv_safe_frame", "csv_unsafe"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet will not run as a formula; other values unchanged.

    Examples
    --------
    >>> csv_safe("=1+1"), csv_safe("-5"), csv_safe("mnist-1"), csv_safe(-5.0)
    ("'=1+1", "'-5", 'mnist-1', -5.0)
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_unsafe(value: str) -> str:
    """The text :func:`csv_safe` was given: a quote before a formula prefix is dropped.

    Examples
    --------
    >>> csv_unsafe("'=1+1"), csv_unsafe("'plain"), csv_unsafe("=x")
    ('=1+1', "'plain", '=x')
    """
    if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell made safe (numeric columns untouched)."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(csv_safe)
    return out
