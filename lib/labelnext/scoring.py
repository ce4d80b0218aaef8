"""Scoring a model run: which strategy and aggregation, and every row's score under it.

:class:`Scoring` is the plain, hashable value that says how a run is scored (it keys the
dashboard's caches and is recorded with every batch); :func:`run_scores` applies it to a
:class:`~labelnext.runs.ModelRun` through the pure kernels of :mod:`labelnext.uncertainty`.
Scores are in [0, 1] and **higher means more uncertain, label first**.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelnext.errors import StrategyError
from labelnext.runs import ModelRun
from labelnext.uncertainty import (
    AGGREGATIONS,
    ENSEMBLE_STRATEGIES,
    STRATEGIES,
    aggregate_boxes,
    ensemble_scores,
    multilabel_scores,
    uncertainty_scores,
)

__all__ = [
    "Scoring",
    "box_uncertainty",
    "run_scores",
    "scores_for_row",
    "supported_strategies",
]


@dataclass(frozen=True)
class Scoring:
    """How to score a run: the strategy and, for multi-label and detection, the aggregation.

    Plain, hashable data: it keys caches and is stored with a batch (``params()``).

    Parameters
    ----------
    strategy : str, default="least_confidence"
    aggregation : {"max", "mean", "sum", "topk"}, default="max"
        How a row's per-class (multi-label) or per-box (detection) uncertainties combine.
        Multi-label allows max and mean.
    top_k : int, default=3
        Boxes averaged by ``aggregation="topk"``.
    classes : tuple of str, default=()
        Detection: score only boxes of these classes; empty means all.
    empty_score : float, default=0.0
        Detection: the score of an image with no (chosen) boxes; 0 = certain, 1 = most uncertain.
    temperature : float, optional
        Score with calibrated probabilities: ``softmax(log p / T)`` (multi-label: ``sigmoid``
        of the logits over ``T``; see :func:`labelnext.calibration.calibrated_probabilities`),
        ``T`` as fitted on the labeled rows by :func:`labelnext.calibration.fit_temperature`.
        None (default): the model's probabilities. Classification and multi-label runs with
        class probabilities only.
    """

    strategy: str = "least_confidence"
    aggregation: str = "max"
    top_k: int = 3
    classes: tuple[str, ...] = ()
    empty_score: float = 0.0
    temperature: float | None = None

    def __post_init__(self) -> None:
        valid = STRATEGIES + ENSEMBLE_STRATEGIES
        if self.strategy not in valid:
            raise StrategyError(
                f"Unknown strategy {self.strategy!r}; valid strategies: {', '.join(valid)}."
            )
        if self.aggregation not in AGGREGATIONS["detection"]:
            raise StrategyError(
                f"Unknown aggregation {self.aggregation!r}; valid: "
                f"{', '.join(AGGREGATIONS['detection'])}."
            )
        if self.top_k < 1:
            raise StrategyError(f"top_k must be >= 1, got {self.top_k}")
        if not 0.0 <= self.empty_score <= 1.0:
            raise StrategyError(f"empty_score must be in [0, 1], got {self.empty_score}")
        if self.temperature is not None and not (
            isinstance(self.temperature, int | float) and 0 < self.temperature < math.inf
        ):
            raise StrategyError(
                f"temperature must be a finite number > 0 (or None), got {self.temperature!r}"
            )

    def params(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (what a batch records)."""
        out = asdict(self)
        out["classes"] = list(self.classes)
        if self.temperature is None:  # batches from before calibration recorded no temperature
            del out["temperature"]
        return out

    def describe(self, task: str) -> str:
        """A short human label, e.g. ``margin`` or ``least_confidence, max over boxes``."""
        calibrated = (
            "" if self.temperature is None else f", calibrated (T = {self.temperature:.2f})"
        )
        if task == "multilabel":
            return f"{self.strategy}, {self.aggregation} over classes{calibrated}"
        if task == "detection":
            how = f"mean of top {self.top_k}" if self.aggregation == "topk" else self.aggregation
            only = f", classes {'/'.join(self.classes)}" if self.classes else ""
            return f"{self.strategy}, {how} over boxes{only}"
        return f"{self.strategy}{calibrated}"


def supported_strategies(run: ModelRun) -> tuple[str, ...]:
    """Strategies defined for this run, in the order a picker should offer them."""
    if run.task == "detection":
        has_probs = run.boxes is not None and run.boxes.probabilities is not None
        return STRATEGIES if has_probs else ("least_confidence",)
    if run.task == "multilabel":
        return STRATEGIES
    if run.samples is not None:
        return STRATEGIES + ENSEMBLE_STRATEGIES
    return ("least_confidence",) if run.top1_only else STRATEGIES


def run_scores(run: ModelRun, strategy: str | Scoring) -> NDArray[np.float64]:
    """Uncertainty score of every row of a run; higher = label first, in [0, 1].

    Parameters
    ----------
    run : ModelRun
    strategy : str or Scoring
        A strategy name (default options) or a :class:`Scoring`.

    Raises
    ------
    StrategyError
        If the strategy is unknown, or the run's predictions cannot support it (top-1 only,
        no ensemble members, boxes without class probabilities), or the aggregation does not
        apply to the run's task.
    """
    scoring = strategy if isinstance(strategy, Scoring) else Scoring(strategy=strategy)
    name = scoring.strategy
    if name not in supported_strategies(run):
        raise StrategyError(_unsupported_message(run, name))
    if scoring.temperature is not None:
        return _calibrated_scores(run, scoring, scoring.temperature)
    if run.task == "multilabel":
        assert run.probabilities is not None
        return multilabel_scores(run.probabilities, name, aggregation=scoring.aggregation)
    if run.task == "detection":
        return _detection_scores(run, scoring)
    if run.probabilities is None:
        assert run.top1_confidence is not None
        return np.clip(1.0 - run.top1_confidence.astype(np.float64), 0.0, 1.0)
    if name in ENSEMBLE_STRATEGIES:
        assert run.samples is not None
        return ensemble_scores(run.samples, name)
    return uncertainty_scores(run.probabilities, name).astype(np.float64, copy=False)


def _calibrated_scores(run: ModelRun, scoring: Scoring, temperature: float) -> NDArray[np.float64]:
    from labelnext.calibration import calibrated_probabilities  # calibration imports this module

    if (
        run.probabilities is None
        or run.task not in ("classification", "multilabel")
        or scoring.strategy in ENSEMBLE_STRATEGIES
    ):
        raise StrategyError(
            f"temperature: run '{run.name}' is scored from {run.task} predictions without class "
            "probabilities (or by an ensemble strategy); calibrated scoring needs a "
            "classification or multi-label run's probabilities"
        )
    p = calibrated_probabilities(run.probabilities, temperature, task=run.task)
    if run.task == "multilabel":
        return multilabel_scores(p, scoring.strategy, aggregation=scoring.aggregation)
    return uncertainty_scores(p, scoring.strategy).astype(np.float64, copy=False)


def _unsupported_message(run: ModelRun, name: str) -> str:
    if name not in STRATEGIES + ENSEMBLE_STRATEGIES:
        valid = STRATEGIES + ENSEMBLE_STRATEGIES
        return f"Unknown strategy {name!r}; valid strategies: {', '.join(valid)}."
    if run.task == "classification" and run.top1_only:
        return (
            f"Run '{run.name}' has top-1 predictions only (predicted_label + confidence), so only "
            f"least_confidence is defined; {name!r} needs every class's probability."
        )
    if name in ENSEMBLE_STRATEGIES:
        return (
            f"Run '{run.name}' has no ensemble members or MC-dropout samples, so {name!r} is not "
            "defined; it needs probabilities of shape (n, T, C)."
        )
    return (
        f"Run '{run.name}' has detection boxes without class probabilities, so only "
        f"least_confidence (1 - box score) is defined, not {name!r}."
    )


def box_uncertainty(run: ModelRun, strategy: str = "least_confidence") -> NDArray[np.float64]:
    """Each box's uncertainty, in the run's box order; higher = more uncertain, in [0, 1].

    ``1 - score`` for least confidence on boxes without class probabilities; the classification
    strategy on each box's class probabilities when the detector gives them.

    Raises
    ------
    StrategyError
        If the run has no boxes, or the strategy needs class probabilities the boxes lack.
    """
    boxes = run.boxes
    if boxes is None:
        raise StrategyError(f"Run '{run.name}' has no detection boxes (task {run.task!r}).")
    if boxes.probabilities is not None:
        per_box = uncertainty_scores(boxes.probabilities.astype(np.float64), strategy)
    elif strategy == "least_confidence":
        per_box = 1.0 - boxes.score.astype(np.float64)
    else:
        raise StrategyError(_unsupported_message(run, strategy))
    return np.clip(np.asarray(per_box, dtype=np.float64), 0.0, 1.0)


def _detection_scores(run: ModelRun, scoring: Scoring) -> NDArray[np.float64]:
    boxes = run.boxes
    assert boxes is not None
    per_box = box_uncertainty(run, scoring.strategy)
    keep = np.ones(boxes.n_boxes, dtype=bool)
    if scoring.classes:
        keep = np.isin(boxes.label, run.class_indices(scoring.classes, error=StrategyError))
    return aggregate_boxes(
        per_box[keep],
        boxes.row[keep],
        run.n_rows,
        how=scoring.aggregation,
        top_k=scoring.top_k,
        empty_score=scoring.empty_score,
        max_count=int(boxes.counts.max()) if boxes.n_boxes else 1,
    )


def scores_for_row(
    run: ModelRun,
    i: int,
    scoring: Scoring | None = None,
    *,
    scores_of: Callable[[Scoring], NDArray[np.floating[Any]]] | None = None,
) -> dict[str, float]:
    """Row ``i``'s score under every strategy the run supports (higher = more uncertain).

    Parameters
    ----------
    run : ModelRun
    i : int
        Row position.
    scoring : Scoring, optional
        For multi-label and detection runs, the aggregation and class options applied to every
        strategy alike (the strategy in ``scoring`` itself is ignored).
    scores_of : callable, optional
        ``scores_of(scoring)`` gives the whole run's scores under a Scoring; a caller that caches
        them (the dashboard) passes its cache. Default: :func:`run_scores`. Classification rows
        are scored alone and never call it.

    Examples
    --------
    >>> from labelnext.readers import load_run
    >>> from labelnext.paths import SAMPLE_DATA_DIR
    >>> run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    >>> sorted(scores_for_row(run, 0))
    ['entropy', 'least_confidence', 'margin', 'ratio']
    """
    if run.task == "classification" and run.samples is None:
        if run.probabilities is None:
            if run.top1_confidence is None:  # pragma: no cover - a run has one or the other
                raise ValueError(f"run '{run.name}' has no predictions")
            return {"least_confidence": float(1.0 - run.top1_confidence[i])}
        row = run.probabilities[i : i + 1].astype(np.float64)
        return {s: float(uncertainty_scores(row, s)[0]) for s in STRATEGIES}
    base = scoring or Scoring()
    compute = scores_of if scores_of is not None else (lambda s: run_scores(run, s))
    return {s: float(compute(replace(base, strategy=s))[i]) for s in supported_strategies(run)}
