"""Which metadata columns a run can be filtered by, and how.

Every column of a predictions file that has no meaning of its own is kept as metadata and shown
with the row, whatever it holds. Not every column can be *filtered* by: a column of lists or
structs has no equality a person can pick from a menu, a column holding ``inf`` has no slider
range, and a column with no values at all would hide every row. :func:`filterable_columns` says
which columns support which filter, so the dashboard offers only those, and
:func:`column_filters` says it for one column (with the reason when it supports none), so a
filter that names such a column is refused with a message instead of crashing.

Equality (:attr:`~labelnext.select.Filter.metadata_equals`) needs scalar values (text, numbers,
booleans, dates) and at least one non-empty value; a numeric range
(:attr:`~labelnext.select.Filter.metadata_ranges`) needs a numeric column whose values are all
finite and whose minimum is below its maximum.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from labelnext.runs import ModelRun

__all__ = ["ColumnFilters", "FilterableColumns", "column_filters", "filterable_columns"]

# pandas.api.types.infer_dtype kinds whose values are all scalars
_SCALAR_KINDS = frozenset(
    {
        "string",
        "bytes",
        "floating",
        "integer",
        "mixed-integer-float",
        "decimal",
        "complex",
        "boolean",
        "datetime64",
        "datetime",
        "date",
        "timedelta64",
        "timedelta",
        "time",
        "period",
        "mixed-integer",
        "categorical",
    }
)
_SCALAR_TYPES = (str, bytes, numbers.Number, np.generic, date, datetime, timedelta, pd.Timestamp)


@dataclass(frozen=True)
class ColumnFilters:
    """The filters one metadata column supports.

    Attributes
    ----------
    equality : bool
        Rows can be kept by the column's value (a menu of its distinct values).
    numeric_range : bool
        Rows can be kept by a range of the column's values (a slider from min to max).
    reason : str or None
        Why the column supports neither (None when it supports one).
    """

    equality: bool
    numeric_range: bool
    reason: str | None = None


@dataclass(frozen=True)
class FilterableColumns:
    """Which metadata columns of a run support which filter.

    Attributes
    ----------
    equality : tuple of str
        Columns of scalar values with at least one value: filter by equality.
    numeric_range : tuple of str
        Numeric columns, every value finite, min < max: filter by a range.
    not_filterable : dict of str to str
        Every other column, with the reason (lists, structs, ``inf``, no values...).
    """

    equality: tuple[str, ...] = ()
    numeric_range: tuple[str, ...] = ()
    not_filterable: dict[str, str] = field(default_factory=dict)


def filterable_columns(run: ModelRun) -> FilterableColumns:
    """The metadata columns of ``run`` that support equality and numeric-range filters.

    Parameters
    ----------
    run : ModelRun
        A loaded run; its ``metadata`` frame is read, not changed.

    Returns
    -------
    FilterableColumns
        Column names in the frame's order. A numeric column with a range is in both
        ``numeric_range`` and ``equality``; the dashboard shows it as a slider.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from labelnext.runs import ModelRun
    >>> meta = pd.DataFrame({"site": ["a", "b"], "tags": [[1], [2]], "x": [0.5, np.inf],
    ...                      "empty": [None, None], "depth": [1.0, 3.0]})
    >>> run = ModelRun(name="r", task="classification", classes=("a", "b"),
    ...                ids=np.array(["1", "2"], dtype=object),
    ...                probabilities=np.full((2, 2), 0.5, np.float32),
    ...                metadata=meta, source="-", content_hash="-")
    >>> found = filterable_columns(run)
    >>> found.equality, found.numeric_range
    (('site', 'depth'), ('depth',))
    >>> sorted(found.not_filterable)
    ['empty', 'tags', 'x']
    """
    equality: list[str] = []
    numeric_range: list[str] = []
    not_filterable: dict[str, str] = {}
    for name in run.metadata.columns:
        filters = column_filters(run.metadata[name])
        if filters.equality:
            equality.append(str(name))
        if filters.numeric_range:
            numeric_range.append(str(name))
        if filters.reason is not None:
            not_filterable[str(name)] = filters.reason
    return FilterableColumns(tuple(equality), tuple(numeric_range), not_filterable)


def column_filters(values: pd.Series) -> ColumnFilters:
    """The filters one metadata column supports (see :func:`filterable_columns`).

    Examples
    --------
    >>> column_filters(pd.Series([1.0, float("inf")])).reason
    'holds infinite values'
    >>> column_filters(pd.Series([2, 2]))
    ColumnFilters(equality=True, numeric_range=False, reason=None)
    """
    present = values.dropna()
    if present.empty:
        return ColumnFilters(False, False, "has no values")
    if pd.api.types.is_bool_dtype(values):
        return ColumnFilters(True, False)
    if pd.api.types.is_numeric_dtype(values):
        numbers_ = present.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(numbers_).any():
            return ColumnFilters(False, False, "holds infinite values")
        return ColumnFilters(True, bool(numbers_.min() < numbers_.max()))
    kind = pd.api.types.infer_dtype(present, skipna=True)
    if kind in _SCALAR_KINDS or (
        kind == "mixed" and all(isinstance(v, _SCALAR_TYPES) for v in present)
    ):
        return ColumnFilters(True, False)
    return ColumnFilters(False, False, "holds lists, structs or other values that are not scalars")
