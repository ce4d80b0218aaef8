"""The Home page's actions: open a shipped sample, an upload, or a file on the server."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import streamlit as st

from labelnext.config import settings
from labelnext.errors import LabelnextError
from labelnext.runs import ModelRun

from . import cache, charts, runs, safe_text, scoring_state

__all__ = [
    "ERROR",
    "PENDING_UPLOAD",
    "calibration_check",
    "choose_sample",
    "load_pending_upload",
    "load_server_path",
    "use_temperature",
]

ERROR = "home_error"
PENDING_UPLOAD = "home_pending_upload"


def choose_sample() -> None:
    """The sample picker changed: open that run."""
    runs.set_run(st.session_state["home_sample"])


def load_pending_upload() -> bool:
    """Validate and open the upload waiting in ``home_pending_upload`` (name, bytes), if any.

    Returns
    -------
    bool
        True when a new run was opened (the caller reruns so the sidebar shows it).
    """
    pending = st.session_state.pop(PENDING_UPLOAD, None)
    if pending is None:
        return False
    filename, data = pending
    limit_mb = settings().max_upload_mb
    if len(data) > limit_mb * 1024 * 1024:
        st.session_state[ERROR] = (
            f"{filename} is {len(data) / 1e6:.0f} MB; the limit is {limit_mb} MB "
            "(LABELNEXT_MAX_UPLOAD_MB)."
        )
        return False
    try:
        with st.spinner(f"Checking {filename}…", show_time=True):
            key = runs.adopt_upload(filename, data)
    except LabelnextError as exc:
        st.session_state[ERROR] = exc
        return False
    runs.set_run(key)
    st.session_state.pop(ERROR, None)
    return True


def load_server_path() -> None:
    """Open the file or run folder typed in ``home_server_path`` (inside the allowed roots)."""
    path = str(st.session_state.get("home_server_path", "")).strip()
    if not path:
        return
    key = f"path:{path}"
    try:
        runs.open_run(key)
    except LabelnextError as exc:
        st.session_state[ERROR] = exc
    else:
        runs.set_run(key)
        st.session_state.pop(ERROR, None)


def _labels_of(run: ModelRun, project: str | None) -> tuple[dict[str, Any], str, tuple[Any, ...]]:
    """The run's labeled rows: the project's imported labels over its ground truth."""
    labels: dict[str, Any] = {}
    where = []
    if run.ground_truth is not None:
        truth = run.ground_truth
        keep = pd.notna(truth)
        labels.update(zip(run.ids[keep].tolist(), truth[keep].tolist(), strict=True))
        where.append("ground truth")
    stamp: tuple[Any, ...] = ()
    if project:
        try:
            stored = cache.ledger().labels(project)
        except LabelnextError:
            stored = None  # the Home page already says the ledger cannot be read
        if stored is not None and len(stored):
            stored = stored[stored["task"] == run.task]
            labels.update(zip(stored["data_row_id"], stored["label"], strict=True))
            where.append(f"labels imported into {safe_text.md(project)}")
            stamp = (project, len(stored), int(stored["label_id"].max()) if len(stored) else 0)
    return labels, " and ".join(where), stamp


def calibration_check(run: ModelRun, project: str | None) -> None:
    """Draw the run's calibration on its labeled rows: a warning with the ECE when it is poor
    (:func:`labelnext.calibration.ece_warning`), else a caption with the figures."""
    labels, where, stamp = _labels_of(run, project)
    if not labels:
        return
    try:
        report = cache.calibration(run.content_hash, stamp, run, labels)
    except ValueError as exc:  # labels naming classes the run lacks
        st.caption(f"Calibration not measured: {safe_text.md(exc)}")
        return
    if report is None:
        return
    fit = report.temperature
    after = (
        f"; temperature scaling (T = {fit.temperature:.2f}) would bring it to {fit.ece_after:.3f}"
        if fit is not None
        else ""
    )
    figures = (
        f"ECE {report.ece:.3f} (adaptive {report.adaptive_ece:.3f}), Brier {report.brier:.3f} on "
        f"{report.n_rows:,} labeled rows ({where}): accuracy {report.accuracy:.1%}, mean "
        f"confidence {report.mean_confidence:.1%}{after}."
    )
    if report.warning is not None:
        st.warning(f"{report.warning}\n\n{figures}", icon=":material/warning:")  # our words
    else:
        st.caption(f"Calibration: {figures}")
    with st.expander("Reliability diagram", expanded=report.warning is not None):
        st.plotly_chart(
            charts.reliability(report.diagram, title=f"{report.n_rows:,} labeled rows, 15 bins"),
            key="home_reliability",
            config={"displayModeBar": False},
        )
    current = scoring_state.current_scoring(run)
    if current.temperature is not None:
        st.button(
            f"Score with the model's own probabilities (now calibrated, T = "
            f"{current.temperature:.2f})",
            key="home_uncalibrate",
            on_click=use_temperature,
            args=(run, None),
        )
    elif fit is not None:
        st.button(
            f"Score with calibrated probabilities (T = {fit.temperature:.2f})",
            key="home_calibrate",
            on_click=use_temperature,
            args=(run, fit.temperature),
            help="Every page ranks rows by the calibrated probabilities; each batch records T.",
        )


def use_temperature(run: ModelRun, temperature: float | None) -> None:
    """Score with probabilities calibrated by ``temperature`` (None: the model's own)."""
    current = scoring_state.current_scoring(run)
    scoring_state.set_scoring(dataclasses.replace(current, temperature=temperature))
