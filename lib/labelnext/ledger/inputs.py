"""Checks of what a caller asks the ledger to store, each message naming the parameter.

Run before any transaction opens, so a refused request changes nothing, and the same on both
backends: SQLite stores text of any length and NUL characters, PostgreSQL refuses both (a
``varchar(n)`` is at most n characters; no text may contain NUL), so without these checks the same
input passed on one and crashed on the other.

The limits (:data:`TEXT_LIMITS`, in characters) are the columns' own lengths where a column has
one, read from :mod:`labelnext.ledger.schema` so the two cannot drift apart; free text columns
(notes, image references, run sources) get a bound of their own. No text may hold a NUL character
or a lone surrogate (text that is not valid UTF-8). JSON parameters need no check: ``json.dumps``
writes a NUL as the six characters ``\\u0000``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from labelnext.errors import BatchInputError
from labelnext.ledger.schema import ACTION_ORIGINS, batch_rows, batches, model_runs, projects

__all__ = [
    "BATCH_METHODS",
    "ON_CONFLICT",
    "ROW_COLUMNS",
    "TEXT_LIMITS",
    "check_actor",
    "check_batch_kind",
    "check_ids",
    "check_name",
    "check_origin",
    "check_priority",
    "check_text",
    "params_json",
    "row_records",
    "shorten",
]

ON_CONFLICT = ("fail", "skip")


def _length(column: sa.Column[Any]) -> int:
    length = getattr(column.type, "length", None)
    if not isinstance(length, int):  # pragma: no cover - a schema change without a limit
        raise TypeError(f"column {column} has no length")
    return length


#: The longest text, in characters, each field of the ledger takes (see the module docstring).
TEXT_LIMITS: dict[str, int] = {
    "data_row_id": _length(batch_rows.c.data_row_id),
    "project": _length(projects.c.name),
    "name": _length(batches.c.name),
    "created_by": _length(batches.c.created_by),
    "actor": _length(batches.c.created_by),
    "strategy": _length(batches.c.strategy),
    "client_token": _length(batches.c.client_token),
    "predicted_label": _length(batch_rows.c.predicted_label),
    "image": 4096,  # a text column: bounded like a path (PATH_MAX) or a long URL
    "note": 10_000,  # a text column: a note for people, not a document
    "run.name": _length(model_runs.c.name),
    "run.model": _length(model_runs.c.model),
    "run.version": _length(model_runs.c.version),
    "run.source": 4096,
    "run.content_hash": _length(model_runs.c.content_hash),
}


def shorten(value: str, width: int = 32) -> str:
    """``repr(value)``, its first ``width`` characters followed by ``...`` when longer."""
    return repr(value) if len(value) <= width else f"{value[:width]!r}..."


def text_problem(value: str, limit: int) -> str | None:
    """What is wrong with ``value`` as stored text (None if nothing)."""
    if len(value) > limit:
        return f"{len(value)} characters; at most {limit}"
    if "\x00" in value:
        return f"contains a NUL character at index {value.index(chr(0))}"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"not valid UTF-8 text (a lone surrogate at index {exc.start})"
    return None


def check_text(parameter: str, value: str, *, limit: int | None = None) -> str:
    """Refuse text the ledger cannot store the same way on both backends."""
    problem = text_problem(value, TEXT_LIMITS[parameter] if limit is None else limit)
    if problem is not None:
        raise BatchInputError(f"{parameter}: {shorten(value)} is refused: {problem}")
    return value


def check_name(parameter: str, value: object) -> str:
    """A non-empty name (stripped) within its field's limit."""
    if not isinstance(value, str) or not value.strip():
        raise BatchInputError(f"{parameter}: expected a non-empty str, got {value!r}")
    return check_text(parameter, value.strip())


def check_actor(actor: object) -> str | None:
    """Who acts: None (not recorded) or a non-empty name within the limit."""
    if actor is None:
        return None
    return check_name("actor", actor)


def check_origin(origin: object) -> str:
    if origin not in ACTION_ORIGINS:
        raise BatchInputError(
            f"origin: {origin!r} is not allowed; expected one of {ACTION_ORIGINS}"
        )
    return str(origin)


def check_ids(parameter: str, values: list[str]) -> None:
    """Refuse, as a whole, data_row_ids the ledger could not store, naming each bad one."""
    limit = TEXT_LIMITS["data_row_id"]
    problems = []
    for position, value in enumerate(values):
        if len(value) <= limit and value.isascii() and "\x00" not in value:
            continue  # the common case, checked quickly
        problem = text_problem(value, limit)
        if problem is not None:
            problems.append(f"position {position}: data_row_id {shorten(value)} ({problem})")
    _raise_problems(parameter, problems)


def _raise_problems(parameter: str, problems: list[str]) -> None:
    if not problems:
        return
    shown = "; ".join(problems[:20]) + (
        f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
    )
    raise BatchInputError(
        f"{parameter}: {len(problems)} value(s) break the ledger's text limits (at most "
        f"{TEXT_LIMITS['data_row_id']} characters for a data_row_id, no NUL character, valid "
        f"UTF-8); nothing was stored: {shown}"
    )


def check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
        raise BatchInputError(
            f"priority: expected an int from 1 (most urgent) to 5, got {priority!r}"
        )
    return priority


TASKS = ("classification", "multilabel", "detection")
BATCH_METHODS = ("top", "diverse", "cluster", "typical", "auto", "manual")


def check_batch_kind(
    task: object, classes: Sequence[str], method: object, embedding_source: object
) -> tuple[str, str, str]:
    """The run's task, its classes as JSON text, and the batch method, checked.

    Raises
    ------
    BatchInputError
        An unknown task or method, classes that are not names, an embedding source that is not
        a short text.
    """
    if task not in TASKS:
        raise BatchInputError(f"task: expected one of {TASKS}, got {task!r}")
    if method not in BATCH_METHODS:
        raise BatchInputError(f"method: expected one of {BATCH_METHODS}, got {method!r}")
    if isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
        raise BatchInputError(f"classes: expected a sequence of class names, got {classes!r}")
    names = list(classes)
    for name in names:
        problem = text_problem(name, TEXT_LIMITS["predicted_label"])
        if problem is not None:
            raise BatchInputError(f"classes: {shorten(name)} ({problem})")
    if embedding_source is not None and (
        not isinstance(embedding_source, str) or text_problem(embedding_source, 200) is not None
    ):
        raise BatchInputError(
            f"embedding_source: expected a text of at most 200 characters, got "
            f"{shorten(str(embedding_source))}"
        )
    return str(task), json.dumps(names), str(method)


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
    check_ids("rows", ids)
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
    predictions = [_prediction_json(v, ids[i]) for i, v in enumerate(column("prediction"))]
    problems = []
    for field, values in (("predicted_label", labels), ("image", images)):
        limit = TEXT_LIMITS[field]
        for position, value in enumerate(values):
            if value is None or (len(value) <= limit and value.isascii() and "\x00" not in value):
                continue  # the common case, checked quickly
            problem = text_problem(value, limit)
            if problem is not None:
                problems.append(
                    f"position {position} (data_row_id {shorten(ids[position])}): {field} "
                    f"{shorten(value or '')} ({problem})"
                )
    _raise_problems("rows", problems)
    records: list[dict[str, Any]] = [
        {
            "data_row_id": ids[i],
            "rank": ranks[i],
            "score": scores[i],
            "confidence": confidences[i],
            "predicted_label": labels[i],
            "image": images[i],
            "prediction": predictions[i],
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
    "prediction",
    "status",
)


def _prediction_json(value: Any, data_row_id: str) -> str | None:
    """A row's prediction record (a dict, or JSON text of one) as JSON text, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BatchInputError(
                f"rows: the prediction of {shorten(data_row_id)} is not JSON ({exc.msg})"
            ) from None
    if not isinstance(value, dict):
        raise BatchInputError(
            f"rows: the prediction of {shorten(data_row_id)} must be a JSON object, got "
            f"{type(value).__name__}"
        )
    try:
        return json.dumps(value, sort_keys=True, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BatchInputError(
            f"rows: the prediction of {shorten(data_row_id)} cannot be stored ({exc})"
        ) from None
