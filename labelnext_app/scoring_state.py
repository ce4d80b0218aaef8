"""The session's Scoring: fitted to the open run, keying the cached scores and orders.

One :class:`labelnext.scoring.Scoring` (strategy, aggregation, top-k, class restriction, no-box
score) lives in session state; :func:`current_scoring` fits it to the open run (a strategy the run
supports, an aggregation its task allows) and the cached scores and orders are keyed by it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import numpy as np
import streamlit as st
from numpy.typing import NDArray

from labelnext.errors import LabelnextError
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring, scores_for_row, supported_strategies
from labelnext.uncertainty import AGGREGATIONS

from . import cache, safe_text
from .session import SCORING

__all__ = [
    "aggregations_for",
    "as_scoring",
    "current_scoring",
    "describe_scoring",
    "fit_scoring",
    "row_scores",
    "run_class_order",
    "run_order",
    "run_scores",
    "scoring_key",
    "set_scoring",
    "strategies_for",
]


def strategies_for(run: ModelRun | None) -> tuple[str, ...]:
    """Strategies the run supports (ensemble strategies too for an ensemble run)."""
    return supported_strategies(run) if run is not None else ("least_confidence",)


def aggregations_for(run: ModelRun | None) -> tuple[str, ...]:
    """How the run's task combines per-class or per-box uncertainty (empty: not applicable)."""
    return AGGREGATIONS.get(run.task, ()) if run is not None else ()


def as_scoring(value: object) -> Scoring:
    """A :class:`Scoring` from what session state holds (a Scoring, or its ``params()``)."""
    if isinstance(value, Scoring):
        return value
    if isinstance(value, dict):  # params() of a Scoring, e.g. after a library reload
        fields = {f.name for f in dataclasses.fields(Scoring)}
        known = {k: v for k, v in value.items() if k in fields}
        known["classes"] = tuple(known.get("classes", ()))
        try:
            return Scoring(**known)
        except (LabelnextError, TypeError, ValueError):
            return Scoring()
    params = getattr(value, "params", None)  # a Scoring from before a module reload
    return as_scoring(params()) if callable(params) else Scoring()


def fit_scoring(run: ModelRun | None, scoring: Scoring) -> Scoring:
    """``scoring`` made valid for ``run``, keeping every option the run can use.

    A strategy the run does not support becomes its first supported one; options that do not
    apply to the run's task go back to their defaults (so equal choices share one cache entry);
    classes the run does not have are dropped.
    """
    allowed = strategies_for(run)
    strategy = scoring.strategy if scoring.strategy in allowed else allowed[0]
    # calibrated probabilities: classification and multi-label runs with probabilities
    calibrable = run is not None and run.probabilities is not None and run.samples is None
    temperature = scoring.temperature if calibrable else None
    if run is None or run.task == "classification":
        return Scoring(strategy=strategy, temperature=temperature)
    aggregations = aggregations_for(run)
    aggregation = scoring.aggregation if scoring.aggregation in aggregations else aggregations[0]
    if run.task == "multilabel":
        return Scoring(strategy=strategy, aggregation=aggregation, temperature=temperature)
    classes = tuple(c for c in scoring.classes if c in run.classes)
    return dataclasses.replace(
        scoring, strategy=strategy, aggregation=aggregation, classes=classes, temperature=None
    )


def current_scoring(run: ModelRun | None) -> Scoring:
    """The chosen Scoring, fitted to the open run (and stored back when fitting changed it)."""
    chosen = as_scoring(st.session_state.get(SCORING))
    fitted = fit_scoring(run, chosen)
    if fitted != st.session_state.get(SCORING):
        st.session_state[SCORING] = fitted
    return fitted


def set_scoring(scoring: Scoring) -> None:
    """Replace the chosen Scoring."""
    st.session_state[SCORING] = scoring


def describe_scoring(run: ModelRun | None, scoring: Scoring) -> str:
    """How the scoring reads to people, as Markdown: e.g. ``margin`` or ``least_confidence, mean
    over boxes``; chosen class names (from the run's file) are shown as text."""
    shown = dataclasses.replace(scoring, classes=tuple(safe_text.md(c) for c in scoring.classes))
    return shown.describe(run.task if run is not None else "classification")


def scoring_key(scoring: Scoring) -> str:
    """A stable text form of the scoring's parameters: the score caches' key."""
    return json.dumps(scoring.params(), sort_keys=True)


def run_scores(run: ModelRun, scoring: Scoring) -> NDArray[np.float64]:
    """Cached scores of every row (higher = more uncertain)."""
    return cache.scores(run.content_hash, scoring_key(scoring), run, scoring)


def run_order(run: ModelRun, scoring: Scoring) -> NDArray[np.int64]:
    """Cached order of every row, most uncertain first."""
    return cache.full_order(run.content_hash, scoring_key(scoring), run, scoring)


def run_class_order(run: ModelRun, scoring: Scoring) -> Callable[[int], NDArray[np.int64] | None]:
    """Class index -> the cached rows of that predicted class, most uncertain first."""
    return cache.scored(run.content_hash, scoring_key(scoring), run, scoring).class_order


def row_scores(run: ModelRun, row: int, scoring: Scoring) -> dict[str, float]:
    """Row ``row``'s score under every strategy the run supports, from the cached scores."""
    return scores_for_row(run, row, scoring, scores_of=lambda s: run_scores(run, s))
