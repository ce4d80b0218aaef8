"""Checks of what a caller asks the ledger to store, each message naming the parameter.

Run before any transaction opens, so a refused request changes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from labelnext.errors import BatchInputError

__all__ = [
    "ON_CONFLICT",
    "ROW_COLUMNS",
    "check_name",
    "check_priority",
    "params_json",
    "row_records",
]

ON_CONFLICT = ("fail", "skip")


def check_name(parameter: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BatchInputError(f"{parameter}: expected a non-empty str, got {value!r}")
    return value.strip()


def check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
        raise BatchInputError(
            f"priority: expected an int from 1 (most urgent) to 5, got {priority!r}"
        )
    return priority


def params_json(params: Mapping[str, Any] | None) -> str:
    try:
        return json.dumps(dict(params or {}), sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise BatchInputError(f"strategy_params: not JSON-serialisable ({exc})") from exc


def _json_default(value: Any) -> Any:
    # numpy scalars, frozensets and tuples from Filter objects
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _float_or_none(values: list[Any]) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        f = float(v)
        out.append(f if math.isfinite(f) else None)
    return out


def _str_or_none(values: list[Any]) -> list[str | None]:
    return [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values
    ]


def row_records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Validate a selection and turn it into insert parameters, sorted by data_row_id.

    Sorting makes concurrent PostgreSQL inserts take index locks in one order (no deadlocks).
    """
    if not isinstance(rows, pd.DataFrame):
        raise BatchInputError(f"rows: expected a pandas DataFrame, got {type(rows).__name__}")
    if "data_row_id" not in rows.columns:
        raise BatchInputError(
            f"rows: no 'data_row_id' column (columns: {', '.join(map(str, rows.columns))})"
        )
    n = len(rows)
    if n == 0:
        raise BatchInputError("rows: the selection is empty; nothing to submit")
    raw_ids = rows["data_row_id"].tolist()
    bad = [i for i, v in enumerate(raw_ids) if not isinstance(v, str) or not v.strip()]
    if bad:
        raise BatchInputError(
            f"rows: data_row_id must be a non-empty str; bad value(s) at position(s) "
            f"{', '.join(map(str, bad[:20]))}: {', '.join(repr(raw_ids[i]) for i in bad[:5])}"
        )
    ids: list[str] = raw_ids
    if len(set(ids)) != n:
        counts = pd.Series(ids).value_counts()
        dups = sorted(counts[counts > 1].index)
        raise BatchInputError(
            f"rows: data_row_id must be unique; repeated: {', '.join(dups[:20])}"
            + (" ..." if len(dups) > 20 else "")
        )

    def column(name: str) -> list[Any]:
        if name in rows.columns:
            return list(rows[name].astype(object).where(rows[name].notna(), None))
        return [None] * n

    if "rank" in rows.columns:
        rank_values = pd.to_numeric(rows["rank"], errors="coerce")
        if rank_values.isna().any():
            raise BatchInputError("rows: rank must be an integer on every row")
        ranks = [int(r) for r in rank_values.tolist()]
    else:
        ranks = list(range(1, n + 1))
    try:
        scores = _float_or_none(column("score"))
        confidences = _float_or_none(column("confidence"))
    except (TypeError, ValueError) as exc:
        raise BatchInputError(f"rows: score and confidence must be numbers ({exc})") from exc
    labels = _str_or_none(column("predicted_label"))
    images = _str_or_none(column("image"))
    records: list[dict[str, Any]] = [
        {
            "data_row_id": ids[i],
            "rank": ranks[i],
            "score": scores[i],
            "confidence": confidences[i],
            "predicted_label": labels[i],
            "image": images[i],
            "status": "open",
        }
        for i in range(n)
    ]
    records.sort(key=lambda r: r["data_row_id"])
    return records


ROW_COLUMNS = (
    "batch_id",
    "project_id",
    "data_row_id",
    "rank",
    "score",
    "confidence",
    "predicted_label",
    "image",
    "status",
)
