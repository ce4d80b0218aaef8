"""What the Simulate page does: start a simulation off the script thread, follow it, cancel it,
keep finished results on disk, and adopt the winner as the session's default.

A simulation runs in a daemon thread of the server process (:class:`Job`), so the page keeps
answering while it runs; the page polls :func:`current_job` from a fragment. Finished results are
written to ``$LABELNEXT_HOME/simulations/<key>.json``, the key being a digest of the data (the
run's content hash and its labels) and the parameters, so the same simulation reopens instantly,
in this session or another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from labelnext.config import settings
from labelnext.errors import LabelnextError, SimulationCancelledError
from labelnext.simulate import (
    DEFAULT_STRATEGIES,
    RANDOM,
    Progress,
    SimulationData,
    SimulationResult,
    parse_strategy,
    simulate,
)

from . import scoring_state, session

__all__ = [
    "CHOICES",
    "JOB",
    "OUTCOME",
    "RESULT",
    "Job",
    "adopt",
    "adoptable",
    "cache_dir",
    "cancel",
    "collect",
    "current_job",
    "curves_csv",
    "init_widgets",
    "params_from_state",
    "png",
    "pool_size",
    "progress_text",
    "recommended_line",
    "result_key",
    "shown_result",
    "start",
    "stored_result",
    "table",
    "table_csv",
]

JOB = "simulate_job"  # session: id of the running (or last) job
RESULT = "simulate_result"  # session: (data hash, SimulationResult) of the result shown
OUTCOME = "simulate_outcome"  # session: (kind, markdown) of the last action
CHOICES = (
    "random",
    "least_confidence",
    "margin",
    "ratio",
    "entropy",
    "diverse",
    "cluster",
    "typical",
    "auto",
)
TEST_FRACTION = 0.2
BUILDER_METHOD = "builder_method"  # the Batch page builder's widgets (labelnext_app.batch_builder)
BUILDER_SIZE = "builder_size"
DEFAULTS: dict[str, Any] = {
    "simulate_strategies": list(DEFAULT_STRATEGIES),
    "simulate_seeds": 10,
    "simulate_batch": 50,
    "simulate_budget": 1000,
    "simulate_initial": 20,
    "simulate_target": 0.95,
}


@dataclasses.dataclass
class Job:
    """One simulation running (or finished) in a background thread."""

    key: str
    params: dict[str, Any]
    data_hash: str = ""
    cancel_event: threading.Event = dataclasses.field(default_factory=threading.Event)
    progress: Progress | None = None
    result: SimulationResult | None = None
    error: str | None = None
    cancelled: bool = False
    started: float = dataclasses.field(default_factory=time.monotonic)
    finished: float | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.finished is None


_JOBS: dict[str, Job] = {}
_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where finished simulations are kept: ``$LABELNEXT_HOME/simulations``."""
    return settings().home / "simulations"


def params_from_state() -> dict[str, Any]:
    """The simulation parameters the page's widgets hold (plain, JSON-ready)."""
    ss = st.session_state
    chosen = [
        s for s in CHOICES if s in ss.get("simulate_strategies", DEFAULTS["simulate_strategies"])
    ]
    return {
        "strategies": chosen,
        "seeds": int(ss.get("simulate_seeds", DEFAULTS["simulate_seeds"])),
        "batch": int(ss.get("simulate_batch", DEFAULTS["simulate_batch"])),
        "budget": int(ss.get("simulate_budget", DEFAULTS["simulate_budget"])),
        "initial": int(ss.get("simulate_initial", DEFAULTS["simulate_initial"])),
        "target": round(float(ss.get("simulate_target", DEFAULTS["simulate_target"])), 4),
    }


def result_key(data: SimulationData, params: dict[str, Any]) -> str:
    """The disk-cache key of a simulation: the data's hash and the parameters."""
    text = json.dumps({"data": data.content_hash, "params": params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stored_result(key: str) -> SimulationResult | None:
    """A finished simulation from the disk cache, or None (also for an unreadable file)."""
    path = cache_dir() / f"{key}.json"
    try:
        return SimulationResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(key: str, result: SimulationResult) -> None:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(result.to_dict(), out)
    os.replace(tmp, folder / f"{key}.json")


def _work(job: Job, data: SimulationData) -> None:
    def report(p: Progress) -> None:
        job.progress = p

    try:
        result = simulate(data, progress=report, cancel=job.cancel_event, **job.params)
        try:
            _store(job.key, result)
        except OSError:
            pass  # the result is still shown; only reopening it later needs the file
        job.result = result
    except SimulationCancelledError:
        job.cancelled = True
    except LabelnextError as exc:
        job.error = str(exc)
    except Exception as exc:  # shown on the page rather than lost with the thread
        job.error = f"The simulation failed: {type(exc).__name__}: {exc}"
    finally:
        job.finished = time.monotonic()


def start(data: SimulationData) -> None:
    """Start a simulation with the widgets' parameters (an ``on_click`` callback).

    A result already on disk for the same data and parameters is shown at once instead.
    """
    ss = st.session_state
    params = params_from_state()
    if not params["strategies"] or params["strategies"] == [RANDOM]:
        ss[OUTCOME] = ("error", "Choose at least one strategy besides random to compare.")
        return
    key = result_key(data, params)
    stored = stored_result(key)
    if stored is not None:
        ss[RESULT] = (data.content_hash, stored)
        ss[OUTCOME] = ("info", "Reopened the finished simulation with these settings.")
        ss.pop(JOB, None)
        return
    job = Job(key=key, params=params, data_hash=data.content_hash)
    job.thread = threading.Thread(
        target=_work, args=(job, data), name=f"labelnext-simulate-{key[:8]}", daemon=True
    )
    job_id = uuid.uuid4().hex
    with _LOCK:
        _JOBS[job_id] = job
    ss[JOB] = job_id
    ss.pop(OUTCOME, None)
    job.thread.start()


def current_job() -> Job | None:
    """The session's job, or None."""
    job_id = st.session_state.get(JOB)
    if job_id is None:
        return None
    with _LOCK:
        return _JOBS.get(str(job_id))


def cancel() -> None:
    """Ask the session's running job to stop (it stops before its next round)."""
    job = current_job()
    if job is not None:
        job.cancel_event.set()


def collect() -> None:
    """Move a finished job's outcome into the session (result, or what stopped it)."""
    ss = st.session_state
    job = current_job()
    if job is None or job.running:
        return
    if job.result is not None:
        ss[RESULT] = (job.data_hash, job.result)
        ss[OUTCOME] = (
            "success",
            f"Finished in {(job.finished or job.started) - job.started:.0f} s.",
        )
    elif job.cancelled:
        done = job.progress.done if job.progress else 0
        ss[OUTCOME] = ("info", f"Cancelled after {done:,} round(s); nothing was kept.")
    else:
        ss[OUTCOME] = ("error", job.error or "The simulation stopped.")
    with _LOCK:
        _JOBS.pop(str(ss.pop(JOB)), None)


def progress_text(job: Job) -> tuple[float, str]:
    """The progress bar's fraction and its words: seed, strategy, round."""
    p = job.progress
    if p is None:
        return 0.0, "Preparing: splitting the labeled rows, fitting the full-pool model…"
    seeds = job.params["seeds"]
    return p.fraction, (
        f"Seed {p.seed + 1} of {seeds} · {p.strategy} · round {p.round} of {p.n_rounds - 1} "
        f"· {p.fraction:.0%}"
    )


def adoptable(result: SimulationResult) -> tuple[str, str, str] | None:
    """The winner as ``(strategy name, batch method, uncertainty strategy)``, or None."""
    winner = result.winner()
    if winner is None:
        return None
    method, under = parse_strategy(winner)
    return winner, method, under


def adopt(winner: str, batch_size: int) -> None:
    """Make the winner the session's default (an ``on_click`` callback).

    Its uncertainty strategy becomes the sidebar's Strategy; its batch method and the simulated
    batch size become the Batch page builder's Method and N (set before that page draws its
    widgets, so they open on them) and the session's batch method.
    """
    ss = st.session_state
    method, under = parse_strategy(winner)
    current = scoring_state.as_scoring(ss.get(session.SCORING))
    scoring_state.set_scoring(dataclasses.replace(current, strategy=under))
    session.set_batch_method(method)
    ss[BUILDER_METHOD] = method
    ss[BUILDER_SIZE] = int(batch_size)
    ss["review_page"] = 1
    ss[OUTCOME] = (
        "success",
        f"Default set: strategy **{under}** in the sidebar; batch method **{method}** with "
        f"batches of **{batch_size}** on the Batch page (from the winner {winner}).",
    )


def pool_size(data: SimulationData) -> int:
    """Rows in the pool after the test split (what the budget may reach)."""
    n_classes = len(set(data.labels.tolist()))
    return data.n_rows - max(n_classes, round(TEST_FRACTION * data.n_rows))


def init_widgets(pool: int) -> None:
    """The widgets' first values (``setdefault``; a budget that fits the pool)."""
    ss = st.session_state
    for key, value in DEFAULTS.items():
        ss.setdefault(key, value)
    budget_cap = max(2, pool)
    if ss["simulate_budget"] > budget_cap:
        ss["simulate_budget"] = budget_cap


def shown_result(data: SimulationData) -> tuple[SimulationResult | None, bool]:
    """The result to show and whether it was reopened from disk.

    The session's last result; else a finished simulation on disk for the widgets' current
    settings (it reopens instantly).
    """
    ss = st.session_state
    shown = ss.get(RESULT)
    if isinstance(shown, tuple) and shown[0] == data.content_hash:
        return shown[1], False
    stored = stored_result(result_key(data, params_from_state()))
    if stored is not None:
        ss[RESULT] = (data.content_hash, stored)
        return stored, True
    return None, False


def recommended_line(result: SimulationResult) -> str | None:
    """The recommended default (``auto``) in the user's own figures, when it was run."""
    table = result.summary().set_index("strategy")
    if "auto" not in table.index:
        return None
    row = table.loc["auto"]
    return (
        f"The recommended default, auto: savings {row['savings']:+.0%} "
        f"({result.settings.confidence:.0%} interval {row['savings_low']:+.0%} to "
        f"{row['savings_high']:+.0%}) — {row['verdict']}."
    )


def table(result: SimulationResult) -> pd.DataFrame:
    """The summary as the page shows it (readable column names, labels as text)."""
    low, high = result.settings.band
    budget = result.settings.budget
    summary = result.summary()

    def labels(value: float) -> str:
        return f">{budget:,}" if math.isinf(value) else f"{value:,.0f}"

    return pd.DataFrame(
        {
            "strategy": summary["strategy"],
            "labels to target (median)": summary["labels_median"].map(labels),
            f"{low:.0%} to {high:.0%}": [
                f"{labels(a)} to {labels(b)}"
                for a, b in zip(summary["labels_low"], summary["labels_high"], strict=True)
            ],
            "seeds reaching it": [
                f"{r}/{n}" for r, n in zip(summary["reached"], summary["seeds"], strict=True)
            ],
            "accuracy at budget": summary["accuracy_at_budget"].map("{:.1%}".format),
            "macro-F1 at budget": summary["macro_f1_at_budget"].map("{:.1%}".format),
            "savings vs random": summary["savings"].map(
                lambda v: "" if math.isnan(v) else f"{v:+.0%}"
            ),
            "verdict": summary["verdict"],
        }
    )


def table_csv(result: SimulationResult) -> bytes:
    """The summary table as CSV (numbers unrounded)."""
    return result.summary().to_csv(index=False, lineterminator="\n").encode()


def curves_csv(result: SimulationResult) -> bytes:
    """The learning curves (median and band per strategy and labels) as CSV."""
    return result.bands().round(6).to_csv(index=False, lineterminator="\n").encode()


def png(result: SimulationResult, metric: str) -> tuple[bytes | None, str]:
    """The chart as PNG, drawn once per result and metric in this session."""
    from labelnext.simulate_figure import curves_png

    memo: dict[tuple[int, str], tuple[bytes | None, str]] = st.session_state.setdefault(
        "simulate_png", {}
    )
    key = (id(result), metric)
    if key not in memo:
        memo.clear()
        memo[key] = curves_png(result, metric)
    return memo[key]
