"""Which run is open, and where it comes from: run keys, server paths and uploads.

A run key says where a run is: ``sample:<folder under sample_data>``, ``path:<path on the
server>`` (inside the allowed roots) or ``upload:<sha256>/<file name>`` (an upload is saved under
``$LABELNEXT_HOME/uploads`` so a deep link to it keeps working).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import streamlit as st

from labelnext.config import settings
from labelnext.errors import LabelnextError
from labelnext.paths import SAMPLE_DATA_DIR, allowed_roots, contain
from labelnext.readers import check_upload_name
from labelnext.runs import ModelRun

from . import cache
from .session import RUN_KEY, SELECTION

__all__ = [
    "adopt_upload",
    "current_run",
    "open_run",
    "run_label",
    "run_path",
    "set_run",
    "uploads_dir",
]


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
    # every kind of key passes the one containment check: a deep link is typed by anyone
    if kind == "sample":
        return contain(SAMPLE_DATA_DIR / rest, [SAMPLE_DATA_DIR.resolve()], what="run", shown=key)
    if kind == "upload":
        folder = uploads_dir().resolve()
        return contain(folder / rest, [folder], what="run", shown=key)
    if kind == "path":
        return contain(rest, allowed_roots(), what="run", shown=rest)
    raise LabelnextError(
        f"Unknown run reference {key!r}: expected sample:<folder>, path:<path> or upload:<id>."
    )


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
    return cache.run_from_path(str(path), _stamp(path), key.startswith("upload:"))


def uploads_dir() -> Path:
    """Where uploaded run files are kept: ``$LABELNEXT_HOME/uploads``."""
    return settings().uploads_dir


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
    check_upload_name(safe_name)
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
    except BaseException:  # a refused or crashing load leaves nothing behind
        target.unlink(missing_ok=True)
        raise
    return key


def set_run(key: str) -> None:
    """Open another run: clear the selection and the Review widgets that belong to the old one."""
    ss = st.session_state
    if ss.get(RUN_KEY) == key:
        return
    ss[RUN_KEY] = key
    ss[SELECTION] = frozenset()
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
