"""Explore page (AppTest): the map's caption and controls on every shipped run, the no-embedding
message, and "show these in Review". The lasso itself is drawn in Chromium
(tests/test_browser_explore.py): AppTest cannot see plotly charts."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import DETECT_KEY, MULTILABEL_KEY, SAMPLE_KEY, assert_clean, open_run, page_ids

from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.projection import map_coordinates
from labelnext.readers import load_run


@pytest.mark.parametrize("key", [SAMPLE_KEY, DETECT_KEY, MULTILABEL_KEY])
def test_explore_draws_every_shipped_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    at = open_run(tmp_path, monkeypatch, key)
    at.switch_page("pages/explore.py").run()
    run = load_run(SAMPLE_DATA_DIR / key.removeprefix("sample:"))
    if run.embedding is None and map_coordinates.__module__ and not _has_map_columns(run):
        assert "cannot be drawn as a map yet" in at.error[0].value
        return
    assert_clean(at)
    assert any(f"All {run.n_rows:,} rows drawn" in c.value for c in at.caption)
    assert at.selectbox(key="explore_color").options[:2] == ["Confidence", "Predicted class"]
    # the map's coordinates were cached on disk, keyed by the run's hash
    assert list((tmp_path / "maps").glob("*.npy"))


def _has_map_columns(run) -> bool:  # type: ignore[no-untyped-def]
    from labelnext.projection import coordinate_columns

    return coordinate_columns(run) is not None


def test_show_these_in_review_filters_the_grid_to_the_lasso_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_run(tmp_path, monkeypatch, SAMPLE_KEY)
    at.switch_page("pages/explore.py").run()
    run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    lasso_rows = frozenset(run.ids[[5, 50, 500]])
    at.session_state["explore_last_rows"] = lasso_rows  # what a lasso left behind
    at.run()
    at.button(key="explore_to_review").click().run()
    assert_clean(at)
    assert set(page_ids(at)) == set(lasso_rows)
    assert "Showing only the 3 rows of a selection on the map" in at.info[0].value
    at.switch_page("pages/review.py")  # AppTest's own page follows st.switch_page only once
    at.button(key="review_clear_only").click().run()
    assert len(page_ids(at)) == 24
