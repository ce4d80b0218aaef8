"""The Home page's actions: open a shipped sample, an upload, or a file on the server."""

from __future__ import annotations

import streamlit as st

from labelnext.config import settings
from labelnext.errors import LabelnextError

from . import runs

__all__ = ["ERROR", "PENDING_UPLOAD", "choose_sample", "load_pending_upload", "load_server_path"]

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
