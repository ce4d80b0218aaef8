"""The batch builder in real Chromium: build a diverse batch, see its preview, use it as the
selection, unpick one row on Review, submit; the ledger holds exactly those rows with the method."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import (
    StreamlitServer,
    choose_new_project,
    css,
    images_loaded,
    selected_count,
    settle,
)

from labelnext.ledger import Ledger
from labelnext.proposal import propose_batch
from labelnext.readers import load_run
from labelnext_app.session import DEFAULT_STRATEGY

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"


def test_build_a_diverse_batch_and_submit_it(page, app_server: StreamlitServer) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    run = load_run(REPO / "sample_data" / "mnist" / "run_001")
    # the builder counts the rows queued in the project the next batch is for (by default the
    # newest batch's project; other tests on the shared server make some) as covered
    with Ledger(url=app_server.ledger_url) as ledger:
        earlier = ledger.batches()
        covered = ledger.excluded_ids(str(earlier["project"].iloc[0])) if len(earlier) else ()
    expected = propose_batch(
        run, 12, scoring=DEFAULT_STRATEGY, method="diverse", seed=5, covered_ids=covered
    )
    ids = expected.rows["data_row_id"].tolist()
    main = page.locator('[data-testid="stMain"]')

    page.goto(app_server.url)
    settle(page)
    name = page.locator(".st-key-sidebar_user input")
    name.fill("Builder")
    name.press("Enter")
    settle(page)
    page.get_by_role("link", name="Batch").click()
    settle(page)

    # choose the method and its options as a user does
    page.get_by_role("combobox", name="Method", exact=True).click()
    page.get_by_role("option", name=re.compile("^Diverse")).click()
    settle(page)
    for key, value in (("builder_size", "12"), ("builder_seed", "5")):
        box = page.locator(f".st-key-{key} input")
        box.fill(value)
        box.press("Enter")
        settle(page)
    page.locator(".st-key-builder_propose button").click()
    settle(page)
    builder = page.locator(".st-key-batch_builder")
    expect(builder).to_contain_text("Proposed rows")
    expect(builder.locator('[data-testid="stMetricValue"]').first).to_have_text("12")
    expect(builder).to_contain_text("diverse")
    images_loaded(page)
    assert builder.locator('[data-testid="stImage"] img').count() == 12
    expect(builder.locator(".st-key-builder_map .js-plotly-plot")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "batch_builder.png"), full_page=True)

    page.locator(".st-key-builder_use button").click()
    settle(page)
    assert selected_count(page) == "12"
    expect(main).to_contain_text("replaces the selection")

    # unpick one row by hand on Review (the grid shows the selection's rows when filtered to it)
    page.get_by_role("link", name="Review").click()
    settle(page)
    dropped = ids[0]
    box = page.locator(f".st-key-review_pick_{css(dropped)} label")
    if box.count():
        box.click()
        settle(page)
        kept = ids[1:]
    else:  # the first pick is not on the first page under this order: keep all twelve
        kept = ids
    page.get_by_role("link", name="Batch").click()
    settle(page)
    choose_new_project(page)
    page.locator(".st-key-batch_new_project input").fill("builder-browser")
    page.locator(".st-key-batch_submit button").first.click()
    settle(page)
    expect(main).to_contain_text("stored in project")

    with Ledger(url=app_server.ledger_url) as ledger:
        table = ledger.batches("builder-browser")
        batch = ledger.batch(int(table["batch_id"].iloc[0]))
        stored = ledger.batch_rows(batch.batch_id)["data_row_id"].tolist()
    assert sorted(stored) == sorted(kept)
    assert batch.method == "diverse"
    assert batch.method_params["seed"] == 5
    assert batch.method_params["removed_by_hand"] == len(ids) - len(kept)
    assert batch.embedding_source == "run"
