"""Streaming top-k over Parquet record batches equals the in-memory ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelnext.cli import main
from labelnext.errors import RunValidationError, SelectionError
from labelnext.readers import load_run
from labelnext.select import Filter, ranked
from labelnext.streaming import stream_top_k
from labelnext.uncertainty import STRATEGIES


def _write_run(path: Path, n: int, *, seed: int = 0, quantise: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(4, 0.7), size=n)
    if quantise:  # many exact ties, so the id tie-break is exercised across batches
        p = np.round(p, 1)
        p[:, -1] = 1.0 - p[:, :-1].sum(axis=1)
        p = np.clip(p, 0, 1)
        p /= p.sum(axis=1, keepdims=True)
    ids = [f"row-{i:06d}" for i in rng.permutation(n)]
    table = pa.table(
        {
            "data_row_id": ids,
            "image": [f"{i}.png" for i in ids],
            **{f"prob_{c}": p[:, j].astype(np.float32) for j, c in enumerate("abcd")},
            "site": rng.choice(["north", "south"], size=n),
        }
    )
    pq.write_table(table, path, row_group_size=700)
    return path


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("quantise", [False, True])
def test_stream_equals_in_memory(tmp_path: Path, strategy: str, quantise: bool) -> None:
    path = _write_run(tmp_path / "run.parquet", 5000, quantise=quantise)
    expected = ranked(load_run(path), strategy, k=250)
    result = stream_top_k(path, strategy, 250, batch_rows=333)
    assert result.n_rows == result.n_pool == 5000
    pd.testing.assert_frame_equal(result.top, expected)


def test_stream_with_filters_equals_in_memory(tmp_path: Path) -> None:
    path = _write_run(tmp_path / "run.parquet", 3000, seed=3)
    run = load_run(path)
    flt = Filter(
        classes=("a", "c"),
        max_confidence=0.9,
        metadata_equals=(("site", "north"),),
        exclude_ids=frozenset(ranked(run, "margin", k=40)["data_row_id"]),
    )
    expected = ranked(run, "margin", flt=flt, k=100)
    result = stream_top_k(path, "margin", 100, flt=flt, batch_rows=256)
    pd.testing.assert_frame_equal(result.top, expected)
    assert result.n_pool == len(ranked(run, "margin", flt=flt))


def test_a_bad_row_in_a_later_batch_is_numbered_from_the_file_start(tmp_path: Path) -> None:
    path = _write_run(tmp_path / "run.parquet", 1000)
    table = pq.read_table(path)
    column = table.column("prob_b").to_numpy().copy()
    column[876] = np.nan
    table = table.set_column(table.schema.get_field_index("prob_b"), "prob_b", pa.array(column))
    pq.write_table(table, path, row_group_size=100)
    with pytest.raises(RunValidationError, match=r"row 877, field 'prob_b': NaN value"):
        stream_top_k(path, "entropy", 10, batch_rows=100)


def test_stream_errors(tmp_path: Path) -> None:
    path = _write_run(tmp_path / "run.parquet", 50)
    with pytest.raises(SelectionError, match="k=60 is larger than the pool of 50"):
        stream_top_k(path, "margin", 60)
    with pytest.raises(SelectionError, match="k must be >= 1"):
        stream_top_k(path, "margin", 0)
    csv = tmp_path / "run.csv"
    csv.write_text("data_row_id,prob_a,prob_b\nx,0.5,0.5\n")
    with pytest.raises(SelectionError, match="Streaming reads Parquet files only"):
        stream_top_k(csv, "margin", 1)


def test_cli_stream_flag_gives_the_same_rows(tmp_path: Path, capsys) -> None:
    path = _write_run(tmp_path / "run.parquet", 2000)
    out_mem, out_stream = tmp_path / "mem.csv", tmp_path / "stream.csv"
    assert main(["select", str(path), "--top", "30", "--out", str(out_mem)]) == 0
    assert main(["select", str(path), "--top", "30", "--stream", "--out", str(out_stream)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out_mem), pd.read_csv(out_stream))
