"""Where a run comes from in the dashboard: every run key passes the containment check, uploads
keep nothing bad on disk, and a new strategy starts at the first page."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import SAMPLE_KEY, assert_clean, make_app

GOOD_CSV = b"data_row_id,prob_a,prob_b\nr1,0.9,0.1\nr2,0.4,0.6\n"


@pytest.mark.parametrize(
    "key",
    [
        "sample:../../../etc",
        "sample:/etc",
        "upload:../../../../etc/passwd",
        "upload:/etc/passwd",
        "path:/etc",
        "path:/etc/no-such-file-at-all",
    ],
)
def test_deep_links_cannot_leave_the_allowed_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    at = make_app(tmp_path, monkeypatch)
    at.query_params["run"] = key
    at.run()
    assert not at.exception
    assert "is outside the allowed roots" in at.session_state["run_error"]
    # the message does not tell whether something exists out there
    assert "not found" not in at.session_state["run_error"]


def test_an_uploaded_run_json_is_refused_and_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.session_state["home_pending_upload"] = (
        "run.json",
        b'{"predictions": "/etc/passwd", "name": "x"}',
    )
    at.run()
    assert "run.json belongs in a run folder on the server" in at.error[0].value
    assert at.session_state["run_key"] == SAMPLE_KEY
    assert not list((tmp_path / "uploads").rglob("*"))


def test_a_strategy_change_starts_at_the_first_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.switch_page("pages/review.py").run()
    at.number_input(key="review_page").set_value(7).run()
    assert at.session_state["review_page"] == 7
    at.sidebar.selectbox(key="sidebar_strategy").set_value("margin").run()
    assert_clean(at)
    assert at.session_state["review_page"] == 1
