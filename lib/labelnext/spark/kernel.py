"""Score one Arrow batch of predictions exactly as the in-process path scores a loaded run.

This module runs on Spark's executors (inside ``mapInArrow`` or an Arrow UDF), so it imports
numpy, pyarrow and :mod:`labelnext.uncertainty` only, never pyspark. Every float step repeats
what :func:`labelnext.runs.load_run` and :func:`labelnext.uncertainty.run_scores` do to the same
values (probabilities held as float32, ensemble means taken in float64 then stored as float32,
softmax in float64, ...), so a row's score here is bit-for-bit the in-process score and the
ranking (score descending, ties by ``data_row_id``) is identical.

Rows that fail validation are not scored: their ``score`` is null and ``problem`` holds a bit
set (:data:`PROBLEM_BITS`) saying why, so the caller can refuse the table and say where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from labelnext.readers.columns import SUM_TOLERANCE, softmax
from labelnext.scoring import Scoring
from labelnext.uncertainty import (
    ENSEMBLE_STRATEGIES,
    STRATEGIES,
    ensemble_scores,
    multilabel_scores,
    uncertainty_scores,
)

__all__ = [
    "KINDS",
    "PROBLEM_BITS",
    "Layout",
    "ScoredBatch",
    "describe_problems",
    "score_arrays",
]

# How the predictions are laid out in the table.
KINDS = ("prob_columns", "logit_columns", "list", "member_columns", "nested", "top1")

MISSING, NAN, INF, NEGATIVE, SUM, ABOVE_ONE, SHAPE, EMPTY_ID, ZERO_SUM, EMPTY_LABEL = (
    1 << i for i in range(10)
)
PROBLEM_BITS: dict[int, str] = {
    MISSING: "missing value",
    NAN: "NaN value",
    INF: "infinite value",
    NEGATIVE: "negative value",
    SUM: f"probabilities do not sum to 1 (tolerance {SUM_TOLERANCE}; renormalize=True / "
    "--renormalize divides by the sum)",
    ABOVE_ONE: "value above 1",
    SHAPE: "wrong number of values",
    EMPTY_ID: "empty data_row_id",
    ZERO_SUM: "all probabilities are 0; cannot renormalise",
    EMPTY_LABEL: "empty predicted_label",
}

Floats = NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Layout:
    """Where a table keeps its predictions, and how to read them. Plain, picklable data.

    Parameters
    ----------
    kind : one of :data:`KINDS`
        ``prob_columns`` (``prob_<class>``), ``logit_columns`` (``logit_<class>``, softmax or,
        multi-label, sigmoid), ``list`` (a ``probabilities`` list column), ``member_columns``
        (``m<t>_prob_<class>``), ``nested`` (``probabilities`` as a list of lists, shape (T, C)),
        ``top1`` (``predicted_label`` + ``confidence``).
    task : {"classification", "multilabel"}
    classes : tuple of str
        Class names in the order of the run's classes (the order ties on argmax follow).
    columns : tuple of str
        The input columns, in the order :func:`score_arrays` expects them: one per class;
        ``members * len(classes)`` member-major for ``member_columns``; one for ``list`` and
        ``nested``; ``(predicted_label, confidence)`` for ``top1``.
    members : int
        Ensemble members ``T`` (``member_columns`` and ``nested``); 0 otherwise.
    threshold : float
        Multi-label decision threshold (a class is predicted when ``p >= threshold``).
    renormalize : bool
        Divide probability rows that do not sum to 1 by their sum instead of refusing them.
    """

    kind: str
    task: str
    classes: tuple[str, ...]
    columns: tuple[str, ...]
    members: int = 0
    threshold: float = 0.5
    renormalize: bool = False
    field_names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def strategies(self) -> tuple[str, ...]:
        """Strategies this layout supports (as ``uncertainty.supported_strategies``)."""
        if self.kind == "top1":
            return ("least_confidence",)
        if self.task == "classification" and self.kind in ("member_columns", "nested"):
            return STRATEGIES + ENSEMBLE_STRATEGIES
        return STRATEGIES

    def problem_field(self, j: int) -> str:
        """The name of input value ``j`` in messages (a column, or ``probabilities[c]``)."""
        names = self.field_names or self.columns
        return names[j] if j < len(names) else self.columns[0]


@dataclass(frozen=True)
class ScoredBatch:
    """What :func:`score_arrays` computes for each row of a batch.

    ``score`` and ``confidence`` are null where ``problem != 0``; ``predicted_index`` is the
    index into ``Layout.classes`` of the top-1 class (-1 for multi-label, top-1-only and
    invalid rows); ``predicted_label`` is set for multi-label and top-1-only layouts.
    ``class_match`` is whether any of the requested classes is predicted (multi-label).
    """

    score: NDArray[np.float64]
    problem: NDArray[np.int32]
    predicted_index: NDArray[np.int32]
    predicted_label: NDArray[np.object_] | None
    class_match: NDArray[np.bool_] | None

    @property
    def valid(self) -> NDArray[np.bool_]:
        return np.asarray(self.problem == 0)

    def to_arrow(self) -> dict[str, pa.Array]:
        """The columns, with nulls where a row is invalid."""
        invalid = ~self.valid
        out: dict[str, pa.Array] = {
            "score": pa.array(self.score, pa.float64(), mask=invalid),
            "confidence": pa.array(1.0 - self.score, pa.float64(), mask=invalid),
            "predicted_index": pa.array(self.predicted_index, pa.int32()),
            "problem": pa.array(self.problem, pa.int32()),
        }
        if self.predicted_label is not None:
            out["predicted_label"] = pa.array(self.predicted_label, pa.string(), mask=invalid)
        if self.class_match is not None:
            out["class_match"] = pa.array(self.class_match & ~invalid, pa.bool_())
        return out


def score_arrays(
    arrays: Sequence[pa.Array | pa.ChunkedArray],
    layout: Layout,
    scoring: Scoring,
    *,
    id_length: pa.Array | pa.ChunkedArray | None = None,
    match_classes: Sequence[int] = (),
) -> ScoredBatch:
    """Validate and score one batch of predictions; higher score = more uncertain, in [0, 1].

    Parameters
    ----------
    arrays : sequence of pyarrow arrays
        The batch's ``layout.columns``, in that order, each of length ``n``.
    layout : Layout
    scoring : Scoring
        The strategy (and multi-label aggregation).
    id_length : pyarrow integer array of length n, optional
        Length of each row's trimmed ``data_row_id``; null or 0 marks the row ``EMPTY_ID``.
    match_classes : sequence of int
        Multi-label: fill ``class_match`` with whether any of these class indices is predicted.

    Returns
    -------
    ScoredBatch
        ``score`` of shape (n,), float64, bit-for-bit equal to
        ``labelnext.uncertainty.run_scores`` on the same rows loaded in memory.
    """
    columns = [_plain(a) for a in arrays]
    n = len(columns[0]) if columns else 0
    problem = np.zeros(n, dtype=np.int32)
    if id_length is not None:
        length = _plain(id_length)
        empty = np.asarray(length.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        empty |= np.asarray(length.fill_null(0).to_numpy(zero_copy_only=False)) == 0
        problem[empty] |= EMPTY_ID
    label: NDArray[np.object_] | None = None
    match: NDArray[np.bool_] | None = None
    predicted = np.full(n, -1, dtype=np.int32)
    name = scoring.strategy

    if layout.kind == "top1":
        score, label = _top1(columns, problem)
    elif layout.task == "multilabel":
        p32 = _multilabel_matrix(columns, layout, problem)
        score = multilabel_scores(p32, name, aggregation=scoring.aggregation)
        present = p32 >= layout.threshold
        label = _joined(present, layout.classes)
        if match_classes:
            match = np.asarray(present[:, list(match_classes)].any(axis=1), dtype=bool)
    elif layout.kind in ("member_columns", "nested"):
        samples = _ensemble_samples(columns, layout, problem)
        mean = samples.mean(axis=1, dtype=np.float64).astype(np.float32)
        if name in ENSEMBLE_STRATEGIES:
            score = ensemble_scores(samples, name)
        else:
            score = uncertainty_scores(mean, name).astype(np.float64, copy=False)
        predicted = mean.argmax(axis=1).astype(np.int32)
    else:
        p32 = _class_matrix(columns, layout, problem)
        score = uncertainty_scores(p32, name).astype(np.float64, copy=False)
        predicted = p32.argmax(axis=1).astype(np.int32)

    bad = problem != 0
    if bad.any():
        score = np.where(bad, 0.0, score)
        predicted[bad] = -1
    return ScoredBatch(
        score=np.ascontiguousarray(score, dtype=np.float64),
        problem=problem,
        predicted_index=predicted,
        predicted_label=label,
        class_match=match,
    )


def _plain(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def _numeric(array: pa.Array, problem: NDArray[np.int32]) -> NDArray[np.float64]:
    """A numeric column as float64, nulls marked MISSING and read as 0 (as load_run does)."""
    if not (pa.types.is_floating(array.type) or pa.types.is_integer(array.type)):
        try:
            array = pc.cast(array, pa.float64())
        except pa.ArrowInvalid:
            array = pc.cast(pc.cast(array, pa.string()), pa.float64(), safe=False)
    values = np.array(array.to_numpy(zero_copy_only=False), dtype=np.float64)
    if array.null_count:
        missing = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        problem[missing] |= MISSING
        values[missing] = 0.0
    return values


def _mark_bad_values(
    matrix: Floats, problem: NDArray[np.int32], *, negative: bool = True
) -> NDArray[np.bool_]:
    """Set NaN / INF / NEGATIVE bits for rows holding such a value; returns the rows' mask."""
    flat = matrix.reshape(len(matrix), -1)
    if np.isfinite(flat).all() and (not negative or flat.min(initial=0.0) >= 0):
        return np.zeros(len(matrix), dtype=bool)
    nan = np.isnan(flat).any(axis=1)
    inf = np.isinf(flat).any(axis=1)
    problem[nan] |= NAN
    problem[inf] |= INF
    bad = nan | inf
    if negative:
        with np.errstate(invalid="ignore"):
            neg = (flat < 0).any(axis=1)
        problem[neg] |= NEGATIVE
        bad |= neg
    return np.asarray(bad)


def _probability_rows(
    matrix: Floats, renormalize: bool, problem: NDArray[np.int32]
) -> NDArray[np.float32]:
    """As ``runs._check_probabilities``: bad values refused, rows summing to 1 within the
    tolerance, then float32. Invalid rows become one-hot so later arithmetic stays quiet."""
    bad = _mark_bad_values(matrix, problem)
    if bad.any():
        matrix = matrix.copy()
        matrix[bad] = 0.0
    sums = matrix.sum(axis=1, dtype=np.float64)
    off = (np.abs(sums - 1.0) > SUM_TOLERANCE) & ~bad
    if off.any():
        if renormalize:
            zero = off & (sums <= 0)
            problem[zero] |= ZERO_SUM
            with np.errstate(divide="ignore", invalid="ignore"):
                matrix = matrix / sums[:, None]
        else:
            problem[off] |= SUM
    out = np.ascontiguousarray(matrix, dtype=np.float32)
    _one_hot(out, problem != 0)
    return out


def _one_hot(p: NDArray[np.floating[Any]], rows: NDArray[np.bool_]) -> None:
    if rows.any():
        p[rows] = 0.0
        p[rows, ..., 0] = 1.0


def _class_matrix(
    columns: list[pa.Array], layout: Layout, problem: NDArray[np.int32]
) -> NDArray[np.float32]:
    if layout.kind == "list":
        return _probability_rows(
            _list_matrix(columns[0], len(layout.classes), problem), layout.renormalize, problem
        )
    n = len(columns[0])
    if layout.kind == "logit_columns":
        logits = np.empty((n, len(columns)), dtype=np.float64)
        for j, column in enumerate(columns):
            logits[:, j] = _numeric(column, problem)
        bad = _mark_bad_values(logits, problem, negative=False)
        logits[bad] = 0.0
        p = softmax(logits).astype(np.float32)
        _one_hot(p, problem != 0)
        return p
    # prob_<class>: held as float32 from the start, as load_run holds them; checked in float32
    p = np.empty((n, len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        p[:, j] = _numeric(column, problem)
    return _probability_rows(p, layout.renormalize, problem)


def _list_matrix(array: pa.Array, width: int, problem: NDArray[np.int32]) -> NDArray[np.float64]:
    """A list column of ``width`` numbers per row as an (n, width) float64 matrix."""
    n = len(array)
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        problem[:] |= SHAPE
        return np.zeros((n, width))
    lengths = pc.fill_null(pc.list_value_length(array), -1).to_numpy(zero_copy_only=False)
    null = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    problem[null] |= MISSING
    problem[(lengths != width) & ~null] |= SHAPE
    good = lengths == width
    matrix = np.zeros((n, width), dtype=np.float64)
    if not good.any():
        return matrix
    offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False))[:-1]
    values = array.values  # not sliced: offsets index into it directly
    index = offsets[good][:, None] + np.arange(width)
    flat = _numeric_values(values, problem)
    matrix[good] = flat[0][index]
    if flat[1] is not None:  # null elements
        rows = np.flatnonzero(good)[flat[1][index].any(axis=1)]
        problem[rows] |= MISSING
    return matrix


def _numeric_values(
    values: pa.Array, problem: NDArray[np.int32]
) -> tuple[NDArray[np.float64], NDArray[np.bool_] | None]:
    """The flat values of a list column as float64, and their null mask (None: no nulls)."""
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        raise TypeError("nested list where a flat list was expected")
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        values = pc.cast(values, pa.float64())
    out = np.array(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    if values.null_count:
        null = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        out[null] = 0.0
        return out, null
    return out, None


def _ensemble_samples(
    columns: list[pa.Array], layout: Layout, problem: NDArray[np.int32]
) -> NDArray[np.float32]:
    """(n, T, C) float32 member probabilities, each member's rows checked as load_run does."""
    c, t = len(layout.classes), layout.members
    n = len(columns[0])
    if layout.kind == "member_columns":
        planes = []
        for member in range(t):
            matrix = np.column_stack([_numeric(columns[member * c + j], problem) for j in range(c)])
            planes.append(_probability_rows(matrix, layout.renormalize, problem))
        samples = np.stack(planes, axis=1)
    else:
        outer = columns[0]
        if not (pa.types.is_list(outer.type) or pa.types.is_large_list(outer.type)):
            problem[:] |= SHAPE
            return _uniform(n, t, c)
        lengths = pc.fill_null(pc.list_value_length(outer), -1).to_numpy(zero_copy_only=False)
        null = np.asarray(outer.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        problem[null] |= MISSING
        problem[(lengths != t) & ~null] |= SHAPE
        good = lengths == t
        flat = np.zeros((n * t, c), dtype=np.float64)
        inner_problem = np.zeros(n * t, dtype=np.int32)
        if good.any():
            offsets = np.asarray(outer.offsets.to_numpy(zero_copy_only=False))[:-1]
            inner_index = (offsets[good][:, None] + np.arange(t)).reshape(-1)
            inner = outer.values.take(pa.array(inner_index))
            rows_good = np.repeat(good, t)
            sub_problem = np.zeros(len(inner), dtype=np.int32)
            flat[rows_good] = _list_matrix(inner, c, sub_problem)
            inner_problem[rows_good] = sub_problem
        checked = _probability_rows(flat, layout.renormalize, inner_problem)
        problem |= np.bitwise_or.reduce(inner_problem.reshape(n, t), axis=1).astype(np.int32)
        samples = checked.reshape(n, t, c)
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    bad = problem != 0
    if bad.any():
        samples[bad] = np.float32(1.0 / c)
    return samples


def _uniform(n: int, t: int, c: int) -> NDArray[np.float32]:
    return np.full((n, t, c), 1.0 / c, dtype=np.float32)


def _multilabel_matrix(
    columns: list[pa.Array], layout: Layout, problem: NDArray[np.int32]
) -> NDArray[np.float32]:
    """As ``runs._read_multilabel``: float64 values (sigmoid of logits), in [0, 1], then float32."""
    if layout.kind == "list":
        matrix = _list_matrix(columns[0], len(layout.classes), problem)
    else:
        matrix = np.column_stack([_numeric(column, problem) for column in columns])
        if layout.kind == "logit_columns":
            bad = _mark_bad_values(matrix, problem, negative=False)
            matrix[bad] = 0.0
            matrix = 1.0 / (1.0 + np.exp(-np.clip(matrix, -500, 500)))
    bad = _mark_bad_values(matrix, problem)
    with np.errstate(invalid="ignore"):
        above = (matrix > 1.0).any(axis=1)
    problem[above] |= ABOVE_ONE
    out = np.ascontiguousarray(matrix, dtype=np.float32)
    out[bad | above | (problem != 0)] = 0.0
    return out


def _joined(present: NDArray[np.bool_], classes: Sequence[str]) -> NDArray[np.object_]:
    """Per row, the present classes joined by '+' in class order, ``(none)`` if none is."""
    names = np.asarray(classes, dtype=object)
    if len(present) == 0:
        return np.empty(0, dtype=object)
    keys = np.packbits(present, axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    texts = []
    for key in unique:
        flags = np.unpackbits(key)[: len(names)].astype(bool)
        texts.append("+".join(names[flags]) if flags.any() else "(none)")
    return np.asarray(texts, dtype=object)[inverse.reshape(-1)]


def _top1(
    columns: list[pa.Array], problem: NDArray[np.int32]
) -> tuple[NDArray[np.float64], NDArray[np.object_]]:
    labels_array = columns[0]
    if not pa.types.is_string(labels_array.type) and not pa.types.is_large_string(
        labels_array.type
    ):
        labels_array = pc.cast(labels_array, pa.string())
    labels = np.asarray(labels_array.to_numpy(zero_copy_only=False), dtype=object)
    blank = np.asarray(
        pc.fill_null(pc.equal(pc.binary_length(labels_array), 0), True).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    problem[blank] |= EMPTY_LABEL
    confidence = _numeric(columns[1], problem)
    bad = _mark_bad_values(confidence[:, None], problem)
    above = confidence > 1.0 + SUM_TOLERANCE
    problem[above & ~bad] |= ABOVE_ONE
    confidence[bad] = 1.0
    conf32 = np.clip(confidence, 0, 1).astype(np.float32)
    score = np.clip(1.0 - conf32.astype(np.float64), 0.0, 1.0)
    return score, labels


def describe_problems(bits: int) -> list[str]:
    """The problems set in a bit set, in words."""
    return [text for bit, text in PROBLEM_BITS.items() if bits & bit]


def layout_arrays(batch: Mapping[str, pa.Array], layout: Layout) -> list[pa.Array]:
    """The layout's input columns of a batch, in order."""
    return [batch[name] for name in layout.columns]
