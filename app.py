"""labelnext dashboard: ``streamlit run app.py``.

The entry point sets up shared state once, opens the current run (the first shipped sample by
default), draws the sidebar and hands over to the chosen page in ``pages/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this folder on sys.path; AppTest and other runners may not.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from labelnext.errors import LabelnextError  # noqa: E402
from labelnext_app import auth, catalogue, review, runs, session, ui  # noqa: E402

st.set_page_config(page_title="labelnext", page_icon=":material/label:", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/review.py", title="Review", icon=":material/grid_view:"),
    st.Page("pages/detail.py", title="Detail", icon=":material/zoom_in:"),
    st.Page("pages/explore.py", title="Explore", icon=":material/scatter_plot:"),
    st.Page("pages/batch.py", title="Batch", icon=":material/playlist_add_check:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/simulate.py", title="Simulate", icon=":material/science:"),
]
# st.login is configured and nobody is signed in: only the sign-in page (at every page's
# address, so a deep link signs in too), no data, no sidebar.
if auth.signed_out():
    st.navigation(auth.sign_in_pages(pages), position="hidden").run()
    st.stop()

session.init_state(catalogue.default_run_key())
review.keep_widget_state()

# A deep link (?run=..&row=..) opens that run.
linked_run = st.query_params.get("run")
if linked_run and linked_run != st.session_state.get(session.RUN_KEY):
    runs.set_run(linked_run)

page = st.navigation(pages)
ui.page_style()

run = None
key = st.session_state.get(session.RUN_KEY)
if key:
    try:
        with st.spinner(f"Loading {runs.run_label(key)}…"):
            run = runs.open_run(key)
    except LabelnextError as exc:
        st.session_state["run_error"] = str(exc)
    else:
        st.session_state.pop("run_error", None)

ui.sidebar(run)
page.run()
