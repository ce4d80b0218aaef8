"""Score and select on a Spark DataFrame with the in-process kernels.

Why one module of this length: scoring, validation, filters and the top-k plan share one column
layout and one Arrow batch function that must stay identical to the in-process kernels.

Plan of :func:`select`: prediction columns go to Python in Arrow batches, where
:func:`labelnext.spark.kernel.score_arrays` validates and scores them with the numpy kernels of
:mod:`labelnext.uncertainty`; filters run in Spark (class and confidence on the scored columns,
metadata on the table's own columns), excluded ids leave by a broadcast anti-join, and Spark's
``orderBy(score desc, data_row_id asc).limit(k)`` (a take-ordered: each partition keeps its top
``k``, then one task merges them) returns exactly ``k`` rows to the driver. Rows that fail
validation are counted with an accumulator during that same pass; when there are any, a second
pass counts them per file and row group for the message, and nothing is returned.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from labelnext.errors import (
    EmptyPoolError,
    Problem,
    RunValidationError,
    SelectionError,
    StrategyError,
)
from labelnext.scoring import Scoring
from labelnext.select import Filter, top_k
from labelnext.spark.files import ParquetFiles
from labelnext.spark.kernel import Layout, ScoredBatch, describe_problems, score_arrays
from labelnext.spark.layout import SparkInputError, choose_layout, metadata_columns

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

__all__ = [
    "METHODS",
    "SELECT_METHODS",
    "Candidates",
    "candidates",
    "layout_of",
    "score_dataframe",
    "select",
]

# How batches reach the kernels: mapInArrow (every kept column travels through Python), a
# scalar Arrow UDF (only the prediction columns travel to Python), or a scalar pandas UDF (the
# same, through pandas). benchmarks/bench_engine.py --methods measures them.
METHODS = ("map_in_arrow", "arrow_udf", "pandas_udf")
DEFAULT_METHOD = "map_in_arrow"
# select / candidates: mapInArrow keeping each partition's top (k + excluded) rows in Python, so
# that only those travel back to the JVM (measured fastest); or plain scoring by one of METHODS
# followed by Spark's filters and take-ordered over every row.
SELECT_METHODS = ("partition_top_k", *METHODS)
DEFAULT_SELECT_METHOD = "partition_top_k"
ID = "data_row_id"
MAX_PROBLEMS = 50


def _spark_kind(data_type: DataType) -> str:
    from pyspark.sql import types as T

    if isinstance(data_type, T.NumericType):
        return "numeric"
    if isinstance(data_type, T.StringType):
        return "string"
    if isinstance(data_type, T.ArrayType):
        return "list2" if isinstance(data_type.elementType, T.ArrayType) else "list"
    return "other"


def _classes_from_files(df: DataFrame) -> list[str] | None:
    """``labelnext.classes`` from the schema metadata of the DataFrame's first input file."""
    from labelnext.spark.layout import classes_from_metadata

    try:
        files = df.inputFiles()
    except Exception:  # not a file-backed DataFrame
        return None
    for uri in sorted(files)[:1]:
        try:
            return classes_from_metadata(pq.read_schema(_local_path(uri)).metadata)
        except (OSError, pa.ArrowException):
            return None
    return None


def _local_path(uri: str) -> str:
    parts = urlsplit(uri)
    return unquote(parts.path) if parts.scheme in ("", "file") else uri


def _first_shape(df: DataFrame, column: str) -> tuple[int | None, int | None]:
    """(values per row, members per row) of a list column, read from its first non-null row."""
    from pyspark.sql import functions as F

    row = df.select(F.col(column)).where(F.col(column).isNotNull()).first()
    if row is None or row[0] is None:
        return None, None
    value = row[0]
    if value and isinstance(value[0], list | tuple):
        return len(value[0]), len(value)
    return len(value), None


def layout_of(
    df: DataFrame,
    *,
    classes: Sequence[str] | None = None,
    task: str = "classification",
    threshold: float = 0.5,
    renormalize: bool = False,
    source: str = "the DataFrame",
    files: ParquetFiles | None = None,
) -> Layout:
    """The prediction layout of ``df`` (see :class:`~labelnext.spark.kernel.Layout`).

    Class names come from ``classes``, else run.json / the Parquet schema metadata key
    ``labelnext.classes`` of the input files, else the column names (or ``0..C-1``).

    Raises
    ------
    SparkInputError
    """
    kinds = {f.name: _spark_kind(f.dataType) for f in df.schema.fields}
    declared: list[str] | None = list(classes) if classes is not None else None
    if declared is None:
        declared = files.declared_classes if files is not None else _classes_from_files(df)
    width = members = None
    uses_list = kinds.get("probabilities") in ("list", "list2") and not any(
        c.startswith(("prob_", "logit_")) or (c[:1] == "m" and "_prob_" in c) for c in kinds
    )
    if uses_list:
        width, members = (
            _first_shape_from_files(files)
            if files is not None
            else _first_shape(df, "probabilities")
        )
    return choose_layout(
        kinds,
        source=source,
        task=task,
        declared=declared,
        width=width,
        members=members,
        threshold=threshold,
        renormalize=renormalize,
    )


def _first_shape_from_files(files: ParquetFiles) -> tuple[int | None, int | None]:
    for path in files.paths:
        reader = pq.ParquetFile(path)
        for batch in reader.iter_batches(batch_size=1024, columns=["probabilities"]):
            for value in batch.column(0).to_pylist():
                if value:
                    if isinstance(value[0], list):
                        return len(value[0]), len(value)
                    return len(value), None
    return None, None


def _check_strategy(layout: Layout, scoring: Scoring, source: str) -> None:
    if scoring.strategy in layout.strategies:
        return
    if layout.kind == "top1":
        raise StrategyError(
            f"{source} has top-1 predictions only (predicted_label + confidence), so only "
            f"least_confidence is defined; {scoring.strategy!r} needs every class's probability."
        )
    if layout.task == "multilabel":
        raise StrategyError(
            f"{scoring.strategy!r} is not defined for a multi-label run; valid: "
            f"{', '.join(layout.strategies)}."
        )
    raise StrategyError(
        f"{source} has no ensemble members or MC-dropout samples, so {scoring.strategy!r} is "
        "not defined; it needs probabilities of shape (n, T, C)."
    )


def _as_scoring(scoring: str | Scoring, layout: Layout) -> Scoring:
    chosen = scoring if isinstance(scoring, Scoring) else Scoring(strategy=scoring)
    if layout.task == "multilabel" and chosen.aggregation not in ("max", "mean"):
        raise StrategyError(
            f"Unknown aggregation {chosen.aggregation!r} for multi-label; valid: max, mean."
        )
    return chosen


# -- the scoring step --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What the kernel outputs besides score/confidence/predicted_index/problem."""

    label: bool  # predicted_label computed in Python (multi-label, top-1)
    match: tuple[int, ...]  # class indices for class_match (multi-label class filter)

    def fields(self) -> list[tuple[str, str]]:
        out = [
            ("score", "double"),
            ("confidence", "double"),
            ("predicted_index", "int"),
            ("problem", "int"),
        ]
        if self.label:
            out.append(("predicted_label", "string"))
        if self.match:
            out.append(("class_match", "boolean"))
        return out


def _id_length(column: str = ID) -> Column:
    from pyspark.sql import functions as F

    return F.length(F.btrim(F.col(column).cast("string"), F.lit(" \t\n\r\x0b\x0c")))


def _on_batch(
    account: Callable[[int], None] | None, raise_invalid: bool
) -> Callable[[ScoredBatch], None]:
    def check(result: ScoredBatch) -> None:
        bad = int(np.count_nonzero(result.problem))
        if not bad:
            return
        if account is not None:
            account(bad)
        if raise_invalid:
            bits = int(np.bitwise_or.reduce(result.problem))
            raise ValueError(
                f"labelnext: {bad} row(s) of a batch have invalid predictions "
                f"({'; '.join(describe_problems(bits))}); they are not scored. "
                "labelnext.spark.select reports them by file and row group."
            )

    return check


def _scored(
    df: DataFrame,
    layout: Layout,
    scoring: Scoring,
    plan: _Plan,
    keep: Sequence[Column],
    *,
    method: str,
    check: Callable[[ScoredBatch], None],
) -> DataFrame:
    """``keep`` columns plus the kernel's fields, one output row per input row."""
    from pyspark.sql import functions as F

    fields = plan.fields()
    names = [name for name, _ in fields]
    inputs = [_id_length(), *[F.col(c) for c in layout.columns]]
    match = plan.match

    def compute(arrays: Sequence[pa.Array]) -> dict[str, pa.Array]:
        result = score_arrays(arrays[1:], layout, scoring, id_length=arrays[0], match_classes=match)
        check(result)
        return result.to_arrow()

    if method == "arrow_udf":

        def arrow_fn(*arrays: pa.Array) -> pa.Array:
            out = compute(arrays)
            return pa.StructArray.from_arrays([out[n] for n in names], names=names)

        udf = _vectorized(arrow_fn, _struct_ddl(fields), arrow=True)
        return _expand(df, keep, udf(*inputs), names)
    if method == "pandas_udf":

        def pandas_fn(*series: pd.Series) -> pd.DataFrame:
            arrays = [pa.Array.from_pandas(s) for s in series]
            out = compute(arrays)
            return pd.DataFrame({n: out[n].to_pandas() for n in names})

        udf = _vectorized(pandas_fn, _struct_ddl(fields), arrow=False)
        return _expand(df, keep, udf(*inputs), names)
    if method != "map_in_arrow":
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    kept = df.select(*keep)
    kept_names = kept.columns
    n_keep = len(kept_names)
    staged = df.select(
        *keep,
        inputs[0].alias("__len"),
        *[F.col(c).alias(f"__in{i}") for i, c in enumerate(layout.columns)],
    )

    def map_fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            out = compute([batch.column(i) for i in range(n_keep, batch.num_columns)])
            columns = [batch.column(i) for i in range(n_keep)] + [out[n] for n in names]
            yield pa.RecordBatch.from_arrays(columns, names=[*kept_names, *names])

    schema = _output_schema(kept.schema, fields)
    return staged.mapInArrow(map_fn, schema)


def _vectorized(fn: Callable[..., Any], ddl: str, *, arrow: bool) -> Callable[..., Column]:
    """A scalar Arrow (or pandas) UDF of ``fn`` returning ``ddl``."""
    import warnings

    from pyspark.sql.pandas import functions as P

    with warnings.catch_warnings():
        # the eval type is given, not inferred from hints (fn takes *arrays)
        warnings.simplefilter("ignore", UserWarning)
        if arrow:
            made = P.arrow_udf(fn, ddl, P.ArrowUDFType.SCALAR)
        else:
            made = P.pandas_udf(fn, ddl, P.PandasUDFType.SCALAR)
    return made


def _struct_ddl(fields: Sequence[tuple[str, str]]) -> str:
    return "struct<" + ",".join(f"{name}:{kind}" for name, kind in fields) + ">"


def _output_schema(kept: StructType, fields: Sequence[tuple[str, str]]) -> StructType:
    from pyspark.sql import types as T

    kinds: dict[str, DataType] = {
        "double": T.DoubleType(),
        "int": T.IntegerType(),
        "string": T.StringType(),
        "boolean": T.BooleanType(),
    }
    return T.StructType(
        [*kept.fields, *[T.StructField(name, kinds[kind], True) for name, kind in fields]]
    )


def _expand(
    df: DataFrame, keep: Sequence[Column], struct: Column, names: Sequence[str]
) -> DataFrame:
    from pyspark.sql import functions as F

    staged = df.select(*keep, struct.alias("__s"))
    kept = [c for c in staged.columns if c != "__s"]
    return staged.select(*[F.col(c) for c in kept], *[F.col(f"__s.{n}").alias(n) for n in names])


def _keep_columns(df: DataFrame, extra: Sequence[str]) -> list[Column]:
    from pyspark.sql import functions as F

    out = [F.col(ID).cast("string").alias(ID)]
    if "image" in df.columns:
        out.append(F.col("image").cast("string").alias("image"))
    out.extend(F.col(c) for c in extra if c not in (ID, "image"))
    return out


def score_dataframe(
    df: DataFrame,
    scoring: str | Scoring = "least_confidence",
    *,
    classes: Sequence[str] | None = None,
    task: str = "classification",
    threshold: float = 0.5,
    renormalize: bool = False,
    on_invalid: str = "raise",
    method: str = DEFAULT_METHOD,
) -> DataFrame:
    """Add ``score``, ``confidence`` and ``predicted_label`` columns to a DataFrame of predictions.

    The scores are computed over Arrow batches by the same numpy kernels as
    :func:`labelnext.uncertainty.run_scores`, so each equals the in-process score bit for bit.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per data row: ``data_row_id`` and predictions in one of our layouts:
        ``prob_<class>`` columns, a ``probabilities`` array column, ``logit_<class>`` columns
        (softmax; multi-label: sigmoid), ensemble members as ``m<t>_prob_<class>`` columns or a
        ``probabilities`` array of arrays (T, C), or ``predicted_label`` + ``confidence``.
    scoring : str or Scoring, default="least_confidence"
        The strategy (and, multi-label, the aggregation over classes).
    classes : sequence of str, optional
        Class names in order; default: the Parquet schema metadata key ``labelnext.classes`` of
        the input files, else the column names (``0..C-1`` for a ``probabilities`` array).
    task : {"classification", "multilabel"}, default="classification"
    threshold : float, default=0.5
        Multi-label: a class is predicted when its probability is at least this.
    renormalize : bool, default=False
        Divide probability rows that do not sum to 1 by their sum instead of refusing them.
    on_invalid : {"raise", "null"}, default="raise"
        Rows with missing, NaN, infinite or negative values, or probabilities not summing to 1:
        ``raise`` fails the Spark job with a message saying what is wrong; ``null`` leaves their
        ``score`` null and adds an int column ``problem`` (0 = valid; see
        :func:`labelnext.spark.describe_problems`).
    method : {"arrow_udf", "pandas_udf", "map_in_arrow"}, default="arrow_udf"
        How batches reach Python (measured in ``benchmarks/bench_engine.py``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``df``'s columns plus ``score`` (double, in [0, 1], **higher = more uncertain**),
        ``confidence`` (``1 - score``) and ``predicted_label`` (string).

    Raises
    ------
    SparkInputError, StrategyError
        At once, for a schema without our columns or a strategy the layout cannot support.
    """
    from pyspark.sql import functions as F

    if on_invalid not in ("raise", "null"):
        raise ValueError(f"on_invalid must be 'raise' or 'null', got {on_invalid!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    layout = layout_of(df, classes=classes, task=task, threshold=threshold, renormalize=renormalize)
    chosen = _as_scoring(scoring, layout)
    _check_strategy(layout, chosen, "the DataFrame")
    plan = _Plan(label=layout.kind == "top1" or layout.task == "multilabel", match=())
    base = [c for c in df.columns if c not in ("score", "confidence", "predicted_label", "problem")]
    keep = [F.col(c) for c in base]
    scored = _scored(
        df, layout, chosen, plan, keep, method=method, check=_on_batch(None, on_invalid == "raise")
    )
    label = (
        F.col("predicted_label")
        if plan.label
        else F.element_at(
            F.array(*[F.lit(c) for c in layout.classes]), F.col("predicted_index") + 1
        )
    )
    label = F.when(F.col("problem") == 0, label)
    out = [F.col(c) for c in base if c in scored.columns]
    out += [F.col("score"), F.col("confidence"), label.alias("predicted_label")]
    if on_invalid == "null":
        out.append(F.col("problem"))
    return scored.select(*out)


# -- selection ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    """The most uncertain rows and their embeddings, for a batch method to pick from.

    ``frame`` has the columns of :func:`labelnext.select.ranked` in ranking order; row ``i`` of
    ``embedding`` (shape (n, d), float32) belongs to row ``i`` of ``frame``.
    """

    frame: pd.DataFrame
    embedding: NDArray[np.float32]


def _metadata_check(flt: Filter, available: Sequence[str]) -> None:
    for column in [c for c, _ in flt.metadata_equals] + [c for c, _, _ in flt.metadata_ranges]:
        if column not in available:
            raise SelectionError(
                f"Unknown metadata column {column!r}; the run has: "
                f"{', '.join(map(str, available)) or '(none)'}."
            )


def _class_indices(layout: Layout, wanted: Sequence[str]) -> list[int]:
    unknown = sorted(set(wanted) - set(layout.classes))
    if unknown:
        raise SelectionError(
            f"Unknown class(es) {', '.join(unknown)}; the run's classes are "
            f"{', '.join(layout.classes)}."
        )
    return [layout.classes.index(c) for c in wanted]


def _equals(df: DataFrame, column: str, value: Any) -> Column:
    """``column == value`` as pandas compares them: a string never equals a number."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    kind = df.schema[column].dataType
    is_text = isinstance(kind, T.StringType)
    if is_text != isinstance(value, str) or (
        isinstance(kind, T.BooleanType) != isinstance(value, bool | np.bool_)
    ):
        return F.lit(False)
    return F.coalesce(F.col(column) == F.lit(value), F.lit(False))


def _exclusion_frame(spark: SparkSession, ids: Iterable[str]) -> DataFrame:
    table = pa.table({ID: pa.array(sorted({str(i) for i in ids}), pa.string())})
    return spark.createDataFrame(table)


def _pool(
    df: DataFrame,
    scoring: str | Scoring,
    flt: Filter | None,
    exclude: Iterable[str] | DataFrame | None,
    *,
    classes: Sequence[str] | None,
    task: str,
    threshold: float,
    renormalize: bool,
    method: str,
    files: ParquetFiles | None,
    source: str,
    k_cut: int,
    extra: Sequence[str] = (),
) -> tuple[DataFrame, Layout, Scoring, Any]:
    """The scored, filtered pool (before ordering), its layout, and the bad-row accumulator.

    With ``partition_top_k`` the pool holds, per partition, only the ``k_cut + len(excluded)``
    best rows: enough, because at most ``len(excluded)`` of them can leave by the anti-join.
    """
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import functions as F

    if method not in SELECT_METHODS:
        raise ValueError(f"method must be one of {', '.join(SELECT_METHODS)}, got {method!r}")
    layout = layout_of(
        df,
        classes=classes,
        task=task,
        threshold=threshold,
        renormalize=renormalize,
        source=source,
        files=files,
    )
    chosen = _as_scoring(scoring, layout)
    _check_strategy(layout, chosen, source)
    flt = flt or Filter()
    available = metadata_columns(df.columns, layout)
    _metadata_check(flt, available)
    wanted = _class_indices(layout, flt.classes) if flt.classes and layout.kind != "top1" else []
    plan = _Plan(
        label=layout.kind == "top1" or layout.task == "multilabel",
        match=tuple(wanted) if layout.task == "multilabel" else (),
    )
    meta_cols = [c for c, _ in flt.metadata_equals] + [c for c, _, _ in flt.metadata_ranges]
    keep = _keep_columns(df, [*dict.fromkeys([*meta_cols, *extra])])
    spark = df.sparkSession
    accumulator: Any = None
    try:
        accumulator = spark.sparkContext.accumulator(0)
    except Exception:  # Spark Connect has no accumulators: a count job checks instead
        accumulator = None
    account = accumulator.add if accumulator is not None else None
    excluded = _excluded(spark, flt, exclude, SparkDataFrame)
    if method == "partition_top_k":
        n_excluded = 0 if excluded is None else _count_excluded(flt, exclude, excluded)
        pool = _partition_top(
            df,
            layout,
            chosen,
            plan,
            keep,
            flt=flt,
            wanted=wanted,
            k_cut=k_cut + n_excluded,
            account=account,
        )
    else:
        pool = _filtered(
            _scored(df, layout, chosen, plan, keep, method=method, check=_on_batch(account, False)),
            df,
            layout,
            flt,
            wanted,
        )
    if excluded is not None:
        pool = pool.join(F.broadcast(excluded), on=ID, how="left_anti")
    if accumulator is None:
        scored = _scored(df, layout, chosen, plan, keep, method="map_in_arrow", check=_ignore)
        accumulator = _Counted(scored.where(F.col("problem") != 0).count())
    return pool, layout, chosen, accumulator


def _ignore(result: ScoredBatch) -> None:
    return None


def _excluded(
    spark: SparkSession,
    flt: Filter,
    exclude: Iterable[str] | DataFrame | None,
    frame_type: type,
) -> DataFrame | None:
    from pyspark.sql import functions as F

    if isinstance(exclude, frame_type):
        frame: DataFrame = exclude  # type: ignore[assignment]
        excluded = frame.select(F.col(ID).cast("string").alias(ID)).distinct()
        if flt.exclude_ids:
            excluded = excluded.unionByName(_exclusion_frame(spark, flt.exclude_ids)).distinct()
        return excluded
    ids = set(flt.exclude_ids) | {str(i) for i in (exclude or ())}  # type: ignore[union-attr]
    return _exclusion_frame(spark, ids) if ids else None


def _count_excluded(
    flt: Filter, exclude: Iterable[str] | DataFrame | None, excluded: DataFrame
) -> int:
    if exclude is None or isinstance(exclude, Iterable):
        return len(set(flt.exclude_ids) | {str(i) for i in (exclude or ())})
    return int(excluded.count())


def _filtered(
    scored: DataFrame, df: DataFrame, layout: Layout, flt: Filter, wanted: Sequence[int]
) -> DataFrame:
    """The plain path's filters, as Spark expressions over the scored rows."""
    from pyspark.sql import functions as F

    pool = scored.where(F.col("problem") == 0)
    if flt.classes:
        if layout.kind == "top1":
            pool = pool.where(F.col("predicted_label").isin(list(flt.classes)))
        elif layout.task == "multilabel":
            pool = pool.where(F.col("class_match"))
        else:
            pool = pool.where(F.col("predicted_index").isin(list(wanted)))
    if flt.min_confidence > 0.0 or flt.max_confidence < 1.0:
        # the in-process bound, in the same float64 arithmetic (labelnext.select.filter_mask)
        pool = pool.where(
            (F.col("confidence") >= F.lit(flt.min_confidence - 1e-6))
            & (F.col("confidence") <= F.lit(flt.max_confidence + 1e-6))
        )
    return pool.where(_metadata_predicate(df, flt))


def _metadata_predicate(df: DataFrame, flt: Filter) -> Column:
    """Every metadata filter as one Spark predicate (null counts as False, as in pandas)."""
    from pyspark.sql import functions as F

    predicate = F.lit(True)
    for column, value in flt.metadata_equals:
        predicate = predicate & _equals(df, column, value)
    for column, low, high in flt.metadata_ranges:
        number = F.col(column).try_cast("double")
        predicate = predicate & F.coalesce((number >= low) & (number <= high), F.lit(False))
    return predicate


def _partition_top(
    df: DataFrame,
    layout: Layout,
    scoring: Scoring,
    plan: _Plan,
    keep: Sequence[Column],
    *,
    flt: Filter,
    wanted: Sequence[int],
    k_cut: int,
    account: Callable[[int], None] | None,
) -> DataFrame:
    """Score every row in mapInArrow; each partition yields only its ``k_cut`` best pool rows.

    Metadata filters are a Spark predicate computed before (a boolean input column); class and
    confidence filters apply to the kernel's output in numpy, as ``filter_mask`` does.
    """
    from pyspark.sql import functions as F

    kept = df.select(*keep)
    kept_names = kept.columns
    n_keep = len(kept_names)
    staged = df.select(
        *keep,
        _metadata_predicate(df, flt).alias("__keep"),
        _id_length().alias("__len"),
        *[F.col(c).alias(f"__in{i}") for i, c in enumerate(layout.columns)],
    )
    out_fields = [f for f in plan.fields() if f[0] not in ("problem", "class_match")]
    names = [*kept_names, *[n for n, _ in out_fields]]
    id_at = kept_names.index(ID)
    check = _on_batch(account, False)
    bounds = flt.min_confidence > 0.0 or flt.max_confidence < 1.0
    low, high = flt.min_confidence - 1e-6, flt.max_confidence + 1e-6
    top1_classes = pa.array(list(flt.classes), pa.string()) if layout.kind == "top1" else None
    wanted_index = np.asarray(list(wanted), dtype=np.int32)

    def map_fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        best = _Best(k_cut, id_at, n_keep)
        for batch in batches:
            result = score_arrays(
                [batch.column(i) for i in range(n_keep + 2, batch.num_columns)],
                layout,
                scoring,
                id_length=batch.column(n_keep + 1),
                match_classes=plan.match,
            )
            check(result)
            keep_rows = np.asarray(
                batch.column(n_keep).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
            )
            mask = result.valid & keep_rows
            if flt.classes:
                if top1_classes is not None:
                    assert result.predicted_label is not None
                    mask &= np.isin(result.predicted_label, top1_classes.to_pylist())
                elif result.class_match is not None:
                    mask &= result.class_match
                else:
                    mask &= np.isin(result.predicted_index, wanted_index)
            if bounds:
                confidence = 1.0 - result.score
                mask &= (confidence >= low) & (confidence <= high)
            best.offer(batch, result, mask)
        table = best.result()
        if table is not None:
            yield from table.rename_columns(names).to_batches()

    return staged.mapInArrow(map_fn, _output_schema(kept.schema, out_fields))


class _Best:
    """A partition's best ``k`` rows so far (score desc, id asc), as Arrow tables whose first
    columns are the kept ones, then score, confidence, predicted_index [, predicted_label]."""

    def __init__(self, k: int, id_at: int, score_at: int) -> None:
        self.k = k
        self.id_at = id_at
        self.score_at = score_at
        self.parts: list[pa.Table] = []
        self.n = 0
        self.threshold = -np.inf

    def offer(self, batch: pa.RecordBatch, result: ScoredBatch, mask: NDArray[np.bool_]) -> None:
        if self.n >= self.k:  # only rows that can still make the cut (ties included)
            mask = mask & (result.score >= self.threshold)
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        take = pa.array(rows)
        arrays = result.to_arrow()
        columns = [batch.column(i).take(take) for i in range(self.score_at)]
        columns += [arrays[n].take(take) for n in ("score", "confidence", "predicted_index")]
        if "predicted_label" in arrays:
            columns.append(arrays["predicted_label"].take(take))
        self.parts.append(
            pa.Table.from_arrays(columns, names=[str(i) for i in range(len(columns))])
        )
        self.n += len(rows)
        if self.n >= 2 * self.k:
            self._reduce()

    def _reduce(self) -> None:
        table = pa.concat_tables(self.parts)
        if table.num_rows > self.k:
            scores = np.asarray(table.column(self.score_at).to_numpy(), dtype=np.float64)
            ids = np.asarray(table.column(self.id_at).to_numpy(zero_copy_only=False), dtype=object)
            chosen = top_k(scores, ids, self.k)
            table = table.take(pa.array(chosen))
            self.threshold = float(scores[chosen[-1]])
        self.parts = [table]
        self.n = table.num_rows

    def result(self) -> pa.Table | None:
        if not self.parts:
            return None
        self._reduce()
        return self.parts[0]


@dataclass(frozen=True)
class _Counted:
    value: int


def _top_table(pool: DataFrame, k: int, layout: Layout, columns: Sequence[str]) -> pa.Table:
    from pyspark.sql import functions as F

    label = "predicted_label" if "predicted_label" in pool.columns else "predicted_index"
    wanted = [ID, *(["image"] if "image" in pool.columns else []), label, "score", *columns]
    top = pool.orderBy(F.col("score").desc(), F.col(ID).asc()).limit(k).select(*wanted)
    return top.toArrow()


def _ranked_frame(table: pa.Table, layout: Layout) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    """The table as :func:`labelnext.select.rows_frame` builds it, and the row order used."""
    ids = np.asarray(table.column(ID).to_numpy(zero_copy_only=False), dtype=object)
    score = np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=np.float64)
    # Spark returned them ordered; order again on the driver with the in-process rule
    # (numpy's string order is Spark's UTF-8 byte order), at the cost of a k-row lexsort
    order = np.lexsort((ids, -score)).astype(np.int64)
    if "predicted_label" in table.column_names:
        labels = np.asarray(
            table.column("predicted_label").to_numpy(zero_copy_only=False), dtype=object
        )
    else:
        index = np.asarray(table.column("predicted_index").to_numpy(zero_copy_only=False))
        labels = np.asarray(layout.classes, dtype=object)[index]
    images = (
        np.asarray(table.column("image").to_numpy(zero_copy_only=False), dtype=object)[order]
        if "image" in table.column_names
        else None
    )
    picked = score[order]
    frame = pd.DataFrame(
        {
            ID: ids[order],
            "image": images,
            "predicted_label": labels[order],
            "score": picked,
            "confidence": 1.0 - picked,
            "rank": np.arange(1, len(order) + 1, dtype=np.int64),
        }
    )
    return frame, order


def _finish_checks(
    df: DataFrame,
    accumulator: Any,
    layout: Layout,
    scoring: Scoring,
    files: ParquetFiles | None,
    source: str,
    method: str,
) -> None:
    if int(accumulator.value) > 0:
        raise _diagnose(df, layout, scoring, files, source)


def _pool_checks(n: int, k: int) -> None:
    if n == 0:
        raise EmptyPoolError("The pool is empty: no row is left after filters and exclusions.")
    if n < k:
        raise SelectionError(f"k={k} is larger than the pool of {n} row(s).")


def select(
    df: DataFrame,
    k: int,
    scoring: str | Scoring = "least_confidence",
    flt: Filter | None = None,
    exclude: Iterable[str] | DataFrame | None = None,
    *,
    classes: Sequence[str] | None = None,
    task: str = "classification",
    threshold: float = 0.5,
    renormalize: bool = False,
    method: str = DEFAULT_SELECT_METHOD,
    files: ParquetFiles | None = None,
    source: str = "the DataFrame",
) -> pd.DataFrame:
    """The global top-``k`` most uncertain rows of a DataFrame of predictions.

    The same rows, in the same order, with the same scores, as
    ``labelnext.select.ranked(load_run(path), scoring, flt=flt, k=k)`` on the same table loaded
    in memory: score descending, ties by ``data_row_id`` ascending.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Predictions in any layout :func:`score_dataframe` reads.
    k : int
        How many rows; the driver receives exactly these ``k`` rows.
    scoring : str or Scoring, default="least_confidence"
    flt : labelnext.select.Filter, optional
        Classes, confidence range and metadata filters run in Spark; ``exclude_ids`` join
        ``exclude``.
    exclude : iterable of str or DataFrame with a ``data_row_id`` column, optional
        Rows to leave out (queued or labeled in the project), removed by a broadcast anti-join.
    classes, task, threshold, renormalize
        As :func:`score_dataframe`.
    method : {"partition_top_k", "map_in_arrow", "arrow_udf", "pandas_udf"}
        ``partition_top_k`` (default) scores in mapInArrow and sends back only each partition's
        best ``k + len(exclude)`` rows; the others score every row, then filter and order in
        Spark. All give the same result (benchmarks/bench_engine.py --methods times them).
    files : ParquetFiles, optional
        The files ``df`` was read from (as :func:`select_from_path` passes): class names from
        run.json or schema metadata, and file / row group in messages about bad rows.
    source : str
        Names the input in messages.

    Returns
    -------
    pandas.DataFrame
        Columns ``data_row_id, image, predicted_label, score, confidence, rank`` (rank 1 = label
        first), as :func:`labelnext.select.ranked`.

    Raises
    ------
    RunValidationError
        Rows with invalid predictions (NaN, negative, missing, not summing to 1, empty ids):
        each problem names the file, the row group, the count of bad rows and the first one.
    SparkInputError, StrategyError, SelectionError, EmptyPoolError
    """
    if k < 1:
        raise SelectionError(f"k must be >= 1, got {k}")
    pool, layout, chosen, accumulator = _pool(
        df,
        scoring,
        flt,
        exclude,
        classes=classes,
        task=task,
        threshold=threshold,
        renormalize=renormalize,
        method=method,
        files=files,
        source=source,
        k_cut=k,
    )
    table = _top_table(pool, k, layout, ())
    _finish_checks(df, accumulator, layout, chosen, files, source, method)
    _pool_checks(table.num_rows, k)
    frame, _ = _ranked_frame(table, layout)
    return frame


def candidates(
    df: DataFrame,
    m_times_k: int,
    scoring: str | Scoring = "least_confidence",
    flt: Filter | None = None,
    exclude: Iterable[str] | DataFrame | None = None,
    *,
    embedding: str = "embedding",
    classes: Sequence[str] | None = None,
    task: str = "classification",
    threshold: float = 0.5,
    renormalize: bool = False,
    method: str = DEFAULT_SELECT_METHOD,
    files: ParquetFiles | None = None,
    source: str = "the DataFrame",
) -> Candidates:
    """The ``m_times_k`` most uncertain rows and their embeddings, for ``labelnext.batch``.

    A batch method (diverse, cluster, ...) picks ``k`` rows among the ``m * k`` most uncertain;
    Spark narrows the pool to those, the driver receives only them.

    Parameters
    ----------
    m_times_k : int
        How many candidates.
    embedding : str, default="embedding"
        The column holding each row's embedding (a list of floats of one length ``d``).
    Other parameters as :func:`select`.

    Returns
    -------
    Candidates
        ``frame`` as :func:`select` returns it, ``embedding`` of shape (m_times_k, d), float32.

    Raises
    ------
    SparkInputError
        No embedding column.
    RunValidationError
        Candidates whose embeddings are missing, of another length, or not finite.
    """
    if m_times_k < 1:
        raise SelectionError(f"m_times_k must be >= 1, got {m_times_k}")
    if embedding not in df.columns:
        raise SparkInputError(
            f"{source}: no {embedding!r} column; batch methods need an embedding per row "
            f"(a list of floats); found: {', '.join(df.columns[:12])}"
        )
    pool, layout, chosen, accumulator = _pool(
        df,
        scoring,
        flt,
        exclude,
        classes=classes,
        task=task,
        threshold=threshold,
        renormalize=renormalize,
        method=method,
        files=files,
        source=source,
        k_cut=m_times_k,
        extra=(embedding,),
    )
    table = _top_table(pool, m_times_k, layout, (embedding,))
    _finish_checks(df, accumulator, layout, chosen, files, source, method)
    _pool_checks(table.num_rows, m_times_k)
    frame, order = _ranked_frame(table, layout)
    vectors = _embedding_matrix(table.column(embedding), frame[ID].to_numpy(), order, source)
    return Candidates(frame=frame, embedding=vectors)


def _embedding_matrix(
    column: pa.ChunkedArray, ids: NDArray[Any], order: NDArray[np.int64], source: str
) -> NDArray[np.float32]:
    values = column.to_pylist()
    values = [values[i] for i in order]
    lengths = [len(v) if v is not None else -1 for v in values]
    width = max(set(lengths), key=lengths.count)
    problems = [
        Problem(
            source,
            None,
            "embedding",
            f"data_row_id {ids[i]!r}: holds {max(n, 0)} values, expected {width}",
        )
        for i, n in enumerate(lengths)
        if n != width
    ]
    if not problems:
        matrix = np.asarray(values, dtype=np.float32).reshape(len(values), max(width, 0))
        bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        problems = [
            Problem(source, None, "embedding", f"data_row_id {ids[i]!r}: NaN or infinite value")
            for i in bad
        ]
        if not problems:
            return matrix
    raise RunValidationError(problems[:MAX_PROBLEMS], truncated=len(problems) > MAX_PROBLEMS)


# -- where the bad rows are ----------------------------------------------------------------------


def _diagnose(
    df: DataFrame,
    layout: Layout,
    scoring: Scoring,
    files: ParquetFiles | None,
    source: str,
) -> RunValidationError:
    """Count the invalid rows per file, row group and kind of problem (a second pass)."""
    from pyspark.sql import functions as F

    spark = df.sparkSession
    inputs = [_id_length(), *[F.col(c) for c in layout.columns]]
    if files is not None:
        base = spark.read.schema(df.schema).parquet(*files.paths)
        located = base.select(
            F.col("_metadata.file_path").alias("__file"),
            F.col("_metadata.row_index").alias("__row"),
            *[x.alias(f"__in{i}") for i, x in enumerate(inputs)],
        )
        starts = {
            os.path.abspath(path): np.cumsum((0, *groups))
            for path, groups in zip(files.paths, files.row_groups, strict=True)
        }
    else:
        located = df.select(
            F.lit(source).alias("__file"),
            F.lit(None).cast("long").alias("__row"),
            *[x.alias(f"__in{i}") for i, x in enumerate(inputs)],
        )
        starts = {}

    def bad_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            result = score_arrays(
                [batch.column(i) for i in range(3, batch.num_columns)],
                layout,
                scoring,
                id_length=batch.column(2),
            )
            bad = np.flatnonzero(result.problem)
            if not len(bad):
                continue
            file_uri = np.asarray(batch.column(0).to_numpy(zero_copy_only=False), dtype=object)
            rows = batch.column(1).to_numpy(zero_copy_only=False)
            paths = [_local_path(str(file_uri[i])) for i in bad]
            groups = np.full(len(bad), -1, dtype=np.int64)
            for j, (path, row) in enumerate(zip(paths, rows[bad], strict=True)):
                bounds = starts.get(os.path.abspath(path))
                if bounds is not None and row is not None:
                    groups[j] = int(np.searchsorted(bounds, row, side="right")) - 1
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(paths, pa.string()),
                    pa.array(groups, pa.int64()),
                    pa.array(rows[bad], pa.int64()),
                    pa.array(result.problem[bad], pa.int32()),
                ],
                names=["file", "row_group", "row", "problem"],
            )

    found = located.mapInArrow(bad_rows, "file string, row_group long, row long, problem int")
    summary = (
        found.groupBy("file", "row_group", "problem")
        .agg(F.count(F.lit(1)).alias("n"), F.min("row").alias("first"))
        .orderBy("file", "row_group", "problem")
        .limit(MAX_PROBLEMS + 1)
        .toArrow()
        .to_pylist()
    )
    total = sum(int(r["n"]) for r in summary)
    fields = ",".join(layout.problem_field(j) for j in range(len(layout.columns)))
    if len(layout.columns) > 4:
        fields = f"{layout.problem_field(0)}..{layout.problem_field(len(layout.columns) - 1)}"
    problems = []
    for r in summary[:MAX_PROBLEMS]:
        what = "; ".join(describe_problems(int(r["problem"])))
        where = (
            f"row group {r['row_group']}: "
            if r["row_group"] is not None and r["row_group"] >= 0
            else ""
        )
        first = f" (first at row {int(r['first']) + 1})" if r["first"] is not None else ""
        field = "data_row_id" if int(r["problem"]) == 128 else fields
        problems.append(
            Problem(
                str(r["file"]),
                int(r["first"]) + 1 if r["first"] is not None else None,
                field,
                f"{where}{int(r['n']):,} row(s) not scored: {what}{first}",
            )
        )
    if not problems:
        problems = [Problem(source, None, None, "rows with invalid predictions (not located)")]
    error = RunValidationError(problems, truncated=len(summary) > MAX_PROBLEMS)
    error.n_bad_rows = total  # type: ignore[attr-defined]
    return error
