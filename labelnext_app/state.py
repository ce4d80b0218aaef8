"""Shared session state of the dashboard, and where the current run comes from.

State that must outlive a page lives under plain (non-widget) keys set once with ``setdefault``:

``run_key``
    Which run is open: ``sample:<folder under sample_data>``, ``path:<absolute path>`` or
    ``upload:<sha256>/<file name>`` (an upload is saved under ``$LABELNEXT_HOME/uploads`` so a
    deep link to it keeps working).
``scoring``
    How rows are scored: one :class:`labelnext.uncertainty.Scoring` (strategy, aggregation,
    top-k, class restriction, no-box score), a frozen, hashable value. It keys the score caches
    and is what a submitted batch records (``scoring.params()``). :func:`current_scoring` fits
    it to the open run (a strategy the run supports, an aggregation its task allows).
``selection``
    A ``set`` of ``data_row_id`` strings; survives paging, filters and page switches.
``user_name``
    Who is working, recorded on batches as ``created_by``.

Widgets carry a page prefix (``home_``, ``review_``, ``detail_``, ``batch_``, ``sidebar_``).
Streamlit forgets a widget's value when its page is not drawn, so the Review filters and paging
are listed in :data:`PERSISTENT_WIDGET_KEYS` and kept alive by :func:`keep_widget_state`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from labelnext import thumbnails
from labelnext.errors import LabelnextError
from labelnext.overlay import BoxSet
from labelnext.paths import SAMPLE_DATA_DIR, contain
from labelnext.paths import allowed_roots as allowed_roots_from_env
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring, scores_for_row, supported_strategies
from labelnext.select import Filter
from labelnext.uncertainty import AGGREGATIONS

from . import cache

RUN_KEY = "run_key"
SCORING = "scoring"
SELECTION = "selection"
USER = "user_name"

DEFAULT_SAMPLE = "mnist/run_001"
PERSISTENT_WIDGET_KEYS = (
    "review_classes",
    "review_conf",
    "review_meta_col",
    "review_hide_queued",
    "review_page_size",
    "review_page",
    "review_topn",
    "review_range",
    "review_box_threshold",
    "detail_box_threshold",
)
_PERSISTENT_PREFIXES = ("review_meta_eq_", "review_meta_range_")


# --------------------------------------------------------------------------------------------
# Session set-up


def init_state() -> None:
    """Set the shared keys once per session (``setdefault``: never overwrites)."""
    ss = st.session_state
    ss.setdefault(RUN_KEY, default_run_key())
    ss.setdefault(SCORING, Scoring())
    ss.setdefault(SELECTION, set())
    ss.setdefault(USER, signed_in_user() or "")


def keep_widget_state() -> None:
    """Re-assign the Review widgets' values so they survive a visit to another page."""
    ss = st.session_state
    for key in list(ss.keys()):
        if key in PERSISTENT_WIDGET_KEYS or str(key).startswith(_PERSISTENT_PREFIXES):
            ss[key] = ss[key]


def signed_in_user() -> str | None:
    """The signed-in user's name or e-mail when ``st.login`` is configured, else ``None``."""
    try:
        if st.user.is_logged_in:
            return str(st.user.get("name") or st.user.get("email") or "") or None
    except Exception:  # no auth configured: st.user raises or has no is_logged_in
        return None
    return None


# --------------------------------------------------------------------------------------------
# Runs


#: What the shipped sample folders hold, for their labels on Home.
_SAMPLE_TITLES = {
    "mnist": "MNIST digits",
    "mnist_detect": "MNIST canvases",
    "mnist_multilabel": "MNIST canvases",
}
_TASK_WORDS = {"classification": "classification", "multilabel": "multi-label"}


def sample_runs() -> dict[str, str]:
    """Shipped sample runs: run key -> label saying what it is, sorted by folder.

    For example ``MNIST digits — classification, run 1`` or ``MNIST canvases — detection (COCO)``.
    """
    found: dict[str, str] = {}
    for config in sorted(SAMPLE_DATA_DIR.glob("**/run.json")):
        folder = config.parent.relative_to(SAMPLE_DATA_DIR).as_posix()
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        found[f"sample:{folder}"] = _sample_label(folder, meta if isinstance(meta, dict) else {})
    return found


def _sample_label(folder: str, meta: dict[str, Any]) -> str:
    top, _, rest = folder.partition("/")
    title = _SAMPLE_TITLES.get(top, top)
    task = str(meta.get("task") or "classification")
    words = _TASK_WORDS.get(task, task)
    fmt = str(meta.get("format") or "")
    if fmt and fmt != "labelnext":
        words += f" ({fmt.upper() if fmt in ('coco', 'yolo') else fmt.capitalize()})"
    leaf = rest.rsplit("/", 1)[-1]
    if leaf.startswith("run_") and leaf[4:].isdigit():
        words += f", run {int(leaf[4:])}"
    elif rest:
        words += f", {rest}"
    return f"{title} — {words}"


def default_run_key() -> str | None:
    """The run the app opens on: the first MNIST sample, else any sample, else none."""
    samples = sample_runs()
    if f"sample:{DEFAULT_SAMPLE}" in samples:
        return f"sample:{DEFAULT_SAMPLE}"
    return next(iter(samples), None)


def run_path(key: str) -> Path:
    """The file or folder a run key points at.

    Raises
    ------
    PathNotAllowedError
        If a ``path:`` key lies outside the allowed roots (``LABELNEXT_ALLOWED_ROOTS`` and the
        shipped samples).
    LabelnextError
        If the key is malformed.
    """
    kind, _, rest = key.partition(":")
    if kind == "sample":
        return SAMPLE_DATA_DIR / rest
    if kind == "upload":
        return uploads_dir() / rest
    if kind == "path":
        return contain(rest, allowed_roots_from_env(), what="run", shown=rest)
    raise LabelnextError(f"Unknown run reference '{key}'.")


def _stamp(path: Path) -> tuple[Any, ...]:
    """Changes when the run's file, or any file directly in its folder, changes.

    Subfolders (a YOLO folder's ``labels/``) count by their own ``mtime``, which changes when a
    file in them is added, removed or replaced (as tools that write atomically do); stat-ing
    every label file on every rerun would cost a page flip too much on a large folder.
    """
    try:
        if path.is_dir():
            entries = []
            for p in sorted(path.iterdir()):
                info = p.stat()
                size = info.st_size if p.is_file() else -1
                entries.append((p.name, info.st_mtime_ns, size))
            return tuple(entries)
        stat = path.stat()
    except OSError:
        return ()
    return ((path.name, stat.st_mtime_ns, stat.st_size),)


def open_run(key: str) -> ModelRun:
    """Load (or fetch from cache) the run behind a run key; raises ``LabelnextError``."""
    path = run_path(key)
    return cache.run_from_path(str(path), _stamp(path))


def uploads_dir() -> Path:
    """Where uploaded run files are kept: ``$LABELNEXT_HOME/uploads``."""
    return Path(os.environ.get("LABELNEXT_HOME", ".labelnext")) / "uploads"


def adopt_upload(filename: str, data: bytes) -> str:
    """Validate an uploaded predictions file and keep it; return its run key.

    The file is stored as ``uploads/<sha256>/<name>`` and loaded from there, so a cached load and
    a deep link refer to the same bytes. A file that fails validation is deleted again.

    Raises
    ------
    RunValidationError
        With the library's list of problems (file, row, field) when the file is invalid.
    """
    safe_name = Path(filename).name or "upload.csv"
    digest = hashlib.sha256(data).hexdigest()
    target = uploads_dir() / digest / safe_name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file():
        tmp = target.with_name(f".tmp-{safe_name}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    key = f"upload:{digest}/{safe_name}"
    try:
        open_run(key)
    except LabelnextError:
        target.unlink(missing_ok=True)
        raise
    return key


def set_run(key: str) -> None:
    """Open another run: clear the selection and the Review widgets that belong to the old one."""
    ss = st.session_state
    if ss.get(RUN_KEY) == key:
        return
    ss[RUN_KEY] = key
    ss[SELECTION] = set()
    for name in list(ss.keys()):
        if str(name).startswith(("review_", "detail_")):
            del ss[name]


def current_run() -> ModelRun | None:
    """The open run, or ``None`` when there is none or it cannot be loaded (error in state)."""
    key = st.session_state.get(RUN_KEY)
    if not key:
        return None
    try:
        return open_run(key)
    except LabelnextError:
        return None


def run_label(key: str | None) -> str:
    """How a run key is shown to people."""
    if not key:
        return "no run"
    kind, _, rest = key.partition(":")
    if kind == "upload":
        return f"upload {rest.split('/', 1)[-1]}"
    return rest


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
    if run is None or run.task == "classification":
        return Scoring(strategy=strategy)
    aggregations = aggregations_for(run)
    aggregation = scoring.aggregation if scoring.aggregation in aggregations else aggregations[0]
    if run.task == "multilabel":
        return Scoring(strategy=strategy, aggregation=aggregation)
    classes = tuple(c for c in scoring.classes if c in run.classes)
    return dataclasses.replace(scoring, strategy=strategy, aggregation=aggregation, classes=classes)


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
    """How the scoring reads to people, e.g. ``margin`` or ``least_confidence, mean over boxes``."""
    return scoring.describe(run.task if run is not None else "classification")


def scoring_key(scoring: Scoring) -> str:
    """A stable text form of the scoring's parameters: the score caches' key."""
    return json.dumps(scoring.params(), sort_keys=True)


def run_scores(run: ModelRun, scoring: Scoring) -> np.ndarray:
    """Cached scores of every row (higher = more uncertain)."""
    return cache.scores(run.content_hash, scoring_key(scoring), run, scoring)


def row_scores(run: ModelRun, row: int, scoring: Scoring) -> dict[str, float]:
    """Row ``row``'s score under every strategy the run supports, with the chosen options.

    Classification rows are scored alone; other tasks take the row from the cached whole-run
    scores (aggregation and class options apply to every strategy alike).
    """
    if run.task == "classification" and run.samples is None:
        return scores_for_row(run, row)
    return {
        s: float(run_scores(run, dataclasses.replace(scoring, strategy=s))[row])
        for s in strategies_for(run)
    }


def run_order(run: ModelRun, scoring: Scoring) -> np.ndarray:
    """Cached order of every row, most uncertain first."""
    return cache.full_order(run.content_hash, scoring_key(scoring), run, scoring)


# --------------------------------------------------------------------------------------------
# Selection


def selection() -> set[str]:
    """The selected ``data_row_id`` values (the live set in session state)."""
    return st.session_state.setdefault(SELECTION, set())


def set_selection(ids: Iterable[str]) -> None:
    """Replace the selection."""
    st.session_state[SELECTION] = set(ids)


def clear_selection() -> None:
    """Empty the selection (an ``on_click`` callback)."""
    st.session_state[SELECTION] = set()


# --------------------------------------------------------------------------------------------
# The Review view, shared with Detail (previous/next follow the same order)


def excluded_ids() -> frozenset[str]:
    """Rows already queued or labeled according to the ledger (empty if it is unreachable)."""
    try:
        return cache.excluded_ids()
    except LabelnextError:
        return frozenset()


def review_filter(run: ModelRun) -> Filter:
    """The Filter the Review widgets describe (read from session state, defaults if unset)."""
    ss = st.session_state
    classes = tuple(c for c in ss.get("review_classes", ()) if c in run.classes)
    low, high = ss.get("review_conf", (0.0, 1.0))
    equals: tuple[tuple[str, Any], ...] = ()
    ranges: tuple[tuple[str, float, float], ...] = ()
    column = ss.get("review_meta_col")
    if column and column in run.metadata.columns:
        if f"review_meta_range_{column}" in ss:
            lo, hi = ss[f"review_meta_range_{column}"]
            ranges = ((column, float(lo), float(hi)),)
        elif f"review_meta_eq_{column}" in ss:
            equals = ((column, ss[f"review_meta_eq_{column}"]),)
    exclude = excluded_ids() if ss.get("review_hide_queued", True) else frozenset()
    return Filter(
        classes=classes,
        min_confidence=float(low),
        max_confidence=float(high),
        metadata_equals=equals,
        metadata_ranges=ranges,
        exclude_ids=exclude,
    )


#: Thumbnail side: classification images stay at 4x a 28 px digit; detection thumbnails are
#: drawn at about the size a grid card shows them, so box tags are crisp, not stretched.
THUMB_SIZE = 112
DETECTION_THUMB_SIZE = 160


def boxes_of(run: ModelRun, row: int) -> BoxSet | None:
    """Row ``row``'s detection boxes, or ``None`` for a run without boxes."""
    if run.boxes is None:
        return None
    return BoxSet.of_row(run.boxes, run.classes, row)


def thumb_for(run: ModelRun, row: int, *, box_threshold: float = 0.0) -> Path | str:
    """Thumbnail of row ``row`` (a PNG path, or a URL the browser loads), boxes drawn on it."""
    size = DETECTION_THUMB_SIZE if run.boxes is not None else THUMB_SIZE
    try:
        location = run.image_location(row)
    except LabelnextError as exc:
        return thumbnails.placeholder_thumbnail(str(exc)[:90], size=size)
    return thumbnails.thumbnail(
        location, size=size, boxes=boxes_of(run, row), threshold=box_threshold
    )
