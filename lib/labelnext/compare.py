"""Compare two model runs: what the last labeling iteration changed.

:func:`compare_runs` takes run A (iteration N) and run B (iteration N + 1) and looks at the data
rows both predict (matched by ``data_row_id``):

* the confidence of each run on every shared row and the per-row change ``B - A`` (arrays for
  histograms; confidence is ``1 - score`` under the chosen :class:`~labelnext.uncertainty.Scoring`,
  so **higher = more confident**);
* per class: the mean confidence of the rows each run predicts as that class, and the share of
  rows it predicts as that class;
* the rows that became more confident and those that became less confident, ranked by the
  change (ties by ``data_row_id``);
* old against new prediction as a confusion table over every class;
* accuracy of both runs on labeled rows (labels given as ``{data_row_id: label}``, else the
  runs' ``ground_truth``), and, for given batches (``{name: ids}``), how their rows moved.

Nothing is refused for being incomparable: runs with no shared rows or different classes are
compared as far as they can be, and :attr:`Comparison.notes` says what could not be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labelnext.runs import ModelRun
from labelnext.scoring import Scoring, run_scores, supported_strategies

__all__ = ["MOVED_COLUMNS", "NO_BOXES", "Comparison", "compare_runs", "comparison_rows"]

Floats = NDArray[np.float64]

NO_BOXES = "(no boxes)"
"""The predicted class of a detection row without boxes, in the confusion table."""
MOVED_COLUMNS = (
    "data_row_id",
    "confidence_a",
    "confidence_b",
    "change",
    "predicted_a",
    "predicted_b",
)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Run A (before) against run B (after) on their shared rows.

    Attributes
    ----------
    run_a, run_b : str
        The runs' names.
    scoring : Scoring
        How confidence was computed (the requested one, or the fallback named in ``notes``).
    shared_ids : ndarray of shape (n_shared,)
        The data rows both runs predict, sorted by id; row ``i`` of the arrays below.
    confidence_a, confidence_b : ndarray of shape (n_shared,)
        Each run's confidence (``1 - score``) on the shared rows.
    change : ndarray of shape (n_shared,)
        ``confidence_b - confidence_a``: positive = B is surer.
    predicted_a, predicted_b : ndarray of shape (n_shared,)
        Each run's predicted (top) class on the shared rows.
    only_in_a, only_in_b : int
        Rows one run predicts and the other does not.
    shared_classes : tuple of str
        Classes both runs know, in run A's order.
    per_class : pandas.DataFrame
        Index: every class of either run. Columns ``rows_a, rows_b`` (shared rows predicted as
        the class), ``share_a, share_b`` (their fraction of the shared rows) and
        ``mean_confidence_a, mean_confidence_b`` (NaN where a run predicts no row as the
        class). Over every row of each run when the runs share none.
    became_confident, became_uncertain : pandas.DataFrame
        Rows whose confidence rose (fell), largest change first, ties by id; columns
        :data:`MOVED_COLUMNS`.
    confusion : pandas.DataFrame
        Shared rows counted by A's prediction (index) and B's (columns), every class of either
        run on both axes (plus :data:`NO_BOXES` for detection).
    changed_prediction : int
        Shared rows whose predicted class differs.
    accuracy : pandas.DataFrame
        Index ``a, b``; columns ``run``, ``labeled_rows`` and ``accuracy`` (each run's rows with
        a label), ``shared_labeled_rows`` and ``shared_accuracy`` (labeled rows both predict).
    batches : pandas.DataFrame
        Index: batch name. Columns ``rows``, ``in_a``, ``in_b``, ``in_both``,
        ``mean_confidence_a`` (over the batch rows in A), ``mean_confidence_b`` (in B),
        ``mean_change`` (rows in both), ``labeled`` (batch rows with a label) and
        ``accuracy_a``, ``accuracy_b`` (on the labeled batch rows each run predicts).
    notes : tuple of str
        What could not be compared, and why.
    """

    run_a: str
    run_b: str
    scoring: Scoring
    shared_ids: NDArray[np.object_]
    confidence_a: NDArray[np.float64]
    confidence_b: NDArray[np.float64]
    change: NDArray[np.float64]
    predicted_a: NDArray[np.object_]
    predicted_b: NDArray[np.object_]
    only_in_a: int
    only_in_b: int
    shared_classes: tuple[str, ...]
    per_class: pd.DataFrame
    became_confident: pd.DataFrame
    became_uncertain: pd.DataFrame
    confusion: pd.DataFrame
    changed_prediction: int
    accuracy: pd.DataFrame
    batches: pd.DataFrame
    notes: tuple[str, ...]


def compare_runs(
    run_a: ModelRun,
    run_b: ModelRun,
    *,
    scoring: Scoring | str = "least_confidence",
    labels: Mapping[str, Any] | None = None,
    batches: Mapping[str, Iterable[str]] | None = None,
) -> Comparison:
    """Compare run A (before) with run B (after) over their shared data rows.

    Parameters
    ----------
    run_a, run_b : ModelRun
        Iteration N and iteration N + 1.
    scoring : Scoring or str, default="least_confidence"
        How confidence (``1 - score``) is computed for both runs. A strategy one of the runs
        cannot support falls back to least confidence, with a note.
    labels : mapping of data_row_id to label, optional
        Known labels (imported labels, e.g. ``LabelSet.mapping()``): a class name, or for
        multi-label a collection of class names. Default: the runs' ``ground_truth`` columns.
    batches : mapping of batch name to data_row_ids, optional
        Batches labeled between the two runs; the result says how their rows moved.

    Returns
    -------
    Comparison

    Raises
    ------
    StrategyError
        If ``scoring`` names an unknown strategy.
    TypeError
        If a run is not a ModelRun.

    Examples
    --------
    >>> from labelnext import load_run
    >>> from labelnext.paths import SAMPLE_DATA_DIR
    >>> a = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    >>> b = load_run(SAMPLE_DATA_DIR / "mnist" / "run_002")
    >>> c = compare_runs(a, b)
    >>> len(c.shared_ids), c.only_in_a, c.only_in_b
    (4575, 300, 0)
    >>> bool(c.change.mean() > 0)  # retrained on 300 more labels, run 2 is surer
    True
    """
    for name, run in (("run_a", run_a), ("run_b", run_b)):
        if not isinstance(run, ModelRun):
            raise TypeError(f"{name} must be a ModelRun, got {type(run).__name__}")
    wanted = scoring if isinstance(scoring, Scoring) else Scoring(strategy=scoring)
    notes: list[str] = []
    used = _usable_scoring(run_a, run_b, wanted, notes)
    conf_a = 1.0 - run_scores(run_a, used)
    conf_b = 1.0 - run_scores(run_b, used)
    pred_a, pred_b = _predicted(run_a), _predicted(run_b)

    in_b = run_b.id_index.get_indexer(run_a.id_index)
    pos_a = np.flatnonzero(in_b >= 0)
    pos_a = pos_a[np.argsort(run_a.id_rank[pos_a], kind="stable")]  # shared rows by id
    pos_b = in_b[pos_a]
    shared = run_a.ids[pos_a].astype(object)
    classes = _classes(run_a, run_b, notes)
    if run_a.task != run_b.task:
        notes.append(
            f"the runs have different tasks ({run_a.task} and {run_b.task}): confidences and "
            "predicted classes are compared as they are"
        )
    if not len(shared):
        notes.append(
            f"'{run_a.name}' and '{run_b.name}' share no data rows: there is no per-row change; "
            "per-class figures are over every row of each run"
        )
    elif len(shared) < max(run_a.n_rows, run_b.n_rows):
        notes.append(
            f"{len(shared):,} shared rows; {run_a.n_rows - len(shared):,} only in "
            f"'{run_a.name}', {run_b.n_rows - len(shared):,} only in '{run_b.name}'"
        )

    ca, cb = conf_a[pos_a], conf_b[pos_b]
    pa, pb = pred_a[pos_a], pred_b[pos_b]
    change = cb - ca
    truth = _truth(run_a, run_b, labels, notes)
    right_a, right_b = _right(run_a, pred_a, truth), _right(run_b, pred_b, truth)
    if len(shared):
        per_class = _per_class(classes, pa, ca, pb, cb)
    else:
        per_class = _per_class(classes, pred_a, conf_a, pred_b, conf_b)
    return Comparison(
        run_a=run_a.name,
        run_b=run_b.name,
        scoring=used,
        shared_ids=shared,
        confidence_a=ca,
        confidence_b=cb,
        change=change,
        predicted_a=pa,
        predicted_b=pb,
        only_in_a=run_a.n_rows - len(shared),
        only_in_b=run_b.n_rows - len(shared),
        shared_classes=tuple(c for c in run_a.classes if c in set(run_b.classes)),
        per_class=per_class,
        became_confident=_moved(shared, ca, cb, pa, pb, rising=True),
        became_uncertain=_moved(shared, ca, cb, pa, pb, rising=False),
        confusion=_confusion(classes, pa, pb),
        changed_prediction=int((pa != pb).sum()),
        accuracy=_accuracy(run_a, run_b, right_a, right_b, pos_a, pos_b, truth, notes),
        batches=_batches(run_a, run_b, conf_a, conf_b, right_a, right_b, truth, batches, notes),
        notes=tuple(notes),
    )


def _usable_scoring(a: ModelRun, b: ModelRun, wanted: Scoring, notes: list[str]) -> Scoring:
    missing = [r.name for r in (a, b) if wanted.strategy not in supported_strategies(r)]
    if not missing:
        return wanted
    notes.append(
        f"{wanted.strategy} is not defined for {' and '.join(repr(m) for m in missing)}: both "
        "runs are compared under least_confidence"
    )
    return Scoring(
        strategy="least_confidence",
        aggregation=wanted.aggregation,
        top_k=wanted.top_k,
        classes=wanted.classes,
        empty_score=wanted.empty_score,
    )


def _predicted(run: ModelRun) -> NDArray[np.object_]:
    names = np.asarray([*run.classes, NO_BOXES], dtype=object)
    return names[run.predicted_index]  # -1 (no boxes) picks NO_BOXES


def _classes(a: ModelRun, b: ModelRun, notes: list[str]) -> list[str]:
    union = list(dict.fromkeys([*a.classes, *b.classes]))
    if a.classes != b.classes:
        only_a = [c for c in a.classes if c not in set(b.classes)]
        only_b = [c for c in b.classes if c not in set(a.classes)]
        if only_a or only_b:
            parts = [f"only in '{a.name}': {', '.join(only_a)}" if only_a else ""]
            parts.append(f"only in '{b.name}': {', '.join(only_b)}" if only_b else "")
            notes.append(
                f"the runs have different classes ({'; '.join(p for p in parts if p)}): tables "
                "list every class, and a row predicted as a class the other run lacks counts as "
                "a changed prediction"
            )
        else:
            notes.append("the runs list the same classes in a different order")
    if a.task == "detection" or b.task == "detection":
        union.append(NO_BOXES)
    return union


def _per_class(
    classes: list[str],
    pred_a: NDArray[np.object_],
    conf_a: NDArray[np.float64],
    pred_b: NDArray[np.object_],
    conf_b: NDArray[np.float64],
) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for side, pred, conf in (("a", pred_a, conf_a), ("b", pred_b, conf_b)):
        frame = pd.DataFrame({"c": pd.Series(pred, dtype=object), "v": conf})
        grouped = frame.groupby("c", sort=False)["v"]
        counts = grouped.size().reindex(classes, fill_value=0)
        columns[f"rows_{side}"] = counts.astype("int64")
        columns[f"share_{side}"] = counts / len(pred) if len(pred) else counts * np.nan
        columns[f"mean_confidence_{side}"] = grouped.mean().reindex(classes)
    table = pd.DataFrame(columns, index=pd.Index(classes, name="class"))
    order = ["rows_a", "rows_b", "share_a", "share_b", "mean_confidence_a", "mean_confidence_b"]
    return table[order]


def comparison_rows(comparison: Comparison) -> pd.DataFrame:
    """Every shared row, by id: :data:`MOVED_COLUMNS` (``change`` positive = B is surer)."""
    c = comparison
    return pd.DataFrame(
        {
            "data_row_id": pd.Series(c.shared_ids, dtype=object),
            "confidence_a": c.confidence_a,
            "confidence_b": c.confidence_b,
            "change": c.change,
            "predicted_a": pd.Series(c.predicted_a, dtype=object),
            "predicted_b": pd.Series(c.predicted_b, dtype=object),
        },
        columns=list(MOVED_COLUMNS),
    )


def _moved(
    ids: NDArray[Any],
    conf_a: NDArray[np.float64],
    conf_b: NDArray[np.float64],
    pred_a: NDArray[np.object_],
    pred_b: NDArray[np.object_],
    *,
    rising: bool,
) -> pd.DataFrame:
    change = conf_b - conf_a
    keep = np.flatnonzero(change > 0 if rising else change < 0)
    key = -change[keep] if rising else change[keep]
    keep = keep[np.lexsort((keep, key))]  # rows are in id order: position = id tie-break
    # object columns as they are: letting pandas infer a string dtype copies every id
    return pd.DataFrame(
        {
            "data_row_id": pd.Series(ids[keep], dtype=object),
            "confidence_a": conf_a[keep],
            "confidence_b": conf_b[keep],
            "change": change[keep],
            "predicted_a": pd.Series(pred_a[keep], dtype=object),
            "predicted_b": pd.Series(pred_b[keep], dtype=object),
        },
        columns=list(MOVED_COLUMNS),
    )


def _confusion(
    classes: list[str], pred_a: NDArray[np.object_], pred_b: NDArray[np.object_]
) -> pd.DataFrame:
    a = pd.Categorical(pred_a, categories=classes)
    b = pd.Categorical(pred_b, categories=classes)
    table = pd.crosstab(a, b, dropna=False).reindex(index=classes, columns=classes, fill_value=0)
    table.index.name = "predicted_a"
    table.columns.name = "predicted_b"
    return table.astype("int64")


# --------------------------------------------------------------------------------------------
# Labels and accuracy


def _truth(
    a: ModelRun, b: ModelRun, labels: Mapping[str, Any] | None, notes: list[str]
) -> dict[str, Any]:
    if labels is not None:
        return dict(labels)
    truth: dict[str, Any] = {}
    for run in (a, b):
        if run.ground_truth is not None:
            for row_id, value in zip(run.ids, run.ground_truth, strict=True):
                if value is not None and value == value and str(value).strip():  # a label
                    truth.setdefault(str(row_id), value)
    if not truth:
        notes.append("no labels given and neither run has a ground_truth column: no accuracy")
    return truth


def _right(run: ModelRun, predicted: NDArray[np.object_], truth: dict[str, Any]) -> Floats:
    """Per row of the run: 1.0 if its prediction is the label, 0.0 if not, NaN if the row has
    no label or accuracy is undefined (detection). Multi-label: the predicted set (classes at or
    above the threshold) must be the label set."""
    out = np.full(run.n_rows, np.nan)
    if not truth or run.task == "detection":
        return out
    # the same dtype as the run's index: mixed str/object lookups are several times slower
    keys = pd.Index([str(k) for k in truth], dtype=run.id_index.dtype)
    rows = keys.get_indexer(run.id_index)  # the label's position for each row, or -1
    labeled = np.flatnonzero(rows >= 0)
    values = np.asarray(list(truth.values()), dtype=object)[rows[labeled]]
    if run.task == "multilabel":
        assert run.probabilities is not None
        present = run.probabilities[labeled] >= run.threshold
        names = np.asarray(run.classes, dtype=object)
        for i, value in enumerate(values):
            wanted = {value} if isinstance(value, str) else {str(v) for v in value}
            out[labeled[i]] = float(set(names[present[i]]) == wanted)
        return out
    out[labeled] = predicted[labeled].astype(str) == values.astype(str)
    return out


def _share_right(right: Floats) -> tuple[int, float]:
    """(labeled rows, accuracy on them) of a slice of :func:`_right`."""
    known = right[~np.isnan(right)]
    return len(known), float(known.mean()) if len(known) else float("nan")


def _accuracy(
    a: ModelRun,
    b: ModelRun,
    right_a: Floats,
    right_b: Floats,
    pos_a: NDArray[np.intp],
    pos_b: NDArray[np.intp],
    truth: dict[str, Any],
    notes: list[str],
) -> pd.DataFrame:
    records = {}
    for side, run, right, pos in (("a", a, right_a, pos_a), ("b", b, right_b, pos_b)):
        n, acc = _share_right(right)
        n_shared, acc_shared = _share_right(right[pos])
        records[side] = {
            "run": run.name,
            "labeled_rows": n,
            "accuracy": acc,
            "shared_labeled_rows": n_shared,
            "shared_accuracy": acc_shared,
        }
        if truth and run.task == "detection":
            notes.append(f"'{run.name}' is a detection run: accuracy is not defined per row")
        elif truth and n == 0:
            notes.append(f"'{run.name}' predicts none of the labeled rows: no accuracy for it")
    return pd.DataFrame.from_dict(records, orient="index")


def _batches(
    a: ModelRun,
    b: ModelRun,
    conf_a: Floats,
    conf_b: Floats,
    right_a: Floats,
    right_b: Floats,
    truth: dict[str, Any],
    batches: Mapping[str, Iterable[str]] | None,
    notes: list[str],
) -> pd.DataFrame:
    columns = [
        "rows",
        "in_a",
        "in_b",
        "in_both",
        "mean_confidence_a",
        "mean_confidence_b",
        "mean_change",
        "labeled",
        "accuracy_a",
        "accuracy_b",
    ]
    records = {}
    for name, ids in (batches or {}).items():
        wanted = list(dict.fromkeys(str(i) for i in ids))
        pos_a = a.id_index.get_indexer(pd.Index(wanted, dtype=a.id_index.dtype))
        pos_b = b.id_index.get_indexer(pd.Index(wanted, dtype=b.id_index.dtype))
        in_a, in_b = pos_a >= 0, pos_b >= 0
        both = in_a & in_b
        records[name] = {
            "rows": len(wanted),
            "in_a": int(in_a.sum()),
            "in_b": int(in_b.sum()),
            "in_both": int(both.sum()),
            "mean_confidence_a": _mean(conf_a[pos_a[in_a]]),
            "mean_confidence_b": _mean(conf_b[pos_b[in_b]]),
            "mean_change": _mean(conf_b[pos_b[both]] - conf_a[pos_a[both]]),
            "labeled": sum(1 for i in wanted if i in truth),
            "accuracy_a": _share_right(right_a[pos_a[in_a]])[1],
            "accuracy_b": _share_right(right_b[pos_b[in_b]])[1],
        }
        if wanted and not in_b.any():
            notes.append(
                f"batch '{name}': none of its {len(wanted):,} rows is in '{b.name}' (a run "
                "trained on a batch usually no longer predicts it): how they moved is unknown"
            )
    return pd.DataFrame.from_dict(records, orient="index", columns=columns).rename_axis("batch")


def _mean(values: NDArray[np.float64]) -> float:
    return float(values.mean()) if len(values) else float("nan")
