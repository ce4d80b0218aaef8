"""What the predictions columns of labelnext's own files mean, per task.

* classification: ``prob_<class>`` columns, a ``probabilities`` list column, ``logit_<class>``
  columns (softmax), or top-1 only (``predicted_label`` + ``confidence``);
* ensembles and MC dropout: ``m<t>_prob_<class>`` columns or a nested ``probabilities`` list of
  shape (members, classes);
* multi-label: one sigmoid per class (``prob_<class>``, ``logit_<class>`` or a list);
* detection: a ``boxes`` column, per row a list of ``{x, y, w, h, label, score}`` in pixels.

Each reader reports every bad cell through a :class:`~labelnext.errors.ProblemLog` and returns
the arrays a :class:`~labelnext.runs.ModelRun` holds.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from labelnext.boxes import Boxes
from labelnext.errors import ProblemLog
from labelnext.readers.columns import (
    SUM_TOLERANCE,
    check_class_count,
    check_probabilities,
    check_probabilities_collecting,
    column_names,
    list_column,
    numeric,
    report_bad_values,
    softmax_checked,
    strings,
)

__all__ = [
    "MEMBER_COLUMN",
    "TOP1_COLUMNS",
    "is_ensemble",
    "read_boxes",
    "read_classification",
    "read_ensemble",
    "read_multilabel",
]

MEMBER_COLUMN = re.compile(r"^m(\d+)_prob_(.+)$")  # ensemble member t's probability of a class
TOP1_COLUMNS = ("predicted_label", "confidence")


def read_classification(
    table: pa.Table, declared: list[str] | None, renormalize: bool, problems: ProblemLog
) -> tuple[
    NDArray[np.float32] | None, NDArray[np.object_] | None, NDArray[np.float32] | None, list[str]
]:
    columns = table.column_names
    prob_cols = [c for c in columns if c.startswith("prob_")]
    logit_cols = [c for c in columns if c.startswith("logit_")]

    if prob_cols or logit_cols:
        cols = prob_cols or logit_cols
        prefix = "prob_" if prob_cols else "logit_"
        classes = [c[len(prefix) :] for c in cols]
        if declared is not None:
            if len(declared) != len(classes):
                problems.add(
                    None,
                    "classes",
                    f"class-count mismatch: run.json names {len(declared)} classes but the file "
                    f"has {len(classes)} {prefix}<class> columns",
                )
                problems.raise_if_any()
            if set(declared) != set(classes):
                missing = sorted(set(declared) - set(classes))
                problems.add(
                    None,
                    "classes",
                    f"columns do not match run.json classes; no column for: {', '.join(missing)}",
                )
                problems.raise_if_any()
            cols = [prefix + c for c in declared]
            classes = list(declared)
        # probabilities are held as float32 from the start: one (n, C) array, no float64 copy
        matrix = np.empty((table.num_rows, len(cols)), dtype=np.float32 if prob_cols else float)
        for j, name in enumerate(cols):
            matrix[:, j] = numeric(table, name, problems, dtype=matrix.dtype.type)
        if prob_cols:
            probs = check_probabilities(matrix, cols, renormalize, problems)
        else:
            probs = softmax_checked(matrix, cols, problems)
        check_class_count(classes, problems)
        return probs, None, None, classes

    if "probabilities" in columns:
        matrix = list_column(table.column("probabilities"), "probabilities", problems)
        width = matrix.shape[1] if matrix.ndim == 2 else 0
        if declared is None:
            declared = [str(i) for i in range(width)]
        elif width and len(declared) != width:
            problems.add(
                None,
                "probabilities",
                f"class-count mismatch: {len(declared)} classes declared but rows hold "
                f"{width} probabilities",
            )
            problems.raise_if_any()
        names = [f"probabilities[{c}]" for c in declared]
        probs = check_probabilities(matrix, names, renormalize, problems)
        check_class_count(declared, problems)
        return probs, None, None, declared

    if all(c in columns for c in TOP1_COLUMNS):
        labels = strings(table.column("predicted_label"))
        blank = np.flatnonzero(pd.isna(labels) | (pd.Series(labels).astype(str) == ""))
        problems.add_rows(blank, "predicted_label", "empty predicted_label")
        confidence = numeric(table, "confidence", problems)
        report_bad_values(confidence[:, None], ["confidence"], problems)
        high = np.flatnonzero(confidence > 1.0 + SUM_TOLERANCE)
        problems.add_rows(high, "confidence", "confidence above 1")
        problems.raise_if_any()
        found = sorted({str(x) for x in labels})
        if declared is not None:
            unknown = sorted(set(found) - set(declared))
            if unknown:
                problems.add(
                    None,
                    "predicted_label",
                    f"labels not among run.json classes: {', '.join(unknown[:10])}",
                )
                problems.raise_if_any()
            found = declared
        return None, labels, np.clip(confidence, 0, 1).astype(np.float32), found

    problems.add(
        None,
        None,
        "no predictions found: expected prob_<class> columns, a 'probabilities' list column, "
        "logit_<class> columns, or 'predicted_label' + 'confidence'; found columns: "
        + column_names(columns),
    )
    problems.raise_if_any()
    raise AssertionError("unreachable")


def is_ensemble(table: pa.Table) -> bool:
    if any(MEMBER_COLUMN.match(c) for c in table.column_names):
        return True
    if "probabilities" in table.column_names:
        kind = table.column("probabilities").type
        return bool(pa.types.is_list(kind) and pa.types.is_list(kind.value_type))
    return False


def read_ensemble(
    table: pa.Table, declared: list[str] | None, renormalize: bool, problems: ProblemLog
) -> tuple[NDArray[np.float32], list[str]]:
    """Probabilities of shape (n, T, C): a nested ``probabilities`` list or ``m<t>_prob_<c>``."""
    members: dict[int, dict[str, str]] = {}
    for column in table.column_names:
        match = MEMBER_COLUMN.match(column)
        if match:
            members.setdefault(int(match.group(1)), {})[match.group(2)] = column
    if members:
        classes = declared or list(next(iter(members.values())))
        planes = []
        for t in sorted(members):
            missing = [c for c in classes if c not in members[t]]
            if missing:
                problems.add(
                    None, f"m{t}_prob_{missing[0]}", f"member {t} has no column for {missing}"
                )
                continue
            names = [members[t][c] for c in classes]
            matrix = np.column_stack([numeric(table, c, problems) for c in names])
            planes.append(check_probabilities(matrix, names, renormalize, problems))
        problems.raise_if_any()
        samples = np.stack(planes, axis=1)
    else:
        values = table.column("probabilities").to_pylist()
        shapes = [np.shape(v) if v is not None else () for v in values]
        common = max(set(shapes), key=shapes.count)
        for i, shape in enumerate(shapes):
            if shape != common or len(shape) != 2:
                problems.add(
                    i + 1,
                    "probabilities",
                    f"holds an array of shape {shape}, expected (members, classes) = {common}",
                )
        problems.raise_if_any()
        nested = np.asarray(values, dtype=np.float64)
        classes = declared or [str(i) for i in range(nested.shape[2])]
        if len(classes) != nested.shape[2]:
            problems.add(
                None,
                "probabilities",
                f"class-count mismatch: {len(classes)} classes declared but members hold "
                f"{nested.shape[2]} probabilities",
            )
            problems.raise_if_any()
        flat = nested.reshape(-1, nested.shape[2])
        names = [f"probabilities[{c}]" for c in classes]
        # rows of the flattened array are (row, member) pairs: report the data row
        checker = ProblemLog(problems.file, problems.limit)
        checked = check_probabilities_collecting(flat, names, renormalize, checker)
        for p in checker.items:
            row = None if p.row is None else (p.row - 1) // nested.shape[1] + 1
            member = None if p.row is None else (p.row - 1) % nested.shape[1]
            problems.add(row, p.field, f"member {member}: {p.message}")
        problems.raise_if_any()
        samples = checked.reshape(nested.shape)
    check_class_count(classes, problems)
    return np.ascontiguousarray(samples, dtype=np.float32), classes


def read_multilabel(
    table: pa.Table, declared: list[str] | None, problems: ProblemLog
) -> tuple[NDArray[np.float32], list[str]]:
    """Independent per-class probabilities: ``prob_<c>``, ``logit_<c>`` (sigmoid) or a list."""
    columns = table.column_names
    prob_cols = [c for c in columns if c.startswith("prob_")]
    logit_cols = [c for c in columns if c.startswith("logit_")]
    if prob_cols or logit_cols:
        prefix = "prob_" if prob_cols else "logit_"
        classes = declared or [c[len(prefix) :] for c in (prob_cols or logit_cols)]
        names = [prefix + c for c in classes]
        missing = [n for n in names if n not in columns]
        if missing:
            problems.add(None, missing[0], f"missing column for class(es): {', '.join(missing)}")
            problems.raise_if_any()
        matrix = np.column_stack([numeric(table, c, problems) for c in names])
        if logit_cols and not prob_cols:
            report_bad_values(matrix, names, problems, negative=False)
            problems.raise_if_any()
            matrix = 1.0 / (1.0 + np.exp(-np.clip(matrix, -500, 500)))
    elif "probabilities" in columns:
        matrix = list_column(table.column("probabilities"), "probabilities", problems)
        classes = declared or [str(i) for i in range(matrix.shape[1])]
        names = [f"probabilities[{c}]" for c in classes]
        if len(classes) != matrix.shape[1]:
            problems.add(
                None,
                "probabilities",
                f"class-count mismatch: {len(classes)} classes declared but rows hold "
                f"{matrix.shape[1]} probabilities",
            )
            problems.raise_if_any()
    else:
        problems.add(
            None,
            None,
            "no multi-label predictions found: expected prob_<class> columns (one sigmoid per "
            "class), logit_<class> columns or a 'probabilities' list column; found columns: "
            + column_names(columns),
        )
        problems.raise_if_any()
        raise AssertionError("unreachable")
    report_bad_values(matrix, names, problems)
    for j, name in enumerate(names):
        problems.add_rows(np.flatnonzero(matrix[:, j] > 1.0), name, "probability above 1")
    problems.raise_if_any()
    check_class_count(classes, problems, task="multilabel")
    return np.ascontiguousarray(matrix, dtype=np.float32), classes


def read_boxes(
    table: pa.Table, declared: list[str] | None, problems: ProblemLog
) -> tuple[Boxes, list[str]]:
    """A ``boxes`` column: per row a list of {x, y, w, h, label, score[, probabilities]}."""
    if "boxes" not in table.column_names:
        problems.add(
            None,
            "boxes",
            "a detection run needs a 'boxes' column (per row a list of {x, y, w, h, label, "
            "score}), or run.json 'format': coco / yolo / labelbox; found columns: "
            + column_names(table.column_names),
        )
        problems.raise_if_any()
    values = table.column("boxes").to_pylist()
    rows: list[int] = []
    coords: list[list[float]] = []
    labels: list[str] = []
    scores: list[float] = []
    box_probs: list[Any] = []
    for i, cell in enumerate(values):
        if isinstance(cell, str):
            try:
                cell = json.loads(cell) if cell.strip() else []
            except json.JSONDecodeError:
                problems.add(i + 1, "boxes", "not a JSON list of boxes")
                continue
        if cell is None:
            cell = []
        if not isinstance(cell, list):
            problems.add(i + 1, "boxes", "must be a list of boxes")
            continue
        for j, box in enumerate(cell):
            where = f"boxes[{j}]"
            if not isinstance(box, dict):
                problems.add(i + 1, where, "must be an object with x, y, w, h, label, score")
                continue
            parsed = _parse_box(box, where, i, problems)
            if parsed is None:
                continue
            xywh, label_text, score, probs = parsed
            rows.append(i)
            coords.append(xywh)
            labels.append(label_text)
            scores.append(score)
            box_probs.append(probs)
    problems.raise_if_any()
    classes = declared or sorted(set(labels))
    lookup = {c: k for k, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(lookup))
    if unknown:
        problems.add(None, "boxes", f"box labels not among the classes: {', '.join(unknown[:10])}")
        problems.raise_if_any()
    with_probs = [p for p in box_probs if p is not None]
    probabilities = None
    if with_probs and len(with_probs) == len(box_probs):
        matrix = np.asarray(with_probs, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(classes):
            problems.add(
                None, "boxes", f"box probabilities must hold one value per class ({len(classes)})"
            )
            problems.raise_if_any()
        probabilities = matrix
    boxes = Boxes.from_arrays(
        rows,
        coords,
        [lookup[x] for x in labels],
        scores,
        n_rows=table.num_rows,
        probabilities=probabilities,
    )
    return boxes, list(classes)


def _parse_box(
    box: dict[str, Any], where: str, i: int, problems: ProblemLog
) -> tuple[list[float], str, float, list[float] | None] | None:
    if box.get("bbox") is not None:
        bbox = box["bbox"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            problems.add(i + 1, f"{where}.bbox", "must be [x, y, w, h]")
            return None
        raw = dict(zip("xywh", bbox, strict=True))
    else:
        raw = {k: box.get(k) for k in "xywh"}
    coords = []
    for key in "xywh":
        value = raw.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            problems.add(i + 1, f"{where}.{key}", f"must be a finite number, got {value!r}")
            return None
        coords.append(float(value))
    if coords[2] <= 0 or coords[3] <= 0:
        problems.add(i + 1, f"{where}.w", f"box width and height must be > 0, got {coords[2:]}")
        return None
    label = box.get("label")
    if label is None or str(label) == "":
        problems.add(i + 1, f"{where}.label", "missing label")
        return None
    score = box.get("score")
    if not isinstance(score, int | float) or not 0.0 <= float(score) <= 1.0:
        problems.add(i + 1, f"{where}.score", f"must be a number in [0, 1], got {score!r}")
        return None
    probs = box.get("probabilities")
    return coords, str(label), float(score), probs
