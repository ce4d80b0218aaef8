"""What the ``labelnext`` CLI calls for ``--engine spark``: options, select and submit from a path.

This module imports pyspark only inside the functions that run a job, so that building the
CLI's parser never needs pyspark or Java.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from labelnext.errors import LabelnextError
from labelnext.scoring import Scoring
from labelnext.select import Filter
from labelnext.spark.engine import DEFAULT_METHOD, Candidates, candidates, select
from labelnext.spark.files import ParquetFiles, find_parquet_files
from labelnext.spark.session import get_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "ENGINES",
    "RunRecord",
    "add_engine_arguments",
    "candidates_from_path",
    "parse_conf",
    "read_run",
    "run_record",
    "select_from_path",
]

ENGINES = ("memory", "stream", "spark")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine {memory,stream,spark}``, ``--master URL`` and ``--conf k=v`` (repeatable)."""
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="memory: load the run; stream: read a Parquet file in batches; spark: score and "
        "select on Apache Spark (PATH a Parquet file, a directory of them, a glob or a run "
        "folder). Default: memory, or stream past 2 GiB",
    )
    group.add_argument(
        "--master",
        metavar="URL",
        default=None,
        help="Spark master for --engine spark: local[N], spark://host:port, yarn, k8s://... "
        "(default: the active session's, else local[*])",
    )
    group.add_argument(
        "--conf",
        metavar="K=V",
        action="append",
        default=None,
        help="a Spark setting for --engine spark, e.g. spark.executor.memory=4g (repeatable)",
    )


def parse_conf(values: Sequence[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` as a dict.

    Raises
    ------
    LabelnextError
        For an item without ``=`` or with an empty key.
    """
    out: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LabelnextError(f"--conf expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def read_run(spark: SparkSession, files: ParquetFiles) -> DataFrame:
    """The run's files as one DataFrame with the first file's schema (checked against the rest)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = from_arrow_schema(files.schema)
    return spark.read.schema(schema).parquet(*files.paths)


def _run_options(files: ParquetFiles) -> dict[str, Any]:
    config = files.config
    return {
        "task": str(config.get("task", "classification")),
        "threshold": float(config.get("threshold", 0.5)),
    }


@dataclass(frozen=True)
class RunRecord:
    """What the ledger records of a run selected on Spark (``Ledger.register_run`` takes it)."""

    name: str
    model: str | None
    version: str | None
    source: str
    content_hash: str
    n_rows: int


def run_record(source: str | os.PathLike[str] | ParquetFiles) -> RunRecord:
    """The ledger's record of a run on disk, from its footers (and run.json), without Spark."""
    files = source if isinstance(source, ParquetFiles) else find_parquet_files(source)
    config = files.config
    folder = files.folder
    if folder is not None:
        label = str(folder)
        default_name = folder.name
    else:
        label = files.source
        default_name = Path(files.paths[0]).stem if len(files.paths) == 1 else Path(label).name
    return RunRecord(
        name=str(config.get("name") or default_name),
        model=None if config.get("model") is None else str(config["model"]),
        version=None if config.get("version") is None else str(config["version"]),
        source=label,
        content_hash=files.content_hash(),
        n_rows=files.n_rows,
    )


def select_from_path(
    path: str | os.PathLike[str],
    k: int,
    scoring: str | Scoring = "least_confidence",
    flt: Filter | None = None,
    *,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    exclude: Iterable[str] | None = None,
    renormalize: bool = False,
    method: str = DEFAULT_METHOD,
) -> pd.DataFrame:
    """The top-``k`` rows of a run on disk, selected on Spark (what ``--engine spark`` runs).

    Parameters
    ----------
    path : path or str
        A Parquet file, a directory of Parquet files, a glob, or a run folder (its run.json
        gives the task, classes, threshold and the predictions file, directory or glob).
    k : int
    scoring : str or Scoring
    flt : Filter, optional
    master : str, optional
        See :func:`labelnext.spark.get_session`.
    conf : mapping, optional
        Spark settings for a new session.
    exclude : iterable of str, optional
        More ids to leave out, besides ``flt.exclude_ids``.
    renormalize : bool, default=False
    method : str
        See :func:`labelnext.spark.score_dataframe`.

    Returns
    -------
    pandas.DataFrame
        As :func:`labelnext.select.ranked` on the same rows loaded in memory: identical ids,
        order and scores.

    Raises
    ------
    SparkInputError, SparkMasterError, SparkUnavailableError, RunValidationError,
    SelectionError, EmptyPoolError, StrategyError
    """
    files = find_parquet_files(path)
    spark = get_session(master, conf)
    return select(
        read_run(spark, files),
        k,
        scoring,
        flt,
        exclude,
        renormalize=renormalize,
        method=method,
        files=files,
        source=files.source,
        **_run_options(files),
    )


def candidates_from_path(
    path: str | os.PathLike[str],
    m_times_k: int,
    scoring: str | Scoring = "least_confidence",
    flt: Filter | None = None,
    *,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    exclude: Iterable[str] | None = None,
    embedding: str = "embedding",
    renormalize: bool = False,
) -> Candidates:
    """:func:`labelnext.spark.candidates` on a run on disk (see :func:`select_from_path`)."""
    files = find_parquet_files(path)
    spark = get_session(master, conf)
    return candidates(
        read_run(spark, files),
        m_times_k,
        scoring,
        flt,
        exclude,
        embedding=embedding,
        renormalize=renormalize,
        files=files,
        source=files.source,
        **_run_options(files),
    )


def _owned_session() -> bool:
    """True when no Spark session runs yet: the command that starts one stops it."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return False
    return SparkSession.getActiveSession() is None


def _stop_session() -> None:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def cli_select(args: argparse.Namespace, flt: Filter, scoring: Scoring) -> pd.DataFrame:
    """``labelnext select PATH --engine spark``: the selected rows (the CLI writes them)."""
    owned = _owned_session()
    try:
        return select_from_path(
            args.run,
            args.top,
            scoring,
            flt,
            master=args.master,
            conf=parse_conf(args.conf),
            renormalize=getattr(args, "renormalize", False),
        )
    finally:
        if owned:
            _stop_session()


def cli_submit_rows(
    args: argparse.Namespace, excluded: frozenset[str], scoring: Scoring
) -> tuple[pd.DataFrame, RunRecord]:
    """``labelnext submit PATH --engine spark --top K``: the rows and the run's ledger record."""
    if getattr(args, "rows", None) is not None:
        raise LabelnextError(
            "--rows with --engine spark: submit a list of rows with the memory engine; the "
            "Spark engine selects the top K (--top K)"
        )
    if args.top < 1:
        raise LabelnextError(f"--top: expected a positive number of rows, got {args.top}")
    files = find_parquet_files(args.run)
    owned = _owned_session()
    try:
        spark = get_session(args.master, parse_conf(args.conf))
        rows = select(
            read_run(spark, files),
            args.top,
            scoring,
            Filter(exclude_ids=excluded),
            files=files,
            source=files.source,
            **_run_options(files),
        )
    finally:
        if owned:
            _stop_session()
    return rows, run_record(files)
