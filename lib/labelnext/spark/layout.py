"""Which of our column layouts a table uses, read from its column names and types alone.

The rules are those of :func:`labelnext.runs.load_run` (ensembles first, then ``prob_<class>``,
``logit_<class>``, a ``probabilities`` list, ``predicted_label`` + ``confidence``), applied to a
schema instead of a loaded table, so that a Spark job can be planned before any row is read.
No pyspark here: column types arrive as the short kinds of :func:`arrow_kind` /
``_engine._spark_kind``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from labelnext.errors import LabelnextError
from labelnext.spark.kernel import Layout

__all__ = [
    "SparkInputError",
    "choose_layout",
    "classes_from_metadata",
    "metadata_columns",
    "prediction_columns",
]

MEMBER_COLUMN = re.compile(r"^m(\d+)_prob_(.+)$")  # as labelnext.runs: member t, class c
RESERVED = {"data_row_id", "image", "embedding", "ground_truth", "probabilities", "boxes"}
TOP1 = ("predicted_label", "confidence")
TASKS = ("classification", "multilabel")


class SparkInputError(LabelnextError, ValueError):
    """The input of a Spark selection is unusable: no Parquet files, no prediction columns,
    files whose class columns differ, an unsupported task."""


def classes_from_metadata(metadata: Mapping[bytes, bytes] | None) -> list[str] | None:
    """Class names from Parquet schema metadata ``labelnext.classes`` (or ``classes``)."""
    meta = metadata or {}
    raw = meta.get(b"labelnext.classes") or meta.get(b"classes")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return [str(c) for c in value] if isinstance(value, list) else None


def prediction_columns(names: Sequence[str]) -> list[str]:
    """The columns that hold predictions (what must agree between the files of one run)."""
    return [
        c
        for c in names
        if c.startswith(("prob_", "logit_")) or MEMBER_COLUMN.match(c) or c == "probabilities"
    ]


def metadata_columns(names: Sequence[str], layout: Layout) -> list[str]:
    """Every other column: what metadata filters may name (as ``ModelRun.metadata``)."""
    used = set(RESERVED) | set(prediction_columns(names))
    if layout.kind == "top1":
        used |= set(TOP1)
    return [c for c in names if c not in used]


def _names(columns: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f" (+{len(columns) - limit} more)" if len(columns) > limit else "")


def choose_layout(
    kinds: Mapping[str, str],
    *,
    source: str,
    task: str = "classification",
    declared: Sequence[str] | None = None,
    width: int | None = None,
    members: int | None = None,
    threshold: float = 0.5,
    renormalize: bool = False,
) -> Layout:
    """The :class:`Layout` of a table whose columns have these kinds.

    Parameters
    ----------
    kinds : mapping of column name to kind
        ``numeric``, ``string``, ``list`` (of numbers), ``list2`` (of lists) or ``other``.
    source : str
        Names the table in messages (a file, or "the DataFrame").
    task : {"classification", "multilabel"}
    declared : sequence of str, optional
        Class names (the ``classes`` parameter, run.json, or schema metadata); orders the classes.
    width, members : int, optional
        For a ``probabilities`` list column without declared classes: values per row (C), and
        for a nested one the members per row (T), read from the first row by the caller.

    Raises
    ------
    SparkInputError
        Naming the source, the columns found and what was expected.
    """
    if task == "detection":
        raise SparkInputError(
            f"{source}: detection runs are not supported by the Spark engine; score them in "
            "memory (--engine memory) or stream them"
        )
    if task not in TASKS:
        raise SparkInputError(
            f"{source}: unknown task {task!r}; the Spark engine scores: {', '.join(TASKS)}"
        )
    names = list(kinds)
    if "data_row_id" not in kinds:
        raise SparkInputError(
            f"{source}: missing required column 'data_row_id'; found: {_names(names)}"
        )
    declared_list = [str(c) for c in declared] if declared is not None else None
    common = {"task": task, "threshold": threshold, "renormalize": renormalize}
    prob_cols = [c for c in names if c.startswith("prob_")]
    logit_cols = [c for c in names if c.startswith("logit_")]

    if task == "classification":
        member_cols = [c for c in names if MEMBER_COLUMN.match(c)]
        if member_cols:
            return _member_layout(member_cols, kinds, declared_list, source, renormalize)
        if kinds.get("probabilities") == "list2":
            classes = declared_list or [str(i) for i in range(width or 0)]
            _check_classes(classes, source)
            if not members:
                raise SparkInputError(
                    f"{source}: cannot tell how many ensemble members 'probabilities' holds"
                )
            return Layout(
                kind="nested",
                task=task,
                classes=tuple(classes),
                columns=("probabilities",),
                members=members,
                renormalize=renormalize,
                field_names=tuple(f"probabilities[{c}]" for c in classes),
            )
    if prob_cols or logit_cols:
        cols = prob_cols or logit_cols
        prefix = "prob_" if prob_cols else "logit_"
        classes = [c[len(prefix) :] for c in cols]
        if declared_list is not None:
            if task == "classification" and len(declared_list) != len(classes):
                raise SparkInputError(
                    f"{source}, field 'classes': class-count mismatch: {len(declared_list)} "
                    f"classes declared but the table has {len(classes)} {prefix}<class> columns"
                )
            missing = [c for c in declared_list if c not in classes]
            if missing:
                raise SparkInputError(
                    f"{source}, field 'classes': columns do not match the declared classes; no "
                    f"column for: {', '.join(prefix + c for c in missing)}"
                )
            classes = declared_list
        columns = tuple(prefix + c for c in classes)
        for column in columns:
            if kinds[column] != "numeric":
                raise SparkInputError(
                    f"{source}, field '{column}': expected numbers, the column holds "
                    f"{kinds[column]} values"
                )
        _check_classes(classes, source)
        kind = "prob_columns" if prob_cols else "logit_columns"
        return Layout(kind=kind, classes=tuple(classes), columns=columns, **common)  # type: ignore[arg-type]
    if "probabilities" in kinds:
        if kinds["probabilities"] != "list":
            raise SparkInputError(
                f"{source}, field 'probabilities': expected a list of numbers per row, the "
                f"column holds {kinds['probabilities']} values"
            )
        if declared_list is not None and width is not None and len(declared_list) != width:
            raise SparkInputError(
                f"{source}, field 'probabilities': class-count mismatch: {len(declared_list)} "
                f"classes declared but rows hold {width} probabilities"
            )
        classes = declared_list or [str(i) for i in range(width or 0)]
        _check_classes(classes, source)
        return Layout(
            kind="list",
            classes=tuple(classes),
            columns=("probabilities",),
            field_names=tuple(f"probabilities[{c}]" for c in classes),
            **common,  # type: ignore[arg-type]
        )
    if task == "classification" and all(c in kinds for c in TOP1):
        classes = declared_list or []
        return Layout(kind="top1", classes=tuple(classes), columns=TOP1, **common)  # type: ignore[arg-type]
    expected = (
        "prob_<class> columns (one sigmoid per class), logit_<class> columns or a "
        "'probabilities' list column"
        if task == "multilabel"
        else "prob_<class> columns, a 'probabilities' list column, logit_<class> columns, "
        "m<t>_prob_<class> ensemble columns, or 'predicted_label' + 'confidence'"
    )
    raise SparkInputError(
        f"{source}: no {'multi-label ' if task == 'multilabel' else ''}predictions found: "
        f"expected {expected}; found columns: {_names(names)}"
    )


def _member_layout(
    member_cols: list[str],
    kinds: Mapping[str, str],
    declared: list[str] | None,
    source: str,
    renormalize: bool,
) -> Layout:
    members: dict[int, dict[str, str]] = {}
    for column in member_cols:
        match = MEMBER_COLUMN.match(column)
        assert match is not None
        members.setdefault(int(match.group(1)), {})[match.group(2)] = column
    classes = declared or list(next(iter(members.values())))
    columns: list[str] = []
    for t in sorted(members):
        missing = [c for c in classes if c not in members[t]]
        if missing:
            raise SparkInputError(
                f"{source}, field 'm{t}_prob_{missing[0]}': member {t} has no column for "
                f"{', '.join(missing)}"
            )
        columns.extend(members[t][c] for c in classes)
    for column in columns:
        if kinds[column] != "numeric":
            raise SparkInputError(
                f"{source}, field '{column}': expected numbers, the column holds "
                f"{kinds[column]} values"
            )
    _check_classes(classes, source)
    return Layout(
        kind="member_columns",
        task="classification",
        classes=tuple(classes),
        columns=tuple(columns),
        members=len(members),
        renormalize=renormalize,
    )


def _check_classes(classes: Sequence[str], source: str) -> None:
    if len(classes) < 2:
        raise SparkInputError(
            f"{source}, field 'classes': a run needs >= 2 classes, got {len(classes)}"
        )
    dup = sorted({c for c in classes if list(classes).count(c) > 1})
    if dup:
        raise SparkInputError(f"{source}, field 'classes': duplicate class names: {', '.join(dup)}")


def arrow_kind(arrow_type: object) -> str:
    """The short kind of a pyarrow type."""
    import pyarrow as pa

    assert isinstance(arrow_type, pa.DataType)
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numeric"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        inner = arrow_type.value_type
        if pa.types.is_list(inner) or pa.types.is_large_list(inner):
            return "list2"
        return "list"
    return "other"
