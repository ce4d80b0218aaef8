"""The Compare page's actions: which runs to compare, with which labels, and the comparison.

Run A is iteration N, run B iteration N + 1. The pair starts as the open run and the sample run
after it (``run_001`` -> ``run_002``), or the one before it. Labels come from a ledger project's
imports (and its labeled batches are followed), else from the runs' ``ground_truth``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import streamlit as st

from labelnext.compare import Comparison
from labelnext.errors import LabelnextError
from labelnext.labels import read_labels
from labelnext.runs import ModelRun
from labelnext.scoring import supported_strategies

from . import cache, catalogue, runs, session

__all__ = [
    "GROUND_TRUTH",
    "LABELS_FILE",
    "compare",
    "default_pair",
    "file_labels",
    "ledger_labels",
    "run_options",
    "strategies",
]

GROUND_TRUTH = "(the runs' ground truth)"
LABELS_FILE = "(a labels file…)"
_RUN_NUMBER = re.compile(r"^(?P<stem>.*run_)(?P<n>\d+)$")


def run_options() -> dict[str, str]:
    """Run key -> label: the shipped samples and the open run."""
    options = dict(catalogue.sample_runs())
    current = st.session_state.get(session.RUN_KEY)
    if current and current not in options:
        options[str(current)] = runs.run_label(str(current))
    return options


def default_pair(options: dict[str, str], current: str | None) -> tuple[str, str]:
    """The open run and the run after it (or before it); else the first two options."""
    keys = list(options)
    if current in options:
        found = _RUN_NUMBER.match(str(current))
        if found:
            n, stem = int(found["n"]), found["stem"]
            width = len(found["n"])
            after, before = f"{stem}{n + 1:0{width}d}", f"{stem}{n - 1:0{width}d}"
            if after in options:
                return str(current), after
            if before in options:
                return before, str(current)
    if len(keys) >= 2:
        return keys[0], keys[1]
    return (keys[0], keys[0]) if keys else ("", "")


def strategies(run_a: ModelRun, run_b: ModelRun) -> list[str]:
    """Strategies both runs support (least confidence first)."""
    b = set(supported_strategies(run_b))
    return [s for s in supported_strategies(run_a) if s in b] or ["least_confidence"]


def ledger_labels(
    project: str,
) -> tuple[dict[str, Any] | None, dict[str, list[str]] | None, tuple[Any, ...]]:
    """A project's imported labels, its labeled batches, and a stamp that changes with them."""
    ledger = cache.ledger()
    stored = ledger.labels(project)
    batches = ledger.labeled_batches(project)
    stamp = (project, len(stored), int(stored["label_id"].max()) if len(stored) else 0)
    labels = dict(zip(stored["data_row_id"], stored["label"], strict=True)) if len(stored) else None
    return labels, batches or None, stamp


def file_labels(
    run: ModelRun, filename: str, data: bytes
) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The labels of an uploaded labels file (any format; classes checked against run A)."""
    labels = read_labels(data, filename=filename, classes=run.classes).mapping()
    return labels, ("file", hashlib.sha256(data).hexdigest())


def compare(
    key_a: str,
    key_b: str,
    strategy: str,
    source: str,
    upload: tuple[str, bytes] | None = None,
) -> Comparison:
    """Compare the two runs (cached) with labels from ``source``: a project's imports,
    :data:`GROUND_TRUTH` or :data:`LABELS_FILE` (``upload``: its name and bytes).

    Raises
    ------
    LabelnextError
        A run that cannot be opened, a labels file that cannot be read, the ledger down.
    """
    run_a, run_b = runs.open_run(key_a), runs.open_run(key_b)
    labels: dict[str, Any] | None = None
    batches: dict[str, list[str]] | None = None
    stamp: tuple[Any, ...] = ()
    if source == LABELS_FILE:
        if upload is not None:
            labels, stamp = file_labels(run_a, *upload)
    elif source != GROUND_TRUTH:
        labels, batches, stamp = ledger_labels(source)
    result: Comparison = cache.comparison(
        run_a.content_hash, run_b.content_hash, strategy, stamp, run_a, run_b, labels, batches
    )
    return result


def projects() -> list[str]:
    """The ledger's projects ([] when it cannot be read: the page says so)."""
    try:
        return list(cache.projects()[0])
    except LabelnextError:
        return []
