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
    at.sidebar.selectbox(key="sidebar_strategy").set_value("entropy").run()
    assert_clean(at)
    assert at.session_state["review_page"] == 1


def test_review_offers_only_filterable_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    data.mkdir()
    table = pa.table(
        {
            "data_row_id": ["a", "b", "c"],
            "prob_x": [0.9, 0.4, 0.2],
            "prob_y": [0.1, 0.6, 0.8],
            "site": ["north", "south", "north"],
            "tags": [[1], [2, 3], []],
            "depth": [1.0, 2.0, 3.0],
            "weird": [1.0, np.inf, 2.0],
            "empty": pa.array([None, None, None], type=pa.string()),
        }
    )
    pq.write_table(table, data / "run.parquet")
    at = make_app(tmp_path, monkeypatch)
    monkeypatch.setenv("LABELNEXT_ALLOWED_ROOTS", str(data))
    at.query_params["run"] = f"path:{data / 'run.parquet'}"
    at.run()
    at.switch_page("pages/review.py").run()
    assert_clean(at)
    assert at.selectbox(key="review_meta_col").options == ["(none)", "site", "depth"]
    at.selectbox(key="review_meta_col").set_value("depth").run()
    assert_clean(at)
    at.slider(key="review_meta_range_depth").set_value((2.0, 3.0)).run()
    assert_clean(at)
    assert {c.key for c in at.checkbox if c.key.startswith("review_pick_")} == {
        "review_pick_b",
        "review_pick_c",
    }


def test_an_upload_that_expands_past_its_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few KB of Parquet that decode to a gigabyte never reach memory."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 1_000_000
    table = pa.table(
        {
            "data_row_id": pa.array([f"r{i}" for i in range(n)]),
            "prob_a": pa.array([0.5] * n),
            "prob_b": pa.array([0.5] * n),
            "note": pa.array(["x" * 1000] * n).dictionary_encode(),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    assert len(buffer.getvalue()) < 10 * 1024 * 1024  # a small upload ...
    monkeypatch.setenv("LABELNEXT_MAX_UPLOAD_MB", "10")  # ... under the limit
    at = make_app(tmp_path, monkeypatch).run()
    at.session_state["home_pending_upload"] = ("bomb.parquet", buffer.getvalue())
    at.run()
    assert not at.exception
    message = at.error[0].value
    assert ("bomb.parquet" in message and "LABELNEXT_MAX_RUN_MB" in message) or "MB" in message
    assert at.session_state["run_key"] == SAMPLE_KEY
    assert not list((tmp_path / "uploads").rglob("*.parquet"))
