"""labelnext.metadata: which metadata columns support equality and range filters.

Columns of lists, structs, inf or no values at all stay loadable (and shown), but are offered
for no filter; a filter that names one anyway is refused with a message, not a crash.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelnext.errors import SelectionError
from labelnext.metadata import ColumnFilters, column_filters, filterable_columns
from labelnext.readers import load_run
from labelnext.select import Filter, filter_mask


@pytest.fixture
def odd_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Parquet run whose metadata holds every kind of column the dashboard must cope with."""
    table = pa.table(
        {
            "data_row_id": ["a", "b", "c"],
            "prob_cat": [0.5, 0.2, 0.9],
            "prob_dog": [0.5, 0.8, 0.1],
            "site": ["north", None, "south"],
            "depth": [1.5, 2.5, None],
            "constant": [7, 7, 7],
            "flag": [True, False, None],
            "tags": [["x"], ["y", "z"], []],
            "box": [{"w": 1}, {"w": 2}, {"w": 3}],
            "gain": [1.0, float("inf"), 2.0],
            "empty": pa.array([None, None, None], type=pa.string()),
            "nothing": pa.array([None, None, None], type=pa.float64()),
        }
    )
    pq.write_table(table, tmp_path / "odd.parquet")
    return load_run(tmp_path / "odd.parquet")


def test_odd_columns_stay_loadable(odd_run) -> None:  # type: ignore[no-untyped-def]
    assert list(odd_run.metadata.columns) == [
        "site",
        "depth",
        "constant",
        "flag",
        "tags",
        "box",
        "gain",
        "empty",
        "nothing",
    ]
    assert list(odd_run.metadata["tags"][1]) == ["y", "z"]
    assert np.isinf(odd_run.metadata["gain"][1])


def test_only_filterable_columns_are_offered(odd_run) -> None:  # type: ignore[no-untyped-def]
    found = filterable_columns(odd_run)
    assert found.equality == ("site", "depth", "constant", "flag")
    assert found.numeric_range == ("depth",)  # constant: min == max; flag: not a number
    assert found.not_filterable == {
        "tags": "holds lists, structs or other values that are not scalars",
        "box": "holds lists, structs or other values that are not scalars",
        "gain": "holds infinite values",
        "empty": "has no values",
        "nothing": "has no values",
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3], ColumnFilters(True, True)),
        ([2.0, 2.0, np.nan], ColumnFilters(True, False)),
        (["a", 1, 2.5], ColumnFilters(True, False)),  # mixed scalars
        ([np.nan, -np.inf], ColumnFilters(False, False, "holds infinite values")),
        ([None, None], ColumnFilters(False, False, "has no values")),
        (
            [{"a": 1}, None],
            ColumnFilters(
                False, False, "holds lists, structs or other values that are not scalars"
            ),
        ),
    ],
)
def test_column_filters(values: list[object], expected: ColumnFilters) -> None:
    import pandas as pd

    assert column_filters(pd.Series(values)) == expected


def test_every_offered_filter_works(odd_run) -> None:  # type: ignore[no-untyped-def]
    found = filterable_columns(odd_run)
    scores = np.zeros(odd_run.n_rows)
    for column in found.equality:
        value = odd_run.metadata[column].dropna().iloc[0]
        mask = filter_mask(odd_run, scores, Filter(metadata_equals=((column, value),)))
        assert mask.any()
    for column in found.numeric_range:
        low = float(odd_run.metadata[column].min())
        high = float(odd_run.metadata[column].max())
        mask = filter_mask(odd_run, scores, Filter(metadata_ranges=((column, low, high),)))
        assert mask.sum() == odd_run.metadata[column].notna().sum()


def test_a_filter_on_a_list_column_is_refused_not_a_crash(odd_run) -> None:  # type: ignore[no-untyped-def]
    scores = np.zeros(odd_run.n_rows)
    with pytest.raises(
        SelectionError,
        match="Metadata column 'tags' cannot be filtered by an equality: it holds lists, structs",
    ):
        filter_mask(odd_run, scores, Filter(metadata_equals=(("tags", "x"),)))
    with pytest.raises(SelectionError, match="'box' cannot be filtered by a range"):
        filter_mask(odd_run, scores, Filter(metadata_ranges=(("box", 0.0, 1.0),)))
