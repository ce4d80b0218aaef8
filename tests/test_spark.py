"""labelnext.spark: the same rows, order and scores as the in-process path, on Spark.

Every Spark result is compared exactly (ids, order, float scores) with
``labelnext.select.ranked(load_run(path), ...)`` on the same data loaded in memory. Spark runs
in local[2] once per test session (``spark`` fixture) and, for the CLI, on a standalone cluster
of two workers (``spark_cluster``); both skip without pyspark or Java, and fail under CI=true.
The kernel tests at the top need neither.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelnext.errors import EmptyPoolError, RunValidationError, SelectionError, StrategyError
from labelnext.readers import load_run
from labelnext.scoring import Scoring, run_scores
from labelnext.select import Filter, ranked
from labelnext.spark import (
    Layout,
    SparkInputError,
    SparkMasterError,
    add_engine_arguments,
    candidates_from_path,
    check_master,
    find_parquet_files,
    read_run,
    run_record,
    score_arrays,
    score_dataframe,
    select,
    select_from_path,
)
from labelnext.spark.cli import parse_conf
from labelnext.spark.kernel import EMPTY_ID, NAN, NEGATIVE, SUM
from labelnext.uncertainty import ENSEMBLE_STRATEGIES, STRATEGIES

CLASSES = ("cat", "dog", "eel", "fox")
# pyspark 4.3 warns about pandas 3 on every conversion; the engine itself moves Arrow, not pandas
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas", "ignore::DeprecationWarning"
)


def _probabilities(n: int, rng: np.random.Generator, *, quantise: bool) -> np.ndarray:
    p = rng.dirichlet(np.full(len(CLASSES), 0.7), size=n)
    if quantise:  # many exact ties, so the id tie-break decides across partitions
        p = np.round(p, 1)
        p[:, -1] = 1.0 - p[:, :-1].sum(axis=1)
        p = np.clip(p, 0, 1)
        p /= p.sum(axis=1, keepdims=True)
    return p


def _table(n: int, *, seed: int = 0, quantise: bool = True, layout: str = "prob") -> pa.Table:
    rng = np.random.default_rng(seed)
    p = _probabilities(n, rng, quantise=quantise)
    ids = [f"row-{i:05d}" for i in rng.permutation(n)]
    columns: dict[str, Any] = {"data_row_id": ids, "image": [f"img/{i}.png" for i in ids]}
    if layout == "prob":
        columns |= {f"prob_{c}": p[:, j].astype(np.float32) for j, c in enumerate(CLASSES)}
    elif layout == "logit":
        logits = np.log(np.clip(p, 1e-4, 1)) + rng.normal(0, 0.01, size=p.shape)
        columns |= {f"logit_{c}": logits[:, j] for j, c in enumerate(CLASSES)}
    elif layout == "list":
        columns["probabilities"] = pa.array(list(p), pa.list_(pa.float64()))
    elif layout == "members":
        for t in range(3):
            q = _probabilities(n, rng, quantise=quantise)
            columns |= {f"m{t}_prob_{c}": q[:, j] for j, c in enumerate(CLASSES)}
    elif layout == "nested":
        q = np.stack([_probabilities(n, rng, quantise=quantise) for _ in range(3)], axis=1)
        columns["probabilities"] = pa.array(
            [list(map(list, row)) for row in q], pa.list_(pa.list_(pa.float64()))
        )
    elif layout == "top1":
        columns["predicted_label"] = np.asarray(CLASSES)[p.argmax(axis=1)]
        columns["confidence"] = np.round(p.max(axis=1), 2)
    elif layout == "multilabel":
        s = np.round(rng.random((n, len(CLASSES))), 1)
        columns |= {f"prob_{c}": s[:, j] for j, c in enumerate(CLASSES)}
    columns["site"] = rng.choice(["north", "south", "east"], size=n)
    columns["depth"] = np.round(rng.random(n) * 10, 1)
    columns["embedding"] = pa.array(list(rng.normal(size=(n, 3)).astype(np.float32)))
    table = pa.table(columns)
    if layout in ("list", "nested"):
        table = table.replace_schema_metadata({"labelnext.classes": json.dumps(list(CLASSES))})
    return table


def _write(path: Path, table: pa.Table, *, row_group: int = 400) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group)
    return path


def _parts(folder: Path, table: pa.Table, n_files: int = 3) -> Path:
    bounds = np.linspace(0, table.num_rows, n_files + 1).astype(int)
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        _write(folder / f"part-{i:05d}.parquet", table.slice(lo, hi - lo), row_group=300)
    (folder / "_SUCCESS").write_text("")
    return folder


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got["data_row_id"]) == list(expected["data_row_id"])
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


# -- the kernel, without Spark ------------------------------------------------------------------


def test_kernel_scores_a_hand_worked_batch() -> None:
    layout = Layout(
        kind="prob_columns", task="classification", classes=("a", "b"), columns=("pa", "pb")
    )
    arrays = [pa.array([0.7, 0.5, float("nan"), -0.1, 0.2]), pa.array([0.3, 0.5, 0.5, 1.1, 0.2])]
    result = score_arrays(arrays, layout, Scoring("margin"), id_length=pa.array([3, 3, 3, 3, 0]))
    assert result.score[:2].round(6).tolist() == [0.6, 1.0]
    assert result.predicted_index.tolist() == [0, 0, -1, -1, -1]
    assert result.problem.tolist() == [0, 0, NAN, NEGATIVE, SUM | EMPTY_ID]
    arrow = result.to_arrow()
    assert arrow["score"].null_count == 3


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 300),
    cut=st.integers(1, 299),
    strategy=st.sampled_from(STRATEGIES),
    seed=st.integers(0, 2**16),
)
def test_kernel_scores_equal_run_scores_whatever_the_batches(
    tmp_path_factory: pytest.TempPathFactory, n: int, cut: int, strategy: str, seed: int
) -> None:
    table = _table(n, seed=seed, quantise=seed % 2 == 0)
    path = _write(tmp_path_factory.mktemp("k") / "run.parquet", table)
    expected = run_scores(load_run(path), strategy)
    layout = Layout(
        kind="prob_columns",
        task="classification",
        classes=CLASSES,
        columns=tuple(f"prob_{c}" for c in CLASSES),
    )
    cut = min(cut, n)
    parts = [table.slice(0, cut), table.slice(cut)]
    got = np.concatenate(
        [
            score_arrays([t.column(c) for c in layout.columns], layout, Scoring(strategy)).score
            for t in parts
            if t.num_rows
        ]
    )
    assert np.array_equal(got, expected)


def test_engine_options_parse_without_spark() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    args = parser.parse_args(
        ["--engine", "spark", "--master", "local[2]", "--conf", "a=1", "--conf", "b=x=y"]
    )
    assert (args.engine, args.master) == ("spark", "local[2]")
    assert parse_conf(args.conf) == {"a": "1", "b": "x=y"}
    with pytest.raises(Exception, match="--conf expects KEY=VALUE, got 'novalue'"):
        parse_conf(["novalue"])


def test_a_master_that_does_not_answer_is_reported_at_once() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(SparkMasterError, match=rf"spark://127.0.0.1:{port} does not answer"):
        check_master(f"spark://127.0.0.1:{port}", timeout=3)
    assert time.monotonic() - started < 30  # refused, not left to hang


def test_no_parquet_files_at_the_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SparkInputError, match="No Parquet files at .*empty"):
        find_parquet_files(tmp_path / "empty")
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "run.csv").write_text("data_row_id\n")
    with pytest.raises(SparkInputError, match=r"found 1 other file\(s\), e.g. .*run.csv"):
        find_parquet_files(tmp_path / "csv")
    with pytest.raises(SparkInputError, match="No Parquet files at .*nothing-\\*.parquet"):
        find_parquet_files(str(tmp_path / "nothing-*.parquet"))


def test_class_columns_differing_between_files(tmp_path: Path) -> None:
    table = _table(60)
    _write(tmp_path / "parts" / "a.parquet", table)
    _write(tmp_path / "parts" / "b.parquet", table.drop_columns(["prob_eel"]))
    with pytest.raises(
        SparkInputError,
        match=r"b.parquet: class columns differ from .*a.parquet \(missing prob_eel\)",
    ):
        find_parquet_files(tmp_path / "parts")


def test_run_record_matches_the_in_process_hash(tmp_path: Path) -> None:
    path = _write(tmp_path / "run.parquet", _table(50))
    record = run_record(path)
    run = load_run(path)
    assert (record.content_hash, record.n_rows, record.name) == (run.content_hash, 50, "run")


# -- Spark, local[2] ----------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_select_equals_in_process_for_every_strategy(
    spark: Any, tmp_path: Path, strategy: str
) -> None:
    path = _write(tmp_path / "run.parquet", _table(3000, seed=1))
    got = select_from_path(path, 700, strategy)
    _same(got, ranked(load_run(path), strategy, k=700))


@pytest.mark.parametrize("method", ["map_in_arrow", "arrow_udf", "pandas_udf"])
def test_every_scoring_method_gives_the_same_selection(
    spark: Any, tmp_path: Path, method: str
) -> None:
    path = _write(tmp_path / "run.parquet", _table(1500, seed=2))
    files = find_parquet_files(path)
    flt = Filter(classes=("dog", "fox"), max_confidence=0.8)
    got = select(read_run(spark, files), 200, "entropy", flt, method=method, files=files)
    _same(got, ranked(load_run(path), "entropy", flt=flt, k=200))


def test_directory_and_glob_of_files_equal_the_whole_file(spark: Any, tmp_path: Path) -> None:
    table = _table(2400, seed=3)
    whole = _write(tmp_path / "whole.parquet", table)
    folder = _parts(tmp_path / "parts", table)
    expected = ranked(load_run(whole), "margin", k=500)
    _same(select_from_path(folder, 500, "margin"), expected)
    _same(select_from_path(str(folder / "part-*.parquet"), 500, "margin"), expected)


def test_filters_and_exclusions_equal_in_process(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "run.parquet", _table(2500, seed=4))
    run = load_run(path)
    queued = ranked(run, "least_confidence", k=300)["data_row_id"]
    flt = Filter(
        classes=("cat", "eel"),
        min_confidence=0.2,
        max_confidence=0.7,
        metadata_equals=(("site", "north"),),
        metadata_ranges=(("depth", 1.0, 8.0),),
        exclude_ids=frozenset(queued[:150]),
    )
    everything = dataclasses.replace(flt, exclude_ids=frozenset(queued))
    expected = ranked(run, "least_confidence", flt=everything, k=60)
    files = find_parquet_files(path)
    df = read_run(spark, files)
    extra = spark.createDataFrame(pd.DataFrame({"data_row_id": list(queued[150:])}))
    for exclude in (list(queued[150:]), extra):
        got = select(df, 60, "least_confidence", flt, exclude, files=files)
        _same(got, expected)


def test_layouts_logits_list_and_top1(spark: Any, tmp_path: Path) -> None:
    for layout, strategy in (("logit", "ratio"), ("list", "entropy"), ("top1", "least_confidence")):
        path = _write(tmp_path / f"{layout}.parquet", _table(1200, seed=5, layout=layout))
        _same(select_from_path(path, 300, strategy), ranked(load_run(path), strategy, k=300))
    with pytest.raises(StrategyError, match="top-1 predictions only"):
        select_from_path(tmp_path / "top1.parquet", 10, "margin")


@pytest.mark.parametrize("strategy", [*ENSEMBLE_STRATEGIES, "margin"])
def test_ensembles_equal_in_process(spark: Any, tmp_path: Path, strategy: str) -> None:
    for layout in ("members", "nested"):
        path = _write(tmp_path / f"{layout}.parquet", _table(900, seed=6, layout=layout))
        _same(select_from_path(path, 200, strategy), ranked(load_run(path), strategy, k=200))


def _multilabel_run(folder: Path) -> Path:
    _write(folder / "predictions.parquet", _table(1500, seed=7, layout="multilabel"))
    config = {"name": "ml", "task": "multilabel", "threshold": 0.6, "classes": list(CLASSES)}
    (folder / "run.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("aggregation", ["max", "mean"])
def test_multilabel_equals_in_process(spark: Any, tmp_path: Path, aggregation: str) -> None:
    folder = _multilabel_run(tmp_path / "ml")
    run = load_run(folder)
    for strategy in ("margin", "entropy"):
        scoring = Scoring(strategy, aggregation=aggregation)
        flt = Filter(classes=("dog",))
        got = select_from_path(folder, 250, scoring, flt)
        _same(got, ranked(run, scoring, flt=flt, k=250))


def test_score_dataframe_adds_the_in_process_columns(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "run.parquet", _table(800, seed=8))
    run = load_run(path)
    scored = score_dataframe(spark.read.parquet(str(path)), "margin").toPandas()
    assert {"score", "confidence", "predicted_label", "site"} <= set(scored.columns)
    by_id = scored.set_index("data_row_id").loc[run.ids]
    assert np.array_equal(by_id["score"].to_numpy(), run_scores(run, "margin"))
    assert list(by_id["predicted_label"]) == list(run.predicted_labels)


def test_score_dataframe_never_scores_a_bad_row(spark: Any) -> None:
    table = pa.table(
        {"data_row_id": ["a", "b", "c"], "prob_x": [0.9, np.nan, 0.5], "prob_y": [0.1, 0.5, 0.6]}
    )
    df = spark.createDataFrame(table).coalesce(1)
    scored = score_dataframe(df, "margin", on_invalid="null").toPandas().set_index("data_row_id")
    assert scored.loc["a", "score"] == pytest.approx(0.2)
    assert np.isnan(scored.loc["b", "score"]) and np.isnan(scored.loc["c", "score"])
    assert scored["problem"].tolist() == [0, NAN, SUM]
    with pytest.raises(Exception, match="2 row\\(s\\) of a batch have invalid predictions"):
        score_dataframe(df, "margin").collect()


def test_candidates_carry_their_embeddings(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "run.parquet", _table(1000, seed=9))
    run = load_run(path)
    got = candidates_from_path(path, 120, "margin", Filter(exclude_ids=frozenset(run.ids[:50])))
    expected = ranked(run, "margin", flt=Filter(exclude_ids=frozenset(run.ids[:50])), k=120)
    _same(got.frame, expected)
    assert got.embedding.shape == (120, 3) and got.embedding.dtype == np.float32
    assert np.array_equal(got.embedding, run.embedding[run.positions(expected["data_row_id"])])


def test_selection_errors_match_in_process(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "run.parquet", _table(300, seed=10))
    with pytest.raises(SelectionError, match="k=301 is larger than the pool of 300 row"):
        select_from_path(path, 301)
    with pytest.raises(EmptyPoolError, match="The pool is empty"):
        select_from_path(path, 5, flt=Filter(metadata_equals=(("site", "nowhere"),)))
    with pytest.raises(SelectionError, match="Unknown class\\(es\\) yak; the run's classes are"):
        select_from_path(path, 5, flt=Filter(classes=("yak",)))
    with pytest.raises(SelectionError, match="Unknown metadata column 'colour'; the run has: site"):
        select_from_path(path, 5, flt=Filter(metadata_equals=(("colour", "red"),)))


def test_a_schema_without_our_columns(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "run.parquet", pa.table({"data_row_id": ["a"], "x": [1.0]}))
    with pytest.raises(SparkInputError, match="no predictions found: expected prob_<class>"):
        select_from_path(path, 1)
    path = _write(tmp_path / "noid.parquet", pa.table({"prob_a": [1.0], "prob_b": [0.0]}))
    with pytest.raises(SparkInputError, match="missing required column 'data_row_id'"):
        select_from_path(path, 1)


def test_bad_probabilities_are_reported_by_file_and_row_group(spark: Any, tmp_path: Path) -> None:
    table = _table(1200, seed=11, quantise=False)
    probs = table.column("prob_dog").to_numpy().copy()
    probs[[410, 415, 799]] = np.nan  # row group 1 (rows 400-799) of the second file
    probs[1100] = -0.5  # row group 2
    table = table.set_column(table.schema.get_field_index("prob_dog"), "prob_dog", pa.array(probs))
    folder = tmp_path / "parts"
    _write(folder / "part-0.parquet", _table(500, seed=12))
    _write(folder / "part-1.parquet", table)
    with pytest.raises(RunValidationError) as caught:
        select_from_path(folder, 10)
    message = str(caught.value)
    assert "part-1.parquet, row 411, field 'prob_cat,prob_dog,prob_eel,prob_fox'" in message
    assert "row group 1: 3 row(s) not scored: NaN value" in message
    assert "row group 2: 1 row(s) not scored: negative value" in message
    assert "part-0.parquet" not in message


def test_another_master_in_the_same_process_is_refused(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "run.parquet", _table(50))
    with pytest.raises(SparkMasterError, match="already running in this process"):
        select_from_path(path, 5, master="local[1]")


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_select_and_submit_equal_in_process(spark: Any, tmp_path: Path) -> None:
    from labelnext.cli import main
    from labelnext.ledger import Ledger

    path = _write(tmp_path / "run.parquet", _table(2000, seed=13))
    base = ["select", str(path), "--strategy", "margin", "--top", "300", "--max-confidence", "0.9"]
    assert main([*base, "--out", str(tmp_path / "memory.csv")]) == 0
    assert main([*base, "--engine", "spark", "--out", str(tmp_path / "spark.csv")]) == 0
    assert (tmp_path / "spark.csv").read_bytes() == (tmp_path / "memory.csv").read_bytes()

    rows = {}
    for engine in ("memory", "spark"):
        db = f"sqlite:///{tmp_path / engine}.db"
        for name in ("b1", "b2"):  # the second batch must leave out the first's rows
            args = ["submit", str(path), "--project", "p", "--name", name, "--top", "150"]
            assert main([*args, "--strategy", "entropy", "--db", db, "--engine", engine]) == 0
        with Ledger(db) as ledger:
            rows[engine] = [ledger.batch_rows(b) for b in (1, 2)]
    for memory, spark_rows in zip(rows["memory"], rows["spark"], strict=True):
        # the in-memory submit stores each row's prediction record for the exports; the engine
        # hands back the selected rows' scores only (docs/spark.md), so the record is None
        assert memory["prediction"].map(lambda p: isinstance(p, dict)).all()
        assert spark_rows["prediction"].isna().all()
        pd.testing.assert_frame_equal(
            memory.drop(columns="prediction"), spark_rows.drop(columns="prediction")
        )


def test_cli_on_a_standalone_cluster_equals_in_process(spark_cluster: str, tmp_path: Path) -> None:
    from labelnext.cli import main

    table = _table(3000, seed=14)
    whole = _write(tmp_path / "whole.parquet", table)
    folder = _parts(tmp_path / "parts", table, n_files=4)
    (tmp_path / "queued.txt").write_text(
        "\n".join(ranked(load_run(whole), "ratio", k=40)["data_row_id"])
    )
    common = ["--strategy", "ratio", "--top", "400", "--exclude", str(tmp_path / "queued.txt")]
    assert main(["select", str(whole), *common, "--out", str(tmp_path / "memory.csv")]) == 0
    db = f"sqlite:///{tmp_path / 'cluster.db'}"
    script = (
        "import sys; from labelnext.cli import main; a = sys.argv[1:]; i = a.index('--'); "
        "sys.exit(main(a[:i]) or main(a[i + 1:]))"
    )
    cluster = [
        "--engine",
        "spark",
        "--master",
        spark_cluster,
        "--conf",
        "spark.executor.memory=512m",
    ]
    cluster += ["--conf", "spark.ui.enabled=false"]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "select",
            str(folder),
            *common,
            *cluster,
            "--out",
            str(tmp_path / "cluster.csv"),
            "--",
            "submit",
            str(folder),
            "--project",
            "p",
            "--name",
            "c1",
            "--top",
            "100",
            "--strategy",
            "ratio",
            "--db",
            db,
            *cluster,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "cluster.csv").read_bytes() == (tmp_path / "memory.csv").read_bytes()
    from labelnext.ledger import Ledger

    with Ledger(db) as ledger:
        stored = ledger.batch_rows(1)
    assert list(stored["data_row_id"]) == list(
        ranked(load_run(whole), "ratio", k=100)["data_row_id"]
    )


def test_cli_batch_method_on_spark_picks_what_memory_picks(spark: Any, tmp_path: Path) -> None:
    """--method on Spark: the engine narrows to --candidates rows, the driver picks among them."""
    from labelnext.cli import main
    from labelnext.ledger import Ledger

    path = _write(tmp_path / "run.parquet", _table(1500, seed=21))
    for method in ("diverse", "cluster"):
        base = ["select", str(path), "--strategy", "margin", "--top", "40", "--method", method]
        base += ["--candidates", "200", "--seed", "2"]
        assert main([*base, "--engine", "memory", "--out", str(tmp_path / "memory.csv")]) == 0
        assert main([*base, "--engine", "spark", "--out", str(tmp_path / "spark.csv")]) == 0
        memory = pd.read_csv(tmp_path / "memory.csv")
        on_spark = pd.read_csv(tmp_path / "spark.csv")
        assert on_spark["data_row_id"].tolist() == memory["data_row_id"].tolist(), method
    db = f"sqlite:///{tmp_path / 'spark.db'}"
    args = ["submit", str(path), "--project", "p", "--name", "b", "--top", "30"]
    assert main([*args, "--method", "diverse", "--engine", "spark", "--db", db]) == 0
    with Ledger(db) as ledger:
        batch = ledger.batch(1)
        assert batch.method == "diverse" and batch.method_params["engine"] == "spark"
        assert len(ledger.batch_rows(1)) == 30
