"""Shared session state of the dashboard, and where the current run comes from.

State that must outlive a page lives under plain (non-widget) keys set once with ``setdefault``:

``run_key``
    Which run is open: ``sample:<folder under sample_data>``, ``path:<absolute path>`` or
    ``upload:<sha256>/<file name>`` (an upload is saved under ``$LABELNEXT_HOME/uploads`` so a
    deep link to it keeps working).
``strategy``
    The uncertainty strategy (one of ``labelnext.uncertainty.STRATEGIES`` the run supports).
``selection``
    A ``set`` of ``data_row_id`` strings; survives paging, filters and page switches.
``user_name``
    Who is working, recorded on batches as ``created_by``.

Widgets carry a page prefix (``home_``, ``review_``, ``detail_``, ``batch_``, ``sidebar_``).
Streamlit forgets a widget's value when its page is not drawn, so the Review filters and paging
are listed in :data:`PERSISTENT_WIDGET_KEYS` and kept alive by :func:`keep_widget_state`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from labelnext import thumbnails
from labelnext.errors import LabelnextError, PathNotAllowedError
from labelnext.runs import SAMPLE_DATA_DIR, ModelRun, allowed_roots_from_env
from labelnext.select import Filter
from labelnext.uncertainty import supported_strategies

from . import cache

RUN_KEY = "run_key"
STRATEGY = "strategy"
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
)
_PERSISTENT_PREFIXES = ("review_meta_eq_", "review_meta_range_")


# --------------------------------------------------------------------------------------------
# Session set-up


def init_state() -> None:
    """Set the shared keys once per session (``setdefault``: never overwrites)."""
    ss = st.session_state
    ss.setdefault(RUN_KEY, default_run_key())
    ss.setdefault(STRATEGY, "least_confidence")
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


def sample_runs() -> dict[str, str]:
    """Shipped sample runs: run key -> label (``folder — run name``), sorted by folder."""
    found: dict[str, str] = {}
    for config in sorted(SAMPLE_DATA_DIR.glob("**/run.json")):
        folder = config.parent.relative_to(SAMPLE_DATA_DIR).as_posix()
        try:
            name = json.loads(config.read_text(encoding="utf-8")).get("name", "")
        except (OSError, ValueError):
            name = ""
        found[f"sample:{folder}"] = f"{folder} — {name}" if name else folder
    return found


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
        path = Path(rest).expanduser().resolve()
        roots = allowed_roots_from_env()
        if not any(path == root or path.is_relative_to(root) for root in roots):
            shown = ", ".join(str(r) for r in roots)
            raise PathNotAllowedError(
                f"'{rest}' is outside the folders this server may read: {shown}. "
                "Ask whoever runs the server to add its folder to LABELNEXT_ALLOWED_ROOTS."
            )
        return path
    raise LabelnextError(f"Unknown run reference '{key}'.")


def _stamp(path: Path) -> tuple[Any, ...]:
    """Changes when the run's file, or any file directly in its folder, changes."""
    try:
        if path.is_dir():
            return tuple(
                (p.name, p.stat().st_mtime_ns, p.stat().st_size)
                for p in sorted(path.iterdir())
                if p.is_file()
            )
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
    """Strategies the run supports (all four unless it carries top-1 predictions only)."""
    return supported_strategies(run) if run is not None else ("least_confidence",)


def current_strategy(run: ModelRun | None) -> str:
    """The chosen strategy, moved to a supported one if the run cannot use it."""
    allowed = strategies_for(run)
    if st.session_state.get(STRATEGY) not in allowed:
        st.session_state[STRATEGY] = allowed[0]
    return str(st.session_state[STRATEGY])


def run_scores(run: ModelRun, strategy: str) -> np.ndarray:
    """Cached scores of every row (higher = more uncertain)."""
    return cache.scores(run.content_hash, strategy, run)


def run_order(run: ModelRun, strategy: str) -> np.ndarray:
    """Cached order of every row, most uncertain first."""
    return cache.full_order(run.content_hash, strategy, run)


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
        return frozenset(cache.ledger().excluded_ids())
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


def thumb_for(run: ModelRun, row: int) -> Path | str:
    """Thumbnail of row ``row`` (a PNG path, or a URL the browser loads)."""
    try:
        location = run.image_location(row)
    except LabelnextError as exc:
        return thumbnails.placeholder_thumbnail(str(exc)[:90])
    return thumbnails.thumbnail(location)
