"""Explore page (AppTest): the map on every shipped run (the image embedding where a run has
none), status and proposed-batch colourings, and "show these in Review". The lasso itself is
drawn in Chromium (tests/test_browser_explore.py): AppTest cannot see a plotly selection, though
it reads the figure sent (``plotly_spec``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from app_support import (
    DETECT_KEY,
    MULTILABEL_KEY,
    SAMPLE_KEY,
    assert_clean,
    ledger_for,
    open_run,
    page_ids,
    plotly_spec,
)

from labelnext.embeddings import embedding_for
from labelnext.map_figure import STATUS_CATEGORIES
from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.projection import map_coordinates
from labelnext.readers import load_run
from labelnext_app.batch_builder import PROPOSAL

RUN_002_KEY = "sample:mnist/run_002"
SHIPPED = [SAMPLE_KEY, RUN_002_KEY, DETECT_KEY, MULTILABEL_KEY]


def _shipped_run(key: str):  # type: ignore[no-untyped-def]
    return load_run(SAMPLE_DATA_DIR / key.removeprefix("sample:"))


def _points(at) -> tuple[list[str], np.ndarray]:  # type: ignore[no-untyped-def]
    """The drawn ids and their colour codes (the map's last trace)."""
    trace = plotly_spec(at, "explore_map")["data"][-1]
    return list(trace["customdata"]), np.asarray(trace["marker"]["color"])


def _colour_names(at) -> list[str]:  # type: ignore[no-untyped-def]
    return list(at.selectbox(key="explore_color").options)


def test_every_shipped_run_is_in_the_list() -> None:
    folders = {p.parent for p in SAMPLE_DATA_DIR.rglob("run.json")}
    assert folders == {SAMPLE_DATA_DIR / k.removeprefix("sample:") for k in SHIPPED}


@pytest.mark.parametrize("key", SHIPPED)
def test_explore_draws_every_shipped_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    at = open_run(tmp_path, monkeypatch, key)
    at.switch_page("pages/explore.py").run()
    run = _shipped_run(key)
    if run.embedding is None:  # the detection sample: offered the image fallback, then drawn
        assert "cannot be drawn as a map yet" in at.error[0].value
        assert "has no embedding" in at.error[0].value
        at.button(key="explore_use_images").click().run()
        matrix, source = embedding_for(run, home=tmp_path)
        assert source == "pixels-16x16-pca32"
        assert any(f"Map from PCA of {source} ({run.n_rows} x 32)" in c.value for c in at.caption)
        expected = map_coordinates(run, embedding=matrix, home=tmp_path, use_cache=False).xy
    else:
        expected = map_coordinates(run, home=tmp_path, use_cache=False).xy
        assert any("Map from PCA of embedding" in c.value for c in at.caption)
    assert_clean(at)
    assert any(f"All {run.n_rows:,} rows drawn" in c.value for c in at.caption)
    assert _colour_names(at)[:2] == ["Confidence", "Predicted class"]
    # the map's coordinates were cached on disk, keyed by the run's hash
    assert list((tmp_path / "maps").glob("*.npy"))
    ids, _ = _points(at)
    assert sorted(ids) == sorted(run.ids.astype(str))
    trace = plotly_spec(at, "explore_map")["data"][-1]
    drawn = np.column_stack([trace["x"], trace["y"]])
    at_rows = expected[run.positions(ids)]
    np.testing.assert_allclose(drawn, at_rows, rtol=1e-4, atol=1e-5)


def test_the_image_embedding_choice_stays_with_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_run(tmp_path, monkeypatch, DETECT_KEY)
    at.switch_page("pages/explore.py").run()
    at.button(key="explore_use_images").click().run()
    at.run()  # a rerun reads the map from the cache, no button
    assert_clean(at)
    assert not [b for b in at.button if b.key == "explore_use_images"]


def test_status_colouring_tells_queued_from_labeled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _shipped_run(SAMPLE_KEY)
    ids = [str(i) for i in run.ids[:6]]
    with ledger_for(tmp_path) as ledger:
        rows = pd.DataFrame({"data_row_id": ids[:4]})
        args = {"name": "b", "created_by": "ana", "strategy": "margin", "run_id": None}
        first = ledger.submit(project="digits", rows=rows, **args).batch_id
        ledger.mark_labeled(first, rows=ids[:2])
    at = open_run(tmp_path, monkeypatch, SAMPLE_KEY)
    at.session_state["selection"] = frozenset(ids[4:5])
    at.switch_page("pages/explore.py").run()
    assert "Status (free / queued / labeled / selected)" in _colour_names(at)
    at.selectbox(key="explore_color").select("status").run()
    assert_clean(at)
    assert any(
        "Status in project digits: 2 rows queued (in an open batch), 2 labeled." in c.value
        for c in at.caption
    )
    drawn, codes = _points(at)
    status = dict(zip(drawn, (STATUS_CATEGORIES[int(c)] for c in codes), strict=True))
    # queued and labeled rows are drawn under this colouring, though Review hides them
    expected = ["labeled", "labeled", "queued", "queued", "selected", "free"]
    assert [status[i] for i in ids] == expected
    assert len(drawn) == run.n_rows
    at.selectbox(key="explore_color").select("confidence").run()
    assert len(_points(at)[0]) == run.n_rows - 4  # the default pool leaves batched rows out


def test_proposed_batch_colouring_appears_once_a_batch_is_proposed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_run(tmp_path, monkeypatch, SAMPLE_KEY)
    at.switch_page("pages/explore.py").run()
    assert "Proposed batch (from the Batch page)" not in _colour_names(at)
    assert any("Propose a batch on the Batch page" in c.value for c in at.caption)
    at.switch_page("pages/batch.py").run()
    at.number_input(key="builder_size").set_value(15).run()
    at.button(key="builder_propose").click().run()
    assert_clean(at)
    picks = set(at.session_state[PROPOSAL]["ids"])
    assert len(picks) == 15
    at.switch_page("pages/explore.py").run()
    assert "Proposed batch (from the Batch page)" in _colour_names(at)
    assert not any("Propose a batch on the Batch page" in c.value for c in at.caption)
    at.selectbox(key="explore_color").select("picks").run()
    assert_clean(at)
    drawn, codes = _points(at)
    assert {i for i, c in zip(drawn, codes, strict=True) if c == 1} == picks
    # a proposal made for another run does not colour this one
    at.session_state[PROPOSAL] = {**at.session_state[PROPOSAL], "signature": '["other"]'}
    at.run()
    assert_clean(at)
    assert "Proposed batch (from the Batch page)" not in _colour_names(at)
    assert at.selectbox(key="explore_color").value == "confidence"


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
