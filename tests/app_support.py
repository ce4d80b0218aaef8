"""Helpers shared by the dashboard's AppTest files (tests/test_app_*.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.readers import load_run
from labelnext.runs import ModelRun

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
if str(REPO) not in sys.path:  # labelnext_app sits beside app.py, as `streamlit run` sees it
    sys.path.insert(0, str(REPO))
SAMPLE_KEY = "sample:mnist/run_001"
SAMPLE_DIR = SAMPLE_DATA_DIR / "mnist" / "run_001"


def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """An AppTest of app.py whose ledger and thumbnails live in ``tmp_path``."""
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path))
    monkeypatch.delenv("LABELNEXT_DB_URL", raising=False)
    monkeypatch.delenv("LABELNEXT_ALLOWED_ROOTS", raising=False)
    _use_navigation_not_pages_dir(monkeypatch)
    return AppTest.from_file(APP, default_timeout=30)


def _use_navigation_not_pages_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make AppTest run app.py (and its st.navigation) on every run, as a real server does.

    AppTest resets ``PagesManager.uses_pages_directory`` before each run, and a ``pages/``
    folder next to app.py then switches it to Streamlit's old folder-based multipage mode, which
    runs ``pages/x.py`` directly: app.py (shared state, the sidebar) would be skipped after
    ``switch_page``. A real server clears the flag when app.py first calls ``st.navigation``.
    """
    original = PagesManager.__init__

    def init(self: PagesManager, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def sample_run() -> ModelRun:
    return load_run(SAMPLE_DIR)


def ledger_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The temporary ledger the app under test writes to."""
    from labelnext.ledger import Ledger

    return Ledger(url=f"sqlite:///{(tmp_path / 'ledger.db').resolve()}")


def page_ids(at: AppTest) -> list[str]:
    """The data_row_ids of the thumbnails on the Review page, in grid order."""
    return [
        c.key.removeprefix("review_pick_") for c in at.checkbox if c.key.startswith("review_pick_")
    ]


def selection(at: AppTest) -> set[str]:
    return set(at.session_state["selection"])


def assert_clean(at: AppTest) -> None:
    """No exception and no error box on the screen."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


DETECT_KEY = "sample:mnist_detect"
MULTILABEL_KEY = "sample:mnist_multilabel"


def open_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_key: str) -> AppTest:
    """An app under test with ``run_key`` open (as a deep link would open it)."""
    at = make_app(tmp_path, monkeypatch)
    at.query_params["run"] = run_key
    at.run()
    assert_clean(at)
    return at


def open_detail(at: AppTest, row: str) -> AppTest:
    """Switch ``at`` to the detail view of data row ``row`` of the open run."""
    at.query_params["run"] = at.session_state["run_key"]
    at.query_params["row"] = row
    at.switch_page("pages/detail.py").run()
    assert_clean(at)
    return at


def plotly_spec(at: AppTest, key: str) -> dict:  # type: ignore[type-arg]
    """The figure (plotly JSON) of the chart drawn with ``key=key`` (AppTest cannot see charts)."""
    import json

    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return _plain(json.loads(element.proto.spec))  # type: ignore[no-any-return]
    raise AssertionError(f"no plotly chart with key {key!r}")


def _plain(value: object) -> object:
    """Plotly JSON with its base64 typed arrays ({"dtype", "bdata"}) turned into lists."""
    import base64

    import numpy as np

    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            return array.tolist()
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
